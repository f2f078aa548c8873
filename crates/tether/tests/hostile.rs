//! One bad commit never hurts another app. Every case in `tests/hostile/` is a
//! repository that tries to crash, exhaust, stall or read past the agent; all
//! of them are synced by one agent at once, beside a healthy app. Each must
//! fail with its own condition, while the healthy app keeps syncing new
//! commits, the agent's memory stays bounded, and it still stops promptly.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[allow(dead_code)]
    about: String,
    reason: String,
    message: Vec<String>,
    #[serde(default)]
    source: String,
    files: BTreeMap<String, String>,
    #[serde(default)]
    symlinks: BTreeMap<String, String>,
}

fn corpus() -> Vec<(String, Case)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile");
    let mut cases: Vec<(String, Case)> = std::fs::read_dir(&dir)
        .expect("tests/hostile")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("case");
            let case: Case =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, case)
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(cases.len() >= 10, "the corpus is there");
    cases
}

/// VmHWM (peak resident memory) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[test]
fn hostile_repositories_fail_alone() {
    let env = Env::start();
    // The loops end at this timeout; memory and stack meet the defaults.
    let mut agent = env.spawn_agent("hostile", &["--render-timeout", "5"]);
    let state_dir = env.agent_state_dir("hostile");
    eventually("the CRD", Duration::from_secs(30), || {
        env.kubectl(&["get", "crd", "applications.tether.dev"])
            .status
            .success()
            .then_some(())
    });
    let _ = env.kubectl(&["create", "namespace", "tether"]);

    // The neighbour: a plain app that must keep syncing throughout.
    let good = Repo::init(&env.dir.path().join("good"));
    good.write("cm.yaml", &configmap("good", "1"));
    good.commit("good 1");
    env.apply_yaml(&app_yaml("good", &good.url(), "", "good", AUTO_PRUNE, ""));
    env.wait_synced_healthy("good");

    let up = "../".repeat(32);
    let cases = corpus();
    for (name, case) in &cases {
        let repo = Repo::init(&env.dir.path().join(format!("repo-{name}")));
        for (file, text) in &case.files {
            let text = text
                .replace("{{STATE_DIR}}", &state_dir.display().to_string())
                .replace("{{UP}}", &up);
            repo.write(file, &text);
        }
        for (link, target) in &case.symlinks {
            std::os::unix::fs::symlink(target, repo.path.join(link)).expect("symlink");
        }
        repo.commit(&format!("hostile: {name}"));
        let extra = case
            .source
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>();
        env.apply_yaml(&app_yaml(name, &repo.url(), "", name, AUTO_PRUNE, &extra));
    }

    // While they fail, the neighbour syncs a new commit.
    let commit = {
        good.write("cm.yaml", &configmap("good", "2"));
        good.commit("good 2")
    };
    let app = env.wait_app(
        "good",
        "the new commit synced",
        Duration::from_secs(60),
        |a| a["status"]["sync"]["revision"] == commit.as_str() && sync(a) == "Synced",
    );
    assert_eq!(health(&app), "Healthy");
    assert_eq!(
        env.get("configmap", "good", "good").unwrap()["data"]["value"],
        "2"
    );

    for (name, case) in &cases {
        let app = env.wait_app(name, &case.reason, Duration::from_secs(90), |a| {
            condition(a, "Ready")["reason"] == case.reason.as_str()
        });
        let message = condition(&app, "Ready")["message"].as_str().unwrap_or("");
        for want in &case.message {
            assert!(
                message.contains(want.as_str()),
                "{name}: the message names {want:?}: {message}"
            );
        }
        assert_eq!(sync(&app), "Unknown", "{name}: nothing was synced");
        // Nothing of the hostile app reached the cluster.
        let objects = env.kubectl_ok(&["get", "configmaps,secrets", "-n", name, "-o", "name"]);
        assert!(
            objects.lines().all(|l| l.ends_with("kube-root-ca.crt")),
            "{name}: nothing applied: {objects}"
        );
    }

    // Still the same agent process: nothing crashed it.
    assert!(
        agent.try_wait().expect("try_wait").is_none(),
        "the agent is still running:\n{}",
        env.spawned_agent_log("hostile")
    );
    let peak = peak_rss_kib(agent.id());
    eprintln!(
        "agent peak RSS with {} hostile apps: {peak} KiB",
        cases.len()
    );
    assert!(
        peak < 400 * 1024,
        "the agent's peak RSS stays bounded (the renders' memory is their workers'): {peak} KiB"
    );

    // A failed render is cached per input: the endless chart is not rendered
    // again on every retry.
    std::thread::sleep(Duration::from_secs(8));
    let log = env.spawned_agent_log("hostile");
    let renders = log
        .lines()
        .filter(|l| l.contains("render failed") && l.contains("helm-endless-template"))
        .count();
    assert_eq!(renders, 1, "one render of the endless chart:\n{log}");

    // A user's sync takes the cached failure too; a hard refresh renders again.
    let failures = |env: &Env| {
        env.spawned_agent_log("hostile")
            .lines()
            .filter(|l| l.contains("render failed") && l.contains("kustomize-internal-http"))
            .count()
    };
    assert_eq!(failures(&env), 1);
    let synced = env.run_tether(&["app", "sync", "kustomize-internal-http", "-n", "tether"]);
    assert_ne!(synced.code, 0, "the sync fails: {synced:?}");
    assert_eq!(failures(&env), 1, "a plain sync reuses the cached failure");
    let hard = env.run_tether(&[
        "app",
        "sync",
        "kustomize-internal-http",
        "-n",
        "tether",
        "--hard-refresh",
    ]);
    assert_ne!(
        hard.code, 0,
        "the hard refresh fails the same way: {hard:?}"
    );
    assert!(
        hard.stdout.contains("--allow-remote-bases")
            || hard.stderr.contains("--allow-remote-bases"),
        "{hard:?}"
    );
    assert_eq!(failures(&env), 2, "a hard refresh renders again");

    // Shutdown is prompt with a render running: a new commit of the endless
    // Jsonnet is being rendered (its worker is seen) when SIGTERM arrives.
    let endless = Repo {
        path: env.dir.path().join("repo-jsonnet-endless"),
    };
    endless.write(
        "main.jsonnet",
        "// again\nstd.foldl(function(acc, i) std.foldl(function(a, j) a + j, std.range(0, 100000), acc), std.range(0, 100000), 0)\n",
    );
    endless.commit("endless again");
    let worker = eventually("a render worker", Duration::from_secs(20), || {
        render_workers(agent.id()).into_iter().next()
    });
    let started = Instant::now();
    let term = Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let status = agent.wait().expect("wait");
    let took = started.elapsed();
    assert!(status.success(), "a clean stop: {status}");
    eprintln!("agent stopped {took:?} after SIGTERM, with a render running");
    assert!(
        took < Duration::from_secs(3),
        "stopped in {took:?}, not after the render's 5 s timeout"
    );
    // And the worker went with it.
    eventually("the worker gone", Duration::from_secs(3), || {
        (!Path::new(&format!("/proc/{worker}")).exists()).then_some(())
    });
}

/// Render workers (`tether render-worker`) whose parent is `agent`.
fn render_workers(agent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // `pid (comm) state ppid ...`: the comm may hold spaces, so split after `)`.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid == Some(agent) && String::from_utf8_lossy(&cmdline).contains("render-worker")
        })
        .collect()
}

/// A remote base is fetched only when the agent allows it: by default not one
/// request reaches the address the repository names.
#[test]
fn remote_bases_are_fetched_only_when_allowed() {
    use std::io::{Read, Write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = server.local_addr().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    {
        let requests = requests.clone();
        std::thread::spawn(move || {
            for stream in server.incoming() {
                let Ok(mut stream) = stream else { continue };
                requests.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let body = configmap("remote", "fetched");
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
    }

    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write(
        "kustomization.yaml",
        &format!("resources:\n- http://127.0.0.1:{port}/cm.yaml\n"),
    );
    repo.commit("a remote base");
    env.apply_yaml(&app_yaml(
        "remote",
        &repo.url(),
        "",
        "remote",
        AUTO_PRUNE,
        "",
    ));
    let app = env.wait_app("remote", "refused", Duration::from_secs(30), |a| {
        condition(a, "Ready")["reason"] == "SourceNotAllowed"
    });
    let message = condition(&app, "Ready")["message"].as_str().unwrap();
    assert!(
        message.contains("kustomization.yaml") && message.contains("--allow-remote-bases"),
        "{message}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 0, "nothing was fetched");

    env.stop_agent();
    env.restart_agent(&["--allow-remote-bases"]);
    env.wait_synced_healthy("remote");
    assert_eq!(
        env.get("configmap", "remote", "remote").unwrap()["data"]["value"],
        "fetched"
    );
    assert!(requests.load(Ordering::SeqCst) >= 1);
}
