//! Helm through the real binary: `helm template`, run on a copy of the chart
//! with Helm's cache, config and data homes in a temp dir, so a render neither
//! reads nor writes the agent user's Helm state.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tether_model::{HelmOptions, Tool};

use crate::paths::{self, shown};
use crate::process::{self, Invocation};
use crate::{Ctx, Manifest, RenderError, yaml};

/// What Chart.yaml says about dependencies, read once per checkout and path.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct ChartInfo {
    /// A `file://` dependency may point anywhere in the repository, so the whole
    /// checkout is copied (and hashed) rather than the chart alone.
    pub file_deps: bool,
    /// Declared dependencies not vendored under `charts/`: `helm dependency
    /// build` fetches them first.
    pub missing_deps: bool,
}

pub(crate) fn chart_info(dir: &Path) -> ChartInfo {
    let Ok(text) = std::fs::read_to_string(dir.join("Chart.yaml")) else {
        return ChartInfo::default();
    };
    // A malformed Chart.yaml is for helm to report, with its own words.
    let Ok(docs) = yaml::parse_yaml_stream(&text, &|_| String::new()) else {
        return ChartInfo::default();
    };
    let Some(deps) = docs
        .first()
        .and_then(|(_, v)| v.get("dependencies"))
        .and_then(Value::as_array)
    else {
        return ChartInfo::default();
    };
    let vendored: Vec<String> = std::fs::read_dir(dir.join("charts"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    let mut info = ChartInfo::default();
    for dep in deps {
        let name = dep.get("name").and_then(Value::as_str).unwrap_or("");
        let repo = dep.get("repository").and_then(Value::as_str).unwrap_or("");
        if repo.starts_with("file://") {
            info.file_deps = true;
        }
        let present = vendored
            .iter()
            .any(|f| f == name || (f.starts_with(&format!("{name}-")) && f.ends_with(".tgz")));
        if !present {
            info.missing_deps = true;
        }
    }
    info
}

pub(crate) struct HelmRequest<'a> {
    pub rel: &'a str,
    pub opts: Option<&'a HelmOptions>,
    pub chart: &'a ChartInfo,
    pub app_name: &'a str,
    pub namespace: Option<&'a str>,
    pub kube_version: Option<&'a str>,
    pub api_versions: &'a [String],
}

/// Values files are relative to the chart directory and must stay inside the
/// repository; returns their canonical paths (helm only reads them).
pub(crate) fn value_files(
    root_canon: &Path,
    rel: &str,
    opts: Option<&HelmOptions>,
) -> Result<Vec<PathBuf>, RenderError> {
    let Some(opts) = opts else {
        return Ok(vec![]);
    };
    opts.value_files
        .iter()
        .map(|vf| {
            let joined = paths::join_inside(rel, vf).ok_or_else(|| RenderError::PathEscapes {
                path: vf.clone(),
                detail: "a values file must be inside the repository".into(),
            })?;
            paths::resolve_inside(root_canon, &joined)
        })
        .collect()
}

/// Whether a values file lies outside the chart directory (then the whole
/// checkout is hashed, so editing it is noticed).
pub(crate) fn values_outside_chart(rel: &str, opts: Option<&HelmOptions>) -> bool {
    opts.is_some_and(|o| {
        o.value_files
            .iter()
            .any(|vf| paths::join_inside(rel, vf).is_none_or(|j| !paths::is_under(&j, rel)))
    })
}

pub(crate) async fn render(
    ctx: &Ctx,
    helm: Option<&Path>,
    req: HelmRequest<'_>,
) -> Result<Vec<Manifest>, RenderError> {
    let Some(helm) = helm else {
        return Err(RenderError::ToolMissing {
            tool: Tool::Helm,
            detail: "`helm` is not on PATH".into(),
        });
    };
    let values = value_files(&ctx.root_canon, req.rel, req.opts)?;
    let tmp = tempfile::Builder::new()
        .prefix("tether-helm-")
        .tempdir()
        .map_err(|e| RenderError::io("a temporary directory", e))?;
    let work = tmp.path().to_path_buf();

    let chart_dir = {
        let root = ctx.root_canon.clone();
        let rel = req.rel.to_string();
        let file_deps = req.chart.file_deps;
        let work = work.clone();
        tokio::task::spawn_blocking(move || -> Result<PathBuf, RenderError> {
            if file_deps {
                let repo = work.join("repo");
                paths::copy_tree(&root, &root, "", &repo)?;
                Ok(repo.join(&rel))
            } else {
                let chart = work.join("chart");
                paths::copy_tree(&root, &root.join(&rel), &rel, &chart)?;
                Ok(chart)
            }
        })
        .await
        .map_err(|e| RenderError::io("copy of the chart", std::io::Error::other(e)))??
    };

    let homes = work.join("helm");
    let env = vec![
        ("HELM_CACHE_HOME", homes.join("cache")),
        ("HELM_CONFIG_HOME", homes.join("config")),
        ("HELM_DATA_HOME", homes.join("data")),
    ];
    let scrub = vec![
        format!("{}/", work.join("repo").display()),
        format!("{}/", work.display()),
        work.display().to_string(),
    ];

    if req.chart.missing_deps {
        process::run(Invocation {
            tool: Tool::Helm,
            program: helm,
            args: vec![
                "dependency".into(),
                "build".into(),
                chart_dir.clone().into(),
            ],
            shown: format!("helm dependency build {}", shown(req.rel)),
            cwd: &work,
            env: env.clone(),
            scrub: scrub.clone(),
            timeout: ctx.timeout,
            max_output: ctx.max_output_size,
        })
        .await?;
    }

    let release = req
        .opts
        .and_then(|o| o.release_name.as_deref())
        .filter(|r| !r.is_empty())
        .unwrap_or(req.app_name);
    let mut args: Vec<OsString> = vec!["template".into(), release.into(), chart_dir.into()];
    let mut shown_cmd = format!("helm template {release} {}", shown(req.rel));
    if let Some(ns) = req.namespace {
        args.push("--namespace".into());
        args.push(ns.into());
        shown_cmd.push_str(&format!(" --namespace {ns}"));
    }
    if let Some(opts) = req.opts {
        for (vf, path) in opts.value_files.iter().zip(&values) {
            args.push("--values".into());
            args.push(path.into());
            shown_cmd.push_str(&format!(" --values {vf}"));
        }
        if let Some(inline) = opts.values.as_deref().filter(|v| !v.trim().is_empty()) {
            let file = work.join("inline-values.yaml");
            std::fs::write(&file, inline).map_err(|e| RenderError::io("inline values", e))?;
            args.push("--values".into());
            args.push(file.into());
            shown_cmd.push_str(" --values <inline values>");
        }
    }
    if req.opts.is_some_and(|o| o.skip_crds) {
        args.push("--skip-crds".into());
        shown_cmd.push_str(" --skip-crds");
    } else {
        args.push("--include-crds".into());
        shown_cmd.push_str(" --include-crds");
    }
    if let Some(v) = req.kube_version {
        args.push("--kube-version".into());
        args.push(v.into());
        shown_cmd.push_str(&format!(" --kube-version {v}"));
    }
    for a in req.api_versions {
        // One flag per value: the flag also splits on commas.
        args.push(format!("--api-versions={a}").into());
    }
    if !req.api_versions.is_empty() {
        shown_cmd.push_str(&format!(" --api-versions …({})", req.api_versions.len()));
    }

    let out = process::run(Invocation {
        tool: Tool::Helm,
        program: helm,
        args,
        shown: shown_cmd,
        cwd: &work,
        env,
        scrub,
        timeout: ctx.timeout,
        max_output: ctx.max_output_size,
    })
    .await?;
    drop(tmp);

    let base = format!("helm template {}", shown(req.rel));
    let sources = yaml::helm_sources(&out);
    let label = |line: u64| match yaml::source_at(&sources, line) {
        Some(src) => format!("{base}: {src} (output line {line})"),
        None => format!("output of {base}"),
    };
    let docs = yaml::parse_yaml_stream(&out, &label)?;
    let mut manifests = Vec::with_capacity(docs.len());
    for (i, (line, value)) in docs.into_iter().enumerate() {
        let origin = match yaml::source_at(&sources, line) {
            Some(src) => format!("{base}: {src}"),
            None => format!("{base} (document {})", i + 1),
        };
        yaml::add_object(&mut manifests, value, origin)?;
    }
    Ok(manifests)
}
