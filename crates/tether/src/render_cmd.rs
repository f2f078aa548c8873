//! `tether render`: render a local directory the way the agent would (like
//! `flux build` or `argocd app manifests --local`), without a cluster.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use serde_json::Value;
use tether_model::Source;
use tether_render::{RenderRequest, Renderer};

use crate::app::ToolArgs;

/// `-o` for `tether render`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RenderFormat {
    /// YAML documents separated by `---`, each preceded by a `# Source:` comment.
    #[default]
    Yaml,
    /// One JSON array of the objects.
    Json,
}

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// Directory to render. Paths inside it (Helm values files, Jsonnet libraries)
    /// resolve within the enclosing Git repository, as they would in the agent.
    pub path: PathBuf,
    #[command(flatten)]
    pub tool: Box<ToolArgs>,
    /// Namespace passed to the tool (Helm's `.Release.Namespace`, Kustomize's default)
    /// [default: none; the agent uses the Application's destination namespace].
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Kubernetes version the render targets (Helm's `.Capabilities.KubeVersion`), e.g. v1.35.0.
    #[arg(long, value_name = "VERSION")]
    pub kube_version: Option<String>,
    /// An API version the render may assume is served (Helm's `.Capabilities.APIVersions`),
    /// e.g. `monitoring.coreos.com/v1`; repeatable.
    #[arg(long, value_name = "GROUP/VERSION")]
    pub api_versions: Vec<String>,
    /// Output format: yaml (documents separated by `---`) or json (a list).
    #[arg(short = 'o', long, value_enum, default_value_t = RenderFormat::Yaml)]
    pub output: RenderFormat,
}

/// The top of the Git work tree holding `dir`, when there is one.
fn git_toplevel(dir: &Path) -> Option<PathBuf> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let top = String::from_utf8(out.stdout).ok()?;
    let top = top.trim_end_matches(['\n', '\r']);
    if top.is_empty() {
        return None;
    }
    std::fs::canonicalize(top).ok()
}

/// `to` relative to the directory `from` (both absolute), with `..` as needed.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// A values file given on the command line: kept as is when it names a file in
/// the chart directory, else taken relative to the current directory and
/// expressed relative to the chart (as `helm template -f` users expect).
fn values_file(chart: &Path, given: &str) -> String {
    if chart.join(given).is_file() {
        return given.to_string();
    }
    match std::fs::canonicalize(given) {
        Ok(abs) => relative(chart, &abs).to_string_lossy().into_owned(),
        Err(_) => given.to_string(),
    }
}

pub async fn run(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let dir = std::fs::canonicalize(&args.path)
        .with_context(|| format!("cannot read {}", args.path.display()))?;
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", args.path.display());
    }
    let root = git_toplevel(&dir).unwrap_or_else(|| dir.clone());
    let rel = dir
        .strip_prefix(&root)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();

    let mut tool = (*args.tool).clone();
    tool.helm_values_file = tool
        .helm_values_file
        .iter()
        .map(|f| values_file(&dir, f))
        .collect();
    let mut source = Source {
        path: (!rel.is_empty()).then(|| rel.clone()),
        ..Default::default()
    };
    tool.apply_to(&mut source)?;
    let app_name = tool
        .release_name
        .clone()
        .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "render".into());

    let renderer = Renderer::new(crate::render_limits::RenderLimitArgs::default().config());
    let req = RenderRequest {
        root: &root,
        path: &rel,
        source: &source,
        app_name: &app_name,
        namespace: args.namespace.as_deref(),
        kube_version: args.kube_version.as_deref(),
        api_versions: &args.api_versions,
        hard_refresh: false,
    };
    let rendered = renderer
        .render(&req)
        .await
        .map_err(|e| anyhow!("rendering {}: {e}", args.path.display()))?;

    let mut out = String::new();
    match args.output {
        RenderFormat::Json => {
            let objects: Vec<&Value> = rendered.manifests.iter().map(|m| &m.object).collect();
            out.push_str(&crate::output::json(&objects)?);
        }
        RenderFormat::Yaml => {
            for (i, m) in rendered.manifests.iter().enumerate() {
                if i > 0 {
                    out.push_str("---\n");
                }
                if !m.origin.is_empty() {
                    // A file name with a newline must not end the comment and
                    // inject YAML of its own.
                    out.push_str(&format!("# Source: {}\n", crate::output::line(&m.origin)));
                }
                // output::yaml: bidi controls escaped too (as a JSON document).
                out.push_str(&crate::output::yaml(&m.object)?);
                if !out.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
    }
    print!("{out}");
    tracing::debug!(
        tool = rendered.tool.as_str(),
        objects = rendered.manifests.len(),
        "rendered"
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("/r/chart"), Path::new("/r/chart/v.yaml")),
            PathBuf::from("v.yaml")
        );
        assert_eq!(
            relative(Path::new("/r/chart"), Path::new("/r/env/v.yaml")),
            PathBuf::from("../env/v.yaml")
        );
    }
}
