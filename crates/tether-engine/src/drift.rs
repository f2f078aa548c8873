//! Drift forensics, pure: for objects whose live state left what Git declares
//! (at the revision already synced), which fields changed, both values, and
//! who changed them, read from managedFields.

use std::collections::BTreeMap;

use serde_json::Value;
use tether_model::{Drift, DriftField, FIELD_MANAGER, ObjectRef, TRACKING_LABEL};
use tether_plan::plan::{Action, Plan};

/// Drift per object. Only meaningful when the plan compares against the
/// revision that was last synced successfully: otherwise a difference is Git
/// moving, not drift.
pub fn forensics(
    plan: &Plan,
    live: &BTreeMap<ObjectRef, Value>,
    inventory: &[ObjectRef],
) -> BTreeMap<ObjectRef, Drift> {
    let mut out = BTreeMap::new();
    for step in &plan.steps {
        match step.action {
            Action::Update => {
                let Some(obj) = live.get(&step.object) else {
                    continue;
                };
                let (manager, time) = last_writer(obj);
                let fields = step
                    .changes
                    .iter()
                    .map(|c| DriftField {
                        path: c.path.clone(),
                        git: c.desired.as_ref().map(Value::to_string).unwrap_or_default(),
                        live: c.live.as_ref().map(Value::to_string).unwrap_or_default(),
                    })
                    .collect();
                out.insert(
                    step.object.clone(),
                    Drift {
                        manager,
                        time,
                        fields,
                    },
                );
            }
            // Applied before, gone now: someone deleted it.
            Action::Create if inventory.contains(&step.object) => {
                out.insert(
                    step.object.clone(),
                    Drift {
                        manager: "deleted".into(),
                        time: None,
                        fields: Vec::new(),
                    },
                );
            }
            _ => {}
        }
    }
    out
}

/// The most recent writer other than the app itself, from managedFields (by
/// time; an entry without a time counts as oldest). The app is the manager
/// its tracking label names (`tether/<ns>.<name>`), or `tether`, the manager
/// every app shared before; another app's manager may be named. `unknown`
/// when only the app wrote.
pub fn last_writer(obj: &Value) -> (String, Option<String>) {
    let entries = obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let own = obj["metadata"]["labels"][TRACKING_LABEL]
        .as_str()
        .map(tether_model::field_manager_for);
    entries
        .iter()
        .filter(|e| {
            e["manager"]
                .as_str()
                .is_some_and(|m| m != FIELD_MANAGER && Some(m) != own.as_deref())
        })
        // Status writers (controllers) do not change what tether compares.
        .filter(|e| e["subresource"].as_str() != Some("status"))
        .max_by_key(|e| e["time"].as_str().unwrap_or("").to_string())
        .map(|e| {
            (
                e["manager"].as_str().unwrap_or("unknown").to_string(),
                e["time"].as_str().map(str::to_string),
            )
        })
        .unwrap_or_else(|| ("unknown".into(), None))
}

/// One line for logs and history: `Deployment.apps web/web: spec.replicas 3 → 2 by kubectl`.
pub fn describe(r: &ObjectRef, d: &Drift) -> String {
    if d.fields.is_empty() {
        return format!("{r}: {} ", d.manager).trim_end().to_string();
    }
    let fields: Vec<String> = d
        .fields
        .iter()
        .take(3)
        .map(|f| {
            let or_none = |v: &str| {
                if v.is_empty() {
                    "(none)".to_string()
                } else {
                    v.to_string()
                }
            };
            format!("{} {} → {}", f.path, or_none(&f.git), or_none(&f.live))
        })
        .collect();
    let more = if d.fields.len() > 3 {
        format!(" and {} more", d.fields.len() - 3)
    } else {
        String::new()
    };
    format!("{r}: {}{more} by {}", fields.join(", "), d.manager)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_latest_non_tether_writer_is_named() {
        let obj = json!({"metadata": {"managedFields": [
            {"manager": "tether", "operation": "Apply", "time": "2026-11-22T10:00:05Z"},
            {"manager": "kubectl-edit", "operation": "Update", "time": "2026-11-22T09:00:00Z"},
            {"manager": "kubectl", "operation": "Update", "subresource": "scale", "time": "2026-11-22T10:00:01Z"},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status", "time": "2026-11-22T10:00:09Z"},
        ]}});
        assert_eq!(
            last_writer(&obj),
            (
                "kubectl".to_string(),
                Some("2026-11-22T10:00:01Z".to_string())
            )
        );
        assert_eq!(last_writer(&json!({"metadata": {}})).0, "unknown");
    }

    #[test]
    fn the_apps_own_manager_is_never_the_culprit_another_apps_may_be() {
        let obj = json!({"metadata": {"labels": {"tether.dev/app": "tether.web"}, "managedFields": [
            {"manager": "kubectl-edit", "operation": "Update", "time": "2026-11-22T09:00:00Z"},
            {"manager": "tether/tether.web", "operation": "Apply", "time": "2026-11-22T10:00:05Z"},
            {"manager": "tether", "operation": "Apply", "time": "2026-11-22T10:00:06Z"},
        ]}});
        assert_eq!(last_writer(&obj).0, "kubectl-edit");
        let mut other = obj.clone();
        other["metadata"]["managedFields"]
            .as_array_mut()
            .unwrap()
            .push(json!({"manager": "tether/tether.other", "operation": "Apply", "time": "2026-11-22T10:00:07Z"}));
        assert_eq!(last_writer(&other).0, "tether/tether.other");
    }

    #[test]
    fn describe_names_fields_values_and_manager() {
        let r = ObjectRef::new("apps", "Deployment", "web", "web");
        let d = Drift {
            manager: "kubectl".into(),
            time: None,
            fields: vec![DriftField {
                path: "spec.replicas".into(),
                git: "3".into(),
                live: "2".into(),
            }],
        };
        assert_eq!(
            describe(&r, &d),
            "Deployment.apps web/web: spec.replicas 3 → 2 by kubectl"
        );
        let gone = Drift {
            manager: "deleted".into(),
            time: None,
            fields: vec![],
        };
        assert_eq!(describe(&r, &gone), "Deployment.apps web/web: deleted");
    }
}
