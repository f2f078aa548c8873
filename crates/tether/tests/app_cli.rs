//! `tether app …` and `tether render` as a user runs them: the real binary
//! against a real sandbox, a real agent, and a real Git repository (via the
//! `git` CLI, read over `file://`).
//!
//! Each test starts its own sandbox (and agent when it needs one), uses its
//! own namespaces and names, and polls with deadlines instead of sleeping.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_tether");
const FINALIZER: &str = "tether.dev/resources-finalizer";

/// A child process that is stopped (SIGTERM, then SIGKILL) when dropped.
struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn out(o: std::process::Output) -> Out {
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// One test's world: a temp dir, a sandbox, maybe an agent.
struct Env {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    agent: Option<Proc>,
    _sandbox: Proc,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("tmp");
        let kubeconfig = dir.path().join("kubeconfig");
        let mut child = Command::new(BIN)
            .args(["sandbox", "--rollout-delay-ms", "0", "--kubeconfig-out"])
            .arg(&kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tether sandbox starts");
        let stdout = child.stdout.take().expect("stdout");
        let sandbox = Proc { child };
        let mut lines = BufReader::new(stdout).lines();
        let mut ready = false;
        for line in lines.by_ref() {
            if line.expect("line").starts_with("kubeconfig: ") {
                ready = true;
                break;
            }
        }
        assert!(ready && kubeconfig.is_file(), "the sandbox did not start");
        std::thread::spawn(move || for _ in lines {});
        Env {
            dir,
            kubeconfig,
            agent: None,
            _sandbox: sandbox,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn start_agent(&mut self) {
        let log = std::fs::File::create(self.path("agent.log")).expect("log file");
        let child = Command::new(BIN)
            .args(["agent", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .arg("--state-dir")
            .arg(self.path("agent-state"))
            .args(["--poll-interval", "1", "--progress-interval", "0.3"])
            .env("TETHER_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("tether agent starts");
        self.agent = Some(Proc { child });
        eventually(
            "the agent to start watching",
            Duration::from_secs(60),
            || {
                let log = std::fs::read_to_string(self.path("agent.log")).ok()?;
                log.contains("watching Applications").then_some(())
            },
        );
        // The agent drops Applications that are in its first LIST when it
        // schedules one before the watcher's InitDone (the reflector store is
        // still empty then), so the tests create their apps only after that
        // first LIST, which follows this log line at once. See the report.
        std::thread::sleep(Duration::from_millis(500));
    }

    /// Run `tether ARGS` against this sandbox.
    fn tether(&self, args: &[&str]) -> Out {
        out(Command::new(BIN)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("TETHER_STATE_DIR", self.path("cli-state"))
            .env_remove("TETHER_NAMESPACE")
            .env("USER", "tester")
            .env("TETHER_LOG", "warn")
            .output()
            .expect("tether runs"))
    }

    fn kubectl(&self, args: &[&str]) -> Out {
        out(Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .expect("kubectl runs"))
    }

    /// The Application as kubectl sees it, or None when it does not exist.
    fn app(&self, ns: &str, name: &str) -> Option<Value> {
        let o = self.kubectl(&[
            "get",
            "applications.tether.dev",
            name,
            "-n",
            ns,
            "-o",
            "json",
        ]);
        if o.code != 0 {
            assert!(
                o.stderr.contains("NotFound") || o.stderr.contains("not found"),
                "{o:?}"
            );
            return None;
        }
        Some(serde_json::from_str(&o.stdout).expect("json"))
    }

    fn exists(&self, kind: &str, ns: &str, name: &str) -> bool {
        self.kubectl(&["get", kind, name, "-n", ns, "-o", "name"])
            .code
            == 0
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Ok(log) = std::fs::read_to_string(self.path("agent.log"))
        {
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("--- agent log (last lines)");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        // The agent goes before the sandbox it talks to.
        self.agent.take();
    }
}

/// Poll `check` until it gives Some, or panic after `timeout` naming `what`.
fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A Git repository in a temp dir, committed to with the `git` CLI.
struct Repo {
    path: PathBuf,
}

impl Repo {
    fn new(path: PathBuf) -> Repo {
        std::fs::create_dir_all(&path).expect("repo dir");
        let repo = Repo { path };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        let o = Command::new("git")
            .arg("-C")
            .arg(&self.path)
            .args([
                "-c",
                "user.name=Ada Author",
                "-c",
                "user.email=ada@example.com",
            ])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
        std::fs::write(p, text).expect("write");
    }

    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }
}

fn deployment(name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: main
        image: {image}
"
    )
}

fn configmap(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  greeting: hello\n"
    )
}

fn yaml_docs(text: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).expect("YAML documents");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn by_kind_and_name(mut v: Vec<Value>) -> Vec<Value> {
    v.sort_by_key(|o| {
        (
            o["kind"].as_str().unwrap_or("").to_string(),
            o["metadata"]["name"].as_str().unwrap_or("").to_string(),
        )
    });
    v
}

#[test]
fn create_list_get_and_delete_without_an_agent() {
    let env = Env::new();
    let url = "https://example.invalid/deploy.git";
    let create = [
        "app",
        "create",
        "web",
        "-n",
        "team-a",
        "--repo",
        url,
        "--path",
        "apps/web",
        "--dest-namespace",
        "web",
        "--auto",
        "--prune",
        "--sync-option",
        "CreateNamespace=true",
    ];
    let o = env.tether(&create);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("application team-a/web created"), "{o:?}");

    let o = env.tether(&create);
    assert_eq!(o.code, 1, "a duplicate is an error: {o:?}");
    assert!(
        o.stderr.starts_with("error: ") && o.stderr.contains("already exists"),
        "{o:?}"
    );

    let mut upsert = create.to_vec();
    upsert.extend(["--revision", "v2", "--upsert"]);
    let o = env.tether(&upsert);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("updated"), "{o:?}");

    let app = env.app("team-a", "web").expect("created");
    assert!(
        app["metadata"]["finalizers"]
            .as_array()
            .expect("finalizers")
            .iter()
            .any(|f| f == FINALIZER),
        "{app}"
    );
    let spec = &app["spec"];
    assert_eq!(spec["source"]["repoURL"], url);
    assert_eq!(spec["source"]["path"], "apps/web");
    assert_eq!(
        spec["source"]["revision"], "v2",
        "--upsert changed the spec"
    );
    assert_eq!(spec["destination"]["namespace"], "web");
    assert_eq!(spec["syncPolicy"]["automated"]["prune"], true);
    assert_eq!(
        spec["syncPolicy"]["syncOptions"],
        json!(["CreateNamespace=true"])
    );

    // From a manifest, with tool options.
    let file = env.path("api.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: tether.dev/v1alpha1\nkind: Application\nmetadata:\n  name: api\nspec:\n  source:\n    repoURL: {url}\n    path: charts/api\n    helm:\n      releaseName: api-prod\n"
        ),
    )
    .expect("write");
    let o = env.tether(&[
        "app",
        "create",
        "-n",
        "team-a",
        "-f",
        file.to_str().expect("utf8"),
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let api = env.app("team-a", "api").expect("created from the file");
    assert_eq!(api["spec"]["source"]["helm"]["releaseName"], "api-prod");
    assert!(
        api["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f == FINALIZER))
    );

    let o = env.tether(&["app", "list", "-n", "team-a", "-o", "json"]);
    assert_eq!(o.code, 0, "{o:?}");
    let list: Value = serde_json::from_str(&o.stdout).expect("json");
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["api", "web"]);

    let o = env.tether(&["app", "list", "-n", "team-a"]);
    assert_eq!(o.code, 0, "{o:?}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    for column in ["NAME", "SYNC", "HEALTH", "REVISION", "AGE", "MESSAGE"] {
        assert!(lines[0].contains(column), "{o:?}");
    }
    let web = lines
        .iter()
        .find(|l| l.starts_with("web "))
        .expect("a row for web");
    assert!(
        web.contains("Unknown") && web.contains("agent"),
        "no status yet: {web}"
    );

    let o = env.tether(&["app", "list", "-A", "-o", "name"]);
    assert_eq!(o.stdout, "team-a/api\nteam-a/web\n", "{o:?}");
    let o = env.tether(&["app", "list", "-n", "elsewhere"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, ""), "{o:?}");

    let o = env.tether(&["app", "get", "web", "-n", "team-a", "-o", "yaml"]);
    assert_eq!(o.code, 0, "{o:?}");
    let got = &yaml_docs(&o.stdout)[0];
    assert_eq!(got["kind"], "Application");
    assert_eq!(got["metadata"]["name"], "web");
    assert_eq!(got["spec"]["source"]["repoURL"], url);
    assert!(
        got["metadata"].get("managedFields").is_none(),
        "managedFields are left out"
    );

    let o = env.tether(&["app", "get", "team-a/web"]);
    assert_eq!(o.code, 0, "{o:?}");
    for text in [
        "Name:",
        "team-a/web",
        url,
        "apps/web",
        "Auto (Prune)",
        "CreateNamespace=true",
        "Sync Status:",
        "No status yet",
    ] {
        assert!(o.stdout.contains(text), "`app get` lacks {text:?}: {o:?}");
    }

    let o = env.tether(&["app", "get", "nope", "-n", "team-a"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("team-a/nope not found"), "{o:?}");

    // Usage errors are clap's: exit 2.
    let o = env.tether(&["app", "create", "x", "--repo", url, "--prune"]);
    assert_eq!(o.code, 2, "--prune needs --auto: {o:?}");

    // Nobody handles a sync request without an agent: a timeout that says so.
    let o = env.tether(&["app", "sync", "web", "-n", "team-a", "--timeout", "1s"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.contains("timed out") && o.stderr.contains("agent"),
        "{o:?}"
    );
    let app = env.app("team-a", "web").expect("still there");
    assert_eq!(
        app["metadata"]["annotations"]["tether.dev/refresh-by"],
        "user:tester"
    );
    assert!(
        app["metadata"]["annotations"]["tether.dev/refresh"]
            .as_str()
            .is_some_and(|v| v.contains('T'))
    );

    // Without cascade no agent is needed: the finalizer goes first.
    let o = env.tether(&[
        "app",
        "delete",
        "api",
        "-n",
        "team-a",
        "--cascade=false",
        "--wait",
        "--timeout",
        "20s",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(env.app("team-a", "api").is_none(), "deleted");
}

#[test]
fn render_prints_plain_and_kustomize_directories() {
    let dir = tempfile::tempdir().expect("tmp");
    let repo = Repo::new(dir.path().join("repo"));
    repo.write("plain/config.yaml", &configmap("settings"));
    repo.write("plain/web.yaml", &deployment("web", "nginx:1.27"));
    repo.write(
        "overlay/kustomization.yaml",
        "resources:\n- config.yaml\nnamePrefix: prod-\nlabels:\n- pairs:\n    env: prod\n",
    );
    repo.write("overlay/config.yaml", &configmap("settings"));
    repo.write(
        "broken/bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n",
    );
    repo.commit("manifests");
    let render = |args: &[&str]| {
        out(Command::new(BIN)
            .arg("render")
            .args(args)
            .env("TETHER_LOG", "warn")
            .output()
            .expect("tether render runs"))
    };
    let plain = repo.path.join("plain");
    let plain = plain.to_str().expect("utf8");

    let expected = by_kind_and_name(vec![
        serde_saphyr::from_str(&configmap("settings")).expect("yaml"),
        serde_saphyr::from_str(&deployment("web", "nginx:1.27")).expect("yaml"),
    ]);
    let o = render(&[plain]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stdout.contains("\n---\n"),
        "documents are separated by ---: {o:?}"
    );
    assert_eq!(by_kind_and_name(yaml_docs(&o.stdout)), expected, "{o:?}");

    let o = render(&[plain, "-o", "json"]);
    assert_eq!(o.code, 0, "{o:?}");
    let list: Vec<Value> = serde_json::from_str(&o.stdout).expect("a JSON list");
    assert_eq!(by_kind_and_name(list), expected);

    let overlay = repo.path.join("overlay");
    let o = render(&[overlay.to_str().expect("utf8")]);
    assert_eq!(o.code, 0, "{o:?}");
    let docs = yaml_docs(&o.stdout);
    assert_eq!(
        docs,
        vec![json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"labels": {"env": "prod"}, "name": "prod-settings"},
            "data": {"greeting": "hello"},
        })],
        "{o:?}"
    );

    let broken = repo.path.join("broken");
    let o = render(&[broken.to_str().expect("utf8")]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.starts_with("error: ") && o.stderr.contains("bad.yaml"),
        "{o:?}"
    );

    let o = render(&[dir.path().join("missing").to_str().expect("utf8")]);
    assert_eq!(o.code, 1, "{o:?}");
}

#[test]
fn auto_sync_reaches_healthy_records_history_and_diff_shows_drift() {
    let mut env = Env::new();
    env.start_agent();
    let repo = Repo::new(env.path("repo"));
    repo.write("web/deployment.yaml", &deployment("web", "nginx:1.27"));
    repo.write("web/config.yaml", &configmap("web-config"));
    let commit = repo.commit("Add the web app\n\nWith a config map.");
    let o = env.tether(&[
        "app",
        "create",
        "shop",
        "-n",
        "t-auto",
        "--repo",
        &repo.url(),
        "--path",
        "web",
        "--dest-namespace",
        "shop",
        "--auto",
        "--sync-option",
        "CreateNamespace=true",
    ]);
    assert_eq!(o.code, 0, "{o:?}");

    let o = env.tether(&["app", "wait", "shop", "-n", "t-auto", "--timeout", "90s"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stdout.contains("synced and healthy") && o.stdout.contains(&commit[..8]),
        "{o:?}"
    );
    assert!(env.exists("deployment", "shop", "web"));

    let o = env.tether(&["app", "history", "shop", "-n", "t-auto", "-o", "json"]);
    assert_eq!(o.code, 0, "{o:?}");
    let history: Vec<Value> = serde_json::from_str(&o.stdout).expect("json");
    let entry = history
        .iter()
        .find(|h| h["revision"] == commit.as_str())
        .expect("an entry for the commit");
    assert!(
        entry["commit"]["author"]
            .as_str()
            .is_some_and(|a| a.contains("Ada Author")),
        "{entry}"
    );
    assert!(
        entry["commit"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Add the web app")),
        "{entry}"
    );
    assert_eq!(entry["result"], "Succeeded");
    assert_eq!(entry["initiator"], "auto");
    // Issue 4: each entry lists the objects changed, and how long it took.
    assert!(
        entry["changes"]
            .as_array()
            .is_some_and(|c| c.iter().any(|l| l == "created Deployment.apps shop/web")),
        "{entry}"
    );
    assert!(entry["durationMs"].is_u64(), "{entry}");
    let o = env.tether(&["app", "history", "shop", "-n", "t-auto", "-o", "wide"]);
    assert!(
        o.stdout.contains("#1 changed:\n")
            && o.stdout.contains("\n  created Deployment.apps shop/web\n"),
        "{o:?}"
    );

    let o = env.tether(&["app", "history", "shop", "-n", "t-auto"]);
    assert_eq!(o.code, 0, "{o:?}");
    for text in [
        "ID",
        "REVISION",
        "INITIATOR",
        &commit[..8],
        "Ada Author",
        "Add the web app",
        "Succeeded",
    ] {
        assert!(o.stdout.contains(text), "history lacks {text:?}: {o:?}");
    }
    assert!(
        !o.stdout.contains("With a config map"),
        "only the first line: {o:?}"
    );

    let o = env.tether(&["app", "get", "shop", "-n", "t-auto"]);
    assert_eq!(o.code, 0, "{o:?}");
    for text in [
        "Synced to",
        "Healthy",
        "Deployment",
        "web-config",
        "Succeeded",
    ] {
        assert!(o.stdout.contains(text), "`app get` lacks {text:?}: {o:?}");
    }

    let o = env.tether(&["app", "diff", "shop", "-n", "t-auto"]);
    assert_eq!(o.code, 0, "in sync: {o:?}");
    assert_eq!(o.stdout, "", "{o:?}");

    // Drift on an app without self-heal stays, and diff shows it.
    let o = env.kubectl(&["scale", "deployment", "web", "-n", "shop", "--replicas=5"]);
    assert_eq!(o.code, 0, "{o:?}");
    let o = env.tether(&["app", "diff", "shop", "-n", "t-auto"]);
    assert_eq!(o.code, 3, "a diff exits 3: {o:?}");
    assert!(
        o.stdout.contains("===== apps/Deployment shop/web ======"),
        "{o:?}"
    );
    assert!(o.stdout.contains("replicas"), "{o:?}");
    assert!(!o.stdout.contains("web-config"), "only what differs: {o:?}");

    let o = env.tether(&["app", "diff", "shop", "-n", "t-auto", "-o", "json"]);
    assert_eq!(o.code, 3, "{o:?}");
    let doc: Value = serde_json::from_str(&o.stdout).expect("json");
    assert_eq!(doc["inSync"], false);
    let changes = doc["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "{doc}");
    assert_eq!(changes[0]["kind"], "Deployment");
    assert_eq!(changes[0]["action"], "update");
    assert!(
        changes[0]["fields"]
            .as_array()
            .is_some_and(|f| f.iter().any(|c| c["path"] == "spec.replicas")),
        "{doc}"
    );

    let o = env.tether(&["app", "diff", "shop", "-n", "t-auto", "--exit-code=false"]);
    assert_eq!(o.code, 0, "{o:?}");
}

#[test]
fn manual_app_syncs_on_request() {
    let mut env = Env::new();
    env.start_agent();
    let repo = Repo::new(env.path("repo"));
    repo.write("web/deployment.yaml", &deployment("web", "nginx:1.27"));
    repo.write("web/config.yaml", &configmap("web-config"));
    repo.commit("Add web");
    let o = env.tether(&[
        "app",
        "create",
        "manual",
        "-n",
        "t-manual",
        "--repo",
        &repo.url(),
        "--path",
        "web",
        "--dest-namespace",
        "manual",
        "--sync-option",
        "CreateNamespace=true",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    eventually(
        "the agent to report OutOfSync",
        Duration::from_secs(60),
        || {
            let app = env.app("t-manual", "manual")?;
            (app["status"]["sync"]["status"] == "OutOfSync").then_some(())
        },
    );
    assert!(
        !env.exists("deployment", "manual", "web"),
        "a manual app is not synced on its own"
    );

    let o = env.tether(&["app", "diff", "manual", "-n", "t-manual"]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stdout.contains("# to create") && o.stdout.contains("apps/Deployment manual/web"),
        "{o:?}"
    );

    let o = env.tether(&[
        "app",
        "sync",
        "manual",
        "-n",
        "t-manual",
        "--as",
        "alice",
        "--timeout",
        "90s",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    for text in [
        "Succeeded",
        "user:alice",
        "created",
        "Deployment",
        "web-config",
    ] {
        assert!(o.stdout.contains(text), "sync output lacks {text:?}: {o:?}");
    }
    assert!(env.exists("deployment", "manual", "web"));
    assert!(env.exists("configmap", "manual", "web-config"));
    let o = env.tether(&["app", "history", "manual", "-n", "t-manual", "-o", "json"]);
    let history: Vec<Value> = serde_json::from_str(&o.stdout).expect("json");
    assert_eq!(
        history.last().expect("an entry")["initiator"],
        "user:alice",
        "{o:?}"
    );

    let o = env.tether(&[
        "app",
        "wait",
        "manual",
        "-n",
        "t-manual",
        "--timeout",
        "60s",
    ]);
    assert_eq!(o.code, 0, "{o:?}");

    // A sync that cannot run (the path is not in the repo) fails with exit 1.
    let o = env.tether(&[
        "app",
        "create",
        "broken",
        "-n",
        "t-manual",
        "--repo",
        &repo.url(),
        "--path",
        "nowhere",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let o = env.tether(&[
        "app",
        "sync",
        "broken",
        "-n",
        "t-manual",
        "--timeout",
        "60s",
    ]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.contains("error: sync of t-manual/broken") && o.stderr.contains("nowhere"),
        "{o:?}"
    );
}

#[test]
fn wait_reports_a_degraded_app() {
    let mut env = Env::new();
    env.start_agent();
    let repo = Repo::new(env.path("repo"));
    repo.write("bad/deployment.yaml", &deployment("bad", "nginx:fail"));
    repo.commit("A deployment that never becomes ready");
    let o = env.tether(&[
        "app",
        "create",
        "bad",
        "-n",
        "t-degraded",
        "--repo",
        &repo.url(),
        "--path",
        "bad",
        "--dest-namespace",
        "bad",
        "--auto",
        "--sync-option",
        "CreateNamespace=true",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    eventually("the app to be Degraded", Duration::from_secs(60), || {
        let app = env.app("t-degraded", "bad")?;
        (app["status"]["health"]["status"] == "Degraded").then_some(())
    });

    let o = env.tether(&["app", "wait", "bad", "-n", "t-degraded", "--timeout", "2s"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.contains("timed out after 2s") && o.stderr.contains("Degraded"),
        "{o:?}"
    );

    // --health gives up early on an app that stays Degraded.
    let started = Instant::now();
    let o = env.tether(&[
        "app",
        "wait",
        "bad",
        "-n",
        "t-degraded",
        "--health",
        "--timeout",
        "120s",
    ]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        o.stderr.contains("is Degraded") && !o.stderr.contains("timed out after"),
        "{o:?}"
    );

    // It is synced, though.
    let o = env.tether(&[
        "app",
        "wait",
        "bad",
        "-n",
        "t-degraded",
        "--sync",
        "--timeout",
        "60s",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
}

#[test]
fn delete_cascades_unless_told_not_to() {
    let mut env = Env::new();
    env.start_agent();
    let repo = Repo::new(env.path("repo"));
    repo.write("a/config.yaml", &configmap("config-a"));
    repo.write("b/config.yaml", &configmap("config-b"));
    repo.commit("Two apps");
    for app in ["a", "b"] {
        let dest = format!("dest-{app}");
        let o = env.tether(&[
            "app",
            "create",
            app,
            "-n",
            "t-delete",
            "--repo",
            &repo.url(),
            "--path",
            app,
            "--dest-namespace",
            &dest,
            "--auto",
            "--sync-option",
            "CreateNamespace=true",
        ]);
        assert_eq!(o.code, 0, "{o:?}");
        let o = env.tether(&["app", "wait", app, "-n", "t-delete", "--timeout", "90s"]);
        assert_eq!(o.code, 0, "{o:?}");
    }
    assert!(env.exists("configmap", "dest-a", "config-a"));
    assert!(env.exists("configmap", "dest-b", "config-b"));

    let o = env.tether(&[
        "app",
        "delete",
        "a",
        "-n",
        "t-delete",
        "--wait",
        "--timeout",
        "60s",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(env.app("t-delete", "a").is_none(), "the app is gone");
    assert!(
        !env.exists("configmap", "dest-a", "config-a"),
        "its objects went with it"
    );

    let o = env.tether(&[
        "app",
        "delete",
        "b",
        "-n",
        "t-delete",
        "--cascade=false",
        "--wait",
        "--timeout",
        "60s",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(env.app("t-delete", "b").is_none(), "the app is gone");
    // Give the agent a few polls to (wrongly) prune before checking the object stayed.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        env.exists("configmap", "dest-b", "config-b"),
        "--cascade=false keeps the objects"
    );

    let o = env.tether(&["app", "delete", "a", "-n", "t-delete"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("not found"), "{o:?}");
}
