//! Authentication and authorization, as the real API server does them:
//! bearer tokens (the admin token of the written kubeconfig, and signed
//! ServiceAccount tokens), impersonation headers, and RBAC.
//!
//! Every request passes [`check`] before it is served. An anonymous request
//! gets 401 except on the health and version paths a real server leaves open;
//! a bad or expired token gets 401; a request RBAC does not allow gets 403
//! worded as the real server words it. With `anonymous_admin` every request
//! is the admin (the sandbox's behaviour before authentication existed).

pub mod attributes;
pub mod impersonate;
pub mod policy;
pub mod rbac;
pub mod review;
pub mod token;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use axum::http::{HeaderMap, header};
use serde_json::{Value, json};

use crate::api::Shared;
use crate::api::status::ApiError;
use crate::catalog::GroupResource;
use crate::store::ObjKey;
use rbac::{Attributes, Decision};

/// The admin's user name, as kind's and kubeadm's admin kubeconfig names it.
pub const ADMIN_USER: &str = "kubernetes-admin";
pub const ANONYMOUS_USER: &str = "system:anonymous";
pub const AUTHENTICATED: &str = "system:authenticated";
pub const UNAUTHENTICATED: &str = "system:unauthenticated";

/// Who a request is from (or acts as).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    pub fn admin() -> UserInfo {
        UserInfo {
            name: ADMIN_USER.into(),
            groups: vec![rbac::MASTERS.into(), AUTHENTICATED.into()],
            ..Default::default()
        }
    }

    pub fn anonymous() -> UserInfo {
        UserInfo {
            name: ANONYMOUS_USER.into(),
            groups: vec![UNAUTHENTICATED.into()],
            ..Default::default()
        }
    }

    /// The `UserInfo` of TokenReview and SelfSubjectReview.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"username": self.name});
        if !self.uid.is_empty() {
            v["uid"] = self.uid.clone().into();
        }
        if !self.groups.is_empty() {
            v["groups"] = json!(self.groups);
        }
        if !self.extra.is_empty() {
            v["extra"] = json!(self.extra);
        }
        v
    }
}

/// The API server's audiences: tokens for other audiences are refused.
pub fn api_audiences() -> [&'static str; 1] {
    [token::ISSUER]
}

/// The authenticator and authorizer state of one sandbox.
pub struct Auth {
    /// False: every request is the admin (`--anonymous-admin`).
    enabled: bool,
    admin_token: String,
    pub signer: token::Signer,
    /// The RBAC index and the count of RBAC writes it was built at.
    index: RwLock<(u64, Arc<rbac::Index>)>,
    /// Tokens whose signature has been verified, with their claims: checking an
    /// ECDSA signature per request would cost more than serving most requests.
    /// Expiry, audience and the account are still checked every time.
    verified: std::sync::Mutex<std::collections::HashMap<String, Arc<token::Claims>>>,
}

/// How many verified tokens are remembered before the memory is cleared.
const VERIFIED_CAPACITY: usize = 4096;

impl Auth {
    pub fn new(enabled: bool, admin_token: String, signer: token::Signer) -> Auth {
        Auth {
            enabled,
            admin_token,
            signer,
            index: RwLock::new((u64::MAX, Arc::new(rbac::Index::default()))),
            verified: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The RBAC index, rebuilt when an RBAC object has changed since it was built.
    pub fn index(&self, sh: &Shared) -> Arc<rbac::Index> {
        let writes = sh.store.rbac_writes();
        if let Ok(guard) = self.index.read()
            && guard.0 == writes
        {
            return guard.1.clone();
        }
        let mut guard = match self.index.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if guard.0 != writes {
            let list = |resource: &str| {
                sh.store
                    .list(
                        &GroupResource {
                            group: "rbac.authorization.k8s.io".into(),
                            resource: resource.into(),
                        },
                        None,
                    )
                    .0
            };
            let index = rbac::Index::build(
                &list("clusterroles"),
                &list("roles"),
                &list("clusterrolebindings"),
                &list("rolebindings"),
            );
            *guard = (writes, Arc::new(index));
        }
        guard.1.clone()
    }

    pub fn authorize(&self, sh: &Shared, user: &UserInfo, a: &Attributes) -> Decision {
        self.index(sh).authorize(user, a)
    }

    /// The user a bearer token stands for, or why it is not accepted.
    pub fn authenticate_token(
        &self,
        sh: &Shared,
        token: &str,
        audiences: &[&str],
    ) -> Result<UserInfo, String> {
        if !self.admin_token.is_empty() && constant_time_eq(token, &self.admin_token) {
            return Ok(UserInfo::admin());
        }
        if !token::looks_like_jwt(token) {
            return Err("invalid bearer token".into());
        }
        let now = jiff::Timestamp::now().as_second();
        let remembered = self
            .verified
            .lock()
            .ok()
            .and_then(|m| m.get(token).cloned());
        let claims = match remembered {
            Some(c) => {
                token::check_claims(&c, now, audiences).map_err(|e| e.to_string())?;
                c
            }
            None => {
                let c = Arc::new(
                    self.signer
                        .verify(token, now, audiences)
                        .map_err(|e| e.to_string())?,
                );
                if let Ok(mut m) = self.verified.lock() {
                    if m.len() >= VERIFIED_CAPACITY {
                        m.clear();
                    }
                    m.insert(token.to_string(), c.clone());
                }
                c
            }
        };
        let ns = &claims.kubernetes.namespace;
        let sa = &claims.kubernetes.serviceaccount;
        let current = sh.store.get(
            &GroupResource {
                group: String::new(),
                resource: "serviceaccounts".into(),
            },
            &ObjKey {
                namespace: ns.clone(),
                name: sa.name.clone(),
            },
        );
        let uid = current
            .as_ref()
            .and_then(|o| o["metadata"]["uid"].as_str())
            .map(str::to_string);
        match uid {
            None => Err(format!("serviceaccounts \"{}\" not found", sa.name)),
            Some(uid) if uid != sa.uid => Err(format!(
                "service account UID ({}) does not match claim ({})",
                uid, sa.uid
            )),
            Some(uid) => {
                let mut extra = BTreeMap::new();
                if !claims.jti.is_empty() {
                    extra.insert(
                        "authentication.kubernetes.io/credential-id".into(),
                        vec![format!("JTI={}", claims.jti)],
                    );
                }
                Ok(UserInfo {
                    name: rbac::service_account_user(ns, &sa.name),
                    uid,
                    groups: vec![
                        "system:serviceaccounts".into(),
                        format!("system:serviceaccounts:{ns}"),
                        AUTHENTICATED.into(),
                    ],
                    extra,
                })
            }
        }
    }
}

/// Compares secrets without returning early at the first difference.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The bearer token of a request, if it carries one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Paths an anonymous request may reach (then RBAC decides, as for anyone):
/// the health and version endpoints that `system:public-info-viewer` opens.
fn anonymous_path(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    matches!(first, "healthz" | "livez" | "readyz" | "version")
}

/// 401, as the real server answers a request it cannot authenticate.
pub fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized")
}

/// 403, worded as the real server words a denial:
/// `pods is forbidden: User "u" cannot list resource "pods" in API group "" in the namespace "ns"`.
pub fn forbidden(user: &str, a: &Attributes, reason: &str) -> ApiError {
    let mut why = if !a.resource_request {
        format!("User {user:?} cannot {} path {:?}", a.verb, a.path)
    } else if !a.namespace.is_empty() {
        format!(
            "User {user:?} cannot {} resource {:?} in API group {:?} in the namespace {:?}",
            a.verb,
            a.combined_resource(),
            a.api_group,
            a.namespace
        )
    } else {
        format!(
            "User {user:?} cannot {} resource {:?} in API group {:?} at the cluster scope",
            a.verb,
            a.combined_resource(),
            a.api_group
        )
    };
    if !reason.is_empty() {
        why = format!("{why}: {reason}");
    }
    if !a.resource_request || a.resource.is_empty() {
        return ApiError::new(403, "Forbidden", format!("forbidden: {why}"))
            .with_details(json!({}));
    }
    let gr = if a.api_group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.api_group)
    };
    let message = if a.name.is_empty() {
        format!("{gr} is forbidden: {why}")
    } else {
        format!("{gr} {:?} is forbidden: {why}", a.name)
    };
    ApiError::forbidden(&a.resource, &a.api_group, &a.name, message)
}

/// Authenticates a request, applies its impersonation headers and authorizes
/// it. Returns the user the request acts as.
pub fn check(
    sh: &Shared,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<UserInfo, ApiError> {
    let auth = &sh.auth;
    let user = if !auth.enabled() {
        UserInfo::admin()
    } else {
        match bearer_token(headers) {
            Some(t) => auth
                .authenticate_token(sh, t, &api_audiences())
                .map_err(|why| {
                    tracing::debug!(%path, %why, "authentication failed");
                    unauthorized()
                })?,
            None if anonymous_path(path) => UserInfo::anonymous(),
            None => return Err(unauthorized()),
        }
    };
    let user = impersonate::apply(sh, user, headers)?;
    // The admin needs no look-up: it is allowed everything.
    if user.groups.iter().any(|g| g == rbac::MASTERS) {
        return Ok(user);
    }
    let a = attributes::request_attributes(method, path, query);
    let d = auth.authorize(sh, &user, &a);
    if !d.allowed {
        return Err(forbidden(&user.name, &a, &d.reason));
    }
    if creates_by_apply(sh, method, headers, &a) {
        let mut create = a.clone();
        create.verb = "create".into();
        let d = auth.authorize(sh, &user, &create);
        if !d.allowed {
            return Err(forbidden_create_on_apply(&create, &d.reason));
        }
    }
    Ok(user)
}

/// Whether the request is a server-side apply of an object that does not
/// exist yet: the real server then also asks for `create`.
fn creates_by_apply(sh: &Shared, method: &str, headers: &HeaderMap, a: &Attributes) -> bool {
    let apply = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/apply-patch"));
    if method != "PATCH"
        || !apply
        || !a.resource_request
        || a.name.is_empty()
        || !a.subresource.is_empty()
    {
        return false;
    }
    let Some(r) = sh.catalog.get(&a.api_group, &a.api_version, &a.resource) else {
        return false;
    };
    let key = ObjKey {
        namespace: if r.namespaced {
            a.namespace.clone()
        } else {
            String::new()
        },
        name: a.name.clone(),
    };
    sh.store.get(r.storage_key(), &key).is_none()
}

/// The real server's refusal of a create by apply: the denial's reason alone,
/// after `"name" is forbidden: ` (RBAC gives none, so the message ends there).
fn forbidden_create_on_apply(a: &Attributes, reason: &str) -> ApiError {
    let gr = if a.api_group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.api_group)
    };
    ApiError::forbidden(
        &a.resource,
        &a.api_group,
        &a.name,
        format!("{gr} {:?} is forbidden: {reason}", a.name),
    )
}

/// A new random admin token.
pub fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The admin token of a data directory (`DIR/pki/admin-token`), created on first use.
pub fn load_or_create_admin_token(dir: &std::path::Path) -> std::io::Result<String> {
    let path = dir.join("pki").join("admin-token");
    if let Ok(t) = std::fs::read_to_string(&path)
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_string());
    }
    std::fs::create_dir_all(dir.join("pki"))?;
    let t = new_token();
    crate::tls::write_private(&path, t.as_bytes())?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(
        verb: &str,
        group: &str,
        resource: &str,
        sub: &str,
        ns: &str,
        name: &str,
    ) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource_request: true,
            api_group: group.into(),
            namespace: ns.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn forbidden_messages_are_worded_as_the_real_server() {
        let sa = "system:serviceaccount:ns:sa";
        let e = forbidden(sa, &attrs("list", "", "pods", "", "other", ""), "");
        assert_eq!(
            e.message,
            r#"pods is forbidden: User "system:serviceaccount:ns:sa" cannot list resource "pods" in API group "" in the namespace "other""#
        );
        assert_eq!(e.to_status()["details"], json!({"kind": "pods"}));
        assert_eq!(e.to_status()["reason"], "Forbidden");
        assert_eq!(e.code, 403);
        let e = forbidden(
            "bob",
            &attrs("get", "apps", "deployments", "scale", "a", "web"),
            "",
        );
        assert_eq!(
            e.message,
            r#"deployments.apps "web" is forbidden: User "bob" cannot get resource "deployments/scale" in API group "apps" in the namespace "a""#
        );
        assert_eq!(
            e.to_status()["details"],
            json!({"name": "web", "group": "apps", "kind": "deployments"})
        );
        let e = forbidden("bob", &attrs("list", "", "nodes", "", "", ""), "RBAC: x");
        assert_eq!(
            e.message,
            r#"nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope: RBAC: x"#
        );
        let np = Attributes {
            verb: "get".into(),
            path: "/api".into(),
            ..Default::default()
        };
        let e = forbidden("system:anonymous", &np, "");
        assert_eq!(
            e.message,
            r#"forbidden: User "system:anonymous" cannot get path "/api""#
        );
        assert_eq!(e.to_status()["details"], json!({}));
    }

    #[test]
    fn bearer_tokens_and_open_paths() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
        assert!(
            anonymous_path("/healthz")
                && anonymous_path("/readyz/ping")
                && anonymous_path("/version")
        );
        assert!(
            !anonymous_path("/api")
                && !anonymous_path("/openapi/v2")
                && !anonymous_path("/_sandbox/stats")
        );
        assert!(
            constant_time_eq("abc", "abc")
                && !constant_time_eq("abc", "abd")
                && !constant_time_eq("a", "ab")
        );
    }

    #[test]
    fn admin_tokens_are_kept_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_admin_token(dir.path()).unwrap();
        assert_eq!(a.len(), 64);
        assert_eq!(load_or_create_admin_token(dir.path()).unwrap(), a);
    }
}
