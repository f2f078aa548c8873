//! A sync of selected objects (Argo CD's `resources`): the part of a plan that
//! such a sync applies and prunes. Pure; the engine computes the whole plan
//! (which Assess still judges, so objects left out stay OutOfSync), then hands
//! Apply only the selection.

use std::collections::BTreeSet;

use tether_model::ObjectRef;

use crate::plan::Plan;

/// The steps of `plan` for the objects in `only`, in the plan's order, with
/// its empty-render guard kept. An object neither rendered (a plan step) nor
/// in the `inventory` is an error: every such object is returned, so that the
/// caller can name them all. An inventory object already gone from the
/// cluster has no step and is simply nothing to do.
pub fn select(
    plan: &Plan,
    only: &[ObjectRef],
    inventory: &[ObjectRef],
) -> Result<Plan, Vec<ObjectRef>> {
    let known: BTreeSet<&ObjectRef> = plan
        .steps
        .iter()
        .map(|s| &s.object)
        .chain(inventory)
        .collect();
    let mut unknown: Vec<ObjectRef> = only
        .iter()
        .filter(|r| !known.contains(r))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        unknown.sort();
        unknown.dedup();
        return Err(unknown);
    }
    let wanted: BTreeSet<&ObjectRef> = only.iter().collect();
    Ok(Plan {
        steps: plan
            .steps
            .iter()
            .filter(|s| wanted.contains(&s.object))
            .cloned()
            .collect(),
        prune_blocked: plan.prune_blocked.clone(),
    })
}

/// `Deployment web/web, ConfigMap web/b`: objects for a message.
pub fn names(objects: &[ObjectRef]) -> String {
    objects
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use super::*;
    use crate::owner::Holders;
    use crate::plan::{Action, PlanInput, decorate, plan};

    const APP: &str = "web.web";

    fn cm(name: &str, v: &str) -> Value {
        let mut o = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "web"}, "data": {"v": v}});
        decorate(&mut o, APP, "web/web:repo@.");
        o
    }

    fn r(name: &str) -> ObjectRef {
        ObjectRef::new("", "ConfigMap", "web", name)
    }

    /// Git: a=1 (live 0), b=1 (live 0), c new; live also has `old`, no longer in Git.
    fn whole(prune: bool) -> (Plan, Vec<ObjectRef>) {
        let desired = vec![cm("a", "1"), cm("b", "1"), cm("c", "1")];
        let live: BTreeMap<ObjectRef, Value> = [
            (r("a"), cm("a", "0")),
            (r("b"), cm("b", "0")),
            (r("old"), cm("old", "0")),
        ]
        .into_iter()
        .collect();
        let inventory = vec![r("a"), r("b"), r("old"), r("gone")];
        let holders = Holders::new();
        let input = PlanInput {
            desired: &desired,
            live: &live,
            inventory: &inventory,
            tracking: APP,
            prune,
            allow_empty: false,
            prune_last: false,
            ignore: &[],
            holders: &holders,
            take_over: false,
        };
        (plan(&input).expect("plan"), inventory)
    }

    fn actions(p: &Plan) -> Vec<(String, Action)> {
        p.steps
            .iter()
            .map(|s| (s.object.name.clone(), s.action))
            .collect()
    }

    #[test]
    fn only_the_selected_objects_are_applied_or_pruned() {
        let (p, inv) = whole(true);
        let s = select(&p, &[r("old"), r("b")], &inv).expect("known");
        assert_eq!(
            actions(&s),
            [
                ("b".to_string(), Action::Update),
                ("old".to_string(), Action::Prune)
            ]
        );
        // The whole plan is untouched: Assess still sees a and c out of sync.
        assert!(!p.in_sync());
        assert_eq!(p.steps.len(), 4);
    }

    #[test]
    fn prune_follows_the_plan_the_selection_was_made_from() {
        let (p, inv) = whole(false);
        let s = select(&p, &[r("old")], &inv).expect("known");
        assert_eq!(actions(&s), [("old".to_string(), Action::PruneSkipped)]);
    }

    #[test]
    fn unknown_objects_are_all_named_and_gone_ones_are_known() {
        let (p, inv) = whole(true);
        let err = select(
            &p,
            &[
                r("nope"),
                r("a"),
                ObjectRef::new("apps", "Deployment", "web", "x"),
            ],
            &inv,
        )
        .expect_err("unknown");
        assert_eq!(
            err,
            [r("nope"), ObjectRef::new("apps", "Deployment", "web", "x")]
        );
        assert_eq!(names(&err), "ConfigMap web/nope, Deployment.apps web/x");
        // In the inventory but gone from the cluster: nothing to do, not an error.
        let s = select(&p, &[r("gone")], &inv).expect("known");
        assert!(s.steps.is_empty());
    }
}
