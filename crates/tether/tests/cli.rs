//! The `tether` binary as a user runs it: `tether sandbox` prints where it
//! serves and where its kubeconfig is, kubectl works against it, SIGTERM stops
//! it cleanly (exit 0), `--data-dir` keeps state across restarts, and a port in
//! use is a clear error with exit code 1.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tether");

struct Running {
    child: Child,
    url: String,
    kubeconfig: String,
}

/// Starts `tether sandbox` with `args` and reads its first lines for the URL and kubeconfig path.
fn start(args: &[&str]) -> Running {
    let mut child = Command::new(BIN)
        .arg("sandbox")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tether starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (mut url, mut kubeconfig) = (String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.expect("line");
        if let Some(u) = line.strip_prefix("tether sandbox serving the Kubernetes API at ") {
            url = u.to_string();
        }
        if let Some(k) = line.strip_prefix("kubeconfig: ") {
            kubeconfig = k.to_string();
            break;
        }
    }
    let scheme = if args.contains(&"--insecure-http") {
        "http"
    } else {
        "https"
    };
    assert!(
        url.starts_with(&format!("{scheme}://127.0.0.1:")),
        "no URL printed: {url}"
    );
    assert!(
        Path::new(&kubeconfig).is_file(),
        "kubeconfig {kubeconfig} not written"
    );
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Running {
        child,
        url,
        kubeconfig,
    }
}

fn kubectl(kubeconfig: &str, args: &[&str]) -> std::process::Output {
    Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("kubectl runs")
}

fn terminate(mut r: Running) -> i32 {
    let pid = r.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = r.child.try_wait().expect("wait") {
            return status.code().unwrap_or(-1);
        }
        assert!(
            Instant::now() < deadline,
            "tether did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sandbox_serves_kubectl_and_keeps_state_in_its_data_dir() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("state");
    let data = data.to_str().expect("utf8");
    let run = start(&["--data-dir", data, "--rollout-delay-ms", "0"]);
    assert_eq!(
        run.kubeconfig,
        format!("{data}/kubeconfig"),
        "the kubeconfig defaults to the data dir"
    );

    let out = kubectl(&run.kubeconfig, &["get", "namespaces", "-o", "name"]);
    assert!(out.status.success());
    let names = String::from_utf8_lossy(&out.stdout);
    for ns in ["namespace/default", "namespace/kube-system"] {
        assert!(names.lines().any(|l| l == ns), "{ns} missing from {names}");
    }
    let out = kubectl(
        &run.kubeconfig,
        &["create", "configmap", "kept", "--from-literal=a=b"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let uid = kubectl(
        &run.kubeconfig,
        &["get", "configmap", "kept", "-o", "jsonpath={.metadata.uid}"],
    );
    let uid = String::from_utf8_lossy(&uid.stdout).to_string();
    assert_eq!(uid.len(), 36, "a uid was assigned");
    assert_eq!(terminate(run), 0, "SIGTERM is a clean stop");

    let run = start(&["--data-dir", data]);
    let again = kubectl(
        &run.kubeconfig,
        &[
            "get",
            "configmap",
            "kept",
            "-o",
            "jsonpath={.metadata.uid} {.data.a}",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        format!("{uid} b"),
        "state survived the restart"
    );
    assert_eq!(terminate(run), 0);
}

#[test]
fn sandbox_serves_https_with_auth_by_default_and_plain_http_on_request() {
    let dir = tempfile::tempdir().expect("tmp");
    let kc = dir.path().join("kc");
    let run = start(&["--kubeconfig-out", kc.to_str().expect("utf8")]);
    let text = std::fs::read_to_string(&run.kubeconfig).expect("kubeconfig");
    assert!(text.contains("certificate-authority-data: "), "{text}");
    assert!(text.contains(&format!("server: {}", run.url)), "{text}");
    let out = kubectl(
        &run.kubeconfig,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "kubernetes-admin");
    // Another token than the kubeconfig's: 401. (Without any credentials kubectl
    // would prompt for a username instead of asking the server.)
    let forged = text
        .lines()
        .map(|l| match l.split_once("token: ") {
            Some((indent, _)) => format!("{indent}token: not-the-admins-token"),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(forged, text, "the kubeconfig has a token line");
    let path = format!("{}.forged", run.kubeconfig);
    std::fs::write(&path, forged).expect("write");
    let out = kubectl(&path, &["get", "namespaces"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        // kubectl's words for a 401.
        !out.status.success() && err.contains("You must be logged in to the server"),
        "kubectl with another token should be refused as Unauthorized: {err}"
    );
    assert_eq!(terminate(run), 0);

    let run = start(&[
        "--insecure-http",
        "--anonymous-admin",
        "--kubeconfig-out",
        kc.to_str().expect("utf8"),
    ]);
    let out = kubectl(&run.kubeconfig, &["get", "namespaces", "-o", "name"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(terminate(run), 0);
}

#[test]
fn port_in_use_is_an_error_with_exit_code_1() {
    let dir = tempfile::tempdir().expect("tmp");
    let kc = dir.path().join("kc");
    let run = start(&["--kubeconfig-out", kc.to_str().expect("utf8")]);
    let port = run.url.rsplit(':').next().expect("port").to_string();
    let out = Command::new(BIN)
        .args(["sandbox", "--port", &port, "--kubeconfig-out"])
        .arg(dir.path().join("kc2"))
        .output()
        .expect("second tether runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "stderr: {err}"
    );
    assert_eq!(terminate(run), 0);
}

#[test]
fn help_explains_the_commands_and_flags() {
    let out = Command::new(BIN).arg("--help").output().expect("help");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("GitOps") && text.contains("sandbox"),
        "{text}"
    );
    let out = Command::new(BIN)
        .args(["sandbox", "--help"])
        .output()
        .expect("help");
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--port",
        "--data-dir",
        "--kubeconfig-out",
        "--rollout-delay-ms",
        "--watch-window",
        "--insecure-http",
        "--anonymous-admin",
        "HTTPS",
        "Exit codes",
    ] {
        assert!(text.contains(flag), "sandbox --help lacks {flag}: {text}");
    }
    let out = Command::new(BIN)
        .arg("nonsense")
        .output()
        .expect("bad subcommand");
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn every_command_has_help_that_explains_it() {
    for (args, must) in [
        (
            &["up", "--help"][..],
            &[
                "--state-dir",
                "--kubeconfig",
                "--poll-interval",
                "demo",
                "--max-file-size",
            ][..],
        ),
        (
            &["agent", "--help"],
            &[
                "--poll-interval",
                "--concurrency",
                "--state-dir",
                "--cluster-name",
                "--max-file-size",
                "--max-checkout-size",
                "--gc-interval",
                "--allow-local-repos",
            ],
        ),
        (
            &["app", "--help"],
            &[
                "create", "list", "get", "diff", "sync", "history", "wait", "delete",
            ],
        ),
        (&["app", "diff", "--help"], &["3"]),
        (&["render", "--help"], &["PATH"]),
    ] {
        let out = Command::new(BIN).args(args).output().expect("help");
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        for word in must {
            assert!(
                text.contains(word),
                "`tether {}` lacks {word}: {text}",
                args.join(" ")
            );
        }
    }
    let out = Command::new(BIN).arg("crd").output().expect("crd");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("name: applications.tether.dev") && text.contains("shortNames"),
        "{text}"
    );
}
