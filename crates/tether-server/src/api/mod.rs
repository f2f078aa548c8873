//! `/api/v1`: the Applications, their objects, history, events, audit and
//! logs; actions; the live stream; tokens. Shaped like Argo CD's API.
//!
//! - [`cache`]: the Applications from one watch; every read is served from it.
//! - [`auth`]: tokens, roles, the session cookie; the [`auth::Caller`]
//!   extractor every route except health takes.
//! - [`error`]: the JSON error every route answers with.

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use kube::api::Api;
use tether_model::Application;

use crate::ServerContext;

pub mod auth;
pub mod cache;
pub mod error;
pub mod query;
pub mod session;
pub mod stream;

pub use auth::{Caller, Role, TokenStore, Verb};
pub use cache::AppCache;
pub use error::ApiError;

/// What the API's handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub ctx: ServerContext,
    pub apps: AppCache,
    pub tokens: TokenStore,
}

impl FromRef<ApiState> for TokenStore {
    fn from_ref(state: &ApiState) -> TokenStore {
        state.tokens.clone()
    }
}

impl ApiState {
    /// Start the watches the API reads from.
    pub fn start(ctx: &ServerContext) -> ApiState {
        let client = ctx.cluster.client().clone();
        ApiState {
            apps: AppCache::start(Api::<Application>::all(client.clone())),
            tokens: TokenStore::start(client, &ctx.namespace),
            ctx: ctx.clone(),
        }
    }
}

/// The API's routes.
pub fn routes(ctx: &ServerContext) -> Router {
    let state = ApiState::start(ctx);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/version", get(version))
        .merge(stream::routes(&state))
        .merge(session::routes())
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready once the Applications have been listed.
async fn readyz(State(state): State<ApiState>) -> impl IntoResponse {
    if state.apps.is_ready() {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "listing Applications\n")
    }
}

#[derive(serde::Serialize)]
struct Version {
    version: &'static str,
}

async fn version(_caller: Caller) -> axum::Json<Version> {
    axum::Json(Version {
        version: env!("CARGO_PKG_VERSION"),
    })
}
