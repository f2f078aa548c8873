//! Sandbox benchmark: write and read throughput from concurrent HTTP clients,
//! watch fan-out to 100 watchers while writing, memory held for 100,000
//! ConfigMaps, and the cost of `kubectl apply --server-side` against the
//! sandbox compared with the sandbox's own share of it.
//!
//! Run with `make bench` (`cargo bench -p tether-sandbox --bench sandbox`).
//! Client and server share one process and the machine's cores, as they do in
//! tether's integration tests. Prints a Markdown table for BENCHMARKS.md.

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

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}

async fn bench() {
    let rss_start = rss_kib();
    let sandbox = Sandbox::start(Config {
        rollout_delay: Duration::ZERO,
        watch_window: 10_000,
        ..Config::default()
    })
    .await
    .expect("sandbox");
    let base = sandbox.url();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY * 2)
        .build()
        .expect("client");
    let mut rows: Vec<(String, String)> = Vec::new();

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
    rows.push((
        "create ConfigMap (POST), 32 concurrent clients".into(),
        format!("{creates:.0} writes/s"),
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
    rows.push((
        "update ConfigMap (merge PATCH), 32 concurrent clients".into(),
        format!("{updates:.0} writes/s"),
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
    rows.push((
        "server-side apply ConfigMap, 32 concurrent clients".into(),
        format!("{applies:.0} writes/s"),
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
    rows.push((
        "get ConfigMap, 32 concurrent clients".into(),
        format!("{reads:.0} reads/s"),
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
    rows.push((
        "update ConfigMap while 100 watchers follow".into(),
        format!("{watched_writes:.0} writes/s"),
    ));
    rows.push((
        "watch fan-out: 5,000 events to each of 100 watchers".into(),
        format!(
            "{delivered} of {} events delivered in {fanout_secs:.2} s ({:.0} events/s){}",
            watchers * n_watch_writes,
            delivered as f64 / fanout_secs,
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
    rows.push((
        format!("process RSS holding {objects} objects (100,000 ConfigMaps)"),
        format!(
            "{:.0} MiB (started at {:.0} MiB; +{:.0} MiB for the last 80,000)",
            after as f64 / 1024.0,
            rss_start as f64 / 1024.0,
            (after - before) as f64 / 1024.0
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
        rows.push((
            "`kubectl apply --server-side` of 200 ConfigMaps (one file)".into(),
            format!("{:.2} s; the same 200 applies sent one by one over HTTP: {:.3} s (server share {:.1}%, ratio {:.0}x)", kubectl_secs, direct_secs, 100.0 * direct_secs / kubectl_secs, kubectl_secs / direct_secs),
        ));
    }

    println!("| measure | result |");
    println!("|---|---|");
    for (k, v) in rows {
        println!("| {k} | {v} |");
    }
    sandbox.shutdown().await;
}
