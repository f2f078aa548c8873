//! Assess: the health of live objects, and of an app as the worst of them.
//!
//! Pure rules over the live object's JSON, modelled on Argo CD's built-in
//! checks (gitops-engine `pkg/health`), `kubectl rollout status`, and kstatus
//! (`sigs.k8s.io/cli-utils/pkg/kstatus`) for everything else.
//!
//! Order of checks for any object:
//! 1. absent → `Missing`; not a JSON object → `Unknown`;
//! 2. `metadata.deletionTimestamp` set → `Progressing` ("being deleted");
//! 3. a built-in rule for the kind (Deployment, StatefulSet, DaemonSet,
//!    ReplicaSet, Pod, Job, CronJob, Service, Ingress, PersistentVolumeClaim,
//!    HorizontalPodAutoscaler, CustomResourceDefinition, Namespace, APIService);
//! 4. otherwise the generic kstatus rule, see [`generic`].
//!
//! Messages are short (one line, capped) and name the reason the cluster gave.

use std::cmp::Ordering;

use serde_json::Value;
use tether_model::object::split_api_version;
use tether_model::{HealthCode, HealthStatus, ObjectRef};

/// Longest message kept, in characters; controller messages can be paragraphs.
const MAX_MESSAGE: usize = 300;

/// Health of one live object. `None` live = Missing.
pub fn assess(live: Option<&Value>) -> HealthStatus {
    let Some(obj) = live else {
        return status(HealthCode::Missing, "not found in the cluster");
    };
    if !obj.is_object() {
        return status(HealthCode::Unknown, "live object is not a JSON object");
    }
    if let Some(h) = being_deleted(obj) {
        return h;
    }
    let kind = str_at(obj, "/kind").unwrap_or("");
    let group = split_api_version(str_at(obj, "/apiVersion").unwrap_or("")).0;
    match (group, kind) {
        ("apps" | "extensions", "Deployment") => deployment(obj),
        ("apps", "StatefulSet") => statefulset(obj),
        ("apps" | "extensions", "DaemonSet") => daemonset(obj),
        ("apps" | "extensions", "ReplicaSet") => replicaset(obj),
        ("", "Pod") => pod(obj),
        ("batch", "Job") => job(obj),
        ("batch", "CronJob") => cronjob(obj),
        ("", "Service") => service(obj),
        ("networking.k8s.io" | "extensions", "Ingress") => ingress(obj),
        ("", "PersistentVolumeClaim") => pvc(obj),
        ("autoscaling", "HorizontalPodAutoscaler") => hpa(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(obj),
        ("", "Namespace") => namespace(obj),
        ("apiregistration.k8s.io", "APIService") => apiservice(obj),
        _ => generic(obj),
    }
}

/// The worst of the objects' health; the message names the worst object
/// ("Deployment demo/web: ...") and how many others share that health.
///
/// Among objects equally bad, the smallest [`ObjectRef`] is named, so the
/// message does not depend on the order of `items` (a status that flips
/// between two names on every reconcile would be noise). No objects, or all
/// healthy, gives `Healthy` with an empty message.
pub fn app_health<'a>(
    items: impl IntoIterator<Item = (&'a ObjectRef, &'a HealthStatus)>,
) -> HealthStatus {
    let mut worst: Option<(&ObjectRef, &HealthStatus)> = None;
    let mut same = 0usize;
    for (r, h) in items {
        match worst {
            None => {
                worst = Some((r, h));
                same = 1;
            }
            Some((wr, wh)) => match h.status.cmp(&wh.status) {
                Ordering::Greater => {
                    worst = Some((r, h));
                    same = 1;
                }
                Ordering::Equal => {
                    same += 1;
                    if r < wr {
                        worst = Some((r, h));
                    }
                }
                Ordering::Less => {}
            },
        }
    }
    match worst {
        Some((r, h)) if h.status != HealthCode::Healthy => {
            let detail = if h.message.is_empty() {
                h.status.as_str()
            } else {
                h.message.as_str()
            };
            let mut message = format!("{}: {detail}", label(r));
            if same > 1 {
                message.push_str(&format!(" (+{} more {})", same - 1, h.status.as_str()));
            }
            HealthStatus::new(h.status, message)
        }
        _ => HealthStatus::new(HealthCode::Healthy, ""),
    }
}

/// `Deployment demo/web`, `Namespace demo`: the kind without its group, as users say it.
fn label(r: &ObjectRef) -> String {
    if r.namespace.is_empty() {
        format!("{} {}", r.kind, r.name)
    } else {
        format!("{} {}/{}", r.kind, r.namespace, r.name)
    }
}

// ---------------------------------------------------------------------------
// Building results and reading JSON.

fn status(code: HealthCode, message: impl AsRef<str>) -> HealthStatus {
    HealthStatus::new(code, shorten(message.as_ref()))
}

fn healthy(message: impl AsRef<str>) -> HealthStatus {
    status(HealthCode::Healthy, message)
}

fn progressing(message: impl AsRef<str>) -> HealthStatus {
    status(HealthCode::Progressing, message)
}

fn degraded(message: impl AsRef<str>) -> HealthStatus {
    status(HealthCode::Degraded, message)
}

fn suspended(message: impl AsRef<str>) -> HealthStatus {
    status(HealthCode::Suspended, message)
}

/// One line, whitespace collapsed, at most [`MAX_MESSAGE`] characters.
fn shorten(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX_MESSAGE {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(MAX_MESSAGE - 1).collect();
    cut.push('…');
    cut
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// An integer field; tolerates whole floats (some encoders write `3.0`).
fn int_at(v: &Value, ptr: &str) -> Option<i64> {
    let n = v.pointer(ptr)?;
    n.as_i64()
        .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
}

fn int_or(v: &Value, ptr: &str, default: i64) -> i64 {
    int_at(v, ptr).unwrap_or(default)
}

fn flag(v: &Value, ptr: &str) -> bool {
    v.pointer(ptr).and_then(Value::as_bool) == Some(true)
}

fn array<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// `status.conditions[type == type_]`.
fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    find_condition(array(obj, "/status/conditions"), type_)
}

fn find_condition<'a>(conditions: &'a [Value], type_: &str) -> Option<&'a Value> {
    conditions
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

fn cond_status(c: &Value) -> &str {
    c.get("status").and_then(Value::as_str).unwrap_or("")
}

fn cond_reason(c: &Value) -> &str {
    c.get("reason").and_then(Value::as_str).unwrap_or("")
}

/// `status.conditions[type].status == want`.
fn condition_is<'a>(obj: &'a Value, type_: &str, want: &str) -> Option<&'a Value> {
    condition(obj, type_).filter(|c| cond_status(c) == want)
}

/// `Reason: message`, or whichever of the two is set, or `Type=Status`.
fn cond_text(c: &Value) -> String {
    let reason = cond_reason(c);
    let message = c
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    match (reason.is_empty(), message.is_empty()) {
        (false, false) => format!("{reason}: {message}"),
        (false, true) => reason.to_string(),
        (true, false) => message.to_string(),
        (true, true) => format!(
            "{}={}",
            c.get("type").and_then(Value::as_str).unwrap_or("?"),
            cond_status(c)
        ),
    }
}

// ---------------------------------------------------------------------------
// Rules that apply to every kind.

fn being_deleted(obj: &Value) -> Option<HealthStatus> {
    let ts = obj.pointer("/metadata/deletionTimestamp")?;
    if ts.is_null() || ts.as_str() == Some("") {
        return None;
    }
    let finalizers: Vec<&str> = array(obj, "/metadata/finalizers")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    Some(if finalizers.is_empty() {
        progressing("being deleted")
    } else {
        progressing(format!(
            "being deleted, waiting for finalizers: {}",
            finalizers.join(", ")
        ))
    })
}

/// For the workload controllers, which always report `status.observedGeneration`:
/// absent counts as 0, so a brand-new object with no status yet is Progressing.
fn rollout_not_observed(obj: &Value) -> Option<HealthStatus> {
    let generation = int_or(obj, "/metadata/generation", 0);
    let observed = int_or(obj, "/status/observedGeneration", 0);
    (observed < generation).then(|| {
        progressing(format!(
            "waiting for rollout to be observed (generation {generation}, observed {observed})"
        ))
    })
}

// ---------------------------------------------------------------------------
// apps

/// Like `kubectl rollout status deployment`, plus paused and the controller's
/// own failure conditions.
fn deployment(obj: &Value) -> HealthStatus {
    if flag(obj, "/spec/paused") {
        return suspended("Deployment is paused");
    }
    if let Some(h) = rollout_not_observed(obj) {
        return h;
    }
    if let Some(c) = condition_is(obj, "Progressing", "False")
        .filter(|c| cond_reason(c) == "ProgressDeadlineExceeded")
    {
        return degraded(cond_text(c));
    }
    // Pods cannot be created at all (quota, admission): the rollout cannot proceed.
    if let Some(c) = condition_is(obj, "ReplicaFailure", "True") {
        return degraded(cond_text(c));
    }
    let want = int_or(obj, "/spec/replicas", 1);
    let replicas = int_or(obj, "/status/replicas", 0);
    let updated = int_or(obj, "/status/updatedReplicas", 0);
    let available = int_or(obj, "/status/availableReplicas", 0);
    if updated < want {
        return progressing(format!(
            "Waiting for rollout to finish: {updated} of {want} new replicas have been updated..."
        ));
    }
    if replicas > updated {
        return progressing(format!(
            "Waiting for rollout to finish: {} old replicas are pending termination...",
            replicas - updated
        ));
    }
    if available < updated {
        return progressing(format!(
            "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
        ));
    }
    healthy(format!("{available} of {want} replicas available"))
}

/// Like `kubectl rollout status statefulset`: when the API server has defaulted
/// `updateStrategy.rollingUpdate` (it always does for `apps/v1`), the partition
/// and `updatedReplicas` decide; without it, `currentRevision` must equal
/// `updateRevision`. OnDelete only waits for readiness: pods change revision
/// when someone deletes them, so stale pods are reported but stay Healthy.
fn statefulset(obj: &Value) -> HealthStatus {
    if let Some(h) = rollout_not_observed(obj) {
        return h;
    }
    let want = int_or(obj, "/spec/replicas", 1);
    let ready = int_or(obj, "/status/readyReplicas", 0);
    let updated = int_or(obj, "/status/updatedReplicas", 0);
    if ready < want {
        return progressing(format!(
            "Waiting for rollout to finish: {ready} of {want} pods are ready..."
        ));
    }
    let strategy = str_at(obj, "/spec/updateStrategy/type").unwrap_or("RollingUpdate");
    if strategy == "OnDelete" {
        return if updated < want {
            healthy(format!(
                "{ready} pods ready; {updated} of {want} at the new revision (OnDelete: delete pods to update them)"
            ))
        } else {
            healthy(format!("{ready} pods ready"))
        };
    }
    if let Some(rolling) = obj.pointer("/spec/updateStrategy/rollingUpdate") {
        let partition = int_at(rolling, "/partition").unwrap_or(0).max(0);
        let target = (want - partition).max(0);
        if updated < target {
            return progressing(format!(
                "Waiting for partitioned roll out to finish: {updated} of {target} new pods have been updated..."
            ));
        }
        return if partition > 0 {
            healthy(format!(
                "partitioned roll out complete: {updated} new pods have been updated"
            ))
        } else {
            healthy(format!("{ready} pods ready, {updated} updated"))
        };
    }
    let current = str_at(obj, "/status/currentRevision").unwrap_or("");
    let update = str_at(obj, "/status/updateRevision").unwrap_or("");
    if current != update {
        return progressing(format!(
            "Waiting for rolling update to finish: {updated} of {want} pods at revision {update}..."
        ));
    }
    healthy(format!("{ready} pods ready at revision {current}"))
}

/// Like `kubectl rollout status daemonset`; OnDelete skips the "updated" check
/// (pods are replaced only when deleted) but still waits for availability.
fn daemonset(obj: &Value) -> HealthStatus {
    if let Some(h) = rollout_not_observed(obj) {
        return h;
    }
    let desired = int_or(obj, "/status/desiredNumberScheduled", 0);
    let updated = int_or(obj, "/status/updatedNumberScheduled", 0);
    let available = int_or(obj, "/status/numberAvailable", 0);
    let on_delete = str_at(obj, "/spec/updateStrategy/type") == Some("OnDelete");
    if !on_delete && updated < desired {
        return progressing(format!(
            "Waiting for rollout to finish: {updated} of {desired} new pods have been updated..."
        ));
    }
    if available < desired {
        return progressing(format!(
            "Waiting for rollout to finish: {available} of {desired} pods are available..."
        ));
    }
    healthy(format!("{available} of {desired} pods available"))
}

fn replicaset(obj: &Value) -> HealthStatus {
    if let Some(h) = rollout_not_observed(obj) {
        return h;
    }
    if let Some(c) = condition_is(obj, "ReplicaFailure", "True") {
        return degraded(cond_text(c));
    }
    let want = int_or(obj, "/spec/replicas", 1);
    let ready = int_or(obj, "/status/readyReplicas", 0);
    let available = int_or(obj, "/status/availableReplicas", 0);
    if ready < want {
        return progressing(format!(
            "Waiting for replicas: {ready} of {want} are ready..."
        ));
    }
    if available < want {
        return progressing(format!(
            "Waiting for replicas: {available} of {want} are available..."
        ));
    }
    healthy(format!("{available} of {want} replicas available"))
}

// ---------------------------------------------------------------------------
// core: Pod

/// A container waiting for a reason that will not fix itself without a change:
/// the named reasons plus Argo's patterns (`Err*`, `*Error`, `*BackOff`), which
/// also cover ErrImageNeverPull, CreateContainerError, RunContainerError.
fn is_bad_waiting(reason: &str) -> bool {
    matches!(
        reason,
        "ImagePullBackOff"
            | "ErrImagePull"
            | "CrashLoopBackOff"
            | "CreateContainerConfigError"
            | "InvalidImageName"
    ) || reason.starts_with("Err")
        || reason.ends_with("Error")
        || reason.ends_with("BackOff")
}

/// Init containers first (they run first), each tagged so messages can say which.
fn container_statuses(obj: &Value) -> impl Iterator<Item = (&'static str, &Value)> {
    array(obj, "/status/initContainerStatuses")
        .iter()
        .map(|c| ("init container", c))
        .chain(
            array(obj, "/status/containerStatuses")
                .iter()
                .map(|c| ("container", c)),
        )
}

fn container_name(c: &Value) -> &str {
    c.get("name").and_then(Value::as_str).unwrap_or("?")
}

/// `Error (exit code 1)`, `OOMKilled (exit code 137)`, from a `terminated` state.
fn termination_text(t: &Value) -> String {
    let reason = t
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("terminated");
    let mut s = match int_at(t, "/exitCode") {
        Some(code) => format!("{reason} (exit code {code})"),
        None => reason.to_string(),
    };
    if let Some(m) = t
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
    {
        s.push_str(": ");
        s.push_str(m.trim());
    }
    s
}

/// Pods follow Argo, with one deliberate difference: a container stuck in a
/// bad waiting state (ImagePullBackOff, CrashLoopBackOff, ...) is Degraded
/// whatever the restartPolicy. Argo limits that to restartPolicy Always so a
/// hook pod is not failed early; whoever runs hooks should treat a pod as
/// finished only on phase Succeeded/Failed, not on this Degraded.
fn pod(obj: &Value) -> HealthStatus {
    let phase = str_at(obj, "/status/phase").unwrap_or("");
    let restart = str_at(obj, "/spec/restartPolicy").unwrap_or("Always");

    if phase != "Succeeded" && phase != "Failed" {
        let bad: Vec<String> = container_statuses(obj)
            .filter_map(|(what, c)| {
                let w = c.pointer("/state/waiting")?;
                let reason = w.get("reason").and_then(Value::as_str)?;
                if !is_bad_waiting(reason) {
                    return None;
                }
                let msg = w
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .trim();
                let name = container_name(c);
                Some(if msg.is_empty() {
                    format!("{what} {name}: {reason}")
                } else {
                    format!("{what} {name}: {reason}: {msg}")
                })
            })
            .collect();
        if !bad.is_empty() {
            return degraded(bad.join("; "));
        }
    }

    match phase {
        "Succeeded" => healthy("Pod completed"),
        "Failed" => {
            let reason = str_at(obj, "/status/reason").unwrap_or("");
            let message = str_at(obj, "/status/message").unwrap_or("").trim();
            if !message.is_empty() || !reason.is_empty() {
                let text = match (reason.is_empty(), message.is_empty()) {
                    (false, false) => format!("{reason}: {message}"),
                    (false, true) => reason.to_string(),
                    _ => message.to_string(),
                };
                return degraded(text);
            }
            let failed = container_statuses(obj).find_map(|(what, c)| {
                let t = c.pointer("/state/terminated")?;
                let code = int_at(t, "/exitCode").unwrap_or(0);
                let reason = t.get("reason").and_then(Value::as_str).unwrap_or("");
                (code != 0 || reason == "OOMKilled")
                    .then(|| format!("{what} {}: {}", container_name(c), termination_text(t)))
            });
            degraded(failed.unwrap_or_else(|| "Pod failed".into()))
        }
        "Running" => {
            if restart != "Always" {
                // A pod meant to run to completion (a hook, a one-off task) is
                // not done until it Succeeds.
                return progressing("Pod is running");
            }
            let ready = match condition(obj, "Ready") {
                Some(c) => cond_status(c) == "True",
                None => {
                    let cs = array(obj, "/status/containerStatuses");
                    !cs.is_empty() && cs.iter().all(|c| flag(c, "/ready"))
                }
            };
            if ready {
                return healthy("Pod is running and ready");
            }
            // Not ready after a container died: crashing or failing its probes.
            let restarted = array(obj, "/status/containerStatuses")
                .iter()
                .find_map(|c| {
                    let t = c.pointer("/lastState/terminated")?;
                    Some(format!(
                        "container {} restarted {} times, last: {}",
                        container_name(c),
                        int_or(c, "/restartCount", 1),
                        termination_text(t)
                    ))
                });
            if let Some(m) = restarted {
                return degraded(m);
            }
            let not_ready: Vec<&str> = array(obj, "/status/containerStatuses")
                .iter()
                .filter(|c| !flag(c, "/ready"))
                .map(container_name)
                .collect();
            if not_ready.is_empty() {
                progressing("waiting for the Pod to be ready")
            } else {
                progressing(format!(
                    "waiting for containers to be ready: {}",
                    not_ready.join(", ")
                ))
            }
        }
        // Pending, or no status yet (the API server sets Pending on create).
        "Pending" | "" => {
            if let Some(c) = condition_is(obj, "PodScheduled", "False") {
                return progressing(cond_text(c));
            }
            let waiting: Vec<String> = container_statuses(obj)
                .filter_map(|(what, c)| {
                    let reason = c.pointer("/state/waiting/reason")?.as_str()?;
                    Some(format!("{what} {}: {reason}", container_name(c)))
                })
                .collect();
            if !waiting.is_empty() {
                return progressing(waiting.join("; "));
            }
            match str_at(obj, "/status/message").filter(|m| !m.trim().is_empty()) {
                Some(m) => progressing(m),
                None => progressing("Pod is pending"),
            }
        }
        other => status(
            HealthCode::Unknown,
            match str_at(obj, "/status/message").filter(|m| !m.trim().is_empty()) {
                Some(m) => format!("Pod phase {other}: {m}"),
                None => format!("Pod phase {other}"),
            },
        ),
    }
}

// ---------------------------------------------------------------------------
// batch

/// `FailureTarget` (Kubernetes 1.31+) is set as soon as the Job is bound to
/// fail, before its pods are gone and `Failed` is added; both are Degraded.
fn job(obj: &Value) -> HealthStatus {
    if let Some(c) =
        condition_is(obj, "Failed", "True").or_else(|| condition_is(obj, "FailureTarget", "True"))
    {
        return degraded(cond_text(c));
    }
    let active = int_or(obj, "/status/active", 0);
    let succeeded = int_or(obj, "/status/succeeded", 0);
    let failed = int_or(obj, "/status/failed", 0);
    if condition_is(obj, "Complete", "True").is_some() {
        return healthy(format!("Job completed: {succeeded} succeeded"));
    }
    if flag(obj, "/spec/suspend") || condition_is(obj, "Suspended", "True").is_some() {
        return suspended("Job is suspended");
    }
    let mut m = format!("Job is running: {active} active, {succeeded} succeeded");
    if failed > 0 {
        m.push_str(&format!(", {failed} failed"));
    }
    progressing(m)
}

fn cronjob(obj: &Value) -> HealthStatus {
    if flag(obj, "/spec/suspend") {
        return suspended("CronJob is suspended");
    }
    let active = array(obj, "/status/active").len();
    let mut m = match str_at(obj, "/status/lastScheduleTime") {
        Some(t) => format!("last scheduled at {t}"),
        None => "not scheduled yet".to_string(),
    };
    if let Some(t) = str_at(obj, "/status/lastSuccessfulTime") {
        m.push_str(&format!(", last succeeded at {t}"));
    }
    if active > 0 {
        m.push_str(&format!(", {active} active"));
    }
    healthy(m)
}

// ---------------------------------------------------------------------------
// networking

/// The first address of `status.loadBalancer.ingress`, or None while there is none.
fn lb_address(obj: &Value) -> Option<String> {
    let first = array(obj, "/status/loadBalancer/ingress").first()?;
    Some(
        first
            .get("ip")
            .or_else(|| first.get("hostname"))
            .and_then(Value::as_str)
            .unwrap_or("assigned")
            .to_string(),
    )
}

fn service(obj: &Value) -> HealthStatus {
    if str_at(obj, "/spec/type") != Some("LoadBalancer") {
        return healthy("");
    }
    match lb_address(obj) {
        Some(a) => healthy(format!("load balancer at {a}")),
        None => progressing("waiting for a load balancer address"),
    }
}

/// As Argo does: Progressing until the ingress controller publishes an address.
/// (Controllers that never publish one leave the Ingress Progressing.)
fn ingress(obj: &Value) -> HealthStatus {
    match lb_address(obj) {
        Some(a) => healthy(format!("address {a}")),
        None => progressing("waiting for the ingress controller to publish an address"),
    }
}

// ---------------------------------------------------------------------------
// storage, autoscaling, API machinery

fn pvc(obj: &Value) -> HealthStatus {
    match str_at(obj, "/status/phase").unwrap_or("") {
        "Bound" => match str_at(obj, "/spec/volumeName") {
            Some(v) => healthy(format!("Bound to volume {v}")),
            None => healthy("Bound"),
        },
        "Lost" => degraded("Lost: the bound PersistentVolume no longer exists"),
        // No status yet, or waiting for a volume (or for a first consumer).
        "Pending" | "" => progressing("waiting for the claim to be bound"),
        other => status(HealthCode::Unknown, format!("claim phase {other}")),
    }
}

/// Degraded when the autoscaler cannot act: `AbleToScale` or `ScalingActive`
/// False with a failure reason (FailedGetScale, FailedUpdateScale,
/// FailedGetResourceMetric, FailedComputeMetricsReplicas, InvalidSelector...).
/// `ScalingActive=False` with `ScalingDisabled` (target scaled to zero on
/// purpose) is not a failure. `autoscaling/v1` objects carry the conditions in
/// the `autoscaling.alpha.kubernetes.io/conditions` annotation.
fn hpa(obj: &Value) -> HealthStatus {
    let from_annotation: Vec<Value>;
    let mut conditions = array(obj, "/status/conditions");
    if conditions.is_empty()
        && let Some(text) = str_at(
            obj,
            "/metadata/annotations/autoscaling.alpha.kubernetes.io~1conditions",
        )
    {
        from_annotation = serde_json::from_str(text).unwrap_or_default();
        conditions = &from_annotation;
    }
    for type_ in ["AbleToScale", "ScalingActive"] {
        if let Some(c) = find_condition(conditions, type_).filter(|c| cond_status(c) == "False") {
            let reason = cond_reason(c);
            if reason.starts_with("Failed") || reason.starts_with("Invalid") {
                return degraded(cond_text(c));
            }
        }
    }
    let current = int_at(obj, "/status/currentReplicas");
    let desired = int_at(obj, "/status/desiredReplicas");
    match (current, desired) {
        (Some(c), Some(d)) => healthy(format!("{c} current, {d} desired replicas")),
        _ => healthy(""),
    }
}

fn crd(obj: &Value) -> HealthStatus {
    if let Some(c) = condition_is(obj, "Terminating", "True") {
        return progressing(format!("being deleted: {}", cond_text(c)));
    }
    if let Some(c) = condition_is(obj, "NamesAccepted", "False") {
        return degraded(format!("names not accepted: {}", cond_text(c)));
    }
    if let Some(c) = condition_is(obj, "NonStructuralSchema", "True") {
        return degraded(format!("schema is not structural: {}", cond_text(c)));
    }
    if condition_is(obj, "Established", "True").is_some() {
        return healthy("CRD is established");
    }
    match condition(obj, "Established") {
        Some(c) => progressing(format!("waiting to be established: {}", cond_text(c))),
        None => progressing("waiting to be established"),
    }
}

fn namespace(obj: &Value) -> HealthStatus {
    match str_at(obj, "/status/phase").unwrap_or("") {
        "Active" | "" => healthy(""),
        "Terminating" => progressing("being deleted"),
        other => status(HealthCode::Unknown, format!("namespace phase {other}")),
    }
}

/// As Argo: an aggregated API that is not Available is Progressing.
fn apiservice(obj: &Value) -> HealthStatus {
    match condition(obj, "Available") {
        Some(c) if cond_status(c) == "True" => healthy(""),
        Some(c) => progressing(cond_text(c)),
        None => progressing("waiting for the API service to be available"),
    }
}

// ---------------------------------------------------------------------------
// Everything else: kstatus.

/// A `Ready=False` reason that reports a failure rather than work in progress:
/// Flux's `ReconciliationFailed`, `BuildFailed`, `HealthCheckFailed`,
/// `InstallFailed`, Crossplane's `ReconcileError`, cert-manager's `Failed`...
fn is_failure_reason(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("fail") || r.contains("error")
}

/// The generic check, following kstatus with one documented addition:
///
/// 1. `status.observedGeneration` present and behind `metadata.generation` →
///    Progressing (the controller has not seen the latest spec, so its
///    conditions are stale);
/// 2. `Stalled=True` → Degraded;
/// 3. `Ready=False` whose reason names a failure (contains "Fail" or "Error",
///    any case) → Degraded. kstatus calls every `Ready=False` InProgress, but
///    controllers such as Flux keep `Reconciling=True` while retrying a build
///    that keeps failing; showing that as Progressing forever hides the error.
///    This is what Argo's own checks for those kinds do too;
/// 4. `Reconciling=True` → Progressing;
/// 5. `Ready=False` (other reasons) or `Ready=Unknown` → Progressing;
/// 6. `Ready=True` → Healthy, unless the condition's own `observedGeneration`
///    is behind `metadata.generation` (Progressing);
/// 7. anything else, including no status at all (ConfigMap, Secret, RBAC...)
///    → Healthy: objects without a health of their own count as healthy, as in
///    Argo and kstatus.
fn generic(obj: &Value) -> HealthStatus {
    let generation = int_at(obj, "/metadata/generation");
    if let (Some(g), Some(o)) = (generation, int_at(obj, "/status/observedGeneration"))
        && o < g
    {
        return progressing(format!(
            "waiting for generation {g} to be observed (observed {o})"
        ));
    }
    if let Some(c) = condition_is(obj, "Stalled", "True") {
        return degraded(cond_text(c));
    }
    let ready = condition(obj, "Ready");
    if let Some(c) =
        ready.filter(|c| cond_status(c) == "False" && is_failure_reason(cond_reason(c)))
    {
        return degraded(cond_text(c));
    }
    if let Some(c) = condition_is(obj, "Reconciling", "True") {
        return progressing(cond_text(c));
    }
    match ready {
        Some(c) if cond_status(c) == "True" => {
            if let (Some(g), Some(o)) = (generation, int_at(c, "/observedGeneration"))
                && o < g
            {
                return progressing(format!(
                    "waiting for generation {g} to be observed (Ready reports {o})"
                ));
            }
            healthy(c.get("message").and_then(Value::as_str).unwrap_or(""))
        }
        Some(c) => progressing(cond_text(c)),
        None => healthy(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(api_version: &str, kind: &str, generation: i64, spec: Value, status: Value) -> Value {
        let mut o = json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": "web", "namespace": "demo", "generation": generation, "uid": "0b1c"},
            "spec": spec,
        });
        if !status.is_null() {
            o["status"] = status;
        }
        o
    }

    #[track_caller]
    fn check(v: &Value, want: HealthCode, contains: &str) -> HealthStatus {
        let h = assess(Some(v));
        assert_eq!(h.status, want, "{h:?}");
        assert!(
            h.message.contains(contains),
            "message {:?} lacks {contains:?}",
            h.message
        );
        h
    }

    fn template(image: &str) -> Value {
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image}]}})
    }

    fn deploy_spec(replicas: i64, image: &str) -> Value {
        json!({"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": template(image)})
    }

    // ---- Deployment -------------------------------------------------------

    #[test]
    fn deployment_rolled_out_as_the_sandbox_writes_it() {
        let d = obj(
            "apps/v1",
            "Deployment",
            2,
            deploy_spec(3, "nginx:1.27"),
            json!({
                "observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "ReplicaSet \"web-0a1b2c3d4e\" has successfully progressed."}
                ]
            }),
        );
        let h = check(&d, HealthCode::Healthy, "3 of 3 replicas available");
        assert_eq!(h.message, "3 of 3 replicas available");
    }

    #[test]
    fn deployment_rolling_out_as_the_sandbox_writes_it() {
        // The sandbox's in-progress status: zero counts omitted, as the real controller does.
        let d = obj(
            "apps/v1",
            "Deployment",
            1,
            deploy_spec(3, "nginx:1.27"),
            json!({
                "observedGeneration": 1, "replicas": 3, "unavailableReplicas": 3,
                "conditions": [
                    {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."},
                    {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": "ReplicaSet \"web-0a1b2c3d4e\" is progressing."}
                ]
            }),
        );
        let h = check(&d, HealthCode::Progressing, "Waiting for rollout to finish");
        assert_eq!(
            h.message,
            "Waiting for rollout to finish: 0 of 3 new replicas have been updated..."
        );
    }

    #[test]
    fn deployment_with_failing_image_is_degraded_with_the_deadline_message() {
        let d = obj(
            "apps/v1",
            "Deployment",
            1,
            deploy_spec(2, "nginx:fail"),
            json!({
                "observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "unavailableReplicas": 2,
                "conditions": [
                    {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."},
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-5d8f9c7b6a\" has timed out progressing."}
                ]
            }),
        );
        let h = check(&d, HealthCode::Degraded, "ProgressDeadlineExceeded");
        assert_eq!(
            h.message,
            "ProgressDeadlineExceeded: ReplicaSet \"web-5d8f9c7b6a\" has timed out progressing."
        );
    }

    #[test]
    fn paused_deployment_is_suspended() {
        let mut spec = deploy_spec(3, "nginx:1.27");
        spec["paused"] = json!(true);
        let d = obj(
            "apps/v1",
            "Deployment",
            4,
            spec,
            json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 1}),
        );
        check(&d, HealthCode::Suspended, "paused");
    }

    #[test]
    fn deployment_generation_not_observed_is_progressing() {
        let d = obj(
            "apps/v1",
            "Deployment",
            5,
            deploy_spec(3, "nginx:1.28"),
            json!({
                "observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3
            }),
        );
        check(
            &d,
            HealthCode::Progressing,
            "waiting for rollout to be observed (generation 5, observed 4)",
        );
    }

    #[test]
    fn new_deployment_without_status_defaults_to_one_replica_and_progresses() {
        let d = obj(
            "apps/v1",
            "Deployment",
            1,
            json!({"template": template("nginx")}),
            Value::Null,
        );
        check(
            &d,
            HealthCode::Progressing,
            "waiting for rollout to be observed",
        );
        // Observed, but nothing rolled out: spec.replicas defaults to 1.
        let d = obj(
            "apps/v1",
            "Deployment",
            1,
            json!({"template": template("nginx")}),
            json!({"observedGeneration": 1}),
        );
        check(
            &d,
            HealthCode::Progressing,
            "0 of 1 new replicas have been updated",
        );
    }

    #[test]
    fn deployment_old_replicas_terminating_then_unavailable() {
        let d = obj(
            "apps/v1",
            "Deployment",
            2,
            deploy_spec(3, "nginx:1.28"),
            json!({
                "observedGeneration": 2, "replicas": 4, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3
            }),
        );
        check(
            &d,
            HealthCode::Progressing,
            "1 old replicas are pending termination",
        );
        let d = obj(
            "apps/v1",
            "Deployment",
            2,
            deploy_spec(3, "nginx:1.28"),
            json!({
                "observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 1, "availableReplicas": 1, "unavailableReplicas": 2
            }),
        );
        let h = check(&d, HealthCode::Progressing, "");
        assert_eq!(
            h.message,
            "Waiting for rollout to finish: 1 of 3 updated replicas are available..."
        );
    }

    #[test]
    fn deployment_replica_failure_is_degraded() {
        let d = obj(
            "apps/v1",
            "Deployment",
            1,
            deploy_spec(2, "nginx"),
            json!({
                "observedGeneration": 1, "replicas": 0, "unavailableReplicas": 2,
                "conditions": [
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated", "message": "Created new replica set \"web-7c9\""},
                    {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "pods \"web-7c9-\" is forbidden: exceeded quota: compute, requested: cpu=500m"}
                ]
            }),
        );
        check(
            &d,
            HealthCode::Degraded,
            "FailedCreate: pods \"web-7c9-\" is forbidden: exceeded quota",
        );
    }

    #[test]
    fn deployment_scaled_to_zero_is_healthy() {
        let d = obj(
            "apps/v1",
            "Deployment",
            3,
            deploy_spec(0, "nginx"),
            json!({"observedGeneration": 3}),
        );
        check(&d, HealthCode::Healthy, "0 of 0");
    }

    // ---- StatefulSet ------------------------------------------------------

    fn sts_spec(replicas: i64, strategy: Value) -> Value {
        json!({"replicas": replicas, "serviceName": "web", "selector": {"matchLabels": {"app": "web"}}, "template": template("postgres:17"), "updateStrategy": strategy})
    }

    #[test]
    fn statefulset_as_the_sandbox_writes_it() {
        let done = obj(
            "apps/v1",
            "StatefulSet",
            1,
            sts_spec(3, json!({"type": "RollingUpdate"})),
            json!({
                "observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "currentReplicas": 3, "updatedReplicas": 3,
                "availableReplicas": 3, "currentRevision": "web-1", "updateRevision": "web-1", "collisionCount": 0
            }),
        );
        check(&done, HealthCode::Healthy, "3 pods ready");
        let rolling = obj(
            "apps/v1",
            "StatefulSet",
            1,
            sts_spec(3, json!({"type": "RollingUpdate"})),
            json!({
                "observedGeneration": 1, "replicas": 3, "readyReplicas": 0, "currentReplicas": 0, "updatedReplicas": 0,
                "availableReplicas": 0, "currentRevision": "web-1", "updateRevision": "web-1", "collisionCount": 0
            }),
        );
        check(&rolling, HealthCode::Progressing, "0 of 3 pods are ready");
    }

    #[test]
    fn statefulset_generation_not_observed() {
        let s = obj(
            "apps/v1",
            "StatefulSet",
            2,
            sts_spec(
                1,
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            ),
            json!({
                "observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1
            }),
        );
        check(&s, HealthCode::Progressing, "observed");
    }

    #[test]
    fn statefulset_partitioned_rollout() {
        let strategy = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}});
        let s = obj(
            "apps/v1",
            "StatefulSet",
            2,
            sts_spec(5, strategy.clone()),
            json!({
                "observedGeneration": 2, "replicas": 5, "readyReplicas": 5, "currentReplicas": 3, "updatedReplicas": 2,
                "currentRevision": "web-6b8", "updateRevision": "web-7f9"
            }),
        );
        check(
            &s,
            HealthCode::Progressing,
            "Waiting for partitioned roll out to finish: 2 of 3 new pods",
        );
        let s = obj(
            "apps/v1",
            "StatefulSet",
            2,
            sts_spec(5, strategy),
            json!({
                "observedGeneration": 2, "replicas": 5, "readyReplicas": 5, "currentReplicas": 2, "updatedReplicas": 3,
                "currentRevision": "web-6b8", "updateRevision": "web-7f9"
            }),
        );
        check(
            &s,
            HealthCode::Healthy,
            "partitioned roll out complete: 3 new pods",
        );
    }

    #[test]
    fn statefulset_defaulted_rolling_update_uses_updated_replicas() {
        let s = obj(
            "apps/v1",
            "StatefulSet",
            3,
            sts_spec(
                3,
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            ),
            json!({
                "observedGeneration": 3, "replicas": 3, "readyReplicas": 3, "currentReplicas": 2, "updatedReplicas": 1,
                "currentRevision": "web-6b8", "updateRevision": "web-7f9"
            }),
        );
        check(
            &s,
            HealthCode::Progressing,
            "1 of 3 new pods have been updated",
        );
    }

    #[test]
    fn statefulset_without_rolling_update_block_compares_revisions() {
        let s = obj(
            "apps/v1",
            "StatefulSet",
            3,
            sts_spec(3, json!({"type": "RollingUpdate"})),
            json!({
                "observedGeneration": 3, "replicas": 3, "readyReplicas": 3, "currentReplicas": 2, "updatedReplicas": 1,
                "currentRevision": "web-6b8", "updateRevision": "web-7f9"
            }),
        );
        check(
            &s,
            HealthCode::Progressing,
            "1 of 3 pods at revision web-7f9",
        );
    }

    #[test]
    fn statefulset_on_delete_stays_healthy_but_says_pods_are_stale() {
        let s = obj(
            "apps/v1",
            "StatefulSet",
            2,
            sts_spec(3, json!({"type": "OnDelete"})),
            json!({
                "observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "currentReplicas": 3, "updatedReplicas": 0,
                "currentRevision": "web-6b8", "updateRevision": "web-7f9"
            }),
        );
        check(&s, HealthCode::Healthy, "0 of 3 at the new revision");
        let s = obj(
            "apps/v1",
            "StatefulSet",
            2,
            sts_spec(3, json!({"type": "OnDelete"})),
            json!({
                "observedGeneration": 2, "replicas": 3, "readyReplicas": 2, "updatedReplicas": 0
            }),
        );
        check(&s, HealthCode::Progressing, "2 of 3 pods are ready");
    }

    // ---- DaemonSet --------------------------------------------------------

    #[test]
    fn daemonset_as_the_sandbox_writes_it() {
        let spec = json!({"selector": {"matchLabels": {"app": "web"}}, "template": template("fluent-bit:3")});
        let done = obj(
            "apps/v1",
            "DaemonSet",
            1,
            spec.clone(),
            json!({
                "observedGeneration": 1, "currentNumberScheduled": 1, "desiredNumberScheduled": 1, "numberMisscheduled": 0,
                "numberReady": 1, "numberAvailable": 1, "updatedNumberScheduled": 1
            }),
        );
        check(&done, HealthCode::Healthy, "1 of 1 pods available");
        let failing = obj(
            "apps/v1",
            "DaemonSet",
            1,
            spec,
            json!({
                "observedGeneration": 1, "currentNumberScheduled": 1, "desiredNumberScheduled": 1, "numberMisscheduled": 0,
                "numberReady": 0, "numberAvailable": 0, "updatedNumberScheduled": 1
            }),
        );
        check(
            &failing,
            HealthCode::Progressing,
            "0 of 1 pods are available",
        );
    }

    #[test]
    fn daemonset_rollout_and_on_delete() {
        let st = json!({"observedGeneration": 4, "desiredNumberScheduled": 3, "updatedNumberScheduled": 1, "numberAvailable": 3, "numberReady": 3});
        let ds = obj(
            "apps/v1",
            "DaemonSet",
            4,
            json!({"updateStrategy": {"type": "RollingUpdate"}}),
            st.clone(),
        );
        check(
            &ds,
            HealthCode::Progressing,
            "1 of 3 new pods have been updated",
        );
        let ds = obj(
            "apps/v1",
            "DaemonSet",
            4,
            json!({"updateStrategy": {"type": "OnDelete"}}),
            st,
        );
        check(&ds, HealthCode::Healthy, "3 of 3");
        let ds = obj(
            "apps/v1",
            "DaemonSet",
            5,
            json!({}),
            json!({"observedGeneration": 4, "desiredNumberScheduled": 3}),
        );
        check(&ds, HealthCode::Progressing, "observed");
    }

    // ---- ReplicaSet -------------------------------------------------------

    #[test]
    fn replicaset_as_the_sandbox_writes_it() {
        let spec = json!({"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template("nginx")});
        let rolling = obj(
            "apps/v1",
            "ReplicaSet",
            1,
            spec.clone(),
            json!({
                "observedGeneration": 1, "replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 0, "availableReplicas": 0
            }),
        );
        check(&rolling, HealthCode::Progressing, "0 of 2 are ready");
        let done = obj(
            "apps/v1",
            "ReplicaSet",
            1,
            spec.clone(),
            json!({
                "observedGeneration": 1, "replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 2
            }),
        );
        check(&done, HealthCode::Healthy, "2 of 2");
        let min_ready = obj(
            "apps/v1",
            "ReplicaSet",
            1,
            spec,
            json!({
                "observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "availableReplicas": 1
            }),
        );
        check(&min_ready, HealthCode::Progressing, "1 of 2 are available");
    }

    #[test]
    fn replicaset_replica_failure_is_degraded() {
        let rs = obj(
            "apps/v1",
            "ReplicaSet",
            1,
            json!({"replicas": 1}),
            json!({
                "observedGeneration": 1, "replicas": 0,
                "conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "pods \"web-x\" is forbidden: violates PodSecurity \"restricted:latest\""}]
            }),
        );
        check(
            &rs,
            HealthCode::Degraded,
            "FailedCreate: pods \"web-x\" is forbidden",
        );
    }

    // ---- Pod --------------------------------------------------------------

    fn pod(phase: &str, conditions: Value, containers: Value) -> Value {
        let mut p = obj(
            "v1",
            "Pod",
            0,
            json!({"containers": [{"name": "web", "image": "nginx:fail"}], "restartPolicy": "Always"}),
            json!({
                "phase": phase, "conditions": conditions, "hostIP": "10.244.0.1", "qosClass": "BestEffort", "containerStatuses": containers
            }),
        );
        p["metadata"].as_object_mut().unwrap().remove("generation");
        p
    }

    fn pod_conditions(ready: bool) -> Value {
        let (s, r) = if ready {
            ("True", None)
        } else {
            ("False", Some("ContainersNotReady"))
        };
        let mut c = json!([
            {"type": "PodScheduled", "status": "True", "lastProbeTime": null},
            {"type": "Initialized", "status": "True", "lastProbeTime": null},
            {"type": "ContainersReady", "status": s, "lastProbeTime": null},
            {"type": "Ready", "status": s, "lastProbeTime": null}
        ]);
        if let Some(r) = r {
            c[2]["reason"] = json!(r);
            c[3]["reason"] = json!(r);
        }
        c
    }

    #[test]
    fn pod_creating_as_the_sandbox_writes_it() {
        let p = pod(
            "Pending",
            pod_conditions(false),
            json!([
                {"name": "web", "image": "nginx", "imageID": "", "ready": false, "started": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}
            ]),
        );
        let h = check(&p, HealthCode::Progressing, "");
        assert_eq!(h.message, "container web: ContainerCreating");
    }

    #[test]
    fn pod_image_pull_backoff_as_the_sandbox_writes_it() {
        let p = pod(
            "Pending",
            pod_conditions(false),
            json!([
                {"name": "web", "image": "nginx:fail", "imageID": "", "ready": false, "started": false, "restartCount": 0,
                 "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"nginx:fail\""}}}
            ]),
        );
        let h = check(&p, HealthCode::Degraded, "");
        assert_eq!(
            h.message,
            "container web: ImagePullBackOff: Back-off pulling image \"nginx:fail\""
        );
    }

    #[test]
    fn pod_running_as_the_sandbox_writes_it() {
        let mut p = pod(
            "Running",
            pod_conditions(true),
            json!([
                {"name": "web", "image": "nginx", "imageID": "", "ready": true, "started": true, "restartCount": 0, "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}}
            ]),
        );
        p["status"]["podIP"] = json!("10.244.0.10");
        check(&p, HealthCode::Healthy, "ready");
    }

    #[test]
    fn pod_crash_loop_and_config_errors_name_container_reason_and_message() {
        let p = pod(
            "Running",
            pod_conditions(false),
            json!([
                {"name": "web", "ready": false, "restartCount": 6, "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=web pod=web-0"}},
                 "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}},
                {"name": "sidecar", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "CreateContainerConfigError", "message": "secret \"db\" not found"}}}
            ]),
        );
        let h = check(
            &p,
            HealthCode::Degraded,
            "container web: CrashLoopBackOff: back-off 5m0s",
        );
        assert!(
            h.message
                .contains("container sidecar: CreateContainerConfigError: secret \"db\" not found"),
            "{}",
            h.message
        );
    }

    #[test]
    fn pod_bad_init_container_and_invalid_image() {
        let mut p = pod(
            "Pending",
            pod_conditions(false),
            json!([
                {"name": "web", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}
            ]),
        );
        p["status"]["initContainerStatuses"] = json!([
            {"name": "migrate", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ErrImagePull", "message": "rpc error: code = NotFound"}}}
        ]);
        check(
            &p,
            HealthCode::Degraded,
            "init container migrate: ErrImagePull: rpc error",
        );
        let p = pod(
            "Pending",
            pod_conditions(false),
            json!([
                {"name": "web", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "InvalidImageName", "message": "Failed to apply default image tag \"nginx::1\""}}}
            ]),
        );
        check(&p, HealthCode::Degraded, "InvalidImageName");
    }

    #[test]
    fn pod_succeeded_and_failed() {
        let mut p = pod(
            "Succeeded",
            json!([]),
            json!([
                {"name": "web", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
            ]),
        );
        p["spec"]["restartPolicy"] = json!("Never");
        check(&p, HealthCode::Healthy, "completed");

        let mut p = pod("Failed", json!([]), json!([]));
        p["status"]["reason"] = json!("Evicted");
        p["status"]["message"] = json!(
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi."
        );
        check(
            &p,
            HealthCode::Degraded,
            "Evicted: The node was low on resource: memory.",
        );

        let p = pod(
            "Failed",
            json!([]),
            json!([
                {"name": "web", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}
            ]),
        );
        check(
            &p,
            HealthCode::Degraded,
            "container web: OOMKilled (exit code 137)",
        );
    }

    #[test]
    fn pod_running_not_ready() {
        let p = pod(
            "Running",
            pod_conditions(false),
            json!([
                {"name": "web", "ready": false, "restartCount": 3, "state": {"running": {}},
                 "lastState": {"terminated": {"exitCode": 2, "reason": "Error"}}}
            ]),
        );
        check(
            &p,
            HealthCode::Degraded,
            "container web restarted 3 times, last: Error (exit code 2)",
        );
        let p = pod(
            "Running",
            pod_conditions(false),
            json!([
                {"name": "web", "ready": false, "restartCount": 0, "state": {"running": {}}}
            ]),
        );
        check(
            &p,
            HealthCode::Progressing,
            "waiting for containers to be ready: web",
        );
    }

    #[test]
    fn pod_running_to_completion_is_progressing() {
        let mut p = pod(
            "Running",
            pod_conditions(true),
            json!([
                {"name": "web", "ready": true, "restartCount": 0, "state": {"running": {}}}
            ]),
        );
        p["spec"]["restartPolicy"] = json!("Never");
        check(&p, HealthCode::Progressing, "running");
    }

    #[test]
    fn pod_unschedulable_unknown_and_without_status() {
        let p = pod(
            "Pending",
            json!([
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient cpu."}
            ]),
            json!([]),
        );
        check(
            &p,
            HealthCode::Progressing,
            "Unschedulable: 0/3 nodes are available",
        );
        let p = pod("Unknown", json!([]), json!([]));
        check(&p, HealthCode::Unknown, "Unknown");
        let mut p = pod("Pending", json!([]), json!([]));
        p.as_object_mut().unwrap().remove("status");
        check(&p, HealthCode::Progressing, "pending");
    }

    // ---- Job / CronJob ----------------------------------------------------

    fn job(spec: Value, status: Value) -> Value {
        let mut spec_full = json!({"backoffLimit": 2, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "job", "image": "busybox"}]}}});
        for (k, v) in spec.as_object().unwrap() {
            spec_full[k] = v.clone();
        }
        obj("batch/v1", "Job", 1, spec_full, status)
    }

    #[test]
    fn job_states_as_the_sandbox_writes_them() {
        check(
            &job(
                json!({}),
                json!({"active": 1, "ready": 0, "startTime": "2025-01-01T00:00:00Z"}),
            ),
            HealthCode::Progressing,
            "Job is running: 1 active, 0 succeeded",
        );
        let failed = job(
            json!({}),
            json!({"failed": 3, "ready": 0, "startTime": "2025-01-01T00:00:00Z", "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastProbeTime": null},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastProbeTime": null}
            ]}),
        );
        let h = check(&failed, HealthCode::Degraded, "");
        assert_eq!(
            h.message,
            "BackoffLimitExceeded: Job has reached the specified backoff limit"
        );
        let complete = job(
            json!({}),
            json!({"succeeded": 1, "ready": 0, "startTime": "2025-01-01T00:00:00Z", "completionTime": "2025-01-01T00:00:05Z", "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"}
            ]}),
        );
        check(&complete, HealthCode::Healthy, "Job completed: 1 succeeded");
    }

    #[test]
    fn job_failure_target_suspend_and_no_status() {
        let j = job(
            json!({}),
            json!({"active": 1, "failed": 1, "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}
            ]}),
        );
        check(
            &j,
            HealthCode::Degraded,
            "DeadlineExceeded: Job was active longer",
        );
        check(
            &job(json!({"suspend": true}), Value::Null),
            HealthCode::Suspended,
            "suspended",
        );
        check(
            &job(json!({}), Value::Null),
            HealthCode::Progressing,
            "0 active",
        );
    }

    #[test]
    fn cronjob() {
        let spec = json!({"schedule": "*/5 * * * *", "jobTemplate": {"spec": {}}});
        let mut suspended_spec = spec.clone();
        suspended_spec["suspend"] = json!(true);
        check(
            &obj("batch/v1", "CronJob", 1, suspended_spec, json!({})),
            HealthCode::Suspended,
            "suspended",
        );
        check(
            &obj(
                "batch/v1",
                "CronJob",
                1,
                spec.clone(),
                json!({
                    "lastScheduleTime": "2025-01-01T00:05:00Z", "lastSuccessfulTime": "2025-01-01T00:05:09Z",
                    "active": [{"kind": "Job", "name": "web-28937", "namespace": "demo"}]
                }),
            ),
            HealthCode::Healthy,
            "last scheduled at 2025-01-01T00:05:00Z, last succeeded at 2025-01-01T00:05:09Z, 1 active",
        );
        check(
            &obj("batch/v1", "CronJob", 1, spec, Value::Null),
            HealthCode::Healthy,
            "not scheduled yet",
        );
    }

    // ---- Service / Ingress ------------------------------------------------

    #[test]
    fn services() {
        let cluster_ip = obj(
            "v1",
            "Service",
            0,
            json!({"type": "ClusterIP", "clusterIP": "10.96.0.12", "ports": [{"port": 80}]}),
            json!({"loadBalancer": {}}),
        );
        check(&cluster_ip, HealthCode::Healthy, "");
        let pending = obj(
            "v1",
            "Service",
            0,
            json!({"type": "LoadBalancer", "clusterIP": "10.96.0.13", "ports": [{"port": 80}]}),
            json!({"loadBalancer": {}}),
        );
        check(
            &pending,
            HealthCode::Progressing,
            "waiting for a load balancer address",
        );
        let assigned = obj(
            "v1",
            "Service",
            0,
            json!({"type": "LoadBalancer", "clusterIP": "10.96.0.13", "ports": [{"port": 80}]}),
            json!({"loadBalancer": {"ingress": [{"ip": "172.18.255.7", "ipMode": "VIP"}]}}),
        );
        check(
            &assigned,
            HealthCode::Healthy,
            "load balancer at 172.18.255.7",
        );
    }

    #[test]
    fn ingresses() {
        let spec = json!({"ingressClassName": "nginx", "rules": [{"host": "web.example.com"}]});
        check(
            &obj(
                "networking.k8s.io/v1",
                "Ingress",
                1,
                spec.clone(),
                json!({"loadBalancer": {}}),
            ),
            HealthCode::Progressing,
            "publish an address",
        );
        check(
            &obj(
                "networking.k8s.io/v1",
                "Ingress",
                1,
                spec,
                json!({"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}),
            ),
            HealthCode::Healthy,
            "lb.example.com",
        );
    }

    // ---- PVC / HPA / CRD / Namespace / APIService -------------------------

    #[test]
    fn persistent_volume_claims() {
        let spec = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}});
        check(
            &obj(
                "v1",
                "PersistentVolumeClaim",
                0,
                spec.clone(),
                json!({"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}),
            ),
            HealthCode::Healthy,
            "Bound",
        );
        check(
            &obj(
                "v1",
                "PersistentVolumeClaim",
                0,
                spec.clone(),
                json!({"phase": "Pending"}),
            ),
            HealthCode::Progressing,
            "bound",
        );
        check(
            &obj("v1", "PersistentVolumeClaim", 0, spec.clone(), Value::Null),
            HealthCode::Progressing,
            "bound",
        );
        check(
            &obj(
                "v1",
                "PersistentVolumeClaim",
                0,
                spec,
                json!({"phase": "Lost"}),
            ),
            HealthCode::Degraded,
            "Lost",
        );
    }

    #[test]
    fn horizontal_pod_autoscalers() {
        let spec = json!({"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 5});
        let ok = obj(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            1,
            spec.clone(),
            json!({
            "currentReplicas": 2, "desiredReplicas": 2, "conditions": [
                {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale", "message": "recommended size matches current size"},
                {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound", "message": "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)"},
                {"type": "ScalingLimited", "status": "True", "reason": "TooFewReplicas", "message": "the desired replica count is less than the minimum replica count"}
            ]}),
        );
        check(&ok, HealthCode::Healthy, "2 current, 2 desired replicas");
        let bad = obj(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            1,
            spec.clone(),
            json!({
            "currentReplicas": 2, "desiredReplicas": 0, "conditions": [
                {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale", "message": "the HPA controller was able to get the target's current scale"},
                {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric", "message": "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu"}
            ]}),
        );
        check(
            &bad,
            HealthCode::Degraded,
            "FailedGetResourceMetric: the HPA was unable to compute the replica count",
        );
        let disabled = obj(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            1,
            spec.clone(),
            json!({
            "currentReplicas": 0, "desiredReplicas": 0, "conditions": [
                {"type": "ScalingActive", "status": "False", "reason": "ScalingDisabled", "message": "scaling is disabled since the replica count of the target is zero"}
            ]}),
        );
        check(&disabled, HealthCode::Healthy, "");
        // autoscaling/v1 keeps conditions in an annotation.
        let mut v1 = obj(
            "autoscaling/v1",
            "HorizontalPodAutoscaler",
            1,
            spec,
            json!({"currentReplicas": 1, "desiredReplicas": 1}),
        );
        v1["metadata"]["annotations"] = json!({"autoscaling.alpha.kubernetes.io/conditions":
            "[{\"type\":\"AbleToScale\",\"status\":\"False\",\"lastTransitionTime\":\"2025-01-01T00:00:00Z\",\"reason\":\"FailedGetScale\",\"message\":\"the HPA controller was unable to get the target's current scale: deployments/scale.apps \\\"web\\\" not found\"}]"});
        check(
            &v1,
            HealthCode::Degraded,
            "FailedGetScale: the HPA controller was unable to get the target's current scale",
        );
    }

    fn crd_obj(conditions: Value) -> Value {
        let mut c = obj(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            1,
            json!({"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}, "scope": "Namespaced"}),
            if conditions.is_null() {
                Value::Null
            } else {
                json!({"conditions": conditions})
            },
        );
        c["metadata"] = json!({"name": "widgets.example.com", "generation": 1});
        c
    }

    #[test]
    fn custom_resource_definitions() {
        check(
            &crd_obj(json!([
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
            ])),
            HealthCode::Healthy,
            "established",
        );
        check(
            &crd_obj(json!([
                {"type": "NamesAccepted", "status": "False", "reason": "PluralConflict", "message": "\"widgets\" is already in use"},
                {"type": "Established", "status": "False", "reason": "NotAccepted", "message": "not all names are accepted"}
            ])),
            HealthCode::Degraded,
            "names not accepted: PluralConflict: \"widgets\" is already in use",
        );
        check(
            &crd_obj(json!([
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
                {"type": "NonStructuralSchema", "status": "True", "reason": "Violations", "message": "spec.versions[0].schema.openAPIV3Schema.type: Required value"},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
            ])),
            HealthCode::Degraded,
            "not structural",
        );
        check(
            &crd_obj(Value::Null),
            HealthCode::Progressing,
            "waiting to be established",
        );
        check(
            &crd_obj(json!([
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
                {"type": "Established", "status": "False", "reason": "Installing", "message": "the initial names have been accepted"}
            ])),
            HealthCode::Progressing,
            "Installing",
        );
    }

    #[test]
    fn namespaces() {
        let ns = |status: Value| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}, "spec": {"finalizers": ["kubernetes"]}, "status": status});
        check(&ns(json!({"phase": "Active"})), HealthCode::Healthy, "");
        check(
            &ns(json!({"phase": "Terminating"})),
            HealthCode::Progressing,
            "being deleted",
        );
        let mut deleting = ns(json!({"phase": "Terminating"}));
        deleting["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        check(&deleting, HealthCode::Progressing, "being deleted");
    }

    #[test]
    fn api_services() {
        let svc = |cond: Value| json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "v1beta1.metrics.k8s.io"}, "spec": {}, "status": {"conditions": [cond]}});
        check(
            &svc(
                json!({"type": "Available", "status": "True", "reason": "Passed", "message": "all checks passed"}),
            ),
            HealthCode::Healthy,
            "",
        );
        check(
            &svc(
                json!({"type": "Available", "status": "False", "reason": "MissingEndpoints", "message": "endpoints for service/metrics-server in \"kube-system\" have no addresses"}),
            ),
            HealthCode::Progressing,
            "MissingEndpoints",
        );
    }

    // ---- any kind ---------------------------------------------------------

    #[test]
    fn anything_being_deleted_is_progressing() {
        let mut d = obj(
            "apps/v1",
            "Deployment",
            1,
            deploy_spec(1, "nginx"),
            json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}),
        );
        d["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        d["metadata"]["finalizers"] = json!(["foregroundDeletion"]);
        let h = check(&d, HealthCode::Progressing, "");
        assert_eq!(
            h.message,
            "being deleted, waiting for finalizers: foregroundDeletion"
        );
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "demo", "deletionTimestamp": "2025-01-01T00:00:00Z"}, "data": {}});
        check(&cm, HealthCode::Progressing, "being deleted");
        cm["metadata"]["deletionTimestamp"] = Value::Null;
        check(&cm, HealthCode::Healthy, "");
    }

    #[test]
    fn missing_and_malformed() {
        assert_eq!(assess(None).status, HealthCode::Missing);
        assert_eq!(assess(Some(&json!("nope"))).status, HealthCode::Unknown);
    }

    #[test]
    fn long_multiline_messages_are_shortened() {
        let long = format!("line one\n   line two {}", "x".repeat(1000));
        let j = job(
            json!({}),
            json!({"conditions": [{"type": "Failed", "status": "True", "reason": "PodFailurePolicy", "message": long}]}),
        );
        let h = check(
            &j,
            HealthCode::Degraded,
            "PodFailurePolicy: line one line two xxx",
        );
        assert_eq!(h.message.chars().count(), MAX_MESSAGE);
        assert!(h.message.ends_with('…'));
    }

    // ---- generic kstatus --------------------------------------------------

    fn custom(generation: i64, status: Value) -> Value {
        obj(
            "kustomize.toolkit.fluxcd.io/v1",
            "Kustomization",
            generation,
            json!({"interval": "10m", "path": "./apps", "prune": true}),
            status,
        )
    }

    fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Value {
        json!({"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": "2025-01-01T00:00:00Z", "observedGeneration": 2})
    }

    #[test]
    fn objects_without_health_are_healthy() {
        for o in [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "demo"}, "data": {"a": "b"}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "demo"}, "type": "Opaque"}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}, "rules": []}),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa", "namespace": "demo"}}),
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "generation": 1}, "spec": {}, "status": {"size": 3}}),
        ] {
            assert_eq!(
                assess(Some(&o)),
                HealthStatus::new(HealthCode::Healthy, ""),
                "{o}"
            );
        }
    }

    #[test]
    fn kstatus_ready_true_is_healthy() {
        let k = custom(
            2,
            json!({"observedGeneration": 2, "conditions": [
                cond("Ready", "True", "ReconciliationSucceeded", "Applied revision: main@sha1:4f2c")
            ]}),
        );
        check(&k, HealthCode::Healthy, "Applied revision: main@sha1:4f2c");
    }

    #[test]
    fn kstatus_stalled_is_degraded() {
        let k = custom(
            2,
            json!({"observedGeneration": 2, "conditions": [
                cond("Ready", "False", "InvalidPath", "path './apps' not found"),
                cond("Stalled", "True", "InvalidPath", "path './apps' not found")
            ]}),
        );
        check(
            &k,
            HealthCode::Degraded,
            "InvalidPath: path './apps' not found",
        );
    }

    #[test]
    fn kstatus_reconciling_is_progressing() {
        let k = custom(
            2,
            json!({"observedGeneration": 2, "conditions": [
                cond("Reconciling", "True", "Progressing", "Fetching manifests for revision main@sha1:4f2c"),
                cond("Ready", "Unknown", "Progressing", "Reconciliation in progress")
            ]}),
        );
        check(
            &k,
            HealthCode::Progressing,
            "Progressing: Fetching manifests",
        );
    }

    #[test]
    fn kstatus_ready_false_with_a_failure_reason_is_degraded_even_while_retrying() {
        let k = custom(
            2,
            json!({"observedGeneration": 2, "conditions": [
                cond("Reconciling", "True", "ProgressingWithRetry", "Detecting drift for revision main@sha1:4f2c with a timeout of 5m"),
                cond("Ready", "False", "BuildFailed", "kustomize build failed: accumulating resources: missing file")
            ]}),
        );
        check(
            &k,
            HealthCode::Degraded,
            "BuildFailed: kustomize build failed",
        );
        let k = custom(
            2,
            json!({"conditions": [cond("Ready", "False", "ReconcileError", "cannot create bucket")]}),
        );
        check(&k, HealthCode::Degraded, "ReconcileError");
    }

    #[test]
    fn kstatus_ready_false_or_unknown_otherwise_is_progressing() {
        let k = custom(
            2,
            json!({"observedGeneration": 2, "conditions": [
                cond("Ready", "False", "DependencyNotReady", "dependency 'flux-system/infra' is not ready")
            ]}),
        );
        check(&k, HealthCode::Progressing, "DependencyNotReady");
        let cert = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "web", "namespace": "demo", "generation": 1},
        "spec": {"secretName": "web-tls"}, "status": {"conditions": [
            {"type": "Ready", "status": "Unknown", "reason": "Issuing", "message": "Issuing certificate as Secret does not exist"}
        ]}});
        check(
            &cert,
            HealthCode::Progressing,
            "Issuing: Issuing certificate",
        );
    }

    #[test]
    fn kstatus_generation_not_observed_is_progressing() {
        let k = custom(
            3,
            json!({"observedGeneration": 2, "conditions": [
                cond("Ready", "True", "ReconciliationSucceeded", "Applied revision: main@sha1:4f2c")
            ]}),
        );
        check(
            &k,
            HealthCode::Progressing,
            "waiting for generation 3 to be observed (observed 2)",
        );
        // A Ready condition that reports an older generation is stale too.
        let k = custom(
            3,
            json!({"conditions": [
                cond("Ready", "True", "ReconciliationSucceeded", "Applied revision: main@sha1:4f2c")
            ]}),
        );
        check(&k, HealthCode::Progressing, "Ready reports 2");
    }

    #[test]
    fn tether_application_uses_kstatus() {
        let app = json!({"apiVersion": "tether.dev/v1alpha1", "kind": "Application", "metadata": {"name": "demo", "namespace": "tether", "generation": 1},
        "spec": {}, "status": {"observedGeneration": 1, "conditions": [
            {"type": "Ready", "status": "True", "reason": "Synced", "message": "synced to 4f2c and healthy"}
        ]}});
        check(&app, HealthCode::Healthy, "synced");
    }

    // ---- app_health -------------------------------------------------------

    #[test]
    fn app_health_of_nothing_or_all_healthy_is_healthy() {
        assert_eq!(app_health([]), HealthStatus::new(HealthCode::Healthy, ""));
        let r = ObjectRef::new("", "ConfigMap", "demo", "c");
        let h = HealthStatus::new(HealthCode::Healthy, "fine");
        assert_eq!(
            app_health([(&r, &h)]),
            HealthStatus::new(HealthCode::Healthy, "")
        );
    }

    #[test]
    fn app_health_is_the_worst_and_names_it() {
        let web = ObjectRef::new("apps", "Deployment", "demo", "web");
        let db = ObjectRef::new("apps", "StatefulSet", "demo", "db");
        let ns = ObjectRef::new("", "Namespace", "", "demo");
        let degraded = HealthStatus::new(
            HealthCode::Degraded,
            "ProgressDeadlineExceeded: ReplicaSet \"web-1\" has timed out progressing.",
        );
        let progressing = HealthStatus::new(
            HealthCode::Progressing,
            "Waiting for rollout to finish: 0 of 3 pods are ready...",
        );
        let ok = HealthStatus::new(HealthCode::Healthy, "");
        let h = app_health([(&ns, &ok), (&db, &progressing), (&web, &degraded)]);
        assert_eq!(h.status, HealthCode::Degraded);
        assert_eq!(
            h.message,
            "Deployment demo/web: ProgressDeadlineExceeded: ReplicaSet \"web-1\" has timed out progressing."
        );
        let h = app_health([(&ns, &ok), (&db, &progressing)]);
        assert_eq!(
            h.message,
            "StatefulSet demo/db: Waiting for rollout to finish: 0 of 3 pods are ready..."
        );
        let missing = HealthStatus::new(HealthCode::Missing, "");
        let h = app_health([(&db, &progressing), (&ns, &missing)]);
        assert_eq!(
            h,
            HealthStatus::new(HealthCode::Missing, "Namespace demo: Missing")
        );
    }

    #[test]
    fn app_health_ties_name_the_same_object_whatever_the_order() {
        let a = ObjectRef::new("apps", "Deployment", "demo", "api");
        let b = ObjectRef::new("apps", "Deployment", "demo", "web");
        let c = ObjectRef::new("batch", "Job", "demo", "migrate");
        let ha = HealthStatus::new(HealthCode::Progressing, "a");
        let hb = HealthStatus::new(HealthCode::Progressing, "b");
        let hc = HealthStatus::new(HealthCode::Progressing, "c");
        let one = app_health([(&b, &hb), (&c, &hc), (&a, &ha)]);
        let two = app_health([(&c, &hc), (&a, &ha), (&b, &hb)]);
        assert_eq!(one, two);
        assert_eq!(one.message, "Deployment demo/api: a (+2 more Progressing)");
    }

    #[test]
    fn app_health_from_assessed_sandbox_objects() {
        let objects = [
            obj(
                "apps/v1",
                "Deployment",
                1,
                deploy_spec(1, "nginx:fail"),
                json!({
                    "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1,
                    "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-5d8f9c7b6a\" has timed out progressing."}]
                }),
            ),
            obj(
                "v1",
                "Service",
                0,
                json!({"type": "LoadBalancer"}),
                json!({"loadBalancer": {}}),
            ),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web", "namespace": "demo"}}),
        ];
        let assessed: Vec<(ObjectRef, HealthStatus)> = objects
            .iter()
            .map(|o| (ObjectRef::of(o).unwrap(), assess(Some(o))))
            .collect();
        let h = app_health(assessed.iter().map(|(r, h)| (r, h)));
        assert_eq!(h.status, HealthCode::Degraded);
        assert!(
            h.message
                .starts_with("Deployment demo/web: ProgressDeadlineExceeded"),
            "{}",
            h.message
        );
    }
}
