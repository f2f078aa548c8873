//! The cluster's Node: one Ready Node is registered at start, as a kubelet
//! registers itself, and Nodes created through the API are given the status
//! their kubelet would report. Pods are scheduled onto Nodes that are Ready
//! and not cordoned.

use serde_json::{Value, json};

use super::pod::NodeInfo;
use super::util::{name, str_at};
use super::write::{create_as, gr, key, put_status};
use crate::api::{Shared, now};

/// The name of the Node the sandbox registers.
pub const NODE_NAME: &str = "sandbox-node";
const NODE_IP: &str = "172.18.0.2";

fn nodes_gr() -> crate::catalog::GroupResource {
    gr("", "nodes")
}

/// The status a kubelet reports for a healthy Node.
pub fn ready_status(node_name: &str, ip: &str) -> Value {
    let t = now();
    let c = |type_: &str, status: &str, reason: &str, message: &str| json!({"type": type_, "status": status, "lastHeartbeatTime": t, "lastTransitionTime": t, "reason": reason, "message": message});
    let capacity = json!({"cpu": "8", "ephemeral-storage": "102400000Ki", "hugepages-2Mi": "0", "memory": "16384000Ki", "pods": "110"});
    let version = crate::api::discovery::version();
    let kubelet = version["gitVersion"].clone();
    json!({
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": [
            c("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            c("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            c("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            c("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": node_name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": "7f3c0e2a9b5d4c1e8a6f2b3c4d5e6f70",
            "systemUUID": "7f3c0e2a-9b5d-4c1e-8a6f-2b3c4d5e6f70",
            "bootID": "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
            "kernelVersion": "6.8.0",
            "osImage": "Debian GNU/Linux 12 (bookworm)",
            "containerRuntimeVersion": "containerd://2.1.0",
            "kubeletVersion": kubelet,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    })
}

/// Registers the sandbox's Node unless (restored state) it exists.
pub fn register(sh: &Shared) {
    let k = key("", NODE_NAME);
    if sh.store.get(&nodes_gr(), &k).is_none() {
        let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE_NAME, "labels": {
            "kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
            "node-role.kubernetes.io/control-plane": "",
        }}, "spec": {"podCIDR": "10.244.0.0/16", "podCIDRs": ["10.244.0.0/16"], "providerID": format!("sandbox://{NODE_NAME}")}});
        create_as(sh, "", "v1", "nodes", node, "kubelet");
    }
    reconcile(sh, &k);
}

/// Gives a Node without a kubelet's status the status of a healthy one.
pub fn reconcile(sh: &Shared, k: &crate::store::ObjKey) {
    let Some(node) = sh.store.get(&nodes_gr(), k) else {
        return;
    };
    if node
        .pointer("/status/conditions")
        .is_some_and(|c| c.is_array())
    {
        return;
    }
    let ip = if name(&node) == NODE_NAME {
        NODE_IP.to_string()
    } else {
        let n = super::util::stable_hash(&json!(name(&node))) % 250 + 3;
        format!("172.18.0.{n}")
    };
    put_status(
        sh,
        &nodes_gr(),
        k,
        &ready_status(name(&node), &ip),
        "kubelet",
    );
}

fn internal_ip(node: &Value) -> String {
    node.pointer("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .find(|x| x.get("type") == Some(&json!("InternalIP")))
        })
        .and_then(|x| x.get("address"))
        .and_then(Value::as_str)
        .unwrap_or(NODE_IP)
        .to_string()
}

/// A Node whose kubelet reports Ready.
pub fn ready(node: &Value) -> bool {
    let ready = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type") == Some(&json!("Ready")) && c.get("status") == Some(&json!("True"))
            })
        });
    ready && !super::util::deleting(node)
}

/// A Node pods may be placed on: Ready and not cordoned.
pub fn schedulable(node: &Value) -> bool {
    ready(node) && node.pointer("/spec/unschedulable") != Some(&json!(true))
}

/// Every Node, and which of them are schedulable.
pub fn nodes(sh: &Shared) -> (Vec<NodeInfo>, Vec<NodeInfo>) {
    nodes_where(sh, schedulable)
}

/// The Nodes a DaemonSet runs on: every Ready one, cordoned or not (its Pods
/// tolerate `node.kubernetes.io/unschedulable`, which the real controller adds).
pub fn daemon_nodes(sh: &Shared) -> Vec<NodeInfo> {
    nodes_where(sh, ready).1
}

fn nodes_where(sh: &Shared, keep: fn(&Value) -> bool) -> (Vec<NodeInfo>, Vec<NodeInfo>) {
    let (items, _) = sh.store.list(&nodes_gr(), None);
    let info = |n: &Value| NodeInfo {
        name: str_at(n, "/metadata/name").to_string(),
        ip: internal_ip(n),
    };
    let all = items.iter().map(|n| info(n)).collect();
    let ok = items.iter().filter(|n| keep(n)).map(|n| info(n)).collect();
    (all, ok)
}
