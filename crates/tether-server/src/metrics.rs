//! `/metrics`: Prometheus text format.

use crate::ServerContext;

pub fn routes(_ctx: &ServerContext) -> axum::Router {
    axum::Router::new()
}
