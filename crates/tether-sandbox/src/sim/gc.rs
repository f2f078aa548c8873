//! Garbage collection by ownerReferences (background, foreground, orphan),
//! the namespace controller, and the cleanup of a deleted CRD's objects.

use std::collections::HashMap;

use serde_json::Value;

use super::resource_of;
use crate::api::Shared;
use crate::api::resources::{DeleteOptions, Propagation, delete_object};
use crate::catalog::GroupResource;
use crate::store::{ObjKey, WriteOp};

fn has_finalizer(obj: &Value, f: &str) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x == f))
}

fn deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

fn uid(obj: &Value) -> &str {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Removes one finalizer (metadata.finalizers, or the namespace's spec.finalizers);
/// the store write completes the deletion when none are left.
fn remove_finalizer(sh: &Shared, gr: &GroupResource, key: &ObjKey, f: &str, spec: bool) {
    let _ = sh
        .store
        .write(gr, key, false, |cur| -> Result<WriteOp, ()> {
            let Some(cur) = cur else {
                return Ok(WriteOp::Keep);
            };
            let mut new = (**cur).clone();
            let ptr = if spec {
                "/spec/finalizers"
            } else {
                "/metadata/finalizers"
            };
            let mut removed = false;
            if let Some(Value::Array(fs)) = new.pointer_mut(ptr) {
                let before = fs.len();
                fs.retain(|x| x != f);
                removed = fs.len() != before;
            }
            let left = |p: &str| {
                new.pointer(p)
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty())
            };
            if deleting(&new) && !left("/metadata/finalizers") && !left("/spec/finalizers") {
                return Ok(WriteOp::Delete);
            }
            // Nothing to remove: write nothing, so no event wakes the collector again.
            if !removed {
                return Ok(WriteOp::Keep);
            }
            Ok(WriteOp::Put(new))
        });
}

pub(super) fn delete_with(
    sh: &Shared,
    gr: &GroupResource,
    key: &ObjKey,
    obj: &Value,
    propagation: Propagation,
) {
    let Some(r) = resource_of(sh, gr, obj) else {
        return;
    };
    let opts = DeleteOptions {
        propagation: Some(propagation),
        uid: None,
        resource_version: None,
        dry_run: false,
    };
    if let Err(e) = delete_object(sh, &r, key, &opts)
        && e.code != 404
    {
        tracing::warn!(resource = %gr.resource, name = %key.name, error = %e.message, "garbage collection delete failed");
    }
}

/// One pass of the garbage collector, the namespace controller and CRD cleanup.
/// Returns true while some deletion is still waiting (a namespace or CRD with
/// contents left, an owner waiting for dependents), so the caller comes back.
pub fn collect_garbage(sh: &Shared) -> bool {
    let mut pending = false;
    let all = sh.store.all_objects();
    let by_uid: HashMap<&str, &Value> = all.iter().map(|(_, _, o)| (uid(o), o.as_ref())).collect();
    let owners = |o: &Value| -> Vec<String> {
        o.pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .map(|refs| {
                refs.iter()
                    .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut dependents: HashMap<String, Vec<(GroupResource, ObjKey)>> = HashMap::new();
    for (gr, key, obj) in &all {
        for o in owners(obj) {
            dependents
                .entry(o)
                .or_default()
                .push((gr.clone(), key.clone()));
        }
    }
    for (gr, key, obj) in &all {
        // Dependents whose owners are all gone, or whose owner is being deleted in the foreground.
        let refs = owners(obj);
        if !refs.is_empty() && !deleting(obj) {
            let all_gone = refs.iter().all(|u| !by_uid.contains_key(u.as_str()));
            let foreground = refs.iter().any(|u| {
                by_uid
                    .get(u.as_str())
                    .is_some_and(|o| deleting(o) && has_finalizer(o, "foregroundDeletion"))
            });
            if all_gone {
                delete_with(sh, gr, key, obj, Propagation::Background);
            } else if foreground {
                delete_with(sh, gr, key, obj, Propagation::Foreground);
            }
        }
        if !deleting(obj) {
            continue;
        }
        let my_uid = uid(obj).to_string();
        if has_finalizer(obj, "orphan") {
            for (dgr, dkey) in dependents.get(&my_uid).into_iter().flatten() {
                let _ = sh
                    .store
                    .write(dgr, dkey, false, |cur| -> Result<WriteOp, ()> {
                        let Some(cur) = cur else {
                            return Ok(WriteOp::Keep);
                        };
                        let mut new = (**cur).clone();
                        if let Some(Value::Array(refs)) =
                            new.pointer_mut("/metadata/ownerReferences")
                        {
                            refs.retain(|r| {
                                r.get("uid").and_then(Value::as_str) != Some(my_uid.as_str())
                            });
                        }
                        // The real server omits an empty list.
                        if new
                            .pointer("/metadata/ownerReferences")
                            .and_then(Value::as_array)
                            .is_some_and(Vec::is_empty)
                            && let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut)
                        {
                            m.remove("ownerReferences");
                        }
                        Ok(WriteOp::Put(new))
                    });
            }
            remove_finalizer(sh, gr, key, "orphan", false);
        } else if has_finalizer(obj, "foregroundDeletion") {
            let remaining = dependents
                .get(&my_uid)
                .map(|d| {
                    d.iter()
                        .filter(|(g, k)| sh.store.get(g, k).is_some())
                        .count()
                })
                .unwrap_or(0);
            if remaining == 0 {
                remove_finalizer(sh, gr, key, "foregroundDeletion", false);
            } else {
                pending = true;
            }
        }
        if gr.group.is_empty() && gr.resource == "namespaces" {
            let contents = sh.store.namespaced_keys(&key.name);
            for (cgr, ckey) in &contents {
                if let Some(cobj) = sh.store.get(cgr, ckey)
                    && !deleting(&cobj)
                {
                    delete_with(sh, cgr, ckey, &cobj, Propagation::Background);
                }
            }
            if sh.store.namespaced_keys(&key.name).is_empty() {
                remove_finalizer(sh, gr, key, "kubernetes", true);
            } else {
                pending = true;
            }
        }
        if gr.group == "apiextensions.k8s.io"
            && gr.resource == "customresourcedefinitions"
            && has_finalizer(obj, "customresourcecleanup.apiextensions.k8s.io")
        {
            // Custom objects are deleted like any others, so their own finalizers
            // run; the CRD goes once none is left.
            let mut left = false;
            if let (Some(group), Some(plural)) = (
                obj.pointer("/spec/group").and_then(Value::as_str),
                obj.pointer("/spec/names/plural").and_then(Value::as_str),
            ) {
                let cgr = GroupResource {
                    group: group.into(),
                    resource: plural.into(),
                };
                let (items, _) = sh.store.list(&cgr, None);
                for item in &items {
                    let ckey = ObjKey {
                        namespace: item
                            .pointer("/metadata/namespace")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .into(),
                        name: item
                            .pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .into(),
                    };
                    if !deleting(item) {
                        delete_with(sh, &cgr, &ckey, item, Propagation::Background);
                    }
                }
                left = !sh.store.list(&cgr, None).0.is_empty();
            }
            if left {
                pending = true;
                continue;
            }
            if let Some(name) = obj.pointer("/metadata/name").and_then(Value::as_str) {
                sh.catalog.unregister_crd(name);
            }
            remove_finalizer(
                sh,
                gr,
                key,
                "customresourcecleanup.apiextensions.k8s.io",
                false,
            );
        }
    }
    pending
}
