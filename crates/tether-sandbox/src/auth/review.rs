//! The create-only authentication and authorization kinds: TokenRequest
//! (`serviceaccounts/{name}/token`, `kubectl create token`), TokenReview,
//! SelfSubjectReview (`kubectl auth whoami`), SelfSubjectAccessReview,
//! SubjectAccessReview, LocalSubjectAccessReview (`kubectl auth can-i`) and
//! SelfSubjectRulesReview (`kubectl auth can-i --list`). Nothing is stored:
//! each answers in its response, with 201 Created, as the real server does.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::rbac::{Attributes, review_rules};
use super::{Auth, UserInfo, api_audiences, token};
use crate::api::Shared;
use crate::api::request::{self, ResourcePath};
use crate::api::resources::json_response;
use crate::api::status::ApiError;
use crate::catalog::GroupResource;
use crate::store::ObjKey;

const AUTHN: &str = "authentication.k8s.io";
const AUTHZ: &str = "authorization.k8s.io";

/// The review kind a path names, if any (named as the kinds are).
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq)]
enum Review {
    TokenRequest,
    TokenReview,
    SelfSubjectReview,
    SelfSubjectAccessReview,
    SubjectAccessReview,
    LocalSubjectAccessReview,
    SelfSubjectRulesReview,
}

fn review_of(p: &ResourcePath) -> Option<Review> {
    let ns = p.namespace.is_some();
    let named = p.name.is_some();
    match (p.group.as_str(), p.version.as_str(), p.plural.as_str()) {
        ("", "v1", "serviceaccounts")
            if ns && named && p.subresource.as_deref() == Some("token") =>
        {
            Some(Review::TokenRequest)
        }
        _ if p.version != "v1" || named || p.subresource.is_some() => None,
        (AUTHN, _, "tokenreviews") if !ns => Some(Review::TokenReview),
        (AUTHN, _, "selfsubjectreviews") if !ns => Some(Review::SelfSubjectReview),
        (AUTHZ, _, "selfsubjectaccessreviews") if !ns => Some(Review::SelfSubjectAccessReview),
        (AUTHZ, _, "subjectaccessreviews") if !ns => Some(Review::SubjectAccessReview),
        (AUTHZ, _, "localsubjectaccessreviews") if ns => Some(Review::LocalSubjectAccessReview),
        (AUTHZ, _, "selfsubjectrulesreviews") if !ns => Some(Review::SelfSubjectRulesReview),
        _ => None,
    }
}

/// Serves a review path; None when the path is not one.
pub fn handle(
    sh: &Arc<Shared>,
    user: &UserInfo,
    method: &Method,
    p: &ResourcePath,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Result<Response, ApiError>> {
    let review = review_of(p)?;
    if method != Method::POST {
        return Some(Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )));
    }
    Some(serve(sh, user, review, p, headers, body))
}

fn serve(
    sh: &Arc<Shared>,
    user: &UserInfo,
    review: Review,
    p: &ResourcePath,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let obj = request::decode_body(body, &request::content_type(headers))?;
    let mut spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let auth = &sh.auth;
    let (kind, group, status, spec) = match review {
        Review::TokenRequest => return token_request(sh, p, &spec),
        Review::TokenReview => {
            let (status, spec) = token_review(sh, auth, &spec);
            ("TokenReview", AUTHN, status, spec)
        }
        Review::SelfSubjectReview => (
            "SelfSubjectReview",
            AUTHN,
            json!({"userInfo": user.to_json()}),
            Value::Null,
        ),
        Review::SelfSubjectAccessReview => {
            let status = access_review(sh, user, &mut spec, "SelfSubjectAccessReview", None)?;
            ("SelfSubjectAccessReview", AUTHZ, status, spec)
        }
        Review::SubjectAccessReview => {
            let subject = subject_of(&spec);
            let status = access_review(sh, &subject, &mut spec, "SubjectAccessReview", None)?;
            ("SubjectAccessReview", AUTHZ, status, spec)
        }
        Review::LocalSubjectAccessReview => {
            let ns = p.namespace.as_deref().unwrap_or("");
            let subject = subject_of(&spec);
            let status = access_review(
                sh,
                &subject,
                &mut spec,
                "LocalSubjectAccessReview",
                Some(ns),
            )?;
            ("LocalSubjectAccessReview", AUTHZ, status, spec)
        }
        Review::SelfSubjectRulesReview => {
            let ns = spec["namespace"].as_str().unwrap_or("");
            let (rules, errors) = auth.index(sh).rules_for(user, ns);
            let (resource, non_resource) = review_rules(&rules);
            let mut status = json!({
                "resourceRules": resource,
                "nonResourceRules": non_resource,
                "incomplete": !errors.is_empty(),
            });
            if !errors.is_empty() {
                status["evaluationError"] = errors.join(", ").into();
            }
            ("SelfSubjectRulesReview", AUTHZ, status, spec)
        }
    };
    let mut metadata = json!({"creationTimestamp": null});
    if let Some(ns) = &p.namespace {
        metadata["namespace"] = ns.clone().into();
    }
    let mut out = json!({
        "kind": kind,
        "apiVersion": format!("{group}/v1"),
        "metadata": metadata,
    });
    if !spec.is_null() {
        out["spec"] = spec;
    }
    out["status"] = status;
    Ok(json_response(StatusCode::CREATED, &out, &[]))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The user a SubjectAccessReview asks about.
fn subject_of(spec: &Value) -> UserInfo {
    let extra: BTreeMap<String, Vec<String>> = spec["extra"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), strings(v)))
        .collect();
    UserInfo {
        name: spec["user"].as_str().unwrap_or("").to_string(),
        uid: spec["uid"].as_str().unwrap_or("").to_string(),
        groups: strings(&spec["groups"]),
        extra,
    }
}

fn invalid(kind: &str, message: &str, field: &str) -> ApiError {
    let full = format!("{kind}.authorization.k8s.io \"\" is invalid: {field}: {message}");
    ApiError::new(422, "Invalid", full).with_details(json!({
        "group": AUTHZ,
        "kind": kind,
        "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}],
    }))
}

/// The status of an access review of `spec` for `subject`.
fn access_review(
    sh: &Shared,
    subject: &UserInfo,
    spec: &mut Value,
    kind: &str,
    local_namespace: Option<&str>,
) -> Result<Value, ApiError> {
    let resource = spec.get("resourceAttributes").filter(|v| v.is_object());
    let non_resource = spec.get("nonResourceAttributes").filter(|v| v.is_object());
    let a = match (resource, non_resource) {
        (Some(r), None) => {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
            let mut a = Attributes {
                verb: s("verb"),
                resource_request: true,
                api_group: s("group"),
                api_version: s("version"),
                namespace: s("namespace"),
                resource: s("resource"),
                subresource: s("subresource"),
                name: s("name"),
                path: String::new(),
            };
            if let Some(ns) = local_namespace {
                if a.namespace.is_empty() {
                    a.namespace = ns.to_string();
                    spec["resourceAttributes"]["namespace"] = ns.into();
                } else if a.namespace != ns {
                    return Err(invalid(
                        kind,
                        &format!(
                            "Invalid value: {:?}: must match metadata.namespace",
                            a.namespace
                        ),
                        "spec.resourceAttributes.namespace",
                    ));
                }
            }
            a
        }
        (None, Some(n)) => Attributes {
            verb: n["verb"].as_str().unwrap_or("").to_string(),
            path: n["path"].as_str().unwrap_or("").to_string(),
            ..Default::default()
        },
        _ => {
            return Err(invalid(
                kind,
                "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
                "spec.resourceAttributes",
            ));
        }
    };
    let d = sh.auth.authorize(sh, subject, &a);
    let mut status = json!({"allowed": d.allowed});
    if !d.reason.is_empty() {
        status["reason"] = d.reason.into();
    }
    Ok(status)
}

/// TokenReview: whether a token is valid for the audiences asked (the API
/// server's by default), and whose it is.
fn token_review(sh: &Shared, auth: &Auth, spec: &Value) -> (Value, Value) {
    let t = spec["token"].as_str().unwrap_or("");
    let asked = strings(&spec["audiences"]);
    let audiences: Vec<&str> = if asked.is_empty() {
        api_audiences().to_vec()
    } else {
        asked.iter().map(String::as_str).collect()
    };
    let status = match auth.authenticate_token(sh, t, &audiences) {
        Ok(user) => json!({"authenticated": true, "user": user.to_json(), "audiences": audiences}),
        Err(e) => json!({"user": {}, "error": e}),
    };
    (status, spec.clone())
}

/// The shortest and longest token lifetimes the real server accepts.
const MIN_EXPIRATION: i64 = 600;
const MAX_EXPIRATION: i64 = 1 << 32;
const DEFAULT_EXPIRATION: i64 = 3600;

/// `POST .../serviceaccounts/{name}/token`: a signed token for the ServiceAccount.
fn token_request(sh: &Shared, p: &ResourcePath, spec: &Value) -> Result<Response, ApiError> {
    let ns = p.namespace.as_deref().unwrap_or("");
    let name = p.name.as_deref().unwrap_or("");
    let sa = sh
        .store
        .get(
            &GroupResource {
                group: String::new(),
                resource: "serviceaccounts".into(),
            },
            &ObjKey {
                namespace: ns.to_string(),
                name: name.to_string(),
            },
        )
        .ok_or_else(|| {
            ApiError::new(
                404,
                "NotFound",
                format!("serviceaccounts {name:?} not found"),
            )
            .with_details(json!({"name": name, "kind": "serviceaccounts"}))
        })?;
    let uid = sa["metadata"]["uid"].as_str().unwrap_or("").to_string();
    let seconds = match spec["expirationSeconds"].as_i64() {
        None | Some(0) => DEFAULT_EXPIRATION,
        Some(s) => s,
    };
    let too = if seconds < MIN_EXPIRATION {
        Some("may not specify a duration less than 10 minutes")
    } else if seconds > MAX_EXPIRATION {
        Some("may not specify a duration larger than 2^32 seconds")
    } else {
        None
    };
    if let Some(why) = too {
        let message = format!("Invalid value: {seconds}: {why}");
        return Err(ApiError::new(
            422,
            "Invalid",
            format!("TokenRequest.authentication.k8s.io {name:?} is invalid: spec.expirationSeconds: {message}"),
        )
        .with_details(json!({
            "name": name, "group": AUTHN, "kind": "TokenRequest",
            "causes": [{"reason": "FieldValueInvalid", "message": message, "field": "spec.expirationSeconds"}],
        })));
    }
    let mut audiences = strings(&spec["audiences"]);
    if audiences.is_empty() {
        audiences = api_audiences().iter().map(|s| s.to_string()).collect();
    }
    let now = jiff::Timestamp::now().as_second();
    let claims = token::Claims::service_account(ns, name, &uid, audiences.clone(), now, seconds);
    let signed = sh.auth.signer.sign(&claims);
    let expires = jiff::Timestamp::from_second(claims.exp)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    let out = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": null},
        "spec": {
            "audiences": audiences,
            "expirationSeconds": seconds,
            "boundObjectRef": spec.get("boundObjectRef").cloned().unwrap_or(Value::Null),
        },
        "status": {"token": signed, "expirationTimestamp": expires},
    });
    Ok(json_response(StatusCode::CREATED, &out, &[]))
}

/// `/.well-known/openid-configuration` and `/openid/v1/jwks`: the issuer's
/// discovery documents, so that other systems can verify the tokens.
pub fn oidc(sh: &Shared, path: &str) -> Option<Value> {
    match path.trim_end_matches('/') {
        "/.well-known/openid-configuration" => {
            let server = sh.server_address.get().map(String::as_str).unwrap_or("");
            Some(json!({
                "issuer": token::ISSUER,
                "jwks_uri": format!("https://{server}/openid/v1/jwks"),
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["ES256"],
            }))
        }
        "/openid/v1/jwks" => Some(sh.auth.signer.jwks()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rp(path: &str) -> ResourcePath {
        match request::parse_route(path) {
            Some(request::Route::Resource(p)) => p,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn review_paths() {
        assert_eq!(
            review_of(&rp("/api/v1/namespaces/a/serviceaccounts/b/token")),
            Some(Review::TokenRequest)
        );
        assert_eq!(
            review_of(&rp(
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
            )),
            Some(Review::SelfSubjectAccessReview)
        );
        assert_eq!(
            review_of(&rp(
                "/apis/authorization.k8s.io/v1/namespaces/a/localsubjectaccessreviews"
            )),
            Some(Review::LocalSubjectAccessReview)
        );
        assert_eq!(
            review_of(&rp("/apis/authentication.k8s.io/v1/selfsubjectreviews")),
            Some(Review::SelfSubjectReview)
        );
        assert_eq!(
            review_of(&rp("/api/v1/namespaces/a/serviceaccounts/b")),
            None
        );
        assert_eq!(
            review_of(&rp(
                "/apis/authorization.k8s.io/v1/namespaces/a/selfsubjectaccessreviews"
            )),
            None
        );
    }

    #[test]
    fn subject_access_review_subjects() {
        let u = subject_of(
            &json!({"user": "jane", "groups": ["a"], "extra": {"k": ["v"]}, "uid": "1"}),
        );
        assert_eq!(u.name, "jane");
        assert_eq!(u.groups, vec!["a"]);
        assert_eq!(u.extra["k"], vec!["v"]);
    }
}
