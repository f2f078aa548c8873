//! The tether server: everything tether answers over HTTP, on the agent's
//! `--listen` address.
//!
//! - [`api`]: `/api/v1`, shaped like Argo CD's, with the live stream and tokens.
//! - [`webhook`]: `/api/webhook/{host}`, Git pushes as hints to poll now.
//! - [`metrics`]: `/metrics` in the Prometheus text format.
//! - [`notify`]: notifications, a sink of the engine's facts.
//!
//! The server keeps no state of its own: it reads Applications (and the
//! Secrets that hold tokens) from the cluster and acts by writing Applications,
//! so every agent replica can serve it and the leader does the work.

use std::path::PathBuf;
use std::sync::Arc;

pub mod api;
pub mod metrics;
pub mod notify;
pub mod webhook;

/// What every part of the server reads.
#[derive(Clone)]
pub struct ServerContext {
    pub cluster: Arc<tether_kube::Cluster>,
    /// The agent's own namespace: where its token and webhook Secrets live.
    pub namespace: String,
    /// The agent's state directory (the audit log is in it).
    pub state_dir: PathBuf,
    /// The agent's pipeline (Source, Render, Plan) for read-only previews:
    /// managed resources and dry-run syncs. None: those routes answer 503.
    pub preview: Option<Arc<tether_engine::Engine>>,
}

/// Serve `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
