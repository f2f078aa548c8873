//! Watches: a stream of newline-delimited JSON events (ADDED, MODIFIED,
//! DELETED, BOOKMARK, ERROR), starting from a resourceVersion or from the
//! current state (`sendInitialEvents`), filtered by namespace and selectors.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::Shared;
use super::request::{Params, Representation, ResourcePath};
use super::resources::{Selectors, present};
use super::status::ApiError;
use crate::catalog::ResourceInfo;
use crate::store::{Event, EventType};
use crate::table::{self, IncludeObject};

/// How often a watch with bookmarks allowed gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(5);

/// The longest watch a client may ask for (a week).
const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

/// The most bytes of events a watch gathers into one write.
const MAX_CHUNK: usize = 256 * 1024;

struct Filter {
    r: Arc<ResourceInfo>,
    namespace: Option<String>,
    sel: Selectors,
}

impl Filter {
    fn in_scope(&self, e: &Event) -> bool {
        e.gr == *self.r.storage_key()
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| &e.key.namespace == ns)
    }
    fn matches(&self, obj: &Value) -> bool {
        self.sel.matches_served(&self.r, obj)
    }
    /// The event a client with this filter sees, if any: an object that starts or
    /// stops matching a selector shows up as ADDED or DELETED.
    fn view(&self, e: &Event) -> Option<(EventType, Arc<Value>)> {
        if !self.in_scope(e) {
            return None;
        }
        let now = self.matches(&e.object);
        let before = e.prev.as_ref().is_some_and(|p| self.matches(p));
        match e.kind {
            EventType::Added if now => Some((EventType::Added, e.object.clone())),
            EventType::Deleted if now || before => Some((EventType::Deleted, e.object.clone())),
            EventType::Modified => match (before, now) {
                (true, true) => Some((EventType::Modified, e.object.clone())),
                (false, true) => Some((EventType::Added, e.object.clone())),
                // As the real server: the object as the client last saw it, at
                // this event's revision.
                (true, false) => Some((EventType::Deleted, previous_at(e))),
                (false, false) => None,
            },
            _ => None,
        }
    }
}

/// The previous state of an object, stamped with the event's resourceVersion.
fn previous_at(e: &Event) -> Arc<Value> {
    let Some(prev) = &e.prev else {
        return e.object.clone();
    };
    let mut obj = (**prev).clone();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(e.rv.to_string()));
    }
    Arc::new(obj)
}

pub fn watch(
    sh: &Arc<Shared>,
    r: Arc<ResourceInfo>,
    p: &ResourcePath,
    params: &Params,
    rep: Representation,
) -> Result<Response, ApiError> {
    let sel = Selectors::from_params(&r, params)?;
    let namespace = if r.namespaced {
        p.namespace.clone()
    } else {
        None
    };
    let filter = Filter {
        r: r.clone(),
        namespace,
        sel,
    };
    let rv_param = params.get("resourceVersion").unwrap_or("");
    let send_initial = params.flag("sendInitialEvents");
    let bookmarks = params.flag("allowWatchBookmarks");
    if send_initial && !bookmarks {
        return Err(ApiError::new(
            422,
            "Invalid",
            "ListOptions.meta.k8s.io \"\" is invalid: allowWatchBookmarks: Forbidden: allowWatchBookmarks must be set to true when sendInitialEvents is true",
        ));
    }
    if send_initial && params.get("resourceVersionMatch") != Some("NotOlderThan") {
        return Err(ApiError::new(
            422,
            "Invalid",
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ));
    }
    // 0 or a missing value means the server's default; anything huge is capped so
    // the deadline cannot overflow.
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t.min(MAX_TIMEOUT_SECS)))
        .unwrap_or(Duration::from_secs(1800));
    let table = rep == Representation::Table;

    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let include =
        IncludeObject::from_query(params.get("includeObject")).map_err(ApiError::bad_request)?;
    let encode = {
        let r = r.clone();
        // Column definitions go with the first table event only, as the real server sends them.
        let columns_sent = std::sync::atomic::AtomicBool::new(false);
        move |kind: &str, obj: &Value| -> Bytes {
            let object = if table && kind != "ERROR" && kind != "BOOKMARK" {
                let first = !columns_sent.swap(true, std::sync::atomic::Ordering::Relaxed);
                let custom = r.crd.as_ref().map(|c| c.printer_columns.as_slice());
                table::to_table_watch_object(
                    &r.group,
                    &r.kind,
                    &present(&r, obj),
                    include,
                    custom,
                    first,
                    jiff::Timestamp::now().as_second(),
                )
            } else if kind == "ERROR" {
                obj.clone()
            } else {
                present(&r, obj).into_owned()
            };
            let mut line =
                serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
            line.push(b'\n');
            Bytes::from(line)
        }
    };
    let bookmark = {
        let r = r.clone();
        move |rv: u64, initial_end: bool| -> Bytes {
            let mut meta = json!({"resourceVersion": rv.to_string()});
            if initial_end {
                meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            let obj = json!({"kind": r.kind, "apiVersion": r.api_version(), "metadata": meta});
            let mut line =
                serde_json::to_vec(&json!({"type": "BOOKMARK", "object": obj})).unwrap_or_default();
            line.push(b'\n');
            Bytes::from(line)
        }
    };

    // Start: either a snapshot (sendInitialEvents, or no resourceVersion / "0") or a resume.
    let mut initial: Vec<Bytes> = Vec::new();
    let (rx_events, start_rv) = if send_initial || rv_param.is_empty() || rv_param == "0" {
        let (items, rx_events, rv) = sh
            .store
            .snapshot_and_subscribe(r.storage_key(), filter.namespace.as_deref());
        for item in items.iter().filter(|o| filter.matches(o)) {
            initial.push(encode("ADDED", item));
        }
        if send_initial {
            initial.push(bookmark(rv, true));
        }
        (rx_events, rv)
    } else {
        let Ok(from) = rv_param.parse::<u64>() else {
            return Err(ApiError::bad_request(format!(
                "invalid resource version: {rv_param:?}"
            )));
        };
        match sh.store.watch_from(Some(from)) {
            Ok((backlog, rx_events, _)) => {
                for e in &backlog {
                    if let Some((kind, obj)) = filter.view(e) {
                        initial.push(encode(kind.as_str(), &obj));
                    }
                }
                let last = backlog.last().map(|e| e.rv).unwrap_or(from);
                (rx_events, last)
            }
            Err(too_old) => {
                // The real server answers 200 and sends one ERROR event with a 410 Status.
                let status = ApiError::gone(format!(
                    "too old resource version: {} ({})",
                    too_old.requested, too_old.oldest
                ))
                .to_status();
                initial.push(encode("ERROR", &status));
                let body = Body::from_stream(futures_util::stream::iter(
                    initial.into_iter().map(Ok::<_, Infallible>),
                ));
                return Ok(stream_response(body));
            }
        }
    };

    let mut drop_rx = sh.drop_watches.subscribe();
    let api_version = r.api_version();
    tokio::spawn(async move {
        for line in initial {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx_events = rx_events;
        let mut last_rv = start_rv;
        // One timer for the whole watch: events of other resources wake this loop
        // too, and must not keep pushing the next bookmark back.
        let mut bookmark_every =
            tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY);
        bookmark_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = drop_rx.changed() => return,
                // The client went away: stop now rather than at the next event for it.
                _ = tx.closed() => return,
                _ = bookmark_every.tick(), if bookmarks => {
                    if tx.send(bookmark(last_rv, false)).await.is_err() { return; }
                }
                ev = rx_events.recv() => match ev {
                    Ok(e) => {
                        // Events already waiting go out as one chunk: fewer wakeups and
                        // writes per event when many watchers share a busy server.
                        let mut chunk: Vec<u8> = Vec::new();
                        let (mut next, mut lagged) = (Some(e), false);
                        while let Some(e) = next.take() {
                            if e.rv > last_rv {
                                last_rv = e.rv;
                                if let Some((kind, obj)) = filter.view(&e) {
                                    // The object as stored is the object as served: share its encoding.
                                    let as_stored = Arc::ptr_eq(&obj, &e.object)
                                        && obj.get("apiVersion").and_then(Value::as_str)
                                            == Some(api_version.as_str());
                                    if !table && as_stored {
                                        push_event_line(&mut chunk, kind.as_str(), e.object_json());
                                    } else {
                                        chunk.extend_from_slice(&encode(kind.as_str(), &obj));
                                    }
                                }
                            }
                            if chunk.len() < MAX_CHUNK {
                                match rx_events.try_recv() {
                                    Ok(e) => next = Some(e),
                                    Err(broadcast::error::TryRecvError::Lagged(_)) => lagged = true,
                                    Err(_) => {}
                                }
                            }
                        }
                        if !chunk.is_empty() && tx.send(Bytes::from(chunk)).await.is_err() {
                            return;
                        }
                        if lagged {
                            let status = ApiError::gone(format!("too old resource version: {last_rv} ({})", last_rv + 1)).to_status();
                            let _ = tx.send(encode("ERROR", &status)).await;
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Too slow to keep up: close with 410 so the client re-lists,
                        // rather than make writers wait.
                        let status = ApiError::gone(format!("too old resource version: {last_rv} ({})", last_rv + 1)).to_status();
                        let _ = tx.send(encode("ERROR", &status)).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok(stream_response(Body::from_stream(stream)))
}

/// Appends one event line around an already serialised object.
fn push_event_line(out: &mut Vec<u8>, kind: &str, object_json: &[u8]) {
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object_json);
    out.extend_from_slice(b"}\n");
}

fn stream_response(body: Body) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache, private"),
    );
    resp
}
