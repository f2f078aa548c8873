//! What a real cluster's own controllers keep in place, for authentication
//! and authorization:
//! - the bootstrap RBAC policy (default ClusterRoles and ClusterRoleBindings),
//!   created at start when missing;
//! - aggregated ClusterRoles (`admin`, `edit`, `view`, and any with an
//!   `aggregationRule`) filled from the roles their selectors match, as the
//!   clusterrole-aggregation controller does;
//! - in every namespace, the `default` ServiceAccount and the
//!   `kube-root-ca.crt` ConfigMap holding the sandbox's CA, recreated when
//!   deleted, as the serviceaccount and root-ca-cert-publisher controllers do.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::api::Shared;
use crate::api::request::{Params, ResourcePath};
use crate::api::resources::{self, Writer};
use crate::auth::policy;
use crate::catalog::GroupResource;
use crate::store::{EventType, ObjKey};

pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";
const DEFAULT_SERVICE_ACCOUNT: &str = "default";
const RBAC: &str = "rbac.authorization.k8s.io";
const ROOT_CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

fn path(group: &str, plural: &str, namespace: Option<&str>, name: Option<&str>) -> ResourcePath {
    ResourcePath {
        group: group.into(),
        version: "v1".into(),
        namespace: namespace.map(str::to_string),
        plural: plural.into(),
        name: name.map(str::to_string),
        subresource: None,
    }
}

/// Creates an object as a controller would; an object that already exists is left alone.
fn create(
    sh: &Shared,
    group: &str,
    plural: &str,
    namespace: Option<&str>,
    obj: Value,
    manager: &str,
) {
    let Some(r) = sh.catalog.get(group, "v1", plural) else {
        return;
    };
    let p = path(group, plural, namespace, None);
    let params = Params(vec![("fieldManager".into(), manager.into())]);
    let result =
        Writer::new(sh, &r, &p, &params, "").and_then(|mut w| resources::create(&mut w, &p, obj));
    if let Err(e) = result
        && e.code != 409
    {
        tracing::debug!(plural, ?namespace, error = %e.message, "cannot create default object");
    }
}

fn exists(sh: &Shared, group: &str, resource: &str, namespace: &str, name: &str) -> bool {
    let gr = GroupResource {
        group: group.into(),
        resource: resource.into(),
    };
    let key = ObjKey {
        namespace: namespace.into(),
        name: name.into(),
    };
    sh.store.get(&gr, &key).is_some()
}

/// Creates the default ClusterRoles and ClusterRoleBindings that are missing,
/// then fills the aggregated roles.
pub fn bootstrap_policy(sh: &Shared) {
    for role in policy::cluster_roles() {
        let name = role["metadata"]["name"].as_str().unwrap_or("").to_string();
        if !exists(sh, RBAC, "clusterroles", "", &name) {
            create(sh, RBAC, "clusterroles", None, role, "kube-apiserver");
        }
    }
    for binding in policy::cluster_role_bindings() {
        let name = binding["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if !exists(sh, RBAC, "clusterrolebindings", "", &name) {
            create(
                sh,
                RBAC,
                "clusterrolebindings",
                None,
                binding,
                "kube-apiserver",
            );
        }
    }
    aggregate_cluster_roles(sh);
}

/// Writes the rules aggregated ClusterRoles should carry, where they differ.
pub fn aggregate_cluster_roles(sh: &Shared) {
    let gr = GroupResource {
        group: RBAC.into(),
        resource: "clusterroles".into(),
    };
    let (roles, _) = sh.store.list(&gr, None);
    let Some(r) = sh.catalog.get(RBAC, "v1", "clusterroles") else {
        return;
    };
    for (name, rules) in policy::aggregate(&roles) {
        let Some(current) = roles
            .iter()
            .find(|o| o["metadata"]["name"] == name.as_str())
        else {
            continue;
        };
        let mut updated = (**current).clone();
        updated["rules"] = serde_json::to_value(&rules).unwrap_or(Value::Null);
        let p = path(RBAC, "clusterroles", None, Some(&name));
        let params = Params(vec![(
            "fieldManager".into(),
            "clusterrole-aggregation-controller".into(),
        )]);
        // A conflict means the role changed meanwhile; its event brings us back.
        let result = Writer::new(sh, &r, &p, &params, "")
            .and_then(|mut w| resources::update(&mut w, &name, None, updated));
        if let Err(e) = result {
            tracing::debug!(role = %name, error = %e.message, "cannot aggregate cluster role");
        }
    }
}

/// Creates the `default` ServiceAccount and `kube-root-ca.crt` of a namespace, when missing.
pub fn namespace_defaults(sh: &Shared, namespace: &Value) {
    let Some(ns) = namespace["metadata"]["name"].as_str() else {
        return;
    };
    // A terminating namespace refuses new objects, as it does on a real server.
    if namespace["metadata"]["deletionTimestamp"].is_string() {
        return;
    }
    if !exists(sh, "", "serviceaccounts", ns, DEFAULT_SERVICE_ACCOUNT) {
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": DEFAULT_SERVICE_ACCOUNT, "namespace": ns}});
        create(
            sh,
            "",
            "serviceaccounts",
            Some(ns),
            sa,
            "kube-controller-manager",
        );
    }
    if !exists(sh, "", "configmaps", ns, ROOT_CA_CONFIGMAP) {
        let cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": ROOT_CA_CONFIGMAP, "namespace": ns,
                "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION},
            },
            "data": {"ca.crt": sh.ca_pem()},
        });
        create(
            sh,
            "",
            "configmaps",
            Some(ns),
            cm,
            "kube-controller-manager",
        );
    }
}

/// Called after every committed write through the API: a new namespace gets
/// its defaults and a changed ClusterRole re-aggregates at once. The event
/// loop in [`spawn`] covers deletions and anything written otherwise.
pub fn after_write(sh: &Shared, group: &str, kind: &str, obj: &Value) {
    match (group, kind) {
        ("", "Namespace") => namespace_defaults(sh, obj),
        (RBAC, "ClusterRole") => aggregate_cluster_roles(sh),
        _ => {}
    }
}

fn all_namespaces(sh: &Shared) {
    let gr = GroupResource {
        group: String::new(),
        resource: "namespaces".into(),
    };
    for ns in sh.store.list(&gr, None).0 {
        namespace_defaults(sh, &ns);
    }
}

/// Brings everything in place once (for state restored from a data directory),
/// then keeps it so as objects change.
pub fn spawn(sh: Arc<Shared>) {
    let rx = sh.store.subscribe();
    all_namespaces(&sh);
    tokio::spawn(run(sh, rx));
}

async fn run(sh: Arc<Shared>, mut rx: broadcast::Receiver<Arc<crate::store::Event>>) {
    loop {
        match rx.recv().await {
            Ok(e) => {
                let (group, resource) = (e.gr.group.as_str(), e.gr.resource.as_str());
                match (group, resource, e.kind) {
                    ("", "namespaces", EventType::Added | EventType::Modified) => {
                        namespace_defaults(&sh, &e.object)
                    }
                    ("", "serviceaccounts" | "configmaps", EventType::Deleted) => {
                        let name = e.key.name.as_str();
                        if name == DEFAULT_SERVICE_ACCOUNT || name == ROOT_CA_CONFIGMAP {
                            let gr = GroupResource {
                                group: String::new(),
                                resource: "namespaces".into(),
                            };
                            let key = ObjKey {
                                namespace: String::new(),
                                name: e.key.namespace.clone(),
                            };
                            if let Some(ns) = sh.store.get(&gr, &key) {
                                namespace_defaults(&sh, &ns);
                            }
                        }
                    }
                    (RBAC, "clusterroles", _) => aggregate_cluster_roles(&sh),
                    _ => {}
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                all_namespaces(&sh);
                aggregate_cluster_roles(&sh);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
