//! Ownership, pure: one app per object. Before an object is applied, Plan
//! asks whose it is now, from the live copy's `tether.dev/app` tracking label
//! and what the engine learned about the app that label names:
//!
//! - no live copy, or it already carries this app's label: this app's;
//! - no label: an object nobody manages, adopted (and recorded as adopted);
//! - another app's label, and that app is gone or no longer holds the object
//!   in its inventory: an orphan, adopted likewise;
//! - another app's label, and that app holds it: a `SharedResource` conflict,
//!   so the object is not applied, unless this app takes it over explicitly
//!   (`tether.dev/sync-options: TakeOver=true` on the object in Git, or the
//!   Application's syncOption `TakeOver=true`). Two apps that both ask to take
//!   the same object are a conflict too, or they would take it from each other
//!   on every sync.
//!
//! Each app applies as its own field manager, `tether/<ns>.<name>`. An object
//! that changes hands has the previous manager's managedFields entry folded
//! into the new one ([`fold_managers`]) before it is applied, so fields the
//! new owner's Git leaves out are removed rather than kept alive by a manager
//! nobody applies as any more. The same migrates objects applied as `tether`,
//! the manager every app shared before.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use tether_model::{
    FIELD_MANAGER, ObjectRef, SYNC_OPTIONS_ANNOTATION, TAKE_OVER_OPTION, TRACKING_LABEL,
};

/// How an object this app applies changes hands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The live object has no tracking label: nobody manages it; adopted.
    Adopt,
    /// The live object's label names an app (`namespace/name`) that is gone
    /// or no longer holds it: adopted.
    Orphan { from: String },
    /// Another app (`namespace/name`) holds it, and this app takes it over.
    TakeOver { from: String },
    /// Another app (`namespace/name`) holds it: not applied.
    Shared { owner: String },
}

impl Claim {
    /// The app it came from (or stays with), `namespace/name`.
    pub fn other_app(&self) -> Option<&str> {
        match self {
            Claim::Adopt => None,
            Claim::Orphan { from } | Claim::TakeOver { from } => Some(from),
            Claim::Shared { owner } => Some(owner),
        }
    }
}

/// What the engine learned about the existing app that a live object's
/// tracking label names and whose inventory holds that object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holder {
    /// That app takes objects over itself (its syncOption `TakeOver=true`).
    pub takes_over: bool,
}

/// Per desired object whose live copy carries another app's label: that app,
/// when it exists and holds the object. Objects not in the map are orphans.
pub type Holders = BTreeMap<ObjectRef, Holder>;

/// The app a tracking label value names, as people write it: `namespace/name`.
pub fn app_display(tracking: &str) -> String {
    match tether_model::parse_tracking(tracking) {
        Some((ns, name)) => format!("{ns}/{name}"),
        None => tracking.to_string(),
    }
}

fn tracking_label(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/labels")
        .and_then(|l| l.get(TRACKING_LABEL))
        .and_then(Value::as_str)
}

/// Whether the object (as written in Git, or as live) asks to be taken over:
/// `tether.dev/sync-options: TakeOver=true`.
pub fn takes_over(obj: &Value) -> bool {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(SYNC_OPTIONS_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(|list| tether_model::option_in_list(list, TAKE_OVER_OPTION))
}

/// Whose the live object is, seen from the app with tracking value
/// `tracking`: None when it is this app's (or there is no live copy).
/// `app_takes_over` is the Application's syncOption `TakeOver`; `holder` is
/// what the engine found for the app the live label names (None: that app
/// is gone or does not hold the object).
pub fn claim(
    desired: &Value,
    live: Option<&Value>,
    tracking: &str,
    app_takes_over: bool,
    holder: Option<&Holder>,
) -> Option<Claim> {
    let live = live?;
    let other = match tracking_label(live) {
        None => return Some(Claim::Adopt),
        Some(l) if l == tracking => return None,
        Some(l) => app_display(l),
    };
    let Some(holder) = holder else {
        return Some(Claim::Orphan { from: other });
    };
    let wants = app_takes_over || takes_over(desired);
    // The live copy is the owner's Git: it asks to take the object too.
    let contested = holder.takes_over || takes_over(live);
    if wants && !contested {
        Some(Claim::TakeOver { from: other })
    } else {
        Some(Claim::Shared { owner: other })
    }
}

/// Why an object is not applied, naming both apps and the object, and what to
/// do: the reason of a [`Claim::Shared`] step.
pub fn shared_reason(object: &ObjectRef, owner: &str, tracking: &str, wants: bool) -> String {
    let me = app_display(tracking);
    if wants {
        format!(
            "{object} is managed by app {owner}, which takes it over too; app {me} does not apply it \
             (remove TakeOver from one of the two apps)"
        )
    } else {
        format!(
            "{object} is managed by app {owner}; app {me} does not apply it \
             (to move it to {me}, annotate it {SYNC_OPTIONS_ANNOTATION}: {TAKE_OVER_OPTION}=true in Git, \
             or set the syncOption {TAKE_OVER_OPTION}=true)"
        )
    }
}

/// The field managers whose Apply entries are folded into this app's before
/// the object is applied: the shared `tether` of older versions, and the
/// previous owner's manager when the object changes hands.
pub fn managers_to_fold(live: Option<&Value>, claim: Option<&Claim>) -> Vec<String> {
    let mut out = Vec::new();
    let Some(live) = live else { return out };
    let present = |m: &str| {
        live.pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .is_some_and(|es| es.iter().any(|e| is_apply_entry_of(e, m)))
    };
    if present(FIELD_MANAGER) {
        out.push(FIELD_MANAGER.to_string());
    }
    if let Some(Claim::TakeOver { from } | Claim::Orphan { from }) = claim {
        let previous = tether_model::field_manager_for(&from.replacen('/', ".", 1));
        if present(&previous) {
            out.push(previous);
        }
    }
    out
}

fn is_apply_entry_of(entry: &Value, manager: &str) -> bool {
    entry["manager"] == manager
        && entry["operation"] == "Apply"
        && entry["subresource"].as_str().unwrap_or("").is_empty()
}

/// managedFields with the Apply entries of `from` folded into `into`'s: their
/// field sets merged into one entry of `into` (made if missing), theirs
/// removed. None when there is nothing to fold. The merged set is what `into`
/// is taken to have applied, so its next apply removes whatever Git no
/// longer declares, as the previous manager's would have.
pub fn fold_managers(entries: &[Value], from: &[String], into: &str) -> Option<Vec<Value>> {
    let folded: Vec<&Value> = entries
        .iter()
        .filter(|e| from.iter().any(|m| is_apply_entry_of(e, m)))
        .collect();
    if folded.is_empty() {
        return None;
    }
    let mut merged = Value::Object(Map::new());
    let mut api_version = None;
    let mut time = None;
    let mut mine = None;
    for e in entries.iter() {
        if is_apply_entry_of(e, into) {
            mine = Some(e.clone());
        }
    }
    for e in folded.iter().copied().chain(mine.iter()) {
        merge_fields(&mut merged, &e["fieldsV1"]);
        if api_version.is_none() || mine.as_ref() == Some(e) {
            api_version = e.get("apiVersion").cloned();
        }
        let t = e.get("time").cloned();
        if t.as_ref().and_then(Value::as_str) > time.as_ref().and_then(Value::as_str) {
            time = t;
        }
    }
    let mut entry = Map::new();
    entry.insert("manager".into(), Value::String(into.to_string()));
    entry.insert("operation".into(), Value::String("Apply".into()));
    if let Some(v) = api_version {
        entry.insert("apiVersion".into(), v);
    }
    if let Some(t) = time {
        entry.insert("time".into(), t);
    }
    entry.insert("fieldsType".into(), Value::String("FieldsV1".into()));
    entry.insert("fieldsV1".into(), merged);
    let mut out: Vec<Value> = entries
        .iter()
        .filter(|e| !from.iter().any(|m| is_apply_entry_of(e, m)) && !is_apply_entry_of(e, into))
        .cloned()
        .collect();
    out.push(Value::Object(entry));
    Some(out)
}

/// Union of two FieldsV1 trees (nested maps; leaves are `{}`).
fn merge_fields(into: &mut Value, from: &Value) {
    let (Value::Object(a), Value::Object(b)) = (into, from) else {
        return;
    };
    for (k, v) in b {
        match a.get_mut(k) {
            Some(existing) => merge_fields(existing, v),
            None => {
                a.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ME: &str = "tether.second";

    fn obj(label: Option<&str>, take_over: bool) -> Value {
        let mut o = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "shared", "namespace": "demo", "labels": {}, "annotations": {}}});
        if let Some(l) = label {
            o["metadata"]["labels"][TRACKING_LABEL] = json!(l);
        }
        if take_over {
            o["metadata"]["annotations"][SYNC_OPTIONS_ANNOTATION] = json!("TakeOver=true");
        }
        o
    }

    #[test]
    fn own_or_absent_objects_are_no_claim() {
        let desired = obj(Some(ME), false);
        assert_eq!(claim(&desired, None, ME, false, None), None);
        assert_eq!(
            claim(&desired, Some(&obj(Some(ME), false)), ME, true, None),
            None
        );
    }

    #[test]
    fn an_unlabelled_object_is_adopted() {
        let desired = obj(Some(ME), false);
        assert_eq!(
            claim(&desired, Some(&obj(None, false)), ME, false, None),
            Some(Claim::Adopt)
        );
    }

    #[test]
    fn another_apps_object_is_a_conflict_unless_taken_over() {
        let live = obj(Some("tether.first"), false);
        let holder = Holder::default();
        let shared = Some(Claim::Shared {
            owner: "tether/first".into(),
        });
        let taken = Some(Claim::TakeOver {
            from: "tether/first".into(),
        });
        assert_eq!(
            claim(&obj(Some(ME), false), Some(&live), ME, false, Some(&holder)),
            shared
        );
        // By the annotation on the object in Git, or the Application's option.
        assert_eq!(
            claim(&obj(Some(ME), true), Some(&live), ME, false, Some(&holder)),
            taken
        );
        assert_eq!(
            claim(&obj(Some(ME), false), Some(&live), ME, true, Some(&holder)),
            taken
        );
    }

    #[test]
    fn two_apps_that_both_take_over_do_not_take_turns() {
        let desired = obj(Some(ME), true);
        let shared = Some(Claim::Shared {
            owner: "tether/first".into(),
        });
        // The owner's Git asks for it too (its copy carries the annotation)…
        let live = obj(Some("tether.first"), true);
        assert_eq!(
            claim(&desired, Some(&live), ME, true, Some(&Holder::default())),
            shared
        );
        // …or the owner's Application does.
        let live = obj(Some("tether.first"), false);
        let greedy = Holder { takes_over: true };
        assert_eq!(
            claim(&desired, Some(&live), ME, true, Some(&greedy)),
            shared
        );
    }

    #[test]
    fn an_object_whose_app_is_gone_is_adopted_as_an_orphan() {
        let live = obj(Some("tether.gone"), false);
        assert_eq!(
            claim(&obj(Some(ME), false), Some(&live), ME, false, None),
            Some(Claim::Orphan {
                from: "tether/gone".into()
            })
        );
    }

    #[test]
    fn the_shared_reason_names_both_apps_the_object_and_the_way_out() {
        let r = ObjectRef::new("", "ConfigMap", "demo", "shared");
        let text = shared_reason(&r, "tether/first", ME, false);
        assert!(text.starts_with("ConfigMap demo/shared is managed by app tether/first; app tether/second does not apply it"), "{text}");
        assert!(
            text.contains("tether.dev/sync-options: TakeOver=true"),
            "{text}"
        );
        let both = shared_reason(&r, "tether/first", ME, true);
        assert!(both.contains("takes it over too"), "{both}");
    }

    fn entry(manager: &str, op: &str, fields: Value) -> Value {
        json!({"manager": manager, "operation": op, "apiVersion": "v1", "time": "2026-12-01T00:00:00Z",
               "fieldsType": "FieldsV1", "fieldsV1": fields})
    }

    #[test]
    fn the_old_shared_manager_and_a_previous_owner_are_folded() {
        let mut live = obj(Some("tether.first"), false);
        live["metadata"]["managedFields"] = json!([
            entry("tether", "Apply", json!({})),
            entry("tether/tether.first", "Apply", json!({})),
            entry("kubectl", "Update", json!({})),
        ]);
        assert_eq!(managers_to_fold(Some(&live), None), ["tether"]);
        let from = Claim::TakeOver {
            from: "tether/first".into(),
        };
        assert_eq!(
            managers_to_fold(Some(&live), Some(&from)),
            ["tether", "tether/tether.first"]
        );
        // Never another app's that keeps it, never an Update entry.
        let shared = Claim::Shared {
            owner: "tether/first".into(),
        };
        assert_eq!(managers_to_fold(Some(&live), Some(&shared)), ["tether"]);
        live["metadata"]["managedFields"] = json!([entry("tether", "Update", json!({}))]);
        assert!(managers_to_fold(Some(&live), None).is_empty());
        assert!(managers_to_fold(None, None).is_empty());
    }

    #[test]
    fn folding_merges_field_sets_into_one_entry_of_the_new_manager() {
        let entries = vec![
            entry(
                "tether",
                "Apply",
                json!({"f:data": {"f:old": {}, "f:kept": {}}, "f:metadata": {"f:labels": {"f:a": {}}}}),
            ),
            entry(
                "kubectl-edit",
                "Update",
                json!({"f:data": {"f:edited": {}}}),
            ),
            entry(
                "tether/tether.second",
                "Apply",
                json!({"f:data": {"f:new": {}}}),
            ),
        ];
        let out = fold_managers(&entries, &["tether".into()], "tether/tether.second").unwrap();
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(
            out[0]["manager"], "kubectl-edit",
            "others are kept as they were"
        );
        let mine = &out[1];
        assert_eq!(mine["manager"], "tether/tether.second");
        assert_eq!(mine["operation"], "Apply");
        assert_eq!(
            mine["fieldsV1"],
            json!({"f:data": {"f:old": {}, "f:kept": {}, "f:new": {}}, "f:metadata": {"f:labels": {"f:a": {}}}})
        );
        // Renamed when the new manager has no entry yet.
        let only_old = vec![entries[0].clone()];
        let out = fold_managers(&only_old, &["tether".into()], "tether/x.y").unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["manager"], "tether/x.y");
        assert_eq!(out[0]["fieldsV1"], entries[0]["fieldsV1"]);
        // Nothing to fold.
        assert_eq!(
            fold_managers(&entries[1..], &["tether".into()], "tether/x.y"),
            None
        );
    }
}
