//! `tether app …`: create, inspect, diff, sync, wait for and delete
//! Applications. Modelled on `argocd app` and `flux`; every command talks to
//! the cluster only through the Application resource (and, for `diff`, the
//! same preview the agent computes), so the CLI never needs more rights than
//! `kubectl` would.

mod create;
mod delete;
mod diff;
mod show;
mod sync;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use kube::api::Api;
use tether_kube::{Cluster, KubeError};
use tether_model::Application;

use crate::cli::ClusterArgs;

pub use create::ToolArgs;

/// Exit code of `tether app diff` when the cluster differs from Git.
pub const EXIT_DIFF: u8 = 3;

#[derive(clap::Subcommand, Debug)]
pub enum AppCommand {
    /// Create an Application: a path in a Git repository deployed to a namespace.
    ///
    /// The Application gets the cascade finalizer, so `tether app delete` later removes
    /// the objects it deployed too (as in Argo CD). Its namespace (-n) is created when
    /// missing, and so is the Application CRD. An existing Application is an error
    /// (exit 1) unless --upsert is given.
    #[command(after_help = "Examples:\n  \
        tether app create web --repo https://github.com/org/deploy --path apps/web \\\n      \
        --dest-namespace web --auto --prune --sync-option CreateNamespace=true\n  \
        tether app create -f app.yaml")]
    Create(Box<create::CreateArgs>),
    /// List Applications with their sync and health status.
    List(show::ListArgs),
    /// Show one Application: source, destination, sync and health, conditions,
    /// the objects it manages and the last sync operation.
    ///
    /// `-o json` or `-o yaml` prints the whole Application object instead.
    Get(show::GetArgs),
    /// Show how the cluster differs from Git for one Application, object by object.
    ///
    /// Fetches the source and renders it here (with the agent's pipeline), compares it
    /// with the live objects, and prints a unified diff per object that would change,
    /// plus the objects that would be created or pruned. Nothing is applied.
    ///
    /// Exit codes: 0 no difference, 1 error, 3 the cluster differs from Git.
    Diff(diff::DiffArgs),
    /// Sync an Application now: ask the agent to fetch from Git and apply.
    ///
    /// Sets the `tether.dev/refresh` annotation to a new value (and
    /// `tether.dev/refresh-by` to `user:<name>`), then waits until the agent has handled
    /// it and the sync operation has finished, and prints what it did per object.
    ///
    /// Exit codes: 0 the sync succeeded (or nothing needed syncing), 1 the sync failed,
    /// could not start, or did not finish within --timeout.
    Sync(sync::SyncArgs),
    /// Show an Application's sync history: which commit, when, who asked, and the result.
    History(show::HistoryArgs),
    /// Roll an Application back to the revision of a history entry, and hold it there.
    ///
    /// The agent syncs that commit and does not auto-sync forward until Git moves past the
    /// commit it points at now (then the rollback ends by itself) or until `tether app sync`.
    /// The status condition RolledBack says so while it lasts. Without ID, goes back to the
    /// last successful sync of another revision. Exit codes as for `tether app sync`.
    Rollback(sync::RollbackArgs),
    /// Wait until an Application is synced and/or healthy.
    ///
    /// Without --sync or --health, waits for both. Exit codes: 0 the state was reached;
    /// 1 on timeout (the message says what state the app was in), or as soon as the app
    /// is Degraded while --health is asked (Degraded for its current spec, for a few
    /// seconds), or when the Application does not exist.
    Wait(sync::WaitArgs),
    /// Delete an Application, and (by default) the objects it deployed.
    ///
    /// With --cascade (the default) the agent deletes the app's objects before the
    /// Application goes away; --cascade=false removes the finalizer first, so the
    /// objects stay in the cluster, no longer managed.
    Delete(delete::DeleteArgs),
}

/// Where the Applications are: shared by every `app` subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct Target {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Namespace the Applications live in (not where they deploy to).
    #[arg(short = 'n', long, env = "TETHER_NAMESPACE", default_value = "tether")]
    pub namespace: String,
}

pub async fn run(cmd: AppCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AppCommand::Create(args) => create::run(*args).await,
        AppCommand::List(args) => show::list(args).await,
        AppCommand::Get(args) => show::get(args).await,
        AppCommand::Diff(args) => diff::run(args).await,
        AppCommand::Sync(args) => sync::sync(args).await,
        AppCommand::History(args) => show::history(args).await,
        AppCommand::Rollback(args) => sync::rollback(args).await,
        AppCommand::Wait(args) => sync::wait(args).await,
        AppCommand::Delete(args) => delete::run(args).await,
    }
}

/// A connected cluster plus the Applications' namespace.
pub(crate) struct Ctx {
    pub cluster: Arc<Cluster>,
    pub namespace: String,
}

impl Ctx {
    pub async fn connect(target: &Target) -> anyhow::Result<Ctx> {
        let cluster = target.cluster.connect().await?;
        Ok(Ctx {
            cluster: Arc::new(cluster),
            namespace: target.namespace.clone(),
        })
    }

    /// Fails with a hint when the cluster does not serve Applications yet.
    pub async fn require_crd(&self) -> anyhow::Result<()> {
        match self
            .cluster
            .resolve("tether.dev/v1alpha1", "Application")
            .await
        {
            Ok(_) => Ok(()),
            Err(KubeError::UnknownKind { .. }) => bail!(
                "the cluster does not serve tether.dev Applications: the CRD is not installed \
                 (`tether agent` and `tether app create` install it; or `tether crd | kubectl apply -f -`)"
            ),
            Err(e) => Err(e).context("discovering the Application kind"),
        }
    }

    pub fn api(&self, namespace: &str) -> Api<Application> {
        Api::namespaced(self.cluster.client().clone(), namespace)
    }

    pub fn api_all(&self) -> Api<Application> {
        Api::all(self.cluster.client().clone())
    }

    /// `NAME` in the -n namespace, or `NAMESPACE/NAME`.
    pub fn locate(&self, name: &str) -> (String, String) {
        split_name(name, &self.namespace)
    }

    /// The Application, or an error that names it when it does not exist.
    pub async fn get(&self, name: &str) -> anyhow::Result<Application> {
        let (ns, name) = self.locate(name);
        self.require_crd().await?;
        match self.api(&ns).get_opt(&name).await {
            Ok(Some(app)) => Ok(app),
            Ok(None) => bail!("application {ns}/{name} not found"),
            Err(e) => {
                Err(anyhow::Error::new(e).context(format!("reading application {ns}/{name}")))
            }
        }
    }

    /// Like [`Ctx::get`], but None when it does not exist.
    pub async fn get_opt(&self, ns: &str, name: &str) -> anyhow::Result<Option<Application>> {
        self.api(ns)
            .get_opt(name)
            .await
            .with_context(|| format!("reading application {ns}/{name}"))
    }
}

/// `ns/name` → (ns, name); `name` → (default, name).
pub fn split_name(name: &str, default_ns: &str) -> (String, String) {
    match name.split_once('/') {
        Some((ns, n)) if !ns.is_empty() && !n.is_empty() => (ns.to_string(), n.to_string()),
        _ => (default_ns.to_string(), name.to_string()),
    }
}

/// Parse `120s`, `5m`, `1m30s`, `500ms` or a bare number of seconds.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    tether_engine::time::parse_duration(text)
        .ok_or_else(|| format!("invalid duration {text:?}: use e.g. 30s, 5m, 1m30s or 500ms"))
}

/// Format a duration for messages: `2s`, `1m30s`, `500ms`.
pub fn show_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    let secs = d.as_secs();
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_may_carry_their_namespace() {
        assert_eq!(split_name("web", "tether"), ("tether".into(), "web".into()));
        assert_eq!(
            split_name("team/web", "tether"),
            ("team".into(), "web".into())
        );
        assert_eq!(
            split_name("/web", "tether"),
            ("tether".into(), "/web".into())
        );
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("120s"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_timeout("2"), Ok(Duration::from_secs(2)));
        assert!(parse_timeout("soon").is_err());
        assert_eq!(show_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(show_duration(Duration::from_millis(300)), "300ms");
    }
}
