//! The kubelet and scheduler of the simulated cluster, as a pure function: a
//! Pod is bound to a Node, reported Pending while its containers are created,
//! then Running and Ready after the rollout delay. Pods of Jobs then finish
//! (Succeeded). An image tagged `fail` never pulls (`ImagePullBackOff`), or,
//! in a Job, exits with an error so the Job's backoff limit is reached.

use serde_json::{Value, json};

use super::util::{images_fail, probe_cond, stable_hash, str_at};
use crate::api::now;

/// A Node pods can be scheduled onto.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    pub name: String,
    pub ip: String,
}

/// What to write to a Pod next.
#[derive(Debug, PartialEq)]
pub enum PodStep {
    Idle,
    /// Set `spec.nodeName` (when Some) and replace the status; `again` asks to
    /// be looked at once more after the rollout delay.
    Write {
        node_name: Option<String>,
        status: Value,
        again: bool,
    },
}

/// How far along the pod is, read from its status.
#[derive(Debug, PartialEq)]
enum Stage {
    New,
    Creating,
    BackOff,
    Running,
    Finished,
}

fn stage(pod: &Value) -> Stage {
    match str_at(pod, "/status/phase") {
        "Succeeded" | "Failed" => return Stage::Finished,
        "Running" => return Stage::Running,
        _ => {}
    }
    if pod.pointer("/status/startTime").is_none() {
        return Stage::New;
    }
    let waiting = pod
        .pointer("/status/containerStatuses/0/state/waiting/reason")
        .and_then(Value::as_str);
    if waiting == Some("ImagePullBackOff") {
        Stage::BackOff
    } else {
        Stage::Creating
    }
}

/// The QoS class the real server computes from the containers' resources.
pub fn qos_class(spec: Option<&Value>) -> &'static str {
    let containers: Vec<&Value> = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .map(|cs| cs.iter().collect())
        .unwrap_or_default();
    let empty = |c: &Value, k: &str| {
        c.pointer(&format!("/resources/{k}"))
            .and_then(Value::as_object)
            .is_none_or(|m| m.is_empty())
    };
    if containers
        .iter()
        .all(|c| empty(c, "requests") && empty(c, "limits"))
    {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let limits = c.pointer("/resources/limits").and_then(Value::as_object);
        let requests = c.pointer("/resources/requests").and_then(Value::as_object);
        limits.is_some_and(|l| {
            l.contains_key("cpu")
                && l.contains_key("memory")
                && requests.is_none_or(|r| r.iter().all(|(k, v)| l.get(k) == Some(v)))
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// A pod IP for the pod, stable for its uid, in the node's pod CIDR 10.244.0.0/16.
pub fn pod_ip(pod: &Value) -> String {
    let n = stable_hash(&json!(str_at(pod, "/metadata/uid"))) % 65_000 + 2;
    format!("10.244.{}.{}", n >> 8, n & 0xff)
}

fn container_id(pod: &Value, container: &str) -> String {
    let h = stable_hash(&json!([str_at(pod, "/metadata/uid"), container]));
    format!(
        "containerd://{:08x}{:08x}",
        h,
        h.rotate_left(13) ^ 0x5bd1_e995
    )
}

fn image_id(image: &str) -> String {
    let h = stable_hash(&json!(image));
    let repo = image.rsplit_once(':').map_or(image, |(r, _)| r);
    let repo = if repo.contains('/') {
        repo.to_string()
    } else {
        format!("docker.io/library/{repo}")
    };
    format!(
        "{repo}@sha256:{h:08x}{:08x}{:08x}{:08x}",
        h.rotate_left(7),
        h.rotate_left(17),
        h ^ 0xdead_beef
    )
}

/// One container status in a given state.
fn container_status(pod: &Value, c: &Value, state: &Value, ready: bool, started: bool) -> Value {
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    let name = c.get("name").and_then(Value::as_str).unwrap_or("");
    let mut s = json!({"name": name, "image": image, "imageID": "", "ready": ready, "started": started, "restartCount": 0, "state": state});
    if state.get("waiting").is_none() {
        s["imageID"] = json!(image_id(image));
        s["containerID"] = json!(container_id(pod, name));
    }
    s
}

fn containers(pod: &Value) -> Vec<Value> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The status fields every stage after binding shares.
fn base_status(pod: &Value, node: &NodeInfo, phase: &str, start: &Value) -> Value {
    json!({
        "phase": phase,
        "hostIP": node.ip,
        "hostIPs": [{"ip": node.ip}],
        "startTime": start,
        "qosClass": qos_class(pod.get("spec")),
    })
}

fn conditions(ready: bool, not_ready_reason: &str) -> Value {
    json!([
        probe_cond(
            "PodReadyToStartContainers",
            not_ready_reason != "PodCompleted" || ready,
            "",
            ""
        ),
        probe_cond("Initialized", true, "", ""),
        probe_cond(
            "Ready",
            ready,
            if ready { "" } else { not_ready_reason },
            ""
        ),
        probe_cond(
            "ContainersReady",
            ready,
            if ready { "" } else { not_ready_reason },
            ""
        ),
        probe_cond("PodScheduled", true, "", ""),
    ])
}

/// The next step of a pod's life. `due` says the rollout delay has passed since
/// the last step; `completes` is true for pods whose containers exit (a Job's).
pub fn next(pod: &Value, nodes: &[NodeInfo], due: bool, completes: bool) -> PodStep {
    if super::util::deleting(pod) {
        return PodStep::Idle;
    }
    let bound = str_at(pod, "/spec/nodeName");
    let node = if bound.is_empty() {
        nodes.first().cloned()
    } else {
        Some(
            nodes
                .iter()
                .find(|n| n.name == bound)
                .cloned()
                .unwrap_or(NodeInfo {
                    name: bound.to_string(),
                    ip: "172.18.0.2".into(),
                }),
        )
    };
    let fails = images_fail(pod.get("spec"));
    let start = pod
        .pointer("/status/startTime")
        .cloned()
        .unwrap_or_else(|| json!(now()));
    let now_stage = stage(pod);
    if now_stage == Stage::BackOff && fails {
        // Still the image that cannot be pulled: nothing changes.
        return PodStep::Idle;
    }
    match now_stage {
        Stage::New => {
            let Some(node) = node else {
                // No node to run on: the scheduler says so and the pod waits.
                let status = json!({"phase": "Pending", "qosClass": qos_class(pod.get("spec")), "conditions": [
                    probe_cond("PodScheduled", false, "Unschedulable", "0/0 nodes are available: no nodes available to schedule pods."),
                ]});
                return PodStep::Write {
                    node_name: None,
                    status,
                    again: false,
                };
            };
            let mut status = base_status(pod, &node, "Pending", &start);
            let mut conds = conditions(false, "ContainersNotReady");
            if let Some(c) = conds.get_mut(0) {
                c["status"] = json!("False");
            }
            status["conditions"] = conds;
            let cs: Vec<Value> = containers(pod)
                .iter()
                .map(|c| {
                    container_status(
                        pod,
                        c,
                        &json!({"waiting": {"reason": "ContainerCreating"}}),
                        false,
                        false,
                    )
                })
                .collect();
            status["containerStatuses"] = json!(cs);
            let name = c_names(pod).join(" ");
            status["conditions"][2]["message"] =
                json!(format!("containers with unready status: [{name}]"));
            status["conditions"][3]["message"] =
                json!(format!("containers with unready status: [{name}]"));
            PodStep::Write {
                node_name: bound.is_empty().then(|| node.name.clone()),
                status,
                again: true,
            }
        }
        // A pod backing off is looked at again: its image may have been fixed.
        Stage::Creating | Stage::BackOff if due => {
            let node = node.unwrap_or(NodeInfo {
                name: bound.into(),
                ip: "172.18.0.2".into(),
            });
            let names = c_names(pod).join(" ");
            if fails && completes {
                // A Job's container that cannot run exits with an error.
                let t = now();
                let mut status = base_status(pod, &node, "Failed", &start);
                status["conditions"] = conditions(false, "PodFailed");
                status["podIP"] = json!(pod_ip(pod));
                status["podIPs"] = json!([{"ip": pod_ip(pod)}]);
                let cs: Vec<Value> = containers(pod)
                    .iter()
                    .map(|c| container_status(pod, c, &json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": start, "finishedAt": t}}), false, false))
                    .collect();
                status["containerStatuses"] = json!(cs);
                return PodStep::Write {
                    node_name: None,
                    status,
                    again: false,
                };
            }
            if fails {
                let mut status = base_status(pod, &node, "Pending", &start);
                status["conditions"] = conditions(false, "ContainersNotReady");
                status["conditions"][2]["message"] =
                    json!(format!("containers with unready status: [{names}]"));
                status["conditions"][3]["message"] =
                    json!(format!("containers with unready status: [{names}]"));
                let cs: Vec<Value> = containers(pod)
                    .iter()
                    .map(|c| {
                        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
                        let state = json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}});
                        container_status(pod, c, &state, false, false)
                    })
                    .collect();
                status["containerStatuses"] = json!(cs);
                return PodStep::Write {
                    node_name: None,
                    status,
                    again: false,
                };
            }
            let mut status = base_status(pod, &node, "Running", &start);
            status["conditions"] = conditions(true, "");
            status["podIP"] = json!(pod_ip(pod));
            status["podIPs"] = json!([{"ip": pod_ip(pod)}]);
            let t = now();
            let cs: Vec<Value> = containers(pod)
                .iter()
                .map(|c| {
                    container_status(pod, c, &json!({"running": {"startedAt": t}}), true, true)
                })
                .collect();
            status["containerStatuses"] = json!(cs);
            PodStep::Write {
                node_name: None,
                status,
                again: completes,
            }
        }
        Stage::Running if due && completes => {
            let node = node.unwrap_or(NodeInfo {
                name: bound.into(),
                ip: "172.18.0.2".into(),
            });
            let mut status = base_status(pod, &node, "Succeeded", &start);
            status["conditions"] = conditions(false, "PodCompleted");
            status["podIP"] = json!(pod_ip(pod));
            status["podIPs"] = json!([{"ip": pod_ip(pod)}]);
            let t = now();
            let cs: Vec<Value> = containers(pod)
                .iter()
                .map(|c| {
                    let started = pod
                        .pointer("/status/containerStatuses")
                        .and_then(Value::as_array)
                        .and_then(|a| a.iter().find(|s| s.get("name") == c.get("name")))
                        .and_then(|s| s.pointer("/state/running/startedAt"))
                        .cloned()
                        .unwrap_or_else(|| start.clone());
                    container_status(pod, c, &json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": t}}), false, false)
                })
                .collect();
            status["containerStatuses"] = json!(cs);
            PodStep::Write {
                node_name: None,
                status,
                again: false,
            }
        }
        _ => PodStep::Idle,
    }
}

fn c_names(pod: &Value) -> Vec<String> {
    containers(pod)
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Vec<NodeInfo> {
        vec![NodeInfo {
            name: "n1".into(),
            ip: "172.18.0.2".into(),
        }]
    }

    fn pod(image: &str) -> Value {
        json!({"metadata": {"name": "p", "uid": "u1"}, "spec": {"containers": [{"name": "c", "image": image}]}})
    }

    fn apply(pod: &mut Value, step: PodStep) -> bool {
        match step {
            PodStep::Idle => false,
            PodStep::Write {
                node_name,
                status,
                again,
            } => {
                if let Some(n) = node_name {
                    pod["spec"]["nodeName"] = json!(n);
                }
                pod["status"] = status;
                again
            }
        }
    }

    fn step(pod: &mut Value, due: bool, completes: bool) -> bool {
        let s = next(pod, &node(), due, completes);
        apply(pod, s)
    }

    #[test]
    fn a_pod_is_bound_then_runs() {
        let mut p = pod("nginx:1.25");
        assert!(step(&mut p, false, false));
        assert_eq!(p["spec"]["nodeName"], "n1");
        assert_eq!(p["status"]["phase"], "Pending");
        assert_eq!(p["status"]["hostIP"], "172.18.0.2");
        assert_eq!(
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating"
        );
        assert_eq!(
            next(&p, &node(), false, false),
            PodStep::Idle,
            "not before the delay"
        );
        assert!(!step(&mut p, true, false));
        assert_eq!(p["status"]["phase"], "Running");
        assert!(super::super::util::pod_ready(&p));
        assert!(
            p["status"]["podIP"]
                .as_str()
                .is_some_and(|ip| ip.starts_with("10.244."))
        );
        assert_eq!(
            next(&p, &node(), true, false),
            PodStep::Idle,
            "a server keeps running"
        );
    }

    #[test]
    fn failing_images_back_off_or_fail_a_job() {
        let mut p = pod("nginx:fail");
        step(&mut p, true, false);
        step(&mut p, true, false);
        assert_eq!(p["status"]["phase"], "Pending");
        assert_eq!(
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ImagePullBackOff"
        );
        assert_eq!(next(&p, &node(), true, false), PodStep::Idle);

        // A fixed image runs.
        p["spec"]["containers"][0]["image"] = json!("nginx:1.25");
        step(&mut p, true, false);
        assert_eq!(p["status"]["phase"], "Running");

        let mut j = pod("busybox:fail");
        step(&mut j, true, true);
        step(&mut j, true, true);
        assert_eq!(j["status"]["phase"], "Failed");
    }

    #[test]
    fn job_pods_succeed_after_running() {
        let mut p = pod("busybox");
        step(&mut p, true, true);
        assert!(step(&mut p, true, true));
        assert_eq!(p["status"]["phase"], "Running");
        step(&mut p, true, true);
        assert_eq!(p["status"]["phase"], "Succeeded");
        assert_eq!(
            p["status"]["containerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
    }

    #[test]
    fn without_nodes_a_pod_is_unschedulable() {
        let p = pod("nginx");
        let PodStep::Write {
            status, node_name, ..
        } = next(&p, &[], true, false)
        else {
            panic!("a write")
        };
        assert_eq!(node_name, None);
        assert_eq!(status["conditions"][0]["reason"], "Unschedulable");
    }

    #[test]
    fn qos_classes() {
        assert_eq!(qos_class(Some(&json!({"containers": [{}]}))), "BestEffort");
        assert_eq!(
            qos_class(Some(
                &json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]})
            )),
            "Burstable"
        );
        assert_eq!(
            qos_class(Some(
                &json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]})
            )),
            "Guaranteed"
        );
    }
}
