//! Apply order: stages first (CRDs and Namespaces, then everything else, then
//! admission webhooks), then sync waves, then the Helm/Argo CD kind order, then
//! namespace and name so that the order never depends on the order of the
//! render. Pruning walks the same order backwards.

use serde_json::Value;
use tether_model::object::split_api_version;
use tether_model::{ObjectRef, SYNC_WAVE_ANNOTATION};

/// Coarse phases of an apply. The engine waits between stages (CRDs must be
/// Established and Namespaces Active before anything that lives in them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// CustomResourceDefinitions and Namespaces: everything else may need them.
    Foundation,
    /// Everything that is neither foundation nor webhook.
    Main,
    /// Validating/MutatingWebhookConfiguration. Last, because a webhook whose
    /// backing Service is not up yet would reject the rest of the apply.
    Webhooks,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Foundation => "Foundation",
            Stage::Main => "Main",
            Stage::Webhooks => "Webhooks",
        }
    }
}

/// The stage an object of this group and kind is applied in.
pub fn stage(group: &str, kind: &str) -> Stage {
    match (group, kind) {
        ("", "Namespace") | ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            Stage::Foundation
        }
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration")
        | ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => Stage::Webhooks,
        _ => Stage::Main,
    }
}

/// Helm's install order, which Argo CD follows too. Each kind lists the groups
/// it is built in under (legacy `extensions` included) so that a custom
/// resource that happens to be called `Service` or `Job` is not mistaken for
/// the built-in one.
const KIND_ORDER: &[(&str, &[&str])] = &[
    ("Namespace", &[""]),
    ("NetworkPolicy", &["networking.k8s.io", "extensions"]),
    ("ResourceQuota", &[""]),
    ("LimitRange", &[""]),
    ("PodSecurityPolicy", &["policy", "extensions"]),
    ("PodDisruptionBudget", &["policy"]),
    ("ServiceAccount", &[""]),
    ("Secret", &[""]),
    ("ConfigMap", &[""]),
    ("StorageClass", &["storage.k8s.io"]),
    ("PersistentVolume", &[""]),
    ("PersistentVolumeClaim", &[""]),
    ("CustomResourceDefinition", &["apiextensions.k8s.io"]),
    ("ClusterRole", &["rbac.authorization.k8s.io"]),
    ("ClusterRoleBinding", &["rbac.authorization.k8s.io"]),
    ("Role", &["rbac.authorization.k8s.io"]),
    ("RoleBinding", &["rbac.authorization.k8s.io"]),
    ("Service", &[""]),
    ("DaemonSet", &["apps", "extensions"]),
    ("Pod", &[""]),
    ("ReplicationController", &[""]),
    ("ReplicaSet", &["apps", "extensions"]),
    ("Deployment", &["apps", "extensions"]),
    ("HorizontalPodAutoscaler", &["autoscaling"]),
    ("StatefulSet", &["apps"]),
    ("Job", &["batch"]),
    ("CronJob", &["batch"]),
    ("IngressClass", &["networking.k8s.io"]),
    ("Ingress", &["networking.k8s.io", "extensions"]),
    ("APIService", &["apiregistration.k8s.io"]),
];

/// Position of a kind in the install order; unknown kinds (custom resources)
/// come after every built-in one, since they usually depend on controllers
/// and CRDs that the built-in kinds set up.
pub fn kind_rank(group: &str, kind: &str) -> u32 {
    KIND_ORDER
        .iter()
        .position(|(k, groups)| *k == kind && groups.contains(&group))
        .unwrap_or(KIND_ORDER.len()) as u32
}

/// The object's sync wave from `tether.dev/sync-wave`; 0 when absent or blank.
/// The error names the object, because a render may hold hundreds.
pub fn wave(obj: &Value) -> Result<i64, String> {
    let Some(raw) = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(SYNC_WAVE_ANNOTATION))
    else {
        return Ok(0);
    };
    let who = describe(obj);
    match raw {
        Value::Null => Ok(0),
        Value::String(s) if s.trim().is_empty() => Ok(0),
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| {
            format!("{who}: annotation {SYNC_WAVE_ANNOTATION} must be an integer, got {s:?}")
        }),
        // Annotation values are strings in Kubernetes; an unquoted YAML number
        // would be rejected by the API server, so say so here, on the object.
        other => Err(format!(
            "{who}: annotation {SYNC_WAVE_ANNOTATION} must be a string holding an integer \
             (quote it in YAML), got {other}"
        )),
    }
}

/// The apply-order key: (stage, wave, kind rank, namespace, name). Apply order
/// is ascending, prune order descending. A malformed wave counts as 0 here;
/// [`crate::plan::plan`] rejects such objects before it orders anything.
pub fn sort_key(obj: &Value) -> (Stage, i64, u32, String, String) {
    let (group, kind) = group_kind(obj);
    let meta = obj.get("metadata");
    let field = |f: &str| {
        meta.and_then(|m| m.get(f))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (
        stage(group, kind),
        wave(obj).unwrap_or(0),
        kind_rank(group, kind),
        field("namespace"),
        field("name"),
    )
}

/// The key for an object already identified, with its wave already read.
pub fn key_of(r: &ObjectRef, wave: i64) -> (Stage, i64, u32, String, String) {
    (
        stage(&r.group, &r.kind),
        wave,
        kind_rank(&r.group, &r.kind),
        r.namespace.clone(),
        r.name.clone(),
    )
}

fn group_kind(obj: &Value) -> (&str, &str) {
    let group = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(|v| split_api_version(v).0)
        .unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    (group, kind)
}

/// `Deployment demo/web` for messages, or as much as the object tells.
pub(crate) fn describe(obj: &Value) -> String {
    match ObjectRef::of(obj) {
        Some(r) => r.to_string(),
        None => {
            let (_, kind) = group_kind(obj);
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("<unnamed>");
            let kind = if kind.is_empty() { "<no kind>" } else { kind };
            format!("{kind} {name}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(api: &str, kind: &str, ns: &str, name: &str, wave: Option<&str>) -> Value {
        let mut o = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}});
        if !ns.is_empty() {
            o["metadata"]["namespace"] = json!(ns);
        }
        if let Some(w) = wave {
            o["metadata"]["annotations"] = json!({ SYNC_WAVE_ANNOTATION: w });
        }
        o
    }

    fn name_of(o: &Value) -> String {
        format!(
            "{}/{}",
            o["kind"].as_str().unwrap(),
            o["metadata"]["name"].as_str().unwrap()
        )
    }

    #[test]
    fn wave_defaults_to_zero() {
        assert_eq!(wave(&obj("v1", "ConfigMap", "d", "c", None)), Ok(0));
        let no_meta = json!({"kind": "ConfigMap"});
        assert_eq!(wave(&no_meta), Ok(0));
        let other_annotations = json!({"metadata": {"annotations": {"a": "b"}}});
        assert_eq!(wave(&other_annotations), Ok(0));
    }

    #[test]
    fn wave_parses_signed_integers_and_whitespace() {
        assert_eq!(wave(&obj("v1", "ConfigMap", "d", "c", Some("5"))), Ok(5));
        assert_eq!(wave(&obj("v1", "ConfigMap", "d", "c", Some("-3"))), Ok(-3));
        assert_eq!(wave(&obj("v1", "ConfigMap", "d", "c", Some("+2"))), Ok(2));
        assert_eq!(wave(&obj("v1", "ConfigMap", "d", "c", Some(" 7 "))), Ok(7));
        assert_eq!(wave(&obj("v1", "ConfigMap", "d", "c", Some(""))), Ok(0));
    }

    #[test]
    fn wave_rejects_non_integers_naming_the_object() {
        for bad in ["abc", "1.5", "1e3", "99999999999999999999"] {
            let err = wave(&obj("apps/v1", "Deployment", "demo", "web", Some(bad))).unwrap_err();
            assert!(err.contains("Deployment.apps demo/web"), "{err}");
            assert!(err.contains(SYNC_WAVE_ANNOTATION), "{err}");
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn wave_rejects_unquoted_numbers() {
        let mut o = obj("v1", "ConfigMap", "d", "c", None);
        o["metadata"]["annotations"] = json!({ SYNC_WAVE_ANNOTATION: 3 });
        let err = wave(&o).unwrap_err();
        assert!(err.contains("quote"), "{err}");
        assert!(err.contains("ConfigMap d/c"), "{err}");
    }

    #[test]
    fn stages() {
        assert_eq!(stage("", "Namespace"), Stage::Foundation);
        assert_eq!(
            stage("apiextensions.k8s.io", "CustomResourceDefinition"),
            Stage::Foundation
        );
        assert_eq!(
            stage(
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration"
            ),
            Stage::Webhooks
        );
        assert_eq!(
            stage(
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration"
            ),
            Stage::Webhooks
        );
        assert_eq!(stage("apps", "Deployment"), Stage::Main);
        // A custom resource that borrows a built-in name is not foundation.
        assert_eq!(stage("example.com", "Namespace"), Stage::Main);
        assert!(Stage::Foundation < Stage::Main && Stage::Main < Stage::Webhooks);
    }

    #[test]
    fn kind_rank_follows_the_install_order() {
        let order = [
            ("", "Namespace"),
            ("networking.k8s.io", "NetworkPolicy"),
            ("", "ResourceQuota"),
            ("", "LimitRange"),
            ("policy", "PodSecurityPolicy"),
            ("policy", "PodDisruptionBudget"),
            ("", "ServiceAccount"),
            ("", "Secret"),
            ("", "ConfigMap"),
            ("storage.k8s.io", "StorageClass"),
            ("", "PersistentVolume"),
            ("", "PersistentVolumeClaim"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "RoleBinding"),
            ("", "Service"),
            ("apps", "DaemonSet"),
            ("", "Pod"),
            ("", "ReplicationController"),
            ("apps", "ReplicaSet"),
            ("apps", "Deployment"),
            ("autoscaling", "HorizontalPodAutoscaler"),
            ("apps", "StatefulSet"),
            ("batch", "Job"),
            ("batch", "CronJob"),
            ("networking.k8s.io", "IngressClass"),
            ("networking.k8s.io", "Ingress"),
            ("apiregistration.k8s.io", "APIService"),
            ("example.com", "Widget"),
        ];
        let ranks: Vec<u32> = order.iter().map(|(g, k)| kind_rank(g, k)).collect();
        for pair in ranks.windows(2) {
            assert!(pair[0] < pair[1], "{ranks:?}");
        }
    }

    #[test]
    fn kind_rank_is_group_aware() {
        let unknown = kind_rank("example.com", "Widget");
        assert_eq!(kind_rank("example.com", "Deployment"), unknown);
        assert_eq!(kind_rank("serving.knative.dev", "Service"), unknown);
        assert_eq!(
            kind_rank("extensions", "Deployment"),
            kind_rank("apps", "Deployment")
        );
        assert_eq!(
            kind_rank("extensions", "Ingress"),
            kind_rank("networking.k8s.io", "Ingress")
        );
        assert!(kind_rank("", "Secret") < unknown);
    }

    #[test]
    fn sort_key_orders_stage_then_wave_then_kind_then_name() {
        let mut objs = vec![
            obj(
                "admissionregistration.k8s.io/v1",
                "ValidatingWebhookConfiguration",
                "",
                "hook",
                Some("-10"),
            ),
            obj("example.com/v1", "Widget", "demo", "w", None),
            obj("apps/v1", "Deployment", "demo", "web", None),
            obj("v1", "Service", "demo", "web", None),
            obj("v1", "ConfigMap", "demo", "b", None),
            obj("v1", "ConfigMap", "demo", "a", None),
            obj("v1", "ConfigMap", "alpha", "z", None),
            obj("batch/v1", "Job", "demo", "migrate", Some("-1")),
            obj("v1", "ConfigMap", "demo", "late", Some("2")),
            obj(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "",
                "widgets.example.com",
                Some("5"),
            ),
            obj("v1", "Namespace", "", "demo", None),
        ];
        objs.sort_by_key(sort_key);
        let names: Vec<String> = objs.iter().map(name_of).collect();
        assert_eq!(
            names,
            [
                // Foundation, even with a later wave than the rest.
                "Namespace/demo",
                "CustomResourceDefinition/widgets.example.com",
                // Main: wave -1, then wave 0 by kind, then wave 2.
                "Job/migrate",
                "ConfigMap/z",
                "ConfigMap/a",
                "ConfigMap/b",
                "Service/web",
                "Deployment/web",
                "Widget/w",
                "ConfigMap/late",
                // Webhooks last even with a negative wave.
                "ValidatingWebhookConfiguration/hook",
            ]
        );
    }

    #[test]
    fn sort_key_treats_a_bad_wave_as_zero() {
        let o = obj("v1", "ConfigMap", "d", "c", Some("soon"));
        assert_eq!(sort_key(&o).1, 0);
        assert_eq!(sort_key(&o).4, "c");
    }

    #[test]
    fn key_of_matches_sort_key() {
        let o = obj("apps/v1", "Deployment", "demo", "web", Some("3"));
        let r = ObjectRef::of(&o).unwrap();
        assert_eq!(key_of(&r, 3), sort_key(&o));
    }

    #[test]
    fn describe_unidentified_objects() {
        assert_eq!(
            describe(&json!({"kind": "ConfigMap"})),
            "ConfigMap <unnamed>"
        );
        assert_eq!(describe(&json!({"metadata": {"name": "x"}})), "<no kind> x");
    }
}
