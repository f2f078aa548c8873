//! The CronJob controller, as a pure function: at each scheduled time (in
//! `spec.timeZone`) a Job named `<cronjob>-<minutes since the epoch>`, unless
//! suspended, past `startingDeadlineSeconds`, or forbidden by
//! `concurrencyPolicy`; finished Jobs kept to the history limits.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::cron::{Schedule, zone};
use super::job::finished;
use super::util::{int_at, name, owner_ref, str_at};

#[derive(Debug, Default)]
pub struct Plan {
    pub create: Option<Value>,
    /// Jobs to delete (Replace, or past the history limits).
    pub delete: Vec<String>,
    pub status: Value,
    /// When to look again.
    pub next: Option<Timestamp>,
}

fn job_for(cj: &Value, at: Timestamp) -> Value {
    let template = cj
        .pointer("/spec/jobTemplate")
        .cloned()
        .unwrap_or(json!({}));
    let mut meta = Map::new();
    meta.insert(
        "name".into(),
        json!(format!("{}-{}", name(cj), at.as_second() / 60)),
    );
    meta.insert("namespace".into(), json!(str_at(cj, "/metadata/namespace")));
    if let Some(l) = template
        .pointer("/metadata/labels")
        .filter(|v| v.is_object())
    {
        meta.insert("labels".into(), l.clone());
    }
    let mut annotations = template
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    annotations.insert(
        "batch.kubernetes.io/cronjob-scheduled-timestamp".into(),
        json!(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
    );
    meta.insert("annotations".into(), json!(annotations));
    meta.insert(
        "ownerReferences".into(),
        json!([owner_ref(cj, "batch/v1", "CronJob")]),
    );
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
        "spec": template.get("spec").cloned().unwrap_or(json!({}))})
}

fn reference(job: &Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "name": name(job), "namespace": str_at(job, "/metadata/namespace"),
        "uid": str_at(job, "/metadata/uid"), "resourceVersion": str_at(job, "/metadata/resourceVersion")})
}

fn parse_time(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

/// Reconciles one CronJob at `now`; `jobs` are the Jobs it controls.
pub fn reconcile(cj: &Value, jobs: &[&Value], now: Timestamp) -> Plan {
    let mut plan = Plan::default();
    let mut st: Map<String, Value> = cj
        .get("status")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut active: Vec<&Value> = jobs
        .iter()
        .copied()
        .filter(|j| finished(j).is_none())
        .collect();
    let schedule = Schedule::parse(str_at(cj, "/spec/schedule"));
    let tz = zone(cj.pointer("/spec/timeZone").and_then(Value::as_str));
    if let (Ok(schedule), Ok(tz)) = (schedule, tz) {
        let last = st
            .get("lastScheduleTime")
            .and_then(Value::as_str)
            .or_else(|| {
                cj.pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str)
            })
            .and_then(parse_time)
            .unwrap_or(now);
        let suspended = cj.pointer("/spec/suspend") == Some(&json!(true));
        if !suspended && let Some((at, _missed)) = schedule.latest_between(last, now, &tz) {
            let too_late = int_at(cj, "/spec/startingDeadlineSeconds")
                .is_some_and(|d| now.as_second() - at.as_second() > d);
            let policy = str_at(cj, "/spec/concurrencyPolicy");
            let job = job_for(cj, at);
            let exists = jobs.iter().any(|j| name(j) == name(&job));
            let forbidden = policy == "Forbid" && !active.is_empty();
            if !too_late && !exists && !forbidden {
                if policy == "Replace" {
                    plan.delete
                        .extend(active.iter().map(|j| name(j).to_string()));
                    active.clear();
                }
                plan.create = Some(job);
                st.insert(
                    "lastScheduleTime".into(),
                    json!(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
                );
            }
        }
        plan.next = schedule.next_after(now, &tz);
    }
    if active.is_empty() {
        st.remove("active");
    } else {
        st.insert(
            "active".into(),
            json!(active.iter().map(|j| reference(j)).collect::<Vec<_>>()),
        );
    }
    let last_success = jobs
        .iter()
        .filter(|j| finished(j) == Some(true))
        .filter_map(|j| j.pointer("/status/completionTime").and_then(Value::as_str))
        .max();
    if let Some(t) = last_success
        && st
            .get("lastSuccessfulTime")
            .and_then(Value::as_str)
            .is_none_or(|have| have < t)
    {
        st.insert("lastSuccessfulTime".into(), json!(t));
    }
    // History: the oldest finished Jobs past each limit.
    for (ok, key, default) in [
        (true, "successfulJobsHistoryLimit", 3),
        (false, "failedJobsHistoryLimit", 1),
    ] {
        let limit = int_at(cj, &format!("/spec/{key}"))
            .unwrap_or(default)
            .max(0) as usize;
        let mut done: Vec<&&Value> = jobs.iter().filter(|j| finished(j) == Some(ok)).collect();
        done.sort_by_key(|j| {
            (
                str_at(j, "/status/startTime").to_string(),
                name(j).to_string(),
            )
        });
        if done.len() > limit {
            plan.delete.extend(
                done[..done.len() - limit]
                    .iter()
                    .map(|j| name(j).to_string()),
            );
        }
    }
    plan.status = Value::Object(st);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cj(schedule: &str, policy: &str) -> Value {
        json!({"metadata": {"name": "tick", "namespace": "default", "uid": "cj-uid", "creationTimestamp": "2026-03-01T10:00:10Z"},
            "spec": {"schedule": schedule, "concurrencyPolicy": policy, "successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 1,
                "jobTemplate": {"metadata": {"labels": {"app": "tick"}}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}}})
    }

    fn at(s: &str) -> Timestamp {
        s.parse().expect("a time")
    }

    fn job(name: &str, done: Option<bool>, start: &str) -> Value {
        let mut j = json!({"metadata": {"name": name, "namespace": "default", "uid": name}, "status": {"startTime": start}});
        if let Some(ok) = done {
            j["status"]["conditions"] =
                json!([{"type": if ok { "Complete" } else { "Failed" }, "status": "True"}]);
            j["status"]["completionTime"] = json!(start);
        }
        j
    }

    #[test]
    fn a_job_each_minute() {
        let c = cj("* * * * *", "Allow");
        let plan = reconcile(&c, &[], at("2026-03-01T10:00:50Z"));
        assert!(plan.create.is_none(), "nothing due before the first minute");
        assert_eq!(
            plan.next.map(|t| t.to_string()),
            Some("2026-03-01T10:01:00Z".into())
        );
        let plan = reconcile(&c, &[], at("2026-03-01T10:01:05Z"));
        let j = plan.create.expect("a job");
        assert_eq!(
            j["metadata"]["name"],
            format!("tick-{}", at("2026-03-01T10:01:00Z").as_second() / 60)
        );
        assert_eq!(j["metadata"]["ownerReferences"][0]["kind"], "CronJob");
        assert_eq!(j["metadata"]["labels"]["app"], "tick");
        assert_eq!(plan.status["lastScheduleTime"], "2026-03-01T10:01:00Z");
    }

    #[test]
    fn concurrency_policies_and_suspend() {
        let running = job("tick-1", None, "2026-03-01T10:00:00Z");
        let now = at("2026-03-01T10:01:05Z");
        assert!(
            reconcile(&cj("* * * * *", "Forbid"), &[&running], now)
                .create
                .is_none()
        );
        let plan = reconcile(&cj("* * * * *", "Replace"), &[&running], now);
        assert!(plan.create.is_some());
        assert_eq!(plan.delete, vec!["tick-1"]);
        let plan = reconcile(&cj("* * * * *", "Allow"), &[&running], now);
        assert!(plan.create.is_some() && plan.delete.is_empty());
        assert_eq!(plan.status["active"][0]["name"], "tick-1");
        let mut s = cj("* * * * *", "Allow");
        s["spec"]["suspend"] = json!(true);
        assert!(reconcile(&s, &[], now).create.is_none());
    }

    #[test]
    fn history_is_trimmed() {
        let a = job("tick-1", Some(true), "2026-03-01T10:00:00Z");
        let b = job("tick-2", Some(true), "2026-03-01T10:01:00Z");
        let c = job("tick-3", Some(false), "2026-03-01T10:02:00Z");
        let plan = reconcile(
            &cj("0 0 1 1 *", "Allow"),
            &[&a, &b, &c],
            at("2026-03-01T10:03:00Z"),
        );
        assert_eq!(plan.delete, vec!["tick-1"]);
        assert_eq!(plan.status["lastSuccessfulTime"], "2026-03-01T10:01:00Z");
    }
}
