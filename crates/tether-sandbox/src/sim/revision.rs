//! ControllerRevisions, as the StatefulSet and DaemonSet controllers keep
//! them: one per pod template, named `<owner>-<hash>`, numbered in the order
//! the templates were rolled out (a template rolled back to becomes the
//! newest number again), trimmed to `revisionHistoryLimit`. `kubectl rollout
//! history` lists them and `kubectl rollout undo` patches their `data` back.

use serde_json::{Map, Value, json};

use super::util::{int_at, name, owner_ref, str_at, template_hash};

#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub create: Option<Value>,
    /// An existing revision to renumber (name, new revision).
    pub renumber: Option<(String, i64)>,
    pub delete: Vec<String>,
}

/// The revision's name for the owner's current template.
pub fn current_name(owner: &Value) -> String {
    format!(
        "{}-{}",
        name(owner),
        template_hash(&owner["spec"]["template"])
    )
}

/// What the revisions of `owner` need; `existing` are the ones it controls.
pub fn plan(owner: &Value, kind: &str, existing: &[&Value]) -> Plan {
    let mut plan = Plan::default();
    let want = current_name(owner);
    let max = existing
        .iter()
        .filter_map(|r| int_at(r, "/revision"))
        .max()
        .unwrap_or(0);
    match existing.iter().find(|r| name(r) == want) {
        Some(r) => {
            if int_at(r, "/revision").unwrap_or(0) < max {
                plan.renumber = Some((want.clone(), max + 1));
            }
        }
        None => {
            let mut template = owner["spec"]["template"].clone();
            if let Some(t) = template.as_object_mut() {
                t.insert("$patch".into(), json!("replace"));
            }
            let mut labels = owner
                .pointer("/spec/selector/matchLabels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            labels.insert(
                "controller.kubernetes.io/hash".into(),
                json!(template_hash(&owner["spec"]["template"])),
            );
            let mut annotations = Map::new();
            if let Some(a) = owner
                .pointer("/metadata/annotations")
                .and_then(Value::as_object)
            {
                for (k, v) in a {
                    if k != "kubectl.kubernetes.io/last-applied-configuration" {
                        annotations.insert(k.clone(), v.clone());
                    }
                }
            }
            let mut meta = json!({"name": want, "namespace": str_at(owner, "/metadata/namespace"), "labels": labels,
                "ownerReferences": [owner_ref(owner, "apps/v1", kind)]});
            if !annotations.is_empty() {
                meta["annotations"] = json!(annotations);
            }
            plan.create = Some(
                json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": meta,
                "data": {"spec": {"template": template}}, "revision": max + 1}),
            );
        }
    }
    // Keep the newest `revisionHistoryLimit` besides the current one.
    let limit = int_at(owner, "/spec/revisionHistoryLimit")
        .unwrap_or(10)
        .max(0) as usize;
    let keep_current = str_at(owner, "/status/currentRevision").to_string();
    let mut old: Vec<&&Value> = existing
        .iter()
        .filter(|r| name(r) != want && name(r) != keep_current)
        .collect();
    old.sort_by_key(|r| int_at(r, "/revision").unwrap_or(0));
    if old.len() > limit {
        plan.delete = old[..old.len() - limit]
            .iter()
            .map(|r| name(r).to_string())
            .collect();
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts(image: &str) -> Value {
        json!({"metadata": {"name": "db", "namespace": "default", "uid": "u", "annotations": {"kubernetes.io/change-cause": "why"}},
            "spec": {"revisionHistoryLimit": 1, "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": image}]}}}})
    }

    #[test]
    fn one_revision_per_template_renumbered_on_rollback_and_trimmed() {
        let first = plan(&sts("db:1"), "StatefulSet", &[])
            .create
            .expect("a revision");
        assert_eq!(first["revision"], 1);
        assert_eq!(first["metadata"]["name"], current_name(&sts("db:1")));
        assert_eq!(first["data"]["spec"]["template"]["$patch"], "replace");
        assert_eq!(first["metadata"]["labels"]["app"], "db");
        assert_eq!(
            first["metadata"]["annotations"]["kubernetes.io/change-cause"],
            "why"
        );
        assert_eq!(
            first["metadata"]["ownerReferences"][0]["kind"],
            "StatefulSet"
        );
        let second = plan(&sts("db:2"), "StatefulSet", &[&first])
            .create
            .expect("another");
        assert_eq!(second["revision"], 2);
        // Back to the first template: its revision becomes number 3.
        let back = plan(&sts("db:1"), "StatefulSet", &[&first, &second]);
        assert_eq!(back.create, None);
        assert_eq!(back.renumber, Some((name(&first).to_string(), 3)));
        // A third template with a limit of one old revision drops the oldest.
        let third = plan(&sts("db:3"), "StatefulSet", &[&first, &second]);
        assert_eq!(third.delete, vec![name(&first).to_string()]);
    }
}
