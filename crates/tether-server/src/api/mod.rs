//! `/api/v1`: the Applications, their objects, history, events, audit and
//! logs; actions; the live stream; tokens. Shaped like Argo CD's API.
//!
//! - [`cache`]: the Applications from one watch; every read is served from it.
//! - [`auth`]: tokens, roles, the session cookie; the [`auth::Caller`]
//!   extractor every route except health takes.
//! - [`error`]: the JSON error every route answers with.
//! - [`query`]: the list's filters, sorts, pages and totals (pure).
//! - [`apps`]: reading apps (list, one, history, events, audit).
//! - [`actions`]: sync, refresh, rollback, delete (audited as `token:NAME`).
//! - [`objects`]: the resource tree, managed resources with diffs, Pod logs.
//! - [`openapi`]: `/api/v1/openapi.json`, generated from these types.

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::ServerContext;

pub mod actions;
pub mod apps;
pub mod auth;
pub mod cache;
pub mod error;
pub mod objects;
pub mod openapi;
pub mod params;
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
    /// The audit log, opened to append on the first request that acts.
    pub audit: std::sync::Arc<std::sync::Mutex<Option<std::sync::Arc<tether_audit::AuditLog>>>>,
}

impl FromRef<ApiState> for TokenStore {
    fn from_ref(state: &ApiState) -> TokenStore {
        state.tokens.clone()
    }
}

impl ApiState {
    /// Start the watches the API reads from.
    pub fn start(ctx: &ServerContext) -> ApiState {
        ApiState {
            apps: ctx.apps(),
            tokens: ctx.tokens(),
            ctx: ctx.clone(),
            audit: Default::default(),
        }
    }
}

/// The API's routes. One line per route, so other parts add theirs without
/// conflicts.
pub fn routes(ctx: &ServerContext) -> Router {
    let state = ApiState::start(ctx);
    const APP: &str = "/api/v1/applications/{ns}/{name}";
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/version", get(version))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/applications", get(apps::list))
        .route("/api/v1/audit", get(apps::audit_log))
        .route(APP, get(apps::get).delete(actions::delete))
        .route(&format!("{APP}/history"), get(apps::history))
        .route(&format!("{APP}/notifiers"), get(apps::notifiers))
        .route(&format!("{APP}/events"), get(apps::events))
        .route(&format!("{APP}/audit"), get(apps::audit))
        .route(&format!("{APP}/resource-tree"), get(objects::resource_tree))
        .route(
            &format!("{APP}/managed-resources"),
            get(objects::managed_resources),
        )
        .route(&format!("{APP}/logs"), get(objects::logs))
        .route(&format!("{APP}/sync"), post(actions::sync))
        .route(&format!("{APP}/rollback"), post(actions::rollback))
        .merge(stream::routes(&state))
        .merge(session::routes())
        .merge(crate::dashboard::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(params::MAX_BODY))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route {}; /api/v1/openapi.json lists every route",
        uri.path()
    ))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!(
            "{method} is not accepted on {}; /api/v1/openapi.json lists each route's methods",
            uri.path()
        ),
    )
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

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Version {
    /// The agent's version.
    version: &'static str,
}

/// The server's version.
#[utoipa::path(get, path = "/api/v1/version", tag = "server",
    responses(
        (status = 200, description = "The version", body = Version),
        (status = 401, description = "No valid token", body = error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn version(_caller: Caller) -> axum::Json<Version> {
    axum::Json(Version {
        version: env!("CARGO_PKG_VERSION"),
    })
}
