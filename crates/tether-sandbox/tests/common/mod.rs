//! The integration-test harness: a sandbox started in-process on a free port,
//! a kubeconfig for it in a temp dir, and helpers to drive it with real
//! kubectl binaries and raw HTTP.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use tether_sandbox::{Config, Sandbox};

pub struct TestSandbox {
    pub sandbox: Sandbox,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    /// An HTTP client that trusts the sandbox's CA and sends the admin's token.
    pub http: reqwest::Client,
}

impl TestSandbox {
    /// A sandbox with instant rollouts.
    pub async fn start() -> Self {
        Self::with_config(Config {
            rollout_delay: Duration::ZERO,
            ..Config::default()
        })
        .await
    }

    pub async fn with_config(config: Config) -> Self {
        let sandbox = Sandbox::start(config).await.expect("sandbox starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        sandbox
            .write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        let http = http_client(&sandbox, Some(sandbox.admin_token()));
        TestSandbox {
            sandbox,
            dir,
            kubeconfig,
            http,
        }
    }

    /// An HTTP client that trusts the sandbox's CA and sends `token` (none: anonymous).
    pub fn http_as(&self, token: Option<&str>) -> reqwest::Client {
        http_client(&self.sandbox, token)
    }

    /// Writes a kubeconfig for this sandbox with another bearer token (a
    /// ServiceAccount's) and returns its path.
    pub fn kubeconfig_with_token(&self, name: &str, token: &str) -> PathBuf {
        let text = std::fs::read_to_string(&self.kubeconfig).expect("kubeconfig");
        let admin = self.sandbox.admin_token();
        assert!(
            !admin.is_empty() && text.contains(admin),
            "the kubeconfig holds the admin token"
        );
        self.file(name, &text.replace(admin, token))
    }

    /// Runs kubectl with another kubeconfig.
    pub async fn kubectl_config(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        tokio::process::Command::new(kubectl())
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("HOME", self.dir.path())
            .kill_on_drop(true)
            .output()
            .await
            .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sandbox.url(), path)
    }

    /// Writes a file into the test's temp dir and returns its path.
    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).expect("write test file");
        p
    }

    /// Runs a kubectl binary against this sandbox.
    pub async fn kubectl_with(&self, bin: &Path, args: &[&str]) -> Output {
        tokio::process::Command::new(bin)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path())
            .kill_on_drop(true)
            .output()
            .await
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()))
    }

    /// Runs the machine's kubectl; panics with its output if it fails.
    pub async fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl_with(&kubectl(), args).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let resp = self.http.get(self.url(path)).send().await.expect("GET");
        let code = resp.status().as_u16();
        (code, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = self
            .http
            .request(method, self.url(path))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        let code = resp.status().as_u16();
        (code, resp.json().await.unwrap_or(Value::Null))
    }

    /// Polls `check` until it returns Some or the timeout passes.
    pub async fn eventually<T, F, Fut>(&self, what: &str, timeout: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An HTTP client for a sandbox: it trusts the sandbox's CA (with HTTPS) and
/// sends `token` as a bearer token (none: anonymous).
pub fn http_client(sandbox: &Sandbox, token: Option<&str>) -> reqwest::Client {
    let mut b = reqwest::Client::builder();
    if sandbox.url().starts_with("https://") {
        b = b.use_preconfigured_tls(sandbox.client_tls_config().expect("client TLS config"));
    }
    if let Some(t) = token {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {t}").parse().expect("header value"),
        );
        b = b.default_headers(h);
    }
    b.build().expect("HTTP client")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The machine's kubectl (a dispatcher that picks a version for the server).
pub fn kubectl() -> PathBuf {
    which("kubectl").expect("kubectl is on PATH (make tools installs it)")
}

/// A versioned kubectl (`kubectl.1.28`): beside the machine's kubectl, where
/// machines of this kind carry 1.27 to 1.33, or in `.tools/bin` where
/// `scripts/install-tools.sh` puts it otherwise.
pub fn versioned_kubectl(version: &str) -> Option<PathBuf> {
    let name = format!("kubectl.{version}");
    let beside = std::fs::canonicalize(kubectl())
        .ok()
        .and_then(|k| Some(k.parent()?.join(&name)));
    let tools = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.tools/bin")
        .join(&name);
    beside.into_iter().chain([tools]).find(|p| p.is_file())
}

pub fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(bin))
            .find(|p| p.is_file())
    })
}

/// `../shared/k8s-api`, or None (with a message) when it is not beside the checkout.
pub fn shared_k8s_api() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/k8s-api");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: ../shared/k8s-api not found beside the checkout");
        None
    }
}

/// How long one request may take before a test fails rather than hangs.
const REQUEST: Duration = Duration::from_secs(20);

/// Awaits `fut`, failing the test (naming `what`) if it takes longer than a request may.
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(REQUEST, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

pub async fn get(ts: &TestSandbox, path: &str) -> (u16, Value) {
    within(&format!("GET {path}"), ts.get_json(path)).await
}

pub async fn send(
    ts: &TestSandbox,
    method: &str,
    path: &str,
    ct: &str,
    body: &Value,
) -> (u16, Value) {
    within(&format!("{method} {path}"), ts.send(method, path, ct, body)).await
}

pub async fn post(ts: &TestSandbox, path: &str, body: &Value) -> (u16, Value) {
    send(ts, "POST", path, "application/json", body).await
}

/// A namespaced CRD `widgets.example.com` (kind Widget) with a status subresource and a
/// schema of `spec.size` (integer), `spec.color` (string) and `status.ready` (boolean).
pub fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {"type": "object", "properties": {
                            "size": {"type": "integer"},
                            "color": {"type": "string"},
                        }},
                        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
                    },
                }},
            }],
        },
    })
}
