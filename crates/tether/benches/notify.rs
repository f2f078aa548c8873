//! Notifications must never slow a sync. Commit → applied latency with an
//! explicit refresh (p50 and p95 over 20 commits to one app of 10 ConfigMaps)
//! in three agents run back to back on the same machine:
//!
//! 1. no Notifier (the baseline);
//! 2. 10 Notifiers whose target accepts connections and never answers (each
//!    attempt holds for the 10 s default timeout, then retries);
//! 3. 10 Notifiers whose target answers 200 at once.
//!
//! Each Notifier wants every event, so each commit queues 20 messages
//! (SyncStarted and SyncSucceeded × 10). The ratios against the baseline are the
//! figures; everything shares this machine's cores.
//!
//! Run: `cargo bench -p tether --bench notify`.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::ApiResource;
use serde_json::json;
use tether_model::Application;

use support::{Proc, git, percentile};

const BIN: &str = env!("CARGO_BIN_EXE_tether");
const NOTIFIERS: usize = 10;
const COMMITS: usize = 20;

fn configmap(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

fn sandbox(dir: &Path) -> (Proc, PathBuf) {
    let kc = dir.join("kubeconfig");
    let child = Command::new(BIN)
        .args([
            "sandbox",
            "--port",
            "0",
            "--rollout-delay-ms",
            "0",
            "--kubeconfig-out",
        ])
        .arg(&kc)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sandbox");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !kc.exists() {
        assert!(Instant::now() < deadline, "sandbox did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    (Proc(child), kc)
}

fn agent(dir: &Path, kc: &Path) -> Proc {
    let child = Command::new(BIN)
        .args(["agent", "--kubeconfig"])
        .arg(kc)
        .arg("--state-dir")
        .arg(dir.join("agent-state"))
        .args([
            "--poll-interval",
            "3600",
            "--progress-interval",
            "0.2",
            "--allow-local-repos",
        ])
        .env("TETHER_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("agent");
    Proc(child)
}

async fn client(kc: &Path) -> kube::Client {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(kc).expect("kubeconfig"),
        &Default::default(),
    )
    .await
    .expect("config");
    kube::Client::try_from(config).expect("client")
}

/// A target that accepts connections and never answers.
fn hung_target() -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().flatten() {
            s.fetch_add(1, Ordering::Relaxed);
            held.push(c);
        }
    });
    (url, seen)
}

/// A target that answers every request with 200 at once (HTTP/1.1, keep-alive).
fn healthy_target() -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut w = c.try_clone().unwrap();
                let mut r = BufReader::new(c);
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.to_ascii_lowercase();
                        if let Some(v) = l.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    s.fetch_add(1, Ordering::Relaxed);
                    if w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (url, seen)
}

/// Commit → applied, p50 and p95 in ms, with `target` (if any) behind 10 Notifiers.
async fn latency(dir: &Path, target: Option<&str>) -> (f64, f64) {
    let (_sb, kc) = sandbox(dir);
    let _agent = agent(dir, &kc);
    let client = client(&kc).await;
    let apps: Api<Application> = Api::namespaced(client.clone(), "tether");
    let deadline = Instant::now() + Duration::from_secs(30);
    while apps.list(&ListParams::default()).await.is_err() {
        assert!(Instant::now() < deadline, "agent did not install the CRD");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    ns.patch(
        "tether",
        &PatchParams::apply("bench"),
        &Patch::Apply(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tether"}}),
        ),
    )
    .await
    .expect("namespace");
    if let Some(url) = target {
        let ar = ApiResource {
            group: "tether.dev".into(),
            version: "v1alpha1".into(),
            api_version: "tether.dev/v1alpha1".into(),
            kind: "Notifier".into(),
            plural: "notifiers".into(),
        };
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "tether", &ar);
        let deadline = Instant::now() + Duration::from_secs(30);
        for i in 0..NOTIFIERS {
            let name = format!("n{i}");
            let body = json!({"apiVersion": "tether.dev/v1alpha1", "kind": "Notifier",
                "metadata": {"name": name, "namespace": "tether"},
                "spec": {"type": "webhook", "address": url}});
            while api
                .patch(&name, &PatchParams::apply("bench"), &Patch::Apply(&body))
                .await
                .is_err()
            {
                assert!(Instant::now() < deadline, "the Notifier CRD did not appear");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // The agent's watch sees them.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("app")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    for i in 0..10 {
        std::fs::write(
            repo.join(format!("app/cm{i}.yaml")),
            configmap(&format!("cm{i}"), "0"),
        )
        .unwrap();
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "start"]);
    let app = json!({
        "apiVersion": "tether.dev/v1alpha1", "kind": "Application",
        "metadata": {"name": "latency", "namespace": "tether"},
        "spec": {"source": {"repoURL": format!("file://{}", repo.display()), "path": "app"},
                 "destination": {"namespace": "latency"},
                 "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]}}
    });
    apps.patch("latency", &PatchParams::apply("bench"), &Patch::Apply(&app))
        .await
        .expect("app");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "latency");
    while cms.get("cm9").await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut samples = Vec::new();
    for n in 1..=COMMITS {
        let value = n.to_string();
        std::fs::write(repo.join("app/cm0.yaml"), configmap("cm0", &value)).unwrap();
        git(&repo, &["commit", "-qam", &format!("change {n}")]);
        let start = Instant::now();
        let patch = json!({"metadata": {"annotations": {
            tether_model::REFRESH_ANNOTATION: format!("bench-{n}"),
            tether_model::REFRESH_BY_ANNOTATION: "user:bench"}}});
        apps.patch("latency", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("refresh");
        loop {
            let cm = cms.get("cm0").await.expect("cm0");
            if cm.data.and_then(|d| d.get("value").cloned()).as_deref() == Some(value.as_str()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    (percentile(&samples, 0.5), percentile(&samples, 0.95))
}

#[tokio::main]
async fn main() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = latency(&tmp.path().join("none"), None).await;
    let (hung_url, hung_seen) = hung_target();
    let hung = latency(&tmp.path().join("hung"), Some(&hung_url)).await;
    let (ok_url, ok_seen) = healthy_target();
    let ok = latency(&tmp.path().join("ok"), Some(&ok_url)).await;
    println!("commit → applied, {COMMITS} commits, p50 / p95 (ms):");
    println!(
        "  no Notifier:                       {:.1} / {:.1}",
        base.0, base.1
    );
    println!(
        "  {NOTIFIERS} Notifiers, target never answers: {:.1} / {:.1}  ({:.2}x / {:.2}x the baseline; {} connections held)",
        hung.0,
        hung.1,
        hung.0 / base.0,
        hung.1 / base.1,
        hung_seen.load(Ordering::Relaxed)
    );
    println!(
        "  {NOTIFIERS} Notifiers, target answers 200:    {:.1} / {:.1}  ({:.2}x / {:.2}x the baseline; {} messages delivered)",
        ok.0,
        ok.1,
        ok.0 / base.0,
        ok.1 / base.1,
        ok_seen.load(Ordering::Relaxed)
    );
}
