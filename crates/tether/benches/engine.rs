//! Engine benchmarks against the sandbox, with the peer tool in the same run:
//!
//! 1. commit → applied latency with an explicit refresh (`tether app sync`'s
//!    annotation), p50 and p95 over 20 commits;
//! 2. convergence from cold of 100 apps × 10 objects, and the agent's peak RSS;
//! 3. applying 1,000 objects: tether (Application created → Synced) against
//!    `kubectl apply --server-side` of the same files to the same sandbox;
//! 4. drift → detected and drift → corrected, p50 and p95 over 50 drifts, with
//!    10 and with 1,000 managed apps; the agent's RSS with 10,000 managed
//!    objects; its CPU while idle with 1,000 apps (`-- drift`; the extra
//!    apps per scenario from `TETHER_BENCH_DRIFT_APPS`, default `10,1000`);
//! 5. scale within one app: one app of 10,000 and one of 50,000 ConfigMaps,
//!    time to Synced, the agent's and the sandbox's peak RSS, and the
//!    Application's status size (`-- scale`, sizes from `TETHER_BENCH_SCALE`,
//!    e.g. `10000,50000`, the default).
//!
//! Run: `make bench-engine` (or `cargo bench -p tether --bench engine`).
//! `TETHER_BENCH_SANDBOX_ARGS` adds arguments to every `tether sandbox` the
//! benchmark starts, e.g. `--insecure-http --anonymous-admin` to measure the
//! engine against the plain-HTTP sandbox of before issue 10.
//! `TETHER_BENCH_BIN` runs another `tether` binary (say, a release build of
//! an earlier commit) in place of this build's.
//! Everything runs on this machine's cores, so compare the ratios, not the
//! absolute times.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use tether_model::Application;

use support::{Proc, cpu_seconds, git, percentile, status_mib};

const BUILT: &str = env!("CARGO_BIN_EXE_tether");

/// The `tether` binary every scenario runs: this build, or the one
/// `TETHER_BENCH_BIN` names (another commit's release build), so that two
/// builds can be compared alternately in one session on the same machine.
fn bin() -> String {
    std::env::var("TETHER_BENCH_BIN").unwrap_or_else(|_| BUILT.to_string())
}

fn configmap(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

fn sandbox(dir: &Path) -> (Proc, PathBuf) {
    let kc = dir.join("kubeconfig");
    let child = Command::new(bin())
        .args([
            "sandbox",
            "--port",
            "0",
            "--rollout-delay-ms",
            "0",
            "--kubeconfig-out",
        ])
        .arg(&kc)
        .args(
            std::env::var("TETHER_BENCH_SANDBOX_ARGS")
                .unwrap_or_default()
                .split_whitespace(),
        )
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

fn agent(dir: &Path, kc: &Path, poll: &str, concurrency: &str) -> Proc {
    let child = Command::new(bin())
        .args(["agent", "--kubeconfig"])
        .arg(kc)
        .arg("--state-dir")
        .arg(dir.join("agent-state"))
        .args([
            "--poll-interval",
            poll,
            "--concurrency",
            concurrency,
            "--progress-interval",
            "0.2",
            // The benchmark's repositories are local.
            "--allow-local-repos",
        ])
        .env("TETHER_LOG", "warn")
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

async fn wait_crd(client: &kube::Client) {
    let api: Api<Application> = Api::namespaced(client.clone(), "tether");
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.list(&ListParams::default()).await.is_err() {
        assert!(Instant::now() < deadline, "agent did not install the CRD");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ensure_ns(client: &kube::Client, ns: &str) {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    api.patch(ns, &PatchParams::apply("bench"), &Patch::Apply(&body))
        .await
        .expect("namespace");
}

async fn create_app(client: &kube::Client, name: &str, url: &str, path: &str, dest: &str) {
    create_app_with(client, name, url, path, dest, json!({"prune": true})).await;
}

fn synced_healthy(app: &Application) -> bool {
    let st = app.status.clone().unwrap_or_default();
    st.sync
        .map(|s| s.status.as_str() == "Synced")
        .unwrap_or(false)
        && st
            .health
            .map(|h| h.status.as_str() == "Healthy")
            .unwrap_or(false)
}

fn peak_rss_mib(pid: u32) -> f64 {
    status_mib(pid, "VmHWM:")
}

fn rss_now_mib(pid: u32) -> f64 {
    status_mib(pid, "VmRSS:")
}

/// 1. Commit → applied with an explicit refresh.
async fn commit_latency(dir: &Path) -> (f64, f64) {
    let (_sb, kc) = sandbox(dir);
    let _agent = agent(dir, &kc, "3600", "4");
    let client = client(&kc).await;
    wait_crd(&client).await;
    ensure_ns(&client, "tether").await;
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
    create_app(
        &client,
        "latency",
        &format!("file://{}", repo.display()),
        "app",
        "latency",
    )
    .await;
    let apps: Api<Application> = Api::namespaced(client.clone(), "tether");
    loop {
        if apps
            .get("latency")
            .await
            .map(|a| synced_healthy(&a))
            .unwrap_or(false)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "latency");
    let mut samples = Vec::new();
    for n in 1..=20 {
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

/// 2. 100 apps × 10 objects from cold; the agent's peak RSS.
async fn cold_convergence(dir: &Path) -> (f64, f64) {
    let (_sb, kc) = sandbox(dir);
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    for a in 0..100 {
        let d = repo.join(format!("apps/app{a}"));
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..10 {
            std::fs::write(
                d.join(format!("cm{i}.yaml")),
                configmap(&format!("cm{i}"), "v"),
            )
            .unwrap();
        }
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "hundred apps"]);
    let agent = agent(dir, &kc, "30", "8");
    let client = client(&kc).await;
    wait_crd(&client).await;
    ensure_ns(&client, "tether").await;
    let url = format!("file://{}", repo.display());
    let start = Instant::now();
    for a in 0..100 {
        create_app(
            &client,
            &format!("app{a}"),
            &url,
            &format!("apps/app{a}"),
            &format!("ns{a}"),
        )
        .await;
    }
    let apps: Api<Application> = Api::namespaced(client.clone(), "tether");
    loop {
        let list = apps.list(&ListParams::default()).await.expect("list");
        if list.items.len() == 100 && list.items.iter().all(synced_healthy) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    (secs, peak_rss_mib(agent.0.id()))
}

/// 3. 1,000 objects: tether against kubectl apply --server-side.
async fn apply_thousand(dir: &Path) -> (f64, f64) {
    let (_sb, kc) = sandbox(dir);
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("big")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    for i in 0..1000 {
        std::fs::write(
            repo.join(format!("big/cm{i:04}.yaml")),
            configmap(&format!("cm{i}"), "v"),
        )
        .unwrap();
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "thousand"]);
    let _agent = agent(dir, &kc, "3600", "4");
    let client = client(&kc).await;
    wait_crd(&client).await;
    ensure_ns(&client, "tether").await;

    // kubectl first, into its own namespace.
    ensure_ns(&client, "by-kubectl").await;
    let start = Instant::now();
    let out = Command::new("kubectl")
        .args(["apply", "--server-side", "-n", "by-kubectl", "-f"])
        .arg(repo.join("big"))
        .env("KUBECONFIG", &kc)
        .stdout(Stdio::null())
        .output()
        .expect("kubectl");
    let kubectl_secs = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let start = Instant::now();
    create_app(
        &client,
        "big",
        &format!("file://{}", repo.display()),
        "big",
        "by-tether",
    )
    .await;
    let apps: Api<Application> = Api::namespaced(client.clone(), "tether");
    loop {
        if apps
            .get("big")
            .await
            .map(|a| synced_healthy(&a))
            .unwrap_or(false)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let tether_secs = start.elapsed().as_secs_f64();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "by-tether");
    let n = cms
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .len();
    assert!(n >= 1000, "tether applied {n} objects");
    (tether_secs, kubectl_secs)
}

fn deployment(name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n        - name: main\n          image: nginx:1.0\n"
    )
}

async fn create_app_with(
    client: &kube::Client,
    name: &str,
    url: &str,
    path: &str,
    dest: &str,
    automated: serde_json::Value,
) {
    let api: Api<Application> = Api::namespaced(client.clone(), "tether");
    let app = json!({
        "apiVersion": "tether.dev/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "tether"},
        "spec": {"source": {"repoURL": url, "path": path}, "destination": {"namespace": dest},
                 "syncPolicy": {"automated": automated, "syncOptions": ["CreateNamespace=true"]}}
    });
    api.patch(name, &PatchParams::apply("bench"), &Patch::Apply(&app))
        .await
        .expect("app");
}

/// 50 drifts (`replicas` 3 → 2 by another field manager): when the app's
/// status shows it (a detect-only app) and when it is put back (a self-heal app).
/// Self-heal apps are taken in turn, so none is corrected more than 3 times a
/// minute (more would be flapping, which backs off on purpose).
const HEAL_APPS: usize = 17;

async fn drift_latency(client: &kube::Client, detect_ns: &str) -> ((f64, f64), (f64, f64)) {
    let apps: Api<Application> = Api::namespaced(client.clone(), "tether");
    let mut detected = Vec::new();
    let mut corrected = Vec::new();
    for n in 0..50 {
        // Detection, on the detect-only app.
        let deploys: Api<k8s_openapi::api::apps::v1::Deployment> =
            Api::namespaced(client.clone(), detect_ns);
        let replicas = if n % 2 == 0 { 2 } else { 4 };
        let patch = json!({"spec": {"replicas": replicas}});
        let start = Instant::now();
        deploys
            .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("drift");
        loop {
            let a = apps.get(detect_ns).await.expect("app");
            let seen = a.status.as_ref().is_some_and(|s| {
                s.resources.iter().any(|r| {
                    r.drift
                        .as_ref()
                        .is_some_and(|d| d.fields.iter().any(|f| f.live == replicas.to_string()))
                })
            });
            if seen {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        detected.push(start.elapsed().as_secs_f64() * 1000.0);
        eprintln!("drift {n}: detected");

        // Correction, on the self-heal app.
        let heal_ns = format!("heal{}", n % HEAL_APPS);
        let deploys: Api<k8s_openapi::api::apps::v1::Deployment> =
            Api::namespaced(client.clone(), &heal_ns);
        let start = Instant::now();
        deploys
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"replicas": 2}})),
            )
            .await
            .expect("drift");
        loop {
            let d = deploys.get("web").await.expect("web");
            if d.spec.and_then(|s| s.replicas) == Some(3) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        corrected.push(start.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    detected.sort_by(f64::total_cmp);
    corrected.sort_by(f64::total_cmp);
    (
        (percentile(&detected, 0.5), percentile(&detected, 0.95)),
        (percentile(&corrected, 0.5), percentile(&corrected, 0.95)),
    )
}

/// 4. Drift with `extra` other apps of 10 ConfigMaps each beside the two measured ones.
async fn drift(dir: &Path, extra: usize) -> ((f64, f64), (f64, f64), f64, f64, f64) {
    let (_sb, kc) = sandbox(dir);
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("web")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("web/web.yaml"), deployment("web", 3)).unwrap();
    for a in 0..extra {
        let d = repo.join(format!("apps/app{a}"));
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..10 {
            std::fs::write(
                d.join(format!("cm{i}.yaml")),
                configmap(&format!("cm{i}"), "v"),
            )
            .unwrap();
        }
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "fleet"]);
    let agent = agent(dir, &kc, "30", "8");
    let client = client(&kc).await;
    wait_crd(&client).await;
    ensure_ns(&client, "tether").await;
    let url = format!("file://{}", repo.display());
    create_app_with(
        &client,
        "detect",
        &url,
        "web",
        "detect",
        json!({"prune": true}),
    )
    .await;
    for h in 0..HEAL_APPS {
        let name = format!("heal{h}");
        create_app_with(
            &client,
            &name,
            &url,
            "web",
            &name,
            json!({"prune": true, "selfHeal": true}),
        )
        .await;
    }
    for a in 0..extra {
        create_app(
            &client,
            &format!("app{a}"),
            &url,
            &format!("apps/app{a}"),
            &format!("ns{a}"),
        )
        .await;
    }
    let apps: Api<Application> = Api::namespaced(client.clone(), "tether");
    loop {
        let list = apps.list(&ListParams::default()).await.expect("list");
        if list.items.len() == extra + 1 + HEAL_APPS && list.items.iter().all(synced_healthy) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("drift bench: {} apps converged", extra + 1 + HEAL_APPS);
    let rss = peak_rss_mib(agent.0.id());
    // Idle: nothing changes for 30 s (one poll interval).
    let before = cpu_seconds(agent.0.id());
    tokio::time::sleep(Duration::from_secs(30)).await;
    let idle_cpu = (cpu_seconds(agent.0.id()) - before) / 30.0 * 100.0;
    // Steady state, every object in the live cache.
    let rss_idle = rss_now_mib(agent.0.id());
    let (d, c) = drift_latency(&client, "detect").await;
    (d, c, rss, rss_idle, idle_cpu)
}

/// Scale within one app: one app of `n` ConfigMaps (in files of 1,000
/// documents) from created to Synced and Healthy. Returns seconds, the
/// agent's and the sandbox's VmHWM in MiB, status bytes and inventory bytes.
async fn one_big_app(dir: &Path, n: usize) -> (f64, f64, f64, usize, usize) {
    let (sb, kc) = sandbox(dir);
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("big")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let names: Vec<usize> = (0..n).collect();
    for (file, chunk) in names.chunks(1000).enumerate() {
        let docs: Vec<String> = chunk
            .iter()
            .map(|i| configmap(&format!("cm-{i:05}"), "v"))
            .collect();
        std::fs::write(
            repo.join(format!("big/cm{file:03}.yaml")),
            docs.join("---\n"),
        )
        .unwrap();
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "many"]);
    let limit = (n + 1).max(20_000).to_string();
    let agent = Proc(
        Command::new(bin())
            .args(["agent", "--kubeconfig"])
            .arg(&kc)
            .arg("--state-dir")
            .arg(dir.join("agent-state"))
            .args(["--poll-interval", "3600", "--max-objects-per-app", &limit])
            .env("TETHER_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("agent.log")).expect("log"))
            .spawn()
            .expect("agent"),
    );
    let client = client(&kc).await;
    wait_crd(&client).await;
    ensure_ns(&client, "tether").await;
    let start = Instant::now();
    create_app(
        &client,
        "big",
        &format!("file://{}", repo.display()),
        "big",
        "big",
    )
    .await;
    let apps: Api<Application> = Api::namespaced(client.clone(), "tether");
    let app = loop {
        if let Ok(a) = apps.get("big").await
            && synced_healthy(&a)
            && a.status
                .as_ref()
                .and_then(|s| s.inventory.as_ref())
                .map(|i| i.count)
                == Some(n as u64)
        {
            break a;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3600),
            "not Synced within an hour"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let secs = start.elapsed().as_secs_f64();
    let status = app.status.clone().unwrap_or_default();
    let status_bytes = serde_json::to_vec(&status).expect("json").len();
    let inventory_bytes = status
        .inventory
        .as_ref()
        .map(|i| i.encoded_len())
        .unwrap_or(0);
    (
        secs,
        peak_rss_mib(agent.0.id()),
        peak_rss_mib(sb.0.id()),
        status_bytes,
        inventory_bytes,
    )
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "scale") {
        let sizes = std::env::var("TETHER_BENCH_SCALE").unwrap_or_else(|_| "10000,50000".into());
        let tmp = tempfile::tempdir().expect("tmp");
        for n in sizes
            .split(',')
            .filter_map(|s| s.trim().parse::<usize>().ok())
        {
            let dir = tmp.path().join(format!("scale{n}"));
            std::fs::create_dir_all(&dir).unwrap();
            let (secs, agent, sandbox, status, inventory) = one_big_app(&dir, n).await;
            println!(
                "one app of {n} ConfigMaps: created → Synced {secs:.1} s; agent peak RSS {agent:.1} MiB; sandbox peak RSS {sandbox:.1} MiB; status {status} bytes (inventory {inventory})"
            );
        }
        return;
    }
    if std::env::args().any(|a| a == "drift") {
        let tmp = tempfile::tempdir().expect("tmp");
        // `TETHER_BENCH_DRIFT_APPS`: the extra apps per scenario (default
        // `10,1000`); a small count alone is a quick before/after check.
        let counts = std::env::var("TETHER_BENCH_DRIFT_APPS").unwrap_or_else(|_| "10,1000".into());
        for extra in counts
            .split(',')
            .filter_map(|s| s.trim().parse::<usize>().ok())
        {
            let dir = tmp.path().join(format!("drift{extra}"));
            std::fs::create_dir_all(&dir).unwrap();
            let ((d50, d95), (c50, c95), rss, rss_idle, cpu) = drift(&dir, extra).await;
            println!(
                "{} apps ({} objects): drift → detected p50 {d50:.0} ms, p95 {d95:.0} ms; drift → corrected p50 {c50:.0} ms, p95 {c95:.0} ms; agent peak RSS {rss:.1} MiB, RSS when idle {rss_idle:.1} MiB; idle CPU {cpu:.2}% of one core",
                extra + 1 + HEAL_APPS,
                extra * 10 + 1 + HEAL_APPS
            );
        }
        return;
    }
    // `cargo bench` passes --bench; nothing else to parse.
    let tmp = tempfile::tempdir().expect("tmp");
    let d = |n: &str| {
        let p = tmp.path().join(n);
        std::fs::create_dir_all(&p).unwrap();
        p
    };
    let (p50, p95) = commit_latency(&d("latency")).await;
    println!("commit → applied (explicit refresh, 20 commits): p50 {p50:.0} ms, p95 {p95:.0} ms");
    let (secs, rss) = cold_convergence(&d("cold")).await;
    println!("cold convergence, 100 apps × 10 objects: {secs:.2} s; agent peak RSS {rss:.1} MiB");
    let (t, k) = apply_thousand(&d("apply")).await;
    println!(
        "1,000 objects: tether (app created → Synced) {t:.2} s; kubectl apply --server-side {k:.2} s; ratio kubectl/tether {:.1}x",
        k / t
    );
}
