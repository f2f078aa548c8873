//! Real kubectl drives the sandbox, and what it prints is checked as a user
//! would see it: headers, the verbs' one-line reports, conflict errors and
//! exit codes.
//!
//! Every flow runs twice: with the machine's `kubectl` (a dispatcher that picks
//! a recent client for our 1.35 server) and with `kubectl.1.28`, an older
//! client that sends JSON bodies and computes client-side patches without the
//! OpenAPI v3 documents.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{TestSandbox, kubectl, stderr, stdout, versioned_kubectl};
use serde_json::Value;
use tether_sandbox::Config;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

/// The older client every flow also runs with.
fn kubectl_1_28() -> PathBuf {
    versioned_kubectl("1.28")
        .expect("kubectl.1.28 beside the machine's kubectl (make tools installs it)")
}

/// A sandbox whose rollouts take 300 ms, so that waiting for them means something.
async fn slow_rollouts() -> TestSandbox {
    TestSandbox::with_config(Config {
        rollout_delay: Duration::from_millis(300),
        ..Config::default()
    })
    .await
}

fn name_of(bin: &Path) -> String {
    bin.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn describe(bin: &Path, args: &[&str], out: &Output) -> String {
    format!(
        "{} {}\nexit code: {:?}\n--- stdout\n{}--- stderr\n{}",
        name_of(bin),
        args.join(" "),
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

/// Runs kubectl and requires it to succeed; returns stdout.
async fn ok(ts: &TestSandbox, bin: &Path, args: &[&str]) -> String {
    let out = ts.kubectl_with(bin, args).await;
    assert!(
        out.status.success(),
        "expected success:\n{}",
        describe(bin, args, &out)
    );
    stdout(&out)
}

/// Runs kubectl and requires it to succeed with nothing on stderr (no warnings).
async fn ok_quiet(ts: &TestSandbox, bin: &Path, args: &[&str]) -> String {
    let out = ts.kubectl_with(bin, args).await;
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "expected success with an empty stderr:\n{}",
        describe(bin, args, &out)
    );
    stdout(&out)
}

/// Runs kubectl and requires it to fail with exit code `code`.
async fn fails(ts: &TestSandbox, bin: &Path, args: &[&str], code: i32) -> Output {
    let out = ts.kubectl_with(bin, args).await;
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit code {code}:\n{}",
        describe(bin, args, &out)
    );
    out
}

fn deployment(name: &str, image: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: {name}
        image: {image}
"
    )
}

fn config_map(name: &str, mode: &str) -> String {
    format!(
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
data:
  mode: {mode}
"
    )
}

/// Writes a manifest into the test's temp dir and returns its path as a string for kubectl.
fn manifest(ts: &TestSandbox, file: &str, content: &str) -> String {
    ts.file(file, content).to_string_lossy().into_owned()
}

/// True for an AGE cell: `0s`, `12s`, `3m4s`, `5m`, ...
fn is_age(cell: &str) -> bool {
    !cell.is_empty()
        && cell
            .chars()
            .all(|c| c.is_ascii_digit() || "smhdy".contains(c))
        && cell.starts_with(|c: char| c.is_ascii_digit())
        && cell.ends_with(|c: char| "smhdy".contains(c))
}

fn tokens(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// `kubectl get deploy NAME --no-headers` split into cells, once its cells
/// before AGE are `want` (e.g. `["web", "2/2", "2", "2"]`).
async fn wait_for_deploy_row(ts: &TestSandbox, bin: &Path, name: &str, want: [&str; 4]) {
    ts.eventually(
        &format!("deployment {name} to show {want:?}"),
        Duration::from_secs(10),
        || async move {
            let out = ok(ts, bin, &["get", "deploy", name, "--no-headers"]).await;
            let cells = tokens(out.trim_end());
            (cells.len() == 5 && cells[..4] == want && is_age(cells[4])).then_some(())
        },
    )
    .await;
}

async fn jsonpath(ts: &TestSandbox, bin: &Path, what: &str, path: &str) -> String {
    ok(ts, bin, &["get", what, "-o", &format!("jsonpath={path}")]).await
}

// ---------------------------------------------------------------------------------------
// 1. Server-side apply: create, update, conflicts, --force-conflicts.

async fn server_side_apply_flow(bin: &Path) {
    let ts = TestSandbox::start().await;
    let web = manifest(&ts, "web.yaml", &deployment("web", "nginx:1.25", 1));
    let out = ok_quiet(&ts, bin, &["apply", "--server-side", "-f", &web]).await;
    assert_eq!(out, "deployment.apps/web serverside-applied\n");

    // Update: a new image.
    let web = manifest(&ts, "web.yaml", &deployment("web", "nginx:1.26", 1));
    let out = ok_quiet(&ts, bin, &["apply", "--server-side", "-f", &web]).await;
    assert_eq!(out, "deployment.apps/web serverside-applied\n");
    let image = jsonpath(
        &ts,
        bin,
        "deploy/web",
        "{.spec.template.spec.containers[0].image}",
    )
    .await;
    assert_eq!(image, "nginx:1.26");

    // Another manager wants the replicas kubectl owns.
    let other = manifest(
        &ts,
        "other.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n",
    );
    let apply_other = [
        "apply",
        "--server-side",
        "--field-manager=other",
        "-f",
        &other,
    ];
    let out = fails(&ts, bin, &apply_other, 1).await;
    let err = stderr(&out);
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"),
        "{err}"
    );
    assert!(err.contains("--force-conflicts"), "{err}");
    assert_eq!(
        jsonpath(&ts, bin, "deploy/web", "{.spec.replicas}").await,
        "1"
    );

    // It takes them by force; now kubectl's own apply conflicts.
    let force_other = [
        "apply",
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
        "-f",
        &other,
    ];
    let out = ok_quiet(&ts, bin, &force_other).await;
    assert_eq!(out, "deployment.apps/web serverside-applied\n");
    assert_eq!(
        jsonpath(&ts, bin, "deploy/web", "{.spec.replicas}").await,
        "3"
    );
    let out = fails(&ts, bin, &["apply", "--server-side", "-f", &web], 1).await;
    let err = stderr(&out);
    assert!(err.contains("Apply failed with 1 conflict"), "{err}");
    assert!(
        err.contains("conflict with \"other\": .spec.replicas"),
        "{err}"
    );
    assert_eq!(
        jsonpath(&ts, bin, "deploy/web", "{.spec.replicas}").await,
        "3"
    );

    // --force-conflicts moves ownership back to kubectl.
    let out = ok_quiet(
        &ts,
        bin,
        &["apply", "--server-side", "--force-conflicts", "-f", &web],
    )
    .await;
    assert_eq!(out, "deployment.apps/web serverside-applied\n");
    assert_eq!(
        jsonpath(&ts, bin, "deploy/web", "{.spec.replicas}").await,
        "1"
    );
    let obj: Value = serde_json::from_str(
        &ok(
            &ts,
            bin,
            &[
                "get",
                "deploy",
                "web",
                "-o",
                "json",
                "--show-managed-fields",
            ],
        )
        .await,
    )
    .expect("kubectl -o json prints JSON");
    let managed = obj["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields shown");
    let owners_of_replicas: Vec<(&str, &str)> = managed
        .iter()
        .filter(|e| e.pointer("/fieldsV1/f:spec/f:replicas").is_some())
        .map(|e| {
            (
                e["manager"].as_str().unwrap_or(""),
                e["operation"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        owners_of_replicas,
        [("kubectl", "Apply")],
        "managedFields: {managed:#?}"
    );
    // "other" owned nothing else, so its entry is gone, as on a real server.
    assert!(
        managed.iter().all(|e| e["manager"] != "other"),
        "managedFields: {managed:#?}"
    );

    // kubectl scale writes replicas through the scale subresource, as its own manager.
    let out = ok_quiet(&ts, bin, &["scale", "deploy", "web", "--replicas=2"]).await;
    assert_eq!(out, "deployment.apps/web scaled\n");
    let out = fails(&ts, bin, &["apply", "--server-side", "-f", &web], 1).await;
    let err = stderr(&out);
    let scaler = name_of(bin);
    assert!(
        err.contains(&format!(
            "Apply failed with 1 conflict: conflict with \"{scaler}\" with subresource \"scale\" using apps/v1: .spec.replicas"
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_creates_updates_and_reports_conflicts() {
    server_side_apply_flow(&kubectl()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_creates_updates_and_reports_conflicts_kubectl_1_28() {
    server_side_apply_flow(&kubectl_1_28()).await;
}

// ---------------------------------------------------------------------------------------
// 2. get: tables, -o yaml, -o wide.

async fn get_flow(bin: &Path) {
    let ts = TestSandbox::start().await;
    let web = manifest(&ts, "web.yaml", &deployment("web", "nginx:1.25", 1));
    ok_quiet(&ts, bin, &["apply", "--server-side", "-f", &web]).await;
    wait_for_deploy_row(&ts, bin, "web", ["web", "1/1", "1", "1"]).await;

    let out = ok_quiet(&ts, bin, &["get", "deploy"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], "NAME   READY   UP-TO-DATE   AVAILABLE   AGE");
    let row = tokens(lines[1]);
    assert_eq!(row[..4], ["web", "1/1", "1", "1"], "{out}");
    assert!(row.len() == 5 && is_age(row[4]), "{out}");

    let out = ok_quiet(&ts, bin, &["get", "deploy", "-o", "wide"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(
        lines[0],
        "NAME   READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES       SELECTOR"
    );
    let row = tokens(lines[1]);
    assert_eq!(row.len(), 8, "{out}");
    assert_eq!(row[..4], ["web", "1/1", "1", "1"], "{out}");
    assert!(is_age(row[4]), "{out}");
    assert_eq!(row[5..], ["web", "nginx:1.25", "app=web"], "{out}");

    let out = ok_quiet(&ts, bin, &["get", "ns"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "NAME              STATUS   AGE", "{out}");
    let rows: Vec<(&str, &str)> = lines[1..]
        .iter()
        .map(|l| {
            let t = tokens(l);
            assert!(t.len() == 3 && is_age(t[2]), "{out}");
            (t[0], t[1])
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("default", "Active"),
            ("kube-node-lease", "Active"),
            ("kube-public", "Active"),
            ("kube-system", "Active"),
        ]
    );

    let out = ok_quiet(&ts, bin, &["get", "deploy", "web", "-o", "yaml"]).await;
    let obj: Value = serde_saphyr::from_str(&out).expect("kubectl -o yaml prints YAML");
    assert_eq!(obj["apiVersion"], "apps/v1");
    assert_eq!(obj["kind"], "Deployment");
    assert_eq!(obj["metadata"]["name"], "web");
    assert_eq!(obj["metadata"]["namespace"], "default");
    assert_eq!(obj["metadata"]["generation"], 1);
    assert_eq!(obj["metadata"]["labels"]["app"], "web");
    assert!(
        obj["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| u.len() == 36),
        "{out}"
    );
    assert!(obj["metadata"]["resourceVersion"].is_string(), "{out}");
    assert!(obj["metadata"]["creationTimestamp"].is_string(), "{out}");
    // kubectl hides managed fields unless asked.
    assert!(obj["metadata"].get("managedFields").is_none(), "{out}");
    assert_eq!(obj["spec"]["replicas"], 1);
    assert_eq!(obj["spec"]["selector"]["matchLabels"]["app"], "web");
    assert_eq!(
        obj["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
    assert_eq!(obj["status"]["readyReplicas"], 1);
    assert_eq!(obj["status"]["observedGeneration"], 1);
    let available = obj["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Available"))
        .unwrap_or_else(|| panic!("no Available condition:\n{out}"));
    assert_eq!(available["status"], "True");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_prints_tables_yaml_and_wide() {
    get_flow(&kubectl()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_prints_tables_yaml_and_wide_kubectl_1_28() {
    get_flow(&kubectl_1_28()).await;
}

// ---------------------------------------------------------------------------------------
// 3. get -w.

/// A running `kubectl get -w`, read line by line.
struct Watching {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
}

impl Watching {
    fn start(ts: &TestSandbox, bin: &Path, args: &[&str]) -> Self {
        let mut child = tokio::process::Command::new(bin)
            .args(args)
            .env("KUBECONFIG", &ts.kubeconfig)
            .env("HOME", ts.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        let out = child.stdout.take().expect("piped stdout");
        Watching {
            child,
            lines: BufReader::new(out).lines(),
            seen: Vec::new(),
        }
    }

    /// The next line whose cells satisfy `want`; fails if none comes within `timeout`.
    async fn next_line(&mut self, what: &str, want: impl Fn(&[&str]) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Ok(Ok(Some(line))) => {
                    self.seen.push(line.clone());
                    if want(&tokens(&line)) {
                        return line;
                    }
                }
                Ok(Ok(None)) => self.fail(what, "kubectl closed its output").await,
                Ok(Err(e)) => self.fail(what, &format!("reading output: {e}")).await,
                Err(_) => self.fail(what, "timed out").await,
            }
        }
    }

    async fn fail(&mut self, what: &str, why: &str) -> ! {
        let _ = self.child.start_kill();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), e.read_to_string(&mut err)).await;
        }
        panic!(
            "waiting for {what}: {why}\n--- lines so far\n{}\n--- stderr\n{err}",
            self.seen.join("\n")
        );
    }
}

async fn watch_flow(bin: &Path) {
    let ts = TestSandbox::start().await;
    let web = manifest(&ts, "web.yaml", &deployment("web", "nginx:1.25", 1));
    ok_quiet(&ts, bin, &["apply", "--server-side", "-f", &web]).await;

    let mut w = Watching::start(
        &ts,
        bin,
        &[
            "get",
            "deploy",
            "web",
            "-w",
            "--output-watch-events",
            "-L",
            "tier",
        ],
    );
    let header = w.next_line("the header", |_| true).await;
    assert_eq!(
        tokens(&header),
        [
            "EVENT",
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "TIER"
        ]
    );
    // The initial list: once it is printed, later changes reach the watch.
    w.next_line("ADDED web", |t| t[..2] == ["ADDED", "web"])
        .await;

    let out = ok_quiet(&ts, bin, &["label", "deploy", "web", "tier=front"]).await;
    assert_eq!(out, "deployment.apps/web labeled\n");
    let line = w
        .next_line("MODIFIED web with label tier=front", |t| {
            t.first() == Some(&"MODIFIED") && t.last() == Some(&"front")
        })
        .await;
    assert_eq!(tokens(&line)[1], "web", "{line}");

    let out = ok_quiet(&ts, bin, &["scale", "deploy", "web", "--replicas=2"]).await;
    assert_eq!(out, "deployment.apps/web scaled\n");
    w.next_line("MODIFIED web ready 2/2", |t| {
        t.len() == 7 && t[..5] == ["MODIFIED", "web", "2/2", "2", "2"] && t[6] == "front"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_sees_changes() {
    watch_flow(&kubectl()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_sees_changes_kubectl_1_28() {
    watch_flow(&kubectl_1_28()).await;
}

// ---------------------------------------------------------------------------------------
// 4. diff --server-side.

async fn diff_flow(bin: &Path) {
    let ts = TestSandbox::start().await;
    let web = manifest(&ts, "web.yaml", &deployment("web", "nginx:1.25", 1));
    ok_quiet(&ts, bin, &["apply", "--server-side", "-f", &web]).await;
    wait_for_deploy_row(&ts, bin, "web", ["web", "1/1", "1", "1"]).await;

    // No change: exit 0, nothing printed.
    let out = ok_quiet(&ts, bin, &["diff", "--server-side", "-f", &web]).await;
    assert_eq!(out, "");

    let newer = manifest(&ts, "newer.yaml", &deployment("web", "nginx:1.26", 1));
    let out = fails(&ts, bin, &["diff", "--server-side", "-f", &newer], 1).await;
    let diff = stdout(&out);
    let lines: Vec<&str> = diff.lines().collect();
    for want in [
        "-      - image: nginx:1.25",
        "+      - image: nginx:1.26",
        "-  generation: 1",
        "+  generation: 2",
    ] {
        assert!(
            lines.contains(&want),
            "no line {want:?} in the diff:\n{diff}"
        );
    }
    let changed: Vec<&&str> = lines
        .iter()
        .filter(|l| {
            (l.starts_with('-') || l.starts_with('+'))
                && !l.starts_with("---")
                && !l.starts_with("+++")
        })
        .collect();
    assert_eq!(
        changed.len(),
        4,
        "only image and generation change:\n{diff}"
    );
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));

    // diff is a dry run: nothing changed.
    let image = jsonpath(
        &ts,
        bin,
        "deploy/web",
        "{.spec.template.spec.containers[0].image}",
    )
    .await;
    assert_eq!(image, "nginx:1.25");
    assert_eq!(
        jsonpath(&ts, bin, "deploy/web", "{.metadata.generation}").await,
        "1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_server_side_shows_changes_only() {
    diff_flow(&kubectl()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_server_side_shows_changes_only_kubectl_1_28() {
    diff_flow(&kubectl_1_28()).await;
}

// ---------------------------------------------------------------------------------------
// 5. scale.

async fn scale_flow(bin: &Path) {
    let ts = slow_rollouts().await;
    let web = manifest(&ts, "web.yaml", &deployment("web", "nginx:1.25", 1));
    ok_quiet(&ts, bin, &["apply", "--server-side", "-f", &web]).await;
    wait_for_deploy_row(&ts, bin, "web", ["web", "1/1", "1", "1"]).await;

    let out = ok_quiet(&ts, bin, &["scale", "deploy", "web", "--replicas=2"]).await;
    assert_eq!(out, "deployment.apps/web scaled\n");
    assert_eq!(
        jsonpath(&ts, bin, "deploy/web", "{.spec.replicas}").await,
        "2"
    );
    wait_for_deploy_row(&ts, bin, "web", ["web", "2/2", "2", "2"]).await;
    assert_eq!(
        jsonpath(&ts, bin, "deploy/web", "{.status.availableReplicas}").await,
        "2"
    );

    let out = ok_quiet(&ts, bin, &["scale", "deploy", "web", "--replicas=0"]).await;
    assert_eq!(out, "deployment.apps/web scaled\n");
    wait_for_deploy_row(&ts, bin, "web", ["web", "0/0", "0", "0"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_changes_replicas_and_status_follows() {
    scale_flow(&kubectl()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_changes_replicas_and_status_follows_kubectl_1_28() {
    scale_flow(&kubectl_1_28()).await;
}

// ---------------------------------------------------------------------------------------
// 6. rollout status.

async fn rollout_succeeds_flow(bin: &Path) {
    let ts = slow_rollouts().await;
    let web = manifest(&ts, "web.yaml", &deployment("web", "nginx:1.25", 2));
    ok_quiet(&ts, bin, &["apply", "--server-side", "-f", &web]).await;
    let out = ok_quiet(
        &ts,
        bin,
        &["rollout", "status", "deploy/web", "--timeout=10s"],
    )
    .await;
    assert_eq!(
        out.lines().last(),
        Some("deployment \"web\" successfully rolled out"),
        "{out}"
    );
    assert_eq!(
        jsonpath(&ts, bin, "deploy/web", "{.status.readyReplicas}").await,
        "2"
    );

    // A new template rolls out again: rollout status waits for the new generation.
    let web = manifest(&ts, "web.yaml", &deployment("web", "nginx:1.26", 2));
    ok_quiet(&ts, bin, &["apply", "--server-side", "-f", &web]).await;
    let out = ok_quiet(
        &ts,
        bin,
        &["rollout", "status", "deploy/web", "--timeout=10s"],
    )
    .await;
    assert_eq!(
        out.lines().last(),
        Some("deployment \"web\" successfully rolled out"),
        "{out}"
    );
    assert_eq!(
        jsonpath(&ts, bin, "deploy/web", "{.status.observedGeneration}").await,
        "2"
    );
}

async fn rollout_fails_flow(bin: &Path) {
    let ts = slow_rollouts().await;
    let bad = manifest(&ts, "bad.yaml", &deployment("bad", "nginx:fail", 1));
    ok_quiet(&ts, bin, &["apply", "--server-side", "-f", &bad]).await;
    let out = fails(
        &ts,
        bin,
        &["rollout", "status", "deploy/bad", "--timeout=5s"],
        1,
    )
    .await;
    assert_eq!(
        stderr(&out),
        "error: deployment \"bad\" exceeded its progress deadline\n",
        "{}",
        describe(bin, &["rollout", "status"], &out)
    );
    let reason = jsonpath(
        &ts,
        bin,
        "deploy/bad",
        "{.status.conditions[?(@.type==\"Progressing\")].reason}",
    )
    .await;
    assert_eq!(reason, "ProgressDeadlineExceeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_status_succeeds_for_a_healthy_deployment() {
    rollout_succeeds_flow(&kubectl()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_status_succeeds_for_a_healthy_deployment_kubectl_1_28() {
    rollout_succeeds_flow(&kubectl_1_28()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_status_fails_past_the_progress_deadline() {
    rollout_fails_flow(&kubectl()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_status_fails_past_the_progress_deadline_kubectl_1_28() {
    rollout_fails_flow(&kubectl_1_28()).await;
}

// ---------------------------------------------------------------------------------------
// 7. wait --for=condition.

async fn wait_flow(bin: &Path) {
    let ts = slow_rollouts().await;
    let web = manifest(&ts, "web.yaml", &deployment("web", "nginx:1.25", 1));
    let bad = manifest(&ts, "bad.yaml", &deployment("bad", "nginx:fail", 1));
    ok_quiet(
        &ts,
        bin,
        &["apply", "--server-side", "-f", &web, "-f", &bad],
    )
    .await;

    let out = ok_quiet(
        &ts,
        bin,
        &[
            "wait",
            "--for=condition=Available",
            "deploy/web",
            "--timeout=10s",
        ],
    )
    .await;
    assert_eq!(out, "deployment.apps/web condition met\n");

    // The condition is really checked: a deployment that never becomes available times out.
    let out = fails(
        &ts,
        bin,
        &[
            "wait",
            "--for=condition=Available",
            "deploy/bad",
            "--timeout=1s",
        ],
        1,
    )
    .await;
    assert_eq!(
        stderr(&out),
        "error: timed out waiting for the condition on deployments/bad\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_condition_available() {
    wait_flow(&kubectl()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_condition_available_kubectl_1_28() {
    wait_flow(&kubectl_1_28()).await;
}

// ---------------------------------------------------------------------------------------
// 8. delete --wait.

async fn delete_flow(bin: &Path) {
    let ts = TestSandbox::start().await;
    let web = manifest(&ts, "web.yaml", &deployment("web", "nginx:1.25", 1));
    let api = manifest(&ts, "api.yaml", &deployment("api", "nginx:1.25", 1));
    ok_quiet(
        &ts,
        bin,
        &["apply", "--server-side", "-f", &web, "-f", &api],
    )
    .await;

    let out = ok_quiet(&ts, bin, &["delete", "deploy", "web", "--wait"]).await;
    assert_eq!(out, "deployment.apps \"web\" deleted\n");
    let out = fails(&ts, bin, &["get", "deploy", "web"], 1).await;
    assert_eq!(
        stderr(&out),
        "Error from server (NotFound): deployments.apps \"web\" not found\n"
    );

    // Foreground deletion keeps the object behind a finalizer for a while; --wait waits for it.
    let out = ok_quiet(
        &ts,
        bin,
        &["delete", "deploy", "api", "--cascade=foreground", "--wait"],
    )
    .await;
    assert_eq!(out, "deployment.apps \"api\" deleted\n");
    let out = fails(&ts, bin, &["get", "deploy", "api"], 1).await;
    assert_eq!(
        stderr(&out),
        "Error from server (NotFound): deployments.apps \"api\" not found\n"
    );
    let out = ts.kubectl_with(bin, &["get", "deploy"]).await;
    assert!(
        out.status.success(),
        "{}",
        describe(bin, &["get", "deploy"], &out)
    );
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "No resources found in default namespace.\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_wait_removes_the_object() {
    delete_flow(&kubectl()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_wait_removes_the_object_kubectl_1_28() {
    delete_flow(&kubectl_1_28()).await;
}

// ---------------------------------------------------------------------------------------
// 9. Namespaces: create, fill, delete with everything in it.

async fn namespace_flow(bin: &Path) {
    let ts = TestSandbox::start().await;
    let out = ok_quiet(&ts, bin, &["create", "namespace", "team"]).await;
    assert_eq!(out, "namespace/team created\n");
    let cm = manifest(&ts, "cm.yaml", &config_map("settings", "fast"));
    let web = manifest(&ts, "web.yaml", &deployment("web", "nginx:1.25", 1));
    let out = ok_quiet(
        &ts,
        bin,
        &[
            "apply",
            "--server-side",
            "-n",
            "team",
            "-f",
            &cm,
            "-f",
            &web,
        ],
    )
    .await;
    assert_eq!(
        out,
        "configmap/settings serverside-applied\ndeployment.apps/web serverside-applied\n"
    );
    let mode = ok(
        &ts,
        bin,
        &[
            "get",
            "cm",
            "settings",
            "-n",
            "team",
            "-o",
            "jsonpath={.data.mode}",
        ],
    )
    .await;
    assert_eq!(mode, "fast");
    let ns = ok(
        &ts,
        bin,
        &[
            "get",
            "deploy",
            "web",
            "-n",
            "team",
            "-o",
            "jsonpath={.metadata.namespace}",
        ],
    )
    .await;
    assert_eq!(ns, "team");

    let out = ok_quiet(
        &ts,
        bin,
        &["delete", "namespace", "team", "--wait", "--timeout=20s"],
    )
    .await;
    assert_eq!(out, "namespace \"team\" deleted\n");
    let out = fails(&ts, bin, &["get", "ns", "team"], 1).await;
    assert_eq!(
        stderr(&out),
        "Error from server (NotFound): namespaces \"team\" not found\n"
    );
    // The objects went with it.
    let (code, body) = ts
        .get_json("/api/v1/namespaces/team/configmaps/settings")
        .await;
    assert_eq!(
        (code, &body["message"]),
        (404, &Value::from("configmaps \"settings\" not found"))
    );
    let (code, body) = ts
        .get_json("/apis/apps/v1/namespaces/team/deployments/web")
        .await;
    assert_eq!(
        (code, &body["message"]),
        (404, &Value::from("deployments.apps \"web\" not found"))
    );
    let out = ts
        .kubectl_with(bin, &["get", "cm,deploy", "-n", "team"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        describe(bin, &["get", "cm,deploy"], &out)
    );
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "No resources found in team namespace.\n");
}

/// Recent kubectl sends the body of `kubectl create namespace` as protobuf.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_delete_takes_its_objects() {
    namespace_flow(&kubectl()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_delete_takes_its_objects_kubectl_1_28() {
    namespace_flow(&kubectl_1_28()).await;
}

// ---------------------------------------------------------------------------------------
// 10. A CRD and an object of it in one file.

const CRD_AND_WIDGET: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names:
    kind: Widget
    listKind: WidgetList
    plural: widgets
    singular: widget
    shortNames: [wd]
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    - name: Phase
      type: string
      jsonPath: .status.phase
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size:
                type: integer
              color:
                type: string
          status:
            type: object
            properties:
              phase:
                type: string
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
spec:
  size: 3
  color: red
status:
  phase: IgnoredOnTheMainResource
";

async fn crd_flow(bin: &Path) {
    let ts = TestSandbox::start().await;
    let both = manifest(&ts, "both.yaml", CRD_AND_WIDGET);

    // As against any cluster, kubectl maps every object before applying any: the first
    // apply creates the CRD and cannot map the Widget yet.
    let out = fails(&ts, bin, &["apply", "--server-side", "-f", &both], 1).await;
    assert_eq!(
        stdout(&out),
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com serverside-applied\n"
    );
    let err = stderr(&out);
    assert!(
        err.contains("no matches for kind \"Widget\" in version \"example.com/v1\"")
            && err.contains("ensure CRDs are installed first"),
        "{err}"
    );

    let out = ok_quiet(
        &ts,
        bin,
        &[
            "wait",
            "--for=condition=Established",
            "crd/widgets.example.com",
            "--timeout=10s",
        ],
    )
    .await;
    assert_eq!(
        out,
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com condition met\n"
    );
    let out = ok_quiet(&ts, bin, &["apply", "--server-side", "-f", &both]).await;
    assert_eq!(
        out,
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com serverside-applied\n\
         widget.example.com/w1 serverside-applied\n"
    );

    // The printer columns, by short name.
    let out = ok_quiet(&ts, bin, &["get", "wd"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], "NAME   SIZE   PHASE   AGE");
    let row = tokens(lines[1]);
    // No phase: status goes through the status subresource only.
    assert!(
        row.len() == 3 && row[..2] == ["w1", "3"] && is_age(row[2]),
        "{out}"
    );

    let out = ok_quiet(
        &ts,
        bin,
        &[
            "patch",
            "widget",
            "w1",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Ready"}}"#,
        ],
    )
    .await;
    assert_eq!(out, "widget.example.com/w1 patched\n");
    let out = ok_quiet(&ts, bin, &["get", "wd", "--no-headers"]).await;
    let row = tokens(out.trim_end());
    assert!(
        row.len() == 4 && row[..3] == ["w1", "3", "Ready"] && is_age(row[3]),
        "{out}"
    );

    let out = ok_quiet(&ts, bin, &["get", "widgets", "-o", "yaml"]).await;
    let list: Value = serde_saphyr::from_str(&out).expect("kubectl -o yaml prints YAML");
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{out}");
    let w = &items[0];
    assert_eq!(w["apiVersion"], "example.com/v1");
    assert_eq!(w["kind"], "Widget");
    assert_eq!(w["metadata"]["name"], "w1");
    assert_eq!(w["metadata"]["namespace"], "default");
    assert_eq!(w["spec"], serde_json::json!({"size": 3, "color": "red"}));
    assert_eq!(w["status"], serde_json::json!({"phase": "Ready"}));

    // Client-side apply of a custom resource: kubectl must pick a JSON merge patch
    // (custom resources take no strategic merge patch) and warn about nothing.
    let widget = |size: u32| {
        format!(
            "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w2\nspec:\n  size: {size}\n"
        )
    };
    let w2 = manifest(&ts, "w2.yaml", &widget(1));
    let out = ok_quiet(&ts, bin, &["apply", "-f", &w2]).await;
    assert_eq!(out, "widget.example.com/w2 created\n");
    let w2 = manifest(&ts, "w2.yaml", &widget(5));
    let out = ok_quiet(&ts, bin, &["apply", "-f", &w2]).await;
    assert_eq!(out, "widget.example.com/w2 configured\n");
    assert_eq!(jsonpath(&ts, bin, "widget/w2", "{.spec.size}").await, "5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_and_its_object_from_one_file() {
    crd_flow(&kubectl()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_and_its_object_from_one_file_kubectl_1_28() {
    crd_flow(&kubectl_1_28()).await;
}

// ---------------------------------------------------------------------------------------
// 11. Client-side apply.

async fn client_side_apply_flow(bin: &Path) {
    let ts = TestSandbox::start().await;
    let web = manifest(&ts, "web.yaml", &deployment("web", "nginx:1.25", 1));
    let cm = manifest(&ts, "cm.yaml", &config_map("settings", "fast"));
    assert_eq!(
        ok_quiet(&ts, bin, &["apply", "-f", &web]).await,
        "deployment.apps/web created\n"
    );
    assert_eq!(
        ok_quiet(&ts, bin, &["apply", "-f", &cm]).await,
        "configmap/settings created\n"
    );
    assert_eq!(
        ok_quiet(&ts, bin, &["apply", "-f", &web, "-f", &cm]).await,
        "deployment.apps/web unchanged\nconfigmap/settings unchanged\n"
    );

    // Updates: a strategic merge patch for each, computed by kubectl.
    let web = manifest(&ts, "web.yaml", &deployment("web", "nginx:1.26", 1));
    let cm = manifest(&ts, "cm.yaml", &config_map("settings", "slow"));
    assert_eq!(
        ok_quiet(&ts, bin, &["apply", "-f", &web]).await,
        "deployment.apps/web configured\n"
    );
    assert_eq!(
        ok_quiet(&ts, bin, &["apply", "-f", &cm]).await,
        "configmap/settings configured\n"
    );
    let image = jsonpath(
        &ts,
        bin,
        "deploy/web",
        "{.spec.template.spec.containers[0].image}",
    )
    .await;
    assert_eq!(image, "nginx:1.26");
    assert_eq!(
        jsonpath(&ts, bin, "cm/settings", "{.data.mode}").await,
        "slow"
    );
    let last_applied = jsonpath(
        &ts,
        bin,
        "deploy/web",
        r"{.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}",
    )
    .await;
    let last_applied: Value =
        serde_json::from_str(&last_applied).expect("last-applied-configuration is JSON");
    assert_eq!(
        last_applied["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.26"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_side_apply_creates_and_updates() {
    client_side_apply_flow(&kubectl()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_side_apply_creates_and_updates_kubectl_1_28() {
    client_side_apply_flow(&kubectl_1_28()).await;
}

// ---------------------------------------------------------------------------------------
// 12. A missing object.

async fn missing_flow(bin: &Path) {
    let ts = TestSandbox::start().await;
    let out = fails(&ts, bin, &["get", "deploy", "nope"], 1).await;
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "Error from server (NotFound): deployments.apps \"nope\" not found\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_missing_object_is_not_found() {
    missing_flow(&kubectl()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_missing_object_is_not_found_kubectl_1_28() {
    missing_flow(&kubectl_1_28()).await;
}

/// The pod subresources a user reaches through kubectl: `logs` (pods/log) and
/// `debug` (pods/ephemeralcontainers), plus `certificate approve` (csr/approval).
/// None of these may print warnings: the simulated status must be valid too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_debug_and_certificate_approve() {
    let ts = TestSandbox::start().await;
    let bin = kubectl();
    ok(&ts, &bin, &["run", "web", "--image=nginx:1.27"]).await;
    ok(&ts, &bin, &["run", "bad", "--image=nginx:fail"]).await;
    ok(
        &ts,
        &bin,
        &["wait", "--for=condition=Ready", "pod/web", "--timeout=10s"],
    )
    .await;

    // A running container logs its start (the simulated log; see workloads.rs).
    let log = ok_quiet(&ts, &bin, &["logs", "web"]).await;
    assert!(
        log.lines()
            .next()
            .is_some_and(|l| l.contains("msg=\"starting\"") && l.contains("image=nginx:1.27")),
        "{log}"
    );
    let out = fails(&ts, &bin, &["logs", "bad"], 1).await;
    assert_eq!(
        stderr(&out),
        "Error from server (BadRequest): container \"bad\" in pod \"bad\" is waiting to start: ImagePullBackOff\n"
    );

    // `kubectl debug` patches pods/ephemeralcontainers and changes nothing else.
    let before = ok(
        &ts,
        &bin,
        &[
            "get",
            "pod",
            "web",
            "-o",
            "jsonpath={.spec.containers[0].image}",
        ],
    )
    .await;
    let out = ts
        .kubectl_with(
            &bin,
            &["debug", "web", "--image=busybox:1.36", "--profile=general"],
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("Warning"),
        "no warnings expected: {}",
        stderr(&out)
    );
    let image = ok(
        &ts,
        &bin,
        &[
            "get",
            "pod",
            "web",
            "-o",
            "jsonpath={.spec.ephemeralContainers[0].image}",
        ],
    )
    .await;
    assert_eq!(image, "busybox:1.36");
    let after = ok(
        &ts,
        &bin,
        &[
            "get",
            "pod",
            "web",
            "-o",
            "jsonpath={.spec.containers[0].image}",
        ],
    )
    .await;
    assert_eq!(before, after);

    // `kubectl certificate approve` writes status.conditions through csr/approval.
    let csr = ts.file(
        "csr.yaml",
        "apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: alice}
spec:
  request: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KLS0tLS1FTkQgQ0VSVElGSUNBVEUgUkVRVUVTVC0tLS0tCg==
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
",
    );
    ok(&ts, &bin, &["apply", "-f", csr.to_str().expect("utf8")]).await;
    assert_eq!(
        ok_quiet(&ts, &bin, &["certificate", "approve", "alice"]).await,
        "certificatesigningrequest.certificates.k8s.io/alice approved\n"
    );
    let cond = ok(
        &ts,
        &bin,
        &[
            "get",
            "csr",
            "alice",
            "-o",
            "jsonpath={.status.conditions[0].type}={.status.conditions[0].status}",
        ],
    )
    .await;
    assert_eq!(cond, "Approved=True");
}
