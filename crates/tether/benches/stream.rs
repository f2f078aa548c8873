//! The live stream and the server's cost, against the real binaries:
//!
//! 1. the agent's idle CPU and RSS at 1,000 apps (× 10 ConfigMaps) with the
//!    server off, then on with 1,000 list streams connected and `/metrics`
//!    scraped every 15 s, in the same run, each after a restart of the agent
//!    on the same converged cluster;
//! 2. stream fan-out: with those 1,000 clients connected, a burst of 1,000 app
//!    changes (a label on every Application): the time until every client has
//!    every change, and the agent's RSS with them connected.
//!
//! Run: `cargo bench -p tether --bench stream`. `TETHER_BENCH_APPS` (default
//! 1000), `TETHER_BENCH_CLIENTS` (default 1000) and `TETHER_BENCH_IDLE_SECS`
//! (default 30) change the sizes. Everything shares this machine's cores:
//! compare the on/off figures of one run, not absolute values across runs.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use tether_model::Application;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use support::{Proc, cpu_seconds, git, status_mib};

const BIN: &str = env!("CARGO_BIN_EXE_tether");

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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

fn agent(dir: &Path, kc: &Path, listen: Option<&str>) -> Proc {
    let mut cmd = Command::new(BIN);
    cmd.args(["agent", "--kubeconfig"])
        .arg(kc)
        .arg("--state-dir")
        .arg(dir.join("agent-state"))
        .args([
            "--poll-interval",
            "30",
            "--concurrency",
            "8",
            "--allow-local-repos",
        ]);
    if let Some(addr) = listen {
        cmd.args(["--listen", addr]);
    }
    let child = cmd
        .env("TETHER_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("agent.log")).expect("log"))
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

fn synced_healthy(app: &Application) -> bool {
    let st = app.status.clone().unwrap_or_default();
    st.sync.is_some_and(|s| s.status.as_str() == "Synced")
        && st.health.is_some_and(|h| h.status.as_str() == "Healthy")
}

async fn wait_converged(client: &kube::Client, n: usize) {
    let apps: Api<Application> = Api::namespaced(client.clone(), "tether");
    loop {
        if let Ok(list) = apps.list(&ListParams::default()).await
            && list.items.len() == n
            && list.items.iter().all(synced_healthy)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Idle CPU (% of one core) over `secs`, and RSS after it.
async fn idle(pid: u32, secs: u64) -> (f64, f64) {
    let before = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let cpu = (cpu_seconds(pid) - before) / secs as f64 * 100.0;
    (cpu, status_mib(pid, "VmRSS:"))
}

/// A token in the agent's token Secret, as `tether token create` writes it.
async fn token(client: &kube::Client) -> String {
    let token = format!("tether_bench{:052}", std::process::id());
    let sha = {
        let out = Command::new("sh")
            .args([
                "-c",
                &format!("printf %s '{token}' | sha256sum | cut -d' ' -f1"),
            ])
            .output()
            .expect("sha256sum");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let record = json!({"role": "readonly", "sha256": sha, "createdAt": "2026-01-01T00:00:00Z"});
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), "tether");
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "tether-api-tokens", "namespace": "tether"},
        "data": {"bench": k8s_openapi::ByteString(record.to_string().into_bytes())},
    });
    secrets
        .patch(
            "tether-api-tokens",
            &PatchParams::apply("tether-token-bench"),
            &Patch::Apply(&secret),
        )
        .await
        .expect("token secret");
    token
}

/// One stream client: counts distinct apps in `changes` events once the
/// burst has started; `done` is bumped when it has all `want` of them.
async fn stream_client(
    addr: String,
    token: String,
    connected: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
    want: usize,
    finished_at: Arc<std::sync::Mutex<Vec<Instant>>>,
) {
    let mut sock = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    // HTTP/1.0: the body comes unchunked, closed by the server at the end.
    let req = format!(
        "GET /api/v1/stream HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    sock.write_all(req.as_bytes()).await.expect("request");
    let mut lines = BufReader::new(sock).lines();
    let mut event = String::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut counted = false;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(name) = line.strip_prefix("event: ") {
            event = name.to_string();
        } else if let Some(data) = line.strip_prefix("data: ") {
            if event == "snapshot" && !counted {
                counted = true;
                connected.fetch_add(1, Ordering::SeqCst);
            }
            if event == "changes" {
                // Each row starts with its name; no JSON parsing, so the
                // client's own cost stays small beside the agent's.
                for part in data.split("{\"name\":\"").skip(1) {
                    if let Some((name, _)) = part.split_once('"')
                        && part.contains("\"bench\":\"burst\"")
                    {
                        seen.insert(name.to_string());
                    }
                }
                if seen.len() >= want {
                    finished_at.lock().unwrap().push(Instant::now());
                    done.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let n_apps = env_usize("TETHER_BENCH_APPS", 1000);
    let n_clients = env_usize("TETHER_BENCH_CLIENTS", 1000);
    let idle_secs = env_usize("TETHER_BENCH_IDLE_SECS", 30) as u64;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let (_sb, kc) = sandbox(dir);

    let repo = dir.join("repo");
    for a in 0..n_apps {
        let d = repo.join(format!("apps/app{a}"));
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..10 {
            std::fs::write(
                d.join(format!("cm{i}.yaml")),
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\ndata:\n  value: \"v\"\n"),
            )
            .unwrap();
        }
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "fleet"]);

    // Converge once.
    let first = agent(dir, &kc, None);
    let client = client(&kc).await;
    let apps: Api<Application> = Api::namespaced(client.clone(), "tether");
    loop {
        if apps.list(&ListParams::default()).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    ns.patch(
        "tether",
        &PatchParams::apply("bench"),
        &Patch::Apply(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tether"}}),
        ),
    )
    .await
    .expect("namespace");
    let url = format!("file://{}", repo.display());
    for a in 0..n_apps {
        let name = format!("app{a}");
        let app = json!({
            "apiVersion": "tether.dev/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "tether"},
            "spec": {"source": {"repoURL": url, "path": format!("apps/app{a}")},
                     "destination": {"namespace": format!("ns{a}")},
                     "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]}}
        });
        apps.patch(&name, &PatchParams::apply("bench"), &Patch::Apply(&app))
            .await
            .expect("app");
    }
    let start = Instant::now();
    wait_converged(&client, n_apps).await;
    eprintln!(
        "{n_apps} apps converged in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    drop(first);
    let settle = Duration::from_secs(15);

    // Server off.
    let off = agent(dir, &kc, None);
    tokio::time::sleep(settle).await;
    wait_converged(&client, n_apps).await;
    let (cpu_off, rss_off) = idle(off.0.id(), idle_secs).await;
    drop(off);
    println!(
        "server off: idle CPU {cpu_off:.2}% of one core, RSS {rss_off:.1} MiB ({n_apps} apps, {} objects)",
        n_apps * 10
    );

    // Server on, with the stream clients and a metrics scraper.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let on = agent(dir, &kc, Some(&addr));
    let token = token(&client).await;
    let pid = on.0.id();
    let http = status_of(&addr, "/readyz", None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while http().await != Some(200) {
        assert!(Instant::now() < deadline, "the API did not come up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let auth = status_of(&addr, "/api/v1/session", Some(token.clone()));
    while auth().await != Some(200) {
        assert!(Instant::now() < deadline, "the token was not accepted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let connected = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(std::sync::Mutex::new(Vec::new()));
    for _ in 0..n_clients {
        tokio::spawn(stream_client(
            addr.clone(),
            token.clone(),
            connected.clone(),
            done.clone(),
            n_apps,
            finished.clone(),
        ));
    }
    while connected.load(Ordering::SeqCst) < n_clients {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let scrape = status_of(&addr, "/metrics", Some(token.clone()));
    let metrics_status = scrape().await;
    let scraper = tokio::spawn(async move {
        loop {
            let _ = scrape().await;
            tokio::time::sleep(Duration::from_secs(15)).await;
        }
    });
    tokio::time::sleep(settle).await;
    wait_converged(&client, n_apps).await;
    let (cpu_on, rss_on) = idle(pid, idle_secs).await;
    println!(
        "server on ({n_clients} streams connected, /metrics scraped every 15 s: first scrape {metrics_status:?}): idle CPU {cpu_on:.2}% of one core, RSS {rss_on:.1} MiB"
    );

    // The burst: a label on every app.
    let start = Instant::now();
    for a in 0..n_apps {
        let patch = json!({"metadata": {"labels": {"bench": "burst"}}});
        apps.patch(
            &format!("app{a}"),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .expect("label");
    }
    let written = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    while done.load(Ordering::SeqCst) < n_clients {
        assert!(
            Instant::now() < deadline,
            "only {} of {n_clients} clients got every change",
            done.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let all = start.elapsed();
    let last = finished.lock().unwrap().iter().max().copied().unwrap();
    let first_done = finished.lock().unwrap().iter().min().copied().unwrap();
    println!(
        "fan-out: {n_apps} changes (written in {:.2} s) reached all {n_clients} clients {:.2} s after the first write ({:.2} s after the last; the first client had all of them at {:.2} s); agent RSS {:.1} MiB now, peak {:.1} MiB",
        written.as_secs_f64(),
        all.as_secs_f64(),
        (all - written).as_secs_f64(),
        (first_done - start).as_secs_f64(),
        status_mib(pid, "VmRSS:"),
        status_mib(pid, "VmHWM:"),
    );
    let _ = last;
    scraper.abort();
    println!(
        "ratio server on / off: CPU {:.2}x, RSS {:.2}x",
        cpu_on / cpu_off.max(0.01),
        rss_on / rss_off
    );
}

/// A GET over a fresh connection; the status code. (No HTTP client crate
/// needed for a status line.)
fn status_of(
    addr: &str,
    path: &str,
    token: Option<String>,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<u16>> + Send>>
+ Send
+ 'static
+ use<> {
    let addr = addr.to_string();
    let path = path.to_string();
    move || {
        let addr = addr.clone();
        let path = path.clone();
        let token = token.clone();
        Box::pin(async move {
            let mut sock = tokio::net::TcpStream::connect(&addr).await.ok()?;
            let auth = token
                .map(|t| format!("Authorization: Bearer {t}\r\n"))
                .unwrap_or_default();
            let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}\r\n");
            sock.write_all(req.as_bytes()).await.ok()?;
            let mut lines = BufReader::new(sock).lines();
            let status = lines.next_line().await.ok()??;
            // Drain the body so the server is not cut off mid-write.
            while let Ok(Some(_)) = lines.next_line().await {}
            status.split_whitespace().nth(1)?.parse().ok()
        })
    }
}
