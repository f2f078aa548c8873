//! The dashboard in a real browser: the Applications page at 10,000 apps and one app's page
//! with 500 objects, measured in headless Chromium (`benches/dashboard.py`, Playwright from
//! `.tools/python` driving Debian's chromium, as the browser tests do).
//!
//! Here: `tether sandbox` (rollouts of 100 ms) and `tether agent --listen --watch-namespace
//! tether`; the 10,000 apps of the list benchmark (`support::create_fleet`, in namespace
//! `fleet`: listed, not reconciled); and one reconciled app, `tether/big`, whose Git
//! repository holds 100 Deployments, 100 Services and 100 ConfigMaps, so its tree has 500
//! objects with the 100 ReplicaSets and 100 Pods the sandbox makes. Then the script measures
//! and prints; see its docstring for what.
//!
//! Run: `cargo bench -p tether --bench dashboard` (`TETHER_BENCH_APPS`, default 10000;
//! `TETHER_BENCH_RUNS`, page loads per figure, default 5).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tether_model::Application;

use support::git;

const BIN: &str = env!("CARGO_BIN_EXE_tether");
/// Deployments, Services and ConfigMaps in the big app's repository (each Deployment adds a
/// ReplicaSet and a Pod): 5 tree nodes each.
const GROUPS: usize = 100;

/// A GET with a bearer token on a new connection; the status and the body.
fn get(addr: &str, token: &str, path: &str) -> Option<(u16, serde_json::Value)> {
    let mut s = TcpStream::connect(addr).ok()?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.get(9..12)?.parse().ok()?;
    Some((status, serde_json::from_str(body).unwrap_or_default()))
}

fn wait(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The big app's repository: GROUPS each of Deployment, Service and ConfigMap.
fn big_repo(repo: &Path) {
    std::fs::create_dir_all(repo.join("big")).expect("mkdir");
    let mut yaml = String::new();
    for i in 0..GROUPS {
        yaml.push_str(&format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-{i:03}\nspec:\n  replicas: 1\n  \
             selector:\n    matchLabels:\n      app: web-{i:03}\n  template:\n    metadata:\n      labels:\n        \
             app: web-{i:03}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n\
             ---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web-{i:03}\nspec:\n  selector:\n    app: web-{i:03}\n  \
             ports:\n  - port: 80\n\
             ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:03}\ndata:\n  index: \"{i}\"\n"
        ));
    }
    std::fs::write(repo.join("big/objects.yaml"), yaml).expect("write");
    git(repo, &["init", "--quiet", "--initial-branch=main"]);
    git(repo, &["add", "--all"]);
    git(repo, &["commit", "--quiet", "-m", "500 objects"]);
}

fn main() {
    let n: usize = std::env::var("TETHER_BENCH_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("root");
    let python = root.join(".tools/python/bin/python");
    let chromium =
        std::env::var("TETHER_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    assert!(
        Path::new(&chromium).exists()
            && Command::new(&python)
                .args(["-c", "import playwright.sync_api"])
                .status()
                .is_ok_and(|s| s.success()),
        "the dashboard bench needs Chromium ({chromium}) and Playwright in {}: run `make tools`",
        python.display()
    );

    let dir = tempfile::tempdir().expect("tmp");
    let (_sandbox, kc) = support::sandbox(BIN, dir.path(), &["--rollout-delay-ms", "100"]);
    let (_agent, addr) = support::api_agent(
        BIN,
        &kc,
        &dir.path().join("agent-state"),
        &["--allow-local-repos", "--poll-interval", "5"],
    );
    let repo = dir.path().join("big-repo");
    big_repo(&repo);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = support::client(&kc).await;
        support::create_fleet(&client, n).await;
        let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        let _ = ns
            .create(
                &Default::default(),
                &serde_json::from_value(json!({"metadata": {"name": "tether"}})).unwrap(),
            )
            .await;
        let apps: Api<Application> = Api::namespaced(client, "tether");
        let app = json!({
            "apiVersion": "tether.dev/v1alpha1", "kind": "Application",
            "metadata": {"name": "big", "namespace": "tether"},
            "spec": {
                "source": {"repoURL": format!("file://{}", repo.display()), "path": "big"},
                "destination": {"namespace": "big"},
                "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]},
            }
        });
        apps.patch(
            "big",
            &PatchParams::apply("bench").force(),
            &Patch::Apply(&app),
        )
        .await
        .expect("the big app");
    });
    let made = Command::new(BIN)
        .args([
            "token",
            "create",
            "bench",
            "--role",
            "admin",
            "--kubeconfig",
        ])
        .arg(&kc)
        .output()
        .expect("token");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let token = String::from_utf8_lossy(&made.stdout).trim().to_string();

    wait(
        &format!("the API to serve {n} apps"),
        Duration::from_secs(180),
        || {
            get(
                &addr,
                &token,
                "/api/v1/applications?namespace=fleet&limit=1",
            )
            .is_some_and(|(s, v)| s == 200 && v["metadata"]["total"] == n)
        },
    );
    let started = Instant::now();
    wait(
        "tether/big Synced and Healthy with 500 objects",
        Duration::from_secs(300),
        || {
            let healthy = get(
                &addr,
                &token,
                "/api/v1/applications?namespace=tether&name=big",
            )
            .is_some_and(|(_, v)| {
                v["items"][0]["sync"] == "Synced" && v["items"][0]["health"] == "Healthy"
            });
            healthy
                && get(
                    &addr,
                    &token,
                    "/api/v1/applications/tether/big/resource-tree",
                )
                .is_some_and(|(_, v)| v["nodes"].as_array().map(Vec::len) == Some(5 * GROUPS))
        },
    );
    eprintln!(
        "tether/big converged with {} objects in {:.1} s",
        5 * GROUPS,
        started.elapsed().as_secs_f64()
    );

    let status = Command::new(&python)
        .arg(root.join("crates/tether/benches/dashboard.py"))
        .current_dir(&root)
        .env("TETHER_BENCH_BASE", format!("http://{addr}"))
        .env("TETHER_BENCH_TOKEN", &token)
        .env("TETHER_BENCH_KUBECONFIG", &kc)
        .env("TETHER_BENCH_APPS", n.to_string())
        .env("TETHER_BENCH_BIG_APP", "tether/big")
        .env("TETHER_BENCH_BIG_NAMESPACE", "big")
        .env("TETHER_BENCH_EDIT", "cm-000,cm-050,cm-099")
        .env("TETHER_CHROMIUM", &chromium)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .status()
        .expect("the bench script runs");
    assert!(status.success(), "benches/dashboard.py failed");
}
