//! CustomResourceDefinitions: turning a CRD into served resources, its
//! `openAPIV3Schema` into a merge [`Schema`], and validating and pruning custom
//! objects against that schema as the real server does (structural schemas).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::api::status::Cause;
use crate::catalog::{ALL_VERBS, CrdVersionInfo, ResourceInfo, ScalePaths};
use crate::schema::{ArraySchema, ListType, ObjectSchema, Schema};
use crate::table::PrinterColumn;

/// The resources one CRD serves: one per served version.
pub fn resources_from_crd(crd: &Value) -> Result<Vec<ResourceInfo>, String> {
    let crd_name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let spec = crd.get("spec").ok_or("spec: Required value")?;
    let s = |p: &str| spec.pointer(p).and_then(Value::as_str).map(str::to_string);
    let group = s("/group").ok_or("spec.group: Required value")?;
    let plural = s("/names/plural").ok_or("spec.names.plural: Required value")?;
    let kind = s("/names/kind").ok_or("spec.names.kind: Required value")?;
    let singular = s("/names/singular").unwrap_or_else(|| kind.to_lowercase());
    let list_kind = s("/names/listKind").unwrap_or_else(|| format!("{kind}List"));
    let namespaced = s("/scope").as_deref() != Some("Cluster");
    let strings = |p: &str| -> Vec<String> {
        spec.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let short_names = strings("/names/shortNames");
    let categories = strings("/names/categories");
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .ok_or("spec.versions: Required value")?;
    let mut out = Vec::new();
    for v in versions {
        if v.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let Some(version) = v.get("name").and_then(Value::as_str) else {
            continue;
        };
        let schema_json = v.pointer("/schema/openAPIV3Schema").cloned();
        let schema = schema_json.as_ref().map(root_schema).unwrap_or_default();
        let printer_columns = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| cols.iter().map(PrinterColumn::from_json).collect())
            .unwrap_or_default();
        let scale = v.pointer("/subresources/scale").map(|_| ScalePaths {
            // Custom scale paths are dynamic; the common `.spec.replicas` / `.status.replicas` is served.
            spec_replicas: &["spec", "replicas"],
            status_replicas: &["status", "replicas"],
            selector: None,
        });
        out.push(ResourceInfo {
            group: group.clone(),
            version: version.to_string(),
            kind: kind.clone(),
            list_kind: list_kind.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            namespaced,
            short_names: short_names.clone(),
            categories: categories.clone(),
            has_status: v.pointer("/subresources/status").is_some(),
            scale,
            verbs: ALL_VERBS,
            typed: None,
            openapi: None,
            schema: Arc::new(schema),
            crd: Some(CrdVersionInfo {
                crd_name: crd_name.clone(),
                open_api_schema: schema_json,
                printer_columns,
            }),
            storage: v.get("storage").and_then(Value::as_bool).unwrap_or(false),
            key: crate::catalog::GroupResource {
                group: group.clone(),
                resource: plural.clone(),
            },
        });
    }
    Ok(out)
}

/// The schema of a whole custom object: the CRD's schema plus the fields every
/// object has, which CRD schemas leave out.
fn root_schema(s: &Value) -> Schema {
    let mut schema = schema_from_openapi(s);
    if let Schema::Object(o) = &mut schema {
        for f in ["apiVersion", "kind"] {
            o.fields
                .entry(f.into())
                .or_insert_with(|| Arc::new(Schema::Scalar));
        }
        let meta = crate::builtin_schema::builtin_schema("", "v1", "ConfigMap")
            .map(|cm| Arc::new(cm.field("metadata").clone()))
            .unwrap_or_default();
        o.fields.entry("metadata".into()).or_insert(meta);
    }
    schema
}

/// Converts an OpenAPI v3 schema (structural, as CRDs require) into a merge schema.
pub fn schema_from_openapi(s: &Value) -> Schema {
    let preserve = s
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if s.get("x-kubernetes-int-or-string").is_some() {
        return Schema::Scalar;
    }
    match s.get("type").and_then(Value::as_str) {
        Some("object") => {
            let fields: BTreeMap<String, Arc<Schema>> = s
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| {
                    p.iter()
                        .map(|(k, v)| (k.clone(), Arc::new(schema_from_openapi(v))))
                        .collect()
                })
                .unwrap_or_default();
            let additional = match s.get("additionalProperties") {
                Some(Value::Bool(true)) => Some(Arc::new(Schema::Deduced)),
                Some(v @ Value::Object(_)) => Some(Arc::new(schema_from_openapi(v))),
                _ => None,
            };
            let embedded = s
                .get("x-kubernetes-embedded-resource")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let no_declared = fields.is_empty() && additional.is_none();
            Schema::Object(ObjectSchema {
                fields,
                additional,
                atomic: s.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic"),
                // An object with neither properties nor additionalProperties keeps
                // whatever it holds only when marked preserve; embedded resources keep
                // apiVersion/kind/metadata.
                preserve_unknown: preserve || embedded && no_declared,
            })
        }
        Some("array") => {
            let items = s.get("items").map(schema_from_openapi).unwrap_or_default();
            let list_type = match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => ListType::Set,
                Some("map") => ListType::Map(
                    s.get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                _ => ListType::Atomic,
            };
            Schema::Array(ArraySchema {
                items: Arc::new(items),
                list_type,
                patch_strategy: None,
                patch_merge_key: None,
            })
        }
        Some(_) => Schema::Scalar,
        None if preserve => Schema::Deduced,
        None => Schema::Deduced,
    }
}

/// Validates a custom object against its version's schema and prunes fields the
/// schema does not declare. Returns the validation failures and the paths of the
/// fields that were pruned (for `fieldValidation`).
pub fn validate_and_prune(obj: &mut Value, schema: &Value) -> (Vec<Cause>, Vec<String>) {
    let mut causes = Vec::new();
    let mut unknown = Vec::new();
    if let (Value::Object(o), Some(props)) = (
        &mut *obj,
        schema.get("properties").and_then(Value::as_object),
    ) {
        for (k, v) in o.iter_mut() {
            // apiVersion, kind and metadata are validated by the server itself.
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(s) = props.get(k) {
                walk(v, s, k, &mut causes, &mut unknown);
            }
        }
        let preserve = schema
            .get("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool)
            == Some(true);
        if !preserve {
            o.retain(|k, _| {
                let keep = matches!(k.as_str(), "apiVersion" | "kind" | "metadata")
                    || props.contains_key(k);
                if !keep {
                    unknown.push(k.clone());
                }
                keep
            });
        }
        required(o, schema, "", &mut causes);
    }
    (causes, unknown)
}

fn required(
    o: &serde_json::Map<String, Value>,
    schema: &Value,
    path: &str,
    causes: &mut Vec<Cause>,
) {
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        for r in req.iter().filter_map(Value::as_str) {
            if o.get(r).is_none_or(Value::is_null)
                && !(path.is_empty() && matches!(r, "apiVersion" | "kind" | "metadata"))
            {
                causes.push(Cause {
                    reason: "FieldValueRequired",
                    message: "Required value".into(),
                    field: join(path, r),
                });
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn walk(v: &mut Value, s: &Value, path: &str, causes: &mut Vec<Cause>, unknown: &mut Vec<String>) {
    if v.is_null() && s.get("nullable").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let have = json_type(v);
    let type_error = |want: &str| Cause {
        reason: "FieldValueTypeInvalid",
        message: format!(
            "Invalid value: \"{have}\": {path} in body must be of type {want}: \"{have}\""
        ),
        field: path.to_string(),
    };
    if s.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
        if !matches!(have, "integer" | "string") {
            causes.push(type_error("integer,string"));
        }
        return;
    }
    let want = s.get("type").and_then(Value::as_str);
    let ok = match want {
        None => true,
        Some("number") => matches!(have, "integer" | "number"),
        Some(t) => t == have,
    };
    if !ok {
        causes.push(type_error(want.unwrap_or("")));
        return;
    }
    if let Some(Value::Array(allowed)) = s.get("enum")
        && !allowed.contains(v)
    {
        let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
        causes.push(Cause {
            reason: "FieldValueNotSupported",
            message: format!(
                "Unsupported value: {v}: supported values: {}",
                list.join(", ")
            ),
            field: path.to_string(),
        });
    }
    match v {
        Value::Object(o) => {
            let props = s.get("properties").and_then(Value::as_object);
            let additional = s.get("additionalProperties").filter(|a| a.is_object());
            let preserve = s
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                == Some(true)
                || s.get("additionalProperties") == Some(&Value::Bool(true));
            let embedded = s
                .get("x-kubernetes-embedded-resource")
                .and_then(Value::as_bool)
                == Some(true);
            for (k, child) in o.iter_mut() {
                let child_path = join(path, k);
                if let Some(cs) = props.and_then(|p| p.get(k)) {
                    walk(child, cs, &child_path, causes, unknown);
                } else if let Some(a) = additional {
                    walk(child, a, &child_path, causes, unknown);
                }
            }
            if !preserve && additional.is_none() {
                o.retain(|k, _| {
                    let keep = props.is_some_and(|p| p.contains_key(k))
                        || embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata");
                    if !keep {
                        unknown.push(join(path, k));
                    }
                    keep
                });
            }
            required(o, s, path, causes);
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item, is, &format!("{path}[{i}]"), causes, unknown);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn foobar_schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["prop1", "prop2"],
            "properties": {"prop1": {"type": "string"}, "prop2": {"type": "array", "items": {"type": "boolean"}},
            "prop4": {"x-kubernetes-int-or-string": true}}}}})
    }

    #[test]
    fn type_errors_read_like_the_real_server() {
        let mut o = json!({"apiVersion": "x/v1", "kind": "FooBar", "metadata": {"name": "a"},
            "spec": {"prop1": "v", "prop2": true, "prop4": true}});
        let (causes, _) = validate_and_prune(&mut o, &foobar_schema());
        let msgs: Vec<_> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        assert_eq!(
            msgs,
            vec![
                "spec.prop2: Invalid value: \"boolean\": spec.prop2 in body must be of type array: \"boolean\"",
                "spec.prop4: Invalid value: \"boolean\": spec.prop4 in body must be of type integer,string: \"boolean\"",
            ]
        );
    }

    #[test]
    fn required_and_pruning() {
        let mut o = json!({"apiVersion": "x/v1", "kind": "FooBar", "metadata": {"name": "a"},
            "spec": {"prop1": "v", "extra": 1}, "junk": 2});
        let (causes, unknown) = validate_and_prune(&mut o, &foobar_schema());
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.prop2");
        assert_eq!(unknown, vec!["spec.extra".to_string(), "junk".to_string()]);
        assert_eq!(
            o,
            json!({"apiVersion": "x/v1", "kind": "FooBar", "metadata": {"name": "a"}, "spec": {"prop1": "v"}})
        );
    }

    #[test]
    fn list_markers_become_merge_schema() {
        let s = schema_from_openapi(
            &json!({"type": "object", "properties": {"items": {"type": "array",
            "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"], "items": {"type": "object"}}}}),
        );
        assert_eq!(
            s.field("items").list_type(),
            &ListType::Map(vec!["id".into()])
        );
    }
}
