//! Git push → applied, with a webhook against polling, in the same run (issue 11):
//!
//! 1. webhook: the agent polls once an hour; each of 20 commits is announced by a signed
//!    GitHub push request to `--listen`; time from the request to the ConfigMap changed;
//! 2. poll-only: the same agent configuration with `--poll-interval 1` (30 times shorter
//!    than the default) and no webhook; time from the commit to the ConfigMap changed.
//!
//! The repository is served over HTTP by `git http-backend`, as a Git host would.
//! Run: `cargo bench -p tether --bench webhook`. Everything runs on this machine's cores:
//! compare the ratio, not the absolute times.

#[path = "../../tether-source/tests/support/git_http.rs"]
mod git_http;
#[path = "../tests/support/http_client.rs"]
mod http_client;

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tether_model::Application;

use support::{Proc, percentile};

const BIN: &str = env!("CARGO_BIN_EXE_tether");
const PUSHES: usize = 20;
const SECRET: &str = "bench-secret";

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(args)
        .current_dir(repo)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn configmap(value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pushed\ndata:\n  value: \"{value}\"\n"
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

fn agent(dir: &Path, kc: &Path, extra: &[&str]) -> Proc {
    let child = Command::new(BIN)
        .args(["agent", "--kubeconfig"])
        .arg(kc)
        .arg("--state-dir")
        .arg(dir.join("agent-state"))
        .args(["--progress-interval", "0.2"])
        .args(extra)
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

/// A sandbox, an agent with `extra` arguments, a served repository and one synced app
/// reading it; returns what the measurement needs.
struct Setup {
    _sandbox: Proc,
    _agent: Proc,
    _git: git_http::GitHttpServer,
    repo: PathBuf,
    url: String,
    configmaps: Api<ConfigMap>,
}

async fn setup(dir: &Path, extra: &[&str]) -> Setup {
    let (sandbox, kc) = sandbox(dir);
    let agent = agent(dir, &kc, extra);
    let client = client(&kc).await;
    let apps: Api<Application> = Api::namespaced(client.clone(), "tether");
    let deadline = Instant::now() + Duration::from_secs(30);
    while apps.list(&ListParams::default()).await.is_err() {
        assert!(Instant::now() < deadline, "agent did not install the CRD");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tether"}});
    namespaces
        .patch("tether", &PatchParams::apply("bench"), &Patch::Apply(&ns))
        .await
        .expect("namespace");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "tether");
    let secret: Secret = serde_json::from_value(json!({"metadata": {"name": "tether-webhook"},
        "stringData": {"github": SECRET}}))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");

    let served = dir.join("served");
    let repo = served.join("deploy");
    std::fs::create_dir_all(repo.join("app")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("app/cm.yaml"), configmap("0")).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "start"]);
    let server = git_http::GitHttpServer::start(&served, None);
    let url = server.url("deploy");
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "tether.dev/v1alpha1", "kind": "Application",
        "metadata": {"name": "pushed", "namespace": "tether"},
        "spec": {"source": {"repoURL": url, "path": "app", "revision": "main"},
            "destination": {"namespace": "pushed"},
            "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]}}
    }))
    .unwrap();
    apps.create(&PostParams::default(), &app)
        .await
        .expect("app");
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "pushed");
    wait_value(&configmaps, "0").await;
    Setup {
        _sandbox: sandbox,
        _agent: agent,
        _git: server,
        repo,
        url,
        configmaps,
    }
}

async fn wait_value(cms: &Api<ConfigMap>, value: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = cms
            .get_opt("pushed")
            .await
            .ok()
            .flatten()
            .and_then(|c| c.data)
            .and_then(|d| d.get("value").cloned());
        if now.as_deref() == Some(value) {
            return;
        }
        assert!(Instant::now() < deadline, "{value} never applied");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn github_push(url: &str, before: &str, after: &str) -> (Vec<u8>, String) {
    let body = serde_json::to_vec(&json!({
        "ref": "refs/heads/main", "before": before, "after": after,
        "repository": {"full_name": "org/deploy", "html_url": url, "clone_url": format!("{url}.git"),
            "default_branch": "main"},
        "commits": [{"id": after, "added": [], "modified": ["app/cm.yaml"], "removed": []}]
    }))
    .unwrap();
    let sig = tether_server::webhook::sign(&body, SECRET.as_bytes());
    (body, sig)
}

/// Push → applied over [`PUSHES`] commits; `announce` is called after each commit.
async fn measure(s: &Setup, mut announce: impl FnMut(&str, &str)) -> (f64, f64) {
    let mut samples = Vec::new();
    let mut head = git(&s.repo, &["rev-parse", "HEAD"]);
    for n in 1..=PUSHES {
        let value = n.to_string();
        std::fs::write(s.repo.join("app/cm.yaml"), configmap(&value)).unwrap();
        git(&s.repo, &["commit", "-qam", &format!("change {n}")]);
        let after = git(&s.repo, &["rev-parse", "HEAD"]);
        let start = Instant::now();
        announce(&head, &after);
        wait_value(&s.configmaps, &value).await;
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
        head = after;
        // Let the poll-only agent's timer drift against the commits, as real pushes do.
        tokio::time::sleep(Duration::from_millis(137)).await;
    }
    samples.sort_by(f64::total_cmp);
    (percentile(&samples, 0.5), percentile(&samples, 0.95))
}

#[tokio::main]
async fn main() {
    let tmp = tempfile::tempdir().expect("tmp");

    let dir = tmp.path().join("webhook");
    std::fs::create_dir_all(&dir).unwrap();
    let listen = http_client::free_addr();
    let s = setup(
        &dir,
        &["--poll-interval", "3600", "--listen", &listen.to_string()],
    )
    .await;
    let (w50, w95) = measure(&s, |before, after| {
        let (body, sig) = github_push(&s.url, before, after);
        let r = http_client::request(
            listen,
            "POST",
            "/api/webhook/github",
            &[
                ("X-GitHub-Event", "push"),
                ("X-Hub-Signature-256", &sig),
                ("Content-Type", "application/json"),
            ],
            &body,
        );
        assert_eq!(r.status, 200, "{}", r.body);
    })
    .await;
    drop(s);

    let dir = tmp.path().join("poll");
    std::fs::create_dir_all(&dir).unwrap();
    let s = setup(&dir, &["--poll-interval", "1"]).await;
    let (p50, p95) = measure(&s, |_, _| {}).await;
    drop(s);

    println!("push → applied over {PUSHES} pushes (repository over HTTP, git http-backend):");
    println!("  webhook (poll interval 1 h): p50 {w50:.0} ms, p95 {w95:.0} ms");
    println!("  poll-only (poll interval 1 s): p50 {p50:.0} ms, p95 {p95:.0} ms");
    println!(
        "  webhook / poll-only: p50 {:.2}x, p95 {:.2}x",
        w50 / p50,
        w95 / p95
    );
}
