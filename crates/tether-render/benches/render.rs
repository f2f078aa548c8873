//! Render timings against the peer tools, on fixtures made in a temp dir:
//! `kubectl kustomize` / `helm template` as a subprocess, tether cold (a fresh
//! Renderer each run: copy, tool, parse, checks) and tether cached (a hit).
//!
//! `cargo bench -p tether-render --bench render` (needs kubectl and helm on PATH).

#[path = "../tests/common/mod.rs"]
mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tether_model::Source;
use tether_render::{RenderRequest, Renderer, RendererConfig};

const RUNS: usize = 20;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    let mid = v.len() / 2;
    let d = if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2
    } else {
        v[mid]
    };
    d.as_secs_f64() * 1000.0
}

fn time_peer(program: &str, args: &[OsString], env: &[(&str, PathBuf)]) -> f64 {
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let mut cmd = Command::new(program);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("peer tool runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        times.push(started.elapsed());
    }
    median(times)
}

async fn render_once(r: &Renderer, root: &Path, path: &str, src: &Source) -> Duration {
    let started = Instant::now();
    let out = r
        .render(&RenderRequest {
            root,
            path,
            source: src,
            app_name: "web",
            namespace: Some("demo"),
            kube_version: None,
            api_versions: &[],
        })
        .await
        .expect("render succeeds");
    assert!(!out.manifests.is_empty());
    started.elapsed()
}

async fn time_tether(root: &Path, path: &str) -> (f64, f64) {
    let src = common::source(None);
    let mut cold = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let r = Renderer::new(RendererConfig::default());
        cold.push(render_once(&r, root, path, &src).await);
    }
    let r = Renderer::new(RendererConfig::default());
    render_once(&r, root, path, &src).await;
    let mut cached = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        cached.push(render_once(&r, root, path, &src).await);
    }
    assert_eq!(r.cache_stats(), (RUNS as u64, 1));
    (median(cold), median(cached))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let t = tempfile::tempdir().expect("temp dir");
    common::kustomize_repo(t.path());
    common::helm_repo(t.path());
    let homes = tempfile::tempdir().expect("temp dir");
    let helm_env = [
        ("HELM_CACHE_HOME", homes.path().join("c")),
        ("HELM_CONFIG_HOME", homes.path().join("f")),
        ("HELM_DATA_HOME", homes.path().join("d")),
    ];

    let kustomize_peer = time_peer(
        "kubectl",
        &["kustomize".into(), t.path().join("overlays/prod").into()],
        &[],
    );
    let (k_cold, k_cached) = rt.block_on(time_tether(t.path(), "overlays/prod"));

    let helm_peer = time_peer(
        "helm",
        &[
            "template".into(),
            "web".into(),
            t.path().join("charts/web").into(),
            "--namespace".into(),
            "demo".into(),
            "--include-crds".into(),
        ],
        &helm_env,
    );
    let (h_cold, h_cached) = rt.block_on(time_tether(t.path(), "charts/web"));

    println!("runs = {RUNS}, median ms (ratio = tether / peer)\n");
    println!("| case | peer | peer ms | tether cold ms | ratio | tether cached ms | ratio |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (case, peer, p, cold, cached) in [
        (
            "kustomize base+overlay",
            "kubectl kustomize",
            kustomize_peer,
            k_cold,
            k_cached,
        ),
        ("helm chart", "helm template", helm_peer, h_cold, h_cached),
    ] {
        println!(
            "| {case} | {peer} | {p:.2} | {cold:.2} | {:.2} | {cached:.4} | {:.5} |",
            cold / p,
            cached / p
        );
    }
}
