//! `tether app sync` and `tether app wait`: ask the agent to act, then follow
//! the Application's status until it is done.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tether_model::{
    Application, HealthCode, OperationPhase, OperationState, REFRESH_ANNOTATION,
    REFRESH_BY_ANNOTATION, SyncCode,
};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{Ctx, Target, parse_timeout, show_duration};
use crate::output::{self, Format, short, truncate};

/// How often the status is read while waiting.
const POLL: Duration = Duration::from_millis(300);
/// How long an app must stay Degraded (for its current spec) before `wait --health` gives up early.
const DEGRADED_GRACE: Duration = Duration::from_secs(5);

#[derive(clap::Args, Debug)]
pub struct SyncArgs {
    #[command(flatten)]
    target: Target,
    /// The Application (`NAME` in -n, or `NAMESPACE/NAME`).
    name: String,
    /// How long to wait for the agent to finish the sync, e.g. 30s, 5m.
    #[arg(long, default_value = "120s", value_parser = parse_timeout, value_name = "DURATION")]
    timeout: Duration,
    /// Only request the sync; do not wait for it (follow with `tether app wait`).
    #[arg(long = "async")]
    no_wait: bool,
    /// Who asks, recorded as the sync's initiator `user:<name>` [default: $USER].
    #[arg(long = "as", value_name = "USER")]
    as_user: Option<String>,
    /// Render the app again even if its commit's result, or its failure, is cached (as
    /// Argo CD's hard refresh). Use it after fixing what a render depends on outside Git,
    /// such as a missing tool.
    #[arg(long)]
    hard_refresh: bool,
    /// Output format of the result: table (the operation and its per-object results),
    /// wide (nothing truncated), json or yaml (the operation state).
    #[arg(short = 'o', long, value_parser = output::formats(&["table", "wide", "json", "yaml"]), default_value = "table")]
    output: Format,
}

#[derive(clap::Args, Debug)]
pub struct WaitArgs {
    #[command(flatten)]
    target: Target,
    /// The Application (`NAME` in -n, or `NAMESPACE/NAME`).
    name: String,
    /// Wait until the app is Synced (its current spec reconciled, no sync running).
    #[arg(long)]
    sync: bool,
    /// Wait until the app is Healthy; give up early if it stays Degraded.
    #[arg(long)]
    health: bool,
    /// How long to wait, e.g. 30s, 5m.
    #[arg(long, default_value = "300s", value_parser = parse_timeout, value_name = "DURATION")]
    timeout: Duration,
}

/// A spinner on a terminal; otherwise one plain line on stderr per change.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    last: String,
}

impl Progress {
    pub fn new() -> Progress {
        let bar = output::stderr_is_tty().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            last: String::new(),
        }
    }

    pub fn update(&mut self, message: &str) {
        if message == self.last {
            return;
        }
        self.last = message.to_string();
        // Progress lines carry status messages: one line, escaped.
        let message = output::line(message);
        match &self.bar {
            Some(bar) => bar.set_message(message.into_owned()),
            None => eprintln!("{message}"),
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `user:<name>` for the refresh-by annotation.
fn initiator(as_user: Option<&str>) -> String {
    let name = as_user
        .map(str::to_string)
        .filter(|n| !n.trim().is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .or_else(|| std::env::var("LOGNAME").ok().filter(|u| !u.is_empty()))
        .or_else(|| std::env::var("USERNAME").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    format!("user:{}", name.trim())
}

fn op_running(app: &Application) -> bool {
    app.status
        .as_ref()
        .and_then(|s| s.operation_state.as_ref())
        .is_some_and(|o| o.phase == OperationPhase::Running)
}

fn last_history_id(app: &Application) -> i64 {
    app.status
        .as_ref()
        .and_then(|s| s.history.last())
        .map(|h| h.id)
        .unwrap_or(0)
}

/// `Synced/Healthy: message` for progress lines and timeouts.
fn state_line(app: &Application) -> String {
    let Some(status) = app.status.as_ref() else {
        return "no status yet (is `tether agent` running?)".into();
    };
    let sync = status.sync.as_ref().map(|s| s.status).unwrap_or_default();
    let health = status.health.as_ref().map(|h| h.status).unwrap_or_default();
    let mut line = format!("{}/{}", sync.as_str(), health.as_str());
    if let Some(op) = status
        .operation_state
        .as_ref()
        .filter(|o| o.phase == OperationPhase::Running)
    {
        line.push_str(&format!(", sync running ({})", op.message));
    }
    let message = super::show::ready_message(app);
    if !message.is_empty() {
        line.push_str(": ");
        line.push_str(&truncate(&message, 100));
    }
    line
}

/// `tether app rollback NAME [ID]`.
#[derive(clap::Args, Debug)]
pub struct RollbackArgs {
    #[command(flatten)]
    sync: SyncArgs,
    /// The history entry to go back to (`tether app history` shows the ids)
    /// [default: the last successful sync before the current one].
    id: Option<i64>,
}

/// Sync the app to the revision of a history entry, and hold it there: the
/// agent does not auto-sync forward until Git moves past the commit it points
/// at now, or until `tether app sync` (as in Argo CD, a rollback pauses the
/// automated sync; here it resumes by itself once Git moves on).
pub async fn rollback(args: RollbackArgs) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::connect(&args.sync.target).await?;
    let app = ctx.get(&args.sync.name).await?;
    let status = app.status.clone().unwrap_or_default();
    let current = status
        .sync
        .as_ref()
        .and_then(|s| s.revision.clone())
        .unwrap_or_default();
    let entry = match args.id {
        Some(id) => status.history.iter().find(|h| h.id == id).ok_or_else(|| {
            anyhow!(
                "history entry {id} not found; `tether app history {}` lists them",
                args.sync.name
            )
        })?,
        None => status
            .history
            .iter()
            .rev()
            .find(|h| h.result == OperationPhase::Succeeded && h.revision != current)
            .ok_or_else(|| anyhow!("no earlier successful sync to roll back to"))?,
    };
    let revision = entry.revision.clone();
    eprintln!(
        "rolling back to history entry {} ({})",
        entry.id,
        output::short(&revision)
    );
    request(args.sync, Some(revision)).await
}

pub async fn sync(args: SyncArgs) -> anyhow::Result<ExitCode> {
    request(args, None).await
}

/// Ask the agent to sync now (and, with `rollback`, to go to that commit and
/// stay; without it any rollback in force ends), then follow it.
async fn request(args: SyncArgs, rollback: Option<String>) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::connect(&args.target).await?;
    let app = ctx.get(&args.name).await?;
    let (ns, name) = (app.namespace().unwrap_or_default(), app.name_any());
    let key = format!("{ns}/{name}");
    if app.metadata.deletion_timestamp.is_some() {
        bail!("application {key} is being deleted");
    }
    let before_id = last_history_id(&app);
    let by = initiator(args.as_user.as_deref());
    let value = format!(
        "{}{}",
        if args.hard_refresh {
            tether_model::HARD_REFRESH_PREFIX
        } else {
            ""
        },
        jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.9fZ")
    );
    let api = ctx.api(&ns);

    // Watch before asking, so that every version of the status from here on is
    // seen: the first one that shows the request handled is the answer, even
    // if a later reconcile writes over it.
    let handled = {
        let value = value.clone();
        move |a: &Application| {
            a.status
                .as_ref()
                .and_then(|s| s.last_handled_refresh.as_deref())
                == Some(value.as_str())
        }
    };
    let done = {
        let handled = handled.clone();
        move |a: Option<&Application>| a.is_none_or(|a| handled(a) && !op_running(a))
    };
    let follow = (!args.no_wait).then(|| Follow::start(api.clone(), &name, done));
    if let Some(f) = follow.as_ref() {
        f.started().await;
    }

    let patch = json!({"metadata": {"annotations": {
        REFRESH_ANNOTATION: value,
        REFRESH_BY_ANNOTATION: &by,
        tether_model::ROLLBACK_ANNOTATION: rollback,
    }}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| anyhow!("requesting a sync of {key}: {e}"))?;
    let Some(mut follow) = follow else {
        println!(
            "sync of {key} requested ({REFRESH_ANNOTATION}={value}); follow it with `tether app wait {name} -n {ns}`"
        );
        return Ok(ExitCode::SUCCESS);
    };

    let deadline = Instant::now() + args.timeout;
    let mut progress = Progress::new();
    let describe = |a: Option<&Application>| match a {
        Some(a) if handled(a) || op_running(a) => format!("{key}: syncing; {}", state_line(a)),
        _ => format!("{key}: waiting for the agent to pick up the sync request"),
    };
    let app = match follow.until(deadline, &mut progress, &describe).await? {
        Followed::Reached(Some(app)) => app,
        Followed::Reached(None) => {
            bail!("application {key} was deleted while waiting for the sync")
        }
        Followed::TimedOut(latest) => {
            progress.finish();
            if let Some(app) = latest.as_ref().filter(|a| handled(a) || op_running(a)) {
                bail!(
                    "timed out after {}: the sync of {key} is still running ({})",
                    show_duration(args.timeout),
                    state_line(app)
                );
            }
            bail!(
                "timed out after {}: the agent has not handled the sync request for {key} \
                 (is `tether agent` running and watching namespace {ns}?)",
                show_duration(args.timeout)
            );
        }
    };
    progress.finish();

    let status = app.status.clone().unwrap_or_default();
    // A sync of ours added a history entry and carries our initiator; without
    // one, the reconcile stopped before syncing (Source, Render or Plan failed).
    let op = status
        .operation_state
        .as_ref()
        .filter(|o| last_history_id(&app) > before_id && o.initiator == by);
    if matches!(args.output, Format::Json | Format::Yaml) {
        output::print_structured(
            args.output,
            &json!({"application": key, "operationState": op, "sync": status.sync, "health": status.health}),
        )?;
    } else if let Some(op) = op {
        print!(
            "{}",
            operation_report(&key, &app, op, args.output == Format::Wide)
        );
    }
    match op {
        Some(op) if op.phase == OperationPhase::Succeeded => Ok(ExitCode::SUCCESS),
        Some(op) => bail!(
            "sync of {key} {}: {}",
            op.phase.as_str().to_lowercase(),
            op.message
        ),
        None => {
            let synced = status
                .sync
                .as_ref()
                .is_some_and(|s| s.status == SyncCode::Synced);
            let message = super::show::ready_message(&app);
            if synced {
                println!(
                    "{key}: nothing to sync; {}",
                    output::line(&state_line(&app))
                );
                Ok(ExitCode::SUCCESS)
            } else {
                bail!("sync of {key} did not run: {message}")
            }
        }
    }
}

fn operation_report(key: &str, app: &Application, op: &OperationState, wide: bool) -> String {
    let mut out = String::new();
    let status = app.status.as_ref();
    let mut field = |label: &str, value: &str| output::field(&mut out, label, value);
    field("Application", key);
    let revision = op.revision.as_deref().unwrap_or("");
    let commit = status
        .and_then(|s| s.history.iter().rev().find(|h| h.revision == revision))
        .and_then(|h| h.commit.as_ref());
    match commit {
        Some(c) => field(
            "Revision",
            &format!(
                "{} {:?} by {}",
                short(revision),
                c.message.lines().next().unwrap_or(""),
                c.author
            ),
        ),
        None => field("Revision", short(revision)),
    }
    field("Initiator", &op.initiator);
    field("Phase", op.phase.as_str());
    if !op.message.is_empty() {
        output::field_text(&mut out, "Message", &op.message);
    }
    if let (Some(end), Ok(start)) = (&op.finished_at, op.started_at.parse::<jiff::Timestamp>())
        && let Ok(end) = end.parse::<jiff::Timestamp>()
    {
        let secs = (end.as_second() - start.as_second()).max(0) as u64;
        output::field(&mut out, "Duration", &output::duration(secs));
    }
    let sync = status
        .and_then(|s| s.sync.as_ref())
        .map(|s| s.status)
        .unwrap_or_default();
    let health = status
        .and_then(|s| s.health.as_ref())
        .map(|h| h.status)
        .unwrap_or_default();
    output::field(
        &mut out,
        "Status",
        &format!("{}/{}", sync.as_str(), health.as_str()),
    );
    if !op.results.is_empty() {
        out.push('\n');
        out.push_str(&super::show::results_table(&op.results, wide));
        out.push_str(&super::show::results_omitted(op, app));
    }
    out
}

/// The condition a [`Follow`] waits for.
type Done = Arc<dyn Fn(Option<&Application>) -> bool + Send + Sync>;
/// The latest version a [`Follow`] saw: None before the first, Some(None) when the app is gone.
type Latest = Arc<Mutex<Option<Option<Application>>>>;
type Watching = JoinHandle<Result<Option<Application>, kube::runtime::wait::Error>>;

/// Follows one Application with a watch until a condition holds, keeping the
/// latest version seen for progress and timeout messages.
struct Follow {
    api: Api<Application>,
    name: String,
    done: Done,
    latest: Latest,
    first: Arc<Notify>,
    task: Watching,
}

enum Followed {
    /// The first version that met the condition (None: the app is gone).
    Reached(Option<Application>),
    /// The deadline passed; the latest version seen, if any.
    TimedOut(Option<Application>),
}

impl Follow {
    fn start(
        api: Api<Application>,
        name: &str,
        done: impl Fn(Option<&Application>) -> bool + Send + Sync + 'static,
    ) -> Follow {
        let done: Done = Arc::new(done);
        let latest = Arc::new(Mutex::new(None));
        let first = Arc::new(Notify::new());
        let task = Self::spawn(&api, name, &done, &latest, &first);
        Follow {
            api,
            name: name.to_string(),
            done,
            latest,
            first,
            task,
        }
    }

    fn spawn(
        api: &Api<Application>,
        name: &str,
        done: &Done,
        latest: &Latest,
        first: &Arc<Notify>,
    ) -> Watching {
        let (api, name) = (api.clone(), name.to_string());
        let (done, latest, first) = (done.clone(), latest.clone(), first.clone());
        let cond = move |obj: Option<&Application>| {
            let was = latest
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .replace(obj.cloned());
            if was.is_none() {
                first.notify_one();
            }
            done(obj)
        };
        tokio::spawn(async move { kube::runtime::wait::await_condition(api, &name, cond).await })
    }

    /// Resolves once the watch has seen the object as it is now (or after 10 s).
    async fn started(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.first.notified()).await;
    }

    fn latest(&self) -> Option<Application> {
        self.latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .flatten()
    }

    async fn until(
        &mut self,
        deadline: Instant,
        progress: &mut Progress,
        describe: &dyn Fn(Option<&Application>) -> String,
    ) -> anyhow::Result<Followed> {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                result = &mut self.task => match result {
                    Ok(Ok(app)) => return Ok(Followed::Reached(app)),
                    Ok(Err(e)) => {
                        // The watch failed (a dropped connection): watch again.
                        tracing::debug!("watching application {}: {e}; watching again", self.name);
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        self.task = Self::spawn(&self.api, &self.name, &self.done, &self.latest, &self.first);
                    }
                    Err(e) => bail!("watching application {}: {e}", self.name),
                },
                _ = tick.tick() => {
                    let seen = self.latest.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    if let Some(seen) = seen {
                        progress.update(&describe(seen.as_ref()));
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    self.task.abort();
                    return Ok(Followed::TimedOut(self.latest()));
                }
            }
        }
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What `wait` is waiting for, given the app as it is now.
struct Reached {
    synced: bool,
    healthy: bool,
    degraded: bool,
}

fn assess(app: &Application) -> Reached {
    let Some(status) = app.status.as_ref() else {
        return Reached {
            synced: false,
            healthy: false,
            degraded: false,
        };
    };
    // The status must describe the current spec.
    let current = status.observed_generation == app.metadata.generation
        && app.metadata.deletion_timestamp.is_none();
    let running = op_running(app);
    let sync = status.sync.as_ref().map(|s| s.status).unwrap_or_default();
    let health = status.health.as_ref().map(|h| h.status).unwrap_or_default();
    Reached {
        synced: current && !running && sync == SyncCode::Synced,
        healthy: current && health == HealthCode::Healthy,
        degraded: current && !running && health == HealthCode::Degraded,
    }
}

pub async fn wait(args: WaitArgs) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::connect(&args.target).await?;
    let first = ctx.get(&args.name).await?;
    let (ns, name) = (first.namespace().unwrap_or_default(), first.name_any());
    let key = format!("{ns}/{name}");
    let (want_sync, want_health) = match (args.sync, args.health) {
        (false, false) => (true, true),
        other => other,
    };
    let goal = match (want_sync, want_health) {
        (true, true) => "synced and healthy",
        (true, false) => "synced",
        _ => "healthy",
    };
    let deadline = Instant::now() + args.timeout;
    let mut degraded_since: Option<Instant> = None;
    let mut progress = Progress::new();
    loop {
        let Some(app) = ctx.get_opt(&ns, &name).await? else {
            progress.finish();
            bail!("application {key} not found (deleted?)");
        };
        let r = assess(&app);
        if (!want_sync || r.synced) && (!want_health || r.healthy) {
            progress.finish();
            let rev = app
                .status
                .as_ref()
                .and_then(|s| s.sync.as_ref())
                .and_then(|s| s.revision.as_deref())
                .map(short)
                .unwrap_or("-");
            println!(
                "{key} is {goal} (revision {rev}): {}",
                output::line(&state_line(&app))
            );
            return Ok(ExitCode::SUCCESS);
        }
        if want_health && r.degraded {
            let since = *degraded_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= DEGRADED_GRACE {
                progress.finish();
                bail!(
                    "{key} is Degraded, and has been for {}: {}",
                    show_duration(since.elapsed()),
                    super::show::ready_message(&app)
                );
            }
        } else {
            degraded_since = None;
        }
        progress.update(&format!(
            "waiting for {key} to be {goal}: {}",
            state_line(&app)
        ));
        if Instant::now() >= deadline {
            progress.finish();
            bail!(
                "timed out after {} waiting for {key} to be {goal}; it is {}",
                show_duration(args.timeout),
                state_line(&app)
            );
        }
        tokio::time::sleep(
            POLL.min(deadline.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(50)),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initiator_names_the_user() {
        assert_eq!(initiator(Some("alice")), "user:alice");
        assert!(initiator(None).starts_with("user:"));
    }
}
