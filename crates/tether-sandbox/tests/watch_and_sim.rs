//! Watches (ordering, resume, initial events and bookmarks, timeouts,
//! selectors, many watchers, 410 expiry, dropping), fault injection, the
//! simulated controllers, and persistence across restarts, driven over raw HTTP.

mod common;

use std::time::Duration;

use common::{TestSandbox, get, post, send, widget_crd, within};
use serde_json::{Value, json};
use tether_sandbox::Config;
use tokio::time::Instant;

/// How long a watch event may take to arrive.
const EVENT: Duration = Duration::from_secs(5);
/// How long simulated controllers may take.
const SETTLE: Duration = Duration::from_secs(10);

const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";
const CMS: &str = "/api/v1/namespaces/default/configmaps";
const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";

fn cm(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

fn rv(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("no resourceVersion in {obj}"))
        .parse()
        .expect("numeric resourceVersion")
}

fn name(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or("")
}

/// The resourceVersion a list of `path` was served at.
async fn list_rv(ts: &TestSandbox, path: &str) -> u64 {
    let (code, list) = get(ts, path).await;
    assert_eq!(code, 200, "{list}");
    rv(&list)
}

async fn create_namespace(ts: &TestSandbox, name: &str) {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    let (code, body) = post(ts, "/api/v1/namespaces", &ns).await;
    assert_eq!(code, 201, "{body}");
}

/// An open watch, read line by line.
struct Watch {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl Watch {
    async fn open(ts: &TestSandbox, path: &str) -> Watch {
        let resp = within(path, ts.http.get(ts.url(path)).send())
            .await
            .expect("watch request");
        assert_eq!(resp.status().as_u16(), 200, "watch {path}");
        Watch {
            resp,
            buf: Vec::new(),
        }
    }

    /// The next event, or None once the server has ended the stream. Panics if
    /// nothing happens within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Value> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(
                    serde_json::from_slice(&line).expect("a watch event is one JSON line"),
                );
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Err(_) => panic!("no watch event within {wait:?}"),
                Ok(Ok(Some(chunk))) => self.buf.extend_from_slice(&chunk),
                Ok(Ok(None)) => {
                    assert!(self.buf.is_empty(), "stream ended mid-line");
                    return None;
                }
                Ok(Err(e)) => panic!("watch stream failed: {e}"),
            }
        }
    }

    async fn event(&mut self) -> Value {
        self.next(EVENT).await.expect("the watch is still open")
    }

    /// The next event's type and object name.
    async fn kind_and_name(&mut self) -> (String, String) {
        let e = self.event().await;
        (
            e["type"].as_str().unwrap_or("").to_string(),
            name(&e["object"]).to_string(),
        )
    }
}

fn pair(t: &str, n: &str) -> (String, String) {
    (t.to_string(), n.to_string())
}

// ---------------------------------------------------------------------------------------
// Watches

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sees_changes_in_order() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let from = list_rv(ts, CMS).await;
    let mut w = Watch::open(ts, &format!("{CMS}?watch=true&resourceVersion={from}")).await;

    let (_, created) = post(ts, CMS, &cm("w1", json!({"a": "1"}))).await;
    let (_, updated) = send(
        ts,
        "PATCH",
        &format!("{CMS}/w1"),
        MERGE,
        &json!({"data": {"a": "2"}}),
    )
    .await;
    let (code, _) = send(ts, "DELETE", &format!("{CMS}/w1"), JSON, &json!({})).await;
    assert_eq!(code, 200);

    let added = w.event().await;
    assert_eq!(added["type"], json!("ADDED"), "{added}");
    assert_eq!(added["object"], created);
    let modified = w.event().await;
    assert_eq!(modified["type"], json!("MODIFIED"), "{modified}");
    assert_eq!(modified["object"], updated);
    let deleted = w.event().await;
    assert_eq!(deleted["type"], json!("DELETED"), "{deleted}");
    assert_eq!(name(&deleted["object"]), "w1");
    assert_eq!(deleted["object"]["data"], json!({"a": "2"}));
    assert!(
        rv(&deleted["object"]) > rv(&updated),
        "DELETED carries the deletion's revision"
    );
    assert!(rv(&created) > from && rv(&updated) > rv(&created));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_resource_version_gets_only_later_events() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let (_, a) = post(ts, CMS, &cm("a", json!({}))).await;
    let (_, _b) = post(ts, CMS, &cm("b", json!({}))).await;
    let mut w = Watch::open(ts, &format!("{CMS}?watch=true&resourceVersion={}", rv(&a))).await;
    assert_eq!(
        w.kind_and_name().await,
        pair("ADDED", "b"),
        "a is before the resourceVersion"
    );
    post(ts, CMS, &cm("c", json!({}))).await;
    assert_eq!(w.kind_and_name().await, pair("ADDED", "c"));

    // Without a resourceVersion, a watch starts with the current state.
    let mut w = Watch::open(ts, &format!("{CMS}?watch=true")).await;
    let mut first = vec![
        w.kind_and_name().await,
        w.kind_and_name().await,
        w.kind_and_name().await,
    ];
    first.sort();
    assert_eq!(
        first,
        vec![pair("ADDED", "a"), pair("ADDED", "b"), pair("ADDED", "c")]
    );
}

/// The real server refuses initial events without the options that make them well defined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_events_need_bookmarks_and_not_older_than() {
    let ts = TestSandbox::start().await;
    let (code, body) = get(
        &ts,
        &format!("{CMS}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["message"],
        json!(
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
        )
    );
    let (code, body) = get(
        &ts,
        &format!("{CMS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["reason"], json!("Invalid"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_events_end_with_a_bookmark() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    create_namespace(ts, "init").await;
    let base = "/api/v1/namespaces/init/configmaps";
    let mut last = 0;
    for n in ["i1", "i2", "i3"] {
        let (_, o) = post(ts, base, &cm(n, json!({}))).await;
        last = rv(&o);
    }
    post(ts, CMS, &cm("elsewhere", json!({}))).await;
    let mut w = Watch::open(
        ts,
        // Without the kube-root-ca.crt every namespace holds.
        &format!("{base}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&resourceVersion=&fieldSelector=metadata.name!%3Dkube-root-ca.crt"),
    )
    .await;
    let mut initial = vec![
        w.kind_and_name().await,
        w.kind_and_name().await,
        w.kind_and_name().await,
    ];
    initial.sort();
    assert_eq!(
        initial,
        vec![
            pair("ADDED", "i1"),
            pair("ADDED", "i2"),
            pair("ADDED", "i3")
        ]
    );
    let bookmark = w.event().await;
    assert_eq!(bookmark["type"], json!("BOOKMARK"), "{bookmark}");
    assert_eq!(bookmark["object"]["kind"], json!("ConfigMap"));
    assert_eq!(bookmark["object"]["apiVersion"], json!("v1"));
    assert_eq!(
        bookmark["object"]["metadata"]["annotations"],
        json!({"k8s.io/initial-events-end": "true"})
    );
    assert!(rv(&bookmark["object"]) >= last, "{bookmark}");

    post(ts, base, &cm("i4", json!({}))).await;
    assert_eq!(w.kind_and_name().await, pair("ADDED", "i4"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_timeout_ends_the_stream() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let from = list_rv(ts, CMS).await;
    let start = Instant::now();
    let mut w = Watch::open(
        ts,
        &format!("{CMS}?watch=true&timeoutSeconds=1&resourceVersion={from}"),
    )
    .await;
    assert_eq!(
        w.next(Duration::from_millis(2500)).await,
        None,
        "no events, then the end"
    );
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(900), "ended early: {took:?}");
    assert!(took <= Duration::from_millis(2000), "ended late: {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_a_label_selector_is_a_delete() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let from = list_rv(ts, CMS).await;
    let mut w = Watch::open(
        ts,
        &format!("{CMS}?watch=true&labelSelector=app%3Dsel&resourceVersion={from}"),
    )
    .await;
    post(ts, CMS, &cm("unlabelled", json!({}))).await;
    let mut o = cm("s", json!({}));
    o["metadata"]["labels"] = json!({"app": "sel"});
    post(ts, CMS, &o).await;
    let relabel = |v: &str| json!({"metadata": {"labels": {"app": v}}});
    send(ts, "PATCH", &format!("{CMS}/s"), MERGE, &relabel("other")).await;
    send(
        ts,
        "PATCH",
        &format!("{CMS}/s"),
        MERGE,
        &json!({"data": {"x": "1"}}),
    )
    .await;
    send(ts, "PATCH", &format!("{CMS}/s"), MERGE, &relabel("sel")).await;

    let added = w.event().await;
    assert_eq!(
        (added["type"].clone(), name(&added["object"])),
        (json!("ADDED"), "s")
    );
    let left = w.event().await;
    assert_eq!(
        (left["type"].clone(), name(&left["object"])),
        (json!("DELETED"), "s"),
        "{left}"
    );
    // As the real cacher sends it: the previous content (still matching), at the
    // revision of the change that made it leave.
    assert_eq!(
        left["object"]["metadata"]["labels"],
        json!({"app": "sel"}),
        "the object as the watcher last saw it"
    );
    let (_, now) = get(ts, &format!("{CMS}/s")).await;
    assert!(rv(&left["object"]) > rv(&added["object"]), "{left}");
    assert!(rv(&left["object"]) <= rv(&now));
    let back = w.event().await;
    assert_eq!(
        (back["type"].clone(), name(&back["object"])),
        (json!("ADDED"), "s"),
        "{back}"
    );
    assert_eq!(back["object"]["data"], json!({"x": "1"}));
}

impl Watch {
    /// Reads raw bytes until `lines` whole events have arrived (or the stream ends),
    /// without parsing them, so a reader costs the process as little as possible.
    async fn drain_lines(mut self, lines: usize, wait: Duration) -> Vec<u8> {
        let deadline = Instant::now() + wait;
        let mut seen = self.buf.iter().filter(|b| **b == b'\n').count();
        while seen < lines {
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Err(_) => panic!("only {seen} of {lines} events within {wait:?}"),
                Ok(Ok(Some(chunk))) => {
                    seen += chunk.iter().filter(|b| **b == b'\n').count();
                    self.buf.extend_from_slice(&chunk);
                }
                Ok(Ok(None)) => break,
                Ok(Err(e)) => panic!("watch stream failed: {e}"),
            }
        }
        self.buf
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_watchers_each_see_every_write() {
    const WATCHERS: usize = 100;
    const WRITES: usize = 200;
    let ts = TestSandbox::start().await;
    let ts = &ts;
    create_namespace(ts, "burst").await;
    let base = "/api/v1/namespaces/burst/configmaps";
    let from = list_rv(ts, base).await;
    // Every watcher is connected (and subscribed) once its response headers are in.
    let mut readers = Vec::new();
    for _ in 0..WATCHERS {
        let w = Watch::open(ts, &format!("{base}?watch=true&resourceVersion={from}")).await;
        readers.push(tokio::spawn(w.drain_lines(WRITES, Duration::from_secs(30))));
    }
    let want: Vec<String> = (0..WRITES).map(|i| format!("cm-{i:03}")).collect();
    for n in &want {
        let (code, body) = post(ts, base, &cm(n, json!({}))).await;
        assert_eq!(code, 201, "{body}");
    }
    for r in readers {
        let bytes = within("a watcher to see every write", r)
            .await
            .expect("reader task");
        let seen: Vec<String> = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let e: Value = serde_json::from_slice(l).expect("event JSON");
                assert_eq!(e["type"], json!("ADDED"), "{e}");
                name(&e["object"]).to_string()
            })
            .collect();
        assert_eq!(seen, want, "every watcher sees every write, once, in order");
    }
}

/// Watchers that never read fill their socket buffers within a few hundred
/// events; writes must go on regardless (each `post` is bounded by `within`,
/// so a writer blocked behind a stalled watcher fails the test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_watchers_do_not_block_writers() {
    const STALLED: usize = 5;
    const WRITES: usize = 1500;
    let ts = TestSandbox::start().await;
    let ts = &ts;
    create_namespace(ts, "stall").await;
    let base = "/api/v1/namespaces/stall/configmaps";
    let from = list_rv(ts, base).await;
    let mut stalled = Vec::new();
    for _ in 0..STALLED {
        stalled.push(Watch::open(ts, &format!("{base}?watch=true&resourceVersion={from}")).await);
    }
    // About 1.5 MB of events per watcher: far more than a socket buffer holds.
    let payload = "x".repeat(1000);
    for i in 0..WRITES {
        let (code, body) = post(ts, base, &cm(&format!("cm-{i:04}"), json!({"p": payload}))).await;
        assert_eq!(code, 201, "{body}");
    }
    // The stalled watchers then catch up, in order, with nothing lost.
    let mut first = stalled.remove(0);
    for i in 0..WRITES {
        assert_eq!(
            first.kind_and_name().await,
            pair("ADDED", &format!("cm-{i:04}"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_compacted_version_expires() {
    let ts = TestSandbox::with_config(Config {
        rollout_delay: Duration::ZERO,
        watch_window: 5,
        ..Config::default()
    })
    .await;
    let ts = &ts;
    let from = list_rv(ts, CMS).await;
    for i in 0..10 {
        post(ts, CMS, &cm(&format!("c{i}"), json!({}))).await;
    }
    let mut w = Watch::open(ts, &format!("{CMS}?watch=true&resourceVersion={from}")).await;
    let e = w.event().await;
    assert_eq!(e["type"], json!("ERROR"), "{e}");
    let msg = e["object"]["message"].as_str().unwrap_or("").to_string();
    assert!(
        msg.starts_with(&format!("too old resource version: {from} (")),
        "{msg}"
    );
    assert_eq!(
        e["object"],
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": msg, "reason": "Expired", "code": 410})
    );
    assert_eq!(w.next(EVENT).await, None, "the stream ends after the error");

    // A recent resourceVersion still works.
    let now = list_rv(ts, CMS).await;
    let mut w = Watch::open(ts, &format!("{CMS}?watch=true&resourceVersion={now}")).await;
    post(ts, CMS, &cm("fresh", json!({}))).await;
    assert_eq!(w.kind_and_name().await, pair("ADDED", "fresh"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_watches_ends_them() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let from = list_rv(ts, CMS).await;
    let mut a = Watch::open(ts, &format!("{CMS}?watch=true&resourceVersion={from}")).await;
    let mut b = Watch::open(
        ts,
        &format!("/api/v1/namespaces?watch=true&resourceVersion={from}"),
    )
    .await;
    let (code, body) = post(ts, "/_sandbox/watches/drop", &json!({})).await;
    assert_eq!(code, 200, "{body}");
    assert!(body["dropped"].as_u64().is_some_and(|n| n >= 2), "{body}");
    assert_eq!(a.next(EVENT).await, None);
    assert_eq!(b.next(EVENT).await, None);
    // New watches work afterwards.
    let mut c = Watch::open(ts, &format!("{CMS}?watch=true&resourceVersion={from}")).await;
    post(ts, CMS, &cm("after-drop", json!({}))).await;
    assert_eq!(c.kind_and_name().await, pair("ADDED", "after-drop"));
}

// ---------------------------------------------------------------------------------------
// Fault injection

async fn set_faults(ts: &TestSandbox, rules: Value) {
    let (code, body) = send(
        ts,
        "PUT",
        "/_sandbox/faults",
        JSON,
        &json!({"rules": rules}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_errors_count_down() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    set_faults(
        ts,
        json!([{"verb": "create", "resource": "configmaps", "errorCode": 500, "count": 1}]),
    )
    .await;
    let (code, body) = post(ts, CMS, &cm("f", json!({}))).await;
    assert_eq!(code, 500, "{body}");
    assert_eq!(
        (
            body["kind"].clone(),
            body["reason"].clone(),
            body["code"].clone()
        ),
        (json!("Status"), json!("InternalError"), json!(500))
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Internal error occurred: ")),
        "{body}"
    );
    // Other verbs and the next create are untouched.
    assert_eq!(get(ts, &format!("{CMS}/f")).await.0, 404);
    let (code, body) = post(ts, CMS, &cm("f", json!({}))).await;
    assert_eq!(code, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_throttling_has_retry_after() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    set_faults(
        ts,
        json!([{"verb": "list", "resource": "configmaps", "errorCode": 429, "count": 1}]),
    )
    .await;
    let resp = within("list", ts.http.get(ts.url(CMS)).send())
        .await
        .expect("list");
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: Value = within("body", resp.json()).await.expect("Status body");
    assert_eq!(body["reason"], json!("TooManyRequests"));
    assert_eq!(body["details"]["retryAfterSeconds"], json!(1));
    assert_eq!(get(ts, CMS).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_latency_and_clearing() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    post(ts, CMS, &cm("slow", json!({}))).await;
    set_faults(
        ts,
        json!([{"verb": "get", "resource": "configmaps", "latencyMs": 300}]),
    )
    .await;
    let (_, rules) = get(ts, "/_sandbox/faults").await;
    assert_eq!(rules["rules"].as_array().map(Vec::len), Some(1), "{rules}");
    let start = Instant::now();
    assert_eq!(get(ts, &format!("{CMS}/slow")).await.0, 200);
    let slow = start.elapsed();
    assert!(
        slow >= Duration::from_millis(300),
        "latency added: {slow:?}"
    );

    let (code, body) = send(ts, "DELETE", "/_sandbox/faults", JSON, &json!({})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(get(ts, "/_sandbox/faults").await.1, json!({"rules": []}));
    let start = Instant::now();
    assert_eq!(get(ts, &format!("{CMS}/slow")).await.0, 200);
    let fast = start.elapsed();
    assert!(
        fast < Duration::from_millis(300),
        "latency cleared: {fast:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Simulated controllers

async fn slow_rollouts() -> TestSandbox {
    TestSandbox::with_config(Config {
        rollout_delay: Duration::from_millis(200),
        ..Config::default()
    })
    .await
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn condition_is(obj: &Value, type_: &str, status: &str) -> bool {
    condition(obj, type_).is_some_and(|c| c["status"] == status)
}

fn deployment(name: &str, replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}},
        },
    })
}

/// Polls `path` until `ok` holds of it, and returns the object.
async fn wait_for(ts: &TestSandbox, what: &str, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let ok = &ok;
    ts.eventually(what, SETTLE, || async move {
        let (code, o) = get(ts, path).await;
        (code == 200 && ok(&o)).then_some(o)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_become_available_after_the_rollout_delay() {
    let ts = slow_rollouts().await;
    let ts = &ts;
    let path = format!("{DEPLOYS}/web");
    let ready = |replicas: i64, generation: i64| {
        move |d: &Value| {
            d["status"]["readyReplicas"] == json!(replicas)
                && d["status"]["replicas"] == json!(replicas)
                && d["status"]["availableReplicas"] == json!(replicas)
                && d["status"]["observedGeneration"] == json!(generation)
                && condition_is(d, "Available", "True")
        }
    };
    let start = Instant::now();
    let (code, d) = post(ts, DEPLOYS, &deployment("web", 3, "nginx:1.25")).await;
    assert_eq!(code, 201, "{d}");
    let (_, early) = get(ts, &path).await;
    assert!(
        !ready(3, 1)(&early),
        "ready before the rollout delay: {}",
        early["status"]
    );
    assert!(
        !condition_is(&early, "Available", "True"),
        "{}",
        early["status"]
    );
    let done = wait_for(ts, "the rollout", &path, ready(3, 1)).await;
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(200), "ready after {took:?}");
    assert!(
        condition_is(&done, "Progressing", "True"),
        "{}",
        done["status"]
    );
    assert_eq!(
        condition(&done, "Progressing").map(|c| c["reason"].clone()),
        Some(json!("NewReplicaSetAvailable"))
    );

    let (code, d) = send(ts, "PATCH", &path, MERGE, &json!({"spec": {"replicas": 5}})).await;
    assert_eq!(code, 200, "{d}");
    wait_for(ts, "the scale-up", &path, ready(5, 2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_images_fail() {
    let ts = slow_rollouts().await;
    let ts = &ts;
    let (code, d) = post(ts, DEPLOYS, &deployment("broken", 2, "nginx:fail")).await;
    assert_eq!(code, 201, "{d}");
    let d = wait_for(
        ts,
        "the failed rollout",
        &format!("{DEPLOYS}/broken"),
        |d| condition_is(d, "Progressing", "False"),
    )
    .await;
    assert_eq!(
        condition(&d, "Progressing").map(|c| c["reason"].clone()),
        Some(json!("ProgressDeadlineExceeded"))
    );
    assert!(condition_is(&d, "Available", "False"), "{}", d["status"]);
    assert_ne!(d["status"]["readyReplicas"], json!(2));
}

fn job(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "main", "image": image}]}}},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_complete_or_fail() {
    let ts = slow_rollouts().await;
    let ts = &ts;
    let jobs = "/apis/batch/v1/namespaces/default/jobs";
    assert_eq!(post(ts, jobs, &job("ok-job", "busybox:1.36")).await.0, 201);
    assert_eq!(post(ts, jobs, &job("bad-job", "busybox:fail")).await.0, 201);
    let ok = wait_for(ts, "the job to complete", &format!("{jobs}/ok-job"), |j| {
        condition_is(j, "Complete", "True")
    })
    .await;
    assert_eq!(ok["status"]["succeeded"], json!(1));
    assert!(!condition_is(&ok, "Failed", "True"));
    let bad = wait_for(ts, "the job to fail", &format!("{jobs}/bad-job"), |j| {
        condition_is(j, "Failed", "True")
    })
    .await;
    assert!(!condition_is(&bad, "Complete", "True"), "{}", bad["status"]);
    assert!(
        bad["status"]["succeeded"].as_i64().unwrap_or(0) == 0,
        "{}",
        bad["status"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_services_and_volumes_come_up() {
    let ts = slow_rollouts().await;
    let ts = &ts;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}});
    assert_eq!(
        post(ts, "/api/v1/namespaces/default/pods", &pod).await.0,
        201
    );
    let p = wait_for(
        ts,
        "the pod to run",
        "/api/v1/namespaces/default/pods/p",
        |p| p["status"]["phase"] == "Running",
    )
    .await;
    assert!(condition_is(&p, "Ready", "True"), "{}", p["status"]);

    let svcs = "/api/v1/namespaces/default/services";
    let svc = |name: &str, type_: &str| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": type_, "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    };
    let (code, s) = post(ts, svcs, &svc("web-svc", "ClusterIP")).await;
    assert_eq!(code, 201, "{s}");
    let ip: std::net::Ipv4Addr = s["spec"]["clusterIP"]
        .as_str()
        .expect("clusterIP")
        .parse()
        .expect("an IPv4 clusterIP");
    let [a, b, _, _] = ip.octets();
    assert!(a == 10 && (96..112).contains(&b), "{ip} is in 10.96.0.0/12");

    let (code, lb) = post(ts, svcs, &svc("lb-svc", "LoadBalancer")).await;
    assert_eq!(code, 201, "{lb}");
    let node_port = lb["spec"]["ports"][0]["nodePort"]
        .as_i64()
        .expect("nodePort");
    assert!((30000..=32767).contains(&node_port), "{node_port}");
    assert_ne!(lb["spec"]["clusterIP"], s["spec"]["clusterIP"]);
    let lb = wait_for(ts, "a load balancer IP", &format!("{svcs}/lb-svc"), |s| {
        s["status"]["loadBalancer"]["ingress"][0]["ip"].is_string()
    })
    .await;
    let lb_ip = lb["status"]["loadBalancer"]["ingress"][0]["ip"]
        .as_str()
        .unwrap_or("");
    assert!(lb_ip.parse::<std::net::Ipv4Addr>().is_ok(), "{lb_ip}");

    let ing = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"},
        "spec": {"rules": [{"host": "web.example", "http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web-svc", "port": {"number": 80}}}}]}}]}});
    let ings = "/apis/networking.k8s.io/v1/namespaces/default/ingresses";
    assert_eq!(post(ts, ings, &ing).await.0, 201);
    wait_for(
        ts,
        "the ingress to get an address",
        &format!("{ings}/web"),
        |i| i["status"]["loadBalancer"]["ingress"][0]["ip"].is_string(),
    )
    .await;

    let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
    let pvcs = "/api/v1/namespaces/default/persistentvolumeclaims";
    assert_eq!(post(ts, pvcs, &pvc).await.0, 201);
    let bound = wait_for(ts, "the claim to bind", &format!("{pvcs}/data"), |c| {
        c["status"]["phase"] == "Bound"
    })
    .await;
    assert_eq!(bound["status"]["capacity"]["storage"], json!("1Gi"));

    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let (code, o) = get(ts, &format!("/api/v1/namespaces/{ns}")).await;
        assert_eq!(code, 200, "{o}");
        assert_eq!(o["status"]["phase"], json!("Active"), "{ns}");
    }
    let (code, o) = post(
        ts,
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fresh"}}),
    )
    .await;
    assert_eq!(code, 201, "{o}");
    assert_eq!(o["status"]["phase"], json!("Active"));
}

// ---------------------------------------------------------------------------------------
// Persistence

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart() {
    let data = tempfile::tempdir().expect("temp dir");
    let config = Config {
        data_dir: Some(data.path().to_path_buf()),
        rollout_delay: Duration::ZERO,
        ..Config::default()
    };
    let kept = "/api/v1/namespaces/keep/configmaps/kept";
    let widgets = "/apis/example.com/v1/namespaces/keep/widgets";

    let first = TestSandbox::with_config(config.clone()).await;
    let ts = &first;
    create_namespace(ts, "keep").await;
    let (code, c) = post(
        ts,
        "/api/v1/namespaces/keep/configmaps",
        &cm("kept", json!({"k": "v"})),
    )
    .await;
    assert_eq!(code, 201, "{c}");
    let (code, crd) = post(
        ts,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &widget_crd(),
    )
    .await;
    assert_eq!(code, 201, "{crd}");
    let w = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}});
    let (code, w) = post(ts, widgets, &w).await;
    assert_eq!(code, 201, "{w}");
    let (_, ns_before) = get(ts, "/api/v1/namespaces/keep").await;
    let (_, cm_before) = get(ts, kept).await;
    let last_rv = list_rv(ts, CMS).await;
    let TestSandbox { sandbox, .. } = first;
    within("shutdown", sandbox.shutdown()).await;

    let second = TestSandbox::with_config(config).await;
    let ts = &second;
    let (code, c) = get(ts, kept).await;
    assert_eq!(code, 200, "{c}");
    assert_eq!(
        c, cm_before,
        "the ConfigMap is back as it was, uid and resourceVersion included"
    );
    let (_, ns) = get(ts, "/api/v1/namespaces/keep").await;
    assert_eq!(ns["metadata"]["uid"], ns_before["metadata"]["uid"]);
    let (_, nss) = get(ts, "/api/v1/namespaces").await;
    let count = nss["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|n| name(n) == "default")
        .count();
    assert_eq!(count, 1, "bootstrap does not recreate restored namespaces");

    let (code, group) = get(ts, "/apis/example.com/v1").await;
    assert_eq!(code, 200, "the CRD's kind is served again: {group}");
    let (code, w2) = get(ts, &format!("{widgets}/w1")).await;
    assert_eq!(code, 200, "{w2}");
    assert_eq!(w2["metadata"]["uid"], w["metadata"]["uid"]);
    assert_eq!(w2["spec"], json!({"size": 3}));

    let (code, newer) = post(ts, CMS, &cm("after-restart", json!({}))).await;
    assert_eq!(code, 201, "{newer}");
    assert!(
        rv(&newer) > last_rv,
        "resourceVersion continues: {} after {last_rv}",
        rv(&newer)
    );
    let (code, w3) = post(
        ts,
        widgets,
        &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w2"}}),
    )
    .await;
    assert_eq!(code, 201, "{w3}");
}
