//! `/api/v1`: the Applications, their objects, history, events, audit and
//! logs; actions; the live stream; tokens. Shaped like Argo CD's API.

use crate::ServerContext;

/// The API's routes.
pub fn routes(_ctx: &ServerContext) -> axum::Router {
    axum::Router::new()
}
