//! Parsing a request: which route it names, its query parameters, its body and
//! what representation the client accepts.

use axum::http::HeaderMap;
use serde_json::Value;

use super::status::ApiError;

/// What a URL path names.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    Version,
    Health,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/{group}`
    Group(String),
    /// `/api/v1` or `/apis/{group}/{version}`
    GroupVersion(String, String),
    OpenApiV2,
    OpenApiV3Root,
    /// `/openapi/v3/api/v1` or `/openapi/v3/apis/{group}/{version}`
    OpenApiV3(String, String),
    Resource(ResourcePath),
    Admin(String),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    /// The namespace in the URL, if the URL is namespaced.
    pub namespace: Option<String>,
    pub plural: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

pub fn parse_route(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segs.as_slice() {
        ["version"] => Some(Route::Version),
        ["healthz" | "livez" | "readyz", ..] => Some(Route::Health),
        ["api"] => Some(Route::CoreVersions),
        ["apis"] => Some(Route::Groups),
        ["apis", g] => Some(Route::Group(g.to_string())),
        ["openapi", "v2"] => Some(Route::OpenApiV2),
        ["openapi", "v3"] => Some(Route::OpenApiV3Root),
        ["openapi", "v3", "api", v] => Some(Route::OpenApiV3(String::new(), v.to_string())),
        ["openapi", "v3", "apis", g, v] => Some(Route::OpenApiV3(g.to_string(), v.to_string())),
        ["_sandbox", rest @ ..] => Some(Route::Admin(rest.join("/"))),
        ["api", v, rest @ ..] => resource_route("", v, rest),
        ["apis", g, v, rest @ ..] => resource_route(g, v, rest),
        _ => None,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Option<Route> {
    let mut p = ResourcePath {
        group: group.to_string(),
        version: version.to_string(),
        ..Default::default()
    };
    let own = |s: &&str| s.to_string();
    match rest {
        [] => return Some(Route::GroupVersion(group.to_string(), version.to_string())),
        // The core group's namespaces resource itself, and its subresources.
        ["namespaces"] => p.plural = "namespaces".into(),
        ["namespaces", ns] if group.is_empty() => {
            p.plural = "namespaces".into();
            p.name = Some(ns.to_string());
        }
        ["namespaces", ns, sub @ ("status" | "finalize")] if group.is_empty() => {
            p.plural = "namespaces".into();
            p.name = Some(ns.to_string());
            p.subresource = Some(sub.to_string());
        }
        ["namespaces", ns, plural, tail @ ..] if tail.len() <= 2 => {
            p.namespace = Some(ns.to_string());
            p.plural = plural.to_string();
            p.name = tail.first().map(own);
            p.subresource = tail.get(1).map(own);
        }
        [plural, tail @ ..] if tail.len() <= 2 => {
            p.plural = plural.to_string();
            p.name = tail.first().map(own);
            p.subresource = tail.get(1).map(own);
        }
        _ => return None,
    }
    Some(Route::Resource(p))
}

/// Query parameters, in order. Of a repeated key the first wins, as when the
/// real server converts `url.Values` into its option structs.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter (`watch`, `allowWatchBookmarks`, `sendInitialEvents`,
    /// `force`, `orphanDependents`, ...): absent is false; present, it is true
    /// unless it is `0` or `false` in any case, so a bare `?watch` is true.
    pub fn flag(&self, key: &str) -> bool {
        self.bool(key).unwrap_or(false)
    }

    /// A boolean parameter when present, by [`query_bool`]'s rule.
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).map(query_bool)
    }
    pub fn dry_run(&self) -> bool {
        self.0.iter().any(|(k, v)| k == "dryRun" && v == "All")
    }
}

/// The real server's rule for a boolean query value (apimachinery's
/// `Convert_Slice_string_To_bool`): `0` and `false` (any case) are false,
/// everything else, the empty value included, is true.
pub fn query_bool(value: &str) -> bool {
    !(value == "0" || value.eq_ignore_ascii_case("false"))
}

/// What the client asked to receive, from the Accept header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    Object,
    Table,
    PartialMetadata,
    AggregatedDiscovery,
}

pub fn representation(headers: &HeaderMap) -> Representation {
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The first alternative we can serve wins, as in content negotiation.
    for alt in accept.split(',') {
        let alt = alt.replace(' ', "");
        if alt.contains("as=Table") {
            return Representation::Table;
        }
        if alt.contains("as=PartialObjectMetadata") {
            return Representation::PartialMetadata;
        }
        if alt.contains("as=APIGroupDiscoveryList")
            && alt.contains("v=v2")
            && !alt.contains("v2beta1")
        {
            return Representation::AggregatedDiscovery;
        }
        if alt.starts_with("application/json")
            || alt.starts_with("*/*")
            || alt.starts_with("application/yaml")
        {
            return Representation::Object;
        }
    }
    Representation::Object
}

pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Decodes the body of a create or update of `r`: as [`decode_body`], but a
/// protobuf body without a TypeMeta is decoded as the endpoint's kind.
pub fn decode_object_body(
    body: &[u8],
    content_type: &str,
    r: &crate::catalog::ResourceInfo,
) -> Result<Value, ApiError> {
    if content_type == PROTOBUF && !body.iter().all(u8::is_ascii_whitespace) {
        let mut v = crate::protobuf::decode_for(body, &r.api_version(), &r.kind)
            .map_err(|e| ApiError::bad_request(format!("failed to decode protobuf body: {e}")))?;
        drop_go_empty_strings(&mut v);
        return Ok(v);
    }
    decode_body(body, content_type)
}

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// Decodes a JSON or YAML body into a value.
pub fn decode_body(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the body of the request was empty"));
    }
    if content_type == "application/vnd.kubernetes.protobuf" {
        let mut v = crate::protobuf::decode(body)
            .map_err(|e| ApiError::bad_request(format!("failed to decode protobuf body: {e}")))?;
        drop_go_empty_strings(&mut v);
        return Ok(v);
    }
    let json_first = serde_json::from_slice::<Value>(body);
    match json_first {
        Ok(v) => Ok(v),
        Err(json_err) => {
            let yaml_ok = content_type.contains("yaml");
            if yaml_ok {
                let text = std::str::from_utf8(body).map_err(|_| {
                    ApiError::bad_request("the body of the request is not valid UTF-8")
                })?;
                serde_saphyr::from_str::<Value>(text).map_err(|e| {
                    ApiError::bad_request(format!("error converting YAML to JSON: {e}"))
                })
            } else {
                Err(ApiError::bad_request(format!(
                    "couldn't get version/kind; json parse error: {json_err}"
                )))
            }
        }
    }
}

/// Protobuf carries Go's non-pointer fields even when empty; in JSON those are
/// `omitempty` and absent. An empty string is never a meaningful value for an
/// optional API field, so it is dropped, as the JSON form would have it.
/// (Zero numbers and `false` are kept: for pointer fields such as `replicas: 0`
/// they are meaningful, and the protobuf schema does not say which are pointers.)
fn drop_go_empty_strings(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, child| child.as_str() != Some(""));
            m.values_mut().for_each(drop_go_empty_strings);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_go_empty_strings),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match parse_route(path) {
            Some(Route::Resource(p)) => p,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn routes() {
        assert_eq!(parse_route("/api"), Some(Route::CoreVersions));
        assert_eq!(
            parse_route("/apis/apps/v1"),
            Some(Route::GroupVersion("apps".into(), "v1".into()))
        );
        let p = res("/api/v1/namespaces/default/pods/web/status");
        assert_eq!(
            (
                p.namespace.as_deref(),
                p.plural.as_str(),
                p.name.as_deref(),
                p.subresource.as_deref()
            ),
            (Some("default"), "pods", Some("web"), Some("status"))
        );
        let p = res("/api/v1/namespaces/team");
        assert_eq!(
            (p.namespace, p.plural.as_str(), p.name.as_deref()),
            (None, "namespaces", Some("team"))
        );
        let p = res("/api/v1/namespaces/team/finalize");
        assert_eq!(p.subresource.as_deref(), Some("finalize"));
        let p = res("/apis/apps/v1/deployments");
        assert_eq!((p.namespace, p.name), (None, None));
        assert_eq!(parse_route("/apis/apps/v1/namespaces/a/b/c/d/e"), None);
    }

    #[test]
    fn boolean_parameters_follow_the_real_servers_rule() {
        for v in ["true", "True", "TRUE", "1", "", "yes", "anything"] {
            assert!(query_bool(v), "{v:?} is true");
        }
        for v in ["false", "False", "FALSE", "0"] {
            assert!(!query_bool(v), "{v:?} is false");
        }
        let p = Params(vec![
            ("watch".into(), String::new()),
            ("force".into(), "False".into()),
            ("force".into(), "true".into()),
        ]);
        assert!(p.flag("watch"), "a bare ?watch is true");
        assert!(!p.flag("force"), "the first of a repeated key wins");
        assert!(!p.flag("allowWatchBookmarks"), "absent is false");
        assert_eq!(p.bool("absent"), None);
    }

    #[test]
    fn empty_strings_from_protobuf_are_unset() {
        let mut v = serde_json::json!({"metadata": {"name": "a", "generateName": ""}, "spec": {"replicas": 0, "list": [{"x": ""}]}});
        drop_go_empty_strings(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"metadata": {"name": "a"}, "spec": {"replicas": 0, "list": [{}]}})
        );
    }

    #[test]
    fn yaml_bodies_need_a_yaml_content_type() {
        let v = decode_body(b"a: 1\nb: [x]\n", "application/apply-patch+yaml").unwrap();
        assert_eq!(v, serde_json::json!({"a": 1, "b": ["x"]}));
        assert_eq!(
            decode_body(b"a: 1", "application/json").unwrap_err().code,
            400
        );
        assert_eq!(decode_body(b"", "application/json").unwrap_err().code, 400);
    }
}
