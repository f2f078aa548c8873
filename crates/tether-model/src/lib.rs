//! tether's shared vocabulary: the `Application` CRD types, its status, object
//! identity and the labels and annotations tether reads and writes. No I/O.

pub mod application;
pub mod inventory;
pub mod notifier;
pub mod object;
pub mod status;
pub mod sync_request;
pub mod text;

pub use application::*;
pub use inventory::{Inventory, InventoryEntry, ResourceCounts};
pub use notifier::{Notifier, NotifierSpec, NotifierStatus};
pub use object::ObjectRef;
pub use status::*;
pub use sync_request::{
    SYNC_REQUEST_ANNOTATION, SyncOptions, SyncRequestAnnotation, sync_options_for,
};

/// Field manager of what tether applies outside any app (namespaces it creates, its own
/// CRD), and the one every app shared before each app got its own ([`field_manager`]).
pub const FIELD_MANAGER: &str = "tether";
/// Label on every applied object: `<app-namespace>.<app-name>`. Prune and drift use it.
pub const TRACKING_LABEL: &str = "tether.dev/app";
/// Annotation on every applied object naming its app and source: `<app-ns>/<app-name>:<repo>@<path>`.
pub const TRACKING_ANNOTATION: &str = "tether.dev/tracking";
/// Integer; lower waves apply first.
pub const SYNC_WAVE_ANNOTATION: &str = "tether.dev/sync-wave";
/// On an object in Git: sync options for that object, comma-separated `Key=value`, in the
/// style of Argo CD's `argocd.argoproj.io/sync-options`. `TakeOver=true` lets this app take
/// the object over from another app that manages it.
pub const SYNC_OPTIONS_ANNOTATION: &str = "tether.dev/sync-options";
/// The sync option (on an object, or on the Application) that takes objects over from
/// another app instead of reporting a `SharedResource` conflict.
pub const TAKE_OVER_OPTION: &str = "TakeOver";
/// `disabled` keeps an object from being pruned.
pub const PRUNE_ANNOTATION: &str = "tether.dev/prune";
/// `ignore` leaves an object out of the diff.
pub const COMPARE_ANNOTATION: &str = "tether.dev/compare";
/// On an Application: any new value asks the agent to refresh from Git and sync now.
pub const REFRESH_ANNOTATION: &str = "tether.dev/refresh";
/// A refresh value with this prefix is a hard refresh: the app is rendered
/// again even when its input's result, or its failure, is cached.
pub const HARD_REFRESH_PREFIX: &str = "hard:";
/// On an Application: who asked for the refresh (`user:<name>`), recorded as the initiator.
pub const REFRESH_BY_ANNOTATION: &str = "tether.dev/refresh-by";

/// On an Application: hold the app at this commit (`tether app rollback`). Auto-sync does
/// not move it forward until Git moves on or `tether app sync` removes the annotation.
pub const ROLLBACK_ANNOTATION: &str = "tether.dev/rollback";
/// On an Application: deleting it deletes its objects first (the CLI's default, as in Argo CD).
pub const CASCADE_FINALIZER: &str = "tether.dev/resources-finalizer";

/// The tracking label's value for an app.
pub fn tracking_value(app_namespace: &str, app_name: &str) -> String {
    format!("{app_namespace}.{app_name}")
}

/// The app's own field manager for server-side apply, `tether/<app-namespace>.<app-name>`, so
/// that the API server reports conflicts between apps. At most 70 characters: the tracking
/// value is refused over 63 before anything is applied (a field manager may have 128).
pub fn field_manager(app_namespace: &str, app_name: &str) -> String {
    field_manager_for(&tracking_value(app_namespace, app_name))
}

/// The field manager of the app whose tracking label value is `tracking`.
pub fn field_manager_for(tracking: &str) -> String {
    format!("{FIELD_MANAGER}/{tracking}")
}

/// The app a tracking label value names, `(namespace, name)`. Namespaces cannot
/// contain dots, so the first dot splits them; app names may hold more.
pub fn parse_tracking(value: &str) -> Option<(&str, &str)> {
    let (ns, name) = value.split_once('.')?;
    (!ns.is_empty() && !name.is_empty()).then_some((ns, name))
}

/// Whether a comma-separated `Key=value` list (the `tether.dev/sync-options`
/// annotation) turns `option` on: `Key` alone or any value but `false`.
pub fn option_in_list(list: &str, option: &str) -> bool {
    list.split(',').any(|o| {
        let o = o.trim();
        let (k, v) = o.split_once('=').unwrap_or((o, "true"));
        k.trim().eq_ignore_ascii_case(option) && !v.trim().eq_ignore_ascii_case("false")
    })
}

/// The CRD as YAML, generated from the Rust types.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    let crd = Application::crd();
    let value = serde_json::to_value(&crd).expect("the CRD serialises");
    let mut out = String::new();
    out.push_str(
        "# Generated from crates/tether-model (Application::crd()); `tether crd` prints it.\n",
    );
    out.push_str(&to_yaml(&value));
    out
}

/// YAML for a JSON value, keeping key order. Shared by the CLI and the diff printer.
pub fn to_yaml(value: &serde_json::Value) -> String {
    serde_saphyr::to_string(value).unwrap_or_else(|e| format!("# cannot print as YAML: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crd_has_the_names_and_schema() {
        use kube::CustomResourceExt;
        let crd = Application::crd();
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("applications.tether.dev")
        );
        assert_eq!(crd.spec.names.short_names, Some(vec!["app".to_string()]));
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        assert!(v.subresources.as_ref().unwrap().status.is_some());
        let schema = serde_json::to_value(&v.schema).unwrap();
        let spec = &schema["openAPIV3Schema"]["properties"]["spec"]["properties"];
        assert!(
            spec["source"]["properties"]["repoURL"].is_object(),
            "{spec}"
        );
        assert!(spec["syncPolicy"].is_object());
    }

    #[test]
    fn crd_yaml_parses_back_to_the_same_value() {
        use kube::CustomResourceExt;
        let yaml = crd_yaml();
        let back: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, serde_json::to_value(Application::crd()).unwrap());
    }

    #[test]
    fn yaml_quotes_what_would_be_misread() {
        let v = serde_json::json!({"a": "true", "b": "1.0", "c": "plain", "d": "", "e": "x: y",
            "f": ["- dash", {"k": "v", "k2": [1, 2]}], "g": "line1\nline2\n", "h": {}, "i": []});
        let yaml = to_yaml(&v);
        let back: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, v, "{yaml}");
    }

    #[test]
    fn sync_options_parse() {
        let spec = ApplicationSpec {
            sync_policy: Some(SyncPolicy {
                sync_options: vec![
                    "CreateNamespace=true".into(),
                    "PruneLast=false".into(),
                    "ServerSideApply=force-conflicts".into(),
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(spec.sync_option("CreateNamespace"));
        assert!(!spec.sync_option("PruneLast"));
        assert!(spec.force_conflicts());
    }

    #[test]
    fn each_app_has_its_own_field_manager() {
        assert_eq!(field_manager("tether", "web"), "tether/tether.web");
        assert_ne!(field_manager("a", "web"), field_manager("b", "web"));
        // The longest tracking value tether accepts (63) stays far under 128.
        let longest = field_manager(&"n".repeat(31), &"a".repeat(31));
        assert_eq!(longest.len(), 70);
        assert_eq!(parse_tracking("tether.web.v2"), Some(("tether", "web.v2")));
        assert_eq!(parse_tracking("nodot"), None);
        assert_eq!(parse_tracking(".web"), None);
        assert_eq!(parse_tracking("ns."), None);
    }

    #[test]
    fn object_sync_options_parse_like_argo_cds() {
        assert!(option_in_list("TakeOver=true", TAKE_OVER_OPTION));
        assert!(option_in_list(
            "Prune=false, takeover=TRUE",
            TAKE_OVER_OPTION
        ));
        assert!(option_in_list("TakeOver", TAKE_OVER_OPTION));
        assert!(!option_in_list("TakeOver=false", TAKE_OVER_OPTION));
        assert!(!option_in_list("", TAKE_OVER_OPTION));
        assert!(!option_in_list("TakeOverX=true", TAKE_OVER_OPTION));
    }

    #[test]
    fn health_orders_worst_last() {
        assert!(HealthCode::Degraded > HealthCode::Missing);
        assert!(HealthCode::Missing > HealthCode::Progressing);
        assert!(HealthCode::Progressing > HealthCode::Healthy);
    }
}
