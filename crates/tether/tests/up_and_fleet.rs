//! `tether up` from a clean state dir, and many apps on one repository
//! sharing one fetcher (counted at a real `git http-backend`).

mod common;
#[path = "../../tether-source/tests/support/git_http.rs"]
mod git_http;
#[path = "support/http.rs"]
mod http;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Proof 10: `tether up` from a clean state dir brings all three demo apps
/// (plain YAML, Kustomize, Helm) to Synced/Healthy, `tether app list` shows
/// them, and SIGTERM stops it cleanly. Issue 11: it serves the API and prints
/// a URL that signs a browser in, with an admin token kept (0600) in the
/// state dir, reused by the next run, and never written to the log.
#[test]
fn tether_up_from_a_clean_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (child, text) = start_up(&state);
    assert!(
        text.contains("All demo applications are Synced and Healthy."),
        "{text}"
    );
    assert!(
        text.contains("tether app list"),
        "prints what to do next: {text}"
    );
    assert!(state.join("demo-repo/.git").is_dir(), "demo repo created");

    // The sign-in URL works, as the login page's script uses it.
    let (addr, token) = sign_in_url(&text);
    assert!(text.contains("a new admin token"), "{text}");
    assert!(
        text.contains(&format!(
            "curl -H \"Authorization: Bearer $(cat {})\"",
            state.join("admin-token").display()
        )),
        "says how to use the API with curl: {text}"
    );
    let body = serde_json::json!({"token": token}).to_string();
    let r = http::request(
        &addr,
        "POST",
        "/api/v1/session",
        &[("Content-Type", "application/json")],
        Some(&body),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["role"], "admin");
    let cookie = r.header("set-cookie").expect("the session cookie");
    assert!(
        cookie.starts_with(&format!("tether_session={token};")),
        "{cookie}"
    );
    assert_eq!(http::get(&addr, "/login", &[]).status, 200);
    let bearer = format!("Bearer {token}");
    let who = http::get(&addr, "/api/v1/session", &[("Authorization", &bearer)]);
    assert_eq!(who.json()["username"], "tether-up", "{who:?}");
    use std::os::unix::fs::PermissionsExt;
    let file = state.join("admin-token");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "only its owner may read the token file");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), token);
    let log = std::fs::read_to_string(state.join("tether.log")).unwrap();
    assert!(!log.contains(&token), "the token is never logged");

    let out = Command::new(BIN)
        .args(["app", "list", "-o", "json"])
        .env("KUBECONFIG", state.join("kubeconfig"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).expect("json");
    let items = list
        .as_array()
        .or(list["items"].as_array())
        .expect("a list")
        .clone();
    let mut names: Vec<String> = items
        .iter()
        .map(|a| {
            assert_eq!(sync(a), "Synced", "{a}");
            assert_eq!(health(a), "Healthy", "{a}");
            a["metadata"]["name"].as_str().unwrap().to_string()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["demo-helm", "demo-kustomize", "demo-plain"]);

    // The demo deployed real objects from each tool.
    let kubectl = |args: &[&str]| {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", state.join("kubeconfig"))
            .output()
            .unwrap()
    };
    for (ns, deploy) in [
        ("demo-plain", "hello"),
        ("demo-kustomize", "dev-guestbook"),
        ("demo-helm", "demo-helm"),
    ] {
        assert!(
            kubectl(&["get", "deployment", deploy, "-n", ns])
                .status
                .success(),
            "{ns}/{deploy}"
        );
    }

    stop(child);

    // A second run keeps the token (and still signs in with it).
    let (child, again) = start_up(&state);
    let (addr, kept) = sign_in_url(&again);
    assert_eq!(kept, token, "{again}");
    assert!(again.contains("(the admin token in"), "{again}");
    let r = http::get(&addr, "/api/v1/session", &[("Authorization", &bearer)]);
    assert_eq!(r.status, 200, "{r:?}");
    stop(child);
}

/// Start `tether up` on `state`; returns it and what it printed up to
/// "Press Ctrl-C".
fn start_up(state: &std::path::Path) -> (std::process::Child, String) {
    let mut child = Command::new(BIN)
        .args(["up", "--state-dir"])
        .arg(state)
        .args([
            "--rollout-delay-ms",
            "0",
            "--poll-interval",
            "1",
            "--wait-timeout",
            "60",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tether up starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, seen.join("\n"))
}

/// The address and token in the printed `http://ADDR/login#token=TOKEN`.
fn sign_in_url(text: &str) -> (String, String) {
    let url = text
        .split_whitespace()
        .find(|w| w.contains("/login#token="))
        .unwrap_or_else(|| panic!("no sign-in URL in:\n{text}"));
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (addr, token) = rest.split_once("/login#token=").unwrap();
    assert!(token.starts_with("tether_"), "{url}");
    (addr.to_string(), token.to_string())
}

/// SIGTERM, and it exits 0 within 15 s.
fn stop(mut child: std::process::Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tether up did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Proof 9: 50 apps on one repository cost one fetch per poll, not 50: the
/// agent shares one fetcher per repo URL. Counted at `git http-backend`.
#[test]
fn fifty_apps_on_one_repo_share_one_fetch_per_poll() {
    let mut env = Env::start();
    let root = env.dir.path().join("served");
    let repo = Repo::init(&root.join("fleet"));
    for i in 0..50 {
        repo.write(
            &format!("apps/app{i}/cm.yaml"),
            &configmap(&format!("cm{i}"), "v1"),
        );
    }
    repo.commit("fifty apps");
    let server = git_http::GitHttpServer::start(&root, None);
    let url = server.url("fleet");
    let poll = 2u64;
    env.agent(&["--poll-interval", &poll.to_string(), "--concurrency", "8"]);
    let mut all = String::new();
    for i in 0..50 {
        all.push_str(&app_yaml(
            &format!("app{i}"),
            &url,
            &format!("apps/app{i}"),
            "fleet",
            AUTO_PRUNE,
            "",
        ));
        all.push_str("---\n");
    }
    env.apply_yaml(&all);
    for i in 0..50 {
        env.wait_synced_healthy(&format!("app{i}"));
    }

    // Steady state: over a window of several poll intervals, the ref
    // advertisements are about one per interval, and no pack is fetched.
    let before = server.counts();
    let window = Duration::from_secs(poll * 4);
    std::thread::sleep(window);
    let d = server.counts().since(&before);
    let intervals = window.as_secs() / poll;
    assert!(
        d.info_refs <= intervals + 1,
        "{} ref advertisements in {} poll intervals for 50 apps: {d:?}",
        d.info_refs,
        intervals
    );
    assert!(d.info_refs >= 1, "the repo is still polled: {d:?}");
    assert_eq!(
        d.packfiles_sent, 0,
        "nothing changed, nothing fetched: {d:?}"
    );

    // A new commit reaches all 50 apps with one pack fetch.
    for i in 0..50 {
        repo.write(
            &format!("apps/app{i}/cm.yaml"),
            &configmap(&format!("cm{i}"), "v2"),
        );
    }
    let rev = repo.commit("v2 everywhere");
    let before = server.counts();
    for i in 0..50 {
        env.wait_app(
            &format!("app{i}"),
            "v2 synced",
            Duration::from_secs(60),
            |a| a["status"]["sync"]["revision"] == rev && sync(a) == "Synced",
        );
    }
    let d = server.counts().since(&before);
    assert_eq!(d.packfiles_sent, 1, "one fetch served 50 apps: {d:?}");
    assert_eq!(
        env.get("configmap", "fleet", "cm49").unwrap()["data"]["value"],
        "v2"
    );
}

/// HTTP basic auth with credentials from a Secret named in the Application;
/// wrong credentials give a clear auth condition and change nothing.
#[test]
fn http_credentials_come_from_a_secret() {
    let mut env = Env::start();
    let root = env.dir.path().join("served");
    let repo = Repo::init(&root.join("private"));
    repo.write("app/cm.yaml", &configmap("secret-sauce", "1"));
    repo.commit("private config");
    let server = git_http::GitHttpServer::start(&root, Some(("deploy", "s3cret")));
    env.agent(&[]);
    env.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "repo-good",
        "-n",
        "tether",
        "--from-literal=username=deploy",
        "--from-literal=password=s3cret",
    ]);
    env.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "repo-bad",
        "-n",
        "tether",
        "--from-literal=username=deploy",
        "--from-literal=password=wrong",
    ]);
    let url = server.url("private");
    env.apply_yaml(&app_yaml(
        "good",
        &url,
        "app",
        "good",
        AUTO_PRUNE,
        "    secretRef: repo-good",
    ));
    env.apply_yaml(&app_yaml(
        "bad",
        &url,
        "app",
        "bad",
        AUTO_PRUNE,
        "    secretRef: repo-bad",
    ));
    env.wait_synced_healthy("good");
    assert!(env.get("configmap", "good", "secret-sauce").is_some());
    let app = env.wait_app("bad", "auth failure", Duration::from_secs(15), |a| {
        condition(a, "Stalled")["status"] == "True"
    });
    assert_eq!(
        condition(&app, "Ready")["reason"],
        "SourceAuthFailed",
        "{}",
        app["status"]
    );
    assert!(
        !condition(&app, "Ready")["message"]
            .as_str()
            .unwrap()
            .contains("s3cret")
    );
    assert!(env.get("configmap", "bad", "secret-sauce").is_none());
}
