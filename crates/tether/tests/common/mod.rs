//! Harness for end-to-end tests: the real `tether` binary as a sandbox and as
//! an agent, real `kubectl`, and real Git repositories in temp dirs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_tether");

/// A sandbox, optionally an agent, and a scratch dir; all stopped on drop.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    sandbox: Child,
    agent: Option<Child>,
}

impl Env {
    /// A sandbox with instant rollouts.
    pub fn start() -> Env {
        Env::start_with(&["--rollout-delay-ms", "0"])
    }

    pub fn start_with(sandbox_args: &[&str]) -> Env {
        let dir = tempfile::tempdir().expect("tmp");
        let kubeconfig = dir.path().join("kubeconfig");
        let mut sandbox = Command::new(BIN)
            .args(["sandbox", "--port", "0", "--kubeconfig-out"])
            .arg(&kubeconfig)
            .args(sandbox_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tether sandbox starts");
        let stdout = sandbox.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            if line.expect("line").starts_with("kubeconfig: ") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Env {
            dir,
            kubeconfig,
            sandbox,
            agent: None,
        }
    }

    /// Start `tether agent` with a fast poll; its log goes to `agent.log`.
    pub fn agent(&mut self, extra: &[&str]) {
        self.start_agent(extra, false);
    }

    /// Start the agent again after [`Env::kill_agent`] or [`Env::stop_agent`]:
    /// same state dir, its log appended to `agent.log`.
    pub fn restart_agent(&mut self, extra: &[&str]) {
        self.start_agent(extra, true);
    }

    fn start_agent(&mut self, extra: &[&str], append: bool) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(self.dir.path().join("agent.log"))
            .expect("log");
        let child = Command::new(BIN)
            .args(["agent", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .arg("--state-dir")
            .arg(self.dir.path().join("agent-state"))
            .args(if extra.contains(&"--poll-interval") {
                &[][..]
            } else {
                &["--poll-interval", "1"][..]
            })
            .args(["--progress-interval", "0.3"])
            .args(local_repos(extra))
            .args(extra)
            .env("TETHER_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("tether agent starts");
        self.agent = Some(child);
        // The agent installs the Application CRD; Applications go in `tether`.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self
            .kubectl(&["get", "crd", "applications.tether.dev"])
            .status
            .success()
        {
            assert!(
                Instant::now() < deadline,
                "the agent did not install the CRD:\n{}",
                self.agent_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.kubectl(&["create", "namespace", "tether"]);
    }

    /// The process id of the agent started with [`Env::agent`], to read its
    /// memory from `/proc`.
    pub fn agent_pid(&self) -> u32 {
        self.agent.as_ref().expect("an agent is running").id()
    }

    pub fn stop_agent(&mut self) {
        if let Some(mut a) = self.agent.take() {
            let _ = a.kill();
            let _ = a.wait();
        }
    }

    /// `kill -9` the agent: no signal handler runs, nothing is flushed or
    /// finished, as in a crash or an OOM kill.
    pub fn kill_agent(&mut self) {
        let mut a = self.agent.take().expect("an agent is running");
        let pid = a.id().to_string();
        let killed = Command::new("kill")
            .args(["-9", &pid])
            .status()
            .expect("kill runs");
        assert!(killed.success(), "kill -9 {pid}");
        let status = a.wait().expect("wait");
        assert!(
            !status.success(),
            "the agent was killed, not exited: {status}"
        );
    }

    /// Replace the sandbox's fault rules (`PUT /_sandbox/faults`).
    pub fn set_faults(&self, rules: Value) {
        let file = self.dir.path().join("faults.json");
        std::fs::write(&file, serde_json::json!({ "rules": rules }).to_string()).expect("write");
        self.kubectl_ok(&[
            "replace",
            "--raw",
            "/_sandbox/faults",
            "-f",
            file.to_str().expect("utf-8 path"),
        ]);
    }

    pub fn clear_faults(&self) {
        self.kubectl_ok(&["delete", "--raw", "/_sandbox/faults"]);
    }

    /// Close every open watch, as an API-server restart would.
    pub fn drop_watches(&self) {
        let file = self.dir.path().join("empty.json");
        std::fs::write(&file, "{}").expect("write");
        self.kubectl_ok(&[
            "create",
            "--raw",
            "/_sandbox/watches/drop",
            "-f",
            file.to_str().expect("utf-8 path"),
        ]);
    }

    /// A kubeconfig like the sandbox's, but authenticated as ServiceAccount
    /// `namespace/name` (created if missing) with a token from
    /// `kubectl create token`: what that account may do is up to RBAC.
    pub fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> PathBuf {
        let _ = self.kubectl(&["create", "serviceaccount", name, "-n", namespace]);
        let token = self.kubectl_ok(&["create", "token", name, "-n", namespace]);
        let text = std::fs::read_to_string(&self.kubeconfig).expect("kubeconfig");
        let (head, rest) = text
            .split_once("    token: ")
            .expect("the kubeconfig has a token");
        let rest = rest.split_once('\n').map(|(_, r)| r).unwrap_or("");
        let path = self
            .dir
            .path()
            .join(format!("{namespace}-{name}.kubeconfig"));
        std::fs::write(&path, format!("{head}    token: {}\n{rest}", token.trim())).expect("write");
        path
    }

    pub fn agent_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .expect("kubectl runs")
    }

    /// kubectl that must succeed; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f -` of a YAML text.
    pub fn apply_yaml(&self, yaml: &str) {
        self.apply_yaml_with(yaml, &[]);
    }

    /// `kubectl apply --server-side ARGS -f -` of a YAML text.
    pub fn apply_yaml_with(&self, yaml: &str, args: &[&str]) {
        let mut child = Command::new("kubectl")
            .args(["apply", "--server-side"])
            .args(args)
            .args(["-f", "-"])
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(yaml.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("kubectl");
        assert!(
            out.status.success(),
            "apply failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The live object as JSON, or None.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let mut args = vec!["get", kind, name, "-o", "json"];
        if !namespace.is_empty() {
            args.extend(["-n", namespace]);
        }
        let out = self.kubectl(&args);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    pub fn app(&self, name: &str) -> Value {
        self.get("applications.tether.dev", "tether", name)
            .unwrap_or_else(|| panic!("Application {name} missing"))
    }

    /// `tether …` with this env's kubeconfig.
    pub fn tether(&self, args: &[&str]) -> Output {
        self.tether_command(args).output().expect("tether runs")
    }

    fn tether_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("TETHER_STATE_DIR", self.dir.path().join("cli-state"));
        cmd
    }

    /// `tether …` as a user at a shell runs it: `USER=tester`, warnings only on
    /// stderr, and no `TETHER_NAMESPACE` from the environment.
    pub fn run_tether(&self, args: &[&str]) -> Out {
        self.tether_command(args)
            .env_remove("TETHER_NAMESPACE")
            .env("USER", "tester")
            .env("TETHER_LOG", "warn")
            .output()
            .expect("tether runs")
            .into()
    }

    /// A path in this env's scratch dir.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The Application `namespace/name`, or None when the API server says it
    /// does not exist (any other kubectl failure panics).
    pub fn app_in(&self, namespace: &str, name: &str) -> Option<Value> {
        let out = self.kubectl(&[
            "get",
            "applications.tether.dev",
            name,
            "-n",
            namespace,
            "-o",
            "json",
        ]);
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("NotFound") || stderr.contains("not found"),
                "kubectl get application {namespace}/{name}: {stderr}"
            );
            return None;
        }
        Some(serde_json::from_slice(&out.stdout).expect("json"))
    }

    /// Whether the object exists (`namespace` empty for cluster-scoped kinds).
    pub fn exists(&self, kind: &str, namespace: &str, name: &str) -> bool {
        self.get(kind, namespace, name).is_some()
    }

    /// Poll an Application until `done` holds; panics with the last status and
    /// the agent's log on timeout.
    pub fn wait_app(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            if let Some(app) = self.get("applications.tether.dev", "tether", name) {
                if done(&app) {
                    return app;
                }
                last = app;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "timed out waiting for {name}: {what}\nstatus: {}\nagent log:\n{}",
            serde_json::to_string_pretty(&last["status"]).unwrap_or_default(),
            tail(&self.agent_log(), 40)
        );
    }

    pub fn wait_synced_healthy(&self, name: &str) -> Value {
        self.wait_app(name, "Synced and Healthy", Duration::from_secs(30), |a| {
            sync(a) == "Synced" && health(a) == "Healthy"
        })
    }
}

impl Env {
    /// Start one more `tether agent` with the same fast poll as [`Env::agent`], its
    /// state in `<name>-state` and its log in `<name>.log` under the env's dir. It
    /// does not wait for the CRD; the caller owns (and must kill) the process.
    pub fn spawn_agent(&self, name: &str, extra: &[&str]) -> Child {
        let log = std::fs::File::create(self.agent_log_path(name)).expect("log");
        Command::new(BIN)
            .args(["agent", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .arg("--state-dir")
            .arg(self.agent_state_dir(name))
            .args(["--poll-interval", "1", "--progress-interval", "0.3"])
            .args(local_repos(extra))
            .args(extra)
            .env("TETHER_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("tether agent starts")
    }

    /// The state dir of an agent started with [`Env::spawn_agent`].
    /// `tether audit ARGS -o json` on the default agent's log.
    pub fn audit(&self, args: &[&str]) -> Vec<Value> {
        audit_json(&self.dir.path().join("agent-state"), args)
    }

    /// Kubernetes Events whose subject is the Application `app` (in `tether`).
    pub fn app_events(&self, app: &str) -> Vec<Value> {
        let out = self.kubectl_ok(&["get", "events.events.k8s.io", "-n", "tether", "-o", "json"]);
        let list: Value = serde_json::from_str(&out).expect("events JSON");
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["regarding"]["name"] == app)
            .cloned()
            .collect()
    }

    pub fn agent_state_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}-state"))
    }

    pub fn agent_log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    /// The log of an agent started with [`Env::spawn_agent`].
    pub fn spawned_agent_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.agent_log_path(name)).unwrap_or_default()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if std::thread::panicking() && self.agent.is_some() {
            eprintln!(
                "--- agent log (last lines)\n{}",
                tail(&self.agent_log(), 60)
            );
        }
        self.stop_agent();
        let _ = self.sandbox.kill();
        let _ = self.sandbox.wait();
    }
}

/// The tests' repositories are local, so agents may read them, unless a test says otherwise
/// (`--allow-local-repos=false`).
fn local_repos(extra: &[&str]) -> &'static [&'static str] {
    if extra.iter().any(|a| a.starts_with("--allow-local-repos")) {
        &[]
    } else {
        &["--allow-local-repos"]
    }
}

pub fn sync(app: &Value) -> &str {
    app["status"]["sync"]["status"].as_str().unwrap_or("")
}

pub fn health(app: &Value) -> &str {
    app["status"]["health"]["status"].as_str().unwrap_or("")
}

pub fn condition<'a>(app: &'a Value, type_: &str) -> &'a Value {
    app["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

/// Poll `check` every 200ms until it gives Some, or panic after `timeout`
/// naming `what`.
pub fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
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

/// A finished command's exit code and output as text; `{:?}` shows all three,
/// for assertion messages.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
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

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A Git repository in a temp dir, written to with the real `git`.
pub struct Repo {
    pub path: PathBuf,
}

impl Repo {
    pub fn init(path: &Path) -> Repo {
        std::fs::create_dir_all(path).expect("mkdir");
        let repo = Repo {
            path: path.to_path_buf(),
        };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=Ada Lovelace",
                "-c",
                "user.email=ada@example.com",
            ])
            .args(args)
            .current_dir(&self.path)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn write(&self, file: &str, text: &str) {
        let p = self.path.join(file);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    pub fn remove(&self, file: &str) {
        std::fs::remove_file(self.path.join(file)).expect("rm");
    }

    /// Stage everything and commit; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

/// An Application manifest for `kubectl apply`.
pub fn app_yaml(
    name: &str,
    repo_url: &str,
    path: &str,
    dest: &str,
    policy: &str,
    extra_source: &str,
) -> String {
    format!(
        r#"apiVersion: tether.dev/v1alpha1
kind: Application
metadata:
  name: {name}
  namespace: tether
spec:
  source:
    repoURL: {repo_url}
    path: "{path}"
{extra_source}
  destination:
    namespace: {dest}
  syncPolicy:
{policy}
    syncOptions: ["CreateNamespace=true"]
"#
    )
}

pub const AUTO_PRUNE: &str = "    automated: {prune: true}";
pub const AUTO_NO_PRUNE: &str = "    automated: {}";

pub fn deployment(name: &str, image: &str, replicas: u32) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: main
          image: {image}
"#
    )
}

pub fn configmap(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

/// `tether audit ARGS -o json` on the audit log in `state_dir`, read-only.
pub fn audit_json(state_dir: &Path, args: &[&str]) -> Vec<Value> {
    let out = Command::new(BIN)
        .arg("audit")
        .arg("--state-dir")
        .arg(state_dir)
        .args(args)
        .args(["-o", "json"])
        .output()
        .expect("tether audit runs");
    assert!(
        out.status.success(),
        "tether audit {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("audit JSON")
}
