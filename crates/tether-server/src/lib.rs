//! The tether server: everything tether answers over HTTP, on the agent's
//! `--listen` address.
//!
//! - [`api`]: `/api/v1`, shaped like Argo CD's, with the live stream and tokens.
//! - [`dashboard`]: the web pages at `/`, built only on the API.
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
pub mod dashboard;
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
    /// The process's metrics registry: each component registers its own families
    /// (see [`metrics`]).
    pub metrics: metrics::Metrics,
    /// The agent running in this process, when this replica is the leader: webhooks
    /// wake it, metrics read its caches.
    pub agent: tether_engine::wake::AgentLink,
    /// The agent's pipeline (Source, Render, Plan) for read-only previews:
    /// managed resources and dry-run syncs. None: those routes answer 503.
    pub preview: Option<Arc<tether_engine::Engine>>,
    /// The watches every part of the server reads from (the Applications and the API
    /// tokens), started on first use and shared, so the API, the stream, the webhooks and
    /// the metrics never list from the API server per request.
    pub watches: Arc<std::sync::OnceLock<Watches>>,
}

/// See [`ServerContext::watches`].
#[derive(Clone)]
pub struct Watches {
    pub apps: api::AppCache,
    pub tokens: api::TokenStore,
}

impl ServerContext {
    fn watches(&self) -> &Watches {
        self.watches.get_or_init(|| {
            let client = self.cluster.client().clone();
            Watches {
                apps: api::AppCache::start(kube::api::Api::all(client.clone())),
                tokens: api::TokenStore::start(client, &self.namespace),
            }
        })
    }

    /// Every Application, from one watch.
    pub fn apps(&self) -> api::AppCache {
        self.watches().apps.clone()
    }

    /// The API tokens, from a watch on their Secret.
    pub fn tokens(&self) -> api::TokenStore {
        self.watches().tokens.clone()
    }
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
