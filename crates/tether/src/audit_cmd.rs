//! `tether audit`: read the agent's durable audit log.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tether_audit::{AuditLog, Query};

use crate::output::{self, Format};

/// Who changed what, when, and through which commit: every sync, per-object change,
/// prune and error the agent recorded, oldest first.
///
/// Examples:
///   tether audit --app web --since 1h
///   tether audit --object "deployment web" --since 2026-11-17 --until 2026-11-18
///   tether audit --kind sync --kind prune -o json
#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// The agent's state dir, where `audit.sqlite` lives.
    #[arg(long, env = "TETHER_AGENT_STATE_DIR", default_value = ".tether/agent")]
    state_dir: PathBuf,
    /// Application: `NAME` (any namespace) or `NAMESPACE/NAME`.
    #[arg(long)]
    app: Option<String>,
    /// Object: words that must all appear, e.g. `deployment web`.
    #[arg(long)]
    object: Option<String>,
    /// Actor: `auto`, `user:alice`, `self-heal`, or a prefix ending in `*`.
    #[arg(long)]
    actor: Option<String>,
    /// Kind of event (repeatable): sync, object-change, drift, self-heal, rollback, prune, error,
    /// notification.
    #[arg(long = "kind")]
    kinds: Vec<String>,
    /// From: an age (`1h`, `30m`, `7d`) or a date or time (`2026-11-17`, RFC 3339; UTC when no offset).
    #[arg(long)]
    since: Option<String>,
    /// Until (exclusive), in the same forms as --since.
    #[arg(long)]
    until: Option<String>,
    /// Only the newest N records.
    #[arg(long)]
    limit: Option<usize>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

pub async fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let now = jiff::Timestamp::now();
    let when = |t: &Option<String>| -> anyhow::Result<Option<jiff::Timestamp>> {
        t.as_deref()
            .map(|t| tether_audit::parse_since(t, now))
            .transpose()
            .map_err(anyhow::Error::from)
    };
    let query = Query {
        app: args.app.clone(),
        object: args.object.clone(),
        actor: args.actor.clone(),
        kinds: args
            .kinds
            .iter()
            .map(|k| tether_audit::parse_kind(k))
            .collect::<Result<_, _>>()?,
        since: when(&args.since)?,
        until: when(&args.until)?,
        limit: args.limit,
        ..Query::default()
    };
    // Read-only: a running agent's in-progress syncs must not be marked interrupted.
    let log = AuditLog::open_read_only(&args.state_dir)
        .with_context(|| format!("opening the audit log in {}", args.state_dir.display()))?;
    let records = tokio::task::spawn_blocking(move || log.query(&query)).await??;
    if output::print_structured(args.output, &records)? {
        return Ok(ExitCode::SUCCESS);
    }
    if args.output == Format::Name {
        for r in &records {
            println!("{}", r.id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let wide = args.output == Format::Wide;
    let mut t = output::table([
        "TIME", "APP", "KIND", "ACTOR", "OBJECT", "REVISION", "OUTCOME", "MESSAGE",
    ]);
    for r in &records {
        let time = r.time.strftime("%Y-%m-%d %H:%M:%S").to_string();
        let revision = match (&r.revision, &r.commit_message) {
            (Some(rev), Some(msg)) if wide => format!("{} {msg}", output::short(rev)),
            (Some(rev), _) => output::short(rev).to_string(),
            _ => "-".into(),
        };
        let message = if wide {
            r.message.clone()
        } else {
            output::truncate(&r.message, 60)
        };
        t.add_row(vec![
            time,
            r.app.clone(),
            r.kind.as_str().to_string(),
            r.actor.clone(),
            r.object.clone().unwrap_or_else(|| "-".into()),
            revision,
            r.outcome.clone(),
            message,
        ]);
    }
    if records.is_empty() {
        eprintln!("no matching records");
    } else {
        print!("{}", output::render(t));
    }
    Ok(ExitCode::SUCCESS)
}
