//! `tether agent`: wiring for the engine's agent.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tether_engine::leader::{Held, LeaderConfig, LeaderElector};
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
    /// Drift is seen through watches on every managed kind, kept in a live cache. As a safety
    /// net under the watches, each app also reads its objects straight from the API server
    /// this often, in seconds.
    #[arg(long, default_value_t = 600.0)]
    pub resync_interval: f64,
    /// Read repositories on the agent's own disk: `file://` URLs and local paths. Off by
    /// default, so an Application cannot read the agent's state (its cache of other apps'
    /// private repositories); an app with such a URL fails with LocalRepoNotAllowed. `tether
    /// up` turns it on for its demo repository.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set, help_heading = "Repositories")]
    pub allow_local_repos: bool,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub render: crate::render_limits::RenderLimitArgs,
    /// Objects one app may render. An app over the limit fails with TooManyObjects and
    /// applies and prunes nothing; its status and the agent's memory stay bounded.
    #[arg(long, default_value_t = tether_engine::limits::DEFAULT_MAX_OBJECTS)]
    pub max_objects_per_app: usize,
    #[command(flatten)]
    pub leader: LeaderArgs,
    #[command(flatten)]
    pub serve: crate::serve::ServeArgs,
}

/// What a repository may cost the agent; shared by `tether agent` and `tether up`.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Repositories")]
pub struct SourceArgs {
    /// The largest file a commit may hold (a size: 64Mi, 1Gi, or bytes). An app whose
    /// commit holds a larger one fails with SourceTooLarge naming the file (or, for an object
    /// over max(this, 64Mi), refused while fetching, the branch), before it is read into
    /// memory or written to disk; what is deployed stays. GitHub refuses files over 100 MiB,
    /// so a deploy repository never meets the default.
    #[arg(long, value_parser = parse_size, default_value = "64Mi")]
    pub max_file_size: u64,
    /// The largest one commit's checkout may be: its files added up, each file and directory
    /// counted as at least 4 KiB. Over it, the app fails with SourceTooLarge before anything
    /// is written. A deploy repository's tree is a few MiB.
    #[arg(long, value_parser = parse_size, default_value = "1Gi")]
    pub max_checkout_size: u64,
    /// How often, in seconds, checkouts of commits and mirrors of repositories that no
    /// Application references any more are removed from the state dir (also at start).
    /// Anything used within the last interval is kept.
    #[arg(long, value_parser = parse_seconds, default_value = "600")]
    pub gc_interval: Duration,
}

impl SourceArgs {
    pub fn options(&self, allow_local: bool) -> tether_source::SourceOptions {
        tether_source::SourceOptions {
            max_file_size: self.max_file_size,
            max_checkout_size: self.max_checkout_size,
            allow_local,
        }
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    tether_source::parse_size(text)
}

/// Leader election: run several replicas of the agent for high availability.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Leader election")]
pub struct LeaderArgs {
    /// Run as one of several replicas on one cluster. Only the replica holding a
    /// coordination.k8s.io/v1 Lease reconciles; the others wait as standbys and take over
    /// when the holder stops renewing it. A replica that cannot renew within
    /// --renew-deadline stops writing (every write but the Lease's own is refused) and
    /// goes back to standby. Off by default: a single agent needs no election.
    #[arg(long)]
    pub leader_elect: bool,
    /// Name of the Lease [default: tether-agent-<--cluster-name>]. Replicas that should
    /// exclude each other must use the same name and namespace.
    #[arg(long, requires = "leader_elect")]
    pub lease_name: Option<String>,
    /// Namespace of the Lease. It must exist.
    #[arg(long, requires = "leader_elect", default_value = "tether")]
    pub lease_namespace: String,
    /// Seconds a standby waits after it last saw the Lease change before it takes the lease
    /// over (measured on its own clock, so clock skew does not matter). Also the worst-case
    /// failover time after a leader dies without releasing the lease.
    #[arg(long, requires = "leader_elect", value_parser = parse_seconds, default_value = "15")]
    pub lease_duration: Duration,
    /// Seconds the leader keeps writing after its last successful renew was sent. Must be
    /// shorter than --lease-duration: the difference is the safety gap in which the old
    /// leader has already stopped writing and no other replica can have taken the lease yet.
    #[arg(long, requires = "leader_elect", value_parser = parse_seconds, default_value = "10")]
    pub renew_deadline: Duration,
    /// Seconds between renews by the leader and between attempts by a standby. Must be
    /// shorter than --renew-deadline so a failed renew is retried before it lapses.
    #[arg(long, requires = "leader_elect", value_parser = parse_seconds, default_value = "2")]
    pub retry_period: Duration,
    /// This replica's name in the Lease's holderIdentity; must differ between replicas
    /// [default: <hostname>-<pid>-<random>; in a Pod the hostname is the Pod's name].
    #[arg(long, requires = "leader_elect")]
    pub identity: Option<String>,
}

impl LeaderArgs {
    pub fn config(&self, cluster_name: &str) -> anyhow::Result<LeaderConfig> {
        let mut config = LeaderConfig::new(cluster_name);
        config.namespace = self.lease_namespace.clone();
        if let Some(name) = &self.lease_name {
            config.name = name.clone();
        }
        if let Some(identity) = &self.identity {
            config.identity = identity.clone();
        }
        config.lease_duration = self.lease_duration;
        config.renew_deadline = self.renew_deadline;
        config.retry_period = self.retry_period;
        config.validate().map_err(anyhow::Error::msg)?;
        Ok(config)
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "expected a positive number of seconds, got {text:?}"
        )),
    }
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
            resync_interval: Duration::from_secs_f64(self.resync_interval.max(1.0)),
            renderer: self.render.config(),
            source: self.source.options(self.allow_local_repos),
            gc_interval: self.source.gc_interval,
            max_objects_per_app: self.max_objects_per_app.max(1),
            sinks: Default::default(),
        }
    }
}

pub async fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    if args.leader.leader_elect {
        return run_elected(args).await;
    }
    let cluster = Arc::new(args.cluster.connect().await?);
    tracing::info!(server = %cluster.server, "connected");
    crate::serve::start(&args.serve, cluster.clone(), &args.config()).await?;
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

/// `--leader-elect`: wait for the lease, run the agent while holding it, and go
/// back to standby when it is lost.
async fn run_elected(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let lease = args.leader.config(&args.cluster_name)?;
    let fence = lease.fence();
    let path = args
        .cluster
        .kubeconfig
        .as_ref()
        .and_then(|p| std::env::split_paths(p).next());
    let cluster = Arc::new(
        tether_kube::Cluster::connect_fenced(
            path.as_deref(),
            args.cluster.context.as_deref(),
            fence.clone(),
        )
        .await
        .context("connecting to the cluster")?,
    );
    tracing::info!(
        server = %cluster.server,
        lease = %format!("{}/{}", lease.namespace, lease.name),
        identity = %lease.identity,
        "connected; leader election on"
    );
    // Standbys serve the API too: it reads from the cluster, and acts by
    // writing Applications that the leader reconciles.
    crate::serve::start(&args.serve, cluster.clone(), &args.config()).await?;
    let mut elector = LeaderElector::new(cluster.client().clone(), lease, fence.clone());
    loop {
        tokio::select! {
            _ = elector.acquire() => {}
            _ = crate::cli::wait_for_interrupt() => {
                eprintln!("stopping (standby: nothing to hand over)");
                return Ok(ExitCode::SUCCESS);
            }
        }
        // Renew from the moment the lease is ours: starting the agent (the CRD,
        // discovery) can take longer than the renew deadline.
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let mut holding = tokio::spawn(async move {
            let held = elector
                .hold(async {
                    let _ = done_rx.await;
                })
                .await;
            (elector, held)
        });
        let started = tokio::select! {
            started = Agent::new(cluster.clone(), args.config()) => started,
            held = &mut holding => {
                let (returned, held) = held.context("the lease renewal task failed")?;
                elector = returned;
                tracing::warn!("lost leadership while starting ({held:?}); stopped writing");
                continue;
            }
        };
        let agent = match started {
            Ok(agent) => agent,
            Err(e) if !fence.holds() => {
                tracing::warn!("lost leadership while starting ({e}); stopped writing");
                let _ = done_tx.send(());
                elector = holding.await.context("the lease renewal task failed")?.0;
                continue;
            }
            Err(e) => {
                let _ = done_tx.send(());
                let (mut elector, _) = holding.await.context("the lease renewal task failed")?;
                elector.release().await;
                return Err(anyhow::Error::new(e).context("starting the agent"));
            }
        };
        // The agent runs until a signal or until the lease is lost; the lease is
        // renewed meanwhile, including while running syncs finish after a signal.
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let mut running = tokio::spawn(agent.run(async {
            let _ = stop_rx.await;
        }));
        tokio::select! {
            _ = crate::cli::wait_for_interrupt() => {
                eprintln!("stopping: letting running syncs finish (press Ctrl-C again to force)");
                let _ = stop_tx.send(());
                tokio::select! {
                    _ = &mut running => {}
                    _ = crate::cli::wait_for_interrupt() => {
                        // No release: a standby takes over once the lease expires.
                        eprintln!("forced stop");
                        fence.revoke();
                        holding.abort();
                        return Ok(ExitCode::SUCCESS);
                    }
                }
                let _ = done_tx.send(());
                match holding.await.context("the lease renewal task failed")? {
                    (mut elector, Held::Stopped) => elector.release().await,
                    (_, Held::Lost(why)) => {
                        tracing::warn!("lost leadership while stopping: {why}; stopped writing");
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            held = &mut holding => {
                let (returned, held) = held.context("the lease renewal task failed")?;
                elector = returned;
                let why = match held {
                    Held::Lost(why) => why,
                    Held::Stopped => "renewal stopped".to_string(),
                };
                tracing::warn!("lost leadership ({why}); stopped writing");
                // Writes are refused from here on; let the running reconciles end.
                let _ = stop_tx.send(());
                tokio::select! {
                    _ = &mut running => {}
                    _ = crate::cli::wait_for_interrupt() => {
                        eprintln!("stopping (not the leader: nothing to hand over)");
                        return Ok(ExitCode::SUCCESS);
                    }
                }
                tracing::info!("back to standby");
            }
            _ = &mut running => {
                let _ = done_tx.send(());
                if let Ok((mut elector, Held::Stopped)) = holding.await {
                    elector.release().await;
                }
                anyhow::bail!("the agent stopped by itself");
            }
        }
    }
}
