//! `/api/v1/openapi.json`: the OpenAPI 3 document, generated from the route
//! handlers' annotations and the response types, so it cannot drift from the
//! code. A schema-driven fuzzer runs over it in the tests.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{actions, apps, error, objects, query};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tether API",
        description = "Applications, their objects, history, events, audit and logs; sync, rollback, refresh and delete. Shaped like Argo CD's API; docs/api.md lists the differences. Every route needs `Authorization: Bearer TOKEN` (`tether token create`)."
    ),
    paths(
        super::version,
        apps::list, apps::get, apps::history, apps::notifiers, apps::events, apps::audit,
        apps::audit_log,
        actions::sync, actions::rollback, actions::delete,
        objects::resource_tree, objects::managed_resources, objects::logs,
    ),
    components(schemas(
        error::ErrorBody, query::AppList, query::AppSummary, query::Counts, query::ListMeta,
        query::CommitSummary,
    )),
    modifiers(&Bearer),
    tags(
        (name = "applications", description = "Reading Applications"),
        (name = "actions", description = "Acting on Applications (admin role)"),
        (name = "objects", description = "An Application's objects"),
        (name = "server", description = "The server itself"),
    )
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from `tether token create NAME --role admin|readonly`",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document, built once.
pub fn spec() -> &'static serde_json::Value {
    static SPEC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        serde_json::to_value(&doc).unwrap_or_default()
    })
}

/// Needs a token like every other route (only health, readiness and the
/// webhook receivers answer without one).
pub async fn document(caller: super::Caller) -> Result<Json<serde_json::Value>, super::ApiError> {
    caller.allow(super::Verb::Read, None)?;
    Ok(Json(spec().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_with_bearer_and_errors() {
        let doc = spec();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/api/v1/applications",
            "/api/v1/applications/{ns}/{name}",
            "/api/v1/applications/{ns}/{name}/sync",
            "/api/v1/applications/{ns}/{name}/rollback",
            "/api/v1/applications/{ns}/{name}/resource-tree",
            "/api/v1/applications/{ns}/{name}/managed-resources",
            "/api/v1/applications/{ns}/{name}/history",
            "/api/v1/applications/{ns}/{name}/notifiers",
            "/api/v1/applications/{ns}/{name}/events",
            "/api/v1/applications/{ns}/{name}/audit",
            "/api/v1/applications/{ns}/{name}/logs",
            "/api/v1/audit",
            "/api/v1/version",
        ] {
            let item = paths.get(p).unwrap_or_else(|| panic!("{p} missing"));
            for (method, op) in item.as_object().unwrap() {
                assert_eq!(
                    op["security"][0]["bearer"],
                    serde_json::json!([]),
                    "{method} {p}"
                );
                assert!(op["responses"]["401"].is_object(), "{method} {p}: no 401");
            }
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert!(doc["components"]["schemas"]["AppSummary"]["properties"]["driftCount"].is_object());
        // What the dashboard needs beyond Argo CD's shapes is documented too.
        let schemas = &doc["components"]["schemas"];
        for (schema, field) in [
            ("SyncRequest", "resources"),
            ("SyncRequest", "prune"),
            ("SyncResource", "group"),
            ("SyncAccepted", "options"),
            ("DryRun", "options"),
            ("AuditPage", "metadata"),
            ("AuditPageMeta", "continue"),
            ("TreeNode", "healedDrift"),
        ] {
            assert!(
                schemas[schema]["properties"][field].is_object(),
                "{schema}.{field} missing"
            );
        }
        let audit = &paths["/api/v1/audit"]["get"]["parameters"];
        let names: Vec<&str> = audit
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        for p in [
            "app", "kind", "since", "until", "actor", "object", "limit", "continue",
        ] {
            assert!(names.contains(&p), "GET /api/v1/audit: no {p} in {names:?}");
        }
    }
}
