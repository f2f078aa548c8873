//! The StatefulSet controller, as a pure function: Pods `<name>-0..N-1`, one
//! at a time in order for `OrderedReady` (all at once for `Parallel`), a PVC
//! per volumeClaimTemplate and ordinal (`<template>-<name>-<ordinal>`, kept
//! when the Pod goes, as the real controller keeps them), updates from the
//! highest ordinal down to the partition, and the status.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::util::{
    generation, int_at, name, owner_ref, pod_ready, put_count, str_at, template_hash,
};

pub const REVISION_LABEL: &str = "controller-revision-hash";

#[derive(Debug, Default)]
pub struct Plan {
    pub create: Vec<Value>,
    pub delete: Vec<String>,
    pub status: Value,
}

/// The revision a template is at: `<name>-<hash>`, as ControllerRevisions are named.
pub fn revision(sts: &Value) -> String {
    format!("{}-{}", name(sts), template_hash(&sts["spec"]["template"]))
}

fn ordinal(sts: &Value, pod: &Value) -> Option<i64> {
    name(pod)
        .strip_prefix(name(sts))?
        .strip_prefix('-')?
        .parse()
        .ok()
}

fn claim_name(template: &Value, sts: &Value, i: i64) -> String {
    format!("{}-{}-{i}", name(template), name(sts))
}

fn claims(sts: &Value) -> Vec<Value> {
    sts.pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn pvc(sts: &Value, template: &Value, i: i64) -> Value {
    let mut labels = sts
        .pointer("/spec/selector/matchLabels")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or(json!({}));
    if let Some(l) = template
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
    {
        for (k, v) in l {
            labels[k] = v.clone();
        }
    }
    let mut meta = json!({"name": claim_name(template, sts, i), "namespace": str_at(sts, "/metadata/namespace"), "labels": labels});
    if let Some(a) = template.pointer("/metadata/annotations") {
        meta["annotations"] = a.clone();
    }
    // Claims outlive their pods unless the retention policy says otherwise.
    if str_at(
        sts,
        "/spec/persistentVolumeClaimRetentionPolicy/whenDeleted",
    ) == "Delete"
    {
        meta["ownerReferences"] = json!([owner_ref(sts, "apps/v1", "StatefulSet")]);
    }
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
        "spec": template.get("spec").cloned().unwrap_or(json!({}))})
}

fn pod(sts: &Value, i: i64, rev: &str) -> Value {
    let template = &sts["spec"]["template"];
    let pod_name = format!("{}-{i}", name(sts));
    let mut labels = template
        .pointer("/metadata/labels")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or(json!({}));
    labels[REVISION_LABEL] = json!(rev);
    labels["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
    labels["apps.kubernetes.io/pod-index"] = json!(i.to_string());
    let mut meta = json!({"name": pod_name, "namespace": str_at(sts, "/metadata/namespace"), "labels": labels,
        "ownerReferences": [owner_ref(sts, "apps/v1", "StatefulSet")]});
    if let Some(a) = template.pointer("/metadata/annotations") {
        meta["annotations"] = a.clone();
    }
    let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
    spec["hostname"] = json!(pod_name);
    if let Some(svc) = sts
        .pointer("/spec/serviceName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        spec["subdomain"] = json!(svc);
    }
    let mut volumes: Vec<Value> = spec
        .get("volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for t in claims(sts) {
        volumes.retain(|v| v.get("name") != t.pointer("/metadata/name"));
        volumes.push(json!({"name": name(&t), "persistentVolumeClaim": {"claimName": claim_name(&t, sts, i)}}));
    }
    if !volumes.is_empty() {
        spec["volumes"] = json!(volumes);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
}

/// Reconciles one StatefulSet: `pods` are the active Pods it controls, `pvcs`
/// the names of the claims that exist in its namespace.
pub fn reconcile(sts: &Value, pods: &[&Value], pvcs: &HashSet<String>) -> Plan {
    let want = int_at(sts, "/spec/replicas").unwrap_or(1).max(0);
    let ordered = str_at(sts, "/spec/podManagementPolicy") != "Parallel";
    let rev = revision(sts);
    let mut by_ordinal: Vec<(i64, &Value)> = pods
        .iter()
        .filter_map(|p| ordinal(sts, p).map(|i| (i, *p)))
        .collect();
    by_ordinal.sort_by_key(|(i, _)| *i);
    let mut plan = Plan::default();
    let all_ready = by_ordinal.iter().all(|(_, p)| pod_ready(p));
    // Create missing ordinals, in order.
    for i in 0..want {
        if by_ordinal.iter().any(|(j, _)| *j == i) {
            continue;
        }
        if ordered
            && (!plan.create.is_empty() || by_ordinal.iter().any(|(j, p)| *j < i && !pod_ready(p)))
        {
            break;
        }
        for t in claims(sts) {
            if !pvcs.contains(&claim_name(&t, sts, i)) {
                plan.create.push(pvc(sts, &t, i));
            }
        }
        plan.create.push(pod(sts, i, &rev));
        if ordered {
            break;
        }
    }
    // Remove ordinals past the replica count, highest first.
    let condemned: Vec<&(i64, &Value)> = by_ordinal
        .iter()
        .rev()
        .filter(|(i, _)| *i >= want)
        .collect();
    if plan.create.is_empty() && !condemned.is_empty() && (!ordered || all_ready) {
        let take = if ordered { 1 } else { condemned.len() };
        plan.delete = condemned
            .iter()
            .take(take)
            .map(|(_, p)| name(p).to_string())
            .collect();
    }
    // Roll out a new template: one pod at a time from the highest ordinal,
    // while every pod is ready, down to the partition.
    let rolling = str_at(sts, "/spec/updateStrategy/type") != "OnDelete";
    let partition = int_at(sts, "/spec/updateStrategy/rollingUpdate/partition").unwrap_or(0);
    if rolling
        && plan.create.is_empty()
        && plan.delete.is_empty()
        && all_ready
        && by_ordinal.len() as i64 == want
        && let Some((_, p)) = by_ordinal.iter().rev().find(|(i, p)| {
            *i >= partition && str_at(p, &format!("/metadata/labels/{REVISION_LABEL}")) != rev
        })
    {
        plan.delete.push(name(p).to_string());
    }
    plan.status = status(sts, &by_ordinal, &rev, want);
    plan
}

fn status(sts: &Value, pods: &[(i64, &Value)], rev: &str, want: i64) -> Value {
    let at = |p: &Value| str_at(p, &format!("/metadata/labels/{REVISION_LABEL}")).to_string();
    let ready = pods.iter().filter(|(_, p)| pod_ready(p)).count() as i64;
    let updated = pods.iter().filter(|(_, p)| at(p) == rev).count() as i64;
    let previous = str_at(sts, "/status/currentRevision");
    let current_rev = if (updated == want && pods.len() as i64 == want) || previous.is_empty() {
        rev.to_string()
    } else {
        previous.to_string()
    };
    let current = pods.iter().filter(|(_, p)| at(p) == current_rev).count() as i64;
    let mut st = Map::new();
    st.insert("observedGeneration".into(), json!(generation(sts)));
    st.insert("replicas".into(), json!(pods.len()));
    put_count(&mut st, "readyReplicas", ready);
    put_count(&mut st, "currentReplicas", current);
    put_count(&mut st, "updatedReplicas", updated);
    st.insert("availableReplicas".into(), json!(ready));
    st.insert("currentRevision".into(), json!(current_rev));
    st.insert("updateRevision".into(), json!(rev));
    st.insert(
        "collisionCount".into(),
        sts.pointer("/status/collisionCount")
            .cloned()
            .unwrap_or(json!(0)),
    );
    Value::Object(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts(replicas: i64, image: &str) -> Value {
        json!({"metadata": {"name": "db", "namespace": "default", "uid": "s-uid", "generation": 1},
            "spec": {"replicas": replicas, "serviceName": "db", "podManagementPolicy": "OrderedReady",
                "selector": {"matchLabels": {"app": "db"}},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": image}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})
    }

    fn ready(mut p: Value) -> Value {
        p["status"] =
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
        p
    }

    #[test]
    fn ordinals_come_up_one_at_a_time_with_their_claims() {
        let s = sts(2, "db:1");
        let plan = reconcile(&s, &[], &HashSet::new());
        let names: Vec<&str> = plan.create.iter().map(name).collect();
        assert_eq!(names, vec!["data-db-0", "db-0"]);
        let p0 = &plan.create[1];
        assert_eq!(p0["spec"]["hostname"], "db-0");
        assert_eq!(p0["spec"]["subdomain"], "db");
        assert_eq!(
            p0["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "data-db-0"
        );
        assert_eq!(
            p0["metadata"]["labels"]["apps.kubernetes.io/pod-index"],
            "0"
        );
        assert!(
            plan.create[0]["metadata"].get("ownerReferences").is_none(),
            "claims are retained"
        );
        // db-1 waits until db-0 is ready.
        let pending = p0.clone();
        assert!(
            reconcile(&s, &[&pending], &HashSet::from(["data-db-0".to_string()]))
                .create
                .is_empty()
        );
        let running = ready(p0.clone());
        let plan = reconcile(&s, &[&running], &HashSet::from(["data-db-0".to_string()]));
        let names: Vec<&str> = plan.create.iter().map(name).collect();
        assert_eq!(names, vec!["data-db-1", "db-1"]);
    }

    #[test]
    fn scale_down_and_updates_go_from_the_highest_ordinal() {
        let s = sts(2, "db:1");
        let pods: Vec<Value> = (0..3).map(|i| ready(pod(&s, i, &revision(&s)))).collect();
        let refs: Vec<&Value> = pods.iter().collect();
        let plan = reconcile(&s, &refs, &HashSet::new());
        assert_eq!(plan.delete, vec!["db-2"]);
        assert_eq!(plan.status["replicas"], 3);
        let s2 = sts(2, "db:2");
        let plan = reconcile(&s2, &refs[..2], &HashSet::new());
        assert_eq!(plan.delete, vec!["db-1"]);
        assert_eq!(plan.status["updateRevision"], revision(&s2));
        assert!(plan.status.get("updatedReplicas").is_none());
    }
}
