//! `pods/{name}/log`: plausible, deterministic logs for simulated containers.
//!
//! A container writes a start line when it starts, then a line every
//! [`PERIOD`] while it runs, and a last line when it exits. The lines are
//! computed from the container's start (and finish) time, so any window
//! (`sinceSeconds`, `sinceTime`, `tailLines`) is cheap however long it ran.
//! `follow` streams new lines as they are due, until the client goes away, the
//! container stops or the Pod is deleted. There is never a previous container
//! (nothing restarts), so `previous` is answered as the real server answers it.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::Shared;
use super::request::{Params, ResourcePath};
use super::resources::object_key;
use super::status::ApiError;
use crate::catalog::ResourceInfo;
use crate::store::ObjKey;

/// How often a running container writes a line.
pub const PERIOD: Duration = Duration::from_secs(2);

/// One container's log, as a function of time.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    pub pod: String,
    pub container: String,
    pub image: String,
    pub started: Timestamp,
    /// When it exited, and with which code.
    pub finished: Option<(Timestamp, i64)>,
}

impl Script {
    fn period_s() -> i64 {
        PERIOD.as_secs() as i64
    }

    /// The time of line `k` (line 0 is the start line).
    pub fn time_of(&self, k: i64) -> Timestamp {
        self.started
            .checked_add(SignedDuration::from_secs(k * Self::period_s()))
            .unwrap_or(self.started)
    }

    /// The text of line `k`.
    pub fn text_of(&self, k: i64) -> String {
        if k == 0 {
            return format!(
                "level=info msg=\"starting\" container={} image={} pod={}",
                self.container, self.image, self.pod
            );
        }
        format!(
            "level=info msg=\"serving\" container={} tick={k} handled={}",
            self.container,
            k * 3 + (k % 7)
        )
    }

    /// The index of the last periodic line written by `now` (or by the exit).
    pub fn last_index(&self, now: Timestamp) -> i64 {
        let end = self.finished.map_or(now, |(t, _)| t.min(now));
        ((end.as_second() - self.started.as_second()) / Self::period_s()).max(0)
    }

    /// The exit line, once the container has exited.
    fn exit_line(&self) -> Option<(Timestamp, String)> {
        self.finished.map(|(t, code)| {
            let text = if code == 0 {
                format!(
                    "level=info msg=\"done\" container={} exitCode=0",
                    self.container
                )
            } else {
                format!(
                    "level=error msg=\"exiting\" container={} exitCode={code}",
                    self.container
                )
            };
            (t, text)
        })
    }

    /// The lines written by `now` at or after `since`, the last `tail` of them.
    pub fn lines(
        &self,
        now: Timestamp,
        since: Option<Timestamp>,
        tail: Option<i64>,
    ) -> Vec<(Timestamp, String)> {
        let last = self.last_index(now);
        let first = match since {
            Some(s) if s > self.started => {
                let d = s.as_second() - self.started.as_second();
                (d + Self::period_s() - 1) / Self::period_s()
            }
            _ => 0,
        };
        // Like a container runtime rotating its log, only the newest lines are
        // kept, so a container running for months (or a forged startedAt)
        // never makes one response unbounded.
        let first = first.max(last - KEPT_LINES + 1);
        let mut out: Vec<(Timestamp, String)> = Vec::new();
        let exit = self
            .exit_line()
            .filter(|(t, _)| since.is_none_or(|s| *t >= s) && *t <= now);
        let room = tail.map(|n| n.max(0) - i64::from(exit.is_some()));
        let first = match room {
            Some(n) => first.max(last - n + 1),
            None => first,
        };
        for k in first..=last {
            out.push((self.time_of(k), self.text_of(k)));
        }
        if let Some(e) = exit
            && tail != Some(0)
        {
            out.push(e);
        }
        out
    }
}

/// A line as sent: the text, with the runtime's RFC 3339 timestamp when
/// asked. Lines are due on whole seconds; the nanoseconds a real runtime
/// records are made up from the second (odd, so none is trimmed away as Go's
/// RFC3339Nano trims trailing zeros).
pub fn render(t: Timestamp, text: &str, timestamps: bool) -> String {
    if timestamps {
        let nanos = ((t.as_second().rem_euclid(1_000_003) * 7919 + 104_729) % 1_000_000_000) | 1;
        format!("{}.{nanos:09}Z {text}\n", t.strftime("%Y-%m-%dT%H:%M:%S"))
    } else {
        format!("{text}\n")
    }
}

/// How many of a container's newest lines a log read can return.
const KEPT_LINES: i64 = 10_000;

fn parse_time(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

/// The script of a container, from the Pod's containerStatuses; an error as
/// the real server words it when the container has not started.
fn script_of(pod: &Value, pod_name: &str, container: &str) -> Result<Script, ApiError> {
    let status = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        });
    let state = status.and_then(|s| s.get("state"));
    let started = state
        .and_then(|s| {
            s.pointer("/running/startedAt")
                .or_else(|| s.pointer("/terminated/startedAt"))
        })
        .and_then(Value::as_str)
        .and_then(parse_time);
    // A status written by a client may claim any start; the container cannot
    // have started before its Pod existed.
    let created = pod
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(parse_time);
    let started = started.map(|s| created.map_or(s, |c| s.max(c)));
    let Some(started) = started else {
        let reason = state
            .and_then(|s| s.pointer("/waiting/reason"))
            .and_then(Value::as_str)
            .unwrap_or("ContainerCreating");
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{pod_name}\" is waiting to start: {reason}"
        )));
    };
    let finished = state.and_then(|s| s.get("terminated")).and_then(|t| {
        let at = t
            .get("finishedAt")
            .and_then(Value::as_str)
            .and_then(parse_time)?;
        Some((at, t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)))
    });
    Ok(Script {
        pod: pod_name.to_string(),
        container: container.to_string(),
        image: status
            .and_then(|s| s.get("image"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        started,
        finished,
    })
}

fn int_param(params: &Params, name: &str, min: i64) -> Result<Option<i64>, ApiError> {
    let Some(v) = params.get(name) else {
        return Ok(None);
    };
    let n: i64 = v.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "{name}: Invalid value: \"{v}\": must be an integer"
        ))
    })?;
    if n < min {
        let rule = if min == 0 {
            "must be greater than or equal to 0"
        } else {
            "must be greater than 0"
        };
        return Err(ApiError::new(
            422,
            "Invalid",
            format!("{name}: Invalid value: {n}: {rule}"),
        ));
    }
    Ok(Some(n))
}

pub fn pod_log(
    sh: &Arc<Shared>,
    r: &ResourceInfo,
    p: &ResourcePath,
    name: &str,
    params: &Params,
) -> Result<Response, ApiError> {
    let key = object_key(r, p.namespace.as_deref(), name);
    let pod = sh
        .store
        .get(r.storage_key(), &key)
        .ok_or_else(|| ApiError::not_found(r, name))?;
    let containers: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().filter_map(|c| c.get("name")?.as_str()).collect())
        .unwrap_or_default();
    let container = match params.get("container") {
        Some(c) if containers.contains(&c) => c.to_string(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if containers.len() == 1 => containers[0].to_string(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    let tail = int_param(params, "tailLines", 0)?;
    let since_seconds = int_param(params, "sinceSeconds", 1)?;
    let limit = int_param(params, "limitBytes", 1)?;
    if since_seconds.is_some() && params.get("sinceTime").is_some() {
        return Err(ApiError::new(
            422,
            "Invalid",
            "PodLogOptions \"\" is invalid: sinceSeconds: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified",
        ));
    }
    let since_time = match params.get("sinceTime") {
        Some(s) => Some(
            parse_time(s)
                .ok_or_else(|| ApiError::bad_request(format!("sinceTime: invalid time {s:?}")))?,
        ),
        None => None,
    };
    if params.flag("previous") {
        return Err(ApiError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{name}\" not found"
        )));
    }
    let script = script_of(&pod, name, &container)?;
    let now = Timestamp::now();
    let since = since_time
        .or_else(|| since_seconds.and_then(|s| now.checked_sub(SignedDuration::from_secs(s)).ok()));
    let timestamps = params.flag("timestamps");
    let mut text = String::new();
    for (t, line) in script.lines(now, since, tail) {
        text.push_str(&render(t, &line, timestamps));
    }
    if let Some(n) = limit {
        let mut cut = (n as usize).min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    let follow = params.flag("follow") && script.finished.is_none();
    let body = if follow {
        let next = script.last_index(now) + 1;
        let uid = pod.pointer("/metadata/uid").cloned();
        follow_body(
            sh.clone(),
            r.storage_key().clone(),
            key,
            uid,
            script,
            next,
            timestamps,
            text,
        )
    } else {
        Body::from(text)
    };
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(resp)
}

/// The streamed body of a followed log: what was written so far, then each
/// new line when it is due, until the container stops or the Pod goes.
#[allow(clippy::too_many_arguments)]
fn follow_body(
    sh: Arc<Shared>,
    gr: crate::catalog::GroupResource,
    key: ObjKey,
    uid: Option<Value>,
    script: Script,
    next: i64,
    timestamps: bool,
    first: String,
) -> Body {
    struct State {
        sh: Arc<Shared>,
        gr: crate::catalog::GroupResource,
        key: ObjKey,
        uid: Option<Value>,
        script: Script,
        next: i64,
        timestamps: bool,
        first: Option<String>,
        done: bool,
    }
    let state = State {
        sh,
        gr,
        key,
        uid,
        script,
        next,
        timestamps,
        first: Some(first),
        done: false,
    };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        if let Some(first) = s.first.take() {
            return Some((Ok::<_, std::io::Error>(first), s));
        }
        if s.done {
            return None;
        }
        let due = s.script.time_of(s.next);
        let wait = (due.as_millisecond() - Timestamp::now().as_millisecond()).max(0) as u64;
        // Look at the pod at least every half second, so a deletion ends the stream soon.
        let mut left = Duration::from_millis(wait);
        loop {
            let step = left.min(Duration::from_millis(500));
            tokio::time::sleep(step).await;
            left -= step;
            let current = s.sh.store.get(&s.gr, &s.key);
            let alive = current
                .as_ref()
                .is_some_and(|p| p.pointer("/metadata/uid").cloned() == s.uid);
            if !alive {
                return None;
            }
            let pod = current.unwrap_or_default();
            if let Ok(now_script) = script_of(&pod, &s.script.pod, &s.script.container)
                && let Some((t, code)) = now_script.finished
            {
                // The container exited: its last line, then the end.
                s.done = true;
                let exit = Script {
                    finished: Some((t, code)),
                    ..s.script.clone()
                };
                let text = exit
                    .exit_line()
                    .map(|(t, l)| render(t, &l, s.timestamps))
                    .unwrap_or_default();
                return Some((Ok(text), s));
            }
            if left.is_zero() {
                break;
            }
        }
        let line = render(due, &s.script.text_of(s.next), s.timestamps);
        s.next += 1;
        Some((Ok(line), s))
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("a time")
    }

    fn script(finished: Option<(&str, i64)>) -> Script {
        Script {
            pod: "web-1".into(),
            container: "app".into(),
            image: "nginx:1.25".into(),
            started: at("2026-03-01T10:00:00Z"),
            finished: finished.map(|(t, c)| (at(t), c)),
        }
    }

    #[test]
    fn a_container_running_for_years_returns_only_its_newest_lines() {
        let s = script(None);
        let lines = s.lines(at("2036-03-01T10:00:00Z"), None, None);
        assert_eq!(lines.len() as i64, KEPT_LINES);
        assert_eq!(
            lines.last().map(|(t, _)| *t),
            Some(at("2036-03-01T10:00:00Z"))
        );
    }

    #[test]
    fn a_line_at_start_and_every_period() {
        let s = script(None);
        let lines = s.lines(at("2026-03-01T10:00:05Z"), None, None);
        assert_eq!(lines.len(), 3, "0 s, 2 s, 4 s");
        assert!(lines[0].1.contains("starting") && lines[0].1.contains("image=nginx:1.25"));
        assert_eq!(lines[2].0, at("2026-03-01T10:00:04Z"));
        assert_eq!(
            s.lines(at("2026-03-01T10:00:05Z"), None, None),
            lines,
            "deterministic"
        );
    }

    #[test]
    fn windows_by_tail_and_since() {
        let s = script(None);
        let now = at("2026-03-01T11:00:00Z");
        let tail = s.lines(now, None, Some(2));
        assert_eq!(tail.len(), 2);
        assert_eq!(tail[1].0, now);
        let since = s.lines(now, Some(at("2026-03-01T10:59:55Z")), None);
        assert_eq!(
            since.iter().map(|l| l.0).collect::<Vec<_>>(),
            vec![at("2026-03-01T10:59:56Z"), at("2026-03-01T10:59:58Z"), now]
        );
        assert!(s.lines(now, None, Some(0)).is_empty());
    }

    #[test]
    fn an_exited_container_ends_with_its_exit() {
        let s = script(Some(("2026-03-01T10:00:03Z", 1)));
        let lines = s.lines(at("2026-03-01T12:00:00Z"), None, None);
        assert_eq!(lines.len(), 3);
        assert!(lines[2].1.contains("exitCode=1"));
        let last = s.lines(at("2026-03-01T12:00:00Z"), None, Some(1));
        assert_eq!(last.len(), 1);
        assert!(last[0].1.contains("exitCode=1"));
    }

    #[test]
    fn timestamps_as_the_kubelet_writes_them() {
        let line = render(at("2026-03-01T10:00:02Z"), "x", true);
        let (stamp, text) = line.split_once(' ').expect("a timestamp, then the text");
        assert_eq!(text, "x\n");
        assert!(
            stamp.starts_with("2026-03-01T10:00:02.") && stamp.len() == 30,
            "{stamp}"
        );
        assert!(
            !stamp.ends_with("0Z"),
            "nothing for RFC3339Nano to trim: {stamp}"
        );
        let parsed: Timestamp = stamp.parse().expect("RFC 3339");
        assert_eq!(parsed.as_second(), at("2026-03-01T10:00:02Z").as_second());
        assert_eq!(
            render(at("2026-03-01T10:00:02Z"), "x", true),
            line,
            "deterministic"
        );
        assert_eq!(render(at("2026-03-01T10:00:02Z"), "x", false), "x\n");
    }
}
