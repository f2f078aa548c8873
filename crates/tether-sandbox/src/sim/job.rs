//! The Job controller, as a pure function: Pods up to `parallelism` until
//! `completions` have succeeded (Complete), or more than `backoffLimit` have
//! failed (Failed, `BackoffLimitExceeded`); `suspend` stops the active ones.

use serde_json::{Map, Value, json};

use super::replicaset::pod_from_template;
use super::util::{deleting, int_at, name, pod_phase, pod_ready, probe_cond, put_count};
use crate::api::now;

#[derive(Debug, Default)]
pub struct Plan {
    pub create: Vec<Value>,
    pub delete: Vec<String>,
    pub status: Value,
}

fn has_condition(job: &Value, type_: &str) -> bool {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type") == Some(&json!(type_)) && c.get("status") == Some(&json!("True"))
            })
        })
}

/// True once the Job has finished, either way.
pub fn finished(job: &Value) -> Option<bool> {
    if has_condition(job, "Complete") {
        Some(true)
    } else if has_condition(job, "Failed") {
        Some(false)
    } else {
        None
    }
}

/// Reconciles one Job; `pods` are every Pod it controls, finished ones included.
pub fn reconcile(job: &Value, pods: &[&Value]) -> Plan {
    let mut plan = Plan::default();
    let active: Vec<&&Value> = pods
        .iter()
        .filter(|p| !deleting(p) && !matches!(pod_phase(p), "Succeeded" | "Failed"))
        .collect();
    let count = |phase: &str, key: &str| {
        let seen = pods.iter().filter(|p| pod_phase(p) == phase).count() as i64;
        seen.max(int_at(job, &format!("/status/{key}")).unwrap_or(0))
    };
    let succeeded = count("Succeeded", "succeeded");
    let failed = count("Failed", "failed");
    let completions = int_at(job, "/spec/completions").unwrap_or(1).max(0);
    let parallelism = int_at(job, "/spec/parallelism").unwrap_or(1).max(0);
    let backoff = int_at(job, "/spec/backoffLimit").unwrap_or(6);
    let suspended = job.pointer("/spec/suspend") == Some(&json!(true));

    let mut st: Map<String, Value> = job
        .get("status")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut conditions: Vec<Value> = st
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let already = finished(job);
    if already.is_none() {
        if failed > backoff {
            plan.delete = active.iter().map(|p| name(p).to_string()).collect();
            let msg = "Job has reached the specified backoff limit";
            conditions.push(probe_cond(
                "FailureTarget",
                true,
                "BackoffLimitExceeded",
                msg,
            ));
            conditions.push(probe_cond("Failed", true, "BackoffLimitExceeded", msg));
        } else if succeeded >= completions {
            let msg = "Reached expected number of succeeded pods";
            conditions.push(probe_cond(
                "SuccessCriteriaMet",
                true,
                "CompletionsReached",
                msg,
            ));
            conditions.push(probe_cond("Complete", true, "CompletionsReached", msg));
            st.insert("completionTime".into(), json!(now()));
        } else if suspended {
            plan.delete = active.iter().map(|p| name(p).to_string()).collect();
            if !has_condition(job, "Suspended") {
                conditions.retain(|c| c.get("type") != Some(&json!("Suspended")));
                conditions.push(probe_cond(
                    "Suspended",
                    true,
                    "JobSuspended",
                    "Job suspended",
                ));
            }
        } else {
            if has_condition(job, "Suspended") {
                conditions.retain(|c| c.get("type") != Some(&json!("Suspended")));
                conditions.push(probe_cond("Suspended", false, "JobResumed", "Job resumed"));
            }
            let want_active = parallelism.min(completions - succeeded).max(0);
            for _ in (active.len() as i64)..want_active {
                plan.create.push(pod_from_template(
                    job,
                    "batch/v1",
                    "Job",
                    &format!("{}-", name(job)),
                ));
            }
        }
    }
    if !suspended || st.contains_key("startTime") {
        st.entry("startTime").or_insert_with(|| json!(now()));
    }
    let still_active = if plan.delete.is_empty() {
        active.len() as i64
    } else {
        0
    };
    let ready = active.iter().filter(|p| pod_ready(p)).count() as i64;
    put_count(&mut st, "active", still_active);
    st.insert(
        "ready".into(),
        json!(if plan.delete.is_empty() { ready } else { 0 }),
    );
    put_count(&mut st, "succeeded", succeeded);
    put_count(&mut st, "failed", failed);
    st.insert("terminating".into(), json!(0));
    st.insert("uncountedTerminatedPods".into(), json!({}));
    if !conditions.is_empty() {
        st.insert("conditions".into(), json!(conditions));
    }
    plan.status = Value::Object(st);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(completions: i64, parallelism: i64) -> Value {
        json!({"metadata": {"name": "j", "namespace": "default", "uid": "j-uid"},
            "spec": {"completions": completions, "parallelism": parallelism, "backoffLimit": 1,
                "template": {"metadata": {"labels": {"job-name": "j"}}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}})
    }

    fn pod(phase: &str) -> Value {
        json!({"metadata": {"name": format!("j-{phase}")}, "status": {"phase": phase}})
    }

    #[test]
    fn runs_parallel_pods_until_completions() {
        let plan = reconcile(&job(3, 2), &[]);
        assert_eq!(plan.create.len(), 2);
        assert_eq!(
            plan.create[0]["metadata"]["ownerReferences"][0]["kind"],
            "Job"
        );
        let (a, b) = (pod("Succeeded"), pod("Running"));
        let plan = reconcile(&job(3, 2), &[&a, &b]);
        assert_eq!(plan.create.len(), 1, "one more for the two left");
        assert_eq!(plan.status["active"], 1);
        let done: Vec<Value> = (0..3).map(|_| pod("Succeeded")).collect();
        let refs: Vec<&Value> = done.iter().collect();
        let plan = reconcile(&job(3, 2), &refs);
        assert!(plan.create.is_empty());
        assert_eq!(plan.status["succeeded"], 3);
        assert_eq!(plan.status["conditions"][1]["type"], "Complete");
        assert!(plan.status["completionTime"].is_string());
    }

    #[test]
    fn fails_past_the_backoff_limit() {
        let (a, b) = (pod("Failed"), pod("Failed"));
        let plan = reconcile(&job(1, 1), &[&a, &b]);
        assert!(plan.create.is_empty());
        assert_eq!(plan.status["conditions"][1]["type"], "Failed");
        assert_eq!(
            plan.status["conditions"][1]["reason"],
            "BackoffLimitExceeded"
        );
        assert_eq!(plan.status["failed"], 2);
        let one = pod("Failed");
        assert_eq!(
            reconcile(&job(1, 1), &[&one]).create.len(),
            1,
            "retried within the limit"
        );
    }
}
