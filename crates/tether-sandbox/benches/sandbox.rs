//! Sandbox benchmark: write and read throughput from concurrent HTTP clients,
//! watch fan-out to 100 watchers while writing, memory held for 100,000
//! ConfigMaps, and the cost of `kubectl apply --server-side` against the
//! sandbox compared with the sandbox's own share of it.
//!
//! Run with `make bench` (`cargo bench -p tether-sandbox --bench sandbox`).
//! Client and server share one process and the machine's cores, as they do in
//! tether's integration tests. Prints a Markdown table for BENCHMARKS.md.
//!
//! Every measure runs in three modes, each in a child process of its own (so
//! that each mode's memory is its own): plain HTTP with every request the
//! anonymous admin (the sandbox before authentication); HTTPS with the admin's
//! token (authenticated, `system:masters` skips RBAC); and HTTPS with a
//! ServiceAccount token from the TokenRequest API, whose every request is
//! verified (signature, expiry, the account's uid) and authorized by RBAC
//! rules (a Role bound in the namespace). The table gives each mode's figures
//! and their ratio to plain HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use tether_sandbox::{Config, Sandbox};

const CONCURRENCY: usize = 32;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn cm(name: &str, i: usize) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"bench": "yes"}},
           "data": {"index": i.to_string(), "payload": "x".repeat(64)}})
}

/// Runs `total` requests from CONCURRENCY workers; returns requests per second.
async fn run<F, Fut>(total: usize, f: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u16> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let f = Arc::new(f);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (next, f) = (next.clone(), f.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let code = f(i).await;
                assert!(code < 300, "request {i} failed with {code}");
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// The modes compared, as (name given to the child process, column heading).
const MODES: &[(&str, &str)] = &[
    ("plain", "plain HTTP, anonymous admin"),
    ("admin", "HTTPS, admin token"),
    ("sa", "HTTPS, ServiceAccount token + RBAC"),
];

/// One measure of one mode: a number (what ratios compare), its unit, and more words.
#[derive(serde::Serialize, serde::Deserialize)]
struct Row {
    measure: String,
    value: f64,
    unit: String,
    detail: String,
}

fn row(measure: impl Into<String>, value: f64, unit: &str, detail: String) -> Row {
    Row {
        measure: measure.into(),
        value,
        unit: unit.into(),
        detail,
    }
}

const MODE_VAR: &str = "TETHER_SANDBOX_BENCH_MODE";

fn main() {
    if let Ok(mode) = std::env::var(MODE_VAR) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        for r in rt.block_on(bench(&mode)) {
            println!("{}", serde_json::to_string(&r).expect("row"));
        }
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let mut results: Vec<Vec<Row>> = Vec::new();
    for (mode, _) in MODES {
        let out = std::process::Command::new(&exe)
            .env(MODE_VAR, mode)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("benchmark child runs");
        assert!(out.status.success(), "mode {mode} failed");
        // Each mode's rows as they come, in case a later mode fails.
        eprintln!("{mode}:\n{}", String::from_utf8_lossy(&out.stdout));
        let rows = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Row>(l).ok())
            .collect();
        results.push(rows);
    }
    let heads: Vec<&str> = MODES.iter().map(|(_, h)| *h).collect();
    println!(
        "| measure | {} | {} / plain | {} / plain |",
        heads.join(" | "),
        heads[1],
        heads[2]
    );
    println!("|---|---|---|---|---|---|");
    for (i, base) in results[0].iter().enumerate() {
        let cell = |r: &Row| {
            let mut c = format!("{:.0} {}", r.value, r.unit);
            if r.unit == "s" {
                c = format!("{:.2} s", r.value);
            }
            if !r.detail.is_empty() {
                c = format!("{c} ({})", r.detail);
            }
            c
        };
        let others: Vec<&Row> = results[1..].iter().filter_map(|rs| rs.get(i)).collect();
        let mut line = format!("| {} | {}", base.measure, cell(base));
        for r in &others {
            line.push_str(&format!(" | {}", cell(r)));
        }
        for r in &others {
            line.push_str(&format!(" | {:.2}", r.value / base.value));
        }
        println!("{line} |");
    }
}

/// Makes a ServiceAccount `bench` in `default` whose Role allows what the
/// benchmark does to ConfigMaps, and returns a token for it (TokenRequest API).
async fn service_account_token(client: &reqwest::Client, base: &str) -> String {
    let ns = format!("{base}/api/v1/namespaces/default");
    let rbac = format!("{base}/apis/rbac.authorization.k8s.io/v1/namespaces/default");
    let posts = [
        (
            format!("{ns}/serviceaccounts"),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bench"}}),
        ),
        (
            format!("{rbac}/roles"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "bench"}, "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "list", "watch", "patch", "update"]},
            ]}),
        ),
        (
            format!("{rbac}/rolebindings"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "bench"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "bench"},
                "subjects": [{"kind": "ServiceAccount", "name": "bench", "namespace": "default"}]}),
        ),
    ];
    for (url, body) in posts {
        let code = client
            .post(url)
            .json(&body)
            .send()
            .await
            .expect("setup")
            .status();
        assert!(code.is_success(), "setup: {code}");
    }
    let resp: serde_json::Value = client
        .post(format!("{ns}/serviceaccounts/bench/token"))
        .json(&json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 7200}}))
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token response");
    resp["status"]["token"]
        .as_str()
        .expect("a token")
        .to_string()
}

fn client_with(sandbox: &Sandbox, token: Option<&str>) -> reqwest::Client {
    let mut b = reqwest::Client::builder().pool_max_idle_per_host(CONCURRENCY * 2);
    if sandbox.url().starts_with("https://") {
        b = b.use_preconfigured_tls(sandbox.client_tls_config().expect("TLS config"));
    }
    if let Some(t) = token {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {t}").parse().expect("header"),
        );
        b = b.default_headers(h);
    }
    b.build().expect("client")
}

async fn bench(mode: &str) -> Vec<Row> {
    let rss_start = rss_kib();
    let plain = mode == "plain";
    let sandbox = Sandbox::start(Config {
        rollout_delay: Duration::ZERO,
        watch_window: 10_000,
        https: !plain,
        anonymous_admin: plain,
        ..Config::default()
    })
    .await
    .expect("sandbox");
    let base = sandbox.url();
    let admin = client_with(&sandbox, Some(sandbox.admin_token()));
    let client = match mode {
        "sa" => {
            let token = service_account_token(&admin, &base).await;
            client_with(&sandbox, Some(&token))
        }
        _ => admin.clone(),
    };
    let mut rows: Vec<Row> = Vec::new();

    // Creates.
    let n_create = 20_000;
    let (c, b) = (client.clone(), base.clone());
    let creates = run(n_create, move |i| {
        let (c, b) = (c.clone(), b.clone());
        async move {
            c.post(format!("{b}/api/v1/namespaces/default/configmaps"))
                .json(&cm(&format!("cm-{i:06}"), i))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(599)
        }
    })
    .await;
    rows.push(row(
        "create ConfigMap (POST), 32 concurrent clients",
        creates,
        "writes/s",
        String::new(),
    ));

    // Updates (merge patch).
    let (c, b) = (client.clone(), base.clone());
    let updates = run(n_create, move |i| {
        let (c, b) = (c.clone(), b.clone());
        async move {
            c.patch(format!(
                "{b}/api/v1/namespaces/default/configmaps/cm-{i:06}"
            ))
            .header("content-type", "application/merge-patch+json")
            .body(json!({"data": {"index": format!("u{i}")}}).to_string())
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(599)
        }
    })
    .await;
    rows.push(row(
        "update ConfigMap (merge PATCH), 32 concurrent clients",
        updates,
        "writes/s",
        String::new(),
    ));

    // Server-side apply.
    let (c, b) = (client.clone(), base.clone());
    let applies = run(5_000, move |i| {
        let (c, b) = (c.clone(), b.clone());
        async move {
            let mut body = cm(&format!("cm-{i:06}"), i);
            body["data"]["applied"] = json!("yes");
            c.patch(format!(
                "{b}/api/v1/namespaces/default/configmaps/cm-{i:06}?fieldManager=bench&force=true"
            ))
            .header("content-type", "application/apply-patch+yaml")
            .body(body.to_string())
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(599)
        }
    })
    .await;
    rows.push(row(
        "server-side apply ConfigMap, 32 concurrent clients",
        applies,
        "writes/s",
        String::new(),
    ));

    // Reads.
    let (c, b) = (client.clone(), base.clone());
    let reads = run(50_000, move |i| {
        let (c, b) = (c.clone(), b.clone());
        async move {
            c.get(format!(
                "{b}/api/v1/namespaces/default/configmaps/cm-{:06}",
                i % n_create
            ))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(599)
        }
    })
    .await;
    rows.push(row(
        "get ConfigMap, 32 concurrent clients",
        reads,
        "reads/s",
        String::new(),
    ));

    // Watch fan-out: 100 watchers on ConfigMaps; 5,000 updates; time until every watcher has every event.
    let watchers = 100;
    let n_watch_writes = 5_000usize;
    let rv = sandbox.shared().store.current_rv();
    let received = Arc::new(AtomicUsize::new(0));
    let mut watch_tasks = Vec::new();
    for _ in 0..watchers {
        let url = format!(
            "{base}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&labelSelector=watched%3Dyes"
        );
        let resp = client.get(url).send().await.expect("watch");
        let received = received.clone();
        watch_tasks.push(tokio::spawn(async move {
            let mut stream = resp.bytes_stream();
            let mut buf = Vec::new();
            let mut seen = 0;
            while let Some(Ok(chunk)) = stream.next().await {
                buf.extend_from_slice(&chunk);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    buf.drain(..=pos);
                    seen += 1;
                    received.fetch_add(1, Ordering::Relaxed);
                    if seen == n_watch_writes {
                        return;
                    }
                }
            }
        }));
    }
    let start = Instant::now();
    let (c, b) = (client.clone(), base.clone());
    let watched_writes = run(n_watch_writes, move |i| {
        let (c, b) = (c.clone(), b.clone());
        async move {
            c.patch(format!(
                "{b}/api/v1/namespaces/default/configmaps/cm-{i:06}"
            ))
            .header("content-type", "application/merge-patch+json")
            .body(json!({"metadata": {"labels": {"watched": "yes"}}}).to_string())
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(599)
        }
    })
    .await;
    let all_delivered = tokio::time::timeout(Duration::from_secs(120), async {
        for t in watch_tasks {
            let _ = t.await;
        }
    })
    .await
    .is_ok();
    let fanout_secs = start.elapsed().as_secs_f64();
    let delivered = received.load(Ordering::Relaxed);
    rows.push(row(
        "update ConfigMap while 100 watchers follow",
        watched_writes,
        "writes/s",
        String::new(),
    ));
    rows.push(row(
        "watch fan-out: 5,000 events to each of 100 watchers",
        delivered as f64 / fanout_secs,
        "events/s",
        format!(
            "{delivered} of {} in {fanout_secs:.2} s{}",
            watchers * n_watch_writes,
            if all_delivered { "" } else { ", TIMED OUT" }
        ),
    ));

    // Memory for 100,000 ConfigMaps.
    let before = rss_kib();
    let (c, b) = (client.clone(), base.clone());
    let total = 100_000;
    run(total - n_create, move |i| {
        let (c, b) = (c.clone(), b.clone());
        let i = i + n_create;
        async move {
            c.post(format!("{b}/api/v1/namespaces/default/configmaps"))
                .json(&cm(&format!("cm-{i:06}"), i))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(599)
        }
    })
    .await;
    let after = rss_kib();
    let objects = sandbox.shared().store.object_count();
    rows.push(row(
        "process RSS holding 100,000 ConfigMaps",
        after as f64 / 1024.0,
        "MiB",
        format!(
            "{objects} objects; started at {:.0} MiB, +{:.0} MiB for the last 80,000",
            rss_start as f64 / 1024.0,
            after.saturating_sub(before) as f64 / 1024.0
        ),
    ));

    // kubectl apply --server-side of 200 ConfigMaps against the sandbox, versus the
    // same 200 apply requests sent directly: how much of kubectl's time is the server's.
    if let Some(kubectl) = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("kubectl"))
            .find(|p| p.is_file())
    }) {
        let dir = tempfile::tempdir().expect("tmp");
        let kc = dir.path().join("kubeconfig");
        sandbox.write_kubeconfig(&kc).expect("kubeconfig");
        let mut docs = String::new();
        for i in 0..200 {
            docs.push_str(&format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: k-{i}\ndata:\n  a: \"{i}\"\n"));
        }
        let file = dir.path().join("cms.yaml");
        std::fs::write(&file, docs).expect("write");
        let t = Instant::now();
        let out = std::process::Command::new(&kubectl)
            .args(["apply", "--server-side", "-f"])
            .arg(&file)
            .env("KUBECONFIG", &kc)
            .output()
            .expect("kubectl");
        let kubectl_secs = t.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "kubectl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let t = Instant::now();
        for i in 0..200 {
            let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("d-{i}")}, "data": {"a": i.to_string()}});
            let code = client
                .patch(format!("{base}/api/v1/namespaces/default/configmaps/d-{i}?fieldManager=kubectl&fieldValidation=Strict"))
                .header("content-type", "application/apply-patch+yaml")
                .body(body.to_string())
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(599);
            assert!(code < 300);
        }
        let direct_secs = t.elapsed().as_secs_f64();
        rows.push(row(
            "`kubectl apply --server-side` of 200 ConfigMaps (one file, admin kubeconfig)",
            kubectl_secs,
            "s",
            format!("the same 200 applies sent one by one: {direct_secs:.3} s"),
        ));
    }
    sandbox.shutdown().await;
    rows
}
