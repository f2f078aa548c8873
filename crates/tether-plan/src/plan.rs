//! The plan: one step per object (create, update, unchanged, prune, or a
//! prune that is held back), each with its reason and diff, in apply order.
//!
//! Pruning is deliberately conservative: tether deletes only what its
//! inventory says it applied, only while the live object still carries this
//! app's tracking label, never when the object opts out, and never because a
//! render came back empty (a broken commit must not wipe an app).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};
use tether_model::{
    IgnoreDifference, ObjectRef, PRUNE_ANNOTATION, TRACKING_ANNOTATION, TRACKING_LABEL,
};

use crate::diff::{self, CompareOptions, FieldChange};
use crate::order::{self, Stage};
use crate::owner::{self, Claim, Holders};

/// Everything the plan is computed from.
#[derive(Clone, Copy, Debug)]
pub struct PlanInput<'a> {
    /// Rendered objects, already decorated (tracking label, namespace) by the caller.
    pub desired: &'a [Value],
    /// Live state of the desired refs and of the inventory refs that exist.
    pub live: &'a BTreeMap<ObjectRef, Value>,
    /// What the app applied before (`status.resources`).
    pub inventory: &'a [ObjectRef],
    /// This app's tracking label value, `<ns>.<name>`.
    pub tracking: &'a str,
    /// Prune extras: `automated.prune`, or a manual sync with prune.
    pub prune: bool,
    /// Allow an empty render to prune everything.
    pub allow_empty: bool,
    /// syncOption `PruneLast`. Accepted for Argo CD compatibility; tether
    /// always prunes after every wave has been applied, so it changes nothing.
    pub prune_last: bool,
    pub ignore: &'a [IgnoreDifference],
    /// Desired objects whose live copy another existing app holds (see
    /// [`owner::claim`]); those not applied unless taken over.
    pub holders: &'a Holders,
    /// syncOption `TakeOver`: take objects over from the apps that hold them.
    pub take_over: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Create,
    Update,
    Unchanged,
    Prune,
    /// An extra object that is kept: prune is off, the object opts out, the
    /// empty-render guard holds, or the object is no longer this app's.
    PruneSkipped,
    /// Declared, but another app manages the live object: not applied
    /// (a `SharedResource` conflict; see [`crate::owner`]).
    Shared,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Unchanged => "unchanged",
            Action::Prune => "prune",
            Action::PruneSkipped => "prune-skipped",
            Action::Shared => "shared",
        }
    }

    /// Create, Update and Unchanged: the steps of the apply waves.
    pub fn is_apply(self) -> bool {
        matches!(self, Action::Create | Action::Update | Action::Unchanged)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub object: ObjectRef,
    pub action: Action,
    /// Why, in a few words: `spec.replicas changed`, `prune is off`.
    pub reason: String,
    /// Unified YAML diff (`--- live` / `+++ desired`), secrets redacted; empty
    /// for Unchanged and prune steps.
    pub diff: String,
    pub changes: Vec<FieldChange>,
    pub stage: Stage,
    pub wave: i64,
    /// The object to apply, for Create, Update and Unchanged.
    pub desired: Option<Value>,
    /// Live, not in Git, and still this app's (carries its tracking label):
    /// the object keeps the app OutOfSync and stays in the inventory. False for
    /// an extra that another app took over or that lost its label; the
    /// engine should drop those from the inventory.
    pub requires_pruning: bool,
    /// The object changes hands (adopted, taken over) or stays another app's
    /// (`Shared`); None when it is this app's already or new.
    pub claim: Option<Claim>,
    /// Field managers whose Apply entries are folded into this app's before
    /// the object is applied (see [`owner::fold_managers`]).
    pub fold: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Apply steps in apply order (stage, wave, kind, namespace, name), then
    /// prune steps in the reverse of that order.
    pub steps: Vec<Step>,
    /// Set when the empty-render guard held back every prune.
    pub prune_blocked: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// A `tether.dev/sync-wave` annotation that is not an integer.
    InvalidWave { object: ObjectRef, message: String },
    /// A rendered object without kind or name.
    Unidentified { index: usize, description: String },
    /// Two rendered objects with the same group, kind, namespace and name.
    Duplicate { object: ObjectRef },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::InvalidWave { message, .. } => f.write_str(message),
            PlanError::Unidentified { index, description } => write!(
                f,
                "rendered object #{} ({description}) has no kind or no name",
                index + 1
            ),
            PlanError::Duplicate { object } => {
                write!(f, "{object} appears more than once in the render")
            }
        }
    }
}

impl std::error::Error for PlanError {}

impl Plan {
    /// Nothing to create, update or prune, and no extra object of this app left behind.
    pub fn in_sync(&self) -> bool {
        self.prune_blocked.is_none()
            && self.steps.iter().all(|s| match s.action {
                Action::Unchanged => true,
                Action::PruneSkipped => !s.requires_pruning,
                Action::Create | Action::Update | Action::Prune | Action::Shared => false,
            })
    }

    /// The apply steps grouped by (stage, wave), in order. Steps in one group
    /// may be applied concurrently; a group starts when the one before is
    /// done (and healthy, if the engine waits). Unchanged steps are included:
    /// a wave gates on their health too, and re-applying them is harmless.
    pub fn waves(&self) -> Vec<(Stage, i64, Vec<&Step>)> {
        let mut out: Vec<(Stage, i64, Vec<&Step>)> = Vec::new();
        for step in self.steps.iter().filter(|s| s.action.is_apply()) {
            match out.last_mut() {
                Some((stage, wave, steps)) if *stage == step.stage && *wave == step.wave => {
                    steps.push(step)
                }
                _ => out.push((step.stage, step.wave, vec![step])),
            }
        }
        out
    }

    /// The `SharedResource` conflicts, for the app's condition: the first
    /// step's reason (naming both apps and the object) and how many more.
    pub fn shared_conflict(&self) -> Option<String> {
        let mut shared = self.steps.iter().filter(|s| s.action == Action::Shared);
        let first = shared.next()?;
        let more = shared.count();
        Some(if more == 0 {
            first.reason.clone()
        } else {
            format!(
                "{}; and {more} more object(s) managed by other apps",
                first.reason
            )
        })
    }

    /// `2 to create, 1 to update, 1 to prune`; `no changes` when there is nothing to do.
    pub fn summary(&self) -> String {
        let count = |f: &dyn Fn(&Step) -> bool| self.steps.iter().filter(|s| f(s)).count();
        let parts = [
            (count(&|s| s.action == Action::Create), "to create"),
            (count(&|s| s.action == Action::Update), "to update"),
            (count(&|s| s.action == Action::Prune), "to prune"),
            (
                count(&|s| s.action == Action::PruneSkipped && s.requires_pruning),
                "extra kept (not pruned)",
            ),
            (
                count(&|s| s.action == Action::Shared),
                "managed by another app (not applied)",
            ),
        ];
        let text: Vec<String> = parts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        if text.is_empty() {
            "no changes".to_string()
        } else {
            text.join(", ")
        }
    }
}

/// Compute the plan. Fails on input that cannot be ordered or identified,
/// naming the object, rather than applying a partial plan.
pub fn plan(input: &PlanInput) -> Result<Plan, PlanError> {
    type Key = ((Stage, i64, u32, String, String), String, String);
    let key = |r: &ObjectRef, wave: i64| -> Key {
        (order::key_of(r, wave), r.group.clone(), r.kind.clone())
    };

    let mut desired_refs = BTreeSet::new();
    let inventory: BTreeSet<&ObjectRef> = input.inventory.iter().collect();
    let mut applies: Vec<(Key, Step)> = Vec::with_capacity(input.desired.len());
    for (index, obj) in input.desired.iter().enumerate() {
        let object = ObjectRef::of(obj).ok_or_else(|| PlanError::Unidentified {
            index,
            description: order::describe(obj),
        })?;
        if !desired_refs.insert(object.clone()) {
            return Err(PlanError::Duplicate { object });
        }
        let wave = order::wave(obj).map_err(|message| PlanError::InvalidWave {
            object: object.clone(),
            message,
        })?;
        let opts = CompareOptions {
            ignore: diff::rules_for(input.ignore, &object),
            redact: false,
        };
        let live = input.live.get(&object);
        let claim = match owner::claim(
            obj,
            live,
            input.tracking,
            input.take_over,
            input.holders.get(&object),
        ) {
            // This app's own object whose label someone removed: drift, not an adoption.
            Some(Claim::Adopt) if inventory.contains(&object) => None,
            claim => claim,
        };
        let (action, reason, diff, changes) = match live {
            None => (
                Action::Create,
                "not in the cluster".to_string(),
                diff::creation_diff(obj, &opts),
                Vec::new(),
            ),
            Some(live) => {
                let c = diff::compare(obj, live, &opts);
                if c.equal {
                    let reason = if diff::compare_ignored(obj) {
                        "not compared (tether.dev/compare: ignore)"
                    } else {
                        "in sync"
                    };
                    (
                        Action::Unchanged,
                        reason.to_string(),
                        String::new(),
                        Vec::new(),
                    )
                } else {
                    (
                        Action::Update,
                        changed_reason(&c.changes),
                        c.diff,
                        c.changes,
                    )
                }
            }
        };
        // Whose the object is decides over what the diff says: another app's is
        // left alone; one that changes hands is applied even when equal (an
        // object marked compare: ignore), as its label must become this app's.
        let (action, reason) = match &claim {
            Some(Claim::Shared { owner: holder }) => (
                Action::Shared,
                owner::shared_reason(
                    &object,
                    holder,
                    input.tracking,
                    input.take_over || owner::takes_over(obj),
                ),
            ),
            Some(Claim::Adopt) => (
                Action::Update,
                format!("adopting it (no {TRACKING_LABEL} label); {reason}"),
            ),
            Some(Claim::Orphan { from }) => (
                Action::Update,
                format!("adopting it from app {from}, which no longer manages it; {reason}"),
            ),
            Some(Claim::TakeOver { from }) => (
                Action::Update,
                format!("taking it over from app {from}; {reason}"),
            ),
            None => (action, reason),
        };
        let fold = if action == Action::Update {
            owner::managers_to_fold(live, claim.as_ref())
        } else {
            Vec::new()
        };
        let step = Step {
            stage: order::stage(&object.group, &object.kind),
            object: object.clone(),
            action,
            reason,
            diff,
            changes,
            wave,
            desired: Some(obj.clone()),
            requires_pruning: false,
            claim,
            fold,
        };
        applies.push((key(&object, wave), step));
    }
    applies.sort_by(|a, b| a.0.cmp(&b.0));

    let extras: BTreeSet<&ObjectRef> = input
        .inventory
        .iter()
        .filter(|r| !desired_refs.contains(*r))
        .collect();
    let mut prunes: Vec<(Key, Step)> = Vec::new();
    for object in extras {
        // Gone already: nothing to prune, and nothing to report.
        let Some(live) = input.live.get(object) else {
            continue;
        };
        // A live object's wave was valid when it was applied; if someone broke
        // it since, ordering it as wave 0 is better than refusing to plan.
        let wave = order::wave(live).unwrap_or(0);
        let (action, reason, requires_pruning) = judge_extra(live, input);
        let step = Step {
            object: object.clone(),
            action,
            reason,
            diff: String::new(),
            changes: Vec::new(),
            stage: order::stage(&object.group, &object.kind),
            wave,
            desired: None,
            requires_pruning,
            claim: None,
            fold: Vec::new(),
        };
        prunes.push((key(object, wave), step));
    }

    let would_prune = prunes
        .iter()
        .filter(|(_, s)| s.action == Action::Prune)
        .count();
    let mut prune_blocked = None;
    if input.desired.is_empty() && !input.allow_empty && would_prune > 0 {
        let objects = if would_prune == 1 {
            "object"
        } else {
            "objects"
        };
        prune_blocked = Some(format!(
            "the render produced no objects; refusing to prune {would_prune} {objects} \
             (set allowEmpty to allow)"
        ));
        for (_, step) in prunes.iter_mut().filter(|(_, s)| s.action == Action::Prune) {
            step.action = Action::PruneSkipped;
            step.reason = "not pruned: the render produced no objects and allowEmpty is off".into();
        }
    }
    // Dependents go before what they depend on: webhooks first, namespaces and CRDs last.
    prunes.sort_by(|a, b| b.0.cmp(&a.0));

    Ok(Plan {
        steps: applies
            .into_iter()
            .chain(prunes)
            .map(|(_, step)| step)
            .collect(),
        prune_blocked,
    })
}

/// True when `live` may be deleted by the app with tracking value `tracking`:
/// it carries that app's tracking label and is not annotated
/// `tether.dev/prune: disabled`. Checked when planning, again just before
/// deleting, and when an app is deleted with its objects.
pub fn prunable_by(live: &Value, tracking: &str) -> bool {
    let label = live
        .pointer("/metadata/labels")
        .and_then(|l| l.get(TRACKING_LABEL))
        .and_then(Value::as_str);
    label == Some(tracking) && !prune_disabled(live)
}

fn prune_disabled(live: &Value) -> bool {
    live.pointer("/metadata/annotations")
        .and_then(|a| a.get(PRUNE_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("disabled"))
}

/// What to do with a live object that Git no longer declares:
/// (action, reason, whether it is still this app's).
fn judge_extra(live: &Value, input: &PlanInput) -> (Action, String, bool) {
    let label = live
        .pointer("/metadata/labels")
        .and_then(|l| l.get(TRACKING_LABEL))
        .and_then(Value::as_str);
    let prune_disabled = prune_disabled(live);
    match label {
        None => (
            Action::PruneSkipped,
            format!("not pruned: it no longer carries the {TRACKING_LABEL} label"),
            false,
        ),
        Some(other) if other != input.tracking => (
            Action::PruneSkipped,
            format!(
                "not pruned: its {TRACKING_LABEL} label says {other:?}, another app owns it now"
            ),
            false,
        ),
        Some(_) if prune_disabled => (
            Action::PruneSkipped,
            format!("not pruned: {PRUNE_ANNOTATION}: disabled"),
            true,
        ),
        Some(_) if !input.prune => (Action::PruneSkipped, "prune is off".to_string(), true),
        Some(_) => (Action::Prune, "no longer in the source".to_string(), true),
    }
}

/// `spec.replicas, spec.template.spec.containers[name=web].image changed`,
/// shortened after three paths so the reason fits on a line.
fn changed_reason(changes: &[FieldChange]) -> String {
    const SHOWN: usize = 3;
    let paths: Vec<&str> = changes
        .iter()
        .take(SHOWN)
        .map(|c| c.path.as_str())
        .collect();
    let mut reason = paths.join(", ");
    if changes.len() > SHOWN {
        reason.push_str(&format!(" and {} more", changes.len() - SHOWN));
    }
    reason.push_str(" changed");
    reason
}

/// Put the tracking label and annotation on an object about to be applied,
/// creating `metadata`, `labels` and `annotations` as needed. The engine calls
/// this before planning, so the labels are part of desired and compare equal
/// once applied.
pub fn decorate(obj: &mut Value, tracking: &str, annotation: &str) {
    let Value::Object(fields) = obj else {
        return;
    };
    let meta = object_at(fields, "metadata");
    object_at(meta, "labels").insert(
        TRACKING_LABEL.to_string(),
        Value::String(tracking.to_string()),
    );
    object_at(meta, "annotations").insert(
        TRACKING_ANNOTATION.to_string(),
        Value::String(annotation.to_string()),
    );
}

/// The map under `key`, made (or made a map, replacing a null) if it is not one.
fn object_at<'m>(map: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let slot = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().expect("made an object above")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const APP: &str = "argo.demo";

    fn obj(api: &str, kind: &str, ns: &str, name: &str) -> Value {
        let mut o = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}});
        if !ns.is_empty() {
            o["metadata"]["namespace"] = json!(ns);
        }
        decorate(&mut o, APP, "argo/demo:repo@path");
        o
    }

    fn cm(name: &str, data: Value) -> Value {
        let mut o = obj("v1", "ConfigMap", "demo", name);
        o["data"] = data;
        o
    }

    fn with_wave(mut o: Value, wave: &str) -> Value {
        o["metadata"]["annotations"][tether_model::SYNC_WAVE_ANNOTATION] = json!(wave);
        o
    }

    fn r(o: &Value) -> ObjectRef {
        ObjectRef::of(o).unwrap()
    }

    /// The live object as the server would hold it after an apply.
    fn applied(o: &Value) -> Value {
        let mut l = o.clone();
        l["metadata"]["uid"] = json!("u-1");
        l["metadata"]["resourceVersion"] = json!("7");
        l
    }

    struct Case {
        desired: Vec<Value>,
        live: BTreeMap<ObjectRef, Value>,
        inventory: Vec<ObjectRef>,
        prune: bool,
        allow_empty: bool,
        prune_last: bool,
        ignore: Vec<IgnoreDifference>,
        holders: Holders,
        take_over: bool,
    }

    impl Case {
        fn new(desired: Vec<Value>) -> Case {
            Case {
                desired,
                live: BTreeMap::new(),
                inventory: Vec::new(),
                prune: true,
                allow_empty: false,
                prune_last: false,
                ignore: Vec::new(),
                holders: Holders::new(),
                take_over: false,
            }
        }

        fn live(mut self, objs: &[Value]) -> Case {
            for o in objs {
                self.live.insert(r(o), o.clone());
            }
            self
        }

        fn inventory(mut self, objs: &[Value]) -> Case {
            self.inventory.extend(objs.iter().map(r));
            self
        }

        fn input(&self) -> PlanInput<'_> {
            PlanInput {
                desired: &self.desired,
                live: &self.live,
                inventory: &self.inventory,
                tracking: APP,
                prune: self.prune,
                allow_empty: self.allow_empty,
                prune_last: self.prune_last,
                ignore: &self.ignore,
                holders: &self.holders,
                take_over: self.take_over,
            }
        }

        fn plan(&self) -> Plan {
            plan(&self.input()).unwrap()
        }
    }

    fn actions(p: &Plan) -> Vec<(String, Action)> {
        p.steps
            .iter()
            .map(|s| (s.object.name.clone(), s.action))
            .collect()
    }

    fn step<'p>(p: &'p Plan, name: &str) -> &'p Step {
        p.steps.iter().find(|s| s.object.name == name).unwrap()
    }

    #[test]
    fn missing_object_is_created_with_a_full_diff() {
        let a = cm("a", json!({"k": "v"}));
        let p = Case::new(vec![a.clone()]).plan();
        let s = step(&p, "a");
        assert_eq!(s.action, Action::Create);
        assert_eq!(s.reason, "not in the cluster");
        assert_eq!(s.desired.as_ref(), Some(&a));
        assert!(s.diff.starts_with("--- live\n+++ desired\n"), "{}", s.diff);
        assert!(s.diff.contains("+  k: v"), "{}", s.diff);
        assert!(!p.in_sync());
        assert_eq!(p.summary(), "1 to create");
    }

    #[test]
    fn equal_live_object_is_unchanged() {
        let a = cm("a", json!({"k": "v"}));
        let p = Case::new(vec![a.clone()])
            .live(&[applied(&a)])
            .inventory(std::slice::from_ref(&a))
            .plan();
        let s = step(&p, "a");
        assert_eq!(s.action, Action::Unchanged);
        assert_eq!(s.reason, "in sync");
        assert!(s.diff.is_empty() && s.changes.is_empty());
        assert!(p.in_sync());
        assert_eq!(p.summary(), "no changes");
    }

    #[test]
    fn drifted_object_is_updated_naming_the_paths() {
        let a = cm("a", json!({"k": "v", "j": "w"}));
        let mut live = applied(&a);
        live["data"]["k"] = json!("changed");
        let p = Case::new(vec![a.clone()]).live(&[live]).plan();
        let s = step(&p, "a");
        assert_eq!(s.action, Action::Update);
        assert_eq!(s.reason, "data.k changed");
        assert_eq!(s.changes.len(), 1);
        assert!(s.diff.contains("-  k: changed"), "{}", s.diff);
        assert!(!p.in_sync());
        assert_eq!(p.summary(), "1 to update");
    }

    #[test]
    fn update_reason_is_shortened() {
        let changes: Vec<FieldChange> = (0..5)
            .map(|i| FieldChange {
                path: format!("p{i}"),
                desired: None,
                live: None,
            })
            .collect();
        assert_eq!(changed_reason(&changes), "p0, p1, p2 and 2 more changed");
        assert_eq!(changed_reason(&changes[..2]), "p0, p1 changed");
    }

    #[test]
    fn missing_tracking_label_live_is_an_update() {
        // Adopting an object created by hand: the label is part of desired.
        let a = cm("a", json!({"k": "v"}));
        let mut live = applied(&a);
        live["metadata"]["labels"] = json!({});
        let p = Case::new(vec![a]).live(&[live]).plan();
        assert_eq!(step(&p, "a").action, Action::Update);
        assert_eq!(
            step(&p, "a").reason,
            "adopting it (no tether.dev/app label); metadata.labels[\"tether.dev/app\"] changed"
        );
        assert_eq!(step(&p, "a").claim, Some(Claim::Adopt));
    }

    #[test]
    fn ignore_differences_reach_the_comparison() {
        let mut d = obj("apps/v1", "Deployment", "demo", "web");
        d["spec"] = json!({"replicas": 2});
        let mut live = applied(&d);
        live["spec"]["replicas"] = json!(5);
        let mut case = Case::new(vec![d]).live(&[live]);
        assert_eq!(step(&case.plan(), "web").action, Action::Update);
        case.ignore = vec![IgnoreDifference {
            group: "apps".into(),
            kind: "StatefulSet".into(),
            json_pointers: vec!["/spec/replicas".into()],
            ..Default::default()
        }];
        assert_eq!(step(&case.plan(), "web").action, Action::Update);
        case.ignore[0].kind = "Deployment".into();
        assert_eq!(step(&case.plan(), "web").action, Action::Unchanged);
    }

    #[test]
    fn compare_ignore_annotation_keeps_the_object_unchanged() {
        let mut a = cm("a", json!({"k": "v"}));
        a["metadata"]["annotations"][tether_model::COMPARE_ANNOTATION] = json!("ignore");
        let mut live = applied(&a);
        live["data"]["k"] = json!("other");
        let p = Case::new(vec![a]).live(&[live]).plan();
        assert_eq!(step(&p, "a").action, Action::Unchanged);
        assert!(step(&p, "a").reason.contains("ignore"));
        assert!(p.in_sync());
    }

    #[test]
    fn steps_are_in_apply_order_and_grouped_into_waves() {
        let desired = vec![
            obj(
                "admissionregistration.k8s.io/v1",
                "ValidatingWebhookConfiguration",
                "",
                "hook",
            ),
            obj("apps/v1", "Deployment", "demo", "web"),
            with_wave(obj("batch/v1", "Job", "demo", "migrate"), "-1"),
            obj("v1", "Service", "demo", "web-svc"),
            obj("v1", "Namespace", "", "demo"),
            with_wave(obj("v1", "ConfigMap", "demo", "late"), "3"),
            obj("v1", "ConfigMap", "demo", "early"),
        ];
        let p = Case::new(desired).plan();
        let names: Vec<&str> = p.steps.iter().map(|s| s.object.name.as_str()).collect();
        assert_eq!(
            names,
            ["demo", "migrate", "early", "web-svc", "web", "late", "hook"]
        );
        let waves: Vec<(Stage, i64, Vec<&str>)> = p
            .waves()
            .into_iter()
            .map(|(st, w, steps)| {
                (
                    st,
                    w,
                    steps.iter().map(|s| s.object.name.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            waves,
            vec![
                (Stage::Foundation, 0, vec!["demo"]),
                (Stage::Main, -1, vec!["migrate"]),
                (Stage::Main, 0, vec!["early", "web-svc", "web"]),
                (Stage::Main, 3, vec!["late"]),
                (Stage::Webhooks, 0, vec!["hook"]),
            ]
        );
        assert_eq!(step(&p, "late").wave, 3);
        assert_eq!(step(&p, "hook").stage, Stage::Webhooks);
    }

    #[test]
    fn order_does_not_depend_on_render_order() {
        let desired = vec![
            cm("b", json!({})),
            cm("a", json!({})),
            obj("v1", "Secret", "demo", "s"),
        ];
        let mut reversed = desired.clone();
        reversed.reverse();
        let one: Vec<ObjectRef> = Case::new(desired)
            .plan()
            .steps
            .into_iter()
            .map(|s| s.object)
            .collect();
        let two: Vec<ObjectRef> = Case::new(reversed)
            .plan()
            .steps
            .into_iter()
            .map(|s| s.object)
            .collect();
        assert_eq!(one, two);
        assert_eq!(one[0].kind, "Secret");
    }

    #[test]
    fn same_name_different_kinds_order_deterministically() {
        let a = obj("example.com/v1", "Widget", "demo", "x");
        let b = obj("example.com/v1", "Gadget", "demo", "x");
        let one = Case::new(vec![a.clone(), b.clone()]).plan();
        let two = Case::new(vec![b, a]).plan();
        assert_eq!(one.steps, two.steps);
        assert_eq!(one.steps[0].object.kind, "Gadget");
    }

    #[test]
    fn extra_object_of_this_app_is_pruned_after_the_applies() {
        let keep = cm("keep", json!({}));
        let gone = cm("gone", json!({}));
        let p = Case::new(vec![keep.clone()])
            .live(&[applied(&keep), applied(&gone)])
            .inventory(&[keep, gone])
            .plan();
        assert_eq!(
            actions(&p),
            [
                ("keep".to_string(), Action::Unchanged),
                ("gone".to_string(), Action::Prune)
            ]
        );
        let s = step(&p, "gone");
        assert_eq!(s.reason, "no longer in the source");
        assert!(s.requires_pruning && s.desired.is_none());
        assert!(!p.in_sync());
        assert_eq!(p.summary(), "1 to prune");
        assert!(
            p.waves()
                .iter()
                .all(|(_, _, steps)| steps.iter().all(|s| s.object.name != "gone"))
        );
    }

    #[test]
    fn prunes_go_in_reverse_apply_order() {
        let new = cm("new", json!({}));
        let ns = obj("v1", "Namespace", "", "old-ns");
        let dep = obj("apps/v1", "Deployment", "old-ns", "old-dep");
        let sa = obj("v1", "ServiceAccount", "old-ns", "old-sa");
        let hook = obj(
            "admissionregistration.k8s.io/v1",
            "MutatingWebhookConfiguration",
            "",
            "old-hook",
        );
        let early = with_wave(obj("v1", "ConfigMap", "old-ns", "old-early"), "-5");
        let extras = [ns, dep, sa, hook, early];
        for prune_last in [false, true] {
            let mut case = Case::new(vec![new.clone()])
                .live(&extras)
                .inventory(&extras);
            case.prune_last = prune_last;
            let p = case.plan();
            let names: Vec<&str> = p.steps.iter().map(|s| s.object.name.as_str()).collect();
            assert_eq!(
                names,
                [
                    "new",
                    "old-hook",
                    "old-dep",
                    "old-sa",
                    "old-early",
                    "old-ns"
                ],
                "prune_last={prune_last}"
            );
            assert!(p.steps[1..].iter().all(|s| s.action == Action::Prune));
        }
    }

    #[test]
    fn object_taken_over_by_another_app_is_not_pruned() {
        let gone = cm("gone", json!({}));
        let mut live = applied(&gone);
        live["metadata"]["labels"][TRACKING_LABEL] = json!("other.app");
        let p = Case::new(vec![]).live(&[live]).inventory(&[gone]).plan();
        let s = step(&p, "gone");
        assert_eq!(s.action, Action::PruneSkipped);
        assert!(s.reason.contains("other.app"), "{}", s.reason);
        assert!(!s.requires_pruning);
        // Not ours any more: it does not keep this app OutOfSync, and nothing was blocked.
        assert!(p.in_sync());
        assert_eq!(p.prune_blocked, None);
        assert_eq!(p.summary(), "no changes");
    }

    #[test]
    fn unlabelled_object_is_not_pruned() {
        let gone = cm("gone", json!({}));
        let mut live = applied(&gone);
        live["metadata"]
            .as_object_mut()
            .unwrap()
            .shift_remove("labels");
        let p = Case::new(vec![cm("x", json!({}))])
            .live(&[live])
            .inventory(&[gone])
            .plan();
        let s = step(&p, "gone");
        assert_eq!(s.action, Action::PruneSkipped);
        assert!(s.reason.contains(TRACKING_LABEL), "{}", s.reason);
        assert!(!s.requires_pruning);
    }

    #[test]
    fn prune_disabled_annotation_keeps_the_object() {
        let gone = cm("gone", json!({}));
        let mut live = applied(&gone);
        live["metadata"]["annotations"][PRUNE_ANNOTATION] = json!("disabled");
        let p = Case::new(vec![cm("x", json!({}))])
            .live(&[applied(&cm("x", json!({}))), live])
            .inventory(&[gone])
            .plan();
        let s = step(&p, "gone");
        assert_eq!(s.action, Action::PruneSkipped);
        assert!(s.reason.contains(PRUNE_ANNOTATION), "{}", s.reason);
        assert!(s.requires_pruning);
        assert!(!p.in_sync());
        assert_eq!(p.summary(), "1 extra kept (not pruned)");
    }

    #[test]
    fn prune_off_keeps_extras_and_leaves_the_app_out_of_sync() {
        let x = cm("x", json!({}));
        let gone = cm("gone", json!({}));
        let mut case = Case::new(vec![x.clone()])
            .live(&[applied(&x), applied(&gone)])
            .inventory(&[x, gone]);
        case.prune = false;
        let p = case.plan();
        let s = step(&p, "gone");
        assert_eq!(s.action, Action::PruneSkipped);
        assert_eq!(s.reason, "prune is off");
        assert!(s.requires_pruning);
        assert!(!p.in_sync());
        case.prune = true;
        assert_eq!(step(&case.plan(), "gone").action, Action::Prune);
    }

    #[test]
    fn empty_render_blocks_pruning_unless_allowed() {
        let a = cm("a", json!({}));
        let b = cm("b", json!({}));
        let mut case = Case::new(vec![])
            .live(&[applied(&a), applied(&b)])
            .inventory(&[a, b]);
        let p = case.plan();
        assert_eq!(
            p.prune_blocked.as_deref(),
            Some(
                "the render produced no objects; refusing to prune 2 objects (set allowEmpty to allow)"
            )
        );
        assert!(
            p.steps
                .iter()
                .all(|s| s.action == Action::PruneSkipped && s.requires_pruning)
        );
        assert_eq!(p.steps.len(), 2);
        assert!(!p.in_sync());
        case.allow_empty = true;
        let p = case.plan();
        assert_eq!(p.prune_blocked, None);
        assert!(p.steps.iter().all(|s| s.action == Action::Prune));
    }

    #[test]
    fn empty_render_guard_counts_only_what_would_be_pruned() {
        let a = cm("a", json!({}));
        let mut foreign = applied(&cm("f", json!({})));
        foreign["metadata"]["labels"][TRACKING_LABEL] = json!("other.app");
        let case = Case::new(vec![])
            .live(&[applied(&a), foreign.clone()])
            .inventory(&[a, foreign.clone()]);
        let p = case.plan();
        assert_eq!(
            p.prune_blocked.as_deref(),
            Some(
                "the render produced no objects; refusing to prune 1 object (set allowEmpty to allow)"
            )
        );
        assert_eq!(step(&p, "f").reason, step(&case.plan(), "f").reason);
        assert!(step(&p, "f").reason.contains("other.app"));
        // Nothing would be pruned: nothing to refuse.
        let only_foreign = Case::new(vec![])
            .live(&[foreign.clone()])
            .inventory(&[foreign]);
        assert_eq!(only_foreign.plan().prune_blocked, None);
    }

    #[test]
    fn empty_render_with_empty_inventory_is_in_sync() {
        let p = Case::new(vec![]).plan();
        assert!(p.steps.is_empty() && p.prune_blocked.is_none() && p.in_sync());
        // An inventory whose objects are all gone is not a reason to block either.
        let p = Case::new(vec![]).inventory(&[cm("gone", json!({}))]).plan();
        assert!(p.steps.is_empty() && p.prune_blocked.is_none() && p.in_sync());
    }

    #[test]
    fn inventory_objects_gone_from_the_cluster_are_dropped() {
        let x = cm("x", json!({}));
        let p = Case::new(vec![x.clone()])
            .live(&[applied(&x)])
            .inventory(&[x, cm("gone", json!({}))])
            .plan();
        assert_eq!(actions(&p), [("x".to_string(), Action::Unchanged)]);
        assert!(p.in_sync());
    }

    #[test]
    fn only_inventory_objects_are_pruned() {
        // Live objects the app never applied are not extras, even with our label.
        let x = cm("x", json!({}));
        let stray = cm("stray", json!({}));
        let p = Case::new(vec![x.clone()])
            .live(&[applied(&x), applied(&stray)])
            .inventory(&[x])
            .plan();
        assert_eq!(actions(&p), [("x".to_string(), Action::Unchanged)]);
    }

    #[test]
    fn desired_objects_in_the_inventory_are_not_pruned() {
        let x = cm("x", json!({}));
        let p = Case::new(vec![x.clone()])
            .live(&[applied(&x)])
            .inventory(&[x.clone(), x])
            .plan();
        assert_eq!(actions(&p), [("x".to_string(), Action::Unchanged)]);
    }

    #[test]
    fn bad_wave_is_an_error_naming_the_object() {
        let bad = with_wave(obj("apps/v1", "Deployment", "demo", "web"), "first");
        let case = Case::new(vec![cm("ok", json!({})), bad.clone()]);
        let err = plan(&case.input()).unwrap_err();
        assert_eq!(
            err,
            PlanError::InvalidWave {
                object: r(&bad),
                message: err.to_string()
            }
        );
        assert!(
            err.to_string().contains("Deployment.apps demo/web"),
            "{err}"
        );
        assert!(err.to_string().contains("\"first\""), "{err}");
    }

    #[test]
    fn bad_wave_on_a_live_extra_does_not_stop_the_plan() {
        let gone = with_wave(cm("gone", json!({})), "x");
        let p = Case::new(vec![cm("a", json!({}))])
            .live(&[applied(&gone)])
            .inventory(&[gone])
            .plan();
        assert_eq!(step(&p, "gone").action, Action::Prune);
        assert_eq!(step(&p, "gone").wave, 0);
    }

    #[test]
    fn duplicate_objects_are_an_error() {
        let case = Case::new(vec![cm("a", json!({"x": "1"})), cm("a", json!({"x": "2"}))]);
        let err = plan(&case.input()).unwrap_err();
        assert_eq!(
            err,
            PlanError::Duplicate {
                object: ObjectRef::new("", "ConfigMap", "demo", "a")
            }
        );
        assert_eq!(
            err.to_string(),
            "ConfigMap demo/a appears more than once in the render"
        );
        // Same name in another namespace is another object.
        let mut other = cm("a", json!({}));
        other["metadata"]["namespace"] = json!("prod");
        assert!(plan(&Case::new(vec![cm("a", json!({})), other]).input()).is_ok());
    }

    #[test]
    fn unidentified_object_is_an_error() {
        let case = Case::new(vec![
            cm("a", json!({})),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
        ]);
        let err = plan(&case.input()).unwrap_err();
        assert!(
            matches!(err, PlanError::Unidentified { index: 1, .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "rendered object #2 (ConfigMap <unnamed>) has no kind or no name"
        );
    }

    #[test]
    fn secret_diffs_never_show_values() {
        let mut s = obj("v1", "Secret", "demo", "creds");
        s["stringData"] = json!({"password": "hunter2"});
        let p = Case::new(vec![s.clone()]).plan();
        assert!(!step(&p, "creds").diff.contains("hunter2"));
        assert!(!step(&p, "creds").diff.contains("aHVudGVyMg=="));
        let mut live = applied(&s);
        live.as_object_mut().unwrap().shift_remove("stringData");
        live["data"] = json!({"password": "b2xk"});
        let p = Case::new(vec![s]).live(&[live]).plan();
        let st = step(&p, "creds");
        assert_eq!(st.action, Action::Update);
        assert!(
            !st.diff.contains("hunter2") && !st.diff.contains("b2xk"),
            "{}",
            st.diff
        );
        assert!(!format!("{:?}", st.changes).contains("b2xk"));
    }

    #[test]
    fn summary_lists_every_kind_of_change() {
        let a = cm("a", json!({"k": "1"}));
        let mut a_live = applied(&a);
        a_live["data"]["k"] = json!("2");
        let gone = cm("gone", json!({}));
        let mut kept = applied(&cm("kept", json!({})));
        kept["metadata"]["annotations"][PRUNE_ANNOTATION] = json!("disabled");
        let p = Case::new(vec![a.clone(), cm("b", json!({})), cm("c", json!({}))])
            .live(&[a_live, applied(&gone), kept.clone()])
            .inventory(&[a, gone, kept])
            .plan();
        assert_eq!(
            p.summary(),
            "2 to create, 1 to update, 1 to prune, 1 extra kept (not pruned)"
        );
    }

    #[test]
    fn in_sync_is_false_when_blocked_even_without_steps() {
        let p = Plan {
            steps: vec![],
            prune_blocked: Some("x".into()),
        };
        assert!(!p.in_sync());
        assert!(Plan::default().in_sync());
    }

    #[test]
    fn action_names() {
        let all = [
            Action::Create,
            Action::Update,
            Action::Unchanged,
            Action::Prune,
            Action::PruneSkipped,
        ];
        let names: Vec<&str> = all.iter().map(|a| a.as_str()).collect();
        assert_eq!(
            names,
            ["create", "update", "unchanged", "prune", "prune-skipped"]
        );
        let applies: Vec<bool> = all.iter().map(|a| a.is_apply()).collect();
        assert_eq!(applies, [true, true, true, false, false]);
    }

    #[test]
    fn decorate_adds_tracking_and_keeps_the_rest() {
        let mut o = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"app": "x"}, "annotations": null}});
        decorate(&mut o, "ns.app", "ns/app:repo@path");
        assert_eq!(
            o["metadata"]["labels"],
            json!({"app": "x", TRACKING_LABEL: "ns.app"})
        );
        assert_eq!(
            o["metadata"]["annotations"],
            json!({TRACKING_ANNOTATION: "ns/app:repo@path"})
        );
        assert_eq!(o["metadata"]["name"], json!("c"));
        // Idempotent, and overrides a stale value.
        decorate(&mut o, "ns.other", "a");
        decorate(&mut o, "ns.other", "a");
        assert_eq!(o["metadata"]["labels"][TRACKING_LABEL], json!("ns.other"));
        assert_eq!(o["metadata"]["labels"].as_object().unwrap().len(), 2);
    }

    #[test]
    fn decorate_creates_metadata_and_ignores_non_objects() {
        let mut o = json!({"kind": "ConfigMap"});
        decorate(&mut o, "t", "a");
        assert_eq!(
            o["metadata"],
            json!({"labels": {TRACKING_LABEL: "t"}, "annotations": {TRACKING_ANNOTATION: "a"}})
        );
        let mut s = json!("not an object");
        decorate(&mut s, "t", "a");
        assert_eq!(s, json!("not an object"));
    }

    #[test]
    fn decorated_object_compares_equal_once_applied() {
        let mut o = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"}, "data": {"a": "b"}});
        decorate(&mut o, APP, "x");
        let p = Case::new(vec![o.clone()]).live(&[applied(&o)]).plan();
        assert!(p.in_sync());
        // The same object without decoration live is out of sync.
        let bare = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"}, "data": {"a": "b"}});
        assert!(!Case::new(vec![o]).live(&[bare]).plan().in_sync());
    }

    #[test]
    fn prunable_only_when_ours_and_not_disabled() {
        let obj = |labels: Value, annotations: Value| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "c", "labels": labels, "annotations": annotations}})
        };
        assert!(prunable_by(
            &obj(json!({TRACKING_LABEL: "t.a"}), json!({})),
            "t.a"
        ));
        assert!(
            !prunable_by(&obj(json!({TRACKING_LABEL: "t.b"}), json!({})), "t.a"),
            "another app's"
        );
        assert!(
            !prunable_by(&obj(json!({}), json!({})), "t.a"),
            "unlabelled"
        );
        assert!(
            !prunable_by(
                &obj(
                    json!({TRACKING_LABEL: "t.a"}),
                    json!({PRUNE_ANNOTATION: " Disabled "})
                ),
                "t.a"
            ),
            "the annotation, however spelled"
        );
    }

    fn owned_by(o: &Value, tracking: &str) -> Value {
        let mut l = applied(o);
        l["metadata"]["labels"][TRACKING_LABEL] = json!(tracking);
        l
    }

    #[test]
    fn an_object_another_app_holds_is_not_applied() {
        let shared = cm("shared", json!({"k": "mine"}));
        let other = cm("other", json!({}));
        let live = owned_by(&cm("shared", json!({"k": "theirs"})), "argo.first");
        let mut case = Case::new(vec![shared.clone(), other]).live(&[live]);
        case.holders.insert(r(&shared), owner::Holder::default());
        let p = case.plan();
        let s = step(&p, "shared");
        assert_eq!(s.action, Action::Shared);
        assert_eq!(
            s.claim,
            Some(Claim::Shared {
                owner: "argo/first".into()
            })
        );
        assert!(
            s.reason
                .contains("managed by app argo/first; app argo/demo does not apply it"),
            "{}",
            s.reason
        );
        assert!(s.fold.is_empty());
        // The rest is applied; the shared one is in no wave.
        let waves = p.waves();
        let applied: Vec<&str> = waves
            .iter()
            .flat_map(|(_, _, w)| w.iter().map(|s| s.object.name.as_str()))
            .collect();
        assert_eq!(applied, ["other"]);
        assert!(!p.in_sync());
        assert_eq!(
            p.summary(),
            "1 to create, 1 managed by another app (not applied)"
        );
        assert_eq!(p.shared_conflict().as_deref(), Some(s.reason.as_str()));
    }

    #[test]
    fn an_object_whose_app_is_gone_is_adopted_with_its_fields() {
        let x = cm("x", json!({"k": "v"}));
        let mut live = owned_by(&x, "argo.gone");
        live["metadata"]["managedFields"] =
            json!([{"manager": "tether/argo.gone", "operation": "Apply", "fieldsV1": {}}]);
        let p = Case::new(vec![x]).live(&[live]).plan();
        let s = step(&p, "x");
        assert_eq!(s.action, Action::Update);
        assert!(
            s.reason
                .starts_with("adopting it from app argo/gone, which no longer manages it"),
            "{}",
            s.reason
        );
        assert_eq!(s.fold, ["tether/argo.gone"]);
        assert!(p.shared_conflict().is_none());
    }

    #[test]
    fn an_own_object_that_lost_its_label_is_drift_not_an_adoption() {
        let x = cm("x", json!({"k": "v"}));
        let mut live = applied(&x);
        live["metadata"]["labels"] = json!({});
        let p = Case::new(vec![x.clone()])
            .live(&[live])
            .inventory(&[x])
            .plan();
        let s = step(&p, "x");
        assert_eq!(s.action, Action::Update);
        assert_eq!(s.claim, None);
        assert_eq!(s.reason, "metadata.labels[\"tether.dev/app\"] changed");
    }

    #[test]
    fn an_unlabelled_object_is_adopted_even_when_not_compared() {
        let mut x = cm("x", json!({"k": "v"}));
        x["metadata"]["annotations"][tether_model::COMPARE_ANNOTATION] = json!("ignore");
        let mut live = applied(&x);
        live["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .shift_remove(TRACKING_LABEL);
        let p = Case::new(vec![x]).live(&[live]).plan();
        let s = step(&p, "x");
        assert_eq!(s.action, Action::Update, "the label must become this app's");
        assert_eq!(s.claim, Some(Claim::Adopt));
        assert!(
            s.reason
                .starts_with("adopting it (no tether.dev/app label)"),
            "{}",
            s.reason
        );
    }

    #[test]
    fn an_object_is_taken_over_by_annotation_or_option() {
        let mut x = cm("x", json!({"k": "v"}));
        let mut live = owned_by(&x, "argo.first");
        live["metadata"]["managedFields"] = json!([
            {"manager": "tether/argo.first", "operation": "Apply", "fieldsV1": {}},
            {"manager": "tether", "operation": "Apply", "fieldsV1": {}}]);
        let by_option = {
            let mut case = Case::new(vec![x.clone()]).live(std::slice::from_ref(&live));
            case.holders.insert(r(&x), owner::Holder::default());
            case.take_over = true;
            case.plan()
        };
        x["metadata"]["annotations"][tether_model::SYNC_OPTIONS_ANNOTATION] =
            json!("TakeOver=true");
        let mut case = Case::new(vec![x.clone()]).live(&[live]);
        case.holders.insert(r(&x), owner::Holder::default());
        let by_annotation = case.plan();
        for p in [by_option, by_annotation] {
            let s = step(&p, "x");
            assert_eq!(s.action, Action::Update);
            assert_eq!(
                s.claim,
                Some(Claim::TakeOver {
                    from: "argo/first".into()
                })
            );
            assert!(
                s.reason.starts_with("taking it over from app argo/first"),
                "{}",
                s.reason
            );
            assert_eq!(s.fold, ["tether", "tether/argo.first"]);
        }
    }

    #[test]
    fn objects_of_the_old_shared_manager_are_migrated_when_next_applied() {
        let x = cm("x", json!({"k": "new"}));
        let mut live = applied(&cm("x", json!({"k": "old"})));
        live["metadata"]["managedFields"] =
            json!([{"manager": "tether", "operation": "Apply", "fieldsV1": {}}]);
        let p = Case::new(vec![x.clone()]).live(&[live.clone()]).plan();
        assert_eq!(step(&p, "x").fold, ["tether"]);
        assert_eq!(step(&p, "x").claim, None);
        // Unchanged: not applied, nothing to fold yet.
        live["data"]["k"] = json!("new");
        let p = Case::new(vec![x]).live(&[live]).plan();
        assert_eq!(step(&p, "x").action, Action::Unchanged);
        assert!(step(&p, "x").fold.is_empty());
    }
}
