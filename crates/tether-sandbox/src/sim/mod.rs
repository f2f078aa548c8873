//! The simulated cluster: the controllers, scheduler and kubelet that make a
//! real cluster's objects move, and the API's own background work.
//!
//! - A Ready Node is registered; Pods are scheduled onto it and run after the
//!   rollout delay (`pod`, `node`).
//! - Deployments make ReplicaSets named by their pod-template hash and roll
//!   them by their strategy; ReplicaSets and ReplicationControllers make Pods;
//!   StatefulSets make ordinal Pods and their claims; DaemonSets a Pod per
//!   Node; Jobs run Pods to completion; CronJobs make Jobs on their schedule.
//!   Each decision is a pure function of the object and its children
//!   (`deployment`, `replicaset`, ...); `controllers` runs them and `write`
//!   stores what they decide. Status follows the Pods.
//! - LoadBalancer Services and Ingresses get an address, PVCs bind.
//! - CRDs become Established; deleting one deletes its objects.
//! - Garbage collection by ownerReferences (background, foreground, orphan),
//!   and namespace deletion (`gc`).
//!
//! Failure convention: a container image whose tag is `fail` (`nginx:fail`)
//! never pulls. Its Pod stays Pending in `ImagePullBackOff`, so a Deployment's
//! rollout stalls and reports `Progressing=False` with reason
//! `ProgressDeadlineExceeded`; in a Job the container exits with an error
//! until the Job fails with `BackoffLimitExceeded`.

pub mod controllers;
pub mod cron;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
mod gc;
pub mod job;
pub mod node;
pub mod pod;
pub mod replicaset;
pub mod revision;
pub mod statefulset;
pub mod util;
pub mod write;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::broadcast;

pub use gc::collect_garbage;

use crate::api::{Shared, now};
use crate::catalog::{GroupResource, ResourceInfo};
use crate::merge::ssa;
use crate::store::{Event, EventType, ObjKey, WriteOp};

const CONTROLLER: &str = write::CONTROLLER;

/// The time the simulated controllers go by: the wall clock, moved on by the
/// test control `/_sandbox/clock` (so a CronJob's minute need not be waited for).
pub fn clock_now(sh: &Shared) -> jiff::Timestamp {
    let offset = sh.clock_offset_s.load(Ordering::Relaxed);
    let now = jiff::Timestamp::now();
    now.checked_add(jiff::SignedDuration::from_secs(offset))
        .unwrap_or(now)
}

/// Registers the Node and starts the controllers; they stop when the runtime does.
pub fn spawn(sh: Arc<Shared>) {
    node::register(&sh);
    let rx = sh.store.subscribe();
    let sim = controllers::Sim::new(sh.clone());
    sim.resync();
    tokio::spawn(sim.clone().run());
    tokio::spawn(run(sh, rx, sim));
}

async fn run(sh: Arc<Shared>, mut rx: broadcast::Receiver<Arc<Event>>, sim: Arc<controllers::Sim>) {
    // Objects with a status update already scheduled, so bursts schedule one update.
    let pending: Arc<Mutex<HashSet<(GroupResource, ObjKey)>>> = Arc::default();
    // On start (a restored data dir), bring everything up to date once.
    for (gr, key, obj) in sh.store.all_objects() {
        consider(&sh, &pending, &gr, &key, &obj);
    }
    // While a deletion waits on something (contents, dependents), the collector
    // comes back on its own, so a create that raced a terminating namespace is
    // still cleaned up.
    let mut again = collect_garbage(&sh);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(250)), if again => {
                again = collect_garbage(&sh);
            }
            ev = rx.recv() => match ev {
                Ok(e) => {
                    if e.kind == EventType::Deleted || e.object.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
                        sh.gc_wake.notify_one();
                    }
                    sim.observe(&e);
                    if e.kind != EventType::Deleted {
                        consider(&sh, &pending, &e.gr, &e.key, &e.object);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Missed events: look at everything again.
                    for (gr, key, obj) in sh.store.all_objects() {
                        consider(&sh, &pending, &gr, &key, &obj);
                    }
                    sim.resync();
                    sh.gc_wake.notify_one();
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = sh.gc_wake.notified() => {
                // Let a burst of deletions land before sweeping once.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                again = collect_garbage(&sh);
            }
        }
    }
}

/// The served resource for a stored object: at its own version when that is
/// served, else at any served version of the same resource (a CRD may have
/// stopped serving the version an object was stored at).
fn resource_of(sh: &Shared, gr: &GroupResource, obj: &Value) -> Option<Arc<ResourceInfo>> {
    let version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|a| a.rsplit('/').next())
        .unwrap_or("");
    sh.catalog
        .get(&gr.group, version, &gr.resource)
        .or_else(|| sh.catalog.any_version(gr))
}

/// Decides whether an object with a status-only simulation (load balancers,
/// ingresses, claims) needs a status change, and schedules it.
fn consider(
    sh: &Arc<Shared>,
    pending: &Arc<Mutex<HashSet<(GroupResource, ObjKey)>>>,
    gr: &GroupResource,
    key: &ObjKey,
    obj: &Value,
) {
    if util::deleting(obj) {
        return;
    }
    let simulated = matches!(
        (gr.group.as_str(), gr.resource.as_str()),
        ("", "services" | "persistentvolumeclaims") | ("networking.k8s.io", "ingresses")
    );
    if !simulated
        || desired_status(gr, obj, true).is_none_or(|want| status_matches(obj.get("status"), &want))
    {
        return;
    }
    {
        let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
        if !p.insert((gr.clone(), key.clone())) {
            return;
        }
    }
    let (sh, pending, gr, key) = (sh.clone(), pending.clone(), gr.clone(), key.clone());
    tokio::spawn(async move {
        let delay = sh.rollout_delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(gr.clone(), key.clone()));
        write_status(&sh, &gr, &key);
    });
}

/// Compares the parts of a status the simulation sets, ignoring condition timestamps.
fn status_matches(have: Option<&Value>, want: &Value) -> bool {
    let Some(have) = have else { return false };
    match want.as_object() {
        // A null in the wanted status stands for an absent key.
        Some(w) => w.iter().all(|(k, v)| {
            let h = have.get(k).unwrap_or(&Value::Null);
            h == v || (!v.is_null() && util::same_ignoring_times(Some(h), v))
        }),
        None => util::same_ignoring_times(Some(have), want),
    }
}

/// The status the status-only simulation wants, once settled.
fn desired_status(gr: &GroupResource, obj: &Value, done: bool) -> Option<Value> {
    let spec = obj.get("spec");
    match (gr.group.as_str(), gr.resource.as_str()) {
        ("", "services") => {
            if spec.and_then(|s| s.get("type")).and_then(Value::as_str) != Some("LoadBalancer") {
                return None;
            }
            if !done {
                return None;
            }
            let uid = obj
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or("0");
            let n = uid
                .bytes()
                .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)))
                % 250
                + 1;
            Some(
                json!({"loadBalancer": {"ingress": [{"ip": format!("172.18.255.{n}"), "ipMode": "VIP"}]}}),
            )
        }
        // An ingress controller publishes the address it serves the Ingress on.
        ("networking.k8s.io", "ingresses") => {
            if !done {
                return None;
            }
            Some(json!({"loadBalancer": {"ingress": [{"ip": "172.18.255.200"}]}}))
        }
        ("", "persistentvolumeclaims") => {
            if !done {
                return None;
            }
            let storage = obj
                .pointer("/spec/resources/requests/storage")
                .cloned()
                .unwrap_or(json!("1Gi"));
            let modes = obj
                .pointer("/spec/accessModes")
                .cloned()
                .unwrap_or(json!(["ReadWriteOnce"]));
            Some(json!({"phase": "Bound", "accessModes": modes, "capacity": {"storage": storage}}))
        }
        _ => None,
    }
}

/// Writes the simulated status through the status subresource's rules, as the
/// controller manager would, recomputed from the object as it is now.
fn write_status(sh: &Shared, gr: &GroupResource, key: &ObjKey) {
    let result = sh
        .store
        .write(gr, key, false, |cur| -> Result<WriteOp, ()> {
            let Some(cur) = cur else {
                return Ok(WriteOp::Keep);
            };
            if util::deleting(cur) {
                return Ok(WriteOp::Keep);
            }
            let Some(want) = desired_status(gr, cur, true) else {
                return Ok(WriteOp::Keep);
            };
            if status_matches(cur.get("status"), &want) {
                return Ok(WriteOp::Keep);
            }
            let mut new = (**cur).clone();
            let mut status = new
                .get("status")
                .cloned()
                .filter(Value::is_object)
                .unwrap_or(json!({}));
            if let (Some(s), Some(w)) = (status.as_object_mut(), want.as_object()) {
                for (k, v) in w {
                    if v.is_null() {
                        s.remove(k);
                    } else {
                        s.insert(k.clone(), v.clone());
                    }
                }
            }
            new["status"] = status;
            if let Some(r) = resource_of(sh, gr, cur) {
                ssa::update_managed_fields(
                    Some(cur),
                    &mut new,
                    CONTROLLER,
                    &r.schema,
                    &r.api_version(),
                    Some("status"),
                    &now(),
                );
            }
            Ok(WriteOp::Put(new))
        });
    if result.is_err() {
        tracing::warn!(resource = %gr.resource, name = %key.name, "simulated status write failed");
    }
}

pub fn establish_crd(sh: &Shared, crd: &Value) {
    let Some(name) = crd.pointer("/metadata/name").and_then(Value::as_str) else {
        return;
    };
    if crd
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        return;
    }
    let infos = match crate::crd::resources_from_crd(crd) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(crd = name, error = %e, "CRD not served");
            return;
        }
    };
    sh.catalog.register_crd(name, infos);
    let gr = GroupResource {
        group: "apiextensions.k8s.io".into(),
        resource: "customresourcedefinitions".into(),
    };
    let key = ObjKey {
        namespace: String::new(),
        name: name.to_string(),
    };
    let _ = sh.store.write(&gr, &key, false, |cur| -> Result<WriteOp, ()> {
        let Some(cur) = cur else { return Ok(WriteOp::Keep) };
        let names = cur.pointer("/spec/names").cloned().unwrap_or(json!({}));
        let mut accepted = names.clone();
        if accepted.get("listKind").is_none()
            && let Some(k) = names.get("kind").and_then(Value::as_str)
        {
            accepted["listKind"] = json!(format!("{k}List"));
        }
        if accepted.get("singular").is_none()
            && let Some(k) = names.get("kind").and_then(Value::as_str)
        {
            accepted["singular"] = json!(k.to_lowercase());
        }
        let stored: Vec<Value> = cur
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .map(|vs| vs.iter().filter(|v| v.get("storage") == Some(&json!(true))).filter_map(|v| v.get("name").cloned()).collect())
            .unwrap_or_default();
        let t = now();
        let want = json!({
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "lastTransitionTime": t, "reason": "NoConflicts", "message": "no conflicts found"},
                {"type": "Established", "status": "True", "lastTransitionTime": t, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
            ],
            "acceptedNames": accepted,
            "storedVersions": stored,
        });
        if status_matches(cur.get("status"), &want) {
            return Ok(WriteOp::Keep);
        }
        // The cleanup finalizer is added when the CRD is deleted (api::resources::delete_object),
        // as the real registry does, not here.
        let mut new = (**cur).clone();
        new["status"] = want;
        // The real server records this write as kube-apiserver's, on the status subresource.
        if let Some(r) = sh.catalog.get("apiextensions.k8s.io", "v1", "customresourcedefinitions") {
            ssa::update_managed_fields(
                Some(cur),
                &mut new,
                "kube-apiserver",
                &r.schema,
                &r.api_version(),
                Some("status"),
                &t,
            );
        }
        Ok(WriteOp::Put(new))
    });
}
