//! The official JavaScript Kubernetes client (`@kubernetes/client-node`),
//! driven the way its users drive it: `tests/node/client.mjs` runs with the
//! package `scripts/install-tools.sh` installs in `.tools/node`, against the
//! kubeconfig this harness writes. A failing script's output is shown in full.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{TestSandbox, stderr, stdout, which};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_client_crud_watch_informer_workloads_and_errors() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let package = root.join("../../.tools/node/node_modules/@kubernetes/client-node");
    assert!(
        package.join("package.json").is_file(),
        "{} is missing: run scripts/install-tools.sh (make tools)",
        package.display()
    );
    let node = which("node").expect("node is on PATH (scripts/install-tools.sh needs it too)");
    let ts = TestSandbox::start().await;
    let run = tokio::process::Command::new(node)
        .arg(root.join("tests/node/client.mjs"))
        .arg(&ts.kubeconfig)
        .arg(&package)
        .env("HOME", ts.dir.path())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(Duration::from_secs(120), run).await {
        Ok(out) => out.expect("node runs"),
        Err(_) => panic!("client.mjs did not finish within 120 s"),
    };
    assert!(
        out.status.success() && stdout(&out).contains("all checks passed"),
        "client.mjs failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
}
