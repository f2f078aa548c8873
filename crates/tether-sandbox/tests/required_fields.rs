//! Every built-in kind the sandbox serves, created from a minimal valid object,
//! must come back satisfying the required fields of its real OpenAPI v3 schema
//! (read from `../shared/k8s-api/openapi-v3-1.35`), followed recursively through
//! `$ref`s: in the create response, in a GET and a LIST right after, and again
//! after the simulated controllers had time to write status. Strict clients
//! (typed models of the official client libraries) fail to deserialise objects
//! that miss a required field, so this is what lets them read the sandbox.
//!
//! The table of minimal objects covers every built-in kind of the catalog; the
//! test fails if a kind is added to the catalog without a row here.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::{TestSandbox, get, post, shared_k8s_api};
use serde_json::{Value, json};
use tether_sandbox::catalog::builtin_resources;

const NS: &str = "default";

fn pod_spec(restart: &str) -> Value {
    json!({"restartPolicy": restart, "containers": [{"name": "c", "image": "nginx:1.27", "resources": {"limits": {"cpu": "100m"}}}]})
}

fn template(restart: &str) -> Value {
    json!({"metadata": {"labels": {"app": "req"}}, "spec": pod_spec(restart)})
}

/// A minimal valid object of each built-in kind (group, kind, version), without
/// `kind` and `apiVersion`: the URL says them, as typed clients rely on. Each is
/// named `req-<n>` unless its kind needs a name of a particular form.
fn minimal(group: &str, version: &str, kind: &str) -> Option<Value> {
    let selector = json!({"matchLabels": {"app": "req"}});
    let role_ref =
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"});
    let object = match (group, kind) {
        ("", "ConfigMap") => json!({"data": {"a": "b"}}),
        ("", "Endpoints") => json!({}),
        // With an eventTime: the events.k8s.io view of this same object requires one,
        // and a real server serves a core Event written without it as `eventTime: null`.
        ("", "Event") => json!({
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": NS, "apiVersion": "v1"},
            "reason": "Started", "message": "started", "type": "Normal",
            "source": {"component": "kubelet"},
        }),
        ("", "LimitRange") => json!({"spec": {"limits": [{"type": "Container"}]}}),
        ("", "Namespace") => json!({}),
        ("", "Node") => json!({}),
        ("", "PersistentVolumeClaim") => json!({"spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
        }}),
        ("", "PersistentVolume") => json!({"spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/req"},
        }}),
        ("", "Pod") => json!({"spec": pod_spec("Always")}),
        ("", "PodTemplate") => json!({"template": template("Always")}),
        ("", "ReplicationController") => json!({"spec": {
            "replicas": 1, "selector": {"app": "req"}, "template": template("Always"),
        }}),
        ("", "ResourceQuota") => json!({"spec": {"hard": {"pods": "10"}}}),
        ("", "Secret") => json!({"stringData": {"password": "hunter2"}}),
        ("", "ServiceAccount") => json!({}),
        ("", "Service") => json!({"spec": {"selector": {"app": "req"}, "ports": [{"port": 80}]}}),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration")
        | ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => json!({}),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => {
            json!({"spec": {"validations": [{"expression": "true"}]}})
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding") => {
            json!({"spec": {"policyName": "req", "validationActions": ["Deny"]}})
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => json!({
            "metadata": {"name": "gadgets.example.com"},
            "spec": {
                "group": "example.com", "scope": "Namespaced",
                "names": {"plural": "gadgets", "kind": "Gadget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}],
            },
        }),
        ("apiregistration.k8s.io", "APIService") => json!({
            "metadata": {"name": "v1.req.example.org"},
            "spec": {"group": "req.example.org", "version": "v1", "groupPriorityMinimum": 100,
                "versionPriority": 100, "service": {"name": "req", "namespace": NS}},
        }),
        ("apps", "ControllerRevision") => json!({"revision": 1}),
        ("apps", "DaemonSet") => {
            json!({"spec": {"selector": selector, "template": template("Always")}})
        }
        ("apps", "Deployment" | "ReplicaSet") => {
            json!({"spec": {"replicas": 2, "selector": selector, "template": template("Always")}})
        }
        ("apps", "StatefulSet") => json!({"spec": {
            "replicas": 2, "serviceName": "req", "selector": selector, "template": template("Always"),
        }}),
        ("autoscaling", "HorizontalPodAutoscaler") => json!({"spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1, "maxReplicas": 3,
        }}),
        ("batch", "CronJob") => json!({"spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": {"spec": pod_spec("OnFailure")}}},
        }}),
        ("batch", "Job") => json!({"spec": {"template": {"spec": pod_spec("Never")}}}),
        ("certificates.k8s.io", "CertificateSigningRequest") => json!({"spec": {
            "request": "aGVsbG8=", "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"],
        }}),
        ("coordination.k8s.io", "Lease") => json!({"spec": {"holderIdentity": "req"}}),
        ("discovery.k8s.io", "EndpointSlice") => {
            json!({"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}]})
        }
        // Stored with core Events, so it needs a name of its own.
        ("events.k8s.io", "Event") => json!({
            "metadata": {"name": "req-events"},
            "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "example.com/req",
            "reportingInstance": "req-1", "action": "Test", "reason": "Tested", "type": "Normal",
            "regarding": {"kind": "Pod", "name": "web", "namespace": NS, "apiVersion": "v1"},
            "note": "a note",
        }),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema") => {
            json!({"spec": {"priorityLevelConfiguration": {"name": "global-default"}}})
        }
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration") => {
            json!({"spec": {"type": "Exempt", "exempt": {}}})
        }
        ("networking.k8s.io", "IngressClass") => json!({"spec": {"controller": "example.com/req"}}),
        ("networking.k8s.io", "Ingress") => json!({"spec": {
            "defaultBackend": {"service": {"name": "req", "port": {"number": 80}}},
        }}),
        ("networking.k8s.io", "IPAddress") => json!({
            "metadata": {"name": "10.96.200.1"},
            "spec": {"parentRef": {"resource": "services", "name": "req", "namespace": NS}},
        }),
        ("networking.k8s.io", "NetworkPolicy") => json!({"spec": {"podSelector": {}}}),
        ("networking.k8s.io", "ServiceCIDR") => json!({"spec": {"cidrs": ["10.100.0.0/16"]}}),
        ("node.k8s.io", "RuntimeClass") => json!({"handler": "runc"}),
        ("policy", "PodDisruptionBudget") => {
            json!({"spec": {"minAvailable": 1, "selector": selector}})
        }
        ("rbac.authorization.k8s.io", "ClusterRoleBinding" | "RoleBinding") => {
            json!({"roleRef": role_ref, "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": NS}]})
        }
        ("rbac.authorization.k8s.io", "ClusterRole" | "Role") => json!({
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        }),
        ("resource.k8s.io", "DeviceClass") => json!({"spec": {}}),
        ("resource.k8s.io", "ResourceClaimTemplate") => json!({"spec": {"spec": {}}}),
        ("resource.k8s.io", "ResourceClaim") => json!({"spec": {}}),
        ("resource.k8s.io", "ResourceSlice") => json!({"spec": {
            "driver": "req.example.com", "allNodes": true,
            "pool": {"name": "req", "generation": 1, "resourceSliceCount": 1},
        }}),
        ("scheduling.k8s.io", "PriorityClass") => json!({"value": 1000}),
        ("storage.k8s.io", "CSIDriver") => {
            json!({"metadata": {"name": "csi.req.example.com"}, "spec": {}})
        }
        ("storage.k8s.io", "CSINode") => json!({"spec": {"drivers": []}}),
        ("storage.k8s.io", "CSIStorageCapacity") => json!({"storageClassName": "standard"}),
        ("storage.k8s.io", "StorageClass") => json!({"provisioner": "example.com/req"}),
        ("storage.k8s.io", "VolumeAttachment") => json!({"spec": {
            "attacher": "csi.req.example.com", "nodeName": "node-1",
            "source": {"persistentVolumeName": "req"},
        }}),
        ("storage.k8s.io", "VolumeAttributesClass") => json!({"driverName": "csi.req.example.com"}),
        _ => return None,
    };
    let mut object = object;
    if object.pointer("/metadata/name").is_none() {
        object["metadata"] = json!({"name": format!("req-{}", version)});
    }
    Some(object)
}

/// The OpenAPI v3 documents: every component schema by name, and the schema
/// name of each (group, version, kind).
struct Schemas {
    components: BTreeMap<String, Value>,
    by_gvk: BTreeMap<(String, String, String), String>,
}

impl Schemas {
    fn load(dir: &Path) -> Schemas {
        let mut docs = vec![dir.join("api/v1.json")];
        for group in std::fs::read_dir(dir.join("apis"))
            .expect("apis dir")
            .flatten()
        {
            for version in std::fs::read_dir(group.path())
                .expect("group dir")
                .flatten()
            {
                docs.push(version.path());
            }
        }
        let mut components = BTreeMap::new();
        let mut by_gvk = BTreeMap::new();
        for doc in docs {
            let text = std::fs::read_to_string(&doc).expect("read OpenAPI document");
            let v: Value = serde_json::from_str(&text).expect("OpenAPI document is JSON");
            let Some(schemas) = v.pointer("/components/schemas").and_then(Value::as_object) else {
                continue;
            };
            for (name, schema) in schemas {
                for gvk in schema
                    .get("x-kubernetes-group-version-kind")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let s = |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    by_gvk.insert((s("group"), s("version"), s("kind")), name.clone());
                }
                components.insert(name.clone(), schema.clone());
            }
        }
        Schemas { components, by_gvk }
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        let reference = schema.get("$ref").or_else(|| {
            schema
                .get("allOf")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(|s| s.get("$ref"))
        });
        match reference.and_then(Value::as_str) {
            Some(r) => {
                let name = r.trim_start_matches("#/components/schemas/");
                self.components.get(name).unwrap_or(&Value::Null)
            }
            None => schema,
        }
    }

    /// Appends to `errors` every required field missing in `value`, at any depth.
    fn check(&self, value: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        match value {
            Value::Object(map) => {
                if schema.get("x-kubernetes-int-or-string").is_some() {
                    return;
                }
                for field in schema
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if !map.contains_key(field) || map[field].is_null() {
                        errors.push(format!("{path}.{field} is required but missing"));
                    }
                }
                let properties = schema.get("properties").and_then(Value::as_object);
                for (key, child) in map {
                    let child_schema = match properties.and_then(|p| p.get(key)) {
                        Some(s) => Some(s),
                        None => schema.get("additionalProperties").filter(|a| a.is_object()),
                    };
                    if let Some(s) = child_schema {
                        self.check(child, s, &format!("{path}.{key}"), errors);
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item, item_schema, &format!("{path}[{i}]"), errors);
                    }
                }
            }
            _ => {}
        }
    }
}

struct Created {
    what: String,
    schema: String,
    path: String,
    list: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_builtin_kind_satisfies_its_required_fields() {
    let Some(shared) = shared_k8s_api() else {
        return;
    };
    let schemas = Schemas::load(&shared.join("openapi-v3-1.35"));
    let ts = TestSandbox::start().await;
    let mut errors = Vec::new();
    let mut created = Vec::new();
    for r in builtin_resources() {
        let what = format!("{}/{} {}", r.group, r.version, r.kind);
        let object = minimal(&r.group, &r.version, &r.kind)
            .unwrap_or_else(|| panic!("no minimal object for {what}: add one to the table"));
        let schema = schemas
            .by_gvk
            .get(&(r.group.clone(), r.version.clone(), r.kind.clone()))
            .unwrap_or_else(|| panic!("no OpenAPI schema for {what}"))
            .clone();
        let base = if r.group.is_empty() {
            format!("/api/{}", r.version)
        } else {
            format!("/apis/{}/{}", r.group, r.version)
        };
        let list = if r.namespaced {
            format!("{base}/namespaces/{NS}/{}", r.plural)
        } else {
            format!("{base}/{}", r.plural)
        };
        let (code, body) = post(&ts, &list, &object).await;
        assert_eq!(code, 201, "create {what} without kind/apiVersion: {body}");
        assert_eq!(body["kind"], json!(r.kind), "{what}: {body}");
        assert_eq!(body["apiVersion"], json!(r.api_version()), "{what}: {body}");
        let name = body["metadata"]["name"].as_str().unwrap_or("").to_string();
        schemas.check(
            &body,
            &schemas.components[&schema],
            &format!("{what} (create)"),
            &mut errors,
        );
        let path = format!("{list}/{name}");
        created.push(Created {
            what,
            schema,
            path,
            list,
        });
    }
    let check_reads = |when: &'static str| {
        let created = &created;
        let schemas = &schemas;
        let ts = &ts;
        async move {
            let mut errors = Vec::new();
            for c in created {
                let (code, body) = get(ts, &c.path).await;
                assert_eq!(code, 200, "GET {} ({when}): {body}", c.path);
                let schema = &schemas.components[&c.schema];
                schemas.check(
                    &body,
                    schema,
                    &format!("{} (GET {when})", c.what),
                    &mut errors,
                );
                let (code, list) = get(ts, &c.list).await;
                assert_eq!(code, 200, "LIST {} ({when}): {list}", c.list);
                for item in list["items"].as_array().into_iter().flatten() {
                    schemas.check(
                        item,
                        schema,
                        &format!("{} (LIST {when})", c.what),
                        &mut errors,
                    );
                }
            }
            errors
        }
    };
    errors.extend(check_reads("at once").await);
    // The simulated controllers run after the create returns (rollout delay 0).
    tokio::time::sleep(Duration::from_millis(600)).await;
    errors.extend(check_reads("after the controllers").await);
    assert!(
        errors.is_empty(),
        "{} required fields missing:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn the_checker_finds_missing_required_fields_through_refs() {
    let schemas = Schemas {
        components: [
            (
                "Outer".to_string(),
                json!({"required": ["spec"], "properties": {"spec": {"allOf": [{"$ref": "#/components/schemas/Inner"}]}, "items": {"type": "array", "items": {"$ref": "#/components/schemas/Inner"}}}}),
            ),
            (
                "Inner".to_string(),
                json!({"required": ["replicas"], "properties": {"replicas": {"type": "integer"}}}),
            ),
        ]
        .into_iter()
        .collect(),
        by_gvk: BTreeMap::new(),
    };
    let outer = schemas.components["Outer"].clone();
    let mut errors = Vec::new();
    schemas.check(
        &json!({"spec": {}, "items": [{"replicas": 1}, {}]}),
        &outer,
        "x",
        &mut errors,
    );
    assert_eq!(
        errors,
        vec![
            "x.spec.replicas is required but missing".to_string(),
            "x.items[1].replicas is required but missing".to_string()
        ]
    );
    errors.clear();
    schemas.check(&json!({}), &outer, "x", &mut errors);
    assert_eq!(errors, vec!["x.spec is required but missing".to_string()]);
}
