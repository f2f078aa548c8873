//! Small pure helpers the simulated controllers share: reading objects,
//! owner references, conditions, and the pod-template hash.

use serde_json::{Map, Value, json};

use crate::api::now;

pub fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

pub fn int_at(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr).and_then(Value::as_i64)
}

pub fn name(v: &Value) -> &str {
    str_at(v, "/metadata/name")
}

pub fn uid(v: &Value) -> &str {
    str_at(v, "/metadata/uid")
}

pub fn deleting(v: &Value) -> bool {
    v.pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

pub fn generation(v: &Value) -> i64 {
    int_at(v, "/metadata/generation").unwrap_or(1)
}

/// The uid of the object's controlling owner, if it has one.
pub fn controller_uid(v: &Value) -> Option<&str> {
    controller_ref(v)
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
}

/// The owner reference marked `controller: true`.
pub fn controller_ref(v: &Value) -> Option<&Value> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller") == Some(&json!(true)))
}

/// The owner reference a controller puts on what it creates.
pub fn owner_ref(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": name(owner),
        "uid": uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// True when a container of the pod spec uses the failure convention (`image:fail`).
pub fn images_fail(pod_spec: Option<&Value>) -> bool {
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

/// A workload condition (Deployment), which carries `lastUpdateTime`.
pub fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    let t = now();
    json!({"type": type_, "status": status, "lastUpdateTime": t, "lastTransitionTime": t, "reason": reason, "message": message})
}

/// A Pod, Job or StatefulSet condition, which carries `lastProbeTime` (Pods and
/// Jobs) or nothing; empty reasons and messages are left out, as the real
/// controllers leave them.
pub fn probe_cond(type_: &str, status: bool, reason: &str, message: &str) -> Value {
    let mut c = json!({"type": type_, "status": if status { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now()});
    if !reason.is_empty() {
        c["reason"] = json!(reason);
    }
    if !message.is_empty() {
        c["message"] = json!(message);
    }
    c
}

/// Keeps the times of conditions that did not change, as the real controllers
/// do: `lastTransitionTime` while the status stays, `lastUpdateTime` (and
/// `lastProbeTime`) while reason and message stay too.
pub fn keep_condition_times(old: Option<&Value>, new: &mut [Value]) {
    let Some(old) = old.and_then(Value::as_array) else {
        return;
    };
    for c in new.iter_mut() {
        let Some(prev) = old.iter().find(|o| o.get("type") == c.get("type")) else {
            continue;
        };
        if prev.get("status") != c.get("status") {
            continue;
        }
        if let Some(t) = prev.get("lastTransitionTime") {
            c["lastTransitionTime"] = t.clone();
        }
        if prev.get("reason") == c.get("reason") && prev.get("message") == c.get("message") {
            for k in ["lastUpdateTime", "lastProbeTime"] {
                if let (Some(t), true) = (prev.get(k), c.get(k).is_some()) {
                    c[k] = t.clone();
                }
            }
        }
    }
}

/// Compares two statuses ignoring the times in them, so a controller writes
/// only when something it decides has changed.
pub fn same_ignoring_times(have: Option<&Value>, want: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| {
                        !matches!(
                            k.as_str(),
                            "lastTransitionTime"
                                | "lastUpdateTime"
                                | "lastHeartbeatTime"
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
    have.is_some_and(|h| strip(h) == strip(want))
}

/// Counts that the real API omits when zero (`omitempty`): present only when positive.
pub fn put_count(m: &mut Map<String, Value>, key: &str, n: i64) {
    if n > 0 {
        m.insert(key.into(), json!(n));
    } else {
        m.remove(key);
    }
}

/// FNV-1a over the object's JSON with sorted keys: stable across key order.
pub fn stable_hash(v: &Value) -> u32 {
    fn feed(h: &mut u32, bytes: &[u8]) {
        for b in bytes {
            *h ^= u32::from(*b);
            *h = h.wrapping_mul(0x0100_0193);
        }
    }
    fn walk(h: &mut u32, v: &Value) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                feed(h, b"{");
                for k in keys {
                    feed(h, k.as_bytes());
                    feed(h, b":");
                    walk(h, &m[k]);
                    feed(h, b",");
                }
                feed(h, b"}");
            }
            Value::Array(a) => {
                feed(h, b"[");
                for x in a {
                    walk(h, x);
                    feed(h, b",");
                }
                feed(h, b"]");
            }
            other => feed(h, other.to_string().as_bytes()),
        }
    }
    let mut h = 0x811c_9dc5;
    walk(&mut h, v);
    h
}

/// The alphabet the real controllers print hashes and random suffixes in (no
/// vowels, no confusable digits), so names never spell words.
const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A number in the safe alphabet, as the real `pod-template-hash` is printed:
/// the decimal digits of the hash mapped onto it.
pub fn safe_encode(n: u32) -> String {
    n.to_string()
        .bytes()
        .map(|d| SAFE[usize::from(d - b'0') % SAFE.len()] as char)
        .collect()
}

/// The `pod-template-hash` of a pod template (its label left out, so the hash
/// of a ReplicaSet's template equals the Deployment's).
pub fn template_hash(template: &Value) -> String {
    safe_encode(stable_hash(&without_hash_label(template)))
}

pub const HASH_LABEL: &str = "pod-template-hash";

/// A pod template without the `pod-template-hash` label.
pub fn without_hash_label(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH_LABEL);
    }
    t
}

/// Resolves an IntOrString such as `maxSurge` against a total: percentages
/// round up (`up`) or down, as the real controller rounds surge and unavailability.
pub fn int_or_percent(v: Option<&Value>, total: i64, default: &str, up: bool) -> i64 {
    let owned;
    let v = match v {
        Some(v) if !v.is_null() => v,
        _ => {
            owned = json!(default);
            &owned
        }
    };
    let n = if let Some(n) = v.as_i64() {
        n
    } else {
        let s = v.as_str().unwrap_or("0");
        match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) => {
                let x = p.saturating_mul(total);
                if up {
                    x.saturating_add(99) / 100
                } else {
                    x / 100
                }
            }
            None => s.parse::<i64>().unwrap_or(0),
        }
    };
    // More than the total means the same as the total, and keeps the
    // controllers' sums (replicas + surge) far from overflowing.
    n.clamp(0, total.max(1))
}

/// Pod readiness, from its Ready condition.
pub fn pod_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type") == Some(&json!("Ready")) && c.get("status") == Some(&json!("True"))
            })
        })
}

pub fn pod_phase(pod: &Value) -> &str {
    str_at(pod, "/status/phase")
}

/// A pod that still counts toward its controller: not finished and not being deleted.
pub fn pod_active(pod: &Value) -> bool {
    !deleting(pod) && !matches!(pod_phase(pod), "Succeeded" | "Failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_ignore_key_order_and_the_hash_label() {
        let a = json!({"metadata": {"labels": {"app": "web", "tier": "x"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        let b = json!({"spec": {"containers": [{"image": "nginx", "name": "c"}]}, "metadata": {"labels": {"tier": "x", "app": "web", "pod-template-hash": "abc"}}});
        assert_eq!(template_hash(&a), template_hash(&b));
        let c = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:2"}]}});
        assert_ne!(template_hash(&a), template_hash(&c));
        assert!(template_hash(&a).bytes().all(|b| SAFE.contains(&b)));
    }

    #[test]
    fn surge_rounds_up_and_unavailability_down() {
        assert_eq!(int_or_percent(Some(&json!("25%")), 3, "25%", true), 1);
        assert_eq!(int_or_percent(Some(&json!("25%")), 3, "25%", false), 0);
        assert_eq!(int_or_percent(None, 10, "25%", false), 2);
        assert_eq!(int_or_percent(Some(&json!(2)), 10, "25%", false), 2);
        assert_eq!(int_or_percent(Some(&json!("3")), 10, "25%", false), 3);
        // Beyond the total, or absurd: bounded, never an overflow.
        assert_eq!(int_or_percent(Some(&json!(i64::MAX)), 10, "25%", true), 10);
        assert_eq!(
            int_or_percent(Some(&json!("9223372036854775807%")), 10, "25%", true),
            10
        );
        assert_eq!(int_or_percent(Some(&json!(-5)), 10, "25%", true), 0);
    }

    #[test]
    fn condition_times_stay_while_nothing_changes() {
        let old = json!([{"type": "Ready", "status": "True", "reason": "A", "lastTransitionTime": "t0", "lastUpdateTime": "u0"}]);
        let mut new = vec![
            json!({"type": "Ready", "status": "True", "reason": "B", "lastTransitionTime": "t1", "lastUpdateTime": "u1"}),
        ];
        keep_condition_times(Some(&old), &mut new);
        assert_eq!(new[0]["lastTransitionTime"], "t0");
        assert_eq!(new[0]["lastUpdateTime"], "u1", "the reason changed");
        let mut flipped =
            vec![json!({"type": "Ready", "status": "False", "lastTransitionTime": "t2"})];
        keep_condition_times(Some(&old), &mut flipped);
        assert_eq!(flipped[0]["lastTransitionTime"], "t2");
    }
}
