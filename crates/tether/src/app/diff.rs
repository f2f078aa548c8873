//! `tether app diff`: what a sync would change, computed here with the
//! agent's own pipeline (Source → Render → Plan), without applying anything.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use kube::ResourceExt;
use serde_json::{Value, json};
use tether_engine::Engine;
use tether_plan::plan::{Action, Step};
use tether_render::Renderer;
use tether_source::Sources;

use super::{Ctx, EXIT_DIFF, Target};
use crate::output::{self, Format, short};

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    #[command(flatten)]
    target: Target,
    /// The Application (`NAME` in -n, or `NAMESPACE/NAME`).
    name: String,
    /// Exit with code 3 when there is a difference (the default); `--exit-code=false`
    /// exits 0 whenever the diff could be computed.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    exit_code: bool,
    /// Output format: table (unified diffs, the default), json or yaml (a structured
    /// list of changes).
    #[arg(short = 'o', long, value_parser = output::formats(&["table", "json", "yaml"]), default_value = "table")]
    output: Format,
}

/// Where the CLI keeps its Git cache: `$TETHER_STATE_DIR/cli/git`, else
/// `$XDG_CACHE_HOME/tether/git` or `~/.cache/tether/git`, else the temp dir.
/// It is separate from the agent's, so that both can run on one machine.
fn cache_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(state) = env("TETHER_STATE_DIR") {
        return state.join("cli").join("git");
    }
    if let Some(cache) = env("XDG_CACHE_HOME") {
        return cache.join("tether").join("git");
    }
    if let Some(home) = env("HOME") {
        return home.join(".cache").join("tether").join("git");
    }
    std::env::temp_dir().join("tether-cli").join("git")
}

/// `apps/Deployment demo/web`, `Service demo/web`, `Namespace demo`.
fn title(step: &Step) -> String {
    let r = &step.object;
    let kind = if r.group.is_empty() {
        r.kind.clone()
    } else {
        format!("{}/{}", r.group, r.kind)
    };
    if r.namespace.is_empty() {
        format!("{kind} {}", r.name)
    } else {
        format!("{kind} {}/{}", r.namespace, r.name)
    }
}

/// A step that makes the app differ from Git.
fn differs(step: &Step) -> bool {
    match step.action {
        Action::Unchanged => false,
        Action::PruneSkipped => step.requires_pruning,
        // Another app's object is not what this app's Git says it should be.
        Action::Create | Action::Update | Action::Prune | Action::Shared => true,
    }
}

fn what(step: &Step) -> &'static str {
    match step.action {
        Action::Create => "to create",
        Action::Update => "to update",
        Action::Prune => "to prune",
        Action::PruneSkipped => "not in Git, kept",
        Action::Unchanged => "unchanged",
        Action::Shared => "managed by another app, not applied",
    }
}

fn colour(diff: &str) -> String {
    let mut out = String::with_capacity(diff.len() + 64);
    for line in diff.lines() {
        let code = if line.starts_with("+++") || line.starts_with("---") {
            "1"
        } else if line.starts_with('+') {
            "32"
        } else if line.starts_with('-') {
            "31"
        } else if line.starts_with("@@") {
            "36"
        } else {
            ""
        };
        if code.is_empty() {
            out.push_str(line);
        } else {
            out.push_str(&format!("\x1b[{code}m{line}\x1b[0m"));
        }
        out.push('\n');
    }
    out
}

pub async fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::connect(&args.target).await?;
    let app = ctx.get(&args.name).await?;
    let key = format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any());
    let engine = Engine {
        cluster: ctx.cluster.clone(),
        renderer: Renderer::new(tether_render::RendererConfig {
            max_objects: tether_engine::limits::DEFAULT_MAX_OBJECTS,
            ..crate::render_limits::RenderLimitArgs::default().config()
        }),
        // The user's own disk, read on the user's behalf: local repositories are fine here.
        sources: Sources::with_options(cache_dir(), tether_source::SourceOptions::local()),
        poll_interval: Duration::from_secs(30),
        history_limit: 10,
        progress_recheck: Duration::from_secs(2),
        audit: None,
        live_cache: None,
        resync_interval: Duration::ZERO,
        pacing: Default::default(),
        events: None,
        heals: Default::default(),
        sinks: Default::default(),
    };
    let preview = engine
        .preview(&app)
        .await
        .map_err(|e| anyhow!("computing the diff of {key}: {e}"))?;
    let plan = &preview.plan;
    let changed: Vec<&Step> = plan.steps.iter().filter(|s| differs(s)).collect();
    let has_diff = !changed.is_empty() || plan.prune_blocked.is_some();
    let code = if has_diff && args.exit_code {
        ExitCode::from(EXIT_DIFF)
    } else {
        ExitCode::SUCCESS
    };

    if matches!(args.output, Format::Json | Format::Yaml) {
        let changes: Vec<Value> = changed
            .iter()
            .map(|s| {
                let fields: Vec<Value> = s
                    .changes
                    .iter()
                    .map(|c| json!({"path": c.path, "live": c.live, "desired": c.desired}))
                    .collect();
                json!({
                    "group": s.object.group,
                    "kind": s.object.kind,
                    "namespace": s.object.namespace,
                    "name": s.object.name,
                    "action": s.action.as_str(),
                    "reason": s.reason,
                    "wave": s.wave,
                    "fields": fields,
                    "diff": s.diff,
                })
            })
            .collect();
        let doc = json!({
            "application": key,
            "revision": preview.revision,
            "inSync": !has_diff,
            "summary": plan.summary(),
            "pruneBlocked": plan.prune_blocked,
            "changes": changes,
        });
        output::print_structured(args.output, &doc)?;
        return Ok(code);
    }

    let tty = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut out = String::new();
    for step in &changed {
        // Names, reasons and the YAML diff come from the repository and the
        // cluster: escaped (the diff keeps its lines) before any colour is added.
        out.push_str(&format!("===== {} ======\n", output::line(&title(step))));
        out.push_str(&format!(
            "# {}: {}\n",
            what(step),
            output::line(&step.reason)
        ));
        if !step.diff.is_empty() {
            let mut diff = output::text(&step.diff).into_owned();
            if !diff.ends_with('\n') {
                diff.push('\n');
            }
            out.push_str(&if tty { colour(&diff) } else { diff });
        }
        out.push('\n');
    }
    print!("{out}");
    if let Some(blocked) = &plan.prune_blocked {
        eprintln!("warning: {}", output::line(blocked));
    }
    if has_diff {
        eprintln!(
            "{key} differs from Git at {}: {}",
            short(&preview.revision),
            plan.summary()
        );
    } else {
        eprintln!("{key} is in sync with Git at {}", short(&preview.revision));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_model::ObjectRef;
    use tether_plan::order::Stage;

    fn step(group: &str, kind: &str, ns: &str, action: Action, requires_pruning: bool) -> Step {
        Step {
            object: ObjectRef::new(group, kind, ns, "web"),
            action,
            reason: String::new(),
            diff: String::new(),
            changes: Vec::new(),
            stage: Stage::Main,
            wave: 0,
            desired: None,
            requires_pruning,
            claim: None,
            fold: Vec::new(),
        }
    }

    #[test]
    fn titles_read_like_argocd() {
        assert_eq!(
            title(&step("apps", "Deployment", "demo", Action::Update, false)),
            "apps/Deployment demo/web"
        );
        assert_eq!(
            title(&step("", "Namespace", "", Action::Create, false)),
            "Namespace web"
        );
    }

    #[test]
    fn only_real_differences_count() {
        assert!(!differs(&step(
            "",
            "ConfigMap",
            "d",
            Action::Unchanged,
            false
        )));
        assert!(differs(&step("", "ConfigMap", "d", Action::Update, false)));
        assert!(differs(&step(
            "",
            "ConfigMap",
            "d",
            Action::PruneSkipped,
            true
        )));
        assert!(!differs(&step(
            "",
            "ConfigMap",
            "d",
            Action::PruneSkipped,
            false
        )));
    }

    #[test]
    fn colours_mark_added_and_removed_lines() {
        let c = colour("--- live\n+++ desired\n-a\n+b\n c\n");
        assert!(c.contains("\x1b[31m-a\x1b[0m") && c.contains("\x1b[32m+b\x1b[0m"));
        assert!(c.contains("\n c\n"));
    }
}
