//! The I/O edge of the simulated controllers: creating, changing and deleting
//! objects in the store as the controller manager, the scheduler and the
//! kubelet would through the API (admission, defaults, managed fields).

use std::sync::Arc;

use serde_json::Value;

use super::util::same_ignoring_times;
use crate::api::request::{Params, ResourcePath};
use crate::api::resources::{Propagation, Writer, create};
use crate::api::{Shared, now};
use crate::catalog::GroupResource;
use crate::merge::ssa;
use crate::store::{ObjKey, WriteOp};

pub const CONTROLLER: &str = "kube-controller-manager";

pub fn gr(group: &str, resource: &str) -> GroupResource {
    GroupResource {
        group: group.into(),
        resource: resource.into(),
    }
}

pub fn key(namespace: &str, name: &str) -> ObjKey {
    ObjKey {
        namespace: namespace.into(),
        name: name.into(),
    }
}

/// Five random characters of the alphabet the real server's generateName uses.
fn random_suffix() -> String {
    const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| SAFE[usize::from(*b) % SAFE.len()] as char)
        .collect()
}

/// Creates an object through the API's create path, as `manager`. Returns the
/// stored object, or None when it could not be created (logged unless it
/// already existed). A `generateName` is resolved here, so the caller learns
/// the name.
pub fn create_as(
    sh: &Shared,
    group: &str,
    version: &str,
    plural: &str,
    mut obj: Value,
    manager: &str,
) -> Option<Arc<Value>> {
    let r = sh.catalog.get(group, version, plural)?;
    if obj.pointer("/metadata/name").is_none()
        && let Some(prefix) = obj
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
    {
        let name = format!("{prefix}{}", random_suffix());
        obj["metadata"]["name"] = Value::String(name);
    }
    let namespace = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let p = ResourcePath {
        group: group.into(),
        version: version.into(),
        namespace: namespace.clone(),
        plural: plural.into(),
        ..Default::default()
    };
    let params = Params(vec![("fieldManager".into(), manager.into())]);
    let result = Writer::new(sh, &r, &p, &params, "").and_then(|mut w| create(&mut w, &p, obj));
    match result {
        Ok(_) => sh.store.get(
            r.storage_key(),
            &key(namespace.as_deref().unwrap_or(""), &name),
        ),
        Err(e) if e.code == 409 => None,
        Err(e) => {
            tracing::warn!(resource = plural, error = %e.message, "simulated controller could not create an object");
            None
        }
    }
}

/// Deletes an object as the controller does (background propagation).
pub fn delete(sh: &Shared, gr: &GroupResource, key: &ObjKey) {
    if let Some(obj) = sh.store.get(gr, key) {
        super::gc::delete_with(sh, gr, key, &obj, Propagation::Background);
    }
}

/// Replaces the object's status when it differs (times aside), through the
/// status subresource's rules: `manager` owns what it wrote.
pub fn put_status(sh: &Shared, gr: &GroupResource, key: &ObjKey, status: &Value, manager: &str) {
    change(sh, gr, key, manager, Some("status"), |cur| {
        if same_ignoring_times(cur.get("status"), status) {
            return false;
        }
        cur["status"] = status.clone();
        true
    });
}

/// A read-modify-write of one object: `edit` changes it and says whether it
/// did. A change to `spec` bumps the generation, as the real server does.
pub fn change(
    sh: &Shared,
    gr: &GroupResource,
    key: &ObjKey,
    manager: &str,
    subresource: Option<&str>,
    edit: impl FnOnce(&mut Value) -> bool,
) {
    let result = sh
        .store
        .write(gr, key, false, |cur| -> Result<WriteOp, ()> {
            let Some(cur) = cur else {
                return Ok(WriteOp::Keep);
            };
            if super::util::deleting(cur) && subresource.is_none() {
                return Ok(WriteOp::Keep);
            }
            let mut new = (**cur).clone();
            if !edit(&mut new) {
                return Ok(WriteOp::Keep);
            }
            // Binding a Pod to its Node (the only Pod spec write here) leaves
            // its generation alone, as the binding subresource does.
            let binding = gr.group.is_empty() && gr.resource == "pods";
            if new.get("spec") != cur.get("spec")
                && !binding
                && let Some(g) = cur.pointer("/metadata/generation").and_then(Value::as_i64)
            {
                new["metadata"]["generation"] = serde_json::json!(g + 1);
            }
            if let Some(r) = super::resource_of(sh, gr, cur) {
                ssa::update_managed_fields(
                    Some(cur),
                    &mut new,
                    manager,
                    &r.schema,
                    &r.api_version(),
                    subresource,
                    &now(),
                );
            }
            Ok(WriteOp::Put(new))
        });
    if result.is_err() {
        tracing::warn!(resource = %gr.resource, name = %key.name, "simulated write failed");
    }
}
