//! The DaemonSet controller, as a pure function: one Pod per schedulable Node
//! (bound to it), old Pods replaced within `maxUnavailable`, and the status
//! counted per Node.

use serde_json::{Map, Value, json};

use super::pod::NodeInfo;
use super::replicaset::pod_from_template;
use super::util::{generation, int_or_percent, name, pod_ready, put_count, str_at, template_hash};

pub const REVISION_LABEL: &str = "controller-revision-hash";

#[derive(Debug, Default)]
pub struct Plan {
    pub create: Vec<Value>,
    pub delete: Vec<String>,
    pub status: Value,
}

fn node_of(pod: &Value) -> &str {
    str_at(pod, "/spec/nodeName")
}

fn revision_of(pod: &Value) -> &str {
    str_at(pod, &format!("/metadata/labels/{REVISION_LABEL}"))
}

/// Reconciles one DaemonSet over the schedulable `nodes`; `pods` are the
/// active Pods it controls.
pub fn reconcile(ds: &Value, pods: &[&Value], nodes: &[NodeInfo]) -> Plan {
    let hash = template_hash(&ds["spec"]["template"]);
    let mut plan = Plan::default();
    for node in nodes {
        let on: Vec<&&Value> = pods.iter().filter(|p| node_of(p) == node.name).collect();
        if on.is_empty() {
            let mut p = pod_from_template(ds, "apps/v1", "DaemonSet", &format!("{}-", name(ds)));
            p["metadata"]["labels"][REVISION_LABEL] = json!(hash);
            p["metadata"]["labels"]["pod-template-generation"] = json!(generation(ds).to_string());
            // The real controller pins the pod to its node by affinity; the scheduler binds it.
            p["spec"]["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node.name]}]}]}}});
            p["spec"]["nodeName"] = json!(node.name);
            plan.create.push(p);
        } else {
            // More than one pod on a node: keep the oldest.
            let mut extra: Vec<&&Value> = on.clone();
            extra.sort_by_key(|p| str_at(p, "/metadata/creationTimestamp").to_string());
            plan.delete
                .extend(extra.iter().skip(1).map(|p| name(p).to_string()));
        }
    }
    // Pods on nodes that are gone.
    plan.delete.extend(
        pods.iter()
            .filter(|p| !nodes.iter().any(|n| n.name == node_of(p)))
            .map(|p| name(p).to_string()),
    );
    if str_at(ds, "/spec/updateStrategy/type") != "OnDelete"
        && plan.create.is_empty()
        && plan.delete.is_empty()
    {
        let max_unavailable = int_or_percent(
            ds.pointer("/spec/updateStrategy/rollingUpdate/maxUnavailable"),
            nodes.len() as i64,
            "1",
            false,
        )
        .max(1);
        let unavailable = pods.iter().filter(|p| !pod_ready(p)).count() as i64;
        let budget = (max_unavailable - unavailable).max(0) as usize;
        plan.delete.extend(
            pods.iter()
                .filter(|p| revision_of(p) != hash)
                .take(budget)
                .map(|p| name(p).to_string()),
        );
    }
    plan.status = status(ds, pods, nodes, &hash);
    plan
}

fn status(ds: &Value, pods: &[&Value], nodes: &[NodeInfo], hash: &str) -> Value {
    let scheduled = nodes
        .iter()
        .filter(|n| pods.iter().any(|p| node_of(p) == n.name))
        .count() as i64;
    let ready = pods.iter().filter(|p| pod_ready(p)).count() as i64;
    let updated = pods.iter().filter(|p| revision_of(p) == hash).count() as i64;
    let desired = nodes.len() as i64;
    let mut st = Map::new();
    st.insert("currentNumberScheduled".into(), json!(scheduled));
    st.insert("desiredNumberScheduled".into(), json!(desired));
    st.insert("numberMisscheduled".into(), json!(0));
    st.insert("numberReady".into(), json!(ready));
    st.insert("observedGeneration".into(), json!(generation(ds)));
    put_count(&mut st, "numberAvailable", ready);
    put_count(&mut st, "numberUnavailable", desired - ready);
    put_count(&mut st, "updatedNumberScheduled", updated);
    Value::Object(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<NodeInfo> {
        (0..n)
            .map(|i| NodeInfo {
                name: format!("n{i}"),
                ip: format!("172.18.0.{}", i + 2),
            })
            .collect()
    }

    fn ds(image: &str) -> Value {
        json!({"metadata": {"name": "agent", "namespace": "default", "uid": "ds-uid", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "c", "image": image}]}}}})
    }

    #[test]
    fn one_pod_per_node() {
        let plan = reconcile(&ds("a:1"), &[], &nodes(2));
        let on: Vec<&str> = plan
            .create
            .iter()
            .map(|p| p["spec"]["nodeName"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(on, vec!["n0", "n1"]);
        assert_eq!(plan.status["desiredNumberScheduled"], 2);
        assert_eq!(plan.status["currentNumberScheduled"], 0);
        assert_eq!(
            plan.create[0]["metadata"]["ownerReferences"][0]["kind"],
            "DaemonSet"
        );
    }

    #[test]
    fn old_pods_are_replaced_one_at_a_time() {
        let old = ds("a:1");
        let mut pods: Vec<Value> = reconcile(&old, &[], &nodes(2)).create;
        for (i, p) in pods.iter_mut().enumerate() {
            p["metadata"]["name"] = json!(format!("agent-{i}"));
            p["status"] = json!({"conditions": [{"type": "Ready", "status": "True"}]});
        }
        let refs: Vec<&Value> = pods.iter().collect();
        let plan = reconcile(&ds("a:2"), &refs, &nodes(2));
        assert_eq!(plan.delete, vec!["agent-0"]);
        assert!(plan.status.get("updatedNumberScheduled").is_none());
        assert_eq!(plan.status["numberReady"], 2);
    }
}
