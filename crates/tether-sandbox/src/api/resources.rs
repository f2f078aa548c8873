//! The verbs on resources: get, list, create, update, patch (JSON, merge,
//! strategic and apply), delete and deletecollection, and the `status` and
//! `scale` subresources. Every write goes through [`Writer::finish`], which
//! holds the rules every write obeys: decoding checks, unknown fields,
//! defaulting, validation, metadata, generation and managed fields.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::request::{Params, Representation, ResourcePath};
use super::status::{self, ApiError, Cause};
use super::{Shared, now};
use crate::admission;
use crate::catalog::ResourceInfo;
use crate::merge::{patch, ssa};
use crate::selector::{FieldSelector, LabelSelector, supported_fields};
use crate::store::{ObjKey, WriteOp};
use crate::table::{self, IncludeObject};

/// A JSON body as the real server's encoder writes it: the JSON text followed by
/// a newline (Go's `json.Encoder.Encode`), which clients comparing bodies see.
pub fn encoded_json<T: serde::Serialize + ?Sized>(code: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(mut bytes) => {
            bytes.push(b'\n');
            let mut resp = (code, bytes).into_response();
            resp.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(e) => status::ApiError::internal(format!("encoding the response: {e}")).into_response(),
    }
}

/// A JSON response with a status code and any warnings.
pub fn json_response(code: StatusCode, body: &Value, warnings: &[String]) -> Response {
    let mut resp = encoded_json(code, body);
    for w in warnings {
        let text = format!("299 - {}", serde_json::to_string(w).unwrap_or_default());
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append("warning", v);
        }
    }
    resp
}

/// The object as served at this version: all versions share storage, and the
/// apiVersion is stamped on the way out (CRDs with conversion strategy None do the same).
pub fn present<'a>(r: &ResourceInfo, obj: &'a Value) -> std::borrow::Cow<'a, Value> {
    if crate::events::is_events_group(r)
        && obj.get("apiVersion").and_then(Value::as_str) != Some(crate::events::API_VERSION)
    {
        return std::borrow::Cow::Owned(crate::events::to_events(obj));
    }
    // autoscaling/v1 encodes status.currentReplicas even when 0 (v2, where objects
    // are stored, omits it then).
    if r.group == "autoscaling"
        && r.version == "v1"
        && obj.pointer("/status").is_some_and(Value::is_object)
        && obj.pointer("/status/currentReplicas").is_none()
    {
        let mut out = obj.clone();
        out["status"]["currentReplicas"] = json!(0);
        out["apiVersion"] = json!(r.api_version());
        return std::borrow::Cow::Owned(out);
    }
    let wanted = r.api_version();
    if obj.get("apiVersion").and_then(Value::as_str) == Some(wanted.as_str()) || !obj.is_object() {
        // The common case: served at the version it was stored at; no copy.
        return std::borrow::Cow::Borrowed(obj);
    }
    let mut out = obj.clone();
    if let Some(o) = out.as_object_mut() {
        o.insert("apiVersion".into(), json!(wanted));
    }
    std::borrow::Cow::Owned(out)
}

pub fn object_key(r: &ResourceInfo, namespace: Option<&str>, name: &str) -> ObjKey {
    ObjKey {
        namespace: if r.namespaced {
            namespace.unwrap_or("").to_string()
        } else {
            String::new()
        },
        name: name.to_string(),
    }
}

fn meta_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get("metadata")?.get(key)?.as_str()
}

/// The object's metadata map, created if missing. Callers pass objects (bodies are
/// checked to be objects first); anything else is replaced by an empty object
/// rather than panicking.
fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    let Value::Object(obj) = v else {
        unreachable!("made an object above")
    };
    let meta = obj.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    match meta {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

// ---------------------------------------------------------------------------------------
// Reads

pub fn get(
    sh: &Shared,
    r: &ResourceInfo,
    p: &ResourcePath,
    name: &str,
    rep: Representation,
) -> Result<Response, ApiError> {
    let key = object_key(r, p.namespace.as_deref(), name);
    let obj = sh
        .store
        .get(r.storage_key(), &key)
        .ok_or_else(|| ApiError::not_found(r, name))?;
    let out = match rep {
        Representation::Table => make_table(
            r,
            &[present(r, &obj).into_owned()],
            IncludeObject::Metadata,
            json!({"resourceVersion": meta_str(&obj, "resourceVersion")}),
        ),
        Representation::PartialMetadata => partial_metadata(&obj),
        _ => return Ok(json_response(StatusCode::OK, &present(r, &obj), &[])),
    };
    Ok(json_response(StatusCode::OK, &out, &[]))
}

/// `pods/{name}/log`. Nothing runs in the sandbox, so a running container's log
/// is empty; a container that has not started answers 400 as the real server does.
fn partial_metadata(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
}

pub fn make_table(
    r: &ResourceInfo,
    objects: &[Value],
    include: IncludeObject,
    list_meta: Value,
) -> Value {
    let custom = r.crd.as_ref().map(|c| c.printer_columns.as_slice());
    table::to_table(
        &r.group,
        &r.kind,
        objects,
        include,
        custom,
        list_meta,
        jiff::Timestamp::now().as_second(),
    )
}

pub struct Selectors {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selectors {
    pub fn from_params(r: &ResourceInfo, params: &Params) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(params.get("labelSelector").unwrap_or(""))
            .map_err(ApiError::bad_request)?;
        let fields = FieldSelector::parse(
            params.get("fieldSelector").unwrap_or(""),
            supported_fields(&r.group, &r.kind),
        )
        .map_err(ApiError::bad_request)?;
        Ok(Selectors { labels, fields })
    }
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    /// Matches a stored object as `r` serves it (field selectors name the served
    /// form's fields, e.g. `regarding.name` for events.k8s.io Events).
    pub fn matches_served(&self, r: &ResourceInfo, obj: &Value) -> bool {
        if self.labels.is_empty() && self.fields.is_empty() {
            return true;
        }
        self.matches(&present(r, obj))
    }
}

/// A list response, serialised from borrowed objects.
#[derive(serde::Serialize)]
struct ListBody<'a> {
    kind: &'a str,
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    metadata: &'a Value,
    items: Vec<ListItem<'a>>,
}

/// One item of a list. Items of built-in (typed) lists carry no `kind` or
/// `apiVersion`, as the real server's typed encoding leaves them out; items of
/// custom resource lists (unstructured) keep theirs. Serialised without copying.
pub struct ListItem<'a> {
    pub object: std::borrow::Cow<'a, Value>,
    pub typed: bool,
}

impl serde::Serialize for ListItem<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match (&*self.object, self.typed) {
            (Value::Object(map), true) => {
                let mut out = s.serialize_map(None)?;
                for (k, v) in map {
                    if k != "kind" && k != "apiVersion" {
                        out.serialize_entry(k, v)?;
                    }
                }
                out.end()
            }
            (other, _) => other.serialize(s),
        }
    }
}

/// An object as an item of a list of `r` (see [`ListItem`]).
pub fn list_item(r: &ResourceInfo, object: Value) -> Value {
    match object {
        Value::Object(mut map) if !r.is_custom() => {
            map.shift_remove("kind");
            map.shift_remove("apiVersion");
            Value::Object(map)
        }
        other => other,
    }
}

/// A continue token: the key to resume after, in unpadded URL-safe base64 as
/// the real server writes it (nothing to escape in a query). Real tokens are opaque too.
fn encode_continue(rv: u64, key: &ObjKey) -> String {
    use base64::Engine;
    let raw = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{}/{}\u{0}", key.namespace, key.name)}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// The key to resume after and the revision the first page was served at.
fn decode_continue(token: &str) -> Option<(ObjKey, u64)> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    let start = v.get("start")?.as_str()?.trim_end_matches('\u{0}');
    let (ns, name) = start.split_once('/')?;
    let rv = v.get("rv")?.as_u64()?;
    Some((
        ObjKey {
            namespace: ns.to_string(),
            name: name.to_string(),
        },
        rv,
    ))
}

pub fn list(
    sh: &Shared,
    r: &ResourceInfo,
    p: &ResourcePath,
    params: &Params,
    rep: Representation,
) -> Result<Response, ApiError> {
    let sel = Selectors::from_params(r, params)?;
    let ns = if r.namespaced {
        p.namespace.as_deref()
    } else {
        None
    };
    let (items, mut rv) = sh.store.list(r.storage_key(), ns);
    let limit = params
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let start = match params.get("continue") {
        Some(tok) if !tok.is_empty() => {
            let (key, first_rv) = decode_continue(tok).ok_or_else(|| {
                ApiError::bad_request("continue key is not valid: illegal base64 data")
            })?;
            // Pages are served from live state, but report the first page's revision:
            // clients (informers) watch from the last page's resourceVersion, and must
            // not skip changes made while they paged. A token older than the watch
            // window is expired, as on the real server.
            if first_rv < sh.store.compacted_rv() {
                return Err(ApiError::gone(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ));
            }
            rv = first_rv;
            Some(key)
        }
        _ => None,
    };
    let key_of = |o: &Value| ObjKey {
        namespace: meta_str(o, "namespace").unwrap_or("").to_string(),
        name: meta_str(o, "name").unwrap_or("").to_string(),
    };
    let mut selected: Vec<Arc<Value>> = Vec::new();
    let mut remaining = 0usize;
    let mut next: Option<ObjKey> = None;
    for item in items.iter() {
        if let Some(s) = &start
            && key_of(item) <= *s
        {
            continue;
        }
        if !sel.matches_served(r, item) {
            continue;
        }
        if limit.is_some_and(|l| selected.len() >= l) {
            remaining += 1;
            continue;
        }
        selected.push(item.clone());
    }
    if remaining > 0
        && let Some(last) = selected.last()
    {
        next = Some(key_of(last));
    }
    let mut list_meta = json!({"resourceVersion": rv.to_string()});
    if let Some(k) = &next {
        list_meta["continue"] = json!(encode_continue(rv, k));
        // The real server reports the remaining count only when no selector filtered the list.
        if sel.labels.is_empty() && sel.fields.is_empty() {
            list_meta["remainingItemCount"] = json!(remaining);
        }
    }
    let body = match rep {
        Representation::Table => {
            let include = IncludeObject::from_query(params.get("includeObject"))
                .map_err(ApiError::bad_request)?;
            let objs: Vec<Value> = selected
                .iter()
                .map(|o| present(r, o).into_owned())
                .collect();
            make_table(r, &objs, include, list_meta)
        }
        Representation::PartialMetadata => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": list_meta,
            "items": selected.iter().map(|o| partial_metadata(o)).collect::<Vec<_>>(),
        }),
        _ => {
            // Custom resource lists are unstructured on the real server: "continue" is always there.
            if r.is_custom() && list_meta.get("continue").is_none() {
                list_meta["continue"] = json!("");
            }
            let api_version = r.api_version();
            let items: Vec<ListItem<'_>> = selected
                .iter()
                .map(|o| ListItem {
                    object: present(r, o),
                    typed: !r.is_custom(),
                })
                .collect();
            // Serialised straight from the stored objects, without building a new tree.
            let list = ListBody {
                kind: &r.list_kind,
                api_version: &api_version,
                metadata: &list_meta,
                items,
            };
            return Ok(encoded_json(StatusCode::OK, &list));
        }
    };
    Ok(json_response(StatusCode::OK, &body, &[]))
}

// ---------------------------------------------------------------------------------------
// Writes

/// How a write came in, which decides what it may change and how ownership is recorded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Create,
    Update,
    /// Server-side apply: managed fields were already computed by the merge.
    Apply,
}

/// The context shared by the steps of one write request.
pub struct Writer<'a> {
    pub sh: &'a Shared,
    pub r: &'a ResourceInfo,
    pub namespace: Option<String>,
    pub manager: String,
    pub dry_run: bool,
    pub validation: FieldValidation,
    pub warnings: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

impl<'a> Writer<'a> {
    pub fn new(
        sh: &'a Shared,
        r: &'a ResourceInfo,
        p: &ResourcePath,
        params: &Params,
        user_agent: &str,
    ) -> Result<Self, ApiError> {
        let validation = match params.get("fieldValidation") {
            None | Some("") | Some("Warn") => FieldValidation::Warn,
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
                )));
            }
        };
        // As the real server: the explicit fieldManager, else the user agent up to its first '/'.
        let manager = match params.get("fieldManager") {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => {
                let ua = user_agent.split('/').next().unwrap_or("").trim();
                if ua.is_empty() {
                    "unknown".to_string()
                } else {
                    ua.to_string()
                }
            }
        };
        if manager.len() > 128 {
            return Err(ApiError::bad_request(
                "fieldManager: Too long: may not be more than 128 bytes",
            ));
        }
        Ok(Writer {
            sh,
            r,
            namespace: if r.namespaced {
                p.namespace.clone()
            } else {
                None
            },
            manager,
            dry_run: params.dry_run(),
            validation,
            warnings: Vec::new(),
        })
    }

    /// Checks that a body names this resource's kind and version and this namespace.
    /// A missing `kind` or `apiVersion` is taken from the URL, as the real server
    /// decodes a body with the endpoint's group/version/kind as the default; only
    /// one that contradicts the URL is an error. Custom resources decode into
    /// unstructured objects, which must name their kind (their apiVersion defaults).
    pub fn check_body(&self, obj: &mut Value, url_name: Option<&str>) -> Result<(), ApiError> {
        let r = self.r;
        let Some(map) = obj.as_object_mut() else {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON or YAML object",
            ));
        };
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        let (kind, api_version) = (text(map.get("kind")), text(map.get("apiVersion")));
        if kind.is_empty() && r.is_custom() {
            let body = Value::Object(map.clone()).to_string();
            return Err(ApiError::bad_request(format!(
                "Object 'Kind' is missing in '{}'",
                truncate(&body, 200)
            )));
        }
        // apimachinery's gvkWithDefaults: an empty kind, and an empty apiVersion, take the URL's.
        let (kind, api_version) = (
            if kind.is_empty() {
                r.kind.clone()
            } else {
                kind
            },
            if api_version.is_empty() {
                r.api_version()
            } else {
                api_version
            },
        );
        if kind != r.kind && r.is_custom() {
            // Unstructured objects decode as any kind; the CRD's validation refuses it.
            let name = meta_str(obj, "name").unwrap_or("");
            let cause = Cause {
                reason: "FieldValueInvalid",
                message: format!("Invalid value: \"{kind}\": must be {}", r.kind),
                field: "kind".into(),
            };
            let mut e = ApiError::invalid(r, name, vec![cause]);
            e.message = format!(
                "{kind}.{} \"{name}\" is invalid: kind: Invalid value: \"{kind}\": must be {}",
                r.group, r.kind
            );
            return Err(e);
        }
        if kind != r.kind {
            let (group, version) = match api_version.split_once('/') {
                Some((g, v)) => (g, v),
                None => ("", api_version.as_str()),
            };
            let registered = self.sh.catalog.by_kind(group, version, &kind).is_some();
            return Err(ApiError::bad_request(wrong_kind_message(
                r,
                &kind,
                &api_version,
                registered,
            )));
        }
        if api_version != r.api_version() {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({})",
                r.api_version()
            )));
        }
        map.insert("apiVersion".into(), json!(api_version));
        map.insert("kind".into(), json!(kind));
        let obj = &*obj;
        if let (Some(url_ns), Some(body_ns)) = (&self.namespace, meta_str(obj, "namespace"))
            && !body_ns.is_empty()
            && body_ns != url_ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        if let Some(url_name) = url_name
            && let body_name = meta_str(obj, "name").unwrap_or("")
            && body_name != url_name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({url_name})"
            )));
        }
        Ok(())
    }

    /// A namespaced create needs its namespace to exist and not be terminating.
    /// `name` is what admission calls the object: its name, else its generateName.
    pub fn check_namespace(&self, name: &str) -> Result<(), ApiError> {
        let Some(ns) = &self.namespace else {
            return Ok(());
        };
        let ns_key = ObjKey {
            namespace: String::new(),
            name: ns.clone(),
        };
        let ns_gr = crate::catalog::GroupResource {
            group: String::new(),
            resource: "namespaces".into(),
        };
        let Some(nsobj) = self.sh.store.get(&ns_gr, &ns_key) else {
            return Err(ApiError::namespace_not_found(ns));
        };
        if nsobj
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null())
        {
            // The real admission plugin says "Unknown" when the object has no name yet.
            let name = if name.is_empty() { "Unknown" } else { name };
            let mut e = ApiError::forbidden(
                &self.r.plural,
                &self.r.group,
                name,
                format!(
                    "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    self.r.group_resource()
                ),
            );
            if let Some(d) = e.details.as_mut() {
                d["causes"] = json!([{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Typed check (built-ins) or schema check (custom resources), plus unknown-field
    /// handling per `fieldValidation`. Returns the object with unknown fields pruned.
    fn check_fields(&mut self, obj: Value, name: &str) -> Result<Value, ApiError> {
        let r = self.r;
        let (obj, unknown, causes) = if let Some(typed) = r.typed {
            let mut input = obj;
            admission::quantities_to_strings(&mut input);
            let typed_out = typed(&input).map_err(|e| {
                ApiError::bad_request(format!(
                    "{} in version \"{}\" cannot be handled as a {}: {e}",
                    r.kind, r.version, r.kind
                ))
            })?;
            let mut unknown = Vec::new();
            unknown_fields(&input, &typed_out, "", &mut unknown);
            (typed_out, unknown, Vec::new())
        } else if let Some(schema) = r.crd.as_ref().and_then(|c| c.open_api_schema.as_ref()) {
            let mut obj = obj;
            let (causes, unknown) = crate::crd::validate_and_prune(&mut obj, schema);
            (obj, unknown, causes)
        } else {
            (obj, Vec::new(), Vec::new())
        };
        if !unknown.is_empty() {
            match self.validation {
                FieldValidation::Strict => {
                    let msgs: Vec<String> = unknown
                        .iter()
                        .map(|f| format!("unknown field \"{f}\""))
                        .collect();
                    return Err(ApiError::bad_request(format!(
                        "strict decoding error: {}",
                        msgs.join(", ")
                    )));
                }
                FieldValidation::Warn => {
                    self.warnings
                        .extend(unknown.iter().map(|f| format!("unknown field \"{f}\"")));
                }
                FieldValidation::Ignore => {}
            }
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid(r, name, causes));
        }
        Ok(obj)
    }

    /// Everything a write does between "here is the new object" and "store it".
    /// `old` is the stored object (None on create). `sub` is the subresource written.
    pub fn finish(
        &mut self,
        old: Option<&Value>,
        mut new: Value,
        mode: Mode,
        sub: Option<&str>,
    ) -> Result<WriteOp, ApiError> {
        let r = self.r;
        let name = meta_str(&new, "name")
            .or_else(|| old.and_then(|o| meta_str(o, "name")))
            .unwrap_or("")
            .to_string();
        // Subresource writes change only their part; the rest comes from the stored object.
        if let (Some(old), Some(part)) = (old, sub.and_then(|s| r.part_subresource(s))) {
            let mut merged = old.clone();
            let mut from = &new;
            let mut into = &mut merged;
            for (i, key) in part.path.iter().enumerate() {
                from = from.get(*key).unwrap_or(&Value::Null);
                if i + 1 < part.path.len() && !into.get(*key).is_some_and(Value::is_object) {
                    into[*key] = json!({});
                }
                into = &mut into[*key];
            }
            *into = if part.name == "resize" {
                resized_containers(into, from)
            } else {
                from.clone()
            };
            // The body's resourceVersion is still the client's precondition.
            for key in ["managedFields", "resourceVersion"] {
                match new.pointer(&format!("/metadata/{key}")).cloned() {
                    Some(v) => {
                        meta_mut(&mut merged).insert(key.into(), v);
                    }
                    None if key == "resourceVersion" => {
                        meta_mut(&mut merged).remove(key);
                    }
                    None => {}
                }
            }
            new = merged;
        }
        // A namespace's finalizers change only through /finalize, as on the real server.
        if let (Some(old), None) = (old, sub)
            && r.group.is_empty()
            && r.kind == "Namespace"
        {
            match old.pointer("/spec/finalizers") {
                Some(f) => {
                    if !new.get("spec").is_some_and(Value::is_object) {
                        new["spec"] = json!({});
                    }
                    new["spec"]["finalizers"] = f.clone();
                }
                None => {
                    if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.remove("finalizers");
                    }
                }
            }
        }
        new = self.check_fields(new, &name)?;
        // An events.k8s.io Event is stored as the core Event it is (see `crate::events`):
        // from here on the write is the core resource's.
        let core_events;
        let r = if crate::events::is_events_group(r) {
            new = crate::events::to_core(&new);
            core_events = self
                .sh
                .catalog
                .get("", "v1", "events")
                .ok_or_else(|| ApiError::internal("core events are not served"))?;
            &*core_events
        } else {
            r
        };
        if let Some(o) = new.as_object_mut() {
            o.insert("apiVersion".into(), json!(r.api_version()));
            o.insert("kind".into(), json!(r.kind));
        }
        // The main resource never writes status when the kind has a status subresource.
        if r.has_status
            && sub.is_none()
            && !(r.group.is_empty() && r.kind == "Namespace" && old.is_none())
        {
            match old.and_then(|o| o.get("status")) {
                Some(st) => new["status"] = st.clone(),
                None => {
                    if let Some(o) = new.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
        }
        admission::apply_defaults(r, &mut new);
        if r.group.is_empty() && r.kind == "Service" {
            let sh = self.sh;
            admission::allocate_service(&mut new, old, &mut || sh.next_cluster_ip(), &mut || {
                sh.next_node_port()
            });
        }
        let mut causes = admission::validate_name(r, &name);
        causes.extend(admission::validate(r, &new));
        if !causes.is_empty() {
            return Err(ApiError::invalid(r, &name, causes));
        }
        // Server-owned metadata.
        let now = now();
        {
            let ns = self.namespace.clone();
            let meta = meta_mut(&mut new);
            match old {
                None => {
                    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
                    meta.insert("creationTimestamp".into(), json!(now));
                    if r.has_generation() {
                        meta.insert("generation".into(), json!(1));
                    } else {
                        meta.remove("generation");
                    }
                    meta.remove("resourceVersion");
                    meta.remove("deletionTimestamp");
                    meta.remove("deletionGracePeriodSeconds");
                    meta.remove("selfLink");
                }
                Some(old) => {
                    for key in [
                        "uid",
                        "creationTimestamp",
                        "deletionTimestamp",
                        "deletionGracePeriodSeconds",
                        "generation",
                    ] {
                        match old.pointer(&format!("/metadata/{key}")) {
                            Some(v) => meta.insert(key.into(), v.clone()),
                            None => meta.remove(key),
                        };
                    }
                }
            }
            match ns {
                Some(ns) => {
                    meta.insert("namespace".into(), json!(ns));
                }
                None => {
                    meta.remove("namespace");
                }
            }
        }
        if let Some(old) = old {
            let old_rv = meta_str(old, "resourceVersion").unwrap_or("");
            match meta_str(&new, "resourceVersion") {
                Some(rv) if !rv.is_empty() && rv != old_rv => {
                    return Err(ApiError::stale(r, &name));
                }
                _ => {}
            }
            if r.has_generation() && spec_changed(r, old, &new) {
                let g = old
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                meta_mut(&mut new).insert("generation".into(), json!(g + 1));
            }
        }
        if mode != Mode::Apply {
            ssa::update_managed_fields(
                old,
                &mut new,
                &self.manager,
                &r.schema,
                &r.api_version(),
                sub,
                &now,
            );
        }
        // The Job strategy generates its selector and labels in PrepareForCreate,
        // after the field manager ran: no manager owns them, as on the real server.
        if old.is_none() && r.group == "batch" && r.kind == "Job" {
            admission::generate_job_selector(&mut new);
        }
        // So do the admission plugins that fill in a new Pod.
        if old.is_none() && r.group.is_empty() && r.kind == "Pod" {
            admission::admit_pod(&mut new, &random_suffix());
        }
        // A built-in type always carries its status struct, which the real server writes
        // as {} until a controller fills it in. Added after managed fields: no one owns it.
        if r.has_status
            && r.typed.is_some()
            && let Some(o) = new.as_object_mut()
        {
            o.entry("status").or_insert_with(|| json!({}));
        }
        // The status fields the real server always has: what PrepareForCreate sets
        // (a Pod's phase and QoS class) and the counters Go always encodes.
        if r.typed.is_some() {
            admission::status_defaults(r, &mut new, old.is_none());
        }
        // Removing the last finalizer of an object being deleted completes the deletion.
        let deleting = new
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null());
        // A namespace's own finalizers live in spec.finalizers.
        let finalizers_left = ["/metadata/finalizers", "/spec/finalizers"]
            .iter()
            .any(|p| {
                new.pointer(p)
                    .and_then(Value::as_array)
                    .is_some_and(|f| !f.is_empty())
            });
        if deleting && !finalizers_left {
            return Ok(WriteOp::Delete);
        }
        // An update that changes nothing keeps the resourceVersion, as the real server does.
        if let Some(old) = old
            && same_ignoring_rv(old, &new)
        {
            return Ok(WriteOp::Keep);
        }
        Ok(WriteOp::Put(new))
    }
}

/// The real server's 400 for a body of another kind: the body decodes as its own
/// kind and then fails to convert into the URL's (`transformDecodeError`).
fn wrong_kind_message(r: &ResourceInfo, kind: &str, api_version: &str, registered: bool) -> String {
    let version = api_version.rsplit('/').next().unwrap_or(api_version);
    let cause = if !registered {
        format!(
            "no kind \"{kind}\" is registered for version \"{api_version}\" in scheme \"pkg/api/legacyscheme/scheme.go:30\""
        )
    } else {
        // Internal types live in a package named after the group's first label.
        let package = match r.group.split('.').next() {
            Some("") | None => "core",
            Some(first) => first,
        };
        format!(
            "converting ({version}.{kind}) to ({package}.{}): unknown conversion",
            r.kind
        )
    };
    format!(
        "{kind} in version \"{version}\" cannot be handled as a {}: {cause}",
        r.kind
    )
}

/// `pods/resize` may change only each container's resources and resize policy.
fn resized_containers(old: &Value, new: &Value) -> Value {
    let mut out = old.clone();
    if let (Some(old_list), Some(new_list)) = (out.as_array_mut(), new.as_array()) {
        for c in old_list.iter_mut().filter_map(Value::as_object_mut) {
            let name = c.get("name").cloned();
            let Some(n) = new_list.iter().find(|n| n.get("name") == name.as_ref()) else {
                continue;
            };
            for field in ["resources", "resizePolicy"] {
                match n.get(field) {
                    Some(v) => {
                        c.insert(field.into(), v.clone());
                    }
                    None => {
                        c.remove(field);
                    }
                }
            }
        }
    }
    out
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn same_ignoring_rv(old: &Value, new: &Value) -> bool {
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        return old == new;
    };
    o.len() == n.len()
        && o.iter().all(|(k, ov)| match n.get(k) {
            Some(nv) if k == "metadata" => same_metadata(ov, nv),
            Some(nv) => ov == nv,
            None => false,
        })
}

/// Metadata equal but for resourceVersion and managedFields times, which move on every write.
fn same_metadata(old: &Value, new: &Value) -> bool {
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        return old == new;
    };
    let significant = |m: &Map<String, Value>| m.keys().filter(|k| *k != "resourceVersion").count();
    significant(o) == significant(n)
        && o.iter()
            .filter(|(k, _)| *k != "resourceVersion")
            .all(|(k, ov)| match n.get(k) {
                Some(nv) if k == "managedFields" => same_entries_but_time(ov, nv),
                Some(nv) => ov == nv,
                None => false,
            })
}

fn same_entries_but_time(old: &Value, new: &Value) -> bool {
    let (Some(o), Some(n)) = (old.as_array(), new.as_array()) else {
        return old == new;
    };
    o.len() == n.len()
        && o.iter()
            .zip(n)
            .all(|(a, b)| match (a.as_object(), b.as_object()) {
                (Some(a), Some(b)) => {
                    a.iter()
                        .filter(|(k, _)| *k != "time")
                        .all(|(k, v)| b.get(k) == Some(v))
                        && b.keys().filter(|k| *k != "time").count()
                            == a.keys().filter(|k| *k != "time").count()
                }
                _ => a == b,
            })
}

/// Generation moves when anything but metadata and status changes (for kinds without
/// a status subresource, status counts too).
fn spec_changed(r: &ResourceInfo, old: &Value, new: &Value) -> bool {
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        return true;
    };
    let skip = |k: &str| {
        k == "metadata"
            || k == "apiVersion"
            || k == "kind"
            || (k == "status" && (r.has_status || !r.is_custom()))
    };
    let keys: std::collections::BTreeSet<&String> = o.keys().chain(n.keys()).collect();
    keys.into_iter().any(|k| !skip(k) && o.get(k) != n.get(k))
}

/// Fields present (non-null) in `input` but dropped by the typed round trip.
fn unknown_fields(input: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(i), Value::Object(t)) => {
            for (k, v) in i {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match t.get(k) {
                    None if !v.is_null() => out.push(p),
                    Some(tv) => unknown_fields(v, tv, &p, out),
                    None => {}
                }
            }
        }
        (Value::Array(i), Value::Array(t)) => {
            for (n, (iv, tv)) in i.iter().zip(t).enumerate() {
                unknown_fields(iv, tv, &format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
}

/// Five characters of the alphabet the real server's random name suffixes use.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

fn generate_name(obj: &mut Value) -> Result<(), ApiError> {
    let has_name = meta_str(obj, "name").is_some_and(|n| !n.is_empty());
    if has_name {
        return Ok(());
    }
    if let Some(prefix) = meta_str(obj, "generateName").map(str::to_string) {
        let suffix: String = uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .chars()
            .filter(|c| !"aeiou".contains(*c))
            .take(5)
            .collect();
        let base = truncate(&prefix, 58).to_string();
        meta_mut(obj).insert("name".into(), json!(format!("{base}{suffix}")));
    }
    Ok(())
}

pub fn create(w: &mut Writer, p: &ResourcePath, body: Value) -> Result<Response, ApiError> {
    let r = w.r;
    let mut obj = body;
    w.check_body(&mut obj, None)?;
    if p.name.is_some() {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    let admission_name = meta_str(&obj, "name")
        .filter(|n| !n.is_empty())
        .or_else(|| meta_str(&obj, "generateName"))
        .unwrap_or("")
        .to_string();
    generate_name(&mut obj)?;
    let name = meta_str(&obj, "name").unwrap_or("").to_string();
    w.check_namespace(&admission_name)?;
    let key = object_key(r, w.namespace.as_deref(), &name);
    let dry_run = w.dry_run;
    // A create's admission (decoding checks, defaults, validation, managed fields)
    // does not depend on what is stored, so it runs before taking the store's lock.
    let prepared = w
        .finish(None, obj, Mode::Create, None)
        .map_err(|e| strict_as_decode_error(r, e))?;
    let written = w.sh.store.write(r.storage_key(), &key, dry_run, |cur| {
        if cur.is_some() {
            return Err(ApiError::already_exists(r, &name));
        }
        Ok(prepared)
    })?;
    if written.kind.is_some() {
        after_write(w.sh, r, &written.object);
    }
    Ok(json_response(
        StatusCode::CREATED,
        &present(r, &written.object),
        &w.warnings,
    ))
}

pub fn update(
    w: &mut Writer,
    name: &str,
    sub: Option<&str>,
    mut body: Value,
) -> Result<Response, ApiError> {
    let r = w.r;
    w.check_body(&mut body, Some(name))?;
    let key = object_key(r, w.namespace.as_deref(), name);
    let dry_run = w.dry_run;
    let written = w.sh.store.write(r.storage_key(), &key, dry_run, |cur| {
        let Some(cur) = cur else {
            return Err(ApiError::not_found(r, name));
        };
        w.finish(Some(cur), body, Mode::Update, sub)
    });
    let written = written.map_err(|e| strict_as_decode_error(r, e))?;
    if written.kind.is_some() {
        after_write(w.sh, r, &written.object);
    }
    Ok(write_response(
        r,
        &written.object,
        StatusCode::OK,
        &w.warnings,
    ))
}

/// Create and update decode the body into the kind, so the real server words a
/// strict-decoding failure there as that decode failing (`transformDecodeError`).
fn strict_as_decode_error(r: &ResourceInfo, mut e: ApiError) -> ApiError {
    if e.code == 400 && e.message.starts_with("strict decoding error:") {
        e.message = format!(
            "{} in version \"{}\" cannot be handled as a {}: {}",
            r.kind, r.version, r.kind, e.message
        );
    }
    e
}

fn write_response(
    r: &ResourceInfo,
    obj: &Value,
    code: StatusCode,
    warnings: &[String],
) -> Response {
    // When the write removed the last finalizer of a deleting object, this is the
    // object as it was last stored, which is what the real server answers too.
    json_response(code, &present(r, obj), warnings)
}

/// PATCH in any of the four formats.
pub fn patch(
    w: &mut Writer,
    name: &str,
    sub: Option<&str>,
    content_type: &str,
    body: &[u8],
    params: &Params,
) -> Result<Response, ApiError> {
    let r = w.r;
    let key = object_key(r, w.namespace.as_deref(), name);
    if content_type == "application/apply-patch+yaml"
        || content_type == "application/apply-patch+cbor"
    {
        return apply(w, name, sub, body, params);
    }
    let patch_doc = super::request::decode_body(body, "json")?;
    let kind = match content_type {
        "application/json-patch+json" => PatchKind::Json,
        "application/merge-patch+json" => PatchKind::Merge,
        "application/strategic-merge-patch+json" if !r.is_custom() => PatchKind::Strategic,
        "application/strategic-merge-patch+json" => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            ));
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    let dry_run = w.dry_run;
    let written = w.sh.store.write(r.storage_key(), &key, dry_run, |cur| {
        let Some(cur) = cur else {
            return Err(ApiError::not_found(r, name));
        };
        // A patch applies to the object as this resource serves it.
        let view = present(r, cur);
        let patched = match kind {
            PatchKind::Json => {
                patch::json_patch(&view, &patch_doc).map_err(|e| patch_error(r, name, e))?
            }
            PatchKind::Merge => patch::merge_patch(&view, &patch_doc),
            PatchKind::Strategic => patch::strategic_merge_patch(&view, &patch_doc, &r.schema)
                .map_err(|e| patch_error(r, name, e))?,
        };
        if !patched.is_object() {
            return Err(ApiError::bad_request(
                "the patched object must be a JSON object",
            ));
        }
        w.finish(Some(cur), patched, Mode::Update, sub)
    })?;
    if written.kind.is_some() {
        after_write(w.sh, r, &written.object);
    }
    Ok(write_response(
        r,
        &written.object,
        StatusCode::OK,
        &w.warnings,
    ))
}

#[derive(Clone, Copy)]
enum PatchKind {
    Json,
    Merge,
    Strategic,
}

fn patch_error(r: &ResourceInfo, name: &str, e: patch::PatchError) -> ApiError {
    match e {
        patch::PatchError::Malformed(m) => ApiError::bad_request(m),
        patch::PatchError::Conflict(m) => ApiError::new(422, "Invalid", m)
            .with_details(json!({"name": name, "group": r.group, "kind": r.plural})),
    }
}

/// Server-side apply: create or merge, with ownership and conflicts.
fn apply(
    w: &mut Writer,
    name: &str,
    sub: Option<&str>,
    body: &[u8],
    params: &Params,
) -> Result<Response, ApiError> {
    let r = w.r;
    if params.get("fieldManager").is_none_or(str::is_empty) {
        let causes = [Cause {
            reason: "FieldValueRequired",
            message: "Required value: is required for apply patch".into(),
            field: "fieldManager".into(),
        }];
        return Err(ApiError::new(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        )
        .with_details(json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": status::causes_json(&causes)})));
    }
    let force = params.flag("force");
    let mut config = super::request::decode_body(body, "yaml")?;
    // An applied configuration must name its version exactly (the field manager's
    // check); its kind may be left out like any body's.
    let patch_version = config
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if config.is_object() && patch_version != r.api_version() {
        return Err(ApiError::bad_request(format!(
            "Incorrect version specified in apply patch. Specified patch version: {patch_version}, expected: {}",
            r.api_version()
        )));
    }
    w.check_body(&mut config, Some(name))?;
    default_list_keys(r, &mut config);
    let key = object_key(r, w.namespace.as_deref(), name);
    let exists = w.sh.store.get(r.storage_key(), &key).is_some();
    if !exists {
        w.check_namespace(name)?;
    }
    let reset = match sub {
        Some("status") => ssa::Reset::AllButStatus,
        _ if r.has_status => ssa::Reset::Status,
        _ => ssa::Reset::Nothing,
    };
    let dry_run = w.dry_run;
    let api_version = r.api_version();
    let written = w.sh.store.write(r.storage_key(), &key, dry_run, |cur| {
        if cur.is_none() && sub.is_some() {
            return Err(ApiError::not_found(r, name));
        }
        let view = cur.map(|c| present(r, c));
        let merged = ssa::apply(
            view.as_deref(),
            &config,
            &w.manager,
            force,
            &r.schema,
            reset,
            &api_version,
            sub,
            &now(),
        )
        .map_err(|e| apply_error(r, name, e))?;
        w.finish(cur.map(|c| c.as_ref()), merged, Mode::Apply, sub)
    })?;
    if written.kind.is_some() {
        after_write(w.sh, r, &written.object);
    }
    let code = if exists {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(write_response(r, &written.object, code, &w.warnings))
}

fn apply_error(r: &ResourceInfo, name: &str, e: ssa::ApplyError) -> ApiError {
    match e {
        ssa::ApplyError::Conflicts(conflicts) => {
            let causes: Vec<Cause> = conflicts
                .iter()
                .map(|c| Cause {
                    reason: "FieldManagerConflict",
                    message: ssa::cause_message(c),
                    field: c.field.clone(),
                })
                .collect();
            let mut d = json!({"name": name, "group": r.group, "kind": r.plural});
            if r.group.is_empty()
                && let Some(m) = d.as_object_mut()
            {
                m.remove("group");
            }
            d["causes"] = status::causes_json(&causes);
            ApiError::new(409, "Conflict", ssa::conflict_message(&conflicts)).with_details(d)
        }
        ssa::ApplyError::Invalid(m) => ApiError::new(
            500,
            "InternalError",
            format!(
                "failed to create typed patch object ({}/{}, Kind={}): {m}",
                r.group, r.version, r.kind
            ),
        ),
    }
}

/// List-map keys the server defaults must be present before merging (ports' protocol).
fn default_list_keys(r: &ResourceInfo, config: &mut Value) {
    let pod_spec = match (r.group.as_str(), r.kind.as_str()) {
        ("", "Pod") => Some("/spec"),
        ("apps", _) | ("batch", "Job") | ("", "ReplicationController" | "PodTemplate") => {
            Some("/spec/template/spec")
        }
        ("batch", "CronJob") => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    };
    if let Some(ps) = pod_spec {
        for list in ["containers", "initContainers"] {
            if let Some(Value::Array(cs)) = config.pointer_mut(&format!("{ps}/{list}")) {
                for c in cs.iter_mut() {
                    admission::default_ports(c.get_mut("ports"));
                }
            }
        }
    }
    if (r.group.as_str(), r.kind.as_str()) == ("", "Service") {
        admission::default_ports(config.pointer_mut("/spec/ports"));
    }
}

// ---------------------------------------------------------------------------------------
// Deletion

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn from_request(params: &Params, body: &[u8]) -> Result<Self, ApiError> {
        let body_v: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
        };
        let policy = params
            .get("propagationPolicy")
            .map(str::to_string)
            .or_else(|| {
                body_v
                    .get("propagationPolicy")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
        let orphan = params
            .bool("orphanDependents")
            .or_else(|| body_v.get("orphanDependents").and_then(Value::as_bool));
        let propagation = match (policy.as_deref(), orphan) {
            (Some("Background"), _) => Some(Propagation::Background),
            (Some("Foreground"), _) => Some(Propagation::Foreground),
            (Some("Orphan"), _) => Some(Propagation::Orphan),
            (Some(other), _) => {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    format!(
                        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                    ),
                ));
            }
            (None, Some(true)) => Some(Propagation::Orphan),
            (None, Some(false)) => Some(Propagation::Background),
            (None, None) => None,
        };
        let dry_run = params.dry_run()
            || body_v
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v == "All"));
        Ok(DeleteOptions {
            propagation,
            uid: body_v
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(str::to_string),
            resource_version: body_v
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string),
            dry_run,
        })
    }
}

/// The propagation used when a delete names none: jobs orphan their pods, as the
/// real server keeps for compatibility; everything else goes in the background.
fn default_propagation(r: &ResourceInfo) -> Propagation {
    match (r.group.as_str(), r.kind.as_str()) {
        ("batch", "Job") | ("", "ReplicationController") => Propagation::Orphan,
        _ => Propagation::Background,
    }
}

/// Deletes one object. Returns the response body: the object when it stays behind
/// (finalizers) or when the kind returns deleted objects, else a Success Status.
pub fn delete_object(
    sh: &Shared,
    r: &ResourceInfo,
    key: &ObjKey,
    opts: &DeleteOptions,
) -> Result<(StatusCode, Value), ApiError> {
    let name = key.name.clone();
    let written = sh.store.write(r.storage_key(), key, opts.dry_run, |cur| {
        let Some(cur) = cur else { return Err(ApiError::not_found(r, &name)) };
        let uid = meta_str(cur, "uid").unwrap_or("");
        if let Some(want) = &opts.uid
            && want != uid
        {
            return Err(precondition_failed(r, &name, &format!("the UID in the precondition ({want}) does not match the UID in record ({uid}). The object might have been deleted and then recreated")));
        }
        if let Some(want) = &opts.resource_version {
            let have = meta_str(cur, "resourceVersion").unwrap_or("");
            if want != have {
                return Err(precondition_failed(r, &name, &format!("the ResourceVersion in the precondition ({want}) does not match the ResourceVersion in record ({have}). The object might have been modified")));
            }
        }
        let mut obj = (**cur).clone();
        let already_deleting = obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
        let mut finalizers: Vec<Value> = obj.pointer("/metadata/finalizers").and_then(Value::as_array).cloned().unwrap_or_default();
        let propagation = opts.propagation.unwrap_or_else(|| default_propagation(r));
        let add = |f: &mut Vec<Value>, name: &str| {
            if !f.iter().any(|x| x == name) {
                f.push(json!(name));
            }
        };
        let remove = |f: &mut Vec<Value>, name: &str| f.retain(|x| x != name);
        match propagation {
            Propagation::Foreground => {
                add(&mut finalizers, "foregroundDeletion");
                remove(&mut finalizers, "orphan");
            }
            Propagation::Orphan => {
                add(&mut finalizers, "orphan");
                remove(&mut finalizers, "foregroundDeletion");
            }
            Propagation::Background => {}
        }
        if r.group.is_empty() && r.kind == "Namespace" {
            // Namespaces always go through the namespace controller, which empties them first.
            let st = obj.as_object_mut().map(|o| o.entry("status").or_insert_with(|| json!({})).clone());
            if st.is_some() {
                obj["status"]["phase"] = json!("Terminating");
            }
        }
        // The CRD registry's own delete: it adds the cleanup finalizer (the objects go
        // first) and a Terminating condition, and leaves generation and grace period alone.
        let crd = r.group == "apiextensions.k8s.io" && r.kind == "CustomResourceDefinition";
        if crd && !already_deleting {
            add(&mut finalizers, "customresourcecleanup.apiextensions.k8s.io");
            let terminating = json!({"type": "Terminating", "status": "True", "lastTransitionTime": now(), "reason": "InstanceDeletionPending", "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon"});
            if let Some(st) = obj.as_object_mut().map(|o| o.entry("status").or_insert_with(|| json!({}))) {
                match st.get_mut("conditions").and_then(Value::as_array_mut) {
                    Some(c) => c.push(terminating),
                    None => st["conditions"] = json!([terminating]),
                }
            }
        }
        let ns_finalizers = obj.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
        if finalizers.is_empty() && !ns_finalizers {
            return Ok(WriteOp::Delete);
        }
        let meta = meta_mut(&mut obj);
        // An empty list is omitted, as the real server's omitempty does.
        if finalizers.is_empty() {
            meta.remove("finalizers");
        } else {
            meta.insert("finalizers".into(), Value::Array(finalizers));
        }
        if already_deleting && obj == **cur {
            return Ok(WriteOp::Keep);
        }
        let meta = meta_mut(&mut obj);
        if !already_deleting {
            meta.insert("deletionTimestamp".into(), json!(now()));
            if !crd {
                meta.insert("deletionGracePeriodSeconds".into(), json!(0));
                if r.has_generation() {
                    let g = meta.get("generation").and_then(Value::as_i64).unwrap_or(1);
                    meta.insert("generation".into(), json!(g + 1));
                }
            }
        }
        Ok(WriteOp::Put(obj))
    })?;
    let gone = written.kind == Some(crate::store::EventType::Deleted)
        || (opts.dry_run
            && written
                .object
                .pointer("/metadata/deletionTimestamp")
                .is_none());
    if gone && !returns_deleted_object(r) {
        let uid = meta_str(&written.object, "uid").map(str::to_string);
        return Ok((StatusCode::OK, status::success(r, &name, uid.as_deref())));
    }
    Ok((StatusCode::OK, present(r, &written.object).into_owned()))
}

/// A failed delete precondition. The real server checks them in `rest.BeforeDelete`,
/// which names the kind where other conflicts name the resource.
fn precondition_failed(r: &ResourceInfo, name: &str, why: &str) -> ApiError {
    let kind = if r.group.is_empty() {
        r.kind.clone()
    } else {
        format!("{}.{}", r.kind, r.group)
    };
    let mut details = json!({"name": name, "kind": r.kind});
    if !r.group.is_empty() {
        details["group"] = json!(r.group);
    }
    ApiError::new(
        409,
        "Conflict",
        format!("Operation cannot be fulfilled on {kind} \"{name}\": {why}"),
    )
    .with_details(details)
}

/// Kinds whose DELETE answers with the object rather than a Status, as in the real registry.
fn returns_deleted_object(r: &ResourceInfo) -> bool {
    matches!(
        (r.group.as_str(), r.kind.as_str()),
        (
            "",
            "Pod"
                | "Namespace"
                | "Service"
                | "PersistentVolumeClaim"
                | "PersistentVolume"
                | "Secret"
                | "ConfigMap"
                | "ServiceAccount"
                | "Event"
                | "Endpoints"
                | "Node"
                | "LimitRange"
                | "ResourceQuota"
                | "PodTemplate"
        )
    )
}

pub fn delete(
    sh: &Shared,
    r: &ResourceInfo,
    p: &ResourcePath,
    name: &str,
    params: &Params,
    body: &[u8],
) -> Result<Response, ApiError> {
    let opts = DeleteOptions::from_request(params, body)?;
    let key = object_key(r, p.namespace.as_deref(), name);
    let (code, body) = delete_object(sh, r, &key, &opts)?;
    Ok(json_response(code, &body, &[]))
}

pub fn delete_collection(
    sh: &Shared,
    r: &ResourceInfo,
    p: &ResourcePath,
    params: &Params,
    body: &[u8],
) -> Result<Response, ApiError> {
    let opts = DeleteOptions::from_request(params, body)?;
    let sel = Selectors::from_params(r, params)?;
    let ns = if r.namespaced {
        p.namespace.as_deref()
    } else {
        None
    };
    let (items, _) = sh.store.list(r.storage_key(), ns);
    let mut deleted = Vec::new();
    for item in items.iter().filter(|o| sel.matches_served(r, o)) {
        let key = ObjKey {
            namespace: meta_str(item, "namespace").unwrap_or("").to_string(),
            name: meta_str(item, "name").unwrap_or("").to_string(),
        };
        match delete_object(sh, r, &key, &opts) {
            Ok(_) => deleted.push(list_item(r, present(r, item).into_owned())),
            // Deleted meanwhile by someone else: not an error for a collection delete.
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let rv = sh.store.current_rv();
    let body = json!({"kind": r.list_kind, "apiVersion": r.api_version(), "metadata": {"resourceVersion": rv.to_string()}, "items": deleted});
    Ok(json_response(StatusCode::OK, &body, &[]))
}

// ---------------------------------------------------------------------------------------
// The scale subresource

fn scale_of(r: &ResourceInfo, obj: &Value) -> Value {
    let Some(paths) = &r.scale else {
        return Value::Null;
    };
    let get = |path: &[&str]| {
        let mut cur = obj;
        for p in path {
            cur = cur.get(*p).unwrap_or(&Value::Null);
        }
        cur.as_i64().unwrap_or(0)
    };
    let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
    let mut scale_meta = Map::new();
    for k in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(k) {
            scale_meta.insert(k.into(), v.clone());
        }
    }
    let selector = match paths.selector {
        Some(_) => obj
            .pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            }),
        None => obj
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            }),
    };
    let mut status = json!({"replicas": get(paths.status_replicas)});
    if let Some(s) = selector {
        status["selector"] = json!(s);
    }
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": scale_meta, "spec": {"replicas": get(paths.spec_replicas)}, "status": status})
}

pub fn get_scale(
    sh: &Shared,
    r: &ResourceInfo,
    p: &ResourcePath,
    name: &str,
) -> Result<Response, ApiError> {
    let key = object_key(r, p.namespace.as_deref(), name);
    let obj = sh
        .store
        .get(r.storage_key(), &key)
        .ok_or_else(|| ApiError::not_found(r, name))?;
    Ok(json_response(StatusCode::OK, &scale_of(r, &obj), &[]))
}

/// PUT or PATCH of `/scale`: the new replicas go into the object's spec.
pub fn write_scale(
    w: &mut Writer,
    name: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let r = w.r;
    let Some(paths) = r.scale.clone() else {
        return Err(ApiError::no_route());
    };
    let key = object_key(r, w.namespace.as_deref(), name);
    let doc = super::request::decode_body(body, content_type.unwrap_or("json"))?;
    let dry_run = w.dry_run;
    let written = w.sh.store.write(r.storage_key(), &key, dry_run, |cur| {
        let Some(cur) = cur else {
            return Err(ApiError::not_found(r, name));
        };
        let scale = scale_of(r, cur);
        let new_scale = match content_type {
            None => doc.clone(),
            Some("application/json-patch+json") => {
                patch::json_patch(&scale, &doc).map_err(|e| patch_error(r, name, e))?
            }
            Some("application/merge-patch+json" | "application/strategic-merge-patch+json") => {
                patch::merge_patch(&scale, &doc)
            }
            Some(other) => return Err(ApiError::unsupported_media_type(other)),
        };
        if let Some(rv) = new_scale
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            && Some(rv) != meta_str(cur, "resourceVersion")
        {
            return Err(ApiError::stale(r, name));
        }
        let replicas = new_scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if replicas < 0 {
            return Err(ApiError::invalid(
                r,
                name,
                vec![Cause {
                    reason: "FieldValueInvalid",
                    message: format!(
                        "Invalid value: {replicas}: must be greater than or equal to 0"
                    ),
                    field: "spec.replicas".into(),
                }],
            ));
        }
        let mut new = (**cur).clone();
        let mut target = &mut new;
        for p in paths.spec_replicas {
            if !target.get(*p).is_some_and(Value::is_object) && *p != "replicas" {
                target[*p] = json!({});
            }
            target = &mut target[*p];
        }
        *target = json!(replicas);
        w.finish(Some(cur), new, Mode::Update, Some("scale"))
    })?;
    if written.kind.is_some() {
        after_write(w.sh, r, &written.object);
    }
    Ok(json_response(
        StatusCode::OK,
        &scale_of(r, &written.object),
        &w.warnings,
    ))
}

/// Hooks that must run right after a committed write, before the response: a CRD
/// is served as soon as its create returns, as clients expect.
fn after_write(sh: &Shared, r: &ResourceInfo, obj: &Value) {
    if r.group == "apiextensions.k8s.io" && r.kind == "CustomResourceDefinition" && obj.is_object()
    {
        crate::sim::establish_crd(sh, obj);
    }
    // What the cluster's controllers add follows at once, so a client sees it
    // as soon as its write returns (a real cluster takes up to a second).
    crate::cluster_defaults::after_write(sh, &r.group, &r.kind, obj);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let k = ObjKey {
            namespace: "ns".into(),
            name: "cm-0042".into(),
        };
        assert_eq!(decode_continue(&encode_continue(7, &k)), Some((k, 7)));
        assert_eq!(decode_continue("!!"), None);
    }

    #[test]
    fn unknown_fields_are_found_by_the_round_trip() {
        let input =
            json!({"spec": {"replicas": 1, "bogus": 2, "template": {"x": null}}, "extra": {}});
        let typed = json!({"spec": {"replicas": 1, "template": {}}});
        let mut out = Vec::new();
        unknown_fields(&input, &typed, "", &mut out);
        assert_eq!(out, vec!["spec.bogus".to_string(), "extra".to_string()]);
    }
}
