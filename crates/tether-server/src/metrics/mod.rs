//! `/metrics`: the Prometheus exposition (OpenMetrics text) of one registry that every
//! part of the process adds its own families to.
//!
//! **Adding a family.** A component makes its metrics (a `Family`, `Counter`,
//! `Histogram` of the `prometheus-client` crate), keeps a clone to update, and registers
//! it once through [`Metrics::register`] on the [`Metrics`] handle in
//! [`ServerContext`](crate::ServerContext):
//!
//! ```ignore
//! let sent = Family::<Vec<(&'static str, String)>, Counter>::default();
//! ctx.metrics.register(|r| r.register("tether_notifications", "Notifications sent", sent.clone()));
//! sent.get_or_create(&vec![("notifier", "slack".into()), ("result", "sent".into())]).inc();
//! ```
//!
//! Counters get `_total` appended by the encoder, so they are registered without it.
//!
//! **Label cardinality is bounded:** labels name Applications (`namespace`, `name`,
//! `repo`, `path`: as many as the configuration has), stages, phases, hosts and results;
//! never a commit, an object or a request.
//!
//! What is here: the engine's facts ([`sink`]), notifications (`crate::notify::metrics`), the process ([`process`]), the
//! running agent's caches ([`caches`]), the Git fetchers (from `tether-source`), and
//! `tether_app_info` read from the Applications at each scrape ([`apps`]).

pub mod apps;
pub mod caches;
pub mod process;
pub mod sink;
pub mod text;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;

use crate::ServerContext;

/// What Prometheus is told the body is.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The process's one metrics registry. Cheap to clone; every clone is the same registry.
#[derive(Clone, Default)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A registry with the process and Git fetcher families already in it.
    pub fn new() -> Metrics {
        let metrics = Metrics::default();
        metrics.register(|r| {
            r.register_collector(Box::new(process::ProcessCollector));
            tether_source::metrics::register(r);
            crate::notify::register(r);
        });
        metrics
    }

    /// Add families: call once per family, at start.
    pub fn register(&self, f: impl FnOnce(&mut Registry)) {
        f(&mut self.registry.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Everything registered, in the text format, without the closing `# EOF`.
    pub fn encode(&self, out: &mut String) -> std::fmt::Result {
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        prometheus_client::encoding::text::encode_registry(out, &registry)
    }
}

/// Add the running agent's cache figures (read through the link at each scrape).
/// Once per process, whichever listeners serve `/metrics`.
pub fn register_agent_caches(ctx: &ServerContext) {
    ctx.metrics.register(|r| {
        r.register_collector(Box::new(caches::CacheCollector::new(ctx.agent.clone())));
    });
}

pub fn routes(ctx: &ServerContext) -> axum::Router {
    axum::Router::new()
        .route("/metrics", get(scrape))
        .with_state(ctx.clone())
}

/// A router serving only `/metrics`, for `--metrics-listen`.
pub fn only(ctx: &ServerContext) -> axum::Router {
    axum::Router::new()
        .route("/metrics", get(scrape))
        .with_state(ctx.clone())
}

/// OpenMetrics when the client asks for it (Prometheus does), the classic text format
/// otherwise.
async fn scrape(State(ctx): State<ServerContext>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let mut out = String::with_capacity(16 * 1024);
    if ctx.metrics.encode(&mut out).is_err() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoding the metrics failed",
        )
            .into_response();
    }
    // Applications are read at each scrape: a scrape costs one list, and the values
    // are never stale.
    if let Err(e) = apps::encode(&ctx, &mut out).await {
        tracing::warn!("metrics: tether_app_info left out: {e}");
    }
    out.push_str("# EOF\n");
    if openmetrics {
        ([(header::CONTENT_TYPE, CONTENT_TYPE)], out).into_response()
    } else {
        (
            [(header::CONTENT_TYPE, text::CONTENT_TYPE)],
            text::from_openmetrics(&out),
        )
            .into_response()
    }
}
