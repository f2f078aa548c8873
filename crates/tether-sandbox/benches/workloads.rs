//! Workload simulation benchmark: 1,000 Deployments of 3 replicas, from the
//! creates to every Pod Running and every Deployment Available, with the
//! process RSS and the number of stored objects and writes it took.
//!
//! Run with `cargo bench -p tether-sandbox --bench workloads`
//! (`TETHER_BENCH_DEPLOYMENTS` changes the count). Rollouts are instant (rollout
//! delay 0), so the time is the controllers' own work: ReplicaSets, Pods,
//! scheduling, kubelet status and every status that follows them. Prints a
//! Markdown table for BENCHMARKS.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tether_sandbox::catalog::GroupResource;
use tether_sandbox::{Config, Sandbox};

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

fn deployment(i: usize) -> Value {
    let name = format!("app-{i:05}");
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}}}})
}

fn gr(group: &str, resource: &str) -> GroupResource {
    GroupResource {
        group: group.into(),
        resource: resource.into(),
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}

async fn bench() {
    let n: usize = std::env::var("TETHER_BENCH_DEPLOYMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let rss_start = rss_kib();
    let sandbox = Sandbox::start(Config {
        rollout_delay: Duration::ZERO,
        ..Config::default()
    })
    .await
    .expect("sandbox");
    let sh = sandbox.shared().clone();
    let objects_before = sh.store.object_count();
    let rv_before = sh.store.current_rv();
    let base = sandbox.url();
    let client = reqwest::Client::new();
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (next, client, base) = (next.clone(), client.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let code = client
                    .post(format!(
                        "{base}/apis/apps/v1/namespaces/default/deployments"
                    ))
                    .json(&deployment(i))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(599);
                assert_eq!(code, 201, "create {i}");
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    let created = start.elapsed();
    let (pods, deploys) = (gr("", "pods"), gr("apps", "deployments"));
    let mut peak = rss_kib();
    loop {
        let (ps, _) = sh.store.list(&pods, Some("default"));
        let running = ps
            .iter()
            .filter(|p| p.pointer("/status/phase") == Some(&json!("Running")))
            .count();
        let (ds, _) = sh.store.list(&deploys, Some("default"));
        let available = ds
            .iter()
            .filter(|d| {
                d.pointer("/status/availableReplicas") == Some(&json!(3))
                    && d.pointer("/status/updatedReplicas") == Some(&json!(3))
            })
            .count();
        peak = peak.max(rss_kib());
        if running == 3 * n && ps.len() == 3 * n && available == n {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "not settled: {running} pods running, {available} deployments available"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let settled = start.elapsed();
    let objects = sh.store.object_count() - objects_before;
    let writes = sh.store.current_rv() - rv_before;
    let rss = rss_kib();
    println!("| measure | value |\n|---|---|");
    println!(
        "| {n} Deployments created (POST, 32 clients) | {:.2} s |",
        created.as_secs_f64()
    );
    println!(
        "| from the first create to all {} Pods Running and every Deployment available | {:.2} s |",
        3 * n,
        settled.as_secs_f64()
    );
    println!(
        "| objects stored for them | {objects} ({:.1} per Deployment) |",
        objects as f64 / n as f64
    );
    println!(
        "| writes (resourceVersions) it took | {writes} ({:.1} per Deployment) |",
        writes as f64 / n as f64
    );
    println!(
        "| process RSS after | {:.0} MiB (started at {:.0} MiB; peak seen {:.0} MiB) |",
        rss as f64 / 1024.0,
        rss_start as f64 / 1024.0,
        peak as f64 / 1024.0
    );
}
