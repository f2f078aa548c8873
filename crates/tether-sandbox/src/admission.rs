//! What the API server does to an object between decoding and storing it:
//! name validation, a few kind-specific validations, defaulting, and the
//! allocation of cluster IPs and node ports. Pure functions over JSON.

use serde_json::{Map, Value, json};

use crate::api::status::Cause;
use crate::catalog::ResourceInfo;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

pub fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

fn is_dns1035(s: &str) -> bool {
    is_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

/// Which rule a kind's names follow, as in the real registry strategies.
enum NameRule {
    Subdomain,
    Label,
    Dns1035,
    /// RBAC objects: any name that is a URL path segment (`system:basic-user`).
    PathSegment,
}

fn name_rule(r: &ResourceInfo) -> NameRule {
    match (r.group.as_str(), r.kind.as_str()) {
        ("", "Namespace") => NameRule::Label,
        ("", "Service") => NameRule::Dns1035,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

/// Checks metadata.name (and that a namespace in the body is a valid label).
pub fn validate_name(r: &ResourceInfo, name: &str) -> Vec<Cause> {
    let invalid = |msg: &str| Cause {
        reason: "FieldValueInvalid",
        message: format!("Invalid value: \"{name}\": {msg}"),
        field: "metadata.name".into(),
    };
    if name.is_empty() {
        return vec![Cause {
            reason: "FieldValueRequired",
            message: "Required value: name or generateName is required".into(),
            field: "metadata.name".into(),
        }];
    }
    let ok = match name_rule(r) {
        NameRule::Subdomain => is_subdomain(name),
        NameRule::Label => is_label(name),
        NameRule::Dns1035 => is_dns1035(name),
        NameRule::PathSegment => {
            return path_segment_problems(name)
                .into_iter()
                .map(invalid)
                .collect();
        }
    };
    if ok {
        return Vec::new();
    }
    vec![invalid(match name_rule(r) {
        NameRule::Subdomain => SUBDOMAIN_MSG,
        NameRule::Label => LABEL_MSG,
        NameRule::Dns1035 => DNS1035_MSG,
        NameRule::PathSegment => "",
    })]
}

/// Why a name cannot be a URL path segment, as the real server words it.
fn path_segment_problems(name: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    if name == "." || name == ".." {
        out.push(if name == "." {
            "may not be '.'"
        } else {
            "may not be '..'"
        });
    }
    if name.contains('/') {
        out.push("may not contain '/'");
    }
    if name.contains('%') {
        out.push("may not contain '%'");
    }
    out
}

/// Kind-specific checks that the real server makes and that users hit most.
pub fn validate(r: &ResourceInfo, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let required = |field: &str| Cause {
        reason: "FieldValueRequired",
        message: "Required value".into(),
        field: field.into(),
    };
    let pod_spec_path = match (r.group.as_str(), r.kind.as_str()) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") | ("batch", "Job") => {
            Some("spec.template.spec")
        }
        ("", "Pod") => Some("spec"),
        ("batch", "CronJob") => Some("spec.jobTemplate.spec.template.spec"),
        _ => None,
    };
    if r.group == "apps"
        && matches!(
            r.kind.as_str(),
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
        )
    {
        let selector = obj.pointer("/spec/selector");
        match selector {
            None | Some(Value::Null) => causes.push(required("spec.selector")),
            Some(sel) => {
                let labels = obj.pointer("/spec/template/metadata/labels");
                if let Some(Value::Object(want)) = sel.get("matchLabels") {
                    let matches = want
                        .iter()
                        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
                    if !matches {
                        causes.push(Cause {
                            reason: "FieldValueInvalid",
                            message: format!(
                                "Invalid value: {}: `selector` does not match template `labels`",
                                labels
                                    .map(|l| serde_json::to_string(l).unwrap_or_default())
                                    .unwrap_or_else(|| "null".into())
                            ),
                            field: "spec.template.metadata.labels".into(),
                        });
                    }
                }
            }
        }
    }
    if let Some(path) = pod_spec_path {
        let pointer = format!("/{}", path.replace('.', "/"));
        match obj.pointer(&format!("{pointer}/containers")) {
            Some(Value::Array(cs)) if !cs.is_empty() => {
                for (i, c) in cs.iter().enumerate() {
                    if c.get("name")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        causes.push(required(&format!("{path}.containers[{i}].name")));
                    }
                    if c.get("image")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        causes.push(required(&format!("{path}.containers[{i}].image")));
                    }
                }
            }
            _ => causes.push(required(&format!("{path}.containers"))),
        }
    }
    if (r.group.as_str(), r.kind.as_str()) == ("", "ConfigMap") {
        for field in ["data", "binaryData"] {
            if let Some(Value::Object(m)) = obj.get(field) {
                for key in m.keys() {
                    let ok = !key.is_empty()
                        && key.len() <= 253
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                    if !ok {
                        causes.push(Cause {
                            reason: "FieldValueInvalid",
                            message: format!("Invalid value: \"{key}\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"),
                            field: format!("{field}[{key}]"),
                        });
                    }
                }
            }
        }
    }
    causes
}

fn set_default(m: &mut Map<String, Value>, key: &str, v: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.into(), v);
    }
}

fn obj_at<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = v;
    for p in path {
        cur = cur.get_mut(*p)?;
    }
    cur.as_object_mut()
}

/// Defaults for a container's ports: the protocol is a list-map key of ports, so
/// it must be filled in before merging, as the real server does.
pub fn default_ports(ports: Option<&mut Value>) {
    if let Some(Value::Array(ports)) = ports {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(p, "protocol", json!("TCP"));
        }
    }
}

fn default_pod_spec(spec: &mut Map<String, Value>, restart_policy: Option<&str>) {
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(list) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                let image = c.get("image").and_then(Value::as_str).unwrap_or("");
                let last = image.rsplit('/').next().unwrap_or("");
                let policy = if !last.contains(':') || last.ends_with(":latest") {
                    "Always"
                } else {
                    "IfNotPresent"
                };
                set_default(c, "imagePullPolicy", json!(policy));
                set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
                set_default(c, "terminationMessagePolicy", json!("File"));
                set_default(c, "resources", json!({}));
                default_ports(c.get_mut("ports"));
            }
        }
    }
    if let Some(rp) = restart_policy {
        set_default(spec, "restartPolicy", json!(rp));
    }
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
}

/// Fills in the defaults the real server fills in for the kinds GitOps tools
/// apply most, so that diffs against the sandbox meet the same noise as
/// against a real cluster.
pub fn apply_defaults(r: &ResourceInfo, obj: &mut Value) {
    match (r.group.as_str(), r.kind.as_str()) {
        ("apps", kind @ ("Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")) => {
            if let Some(spec) = obj_at(obj, &["spec"]) {
                if kind != "DaemonSet" {
                    set_default(spec, "replicas", json!(1));
                }
                set_default(spec, "revisionHistoryLimit", json!(10));
                match kind {
                    "Deployment" => {
                        set_default(spec, "progressDeadlineSeconds", json!(600));
                        set_default(
                            spec,
                            "strategy",
                            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
                        );
                    }
                    "StatefulSet" => {
                        set_default(spec, "podManagementPolicy", json!("OrderedReady"));
                        set_default(
                            spec,
                            "updateStrategy",
                            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
                        );
                    }
                    "DaemonSet" => {
                        set_default(
                            spec,
                            "updateStrategy",
                            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
                        );
                    }
                    _ => {}
                }
            }
            if let Some(ps) = obj_at(obj, &["spec", "template", "spec"]) {
                default_pod_spec(ps, Some("Always"));
            }
        }
        ("", "Pod") => {
            if let Some(ps) = obj_at(obj, &["spec"]) {
                default_pod_spec(ps, Some("Always"));
            }
        }
        ("batch", "Job") => {
            if let Some(spec) = obj_at(obj, &["spec"]) {
                set_default(spec, "backoffLimit", json!(6));
                set_default(spec, "completions", json!(1));
                set_default(spec, "parallelism", json!(1));
                set_default(spec, "completionMode", json!("NonIndexed"));
                set_default(spec, "suspend", json!(false));
                set_default(spec, "manualSelector", json!(false));
                let replacement = if spec.get("podFailurePolicy").is_some_and(|p| !p.is_null()) {
                    "Failed"
                } else {
                    "TerminatingOrFailed"
                };
                set_default(spec, "podReplacementPolicy", json!(replacement));
            }
            if let Some(ps) = obj_at(obj, &["spec", "template", "spec"]) {
                default_pod_spec(ps, None);
            }
        }
        ("batch", "CronJob") => {
            if let Some(spec) = obj_at(obj, &["spec"]) {
                set_default(spec, "concurrencyPolicy", json!("Allow"));
                set_default(spec, "suspend", json!(false));
                set_default(spec, "successfulJobsHistoryLimit", json!(3));
                set_default(spec, "failedJobsHistoryLimit", json!(1));
            }
            if let Some(ps) = obj_at(obj, &["spec", "jobTemplate", "spec", "template", "spec"]) {
                default_pod_spec(ps, None);
            }
        }
        ("", "Service") => {
            if let Some(spec) = obj_at(obj, &["spec"]) {
                set_default(spec, "type", json!("ClusterIP"));
                set_default(spec, "sessionAffinity", json!("None"));
                set_default(spec, "internalTrafficPolicy", json!("Cluster"));
                if let Some(Value::Array(ports)) = spec.get_mut("ports") {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        set_default(p, "protocol", json!("TCP"));
                        if let Some(port) = p.get("port").cloned() {
                            set_default(p, "targetPort", port);
                        }
                    }
                }
            }
        }
        ("", "Namespace") => {
            let name = obj
                .pointer("/metadata/name")
                .cloned()
                .unwrap_or(Value::Null);
            if let Some(meta) = obj_at(obj, &["metadata"]) {
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert("kubernetes.io/metadata.name".into(), name);
                }
            }
            if let Some(o) = obj.as_object_mut() {
                let spec = o.entry("spec").or_insert_with(|| json!({}));
                if let Some(s) = spec.as_object_mut() {
                    set_default(s, "finalizers", json!(["kubernetes"]));
                }
                let status = o.entry("status").or_insert_with(|| json!({}));
                if let Some(s) = status.as_object_mut() {
                    set_default(s, "phase", json!("Active"));
                }
            }
        }
        ("", "PersistentVolumeClaim") => {
            if let Some(spec) = obj_at(obj, &["spec"]) {
                set_default(spec, "volumeMode", json!("Filesystem"));
            }
            if let Some(o) = obj.as_object_mut() {
                let status = o.entry("status").or_insert_with(|| json!({}));
                if let Some(s) = status.as_object_mut() {
                    set_default(s, "phase", json!("Pending"));
                }
            }
        }
        ("", "Secret") => {
            if let Some(o) = obj.as_object_mut() {
                set_default(o, "type", json!("Opaque"));
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if let Some(names) = obj_at(obj, &["spec", "names"])
                && let Some(kind) = names
                    .get("kind")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            {
                set_default(names, "singular", json!(kind.to_lowercase()));
                set_default(names, "listKind", json!(format!("{kind}List")));
            }
            if let Some(spec) = obj_at(obj, &["spec"]) {
                set_default(spec, "conversion", json!({"strategy": "None"}));
            }
        }
        _ => {}
    }
}

/// What the real server's Job strategy does on create, once the uid is known: unless
/// the selector is manual, the pod template is labelled with the job's name and uid
/// and the selector picks the uid. A Job without labels of its own then takes the
/// template's (the defaulting that runs as the object is read back from storage).
pub fn generate_job_selector(obj: &mut Value) {
    let name = obj
        .pointer("/metadata/name")
        .cloned()
        .unwrap_or(Value::Null);
    let uid = obj.pointer("/metadata/uid").cloned().unwrap_or(Value::Null);
    let manual = obj.pointer("/spec/manualSelector") == Some(&json!(true));
    if !manual && let Some(template) = obj_at(obj, &["spec", "template"]) {
        let meta = template.entry("metadata").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(labels) = labels.as_object_mut() {
                for (k, v) in [
                    ("batch.kubernetes.io/controller-uid", &uid),
                    ("batch.kubernetes.io/job-name", &name),
                    ("controller-uid", &uid),
                    ("job-name", &name),
                ] {
                    labels.entry(k).or_insert_with(|| v.clone());
                }
            }
        }
    }
    if !manual && let Some(spec) = obj_at(obj, &["spec"]) {
        let selector = spec.entry("selector").or_insert_with(|| json!({}));
        if let Some(selector) = selector.as_object_mut() {
            let ml = selector.entry("matchLabels").or_insert_with(|| json!({}));
            if let Some(ml) = ml.as_object_mut() {
                ml.entry("batch.kubernetes.io/controller-uid")
                    .or_insert_with(|| uid.clone());
            }
        }
    }
    let template_labels = obj
        .pointer("/spec/template/metadata/labels")
        .filter(|l| l.as_object().is_some_and(|l| !l.is_empty()))
        .cloned();
    if let (Some(labels), Some(meta)) = (template_labels, obj_at(obj, &["metadata"]))
        && meta
            .get("labels")
            .and_then(Value::as_object)
            .is_none_or(|l| l.is_empty())
    {
        meta.insert("labels".into(), labels);
    }
}

/// Allocates what a Service gets on creation (or keeps what it had): cluster IPs and node ports.
pub fn allocate_service(
    obj: &mut Value,
    old: Option<&Value>,
    next_ip: &mut dyn FnMut() -> String,
    next_port: &mut dyn FnMut() -> u16,
) {
    let Some(spec) = obj_at(obj, &["spec"]) else {
        return;
    };
    let old_spec = old.and_then(|o| o.get("spec"));
    let wants_ip = spec.get("clusterIP").and_then(Value::as_str) != Some("None")
        && spec.get("type").and_then(Value::as_str) != Some("ExternalName");
    if spec
        .get("clusterIP")
        .is_none_or(|v| v.as_str().is_none_or(str::is_empty))
    {
        let ip = old_spec
            .and_then(|s| s.get("clusterIP"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| if wants_ip { next_ip() } else { "None".into() });
        spec.insert("clusterIP".into(), json!(ip));
    }
    let ip = spec.get("clusterIP").cloned().unwrap_or(Value::Null);
    if spec.get("type").and_then(Value::as_str) != Some("ExternalName") {
        set_default(spec, "clusterIPs", json!([ip]));
        set_default(spec, "ipFamilies", json!(["IPv4"]));
        set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
    }
    let needs_node_port = matches!(
        spec.get("type").and_then(Value::as_str),
        Some("NodePort" | "LoadBalancer")
    );
    if needs_node_port {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
        if spec.get("type").and_then(Value::as_str) == Some("LoadBalancer") {
            set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
        }
        if let Some(Value::Array(ports)) = spec.get_mut("ports") {
            for (i, p) in ports.iter_mut().enumerate() {
                // 0 is Go's "unset" for nodePort (protobuf bodies carry it).
                if let Some(p) = p.as_object_mut()
                    && p.get("nodePort")
                        .is_none_or(|n| n.is_null() || n.as_i64() == Some(0))
                {
                    let kept = old_spec
                        .and_then(|s| s.pointer(&format!("/ports/{i}/nodePort")))
                        .cloned();
                    p.insert(
                        "nodePort".into(),
                        kept.unwrap_or_else(|| json!(next_port())),
                    );
                }
            }
        }
    }
}

/// Built-in objects take Quantity strings; clients often send numbers (`cpu: 1`).
/// The real server accepts both, so numbers are turned into strings before the
/// typed check.
pub fn quantities_to_strings(v: &mut Value) {
    const QUANTITY_MAPS: &[&str] = &[
        "limits",
        "requests",
        "hard",
        "capacity",
        "allocatable",
        "overhead",
        "used",
    ];
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if QUANTITY_MAPS.contains(&k.as_str())
                    && let Value::Object(q) = child
                {
                    for val in q.values_mut() {
                        if let Value::Number(n) = val {
                            *val = Value::String(n.to_string());
                        }
                    }
                } else if k == "storage"
                    && let Value::Number(n) = child
                {
                    *child = Value::String(n.to_string());
                } else {
                    quantities_to_strings(child);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(quantities_to_strings),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rfc1123() {
        assert!(is_subdomain("web.example-1"));
        assert!(!is_subdomain("Web"));
        assert!(!is_subdomain("-web"));
        assert!(!is_subdomain(""));
        assert!(is_label("ns-1"));
        assert!(!is_label("a.b"));
        assert!(is_dns1035("svc-1"));
        assert!(!is_dns1035("1svc"));
    }

    #[test]
    fn rbac_names_are_path_segments() {
        assert!(path_segment_problems("system:basic-user").is_empty());
        assert!(path_segment_problems("Any Name").is_empty());
        assert_eq!(path_segment_problems(".."), ["may not be '..'"]);
        assert_eq!(
            path_segment_problems("a/b%"),
            ["may not contain '/'", "may not contain '%'"]
        );
    }

    #[test]
    fn numbers_become_quantities() {
        let mut v = json!({"resources": {"limits": {"cpu": 1, "memory": "1Gi"}}, "replicas": 3});
        quantities_to_strings(&mut v);
        assert_eq!(
            v,
            json!({"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}, "replicas": 3})
        );
    }
}
