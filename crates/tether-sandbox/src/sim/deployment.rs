//! The Deployment controller, as a pure function: given a Deployment and the
//! ReplicaSets it controls, which ReplicaSet to create, how to scale each one
//! (by the strategy: RollingUpdate within maxSurge/maxUnavailable, or
//! Recreate), which old ones to delete past `revisionHistoryLimit`, and the
//! status and conditions to report.

use serde_json::{Map, Value, json};

use super::util::{
    HASH_LABEL, cond, generation, int_at, int_or_percent, name, owner_ref, put_count, str_at,
    template_hash, without_hash_label,
};

pub const REVISION: &str = "deployment.kubernetes.io/revision";
const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
const MAX: &str = "deployment.kubernetes.io/max-replicas";

/// A change to one existing ReplicaSet.
#[derive(Debug, PartialEq)]
pub struct RsUpdate {
    pub name: String,
    pub replicas: Option<i64>,
    pub annotations: Map<String, Value>,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub create: Option<Value>,
    pub update: Vec<RsUpdate>,
    pub delete: Vec<String>,
    /// Annotations to set on the Deployment itself (its revision).
    pub annotations: Map<String, Value>,
    pub status: Value,
}

/// One ReplicaSet as the controller sees it.
struct Rs<'a> {
    obj: &'a Value,
    name: String,
    spec: i64,
    pods: i64,
    ready: i64,
    /// Available pods, never more than the set wants (its status may lag a scale-down).
    available: i64,
    revision: i64,
}

impl<'a> Rs<'a> {
    fn new(obj: &'a Value) -> Self {
        let spec = int_at(obj, "/spec/replicas").unwrap_or(1);
        let count = |k: &str| int_at(obj, &format!("/status/{k}")).unwrap_or(0);
        Rs {
            obj,
            name: name(obj).to_string(),
            spec,
            pods: count("replicas"),
            ready: count("readyReplicas"),
            available: count("availableReplicas").min(spec),
            revision: revision(obj),
        }
    }
}

fn revision(obj: &Value) -> i64 {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// maxSurge and maxUnavailable resolved against the replica count.
pub fn surge_and_unavailable(d: &Value, replicas: i64) -> (i64, i64) {
    if str_at(d, "/spec/strategy/type") == "Recreate" {
        return (0, replicas);
    }
    let ru = d.pointer("/spec/strategy/rollingUpdate");
    let surge = int_or_percent(ru.and_then(|r| r.get("maxSurge")), replicas, "25%", true);
    let unavailable = int_or_percent(
        ru.and_then(|r| r.get("maxUnavailable")),
        replicas,
        "25%",
        false,
    );
    // Both zero would never progress; the real controller allows one unavailable.
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable.min(replicas))
    }
}

/// A new ReplicaSet for the Deployment's current template.
fn new_replicaset(
    d: &Value,
    hash: &str,
    revision: i64,
    replicas: i64,
    surge: i64,
    want: i64,
) -> Value {
    let mut template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
    if template.get("metadata").is_none_or(|m| !m.is_object()) {
        template["metadata"] = json!({});
    }
    if template
        .pointer("/metadata/labels")
        .is_none_or(|l| !l.is_object())
    {
        template["metadata"]["labels"] = json!({});
    }
    template["metadata"]["labels"][HASH_LABEL] = json!(hash);
    let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
    if selector.get("matchLabels").is_none_or(|l| !l.is_object()) {
        selector["matchLabels"] = json!({});
    }
    selector["matchLabels"][HASH_LABEL] = json!(hash);
    // The real controller copies the Deployment's annotations, except those of
    // kubectl apply and its own.
    let mut annotations = Map::new();
    if let Some(a) = d
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        for (k, v) in a {
            if k != "kubectl.kubernetes.io/last-applied-configuration"
                && !k.starts_with("deployment.kubernetes.io/")
            {
                annotations.insert(k.clone(), v.clone());
            }
        }
    }
    annotations.insert(REVISION.into(), json!(revision.to_string()));
    annotations.insert(DESIRED.into(), json!(want.to_string()));
    annotations.insert(MAX.into(), json!((want + surge).to_string()));
    let mut spec = json!({"replicas": replicas, "selector": selector, "template": template});
    if let Some(m) = d.pointer("/spec/minReadySeconds") {
        spec["minReadySeconds"] = m.clone();
    }
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{}-{hash}", name(d)),
            "namespace": str_at(d, "/metadata/namespace"),
            "labels": template["metadata"]["labels"].clone(),
            "annotations": annotations,
            "ownerReferences": [owner_ref(d, "apps/v1", "Deployment")],
        },
        "spec": spec,
    })
}

fn scale_to(name: &str, replicas: i64, want: i64, surge: i64) -> RsUpdate {
    let mut annotations = Map::new();
    annotations.insert(DESIRED.into(), json!(want.to_string()));
    annotations.insert(MAX.into(), json!((want + surge).to_string()));
    RsUpdate {
        name: name.into(),
        replicas: Some(replicas),
        annotations,
    }
}

/// The scaling step for the strategy, or nothing when the sets are where they should be.
fn scale(
    d: &Value,
    new: &Rs,
    old: &[Rs],
    want: i64,
    surge: i64,
    unavailable: i64,
) -> Vec<RsUpdate> {
    if str_at(d, "/spec/strategy/type") == "Recreate" {
        let active: Vec<RsUpdate> = old
            .iter()
            .filter(|r| r.spec > 0)
            .map(|r| scale_to(&r.name, 0, want, surge))
            .collect();
        if !active.is_empty() {
            return active;
        }
        // The new pods start only once every old pod is gone.
        if old.iter().any(|r| r.pods > 0) {
            return Vec::new();
        }
        return if new.spec != want {
            vec![scale_to(&new.name, want, want, surge)]
        } else {
            Vec::new()
        };
    }
    let total: i64 = new.spec + old.iter().map(|r| r.spec).sum::<i64>();
    if new.spec > want {
        return vec![scale_to(&new.name, want, want, surge)];
    }
    if new.spec < want && total < want + surge {
        let target = want.min(new.spec + want + surge - total);
        return vec![scale_to(&new.name, target, want, surge)];
    }
    if old.iter().all(|r| r.spec == 0) {
        return Vec::new();
    }
    // Scale old sets down without going under the minimum available: first
    // their unhealthy pods, then as many healthy ones as availability allows.
    let min_available = want - unavailable;
    let new_unavailable = new.spec - new.available;
    let mut max_down = total - min_available - new_unavailable;
    let mut order: Vec<&Rs> = old.iter().filter(|r| r.spec > 0).collect();
    order.sort_by_key(|r| r.revision);
    let mut target: Vec<(String, i64)> = order.iter().map(|r| (r.name.clone(), r.spec)).collect();
    for (r, t) in order.iter().zip(target.iter_mut()) {
        if max_down <= 0 {
            break;
        }
        let unhealthy = (r.spec - r.available).min(max_down);
        if unhealthy > 0 {
            t.1 -= unhealthy;
            max_down -= unhealthy;
        }
    }
    let available: i64 = new.available + order.iter().map(|r| r.available).sum::<i64>();
    let mut can = available - min_available;
    for (r, t) in order.iter().zip(target.iter_mut()) {
        if can <= 0 {
            break;
        }
        let down = t.1.min(can).min(r.available);
        t.1 -= down;
        can -= down;
    }
    order
        .iter()
        .zip(target)
        .filter(|(r, (_, t))| *t != r.spec)
        .map(|(_, (n, t))| scale_to(&n, t, want, surge))
        .collect()
}

/// Reconciles one Deployment. `rss` are the ReplicaSets it controls; `stalled`
/// says the rollout has made no progress within its (scaled) deadline.
pub fn reconcile(d: &Value, rss: &[&Value], stalled: bool) -> Plan {
    let want = int_at(d, "/spec/replicas").unwrap_or(1).max(0);
    let (surge, unavailable) = surge_and_unavailable(d, want);
    let paused = d.pointer("/spec/paused") == Some(&json!(true));
    let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let hash = template_hash(&template);
    let bare = without_hash_label(&template);
    let sets: Vec<Rs> = rss.iter().map(|o| Rs::new(o)).collect();
    let new_idx = sets.iter().position(|r| {
        r.obj
            .pointer("/spec/template")
            .is_some_and(|t| without_hash_label(t) == bare)
    });
    let max_revision = sets.iter().map(|r| r.revision).max().unwrap_or(0);
    let mut plan = Plan::default();
    let mut progressing_reason = "ReplicaSetUpdated";
    let new_name;
    match new_idx {
        None if !paused => {
            let old_total: i64 = sets.iter().map(|r| r.spec).sum();
            let initial = if str_at(d, "/spec/strategy/type") == "Recreate" {
                if sets.iter().any(|r| r.spec > 0 || r.pods > 0) {
                    0
                } else {
                    want
                }
            } else {
                want.min((want + surge - old_total).max(0))
            };
            let rs = new_replicaset(d, &hash, max_revision + 1, initial, surge, want);
            new_name = name(&rs).to_string();
            plan.annotations
                .insert(REVISION.into(), json!((max_revision + 1).to_string()));
            plan.create = Some(rs);
            progressing_reason = "NewReplicaSetCreated";
        }
        None => new_name = String::new(),
        Some(i) => {
            let new = &sets[i];
            new_name = new.name.clone();
            let old: Vec<Rs> = sets
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, r)| Rs::new(r.obj))
                .collect();
            let old_max = old.iter().map(|r| r.revision).max().unwrap_or(0);
            let mut rev = new.revision;
            if rev <= old_max && !paused {
                // A template rolled back to: its set becomes the newest revision.
                rev = old_max + 1;
                let mut a = Map::new();
                a.insert(REVISION.into(), json!(rev.to_string()));
                plan.update.push(RsUpdate {
                    name: new.name.clone(),
                    replicas: None,
                    annotations: a,
                });
            }
            plan.annotations
                .insert(REVISION.into(), json!(rev.to_string()));
            // Wait until every set has seen its latest spec, so counts are current.
            let settled = sets.iter().all(|r| {
                int_at(r.obj, "/status/observedGeneration").unwrap_or(0) >= generation(r.obj)
            });
            if settled {
                if paused {
                    // Paused: scaling only, no rollout.
                    if old.iter().all(|r| r.spec == 0) && new.spec != want {
                        plan.update.push(scale_to(&new.name, want, want, surge));
                    }
                } else {
                    plan.update
                        .extend(scale(d, new, &old, want, surge, unavailable));
                }
                // Old sets past the history limit go, oldest first.
                let limit = int_at(d, "/spec/revisionHistoryLimit").unwrap_or(10).max(0) as usize;
                let mut idle: Vec<&Rs> =
                    old.iter().filter(|r| r.spec == 0 && r.pods == 0).collect();
                idle.sort_by_key(|r| r.revision);
                if idle.len() > limit {
                    plan.delete = idle[..idle.len() - limit]
                        .iter()
                        .map(|r| r.name.clone())
                        .collect();
                }
            }
        }
    }
    plan.status = status(
        d,
        &sets,
        new_idx,
        &new_name,
        want,
        unavailable,
        paused,
        stalled,
        progressing_reason,
    );
    plan
}

#[allow(clippy::too_many_arguments)]
fn status(
    d: &Value,
    sets: &[Rs],
    new_idx: Option<usize>,
    new_name: &str,
    want: i64,
    unavailable: i64,
    paused: bool,
    stalled: bool,
    progressing_reason: &str,
) -> Value {
    let replicas: i64 = sets.iter().map(|r| r.pods).sum();
    let updated = new_idx.map_or(0, |i| sets[i].pods);
    let ready: i64 = sets.iter().map(|r| r.ready).sum();
    let available: i64 = sets.iter().map(|r| r.available).sum();
    let spec_total: i64 = sets.iter().map(|r| r.spec).sum();
    let mut st = Map::new();
    st.insert("observedGeneration".into(), json!(generation(d)));
    put_count(&mut st, "replicas", replicas);
    put_count(&mut st, "updatedReplicas", updated);
    put_count(&mut st, "readyReplicas", ready);
    put_count(&mut st, "availableReplicas", available);
    put_count(
        &mut st,
        "unavailableReplicas",
        spec_total.max(want) - available,
    );
    let available_cond = if available >= want - unavailable {
        cond(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        cond(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    let complete = new_idx.is_some()
        && updated == want
        && replicas == want
        && available == want
        && sets[new_idx.unwrap_or(0)].spec == want;
    let previous = d
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type") == Some(&json!("Progressing")))
        });
    let timed_out_before = previous.is_some_and(|c| {
        c.get("reason") == Some(&json!("ProgressDeadlineExceeded"))
            && c.get("message")
                .and_then(Value::as_str)
                .is_some_and(|m| m.contains(&format!("\"{new_name}\"")))
    });
    let progressing = if paused {
        cond(
            "Progressing",
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused",
        )
    } else if complete {
        cond(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            &format!("ReplicaSet \"{new_name}\" has successfully progressed."),
        )
    } else if stalled || timed_out_before {
        cond(
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            &format!("ReplicaSet \"{new_name}\" has timed out progressing."),
        )
    } else if progressing_reason == "NewReplicaSetCreated" {
        cond(
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            &format!("Created new replica set \"{new_name}\""),
        )
    } else {
        cond(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            &format!("ReplicaSet \"{new_name}\" is progressing."),
        )
    };
    let mut conds = vec![available_cond, progressing];
    super::util::keep_condition_times(d.pointer("/status/conditions"), &mut conds);
    st.insert("conditions".into(), json!(conds));
    // The hash collision count is the controller's memory across syncs: kept.
    if let Some(c) = d.pointer("/status/collisionCount") {
        st.insert("collisionCount".into(), c.clone());
    }
    Value::Object(st)
}

/// True when the rollout is complete: nothing for a deadline to watch.
pub fn complete(status: &Value) -> bool {
    status
        .get("conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.get("reason") == Some(&json!("NewReplicaSetAvailable")))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(replicas: i64, image: &str) -> Value {
        json!({"metadata": {"name": "web", "namespace": "default", "uid": "d-uid", "generation": 1,
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "a"}},
            "spec": {"replicas": replicas, "revisionHistoryLimit": 1,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}}}})
    }

    /// The ReplicaSet a plan created, settled with `pods` ready pods.
    fn settled(mut rs: Value, spec: i64, ready: i64) -> Value {
        rs["metadata"]["generation"] = json!(1);
        rs["spec"]["replicas"] = json!(spec);
        rs["status"] = json!({"replicas": ready, "readyReplicas": ready, "availableReplicas": ready, "observedGeneration": 1});
        rs
    }

    #[test]
    fn a_new_deployment_gets_a_replicaset_named_by_its_template() {
        let d = deploy(3, "nginx:1");
        let plan = reconcile(&d, &[], false);
        let rs = plan.create.expect("a new set");
        let hash = template_hash(&d["spec"]["template"]);
        assert_eq!(rs["metadata"]["name"], format!("web-{hash}"));
        assert_eq!(rs["spec"]["replicas"], 3);
        assert_eq!(rs["spec"]["selector"]["matchLabels"][HASH_LABEL], hash);
        assert_eq!(
            rs["spec"]["template"]["metadata"]["labels"][HASH_LABEL],
            hash
        );
        assert_eq!(rs["metadata"]["annotations"][REVISION], "1");
        assert_eq!(rs["metadata"]["annotations"]["team"], "a");
        assert!(
            rs["metadata"]["annotations"]
                .get("kubectl.kubernetes.io/last-applied-configuration")
                .is_none()
        );
        assert_eq!(rs["metadata"]["annotations"][MAX], "4");
        assert_eq!(plan.annotations[REVISION], "1");
        assert_eq!(
            plan.status["conditions"][1]["reason"],
            "NewReplicaSetCreated"
        );
    }

    #[test]
    fn a_rolling_update_stays_within_surge_and_unavailability() {
        let v1 = deploy(3, "nginx:1");
        let rs1 = settled(reconcile(&v1, &[], false).create.expect("rs1"), 3, 3);
        let v2 = deploy(3, "nginx:2");
        let plan = reconcile(&v2, &[&rs1], false);
        let rs2 = plan.create.expect("rs2");
        assert_eq!(rs2["spec"]["replicas"], 1, "one surge pod: 3 + 1 of 4");
        assert_eq!(rs2["metadata"]["annotations"][REVISION], "2");
        // Simulate the sets until done, checking the bounds at every step: new
        // pods start unready, scaled-down pods go at once.
        let ready = |rs: &Value| int_at(rs, "/status/readyReplicas").unwrap_or(0);
        let (mut old, mut new) = (rs1, settled(rs2, 1, 0));
        for _ in 0..20 {
            let plan = reconcile(&v2, &[&old, &new], false);
            for u in &plan.update {
                let Some(n) = u.replicas else { continue };
                let target = if u.name == name(&new) {
                    &mut new
                } else {
                    &mut old
                };
                let r = ready(target).min(n);
                *target = settled(target.clone(), n, r);
            }
            let total = int_at(&old, "/spec/replicas").unwrap_or(0)
                + int_at(&new, "/spec/replicas").unwrap_or(0);
            assert!(total <= 4, "surge exceeded: {total}");
            assert!(ready(&old) + ready(&new) >= 3, "unavailable exceeded");
            let (o, n) = (
                int_at(&old, "/spec/replicas").unwrap_or(0),
                int_at(&new, "/spec/replicas").unwrap_or(0),
            );
            if plan.update.is_empty() && ready(&new) == n {
                break;
            }
            old = settled(old, o, o);
            new = settled(new, n, n);
        }
        assert_eq!(new["spec"]["replicas"], 3);
        assert_eq!(old["spec"]["replicas"], 0);
        let done = reconcile(&v2, &[&old, &new], false);
        assert_eq!(done.status["updatedReplicas"], 3);
        assert!(complete(&done.status), "{}", done.status);
        assert!(
            done.delete.is_empty(),
            "one old set is kept (revisionHistoryLimit 1)"
        );
    }

    #[test]
    fn a_rollback_makes_the_old_set_the_newest_revision() {
        let v1 = deploy(2, "nginx:1");
        let mut rs1 = settled(reconcile(&v1, &[], false).create.expect("rs1"), 0, 0);
        rs1["metadata"]["annotations"][REVISION] = json!("1");
        let mut rs2 = settled(
            reconcile(&deploy(2, "nginx:2"), &[], false)
                .create
                .expect("rs2"),
            2,
            2,
        );
        rs2["metadata"]["annotations"][REVISION] = json!("2");
        let plan = reconcile(&v1, &[&rs1, &rs2], false);
        assert!(plan.create.is_none());
        assert_eq!(plan.annotations[REVISION], "3");
        assert!(
            plan.update
                .iter()
                .any(|u| u.name == name(&rs1) && u.annotations[REVISION] == "3")
        );
        assert!(
            plan.update
                .iter()
                .any(|u| u.name == name(&rs1) && u.replicas == Some(1)),
            "{:?}",
            plan.update
        );
    }

    #[test]
    fn recreate_scales_old_down_first_and_history_is_trimmed() {
        let mut d = deploy(2, "nginx:2");
        d["spec"]["strategy"] = json!({"type": "Recreate"});
        let old = settled(
            reconcile(&deploy(2, "nginx:1"), &[], false)
                .create
                .expect("old"),
            2,
            2,
        );
        let plan = reconcile(&d, &[&old], false);
        let new = plan.create.expect("new");
        assert_eq!(new["spec"]["replicas"], 0);
        let new = settled(new, 0, 0);
        let plan = reconcile(&d, &[&old, &new], false);
        assert_eq!(plan.update, vec![scale_to(name(&old), 0, 2, 0)]);
        let old = settled(old, 0, 0);
        let plan = reconcile(&d, &[&old, &new], false);
        assert_eq!(plan.update[0].replicas, Some(2));
        // An older idle set past the history limit of 1 is deleted.
        let mut older = settled(
            reconcile(&deploy(2, "nginx:0"), &[], false)
                .create
                .expect("older"),
            0,
            0,
        );
        older["metadata"]["annotations"][REVISION] = json!("0");
        let plan = reconcile(&d, &[&older, &old, &new], false);
        assert_eq!(plan.delete, vec![name(&older).to_string()]);
    }

    #[test]
    fn a_paused_deployment_scales_but_does_not_roll_out() {
        let v1 = deploy(2, "nginx:1");
        let rs1 = settled(reconcile(&v1, &[], false).create.expect("rs1"), 2, 2);
        let mut v2 = deploy(3, "nginx:2");
        v2["spec"]["paused"] = json!(true);
        let plan = reconcile(&v2, &[&rs1], false);
        assert!(plan.create.is_none(), "no new ReplicaSet while paused");
        assert!(plan.update.is_empty());
        assert_eq!(plan.status["conditions"][1]["reason"], "DeploymentPaused");
        let mut v1_paused = deploy(3, "nginx:1");
        v1_paused["spec"]["paused"] = json!(true);
        let plan = reconcile(&v1_paused, &[&rs1], false);
        assert_eq!(
            plan.update.iter().map(|u| u.replicas).collect::<Vec<_>>(),
            vec![Some(3)],
            "scaling still happens"
        );
    }

    #[test]
    fn stalled_rollouts_report_the_deadline() {
        let d = deploy(1, "nginx:fail");
        let rs = settled(reconcile(&d, &[], false).create.expect("rs"), 1, 0);
        let plan = reconcile(&d, &[&rs], true);
        assert_eq!(
            plan.status["conditions"][1]["reason"],
            "ProgressDeadlineExceeded"
        );
        assert_eq!(plan.status["conditions"][1]["status"], "False");
        assert_eq!(plan.status["conditions"][0]["status"], "False");
    }
}
