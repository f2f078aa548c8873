//! OpenAPI documents at `/openapi/v2` and `/openapi/v3/...`.
//!
//! kubectl reads `/openapi/v3` before a server-side apply to learn whether
//! the server validates fields itself (the `fieldValidation` parameter on the
//! PATCH operation of the kind). The documents carry every served path with
//! its operations, parameters and `x-kubernetes-group-version-kind`, and a
//! schema per kind: for built-in kinds the full schema from `k8s-openapi`
//! with the merge markers of the project's table laid over it (kubectl
//! computes client-side apply patches from them); for custom resources the
//! CRD's own schema.

use serde_json::{Map, Value, json};

use crate::catalog::{Catalog, ResourceInfo};
use crate::schema::{ListType, Schema};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn hash_of(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}")
}

pub fn v3_root(catalog: &Catalog) -> Value {
    let mut paths = Map::new();
    for (group, versions) in catalog.groups() {
        for v in versions {
            let p = gv_path(&group, &v);
            // The hash changes when the group-version's resources change, so clients
            // caching by URL refetch after a CRD changes.
            let names: Vec<String> = catalog
                .resources(&group, &v)
                .iter()
                .map(|r| format!("{}:{}", r.plural, r.kind))
                .collect();
            paths.insert(p.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", hash_of(&names.join(",")))}));
        }
    }
    json!({"paths": paths})
}

fn definition_name(r: &ResourceInfo) -> String {
    let group = if r.group.is_empty() {
        "core".to_string()
    } else {
        r.group.clone()
    };
    if r.is_custom() {
        let rev: Vec<&str> = r.group.split('.').rev().collect();
        format!("{}.{}.{}", rev.join("."), r.version, r.kind)
    } else if r.group == "apiextensions.k8s.io" {
        format!(
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{}.{}",
            r.version, r.kind
        )
    } else {
        let short = group.split('.').next().unwrap_or(&group).to_string();
        format!("io.k8s.api.{short}.{}.{}", r.version, r.kind)
    }
}

fn gvk(r: &ResourceInfo) -> Value {
    json!([{"group": r.group, "version": r.version, "kind": r.kind}])
}

fn query_param(name: &str, ty: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": ty, "uniqueItems": true}})
}

fn operation(r: &ResourceInfo, action: &str, params: &[&str], v3: bool) -> Value {
    let mut parameters: Vec<Value> = params
        .iter()
        .map(|p| {
            let ty = match *p {
                "force" | "watch" | "allowWatchBookmarks" | "sendInitialEvents" => "boolean",
                "limit" | "timeoutSeconds" | "gracePeriodSeconds" => "integer",
                _ => "string",
            };
            if v3 {
                query_param(p, ty)
            } else {
                json!({"name": p, "in": "query", "type": ty, "uniqueItems": true})
            }
        })
        .collect();
    if action == "patch" || action == "put" || action == "post" {
        parameters.push(if v3 { json!({"name": "body", "in": "body", "required": true}) } else { json!({"name": "body", "in": "body", "required": true, "schema": {"$ref": format!("#/definitions/{}", definition_name(r))}}) });
        if v3 {
            parameters.pop();
        }
    }
    let mut op = json!({
        "operationId": format!("{action}{}", r.kind),
        "parameters": parameters,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(r)[0],
        "responses": {"200": {"description": "OK"}},
    });
    if v3 && (action == "patch" || action == "put" || action == "post") {
        let ref_ = format!("#/components/schemas/{}", definition_name(r));
        let content = if action == "patch" {
            let mut c = json!({
                "application/apply-patch+yaml": {"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}},
                "application/json-patch+json": {"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}},
                "application/merge-patch+json": {"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}},
            });
            // Custom resources take no strategic merge patch (the server answers 415), and
            // the real server does not list it for them: kubectl reads this list to choose
            // between a strategic and a JSON merge patch for `kubectl apply`.
            if !r.is_custom() {
                c["application/strategic-merge-patch+json"] = json!({"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}});
            }
            c
        } else {
            json!({"*/*": {"schema": {"$ref": ref_}}})
        };
        op["requestBody"] = json!({"content": content, "required": true});
    }
    op
}

const WRITE_PARAMS: &[&str] = &["dryRun", "fieldManager", "fieldValidation", "pretty"];

fn paths_for(r: &ResourceInfo, v3: bool) -> Vec<(String, Value)> {
    let base = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    let collection = if r.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{base}/{}", r.plural)
    };
    let item = format!("{collection}/{{name}}");
    let mut patch_params = WRITE_PARAMS.to_vec();
    patch_params.push("force");
    let list_params = [
        "allowWatchBookmarks",
        "continue",
        "fieldSelector",
        "labelSelector",
        "limit",
        "resourceVersion",
        "resourceVersionMatch",
        "sendInitialEvents",
        "timeoutSeconds",
        "watch",
    ];
    let mut out = vec![
        (
            collection.clone(),
            json!({
                "get": operation(r, "list", &list_params, v3),
                "post": operation(r, "post", WRITE_PARAMS, v3),
                "delete": operation(r, "deletecollection", &["dryRun", "gracePeriodSeconds", "propagationPolicy", "labelSelector", "fieldSelector"], v3),
            }),
        ),
        (
            item.clone(),
            json!({
                "get": operation(r, "get", &["pretty"], v3),
                "put": operation(r, "put", WRITE_PARAMS, v3),
                "patch": operation(r, "patch", &patch_params, v3),
                "delete": operation(r, "delete", &["dryRun", "gracePeriodSeconds", "propagationPolicy"], v3),
            }),
        ),
    ];
    for part in r.part_subresources() {
        let mut ops = Map::new();
        for verb in part.verbs {
            let (method, op) = match *verb {
                "get" => ("get", operation(r, "get", &["pretty"], v3)),
                "update" => ("put", operation(r, "put", WRITE_PARAMS, v3)),
                _ => ("patch", operation(r, "patch", &patch_params, v3)),
            };
            ops.insert(method.into(), op);
        }
        out.push((format!("{item}/{}", part.name), Value::Object(ops)));
    }
    if r.namespaced {
        let all = format!("{base}/{}", r.plural);
        out.push((all, json!({"get": operation(r, "list", &list_params, v3)})));
    }
    out
}

/// The schema of a kind: the CRD's own, or an open object carrying the merge markers we know.
fn schema_for(r: &ResourceInfo) -> Value {
    let mut s = match r.crd.as_ref().and_then(|c| c.open_api_schema.clone()) {
        Some(s) => s,
        None => {
            let mut s = markers(&r.schema, 0);
            if let Some(o) = s.as_object_mut() {
                o.insert("type".into(), json!("object"));
                let props = o.entry("properties").or_insert_with(|| json!({}));
                props["apiVersion"] = json!({"type": "string"});
                props["kind"] = json!({"type": "string"});
                props["metadata"] = json!({"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"});
            }
            s
        }
    };
    s["x-kubernetes-group-version-kind"] = gvk(r);
    s
}

fn markers(s: &Schema, depth: usize) -> Value {
    if depth > 12 {
        return json!({});
    }
    match s {
        Schema::Object(o) => {
            let mut out = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
            if !o.fields.is_empty() {
                let props: Map<String, Value> = o
                    .fields
                    .iter()
                    .map(|(k, v)| (k.clone(), markers(v, depth + 1)))
                    .collect();
                out["properties"] = Value::Object(props);
            }
            if o.atomic {
                out["x-kubernetes-map-type"] = json!("atomic");
            }
            out
        }
        Schema::Array(a) => {
            let mut out = json!({"type": "array", "items": markers(&a.items, depth + 1)});
            match &a.list_type {
                ListType::Atomic => out["x-kubernetes-list-type"] = json!("atomic"),
                ListType::Set => out["x-kubernetes-list-type"] = json!("set"),
                ListType::Map(keys) => {
                    out["x-kubernetes-list-type"] = json!("map");
                    out["x-kubernetes-list-map-keys"] = json!(keys);
                }
            }
            if let Some(k) = &a.patch_merge_key {
                out["x-kubernetes-patch-merge-key"] = json!(k);
            }
            if let Some(st) = &a.patch_strategy {
                out["x-kubernetes-patch-strategy"] = json!(st);
            }
            out
        }
        _ => json!({}),
    }
}

pub fn v3_group_version(catalog: &Catalog, group: &str, version: &str) -> Option<Value> {
    let resources = catalog.resources(group, version);
    if resources.is_empty() {
        return None;
    }
    // Built-in group-versions never change, and their documents are large: build once.
    let cacheable = resources.iter().all(|r| !r.is_custom());
    let key = format!("{group}/{version}");
    if cacheable && let Some(doc) = V3_CACHE.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Some(doc.clone());
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let mut generator =
        k8s_openapi::schemars::generate::SchemaSettings::openapi3().into_generator();
    let mut roots = Vec::new();
    for r in &resources {
        for (p, ops) in paths_for(r, true) {
            paths.insert(p, ops);
        }
        match r.openapi {
            Some(add) => {
                let reference = add(&mut generator);
                let name = reference
                    .as_value()
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.rsplit('/').next())
                    .map(str::to_string);
                if let Some(name) = name {
                    roots.push((name, r.clone()));
                }
            }
            None => {
                schemas.insert(definition_name(r), schema_for(r));
            }
        }
    }
    let mut defs = generator.take_definitions(true);
    let mut seen = std::collections::HashSet::new();
    for (name, r) in &roots {
        overlay(&mut defs, name, &r.schema, &mut seen);
        if let Some(def) = defs.get_mut(name.as_str()).and_then(Value::as_object_mut) {
            // One definition may serve several versions' kinds (HPA v1 and v2 are distinct types).
            def.insert("x-kubernetes-group-version-kind".into(), gvk(r));
        }
    }
    schemas.extend(defs);
    schemas
        .entry("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta".to_string())
        .or_insert_with(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    schemas.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch".into(),
        json!({"type": "object"}),
    );
    let doc = json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.35.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    });
    if cacheable {
        V3_CACHE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, doc.clone());
    }
    Some(doc)
}

static V3_CACHE: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, Value>>> =
    std::sync::LazyLock::new(Default::default);

/// The definition a schema node refers to (`$ref`, or the single `allOf` entry
/// OpenAPI 3.0 uses to put a description beside a reference).
fn reference(node: &Value) -> Option<String> {
    let r = node
        .get("$ref")
        .or_else(|| node.get("allOf")?.get(0)?.get("$ref"))?;
    r.as_str()?.rsplit('/').next().map(str::to_string)
}

/// Writes the merge markers of `schema` into the definition `name` and those it
/// refers to. Markers belong to types, not paths, so each definition is done once.
fn overlay(
    defs: &mut Map<String, Value>,
    name: &str,
    schema: &Schema,
    seen: &mut std::collections::HashSet<String>,
) {
    if !seen.insert(name.to_string()) {
        return;
    }
    let Some(mut node) = defs.get(name).cloned() else {
        return;
    };
    overlay_node(defs, &mut node, schema, seen);
    defs.insert(name.to_string(), node);
}

fn overlay_node(
    defs: &mut Map<String, Value>,
    node: &mut Value,
    schema: &Schema,
    seen: &mut std::collections::HashSet<String>,
) {
    if matches!(schema, Schema::Deduced | Schema::Scalar) {
        return;
    }
    if let Some(target) = reference(node) {
        overlay(defs, &target, schema, seen);
        return;
    }
    match schema {
        Schema::Object(o) => {
            if o.atomic {
                node["x-kubernetes-map-type"] = json!("atomic");
            }
            if let Some(props) = node.get_mut("properties").and_then(Value::as_object_mut) {
                for (field, child) in props.iter_mut() {
                    overlay_node(defs, child, schema.field(field), seen);
                }
            }
            if let (Some(additional), Some(child)) =
                (&o.additional, node.get_mut("additionalProperties"))
                && child.is_object()
            {
                overlay_node(defs, child, additional, seen);
            }
        }
        Schema::Array(a) => {
            match &a.list_type {
                ListType::Atomic => node["x-kubernetes-list-type"] = json!("atomic"),
                ListType::Set => node["x-kubernetes-list-type"] = json!("set"),
                ListType::Map(keys) => {
                    node["x-kubernetes-list-type"] = json!("map");
                    node["x-kubernetes-list-map-keys"] = json!(keys);
                }
            }
            if let Some(k) = &a.patch_merge_key {
                node["x-kubernetes-patch-merge-key"] = json!(k);
            }
            if let Some(st) = &a.patch_strategy {
                node["x-kubernetes-patch-strategy"] = json!(st);
            }
            if let Some(items) = node.get_mut("items") {
                overlay_node(defs, items, &a.items, seen);
            }
        }
        _ => {}
    }
}

pub fn v2(catalog: &Catalog) -> Value {
    let mut paths = Map::new();
    let mut definitions = Map::new();
    for r in catalog.all() {
        for (p, ops) in paths_for(&r, false) {
            paths.insert(p, ops);
        }
        definitions.insert(definition_name(&r), schema_for(&r));
    }
    json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.35.0"}, "paths": paths, "definitions": definitions})
}

/// The media type kubectl asks `/openapi/v2` for.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// `/openapi/v2` in the protobuf form client-go insists on (gnostic's
/// `openapi.v2.Document`). kubectl reads it only for client-side validation of
/// kinds the server's OpenAPI v3 does not describe (a custom resource whose CRD
/// is in the same file); it skips validation of kinds without a definition, so
/// the document carries `swagger` and `info` and no definitions.
pub fn v2_protobuf() -> Vec<u8> {
    fn field(tag: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(tag << 3) | 2];
        let mut len = bytes.len();
        loop {
            let b = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        out.extend_from_slice(bytes);
        out
    }
    let info = [field(1, b"Kubernetes"), field(2, b"v1.35.0")].concat();
    [field(1, b"2.0"), field(2, &info)].concat()
}
