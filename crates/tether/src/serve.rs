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
    /// The agent's own namespace: where the API's token Secret and the webhook secrets live.
    #[arg(long, env = "TETHER_NAMESPACE", default_value = "tether")]
    pub namespace: String,
}

/// Every route the server answers.
pub fn router(ctx: &ServerContext) -> axum::Router {
    tether_server::api::routes(ctx)
        .merge(tether_server::webhook::routes(ctx))
        .merge(tether_server::metrics::routes(ctx))
}

/// Bind `--listen` (failing at once if the address is taken) and serve in the
/// background for the life of the process.
pub async fn start(
    args: &ServeArgs,
    cluster: Arc<tether_kube::Cluster>,
    state_dir: &Path,
) -> anyhow::Result<Option<SocketAddr>> {
    let Some(addr) = args.listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    serve_on(listener, cluster, &args.namespace, state_dir).map(Some)
}

/// Serve on a bound listener in the background (`tether up` picks its port).
pub fn serve_on(
    listener: tokio::net::TcpListener,
    cluster: Arc<tether_kube::Cluster>,
    namespace: &str,
    state_dir: &Path,
) -> anyhow::Result<SocketAddr> {
    let local = listener.local_addr()?;
    let ctx = ServerContext {
        cluster,
        namespace: namespace.to_string(),
        state_dir: state_dir.to_path_buf(),
    };
    let app = router(&ctx);
    tokio::spawn(async move {
        if let Err(e) = tether_server::serve(listener, app, std::future::pending()).await {
            tracing::error!("the API server stopped: {e}");
        }
    });
    tracing::info!(address = %local, "serving the API");
    Ok(local)
}
