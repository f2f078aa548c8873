//! What the API server does to an object between decoding and storing it:
//! name validation, a few kind-specific validations, defaulting, and the
//! allocation of cluster IPs and node ports. Pure functions over JSON.

use serde_json::{Map, Value, json};

use crate::api::status::Cause;
use crate::catalog::ResourceInfo;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

/// The shape of an RFC 1123 label, without its length limit.
fn label_chars(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

/// An RFC 1123 subdomain: dot-separated labels, 253 characters in all. The real
/// regex does not bound each label, so a 100-character name without dots is valid.
pub fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(label_chars)
}

/// Which rule a kind's names follow, as in the real registry strategies
/// (`ValidateNamespaceName`, `ValidateServiceName`, `ValidateRBACName`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NameRule {
    /// `NameIsDNSSubdomain`: most kinds.
    Subdomain,
    /// `NameIsDNSLabel`: namespaces.
    Label,
    /// `NameIsDNS1035Label`: services.
    Dns1035,
    /// `path.IsValidPathSegmentName`: RBAC roles and bindings (`system:controller:x`)
    /// and API Priority and Fairness objects.
    PathSegment,
}

fn name_rule(r: &ResourceInfo) -> NameRule {
    match (r.group.as_str(), r.kind.as_str()) {
        ("", "Namespace") => NameRule::Label,
        ("", "Service") => NameRule::Dns1035,
        ("rbac.authorization.k8s.io", _) | ("flowcontrol.apiserver.k8s.io", _) => {
            NameRule::PathSegment
        }
        _ => NameRule::Subdomain,
    }
}

/// The messages of the real name checks: one per failed rule, as
/// `IsDNS1123Subdomain` and friends return them (length and shape separately).
fn name_errors(rule: NameRule, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let too_long = |n: usize| format!("must be no more than {n} characters");
    match rule {
        NameRule::Subdomain => {
            if name.len() > 253 {
                out.push(too_long(253));
            }
            if !name.split('.').all(label_chars) {
                out.push(SUBDOMAIN_MSG.to_string());
            }
        }
        NameRule::Label => {
            if name.len() > 63 {
                out.push(too_long(63));
            }
            if !label_chars(name) {
                out.push(LABEL_MSG.to_string());
            }
        }
        NameRule::Dns1035 => {
            if name.len() > 63 {
                out.push(too_long(63));
            }
            if !(label_chars(name) && name.as_bytes()[0].is_ascii_lowercase()) {
                out.push(DNS1035_MSG.to_string());
            }
        }
        NameRule::PathSegment => {
            for bad in [".", ".."] {
                if name == bad {
                    out.push(format!("may not be '{bad}'"));
                }
            }
            for bad in ["/", "%"] {
                if name.contains(bad) {
                    out.push(format!("may not contain '{bad}'"));
                }
            }
        }
    }
    out
}

/// Checks metadata.name by the kind's rule.
pub fn validate_name(r: &ResourceInfo, name: &str) -> Vec<Cause> {
    if name.is_empty() {
        return vec![Cause {
            reason: "FieldValueRequired",
            message: "Required value: name or generateName is required".into(),
            field: "metadata.name".into(),
        }];
    }
    let mut errors = name_errors(name_rule(r), name);
    // A CronJob's name goes into its Jobs' names with an 11-character suffix,
    // and those must stay DNS labels (ValidateCronJob).
    if (r.group.as_str(), r.kind.as_str()) == ("batch", "CronJob") && name.len() > 52 {
        errors.push("must be no more than 52 characters".into());
    }
    errors
        .into_iter()
        .map(|msg| Cause {
            reason: "FieldValueInvalid",
            message: format!("Invalid value: \"{name}\": {msg}"),
            field: "metadata.name".into(),
        })
        .collect()
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
    // Counts the controllers act on: the real server refuses negatives (values
    // beyond an int32 are refused earlier, while the body is decoded).
    let counts: &[&str] = match (r.group.as_str(), r.kind.as_str()) {
        ("apps", "Deployment" | "StatefulSet" | "ReplicaSet") | ("", "ReplicationController") => {
            &["spec.replicas"]
        }
        ("batch", "Job") => &["spec.parallelism", "spec.completions", "spec.backoffLimit"],
        ("batch", "CronJob") => &[
            "spec.jobTemplate.spec.parallelism",
            "spec.jobTemplate.spec.completions",
            "spec.jobTemplate.spec.backoffLimit",
        ],
        _ => &[],
    };
    for field in counts {
        let Some(v) = obj.pointer(&format!("/{}", field.replace('.', "/"))) else {
            continue;
        };
        if v.as_i64().is_some_and(|n| n < 0) {
            causes.push(Cause {
                reason: "FieldValueInvalid",
                message: format!("Invalid value: {v}: must be greater than or equal to 0"),
                field: (*field).into(),
            });
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

/// Defaults of a Pod that its templates do not get (`SetDefaults_Pod`): requests
/// default to the limits of the same resource, and service links are on.
fn default_pod_only(spec: &mut Map<String, Value>) {
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(list) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                let Some(Value::Object(resources)) = c.get_mut("resources") else {
                    continue;
                };
                let Some(Value::Object(limits)) = resources.get("limits").cloned() else {
                    continue;
                };
                let requests = resources.entry("requests").or_insert_with(|| json!({}));
                if let Some(requests) = requests.as_object_mut() {
                    for (name, q) in limits {
                        requests.entry(name).or_insert(q);
                    }
                }
            }
        }
    }
    set_default(spec, "enableServiceLinks", json!(true));
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
                default_pod_only(ps);
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
            merge_string_data(obj);
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

/// The status fields a built-in object always has on the real server. On create,
/// the strategy's PrepareForCreate sets a Pod's `phase: Pending` and its
/// `qosClass`; and the status structs of several kinds hold integer counters
/// without `omitempty` (required in the OpenAPI schema), which Go encodes as 0
/// until a controller sets them: strict clients refuse objects without them.
pub fn status_defaults(r: &ResourceInfo, obj: &mut Value, creating: bool) {
    let zero_counters: &[&str] = match (r.group.as_str(), r.kind.as_str()) {
        ("apps", "DaemonSet") => &[
            "currentNumberScheduled",
            "numberMisscheduled",
            "desiredNumberScheduled",
            "numberReady",
        ],
        ("apps", "ReplicaSet") | ("", "ReplicationController") => &["replicas"],
        ("apps", "StatefulSet") => &["replicas", "availableReplicas"],
        // v2 omits a zero currentReplicas; v1 always has it (see `present`).
        ("autoscaling", "HorizontalPodAutoscaler") => &["desiredReplicas"],
        ("policy", "PodDisruptionBudget") => &[
            "disruptionsAllowed",
            "currentHealthy",
            "desiredHealthy",
            "expectedPods",
        ],
        _ => &[],
    };
    let is_pod = (r.group.as_str(), r.kind.as_str()) == ("", "Pod");
    let is_attachment =
        (r.group.as_str(), r.kind.as_str()) == ("storage.k8s.io", "VolumeAttachment");
    if zero_counters.is_empty() && !is_pod && !is_attachment {
        return;
    }
    let qos = is_pod.then(|| pod_qos_class(obj));
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    let status = o.entry("status").or_insert_with(|| json!({}));
    let Some(status) = status.as_object_mut() else {
        return;
    };
    for counter in zero_counters {
        set_default(status, counter, json!(0));
    }
    if is_attachment {
        set_default(status, "attached", json!(false));
    }
    if let Some(qos) = qos {
        if creating {
            set_default(status, "phase", json!("Pending"));
        }
        set_default(status, "qosClass", json!(qos));
    }
}

/// A quantity as a number (`100m` is 0.1, `1Gi` is 2^30), for comparing and
/// testing for zero; None when it does not parse.
pub fn quantity_value(q: &Value) -> Option<f64> {
    let text = match q {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => return n.as_f64(),
        _ => return None,
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        s if s.starts_with(['e', 'E']) => 10f64.powi(s[1..].parse().ok()?),
        _ => return None,
    };
    Some(number * scale)
}

/// The Pod's QoS class, as the real `ComputePodQOS` derives it from the cpu and
/// memory requests and limits of its containers and init containers.
pub fn pod_qos_class(pod: &Value) -> &'static str {
    const COMPUTE: [&str; 2] = ["cpu", "memory"];
    let mut requests: Map<String, Value> = Map::new();
    let mut limits: Map<String, Value> = Map::new();
    let add = |into: &mut Map<String, Value>, name: &str, v: f64| {
        let sum = into.get(name).and_then(Value::as_f64).unwrap_or(0.0) + v;
        into.insert(name.to_string(), json!(sum));
    };
    let mut guaranteed = true;
    for list in ["containers", "initContainers"] {
        for c in pod
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let resources = |kind: &str| {
                c.pointer(&format!("/resources/{kind}"))
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .filter(|(name, _)| COMPUTE.contains(&name.as_str()))
                    .filter_map(|(name, q)| Some((name.clone(), quantity_value(q)?)))
                    .filter(|(_, v)| *v > 0.0)
                    .collect::<Vec<_>>()
            };
            for (name, v) in resources("requests") {
                add(&mut requests, &name, v);
            }
            let found = resources("limits");
            for (name, v) in &found {
                add(&mut limits, name, *v);
            }
            if !COMPUTE.iter().all(|n| found.iter().any(|(f, _)| f == n)) {
                guaranteed = false;
            }
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed {
        let equal = |a: f64, b: f64| (a - b).abs() <= f64::EPSILON * a.abs().max(b.abs()) * 4.0;
        let matches = requests.iter().all(|(name, req)| {
            limits
                .get(name)
                .and_then(Value::as_f64)
                .zip(req.as_f64())
                .is_some_and(|(l, r)| equal(l, r))
        });
        if matches && requests.len() == limits.len() {
            return "Guaranteed";
        }
    }
    "Burstable"
}

/// What the real server's default admission plugins add to a new Pod, after its
/// field manager ran (so no manager owns these fields): the ServiceAccount
/// plugin names the `default` ServiceAccount and mounts its token volume
/// (`kube-api-access-xxxxx`) in every container unless automounting is off; the
/// DefaultTolerationSeconds plugin tolerates not-ready and unreachable nodes for
/// 300 s; the Priority plugin sets priority 0 and `PreemptLowerPriority` when no
/// priority class is named. `suffix` is the volume name's random part.
pub fn admit_pod(pod: &mut Value, suffix: &str) {
    let Some(spec) = obj_at(pod, &["spec"]) else {
        return;
    };
    let account = match spec.get("serviceAccountName").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => spec
            .get("serviceAccount")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
            .to_string(),
    };
    spec.insert("serviceAccountName".into(), json!(account));
    spec.insert("serviceAccount".into(), json!(account));
    const TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
    let automount = spec.get("automountServiceAccountToken") != Some(&json!(false));
    let mounted = ["containers", "initContainers"].iter().any(|list| {
        spec.get(*list).and_then(Value::as_array).is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("volumeMounts")
                    .and_then(Value::as_array)
                    .is_some_and(|ms| {
                        ms.iter()
                            .any(|m| m.get("mountPath") == Some(&json!(TOKEN_PATH)))
                    })
            })
        })
    });
    if automount && !mounted {
        let volume = format!("kube-api-access-{suffix}");
        let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
        if let Some(v) = volumes.as_array_mut() {
            v.push(json!({"name": volume, "projected": {"sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ], "defaultMode": 420}}));
        }
        for list in ["containers", "initContainers"] {
            if let Some(Value::Array(cs)) = spec.get_mut(list) {
                for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                    let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
                    if let Some(m) = mounts.as_array_mut() {
                        m.push(json!({"name": volume, "readOnly": true, "mountPath": TOKEN_PATH}));
                    }
                }
            }
        }
    }
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    if let Some(t) = tolerations.as_array_mut() {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            let tolerated = t.iter().any(|x| {
                let key_ok = x.get("key").is_none_or(|k| k == key || k == "")
                    && (x.get("key").is_some() || x.get("operator") == Some(&json!("Exists")));
                let effect_ok = x
                    .get("effect")
                    .and_then(Value::as_str)
                    .is_none_or(|e| e.is_empty() || e == "NoExecute");
                key_ok && effect_ok
            });
            if !tolerated {
                t.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
    if spec
        .get("priorityClassName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        set_default(spec, "priority", json!(0));
        set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    }
}

/// A Secret's `stringData` is write-only: the real server's conversion moves each
/// entry into `data`, base64-encoded, over any `data` entry of the same key, and
/// never stores or returns `stringData` itself.
pub fn merge_string_data(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    let Some(Value::Object(strings)) = o.shift_remove("stringData") else {
        return;
    };
    if strings.is_empty() {
        return;
    }
    if !o.get("data").is_some_and(Value::is_object) {
        o.insert("data".into(), json!({}));
    }
    if let Some(Value::Object(data)) = o.get_mut("data") {
        for (key, value) in strings {
            let text = value.as_str().unwrap_or("");
            data.insert(
                key,
                json!(base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    text
                )),
            );
        }
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
    fn name_rules_follow_the_real_validation() {
        let long = "a".repeat(100);
        assert!(name_errors(NameRule::Subdomain, &long).is_empty());
        assert_eq!(
            name_errors(NameRule::Subdomain, &"a".repeat(254)),
            vec!["must be no more than 253 characters".to_string()]
        );
        assert_eq!(
            name_errors(NameRule::Label, &long),
            vec!["must be no more than 63 characters".to_string()]
        );
        assert_eq!(name_errors(NameRule::Dns1035, &long).len(), 1);
        assert_eq!(name_errors(NameRule::Dns1035, "1svc").len(), 1);
        assert_eq!(
            name_errors(NameRule::Label, &format!("{long}.b")).len(),
            2,
            "too long and not a label: both messages, as the real server"
        );
        assert!(name_errors(NameRule::PathSegment, "system:controller:Job").is_empty());
        assert_eq!(
            name_errors(NameRule::PathSegment, "a/b"),
            vec!["may not contain '/'".to_string()]
        );
        assert_eq!(
            name_errors(NameRule::PathSegment, ".."),
            vec!["may not be '..'".to_string()]
        );
    }

    #[test]
    fn names_follow_rfc1123() {
        assert!(is_subdomain("web.example-1"));
        assert!(!is_subdomain("Web"));
        assert!(!is_subdomain("-web"));
        assert!(!is_subdomain(""));
        assert!(name_errors(NameRule::Label, "ns-1").is_empty());
        assert!(!name_errors(NameRule::Label, "a.b").is_empty());
        assert!(name_errors(NameRule::Dns1035, "svc-1").is_empty());
    }

    #[test]
    fn pod_qos_classes_follow_compute_pod_qos() {
        let pod = |resources: Vec<Value>| {
            let containers: Vec<Value> = resources
                .into_iter()
                .enumerate()
                .map(|(i, r)| json!({"name": format!("c{i}"), "image": "x", "resources": r}))
                .collect();
            json!({"spec": {"containers": containers}})
        };
        assert_eq!(pod_qos_class(&pod(vec![json!({})])), "BestEffort");
        let full = json!({"limits": {"cpu": "100m", "memory": "64Mi"}, "requests": {"cpu": "0.1", "memory": "64Mi"}});
        assert_eq!(
            pod_qos_class(&pod(vec![full.clone(), full.clone()])),
            "Guaranteed"
        );
        let limits_only = json!({"limits": {"cpu": "1", "memory": "1Gi"}});
        assert_eq!(
            pod_qos_class(&pod(vec![limits_only.clone()])),
            "Burstable",
            "the server's defaulting copies limits into requests before QoS is computed"
        );
        let mut defaulted = pod(vec![limits_only]);
        if let Some(ps) = obj_at(&mut defaulted, &["spec"]) {
            default_pod_only(ps);
        }
        assert_eq!(pod_qos_class(&defaulted), "Guaranteed");
        let cpu_only = json!({"limits": {"cpu": "1"}, "requests": {"cpu": "1"}});
        assert_eq!(pod_qos_class(&pod(vec![cpu_only])), "Burstable");
        let unequal = json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}});
        assert_eq!(pod_qos_class(&pod(vec![unequal])), "Burstable");
        assert_eq!(pod_qos_class(&pod(vec![full, json!({})])), "Burstable");
        let zero = json!({"requests": {"cpu": "0"}, "limits": {"ephemeral-storage": "1Gi"}});
        assert_eq!(pod_qos_class(&pod(vec![zero])), "BestEffort");
    }

    #[test]
    fn new_pods_get_what_the_admission_plugins_add() {
        let mut pod = json!({"spec": {"containers": [{"name": "c", "image": "x"}],
            "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}]}});
        admit_pod(&mut pod, "abcde");
        let spec = &pod["spec"];
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["serviceAccount"], "default");
        assert_eq!(spec["volumes"][0]["name"], "kube-api-access-abcde");
        assert_eq!(
            spec["containers"][0]["volumeMounts"],
            json!([{"name": "kube-api-access-abcde", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}])
        );
        let keys: Vec<&str> = spec["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["key"].as_str().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "node.kubernetes.io/unreachable",
                "node.kubernetes.io/not-ready"
            ],
            "an existing toleration is kept, not doubled"
        );
        assert_eq!(
            (spec["priority"].clone(), spec["preemptionPolicy"].clone()),
            (json!(0), json!("PreemptLowerPriority"))
        );
        let mut own = json!({"spec": {"serviceAccountName": "robot", "automountServiceAccountToken": false, "priorityClassName": "high", "containers": [{"name": "c", "image": "x"}]}});
        admit_pod(&mut own, "abcde");
        assert_eq!(own["spec"]["serviceAccount"], "robot");
        assert!(
            own["spec"].get("volumes").is_none() && own["spec"].get("priority").is_none(),
            "{own}"
        );
    }

    #[test]
    fn quantities_parse() {
        assert_eq!(quantity_value(&json!("100m")), Some(0.1));
        assert_eq!(quantity_value(&json!("1Gi")), Some(1073741824.0));
        assert_eq!(quantity_value(&json!("2k")), Some(2000.0));
        assert_eq!(quantity_value(&json!("1e3")), Some(1000.0));
        assert_eq!(quantity_value(&json!(3)), Some(3.0));
        assert_eq!(quantity_value(&json!("x")), None);
    }

    #[test]
    fn string_data_moves_into_data() {
        let mut secret = json!({"data": {"a": "b2xk", "keep": "eA=="}, "stringData": {"a": "new", "user": "admin"}});
        merge_string_data(&mut secret);
        assert_eq!(
            secret,
            json!({"data": {"a": "bmV3", "keep": "eA==", "user": "YWRtaW4="}})
        );
        let mut only = json!({"stringData": {"k": ""}});
        merge_string_data(&mut only);
        assert_eq!(only, json!({"data": {"k": ""}}));
        let mut empty = json!({"stringData": {}});
        merge_string_data(&mut empty);
        assert_eq!(empty, json!({}));
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
