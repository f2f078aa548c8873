//! `tether agent`: wiring for the engine's agent.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tether_engine::{Agent, AgentConfig};

use crate::cli::ClusterArgs;

#[derive(clap::Args, Debug, Clone)]
pub struct AgentArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Where the agent keeps its Git cache (bare repositories and checkouts).
    #[arg(long, env = "TETHER_STATE_DIR", default_value = ".tether/agent")]
    pub state_dir: PathBuf,
    /// How often each repository is polled for new commits, in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub poll_interval: f64,
    /// Applications reconciled at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Only reconcile Applications in this namespace [default: all namespaces].
    #[arg(long)]
    pub watch_namespace: Option<String>,
    /// Sync history entries kept in each Application's status.
    #[arg(long, default_value_t = 10)]
    pub history_limit: usize,
    /// How often to re-assess an app while its objects are still progressing, in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub progress_interval: f64,
    /// This cluster's name. Applications whose destination.cluster names another cluster are
    /// left alone (their own cluster's agent reconciles them); empty and `in-cluster` mean this one.
    #[arg(long, default_value = "in-cluster")]
    pub cluster_name: String,
    /// Audit log retention: records older than this many days are summarised per app and
    /// day, then dropped (checked at start and hourly). 0 keeps them all.
    #[arg(long, default_value_t = 90)]
    pub audit_max_age_days: u64,
    /// Audit log retention: beyond this many records the oldest are summarised and dropped.
    /// 0 means no limit.
    #[arg(long, default_value_t = 1_000_000)]
    pub audit_max_records: usize,
}

impl AgentArgs {
    pub fn config(&self) -> AgentConfig {
        AgentConfig {
            state_dir: self.state_dir.clone(),
            poll_interval: Duration::from_secs_f64(self.poll_interval.max(0.1)),
            concurrency: self.concurrency.max(1),
            namespace: self.watch_namespace.clone(),
            history_limit: self.history_limit.max(1),
            progress_recheck: Duration::from_secs_f64(self.progress_interval.max(0.1)),
            cluster_name: self.cluster_name.clone(),
            audit_retention: tether_audit::Retention {
                max_age: (self.audit_max_age_days > 0)
                    .then(|| Duration::from_secs(self.audit_max_age_days * 24 * 3600)),
                max_records: (self.audit_max_records > 0).then_some(self.audit_max_records),
            },
        }
    }
}

pub async fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let cluster = Arc::new(args.cluster.connect().await?);
    tracing::info!(server = %cluster.server, "connected");
    let agent = Agent::new(cluster, args.config())
        .await
        .context("starting the agent")?;
    run_until_signal(agent).await;
    Ok(ExitCode::SUCCESS)
}

/// Run the agent until SIGTERM/Ctrl-C; a second signal stops at once.
pub async fn run_until_signal(agent: Agent) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(agent.run(async {
        let _ = stop_rx.await;
    }));
    crate::cli::wait_for_interrupt().await;
    eprintln!("stopping: letting running syncs finish (press Ctrl-C again to force)");
    let _ = stop_tx.send(());
    tokio::select! {
        _ = running => {}
        _ = crate::cli::wait_for_interrupt() => eprintln!("forced stop"),
    }
}
