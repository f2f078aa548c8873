//! The ReplicaSet (and ReplicationController) controller, as a pure function:
//! given the set and the Pods it controls, which Pods to create or delete and
//! the status to report.

use serde_json::{Map, Value, json};

use super::util::{generation, name, owner_ref, pod_phase, pod_ready, put_count, str_at};

/// What to do for one ReplicaSet.
#[derive(Debug, Default)]
pub struct Plan {
    /// Pods to create (with generateName).
    pub create: Vec<Value>,
    /// Names of Pods to delete.
    pub delete: Vec<String>,
    pub status: Value,
}

/// A Pod for a controller from its template: the template's labels and
/// annotations, a name generated from `prefix`, and the owner reference.
pub fn pod_from_template(owner: &Value, owner_api: &str, owner_kind: &str, prefix: &str) -> Value {
    let template = owner
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(json!({}));
    let mut meta = Map::new();
    meta.insert("generateName".into(), json!(prefix));
    meta.insert(
        "namespace".into(),
        json!(str_at(owner, "/metadata/namespace")),
    );
    for k in ["labels", "annotations"] {
        if let Some(v) = template
            .pointer(&format!("/metadata/{k}"))
            .filter(|v| v.is_object())
        {
            meta.insert(k.into(), v.clone());
        }
    }
    meta.insert(
        "ownerReferences".into(),
        json!([owner_ref(owner, owner_api, owner_kind)]),
    );
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec").cloned().unwrap_or(json!({}))})
}

/// The order the real controller deletes pods in: unscheduled before scheduled,
/// pending before running, not ready before ready, newer before older.
fn deletion_rank(pod: &Value) -> (bool, u8, bool, std::cmp::Reverse<String>) {
    let phase = match pod_phase(pod) {
        "Pending" | "" => 0,
        "Running" => 2,
        _ => 1,
    };
    (
        !str_at(pod, "/spec/nodeName").is_empty(),
        phase,
        pod_ready(pod),
        std::cmp::Reverse(format!(
            "{}{}",
            str_at(pod, "/metadata/creationTimestamp"),
            name(pod)
        )),
    )
}

/// Reconciles one set: `pods` are the active Pods it controls.
pub fn reconcile(rs: &Value, pods: &[&Value], api_version: &str, kind: &str) -> Plan {
    let want = rs
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0) as usize;
    let mut plan = Plan::default();
    if pods.len() < want {
        let prefix = format!("{}-", name(rs));
        for _ in pods.len()..want {
            plan.create
                .push(pod_from_template(rs, api_version, kind, &prefix));
        }
    } else if pods.len() > want {
        let mut ranked: Vec<&&Value> = pods.iter().collect();
        ranked.sort_by_key(|p| deletion_rank(p));
        plan.delete = ranked[..pods.len() - want]
            .iter()
            .map(|p| name(p).to_string())
            .collect();
    }
    plan.status = status(rs, pods);
    plan
}

/// The status the real controller reports: counts of the Pods as they are now
/// (the Pods being created or deleted show up in the next pass).
pub fn status(rs: &Value, pods: &[&Value]) -> Value {
    let ready = pods.iter().filter(|p| pod_ready(p)).count() as i64;
    let mut st = Map::new();
    st.insert("replicas".into(), json!(pods.len()));
    put_count(&mut st, "fullyLabeledReplicas", pods.len() as i64);
    put_count(&mut st, "readyReplicas", ready);
    put_count(&mut st, "availableReplicas", ready);
    st.insert("observedGeneration".into(), json!(generation(rs)));
    Value::Object(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(replicas: i64) -> Value {
        json!({"metadata": {"name": "web-abc", "namespace": "default", "uid": "rs-uid", "generation": 2},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    }

    fn pod(name: &str, phase: &str, ready: bool, node: bool) -> Value {
        let mut p = json!({"metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": {},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
        if node {
            p["spec"]["nodeName"] = json!("n");
        }
        p
    }

    #[test]
    fn creates_missing_pods_from_the_template() {
        let plan = reconcile(&rs(3), &[], "apps/v1", "ReplicaSet");
        assert_eq!(plan.create.len(), 3);
        let p = &plan.create[0];
        assert_eq!(p["metadata"]["generateName"], "web-abc-");
        assert_eq!(p["metadata"]["labels"]["pod-template-hash"], "abc");
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
        assert_eq!(p["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(
            p["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
            true
        );
        assert_eq!(plan.status["replicas"], 0);
        assert_eq!(plan.status["observedGeneration"], 2);
        assert!(plan.status.get("readyReplicas").is_none());
    }

    #[test]
    fn deletes_the_least_ready_pods_first() {
        let a = pod("a", "Running", true, true);
        let b = pod("b", "Pending", false, true);
        let c = pod("c", "Pending", false, false);
        let plan = reconcile(&rs(1), &[&a, &b, &c], "apps/v1", "ReplicaSet");
        assert_eq!(plan.delete, vec!["c", "b"]);
        assert_eq!(plan.status["replicas"], 3);
        assert_eq!(plan.status["readyReplicas"], 1);
    }
}
