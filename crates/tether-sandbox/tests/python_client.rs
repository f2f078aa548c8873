//! The official Python Kubernetes client (PyPI package `kubernetes`, typed
//! models), driven the way its users drive it, against the sandbox. Each test
//! runs one script of `tests/python/` with the venv that
//! `scripts/install-tools.sh` makes at `.tools/python`, passing the kubeconfig
//! this harness writes: the scripts load it with `load_kube_config`, never a
//! hard-coded URL. A failing script's output is shown in full.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{TestSandbox, stderr, stdout};

/// The venv's python; `make tools` (scripts/install-tools.sh) installs it.
fn python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/python/bin/python");
    assert!(
        p.is_file(),
        "{} is missing: run scripts/install-tools.sh (make tools) to install the Python client",
        p.display()
    );
    p
}

async fn run_script(name: &str) {
    let ts = TestSandbox::start().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name);
    let run = tokio::process::Command::new(python())
        .arg(&script)
        .arg(&ts.kubeconfig)
        .env("HOME", ts.dir.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(Duration::from_secs(120), run).await {
        Ok(out) => out.expect("python runs"),
        Err(_) => panic!("{name} did not finish within 120 s"),
    };
    assert!(
        out.status.success(),
        "{name} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("all checks passed"),
        "{name} ended early:\n{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_objects_without_kind_are_created_read_replaced_patched_and_deleted() {
    run_script("crud.py").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_stream_resume_and_continue_a_list() {
    run_script("watch.py").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_workloads_and_events_read_into_typed_models() {
    run_script("workloads.py").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_conflicts_are_api_exceptions_with_status_bodies() {
    run_script("errors.py").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_tokens_rbac_reviews_and_impersonation() {
    run_script("auth.py").await;
}
