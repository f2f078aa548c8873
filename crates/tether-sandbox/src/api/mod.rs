//! The HTTP front of the sandbox: one handler that parses the path into a
//! route, applies injected faults, and dispatches to discovery, OpenAPI, the
//! resource verbs, watches or the admin endpoints.

pub mod discovery;
pub mod logs;
pub mod openapi;
pub mod request;
pub mod resources;
pub mod status;
pub mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::catalog::Catalog;
use crate::faults::{FaultRule, Faults};
use crate::store::Store;
use request::{Params, Representation, Route};
use resources::{Writer, json_response};
use status::ApiError;

/// Everything the handlers and the simulated controllers share.
pub struct Shared {
    pub store: Store,
    pub catalog: Catalog,
    pub faults: Faults,
    /// How long simulated rollouts, jobs, pods and load balancers take, in milliseconds.
    pub rollout_delay_ms: AtomicU64,
    /// Bumped to close every open watch (fault injection).
    pub drop_watches: tokio::sync::watch::Sender<u64>,
    /// The URL clients reach this server at, for discovery's serverAddressByClientCIDRs.
    pub server_address: std::sync::OnceLock<String>,
    next_ip: AtomicU32,
    next_port: AtomicU32,
    /// Wakes the garbage collector when something was deleted or started terminating.
    pub gc_wake: tokio::sync::Notify,
    /// Seconds the simulated controllers' clock is ahead of the wall clock
    /// (test control `/_sandbox/clock`, for CronJob schedules).
    pub clock_offset_s: AtomicI64,
    /// Authentication and authorization (tokens, RBAC).
    pub auth: crate::auth::Auth,
    /// The CA certificate (PEM) clients verify the server with; what
    /// `kube-root-ca.crt` ConfigMaps carry.
    pub ca_pem: std::sync::OnceLock<String>,
}

impl Shared {
    pub fn new(store: Store, rollout_delay: Duration, auth: crate::auth::Auth) -> Self {
        Shared {
            store,
            catalog: Catalog::new(),
            faults: Faults::default(),
            rollout_delay_ms: AtomicU64::new(rollout_delay.as_millis() as u64),
            drop_watches: tokio::sync::watch::channel(0).0,
            server_address: std::sync::OnceLock::new(),
            next_ip: AtomicU32::new(1),
            next_port: AtomicU32::new(0),
            gc_wake: tokio::sync::Notify::new(),
            clock_offset_s: AtomicI64::new(0),
            auth,
            ca_pem: std::sync::OnceLock::new(),
        }
    }

    /// The CA certificate (PEM), empty until the server has one.
    pub fn ca_pem(&self) -> &str {
        self.ca_pem.get().map(String::as_str).unwrap_or("")
    }

    pub fn rollout_delay(&self) -> Duration {
        Duration::from_millis(self.rollout_delay_ms.load(Ordering::Relaxed))
    }

    /// The next cluster IP from 10.96.0.0/12.
    pub fn next_cluster_ip(&self) -> String {
        let n = self.next_ip.fetch_add(1, Ordering::Relaxed) % (1 << 20);
        format!(
            "10.{}.{}.{}",
            96 + (n >> 16),
            (n >> 8) & 0xff,
            (n & 0xff).max(1)
        )
    }

    /// The next node port from 30000-32767.
    pub fn next_node_port(&self) -> u16 {
        30000 + (self.next_port.fetch_add(1, Ordering::Relaxed) % 2768) as u16
    }
}

pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(shared)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: Option<&str>) -> Params {
    Params(
        q.unwrap_or("")
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect(),
    )
}

async fn handle(
    State(sh): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = uri.path().to_string();
    let params = parse_query(uri.query());
    let body = match axum::body::to_bytes(body, crate::MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return ApiError::too_large().into_response(),
    };
    let resp = match serve(&sh, &method, &path, &params, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
    resp
}

/// Authenticates and authorizes the request, then serves it.
async fn serve(
    sh: &Arc<Shared>,
    method: &Method,
    path: &str,
    params: &Params,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let user = crate::auth::check(sh, method.as_str(), path, &params.0, headers)?;
    if let Some(doc) = crate::auth::review::oidc(sh, path) {
        return Ok(json_response(StatusCode::OK, &doc, &[]));
    }
    if let Some(Route::Resource(p)) = request::parse_route(path)
        && let Some(resp) = crate::auth::review::handle(sh, &user, method, &p, headers, body)
    {
        return resp;
    }
    dispatch(sh, method, path, params, headers, body).await
}

async fn dispatch(
    sh: &Arc<Shared>,
    method: &Method,
    path: &str,
    params: &Params,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let route = request::parse_route(path).ok_or_else(ApiError::no_route)?;
    let rep = request::representation(headers);
    let ok = |v: Value| Ok(json_response(StatusCode::OK, &v, &[]));
    match route {
        // `/version` is written by `WriteRawJSON`: indented, without the encoder's newline.
        Route::Version => Ok(raw_json(
            serde_json::to_vec_pretty(&discovery::version()).unwrap_or_default(),
        )),
        Route::Health => Ok((StatusCode::OK, "ok").into_response()),
        Route::CoreVersions if rep == Representation::AggregatedDiscovery => {
            Ok(aggregated(discovery::aggregated(&sh.catalog, true)))
        }
        Route::CoreVersions => ok(discovery::core_versions(
            sh.server_address.get().map(String::as_str).unwrap_or(""),
        )),
        Route::Groups if rep == Representation::AggregatedDiscovery => {
            Ok(aggregated(discovery::aggregated(&sh.catalog, false)))
        }
        Route::Groups => ok(discovery::groups(&sh.catalog)),
        Route::Group(g) => discovery::group(&sh.catalog, &g)
            .map(|d| json_response(StatusCode::OK, &d, &[]))
            .ok_or_else(ApiError::no_route),
        Route::GroupVersion(g, v) => {
            if !sh.catalog.version_exists(&g, &v) {
                return Err(ApiError::no_route());
            }
            ok(discovery::resource_list(&sh.catalog, &g, &v))
        }
        Route::OpenApiV2 if accepts_protobuf_only(headers) => {
            let mut resp = (StatusCode::OK, openapi::v2_protobuf()).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(openapi::V2_PROTOBUF),
            );
            Ok(resp)
        }
        // The OpenAPI handlers write the marshalled document as it is, without a newline.
        Route::OpenApiV2 => Ok(raw_json(
            serde_json::to_vec(&openapi::v2(&sh.catalog)).unwrap_or_default(),
        )),
        Route::OpenApiV3Root => Ok(raw_json(
            serde_json::to_vec(&openapi::v3_root(&sh.catalog)).unwrap_or_default(),
        )),
        Route::OpenApiV3(g, v) => openapi::v3_group_version(&sh.catalog, &g, &v)
            .map(|d| raw_json(serde_json::to_vec(&d).unwrap_or_default()))
            .ok_or_else(ApiError::no_route),
        Route::Admin(what) => admin(sh, method, &what, body),
        Route::Resource(p) => resource(sh, method, p, params, headers, body, rep).await,
    }
}

/// A 200 JSON response of exactly these bytes (no encoder newline).
fn raw_json(bytes: Vec<u8>) -> Response {
    let mut resp = (StatusCode::OK, bytes).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// True when the client takes only protobuf (client-go's OpenAPI v2 request).
fn accepts_protobuf_only(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.contains("protobuf") && !accept.contains("json") && !accept.contains("*/*")
}

fn aggregated(doc: Value) -> Response {
    let mut resp = json_response(StatusCode::OK, &doc, &[]);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(discovery::AGGREGATED_CONTENT_TYPE),
    );
    resp
}

/// The verb a request is, in the API server's terms.
fn verb_of(method: &Method, p: &request::ResourcePath, params: &Params) -> &'static str {
    match (method.as_str(), p.name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) if params.flag("watch") => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

async fn resource(
    sh: &Arc<Shared>,
    method: &Method,
    p: request::ResourcePath,
    params: &Params,
    headers: &HeaderMap,
    body: &[u8],
    rep: Representation,
) -> Result<Response, ApiError> {
    let Some(r) = sh.catalog.get(&p.group, &p.version, &p.plural) else {
        return Err(ApiError::no_route());
    };
    // A namespaced URL for a cluster-scoped kind is not served.
    if p.namespace.is_some() && !r.namespaced {
        return Err(ApiError::no_route());
    }
    // The all-namespaces URL of a namespaced kind serves only list and watch.
    if r.namespaced && p.namespace.is_none() {
        if p.name.is_some() {
            return Err(ApiError::no_route());
        }
        if method != Method::GET {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ));
        }
    }
    if let Some(dry) = params.0.iter().find(|(k, v)| k == "dryRun" && v != "All") {
        return Err(ApiError::new(
            422,
            "Invalid",
            format!(
                "dryRun: Unsupported value: \"{}\": supported values: \"All\"",
                dry.1
            ),
        ));
    }
    let verb = verb_of(method, &p, params);
    // A verb discovery does not list (deletecollection on namespaces) is not served.
    if p.subresource.is_none() && !r.verbs.contains(&verb) && verb != "unknown" {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    let injected = sh.faults.check(verb, &r.plural, &r.kind);
    if !injected.latency.is_zero() {
        tokio::time::sleep(injected.latency).await;
    }
    if let Some(e) = injected.error {
        return Err(e);
    }
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let sub = p.subresource.clone();
    let part = sub.as_deref().and_then(|s| r.part_subresource(s));
    let part_allows = |verb: &str| part.is_some_and(|p| p.verbs.contains(&verb));
    match (method.as_str(), p.name.clone(), sub.as_deref()) {
        ("GET", Some(name), None) => resources::get(sh, &r, &p, &name, rep),
        ("GET", Some(name), Some("log")) if r.has_log() => logs::pod_log(sh, &r, &p, &name, params),
        ("GET", Some(name), Some(_)) if part_allows("get") => {
            resources::get(sh, &r, &p, &name, rep)
        }
        ("GET", Some(name), Some("scale")) if r.scale.is_some() => {
            resources::get_scale(sh, &r, &p, &name)
        }
        ("GET", None, None) if params.flag("watch") => watch::watch(sh, r.clone(), &p, params, rep),
        ("GET", None, None) => resources::list(sh, &r, &p, params, rep),
        ("POST", None, None) => {
            let obj = request::decode_object_body(body, &request::content_type(headers), &r)?;
            let mut w = Writer::new(sh, &r, &p, params, ua)?;
            resources::create(&mut w, &p, obj)
        }
        ("PUT", Some(name), None) => {
            let obj = request::decode_object_body(body, &request::content_type(headers), &r)?;
            let mut w = Writer::new(sh, &r, &p, params, ua)?;
            resources::update(&mut w, &name, None, obj)
        }
        ("PUT", Some(name), Some(s)) if part_allows("update") => {
            let obj = request::decode_object_body(body, &request::content_type(headers), &r)?;
            let mut w = Writer::new(sh, &r, &p, params, ua)?;
            resources::update(&mut w, &name, Some(s), obj)
        }
        ("PUT", Some(name), Some("scale")) if r.scale.is_some() => {
            let mut w = Writer::new(sh, &r, &p, params, ua)?;
            resources::write_scale(&mut w, &name, None, body)
        }
        ("PATCH", Some(name), sub @ None) | ("PATCH", Some(name), sub @ Some(_))
            if sub.is_none() || part_allows("patch") =>
        {
            let mut w = Writer::new(sh, &r, &p, params, ua)?;
            resources::patch(
                &mut w,
                &name,
                sub,
                &request::content_type(headers),
                body,
                params,
            )
        }
        ("PATCH", Some(name), Some("scale")) if r.scale.is_some() => {
            let mut w = Writer::new(sh, &r, &p, params, ua)?;
            let ct = request::content_type(headers);
            resources::write_scale(&mut w, &name, Some(&ct), body)
        }
        ("DELETE", Some(name), None) => {
            let resp = resources::delete(sh, &r, &p, &name, params, body);
            sh.gc_wake.notify_one();
            resp
        }
        ("DELETE", None, None) => {
            let resp = resources::delete_collection(sh, &r, &p, params, body);
            sh.gc_wake.notify_one();
            resp
        }
        // A subresource the kind does not have is not a path the server serves.
        (_, _, Some(s))
            if part.is_none()
                && !(s == "scale" && r.scale.is_some())
                && !(s == "log" && r.has_log()) =>
        {
            Err(ApiError::no_route())
        }
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}

/// `/_sandbox/...`: test controls that a real server does not have.
fn admin(sh: &Arc<Shared>, method: &Method, what: &str, body: &[u8]) -> Result<Response, ApiError> {
    let ok = |v: Value| Ok(json_response(StatusCode::OK, &v, &[]));
    match (method.as_str(), what) {
        ("GET", "faults") => ok(json!({"rules": sh.faults.rules()})),
        ("PUT" | "POST", "faults") => {
            #[derive(serde::Deserialize)]
            struct Body {
                rules: Vec<FaultRule>,
            }
            let b: Body = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid fault rules: {e}")))?;
            sh.faults.set(b.rules);
            ok(json!({"rules": sh.faults.rules()}))
        }
        ("DELETE", "faults") => {
            sh.faults.set(Vec::new());
            ok(json!({"rules": []}))
        }
        ("POST", "watches/drop") => {
            let open = sh.drop_watches.receiver_count();
            sh.drop_watches.send_modify(|n| *n += 1);
            ok(json!({"dropped": open}))
        }
        ("GET", "config") => {
            ok(json!({"rolloutDelayMs": sh.rollout_delay_ms.load(Ordering::Relaxed)}))
        }
        ("PUT" | "POST", "config") => {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid config: {e}")))?;
            if let Some(ms) = v.get("rolloutDelayMs").and_then(Value::as_u64) {
                sh.rollout_delay_ms.store(ms, Ordering::Relaxed);
            }
            ok(json!({"rolloutDelayMs": sh.rollout_delay_ms.load(Ordering::Relaxed)}))
        }
        ("GET", "clock") => ok(json!({"offsetSeconds": sh.clock_offset_s.load(Ordering::Relaxed)})),
        ("PUT" | "POST", "clock") => {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid clock: {e}")))?;
            let Some(secs) = v
                .get("advanceSeconds")
                .and_then(Value::as_i64)
                .filter(|s| *s >= 0)
            else {
                return Err(ApiError::bad_request(
                    "clock: advanceSeconds must be a non-negative integer",
                ));
            };
            let total = sh.clock_offset_s.fetch_add(secs, Ordering::Relaxed) + secs;
            ok(json!({"offsetSeconds": total}))
        }
        ("GET", "stats") => ok(
            json!({"objects": sh.store.object_count(), "resourceVersion": sh.store.current_rv().to_string(), "watches": sh.drop_watches.receiver_count()}),
        ),
        _ => Err(ApiError::no_route()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_decoded() {
        let p = parse_query(Some("labelSelector=app%3Dweb%2Ctier+in+(a)&watch=true&x"));
        assert_eq!(p.get("labelSelector"), Some("app=web,tier in (a)"));
        assert!(p.flag("watch"));
        assert_eq!(p.get("x"), Some(""));
        assert_eq!(percent_decode("%zz%"), "%zz%");
    }
}
