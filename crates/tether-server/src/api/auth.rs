//! Who may call the API: bearer tokens with a role, stored hashed in one
//! Kubernetes Secret in the agent's namespace so every replica sees the same
//! set, and a revoked token stops working as soon as the watch delivers the
//! change.
//!
//! A request carries its token as `Authorization: Bearer …` or, from the
//! browser, in the session cookie that `POST /api/v1/session` sets. A request
//! authenticated by the cookie that changes state must also carry a JSON
//! content type or the `X-Tether-Request` header: a cross-site form can send
//! neither, so it cannot act with the user's cookie.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, header};
use futures_util::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// The Secret that holds the tokens' hashes (never the tokens).
pub const TOKENS_SECRET: &str = "tether-api-tokens";
/// The browser's session cookie.
pub const SESSION_COOKIE: &str = "tether_session";
/// The header a cookie-authenticated state-changing request may carry
/// instead of a JSON content type.
pub const REQUEST_HEADER: &str = "x-tether-request";
/// Every token starts with this, so a leaked one is easy to find in logs or
/// code by secret scanners.
pub const TOKEN_PREFIX: &str = "tether_";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Reads and the stream.
    Readonly,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "readonly" => Some(Role::Readonly),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Readonly => "readonly",
        }
    }
}

/// What a caller wants to do. Projects (a later issue) will scope these to
/// the apps a token may see; the object is passed for that reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// Read apps, objects, history, events, audit, logs, and the stream.
    Read,
    /// Sync, rollback, refresh, delete.
    Write,
    /// Manage tokens.
    Admin,
}

/// One token's record in the Secret: `data[name]` is this, as JSON.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    pub role: Role,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; none: never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The token's name: the actor in the audit log (`token:NAME`).
    pub name: String,
    pub role: Role,
    /// False for a request signed in by the session cookie alone, without the
    /// custom header or a JSON body: it may read but never act, whatever its
    /// method (a GET with `?refresh=` writes too).
    pub may_act: bool,
}

impl Caller {
    /// The actor as the audit log and the refresh annotation name it.
    pub fn actor(&self) -> String {
        format!("token:{}", self.name)
    }

    /// May this caller do `verb` (on `object`, `namespace/name`, when there is one)?
    pub fn allow(&self, verb: Verb, object: Option<&str>) -> Result<(), ApiError> {
        let _ = object; // projects will scope by object
        if verb != Verb::Read && !self.may_act {
            return Err(ApiError::forbidden(format!(
                "a request that changes state with the session cookie must send the {REQUEST_HEADER} header or a JSON body"
            )));
        }
        match (self.role, verb) {
            (Role::Admin, _) | (Role::Readonly, Verb::Read) => Ok(()),
            (Role::Readonly, _) => Err(ApiError::forbidden(format!(
                "token {:?} has the readonly role, which may only read; use an admin token",
                self.name
            ))),
        }
    }
}

/// The tokens every replica knows, kept current by a watch on the Secret.
#[derive(Clone)]
pub struct TokenStore {
    /// By hash.
    known: Arc<RwLock<HashMap<String, (String, TokenRecord)>>>,
    ready: Arc<std::sync::atomic::AtomicBool>,
}

impl TokenStore {
    pub fn start(client: kube::Client, namespace: &str) -> TokenStore {
        let store = TokenStore::fixed(std::iter::empty());
        store
            .ready
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let api: Api<Secret> = Api::namespaced(client, namespace);
        let this = store.clone();
        tokio::spawn(async move {
            let config =
                watcher::Config::default().fields(&format!("metadata.name={TOKENS_SECRET}"));
            let mut events = watcher::watcher(api, config).default_backoff().boxed();
            // A re-list replaces the whole set, so a Secret deleted while the watch
            // was down revokes its tokens too.
            let mut relisted: Option<Secret> = None;
            while let Some(ev) = events.next().await {
                match ev {
                    Ok(watcher::Event::Apply(secret)) => this.load(Some(&secret)),
                    Ok(watcher::Event::Delete(_)) => this.load(None),
                    Ok(watcher::Event::Init) => relisted = None,
                    Ok(watcher::Event::InitApply(secret)) => relisted = Some(secret),
                    Ok(watcher::Event::InitDone) => this.load(relisted.take().as_ref()),
                    Err(e) => tracing::warn!("API tokens: watching Secret {TOKENS_SECRET}: {e}"),
                }
            }
        });
        store
    }

    /// A store with the given tokens, for tests and benches.
    pub fn fixed(tokens: impl IntoIterator<Item = (String, TokenRecord)>) -> TokenStore {
        let known = tokens
            .into_iter()
            .map(|(name, rec)| (rec.sha256.clone(), (name, rec)))
            .collect();
        TokenStore {
            known: Arc::new(RwLock::new(known)),
            ready: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        }
    }

    /// Replace the known tokens with the Secret's; none when it is gone.
    fn load(&self, secret: Option<&Secret>) {
        let mut known = HashMap::new();
        for (name, value) in secret.and_then(|s| s.data.as_ref()).into_iter().flatten() {
            match serde_json::from_slice::<TokenRecord>(&value.0) {
                Ok(rec) => {
                    known.insert(rec.sha256.clone(), (name.clone(), rec));
                }
                Err(e) => {
                    tracing::warn!(token = %name, "API tokens: unreadable entry ignored: {e}")
                }
            }
        }
        *self.known.write().unwrap_or_else(|e| e.into_inner()) = known;
        self.ready.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The caller a presented token belongs to.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        let hash = hash(token);
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        let Some((name, rec)) = known.get(&hash) else {
            return Err(ApiError::unauthenticated(
                "the token is not valid (unknown or revoked); create one with `tether token create NAME --role admin|readonly`",
            ));
        };
        if let Some(expires) = &rec.expires_at {
            let expired = expires
                .parse::<jiff::Timestamp>()
                .map(|t| t <= jiff::Timestamp::now())
                .unwrap_or(true);
            if expired {
                return Err(ApiError::unauthenticated(format!(
                    "token {name:?} expired at {expires}; create a new one with `tether token create`"
                )));
            }
        }
        Ok(Caller {
            name: name.clone(),
            role: rec.role,
            may_act: true,
        })
    }
}

/// Hex SHA-256.
pub fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random token (256 bits from the OS).
pub fn generate() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{TOKEN_PREFIX}{a}{b}")
}

/// Token names are the Secret's data keys.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        // The field manager `tether-token-NAME` must fit Kubernetes' 128.
        && name.len() <= 115
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "token name {name:?} is invalid: use 1 to 115 letters, digits, '-', '_' or '.'"
        ))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Invalid(String),
    #[error("a token named {0:?} exists; revoke it first or choose another name")]
    Exists(String),
    #[error("no token named {0:?}")]
    NotFound(String),
    #[error("{0}")]
    Kube(#[from] kube::Error),
}

/// Create a token; returns its value, which is never stored and cannot be
/// shown again. Creates the namespace and the Secret when missing.
pub async fn create(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    role: Role,
    expires_at: Option<jiff::Timestamp>,
) -> Result<String, TokenError> {
    check_name(name).map_err(TokenError::Invalid)?;
    ensure_namespace(client, namespace).await?;
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    if let Some(secret) = api.get_opt(TOKENS_SECRET).await?
        && secret.data.as_ref().is_some_and(|d| d.contains_key(name))
    {
        return Err(TokenError::Exists(name.to_string()));
    }
    let token = generate();
    let rec = TokenRecord {
        role,
        sha256: hash(&token),
        created_at: jiff::Timestamp::now().to_string(),
        expires_at: expires_at.map(|t| t.to_string()),
    };
    let value = serde_json::to_vec(&rec).map_err(|e| TokenError::Invalid(e.to_string()))?;
    let patch = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": TOKENS_SECRET, "labels": {"app.kubernetes.io/part-of": "tether"}},
        "type": "Opaque",
        "data": {name: ByteString(value)},
    });
    // Server-side apply with one field manager per token: creating one never
    // rewrites another's entry, and two creates cannot lose each other.
    api.patch(
        TOKENS_SECRET,
        &PatchParams::apply(&format!("tether-token-{name}")),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(token)
}

/// Every token's name and record.
pub async fn list(
    client: &kube::Client,
    namespace: &str,
) -> Result<Vec<(String, TokenRecord)>, TokenError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let Some(secret) = api.get_opt(TOKENS_SECRET).await? else {
        return Ok(Vec::new());
    };
    let mut out: Vec<(String, TokenRecord)> = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, v)| Some((name, serde_json::from_slice(&v.0).ok()?)))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Remove a token: every replica refuses it once its watch sees the change.
pub async fn revoke(client: &kube::Client, namespace: &str, name: &str) -> Result<(), TokenError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api.get_opt(TOKENS_SECRET).await?;
    if !secret
        .as_ref()
        .and_then(|s| s.data.as_ref())
        .is_some_and(|d| d.contains_key(name))
    {
        return Err(TokenError::NotFound(name.to_string()));
    }
    // A merge patch with null removes the key and nothing else.
    let patch = serde_json::json!({"data": {name: null}});
    api.patch(
        TOKENS_SECRET,
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

async fn ensure_namespace(client: &kube::Client, namespace: &str) -> Result<(), kube::Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    if api.get_opt(namespace).await?.is_some() {
        return Ok(());
    }
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// The token a request presents: the bearer header first, then the cookie.
/// The second value says whether it came from the cookie.
pub(crate) fn presented(parts: &Parts) -> Option<(String, bool)> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let text = value.to_str().ok()?;
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))?;
        return Some((token.trim().to_string(), false));
    }
    for value in parts.headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=')
                && k == SESSION_COOKIE
            {
                return Some((v.to_string(), true));
            }
        }
    }
    None
}

/// A state-changing request made with the cookie must prove it is not a
/// cross-site form.
fn csrf_safe(parts: &Parts) -> bool {
    matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
        || proves_same_origin(parts)
}

/// The request carries what a cross-site form cannot send: the custom header or
/// a JSON content type.
fn proves_same_origin(parts: &Parts) -> bool {
    if parts.headers.contains_key(REQUEST_HEADER) {
        return true;
    }
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        })
}

impl<S> FromRequestParts<S> for Caller
where
    TokenStore: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Caller, ApiError> {
        let store = TokenStore::from_ref(state);
        let Some((token, from_cookie)) = presented(parts) else {
            return Err(ApiError::unauthenticated(
                "no token: send `Authorization: Bearer TOKEN` (create one with `tether token create NAME --role admin|readonly`)",
            ));
        };
        let mut caller = store.verify(&token)?;
        // A GET that acts (`?refresh=`) is checked when it asks to write: see `allow`.
        caller.may_act = !from_cookie || proves_same_origin(parts);
        if from_cookie && !csrf_safe(parts) {
            return Err(ApiError::forbidden(format!(
                "a request that changes state with the session cookie must send Content-Type: application/json or the {REQUEST_HEADER} header"
            )));
        }
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (TokenStore, String, String) {
        let admin = generate();
        let reader = generate();
        let rec = |role, token: &str, expires: Option<&str>| TokenRecord {
            role,
            sha256: hash(token),
            created_at: "2026-01-01T00:00:00Z".into(),
            expires_at: expires.map(str::to_string),
        };
        let expired = "tether_expired";
        let store = TokenStore::fixed([
            ("ci".to_string(), rec(Role::Admin, &admin, None)),
            (
                "viewer".to_string(),
                rec(Role::Readonly, &reader, Some("2999-01-01T00:00:00Z")),
            ),
            (
                "old".to_string(),
                rec(Role::Admin, expired, Some("2020-01-01T00:00:00Z")),
            ),
        ]);
        (store, admin, reader)
    }

    #[test]
    fn tokens_verify_by_hash_and_expire() {
        let (store, admin, reader) = store();
        assert_eq!(store.verify(&admin).unwrap().name, "ci");
        assert_eq!(store.verify(&reader).unwrap().role, Role::Readonly);
        let e = store.verify("tether_expired").unwrap_err();
        assert_eq!(e.code, "Unauthenticated");
        assert!(e.message.contains("expired"), "{}", e.message);
        assert_eq!(store.verify("nope").unwrap_err().code, "Unauthenticated");
    }

    #[test]
    fn readonly_reads_but_never_writes() {
        let c = Caller {
            name: "v".into(),
            role: Role::Readonly,
            may_act: true,
        };
        assert!(c.allow(Verb::Read, None).is_ok());
        assert_eq!(
            c.allow(Verb::Write, Some("a/b")).unwrap_err().code,
            "Forbidden"
        );
        assert_eq!(c.allow(Verb::Admin, None).unwrap_err().code, "Forbidden");
        let a = Caller {
            name: "a".into(),
            role: Role::Admin,
            may_act: true,
        };
        assert!(a.allow(Verb::Write, Some("a/b")).is_ok());
        // The cookie alone, without the header or JSON: reads only, even for an admin.
        let cookie_only = Caller {
            may_act: false,
            ..a
        };
        assert!(cookie_only.allow(Verb::Read, None).is_ok());
        assert_eq!(
            cookie_only
                .allow(Verb::Write, Some("a/b"))
                .unwrap_err()
                .code,
            "Forbidden"
        );
    }

    #[test]
    fn a_deleted_secret_revokes_every_token() {
        let (store, admin, _) = store();
        assert!(store.verify(&admin).is_ok());
        store.load(None);
        assert_eq!(store.verify(&admin).unwrap_err().code, "Unauthenticated");
    }

    #[test]
    fn generated_tokens_are_long_random_and_prefixed() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
    }

    #[test]
    fn names_are_secret_keys() {
        assert!(check_name("ci-bot.prod_1").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name(&"x".repeat(115)).is_ok());
        assert!(check_name(&"x".repeat(116)).is_err());
    }

    fn parts(method: Method, headers: &[(&str, &str)]) -> Parts {
        let mut req = axum::http::Request::builder()
            .method(method)
            .uri("/api/v1/x");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn cookie_writes_need_json_or_the_header() {
        let form = parts(
            Method::POST,
            &[("content-type", "application/x-www-form-urlencoded")],
        );
        assert!(!csrf_safe(&form));
        assert!(csrf_safe(&parts(
            Method::POST,
            &[("content-type", "application/json; charset=utf-8")]
        )));
        assert!(csrf_safe(&parts(Method::DELETE, &[(REQUEST_HEADER, "1")])));
        assert!(csrf_safe(&parts(Method::GET, &[])));
    }

    #[test]
    fn bearer_wins_over_cookie() {
        let p = parts(
            Method::GET,
            &[
                ("authorization", "Bearer abc"),
                ("cookie", "tether_session=def"),
            ],
        );
        assert_eq!(presented(&p), Some(("abc".into(), false)));
        let p = parts(Method::GET, &[("cookie", "x=1; tether_session=def")]);
        assert_eq!(presented(&p), Some(("def".into(), true)));
        assert_eq!(presented(&parts(Method::GET, &[])), None);
    }
}
