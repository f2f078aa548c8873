//! Wiring for the tether server (`tether-server`): which routes are served on
//! `--listen`, started beside the agent in every replica.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tether_server::ServerContext;

/// The HTTP API, webhooks and metrics.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Server")]
pub struct ServeArgs {
    /// Serve the HTTP API (`/api/v1`), the Git webhook receivers (`/api/webhook/…`) and
    /// `/metrics` on this address, e.g. 127.0.0.1:8080 or 0.0.0.0:8080. Every replica can
    /// serve it; the leader does the work. Off when not given.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Also serve `/metrics` (and nothing else) on this address, e.g. 0.0.0.0:9090, for a
    /// Prometheus that should not reach the API. `/metrics` is on --listen as well.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// The agent's own namespace: where the API's token Secret and the webhook secrets
    /// (Secret `tether-webhook`) live.
    #[arg(long, env = "TETHER_NAMESPACE", default_value = "tether")]
    pub namespace: String,
}

/// Every route the server answers.
pub fn router(ctx: &ServerContext) -> axum::Router {
    tether_server::api::routes(ctx)
        .merge(tether_server::webhook::routes(ctx))
        .merge(tether_server::metrics::routes(ctx))
}

/// What the server and the agent share: made once per process, before either starts.
pub fn context(
    args: &ServeArgs,
    cluster: Arc<tether_kube::Cluster>,
    state_dir: &Path,
) -> ServerContext {
    ServerContext {
        cluster,
        namespace: args.namespace.clone(),
        state_dir: state_dir.to_path_buf(),
        metrics: tether_server::metrics::Metrics::new(),
        agent: Default::default(),
    }
}

/// The agent's side of the wiring: its facts feed the metrics, and the server reaches
/// it (webhook wakes) through the link. Call once; the sinks are shared by every agent
/// this process runs (a replica that becomes leader again keeps counting).
pub fn sinks(ctx: &ServerContext) -> tether_engine::report::Sinks {
    let mut sinks = tether_engine::report::Sinks::default();
    sinks.push(Arc::new(tether_server::metrics::sink::FactMetrics::new(
        &ctx.metrics,
    )));
    sinks
}

/// Bind `--listen` and `--metrics-listen` (failing at once if an address is taken) and
/// serve in the background for the life of the process.
pub async fn start(args: &ServeArgs, ctx: &ServerContext) -> anyhow::Result<Option<SocketAddr>> {
    if let Some(addr) = args.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr} for metrics"))?;
        let local = listener.local_addr()?;
        let app = tether_server::metrics::only(ctx);
        tokio::spawn(async move {
            if let Err(e) = tether_server::serve(listener, app, std::future::pending()).await {
                tracing::error!("the metrics server stopped: {e}");
            }
        });
        tracing::info!(address = %local, "serving metrics");
    }
    let Some(addr) = args.listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let local = listener.local_addr()?;
    let app = router(ctx);
    tokio::spawn(async move {
        if let Err(e) = tether_server::serve(listener, app, std::future::pending()).await {
            tracing::error!("the API server stopped: {e}");
        }
    });
    tracing::info!(address = %local, "serving the API");
    Ok(Some(local))
}
