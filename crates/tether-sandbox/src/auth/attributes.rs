//! The attributes of a request that authorization judges (verb, API group,
//! namespace, resource, subresource, name; or the path of a non-resource
//! request), derived from the method, path and query as the real server's
//! RequestInfo resolver derives them. Pure.

use super::rbac::Attributes;

/// Resource paths where the verb is a path segment (`/api/v1/watch/...`).
const SPECIAL_VERBS: &[&str] = &["proxy", "watch"];
/// Subresources of a namespace that keep `namespaces` as the resource.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// A boolean query value as the real server reads it: anything but `false`
/// and `0` (any case) is true, and a bare key is true.
/// The first value of a query parameter: the router reads the same one
/// (`Params::get`), so authorization judges exactly what will be served.
fn first<'q>(query: &'q [(String, String)], key: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The attributes of a request. `query` is the decoded query parameters.
pub fn request_attributes(method: &str, path: &str, query: &[(String, String)]) -> Attributes {
    let mut a = Attributes {
        path: path.to_string(),
        verb: method.to_ascii_lowercase(),
        ..Default::default()
    };
    // Split as the router splits (`parse_route` skips empty segments), so that
    // `/namespaces/x//secrets` is judged as the request it will be served as.
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    // `/api/v1/...` and `/apis/{group}/{version}/...`; shorter paths (discovery) are non-resource.
    let rest: &[&str] = match parts.as_slice() {
        ["api", version, rest @ ..] if parts.len() >= 3 => {
            a.api_version = version.to_string();
            rest
        }
        ["apis", group, version, rest @ ..] if parts.len() >= 4 => {
            a.api_group = group.to_string();
            a.api_version = version.to_string();
            rest
        }
        _ => return a,
    };
    a.resource_request = true;
    let mut rest = rest;
    if let Some(first) = rest.first()
        && SPECIAL_VERBS.contains(first)
    {
        if rest.len() < 2 {
            // `/api/v1/watch` alone names no resource: the real server refuses it.
            a.resource_request = false;
            return a;
        }
        a.verb = first.to_string();
        rest = &rest[1..];
    } else {
        a.verb = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        }
        .to_string();
    }
    if rest.first() == Some(&"namespaces")
        && let Some(ns) = rest.get(1)
    {
        a.namespace = ns.to_string();
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            rest = &rest[2..];
        }
    }
    if rest.len() >= 3 && a.verb != "proxy" {
        a.subresource = rest[2].to_string();
    }
    if rest.len() >= 2 {
        a.name = rest[1].to_string();
    }
    if let Some(r) = rest.first() {
        a.resource = r.to_string();
    }
    if a.name.is_empty() && a.verb == "get" {
        let watch = first(query, "watch").is_some_and(crate::api::request::query_bool);
        a.verb = if watch { "watch" } else { "list" }.to_string();
    }
    // A list or watch of one object by field selector is judged by its name.
    if a.name.is_empty()
        && (a.verb == "list" || a.verb == "watch")
        && let Some(sel) = first(query, "fieldSelector")
        && let Some(name) = exact_name(sel)
    {
        a.name = name.to_string();
    }
    if a.name.is_empty() && a.verb == "delete" {
        a.verb = "deletecollection".to_string();
    }
    a
}

/// The name a field selector requires exactly (`metadata.name=x` or `==`),
/// when it is a valid path segment.
fn exact_name(selector: &str) -> Option<&str> {
    selector.split(',').find_map(|term| {
        let (k, v) = term.split_once("==").or_else(|| term.split_once('='))?;
        if k.trim() != "metadata.name" || k.ends_with('!') {
            return None;
        }
        let v = v.trim();
        (!v.is_empty() && v != "." && v != ".." && !v.contains('/') && !v.contains('%'))
            .then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: &str, path: &str, query: &[(&str, &str)]) -> Attributes {
        let q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        request_attributes(method, path, &q)
    }

    #[test]
    fn empty_segments_are_judged_as_the_router_serves_them() {
        // Served as a deletecollection of the namespace's secrets: judged as one.
        let a = attrs("DELETE", "/api/v1/namespaces/victim//secrets", &[]);
        assert_eq!(
            summary(&a),
            (true, "deletecollection", "", "victim", "secrets", "", "")
        );
        let a = attrs("GET", "//api/v1//namespaces/victim/secrets/", &[]);
        assert_eq!(summary(&a), (true, "list", "", "victim", "secrets", "", ""));
    }

    #[test]
    fn repeated_parameters_are_judged_by_the_first_as_the_router_reads_them() {
        // The handler lists with the first (empty) selector: every object, so no name.
        let a = attrs(
            "GET",
            "/api/v1/namespaces/n/configmaps",
            &[
                ("fieldSelector", ""),
                ("fieldSelector", "metadata.name=public"),
            ],
        );
        assert_eq!(summary(&a), (true, "list", "", "n", "configmaps", "", ""));
        let a = attrs(
            "GET",
            "/api/v1/namespaces/n/configmaps",
            &[("watch", "false"), ("watch", "true")],
        );
        assert_eq!(a.verb, "list");
    }

    fn summary(a: &Attributes) -> (bool, &str, &str, &str, &str, &str, &str) {
        (
            a.resource_request,
            a.verb.as_str(),
            a.api_group.as_str(),
            a.namespace.as_str(),
            a.resource.as_str(),
            a.subresource.as_str(),
            a.name.as_str(),
        )
    }

    #[test]
    fn verbs_from_methods_and_names() {
        let a = attrs("GET", "/api/v1/namespaces/team/pods", &[]);
        assert_eq!(summary(&a), (true, "list", "", "team", "pods", "", ""));
        let a = attrs("GET", "/api/v1/namespaces/team/pods", &[("watch", "True")]);
        assert_eq!(a.verb, "watch");
        let a = attrs("GET", "/api/v1/namespaces/team/pods", &[("watch", "")]);
        assert_eq!(a.verb, "watch");
        let a = attrs("GET", "/api/v1/namespaces/team/pods", &[("watch", "0")]);
        assert_eq!(a.verb, "list");
        let a = attrs(
            "GET",
            "/apis/apps/v1/namespaces/team/deployments/web/scale",
            &[],
        );
        assert_eq!(
            summary(&a),
            (true, "get", "apps", "team", "deployments", "scale", "web")
        );
        let a = attrs(
            "POST",
            "/api/v1/namespaces/team/serviceaccounts/app/token",
            &[],
        );
        assert_eq!(
            summary(&a),
            (
                true,
                "create",
                "",
                "team",
                "serviceaccounts",
                "token",
                "app"
            )
        );
        assert_eq!(attrs("PUT", "/api/v1/nodes/n", &[]).verb, "update");
        assert_eq!(attrs("PATCH", "/api/v1/nodes/n", &[]).verb, "patch");
        assert_eq!(attrs("DELETE", "/api/v1/nodes/n", &[]).verb, "delete");
        assert_eq!(
            attrs("DELETE", "/api/v1/namespaces/a/pods", &[]).verb,
            "deletecollection"
        );
        // Cluster-wide list of a namespaced kind.
        let a = attrs("GET", "/apis/apps/v1/deployments", &[]);
        assert_eq!(
            summary(&a),
            (true, "list", "apps", "", "deployments", "", "")
        );
    }

    #[test]
    fn namespaces_are_their_own_namespace() {
        let a = attrs("GET", "/api/v1/namespaces/team", &[]);
        assert_eq!(
            summary(&a),
            (true, "get", "", "team", "namespaces", "", "team")
        );
        let a = attrs("PUT", "/api/v1/namespaces/team/finalize", &[]);
        assert_eq!(
            summary(&a),
            (true, "update", "", "team", "namespaces", "finalize", "team")
        );
        let a = attrs("POST", "/api/v1/namespaces", &[]);
        assert_eq!(summary(&a), (true, "create", "", "", "namespaces", "", ""));
    }

    #[test]
    fn special_verbs_and_field_selector_names() {
        let a = attrs("GET", "/api/v1/watch/namespaces/a/pods/p", &[]);
        assert_eq!(summary(&a), (true, "watch", "", "a", "pods", "", "p"));
        let a = attrs(
            "GET",
            "/api/v1/namespaces/a/configmaps",
            &[("fieldSelector", "metadata.name=one")],
        );
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("list", "one"));
        let a = attrs(
            "GET",
            "/api/v1/namespaces/a/configmaps",
            &[("fieldSelector", "metadata.name!=one")],
        );
        assert_eq!(a.name, "");
    }

    #[test]
    fn discovery_and_other_paths_are_non_resource() {
        for p in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/version",
            "/healthz",
            "/_sandbox/faults",
        ] {
            let a = attrs("GET", p, &[]);
            assert!(!a.resource_request, "{p}");
            assert_eq!((a.verb.as_str(), a.path.as_str()), ("get", p));
        }
        assert_eq!(attrs("PUT", "/_sandbox/faults", &[]).verb, "put");
    }
}
