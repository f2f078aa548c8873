//! The read commands: `tether app list`, `get` and `history`.

use std::fmt::Write as _;
use std::process::ExitCode;

use kube::ResourceExt;
use kube::api::ListParams;
use serde_json::{Value, json};
use tether_model::{
    Application, ApplicationStatus, CASCADE_FINALIZER, Condition, HealthCode, SyncCode,
};

use super::{Ctx, Target};
use crate::output::{self, Format, age, or_dash, short, truncate};

/// Longest message shown in a table cell (all of it with `-o wide`).
const MESSAGE_WIDTH: usize = 60;

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    target: Target,
    /// Output format: table, wide (more columns, full messages), json, yaml, or name.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// List the Applications in every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Only Applications whose labels match this selector, e.g. `team=web`.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    selector: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct GetArgs {
    #[command(flatten)]
    target: Target,
    /// The Application (`NAME` in -n, or `NAMESPACE/NAME`).
    name: String,
    /// Output format: table (a summary), wide (the summary, messages in full),
    /// json or yaml (the whole Application object), or name.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    #[command(flatten)]
    target: Target,
    /// The Application (`NAME` in -n, or `NAMESPACE/NAME`).
    name: String,
    /// Output format: table, wide (full revisions and messages, and the objects each sync
    /// changed), json, yaml, or name (the ids).
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

/// The object as `-o json|yaml` shows it: managedFields left out, as kubectl does.
pub fn printable(app: &Application) -> anyhow::Result<Value> {
    let mut v = serde_json::to_value(app)?;
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    Ok(v)
}

fn sync_code(status: Option<&ApplicationStatus>) -> &'static str {
    status
        .and_then(|s| s.sync.as_ref())
        .map(|s| s.status.as_str())
        .unwrap_or(SyncCode::Unknown.as_str())
}

fn health_code(status: Option<&ApplicationStatus>) -> &'static str {
    status
        .and_then(|s| s.health.as_ref())
        .map(|h| h.status.as_str())
        .unwrap_or(HealthCode::Unknown.as_str())
}

fn revision(status: Option<&ApplicationStatus>) -> &str {
    status
        .and_then(|s| s.sync.as_ref())
        .and_then(|s| s.revision.as_deref())
        .unwrap_or("")
}

/// The Ready condition's message, or what else explains the state.
pub fn ready_message(app: &Application) -> String {
    if app.metadata.deletion_timestamp.is_some() {
        return "being deleted".into();
    }
    let Some(status) = app.status.as_ref() else {
        return "not reconciled yet (is the agent running?)".into();
    };
    status
        .condition("Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

fn policy(app: &Application) -> String {
    match app.spec.automated() {
        None => "Manual".into(),
        Some(a) => {
            let mut flags = Vec::new();
            if a.prune {
                flags.push("Prune");
            }
            if a.self_heal {
                flags.push("SelfHeal");
            }
            if a.allow_empty {
                flags.push("AllowEmpty");
            }
            if flags.is_empty() {
                "Auto".into()
            } else {
                format!("Auto ({})", flags.join(", "))
            }
        }
    }
}

pub async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::connect(&args.target).await?;
    ctx.require_crd().await?;
    let api = if args.all_namespaces {
        ctx.api_all()
    } else {
        ctx.api(&ctx.namespace)
    };
    let mut params = ListParams::default();
    if let Some(sel) = &args.selector {
        params = params.labels(sel);
    }
    let mut apps = api.list(&params).await?.items;
    apps.sort_by_key(|a| (a.namespace().unwrap_or_default(), a.name_any()));

    match args.output {
        Format::Json | Format::Yaml => {
            let items = apps
                .iter()
                .map(printable)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
            output::print_structured(args.output, &list)?;
            return Ok(ExitCode::SUCCESS);
        }
        Format::Name => {
            for app in &apps {
                if args.all_namespaces {
                    println!("{}/{}", app.namespace().unwrap_or_default(), app.name_any());
                } else {
                    println!("{}", app.name_any());
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        Format::Table | Format::Wide => {}
    }
    if apps.is_empty() {
        if args.all_namespaces {
            eprintln!("No applications found.");
        } else {
            eprintln!("No applications found in namespace {}.", ctx.namespace);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let wide = args.output == Format::Wide;
    let mut header = Vec::new();
    if args.all_namespaces {
        header.push("NAMESPACE");
    }
    header.extend(["NAME", "SYNC", "HEALTH", "REVISION", "AGE"]);
    if wide {
        header.extend(["REPO", "PATH", "TARGET", "DESTINATION", "POLICY"]);
    }
    header.push("MESSAGE");
    let mut t = output::table(header);
    for app in &apps {
        let status = app.status.as_ref();
        let mut row = Vec::new();
        if args.all_namespaces {
            row.push(app.namespace().unwrap_or_default());
        }
        row.push(app.name_any());
        row.push(sync_code(status).to_string());
        row.push(health_code(status).to_string());
        row.push(or_dash(short(revision(status))));
        let created = app
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string());
        row.push(age(created.as_deref()));
        if wide {
            let src = &app.spec.source;
            row.push(src.repo_url.clone());
            row.push(src.path.clone().unwrap_or_else(|| ".".into()));
            row.push(src.revision.clone().unwrap_or_else(|| "HEAD".into()));
            row.push(destination(app));
            row.push(policy(app));
        }
        let message = ready_message(app);
        row.push(if wide {
            message
        } else {
            truncate(&message, MESSAGE_WIDTH)
        });
        t.add_row(row);
    }
    print!("{}", output::render(t));
    Ok(ExitCode::SUCCESS)
}

fn destination(app: &Application) -> String {
    let ns = app
        .spec
        .destination
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| app.namespace())
        .unwrap_or_default();
    match app
        .spec
        .destination
        .cluster
        .as_deref()
        .filter(|c| !c.is_empty())
    {
        Some(c) => format!("{c}/{ns}"),
        None => ns,
    }
}

pub async fn get(args: GetArgs) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::connect(&args.target).await?;
    let app = ctx.get(&args.name).await?;
    match args.output {
        Format::Json | Format::Yaml => {
            output::print_structured(args.output, &printable(&app)?)?;
        }
        Format::Name => println!("{}", app.name_any()),
        Format::Table | Format::Wide => {
            let wide = args.output == Format::Wide;
            print!("{}", summary(&app, wide));
            print!("{}", notifiers_section(&ctx, &app, wide).await);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The Notifiers that apply to the app (its namespace's, and the agent's
/// cluster-wide ones), by `tether_server::notify::matching`, with whether
/// their deliveries work. Empty when there are none or they cannot be read.
async fn notifiers_section(ctx: &Ctx, app: &Application, wide: bool) -> String {
    use tether_model::Notifier;
    let agent_ns = std::env::var("TETHER_NAMESPACE").unwrap_or_else(|_| "tether".into());
    let app_ns = app.namespace().unwrap_or_default();
    let mut all: Vec<Notifier> = Vec::new();
    let mut namespaces = vec![app_ns.clone()];
    if agent_ns != app_ns {
        namespaces.push(agent_ns.clone());
    }
    for ns in namespaces {
        let api: kube::Api<Notifier> = kube::Api::namespaced(ctx.cluster.client().clone(), &ns);
        match api.list(&ListParams::default()).await {
            Ok(list) => all.extend(list.items),
            // No CRD yet (no agent has started) or no permission: nothing to show.
            Err(e) => tracing::debug!("listing Notifiers in {ns}: {e}"),
        }
    }
    let found = tether_server::notify::matching(app, &all, &agent_ns);
    if found.is_empty() {
        return String::new();
    }
    let mut t = output::table(["NOTIFIER", "TYPE", "EVENTS", "READY", "MESSAGE"]);
    for n in found {
        let events = if n.spec.events.is_empty() {
            "all".to_string()
        } else {
            n.spec
                .events
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        let ready = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
        let message = ready.map(|c| c.message.as_str()).unwrap_or_default();
        t.add_row([
            format!("{}/{}", n.namespace().unwrap_or_default(), n.name_any()),
            n.spec.target.as_str().to_string(),
            if n.spec.suspend {
                format!("{events} (suspended)")
            } else {
                events
            },
            or_dash(ready.map(|c| c.status.as_str()).unwrap_or_default()),
            or_dash(&if wide {
                message.to_string()
            } else {
                truncate(message, MESSAGE_WIDTH)
            }),
        ]);
    }
    format!("\nNotifiers:\n{}", output::render(t))
}

/// `tether app get`'s readable summary.
pub fn summary(app: &Application, wide: bool) -> String {
    let cut = |s: &str, n: usize| if wide { s.to_string() } else { truncate(s, n) };
    let mut out = String::new();
    let status = app.status.as_ref();
    let src = &app.spec.source;
    output::field(
        &mut out,
        "Name",
        &format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any()),
    );
    output::field(&mut out, "Repo", &src.repo_url);
    output::field(
        &mut out,
        "Target",
        src.revision.as_deref().unwrap_or("HEAD"),
    );
    output::field(&mut out, "Path", src.path.as_deref().unwrap_or("."));
    output::field(
        &mut out,
        "Tool",
        src.tool.map(|t| t.as_str()).unwrap_or("(detected)"),
    );
    if let Some(secret) = &src.secret_ref {
        output::field(&mut out, "Credentials", &format!("Secret {secret}"));
    }
    output::field(
        &mut out,
        "Destination",
        &format!("namespace {}", destination(app)),
    );
    let mut sync_policy = policy(app);
    if let Some(p) = &app.spec.sync_policy
        && !p.sync_options.is_empty()
    {
        sync_policy.push_str(&format!("; options: {}", p.sync_options.join(", ")));
    }
    output::field(&mut out, "Sync Policy", &sync_policy);
    if app.spec.suspend {
        output::field(&mut out, "Suspended", "yes: not refreshed or synced");
    }
    let rev = revision(status);
    let sync = if rev.is_empty() {
        sync_code(status).to_string()
    } else {
        format!("{} to {}", sync_code(status), short(rev))
    };
    output::field(&mut out, "Sync Status", &sync);
    let health_msg = status
        .and_then(|s| s.health.as_ref())
        .map(|h| h.message.clone())
        .unwrap_or_default();
    if health_msg.is_empty() {
        output::field(&mut out, "Health Status", health_code(status));
    } else {
        output::field(
            &mut out,
            "Health Status",
            &format!("{} ({})", health_code(status), cut(&health_msg, 100)),
        );
    }
    let message = ready_message(app);
    if !message.is_empty() {
        // Multi-line (a tool's error output): further lines indented.
        output::field_text(&mut out, "Message", &cut(&message, 120));
    }
    if let Some(at) = status.and_then(|s| s.reconciled_at.as_deref()) {
        output::field(&mut out, "Reconciled", &format!("{} ago", age(Some(at))));
    }
    let created = app
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.to_string());
    output::field(
        &mut out,
        "Created",
        &format!("{} ago", age(created.as_deref())),
    );
    if let Some(ts) = &app.metadata.deletion_timestamp {
        let cascade = app.finalizers().iter().any(|f| f == CASCADE_FINALIZER);
        let how = if cascade {
            "its objects are being deleted with it"
        } else {
            "its objects are kept"
        };
        output::field(
            &mut out,
            "Deleting",
            &format!("since {} ago; {how}", age(Some(&ts.0.to_string()))),
        );
    }

    let Some(status) = status else {
        out.push_str("\nNo status yet: the agent has not reconciled this Application (is `tether agent` running?)\n");
        return out;
    };

    if !status.conditions.is_empty() {
        out.push('\n');
        let mut t = output::table(["CONDITION", "STATUS", "REASON", "AGE", "MESSAGE"]);
        for c in &status.conditions {
            t.add_row(condition_row(c, wide));
        }
        out.push_str(&output::render(t));
    }

    if let Some(line) = resource_counts(status) {
        let _ = writeln!(out, "\n{:<16}{line}", "Resources:");
    }
    if !status.resources.is_empty() {
        out.push('\n');
        let mut header = vec!["KIND", "NAMESPACE", "NAME", "SYNC", "HEALTH", "MESSAGE"];
        if wide {
            header.insert(0, "GROUP");
        }
        let mut t = output::table(header);
        for r in &status.resources {
            let health = r.health.as_ref();
            let mut message = r.message.clone();
            // Drift says more than "spec.replicas differs": the values and who.
            if let Some(d) = &r.drift {
                let fields: Vec<String> = d
                    .fields
                    .iter()
                    .map(|f| format!("{} {} → {}", f.path, or_dash(&f.git), or_dash(&f.live)))
                    .collect();
                message = if fields.is_empty() {
                    format!("drift: {}", d.manager)
                } else {
                    format!("drift: {} by {}", fields.join(", "), d.manager)
                };
            }
            if let Some(h) = health.filter(|h| !h.message.is_empty()) {
                if message.is_empty() {
                    message = h.message.clone();
                } else {
                    message = format!("{message}; {}", h.message);
                }
            }
            if r.requires_pruning && message.is_empty() {
                message = "not in Git: requires pruning".into();
            }
            let mut row = vec![
                r.kind.clone(),
                or_dash(&r.namespace),
                r.name.clone(),
                r.status.as_str().to_string(),
                health.map(|h| h.status.as_str()).unwrap_or("-").to_string(),
                cut(&message, MESSAGE_WIDTH),
            ];
            if wide {
                row.insert(0, or_dash(&r.group));
            }
            t.add_row(row);
        }
        out.push_str(&output::render(t));
    }

    if let Some(op) = &status.operation_state {
        out.push('\n');
        let took = match (&op.finished_at, op.started_at.parse::<jiff::Timestamp>()) {
            (Some(end), Ok(start)) => end
                .parse::<jiff::Timestamp>()
                .ok()
                .map(|end| {
                    let secs = (end.as_second() - start.as_second()).max(0) as u64;
                    format!(", took {}", output::duration(secs))
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{:<16}{} {} by {}, started {} ago{took}",
            "Last Sync:",
            op.phase.as_str(),
            op.revision.as_deref().map(short).unwrap_or("-"),
            output::line(&or_dash(&op.initiator)),
            age(Some(&op.started_at)),
        );
        if !op.message.is_empty() {
            output::field_text(&mut out, "Sync Message", &cut(&op.message, 120));
        }
        if op.retry_count > 0 {
            let _ = writeln!(out, "{:<16}{}", "Retries:", op.retry_count);
        }
        if op.transient_retries > 0 {
            let _ = writeln!(
                out,
                "{:<16}{} (after cluster errors)",
                "Retries:", op.transient_retries
            );
        }
        if !op.results.is_empty() {
            out.push('\n');
            out.push_str(&results_table(&op.results, wide));
            out.push_str(&results_omitted(op, app));
        }
    }
    out
}

/// `10000 (9998 synced and healthy; 2 need attention, listed below)`: the
/// status lists only objects that are not Synced and Healthy, so say how
/// many are fine. None when the app has no objects.
fn resource_counts(status: &ApplicationStatus) -> Option<String> {
    let Some(c) = &status.resource_counts else {
        // Written by an older agent: every object is listed.
        let n = status.resources.len();
        return (n > 0).then(|| n.to_string());
    };
    if c.total == 0 {
        return None;
    }
    let attention = c.total - c.fine;
    let mut line = format!("{} ({} synced and healthy", c.total, c.fine);
    if attention > 0 {
        let _ = write!(line, "; {attention} need attention");
        if c.not_listed > 0 {
            let _ = write!(
                line,
                ", {} listed below, {} more not shown (tether app diff, tether audit)",
                attention - c.not_listed,
                c.not_listed
            );
        } else {
            line.push_str(", listed below");
        }
    }
    line.push(')');
    Some(line)
}

/// A line after a capped results table: how many more, and where they are.
pub fn results_omitted(op: &tether_model::OperationState, app: &Application) -> String {
    if op.results_omitted == 0 {
        return String::new();
    }
    format!(
        "… and {} more object(s) (tether audit --app {}/{})\n",
        op.results_omitted,
        app.namespace().unwrap_or_default(),
        app.name_any()
    )
}

fn condition_row(c: &Condition, wide: bool) -> Vec<String> {
    let message = if wide {
        c.message.clone()
    } else {
        truncate(&c.message, MESSAGE_WIDTH)
    };
    vec![
        c.type_.clone(),
        c.status.clone(),
        or_dash(&c.reason),
        c.last_transition_time
            .as_deref()
            .map(|t| age(Some(t)))
            .unwrap_or_else(|| "-".into()),
        message,
    ]
}

/// What one sync did per object.
pub fn results_table(results: &[tether_model::ResourceResult], wide: bool) -> String {
    let mut t = output::table([
        "KIND",
        "NAMESPACE",
        "NAME",
        "WAVE",
        "ACTION",
        "RESULT",
        "MESSAGE",
    ]);
    for r in results {
        let kind = if wide && !r.group.is_empty() {
            format!("{}.{}", r.kind, r.group)
        } else {
            r.kind.clone()
        };
        t.add_row([
            kind,
            or_dash(&r.namespace),
            r.name.clone(),
            r.wave.map(|w| w.to_string()).unwrap_or_else(|| "-".into()),
            r.action.clone(),
            r.status.clone(),
            if wide {
                r.message.clone()
            } else {
                truncate(&r.message, MESSAGE_WIDTH)
            },
        ]);
    }
    output::render(t)
}

pub async fn history(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::connect(&args.target).await?;
    let app = ctx.get(&args.name).await?;
    let history = app
        .status
        .as_ref()
        .map(|s| s.history.clone())
        .unwrap_or_default();
    match args.output {
        Format::Json | Format::Yaml => {
            output::print_structured(args.output, &history)?;
            return Ok(ExitCode::SUCCESS);
        }
        Format::Name => {
            for h in &history {
                println!("{}", h.id);
            }
            return Ok(ExitCode::SUCCESS);
        }
        Format::Table | Format::Wide => {}
    }
    if history.is_empty() {
        eprintln!(
            "No sync history for {}/{} yet.",
            app.namespace().unwrap_or_default(),
            app.name_any()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let wide = args.output == Format::Wide;
    let mut t = output::table([
        "ID",
        "REVISION",
        "DATE",
        "INITIATOR",
        "RESULT",
        "TOOK",
        "SUMMARY",
        "AUTHOR",
        "MESSAGE",
    ]);
    for h in &history {
        let (author, message) = match &h.commit {
            Some(c) => (c.author.clone(), c.message.clone()),
            None => (String::new(), String::new()),
        };
        let message = if wide {
            message.lines().next().unwrap_or("").to_string()
        } else {
            truncate(&message, 50)
        };
        t.add_row([
            h.id.to_string(),
            if wide {
                h.revision.clone()
            } else {
                short(&h.revision).to_string()
            },
            h.finished_at
                .clone()
                .unwrap_or_else(|| h.started_at.clone()),
            or_dash(&h.initiator),
            h.result.as_str().to_string(),
            h.duration_ms
                .map(|ms| {
                    if ms < 1000 {
                        format!("{ms}ms")
                    } else {
                        format!("{:.1}s", ms as f64 / 1000.0)
                    }
                })
                .unwrap_or_else(|| "-".into()),
            or_dash(&h.summary),
            or_dash(&author),
            or_dash(&message),
        ]);
    }
    print!("{}", output::render(t));
    // Wide: what each sync changed, object by object.
    if wide {
        for h in history.iter().filter(|h| !h.changes.is_empty()) {
            println!("\n#{} changed:", h.id);
            for line in &h.changes {
                println!("  {}", output::line(line));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
