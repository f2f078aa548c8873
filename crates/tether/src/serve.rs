//! Wiring for the tether server (`tether-server`): which routes are served on
//! `--listen`, started beside the agent in every replica.

use std::net::SocketAddr;
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
    config: &tether_engine::AgentConfig,
) -> ServerContext {
    let ctx = ServerContext {
        preview: Some(Arc::new(preview_engine(cluster.clone(), config))),
        cluster,
        namespace: args.namespace.clone(),
        state_dir: config.state_dir.clone(),
        metrics: tether_server::metrics::Metrics::new(),
        agent: Default::default(),
        watches: Default::default(),
    };
    tether_server::metrics::register_agent_caches(&ctx);
    ctx
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
    serve_on(listener, ctx).map(Some)
}

/// Serve on a bound listener in the background (`tether up` picks its port).
pub fn serve_on(
    listener: tokio::net::TcpListener,
    ctx: &ServerContext,
) -> anyhow::Result<SocketAddr> {
    let local = listener.local_addr()?;
    let app = router(ctx);
    tokio::spawn(async move {
        if let Err(e) = tether_server::serve(listener, app, std::future::pending()).await {
            tracing::error!("the API server stopped: {e}");
        }
    });
    tracing::info!(address = %local, "serving the API");
    Ok(local)
}

/// The agent's pipeline, for the API's read-only previews (managed resources,
/// dry-run syncs): the agent's render and source options, with a Git cache of
/// its own beside the agent's, and nothing that records or applies.
fn preview_engine(
    cluster: Arc<tether_kube::Cluster>,
    config: &tether_engine::AgentConfig,
) -> tether_engine::Engine {
    tether_engine::Engine {
        cluster,
        renderer: tether_render::Renderer::new(tether_render::RendererConfig {
            max_objects: config.max_objects_per_app,
            ..config.renderer.clone()
        }),
        sources: tether_source::Sources::with_options(
            config.state_dir.join("api").join("git"),
            config.source,
        ),
        poll_interval: config.poll_interval,
        history_limit: config.history_limit,
        progress_recheck: config.progress_recheck,
        audit: None,
        live_cache: None,
        resync_interval: std::time::Duration::ZERO,
        pacing: Default::default(),
        events: None,
        heals: Default::default(),
        sinks: Default::default(),
    }
}
