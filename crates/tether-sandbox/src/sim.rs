//! The simulated controllers: just enough of a cluster's behaviour for health
//! to mean something, and the API's own background work.
//!
//! - Deployments, StatefulSets, DaemonSets and ReplicaSets roll out: their
//!   status reaches ready after the rollout delay.
//! - Pods run, Jobs complete, LoadBalancer Services and Ingresses get an
//!   address, PVCs bind.
//! - CRDs become Established; deleting one deletes its objects.
//! - Garbage collection by ownerReferences (background, foreground, orphan),
//!   and namespace deletion.
//!
//! Failure convention: a container image whose tag is `fail` (`nginx:fail`)
//! never becomes ready. The Deployment reports `Progressing=False` with reason
//! `ProgressDeadlineExceeded`, the Pod stays Pending in `ImagePullBackOff`, and
//! the Job fails with `BackoffLimitExceeded`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::api::resources::{DeleteOptions, Propagation, delete_object};
use crate::api::{Shared, now};
use crate::catalog::{GroupResource, ResourceInfo};
use crate::merge::ssa;
use crate::store::{Event, EventType, ObjKey, WriteOp};

const CONTROLLER: &str = "kube-controller-manager";

/// Starts the controllers; they stop when the runtime does.
pub fn spawn(sh: Arc<Shared>) {
    let rx = sh.store.subscribe();
    tokio::spawn(run(sh, rx));
}

async fn run(sh: Arc<Shared>, mut rx: broadcast::Receiver<Arc<Event>>) {
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
                    if e.kind != EventType::Deleted {
                        consider(&sh, &pending, &e.gr, &e.key, &e.object);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Missed events: look at everything again.
                    for (gr, key, obj) in sh.store.all_objects() {
                        consider(&sh, &pending, &gr, &key, &obj);
                    }
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

fn images_fail(pod_spec: Option<&Value>) -> bool {
    pod_spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("image")
                    .and_then(Value::as_str)
                    .is_some_and(|i| i.ends_with(":fail"))
            })
        })
}

/// Decides whether an object needs a simulated status change, and schedules it.
fn consider(
    sh: &Arc<Shared>,
    pending: &Arc<Mutex<HashSet<(GroupResource, ObjKey)>>>,
    gr: &GroupResource,
    key: &ObjKey,
    obj: &Value,
) {
    if obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        return;
    }
    let simulated = matches!(
        (gr.group.as_str(), gr.resource.as_str()),
        (
            "apps",
            "deployments" | "statefulsets" | "daemonsets" | "replicasets"
        ) | ("", "pods" | "services" | "persistentvolumeclaims")
            | ("batch", "jobs")
            | ("networking.k8s.io", "ingresses")
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
            // Show the rollout in progress first, as a real controller does.
            write_status(&sh, &gr, &key, false);
            tokio::time::sleep(delay).await;
        }
        pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(gr.clone(), key.clone()));
        write_status(&sh, &gr, &key, true);
    });
}

/// A short stable hash of a pod template, as the real controller's pod-template-hash.
fn template_hash(template: Option<&Value>) -> String {
    let text = template.map(Value::to_string).unwrap_or_default();
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    // The real hash is printed with a reduced alphabet (no vowels); this one is hex.
    format!("{:010x}", h % 0xff_ffff_ffff)
}

/// Compares the parts of a status the simulation sets, ignoring condition timestamps.
fn status_matches(have: Option<&Value>, want: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| {
                        !matches!(
                            k.as_str(),
                            "lastTransitionTime"
                                | "lastUpdateTime"
                                | "startTime"
                                | "completionTime"
                                | "startedAt"
                                | "lastProbeTime"
                        )
                    })
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    let Some(have) = have else { return false };
    let (have, want) = (strip(have), strip(want));
    match want.as_object() {
        // A null in the wanted status stands for an absent key.
        Some(w) => w
            .iter()
            .all(|(k, v)| have.get(k).unwrap_or(&Value::Null) == v),
        None => have == want,
    }
}

/// A workload condition (Deployment), which carries `lastUpdateTime`.
fn cond(type_: &str, status: bool, reason: &str, message: &str) -> Value {
    let t = now();
    json!({"type": type_, "status": if status { "True" } else { "False" }, "lastUpdateTime": t, "lastTransitionTime": t, "reason": reason, "message": message})
}

/// A Pod or Job condition, which carries `lastProbeTime` instead; empty reasons
/// and messages are left out, as the real controllers leave them.
fn probe_cond(type_: &str, status: bool, reason: &str, message: &str) -> Value {
    let mut c = json!({"type": type_, "status": if status { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now()});
    if !reason.is_empty() {
        c["reason"] = json!(reason);
    }
    if !message.is_empty() {
        c["message"] = json!(message);
    }
    c
}

/// The status the simulated controller wants, once settled (`done`) or while rolling out.
fn desired_status(gr: &GroupResource, obj: &Value, done: bool) -> Option<Value> {
    let generation = obj
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let spec = obj.get("spec");
    let replicas = spec
        .and_then(|s| s.get("replicas"))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let template_fails = images_fail(obj.pointer("/spec/template/spec"));
    // Like the real controller, name the ReplicaSet after a hash of the pod template,
    // so a change that leaves the template alone (scaling) keeps the same one.
    let rs_name = format!("{name}-{}", template_hash(obj.pointer("/spec/template")));
    match (gr.group.as_str(), gr.resource.as_str()) {
        ("apps", "deployments") => {
            let mut st = json!({"observedGeneration": generation});
            if !done {
                // Rolling out: pods of the last rolled-out template stay available
                // (capped by the new replica count); they count as updated only when
                // the template is the one already rolled out (a pure scale).
                let status = obj.get("status");
                let count = |k: &str| {
                    status
                        .and_then(|s| s.get(k))
                        .and_then(Value::as_i64)
                        .unwrap_or(0)
                };
                let same_template = status
                    .and_then(|s| s.get("conditions"))
                    .and_then(Value::as_array)
                    .is_some_and(|cs| {
                        cs.iter().any(|c| {
                            c.get("type") == Some(&json!("Progressing"))
                                && c.get("reason") == Some(&json!("NewReplicaSetAvailable"))
                                && c.get("message")
                                    .and_then(Value::as_str)
                                    .is_some_and(|m| m.contains(&format!("\"{rs_name}\"")))
                        })
                    });
                let available = count("availableReplicas").min(replicas);
                let or_absent = |n: i64| if n > 0 { json!(n) } else { Value::Null };
                st["replicas"] = json!(replicas);
                st["updatedReplicas"] = or_absent(if same_template { available } else { 0 });
                st["readyReplicas"] = or_absent(available);
                st["availableReplicas"] = or_absent(available);
                st["unavailableReplicas"] = or_absent(replicas - available);
                // maxUnavailable defaults to 25%, rounded down.
                let enough = available >= replicas - replicas / 4;
                st["conditions"] = json!([
                    if enough {
                        cond(
                            "Available",
                            true,
                            "MinimumReplicasAvailable",
                            "Deployment has minimum availability.",
                        )
                    } else {
                        cond(
                            "Available",
                            false,
                            "MinimumReplicasUnavailable",
                            "Deployment does not have minimum availability.",
                        )
                    },
                    cond(
                        "Progressing",
                        true,
                        "ReplicaSetUpdated",
                        &format!("ReplicaSet \"{rs_name}\" is progressing.")
                    ),
                ]);
            } else if template_fails {
                st["replicas"] = json!(replicas);
                st["updatedReplicas"] = json!(replicas);
                st["unavailableReplicas"] = json!(replicas);
                st["conditions"] = json!([
                    cond(
                        "Available",
                        false,
                        "MinimumReplicasUnavailable",
                        "Deployment does not have minimum availability."
                    ),
                    cond(
                        "Progressing",
                        false,
                        "ProgressDeadlineExceeded",
                        &format!("ReplicaSet \"{rs_name}\" has timed out progressing.")
                    ),
                ]);
            } else {
                // The real controller omits zero counts; a null here removes a stale count
                // (a deployment scaled down to zero has no ready replicas left).
                let count = if replicas > 0 {
                    json!(replicas)
                } else {
                    Value::Null
                };
                for k in [
                    "replicas",
                    "updatedReplicas",
                    "readyReplicas",
                    "availableReplicas",
                ] {
                    st[k] = count.clone();
                }
                st["conditions"] = json!([
                    cond(
                        "Available",
                        true,
                        "MinimumReplicasAvailable",
                        "Deployment has minimum availability."
                    ),
                    cond(
                        "Progressing",
                        true,
                        "NewReplicaSetAvailable",
                        &format!("ReplicaSet \"{rs_name}\" has successfully progressed.")
                    ),
                ]);
            }
            Some(st)
        }
        ("apps", "statefulsets") => {
            let ready = if done && !template_fails { replicas } else { 0 };
            let rev = format!("{name}-{:x}", generation);
            Some(
                json!({"observedGeneration": generation, "replicas": replicas, "readyReplicas": ready, "currentReplicas": ready, "updatedReplicas": ready, "availableReplicas": ready, "currentRevision": rev, "updateRevision": rev, "collisionCount": 0}),
            )
        }
        ("apps", "daemonsets") => {
            // One simulated node.
            let ready = i64::from(done && !template_fails);
            Some(
                json!({"observedGeneration": generation, "currentNumberScheduled": 1, "desiredNumberScheduled": 1, "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready, "updatedNumberScheduled": 1}),
            )
        }
        ("apps", "replicasets") => {
            let ready = if done && !template_fails { replicas } else { 0 };
            Some(
                json!({"observedGeneration": generation, "replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": ready, "availableReplicas": ready}),
            )
        }
        ("", "pods") => {
            let fails = images_fail(spec);
            let containers = spec
                .and_then(|s| s.get("containers"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let running = done && !fails;
            let statuses: Vec<Value> = containers
                .iter()
                .map(|c| {
                    let state = if running {
                        json!({"running": {"startedAt": now()}})
                    } else if done {
                        json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{}\"", c.get("image").and_then(Value::as_str).unwrap_or(""))}})
                    } else {
                        json!({"waiting": {"reason": "ContainerCreating"}})
                    };
                    json!({"name": c.get("name"), "image": c.get("image"), "imageID": "", "ready": running, "started": running, "restartCount": 0, "state": state})
                })
                .collect();
            let mut st = json!({
                "phase": if running { "Running" } else { "Pending" },
                "conditions": [
                    probe_cond("PodScheduled", true, "", ""),
                    probe_cond("Initialized", true, "", ""),
                    probe_cond("ContainersReady", running, if running { "" } else { "ContainersNotReady" }, ""),
                    probe_cond("Ready", running, if running { "" } else { "ContainersNotReady" }, ""),
                ],
                "hostIP": "10.244.0.1",
                "qosClass": "BestEffort",
                "containerStatuses": statuses,
            });
            if running {
                st["podIP"] = json!("10.244.0.10");
            }
            Some(st)
        }
        ("batch", "jobs") => {
            if spec.and_then(|s| s.get("suspend")).and_then(Value::as_bool) == Some(true) {
                return None;
            }
            let completions = spec
                .and_then(|s| s.get("completions"))
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let backoff = spec
                .and_then(|s| s.get("backoffLimit"))
                .and_then(Value::as_i64)
                .unwrap_or(6);
            if !done {
                return Some(json!({"active": 1, "ready": 0, "startTime": now()}));
            }
            if template_fails {
                Some(
                    json!({"failed": backoff + 1, "ready": 0, "startTime": now(), "conditions": [
                        probe_cond("FailureTarget", true, "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
                        probe_cond("Failed", true, "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
                    ]}),
                )
            } else {
                Some(
                    json!({"succeeded": completions, "ready": 0, "startTime": now(), "completionTime": now(), "conditions": [
                        probe_cond("SuccessCriteriaMet", true, "CompletionsReached", "Reached expected number of succeeded pods"),
                        probe_cond("Complete", true, "CompletionsReached", "Reached expected number of succeeded pods"),
                    ]}),
                )
            }
        }
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
fn write_status(sh: &Shared, gr: &GroupResource, key: &ObjKey, done: bool) {
    let result = sh
        .store
        .write(gr, key, false, |cur| -> Result<WriteOp, ()> {
            let Some(cur) = cur else {
                return Ok(WriteOp::Keep);
            };
            if cur
                .pointer("/metadata/deletionTimestamp")
                .is_some_and(|v| !v.is_null())
            {
                return Ok(WriteOp::Keep);
            }
            let Some(want) = desired_status(gr, cur, done) else {
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
                // Keys the simulation computes replace their old values; a settled rollout
                // drops the in-progress counters it no longer reports.
                if done {
                    for k in ["unavailableReplicas", "active"] {
                        if !w.contains_key(k) {
                            s.remove(k);
                        }
                    }
                }
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

/// Serves a CRD's kinds and marks it Established (called right after a CRD write).
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

fn delete_with(
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
