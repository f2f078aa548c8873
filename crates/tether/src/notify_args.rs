//! Wiring for notifications (`tether_server::notify`): the flags, and the sink
//! added to the agent's config for one agent term.

use std::time::Duration;

use tether_engine::{Agent, AgentConfig};
use tether_server::notify::{Notifications, Options};

/// Delivery of notifications to the targets `Notifier` resources name.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Notifications")]
pub struct NotifyArgs {
    /// Seconds before a failed notification is retried the first time; each further retry
    /// waits twice as long, up to --notify-retry-max.
    #[arg(long, value_parser = parse_seconds, default_value = "1")]
    pub notify_retry_base: Duration,
    /// The longest wait between two attempts, in seconds.
    #[arg(long, value_parser = parse_seconds, default_value = "300")]
    pub notify_retry_max: Duration,
    /// Seconds after its first attempt that a notification still failing is given up
    /// (recorded as failed in the audit log, the metrics and the Notifier's status).
    #[arg(long, value_parser = parse_seconds, default_value = "3600")]
    pub notify_give_up: Duration,
    /// One attempt's time limit, in seconds.
    #[arg(long, value_parser = parse_seconds, default_value = "10")]
    pub notify_timeout: Duration,
    /// Notifications waiting per Notifier (while its target is down). Past it the oldest
    /// waiting one is dropped and counted (result="dropped").
    #[arg(long, default_value_t = 1000)]
    pub notify_queue: usize,
}

impl Default for NotifyArgs {
    fn default() -> Self {
        let o = Options::default();
        NotifyArgs {
            notify_retry_base: o.retry_base,
            notify_retry_max: o.retry_max,
            notify_give_up: o.give_up_after,
            notify_timeout: o.timeout,
            notify_queue: o.queue_capacity,
        }
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

impl NotifyArgs {
    /// Notifications for one agent term: its sink joins `config.sinks`.
    pub fn attach(
        &self,
        client: kube::Client,
        agent_namespace: &str,
        config: &mut AgentConfig,
    ) -> Notifications {
        let n = Notifications::new(
            client,
            Options {
                agent_namespace: agent_namespace.to_string(),
                cluster_name: config.cluster_name.clone(),
                queue_capacity: self.notify_queue.max(1),
                retry_base: self.notify_retry_base,
                retry_max: self.notify_retry_max.max(self.notify_retry_base),
                give_up_after: self.notify_give_up,
                timeout: self.notify_timeout,
            },
        );
        config.sinks.push(n.sink());
        n
    }
}

/// Start delivering once the agent (and its audit log) exists. A failure
/// leaves the agent running without notifications, and says so.
pub async fn start(n: &mut Notifications, agent: &Agent) {
    let audit = agent.engine.audit.as_ref().map(|a| a.log());
    if let Err(e) = n.start(audit).await {
        tracing::error!("notifications are off: {e}");
    }
}
