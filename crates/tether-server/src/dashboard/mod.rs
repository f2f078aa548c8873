//! The dashboard: the pages a browser opens, served on the API's listener.
//!
//! Every page is a small server-rendered shell ([`pages`], askama templates in
//! `templates/`) that loads our own JavaScript ([`assets`], embedded from
//! `assets/`). The script reads and acts only through the public API
//! (`/api/v1/...`) and its one live stream, so anything the dashboard does, a
//! script can do too. Nothing here reads the cluster or the caches itself.
//!
//! | path | page |
//! |---|---|
//! | `/` | Applications: tiles or a table, filtered, sorted and paged by the server |
//! | `/applications/{ns}/{name}` | one application: objects, drift, diff, history, events, audit, logs |
//! | `/audit` | the audit log across apps |
//! | `/login` | sign in with a token (also from `tether up`'s link) |
//! | `/assets/{file}` | the pages' scripts and stylesheet |
//!
//! Filters and selections live in each page's query string, so every view can
//! be shared and bookmarked.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::api::ApiState;

pub mod assets;
pub mod pages;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(pages::applications))
        .route("/applications/{ns}/{name}", get(pages::application))
        .route("/audit", get(pages::audit))
        .route("/login", get(pages::login))
        .route("/assets/{file}", get(assets::serve))
}

/// The Content-Security-Policy of every page: only our own scripts and
/// stylesheet, requests only to our own origin, never framed. Inline scripts
/// and `style` attributes are refused, so the pages' markup holds neither.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A page with the headers every page carries: the CSP, no referrer (a path
/// may say more than it should), never framed, never cached (pages depend on
/// who is signed in).
pub fn page(html: String) -> Response {
    let mut response = Html(html).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
