//! What every benchmark here needs: child processes that die with the bench,
//! Git commits, percentiles, and a process's CPU and memory from /proc.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A child process killed (and reaped) when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run git in `repo` as a fixed bench identity; panics when it fails.
pub fn git(repo: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(args)
        .current_dir(repo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("git")
        .success();
    assert!(ok, "git {args:?}");
}

/// The `p` percentile (0.0 to 1.0) of sorted values, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A `/proc/PID/status` field given in kB (`VmRSS:`, `VmHWM:`), in MiB.
pub fn status_mib(pid: u32, field: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// User plus system CPU seconds of a process.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0 // utime + stime, in clock ticks (100/s)
}

/// `tether sandbox` on a free port, with `extra` arguments; its kubeconfig path.
pub fn sandbox(bin: &str, dir: &Path, extra: &[&str]) -> (Proc, std::path::PathBuf) {
    use std::io::{BufRead, BufReader};
    let kc = dir.join("kubeconfig");
    let mut child = Command::new(bin)
        .args(["sandbox", "--port", "0", "--kubeconfig-out"])
        .arg(&kc)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sandbox");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    for line in lines.by_ref() {
        if line.expect("line").starts_with("kubeconfig: ") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (Proc(child), kc)
}

/// `tether agent` on `kc`, watching namespace `tether`, serving the API on a
/// free port (with `extra` arguments); it and the API's address.
pub fn api_agent(bin: &str, kc: &Path, state_dir: &Path, extra: &[&str]) -> (Proc, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let agent = Command::new(bin)
        .args(["agent", "--kubeconfig"])
        .arg(kc)
        .arg("--state-dir")
        .arg(state_dir)
        .args(["--listen", &addr, "--watch-namespace", "tether"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("agent");
    (Proc(agent), addr)
}

/// A Kubernetes client from a kubeconfig file.
pub async fn client(kc: &Path) -> kube::Client {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(kc).expect("kubeconfig"),
        &Default::default(),
    )
    .await
    .expect("config");
    kube::Client::try_from(config).expect("client")
}

/// `n` Applications `svc-00000`… in namespace `fleet` (created, with the namespace), with
/// varied labels (`env`, `team`), repositories (50), sync and health, a sync history entry with
/// its commit, and a drifted object on every tenth. Nothing reconciles them when the agent
/// watches another namespace: they are there to be listed, as a fleet's are.
pub async fn create_fleet(client: &kube::Client, n: usize) {
    use futures_util::StreamExt;
    use kube::api::{Api, Patch, PatchParams, PostParams};
    use serde_json::json;
    use std::time::{Duration, Instant};
    use tether_model::Application;

    let crd: Api<Application> = Api::namespaced(client.clone(), "fleet");
    let deadline = Instant::now() + Duration::from_secs(30);
    while crd.list(&Default::default()).await.is_err() {
        assert!(Instant::now() < deadline, "no CRD");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let _ = ns
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "fleet"}})).unwrap(),
        )
        .await;
    let started = Instant::now();
    futures_util::stream::iter(0..n)
        .map(|i| {
            let api = crd.clone();
            async move {
                let app: Application = serde_json::from_value(json!({
                    "apiVersion": "tether.dev/v1alpha1", "kind": "Application",
                    "metadata": {"name": format!("svc-{i:05}"), "namespace": "fleet",
                        "labels": {"env": if i % 5 == 0 {"prod"} else {"dev"}, "team": format!("t{}", i % 7)}},
                    "spec": {"source": {"repoURL": format!("https://git.example.com/org/repo-{}.git", i % 50), "path": format!("apps/svc-{i:05}")},
                             "destination": {"namespace": "svc"}}
                }))
                .unwrap();
                api.create(&PostParams::default(), &app).await.expect("create");
                let mut status = json!({
                    "sync": {"status": (["Synced", "OutOfSync", "Unknown"][i % 3]), "revision": "0123456789abcdef0123456789abcdef01234567"},
                    "health": {"status": (["Healthy", "Progressing", "Degraded", "Missing"][i % 4])},
                    "history": [{"id": 1, "revision": "0123456789abcdef0123456789abcdef01234567", "startedAt": "2026-12-01T00:00:00Z",
                                 "finishedAt": format!("2026-12-01T{:02}:{:02}:00Z", i % 24, i % 60), "result": "Succeeded", "initiator": "auto",
                                 "commit": {"author": "Ada <ada@example.com>", "message": "Change things", "time": "2026-12-01T00:00:00Z"}}]
                });
                if i % 10 == 0 {
                    status["resources"] = json!([{"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "svc", "name": "x", "status": "OutOfSync",
                        "drift": {"manager": "kubectl-scale", "fields": [{"path": "spec.replicas", "git": "1", "live": "3"}]}}]);
                }
                api.patch_status(&format!("svc-{i:05}"), &PatchParams::default(), &Patch::Merge(&json!({"status": status})))
                    .await
                    .expect("status");
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    eprintln!(
        "created {n} apps in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
