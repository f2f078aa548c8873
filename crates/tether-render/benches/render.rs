//! Render timings against the peer tools, on fixtures made in a temp dir:
//! `kubectl kustomize` / `helm template` as a subprocess, tether cold (a fresh
//! Renderer each run: copy, tool, parse, checks), in-process and in a render
//! worker process as the agent runs it, and tether cached (a hit). This bench
//! binary is its own render worker: started with `render-worker`, it serves
//! one job, as `tether render-worker` does.
//!
//! `cargo bench -p tether-render --bench render` (needs kubectl and helm on PATH).

#[path = "../tests/common/mod.rs"]
mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tether_model::Source;
use tether_model::Tool;
use tether_render::{RenderRequest, Renderer, RendererConfig, WorkerCommand};

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
            hard_refresh: false,
        })
        .await
        .expect("render succeeds");
    assert!(!out.manifests.is_empty());
    started.elapsed()
}

fn config(worker: bool) -> RendererConfig {
    RendererConfig {
        worker: worker
            .then(|| WorkerCommand::current_exe(&["render-worker"]).expect("own executable")),
        ..RendererConfig::default()
    }
}

/// Median cold (in-process), cold (worker) and cached render, in ms.
async fn time_tether(root: &Path, path: &str, tool: Option<Tool>) -> (f64, f64, f64) {
    let src = common::source(tool);
    let mut cold = Vec::with_capacity(RUNS);
    let mut cold_worker = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let r = Renderer::new(config(false));
        cold.push(render_once(&r, root, path, &src).await);
        let r = Renderer::new(config(true));
        cold_worker.push(render_once(&r, root, path, &src).await);
    }
    let r = Renderer::new(config(true));
    render_once(&r, root, path, &src).await;
    let mut cached = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        cached.push(render_once(&r, root, path, &src).await);
    }
    assert_eq!(r.cache_stats(), (RUNS as u64, 1));
    (median(cold), median(cold_worker), median(cached))
}

fn main() {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "render-worker")
    {
        std::process::exit(match tether_render::worker::serve() {
            c if c == std::process::ExitCode::SUCCESS => 0,
            _ => 2,
        });
    }
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
    let k = rt.block_on(time_tether(t.path(), "overlays/prod", None));

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
    let h = rt.block_on(time_tether(t.path(), "charts/web", None));

    // Jsonnet has no peer binary here: in-process is the baseline.
    std::fs::create_dir_all(t.path().join("jsonnet")).expect("dir");
    std::fs::write(
        t.path().join("jsonnet/main.jsonnet"),
        "[{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'cm-%d' % i}, data: {i: std.toString(i)}} for i in std.range(1, 50)]\n",
    )
    .expect("jsonnet fixture");
    let j = rt.block_on(time_tether(t.path(), "jsonnet", Some(Tool::Jsonnet)));

    println!("runs = {RUNS}, median ms (ratio = tether / peer)\n");
    println!(
        "| case | peer | peer ms | in-process cold ms | ratio | worker cold ms | ratio | worker / in-process | cached ms | ratio |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (case, peer, p, (cold, worker, cached)) in [
        (
            "kustomize base+overlay",
            "kubectl kustomize",
            kustomize_peer,
            k,
        ),
        ("helm chart", "helm template", helm_peer, h),
        ("jsonnet, 50 objects", "tether in-process", j.0, j),
    ] {
        println!(
            "| {case} | {peer} | {p:.2} | {cold:.2} | {:.2} | {worker:.2} | {:.2} | {:.2} | {cached:.4} | {:.5} |",
            cold / p,
            worker / p,
            worker / cold,
            cached / p
        );
    }
}
