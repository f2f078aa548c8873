//! Ownership between apps, the engine's side (the rules are pure, in
//! `tether_plan::owner`): before Plan, find out whether the apps that other
//! objects' tracking labels name still exist and hold those objects; after
//! Record, the `SharedResource` condition; in Apply, folding a previous field
//! manager into the app's own before an object changes hands.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::Api;
use serde_json::{Value, json};
use tether_kube::{Cluster, KubeError};
use tether_model::{Application, ApplicationStatus, Condition, ObjectRef, TRACKING_LABEL};
use tether_plan::owner::{Holder, Holders};
use tether_plan::plan::Plan;

use crate::pipeline::Desired;

/// The condition type (and the Ready reason) of a conflict between apps.
pub const SHARED_RESOURCE: &str = "SharedResource";

/// For each desired object whose live copy carries another app's tracking
/// label: that app, when it exists and its inventory holds the object. One
/// read per distinct other app; none at all in the usual case. An app that
/// cannot be read counts as holding its objects: when in doubt, leave them.
pub async fn holders(
    cluster: &Cluster,
    tracking: &str,
    desired: &Desired,
    live: &BTreeMap<ObjectRef, Value>,
) -> Holders {
    let mut by_app: BTreeMap<String, Vec<ObjectRef>> = BTreeMap::new();
    for r in desired.objects.iter().filter_map(|(o, _)| ObjectRef::of(o)) {
        let label = live
            .get(&r)
            .and_then(|l| l.pointer("/metadata/labels"))
            .and_then(|l| l.get(TRACKING_LABEL))
            .and_then(Value::as_str);
        if let Some(label) = label.filter(|l| *l != tracking) {
            by_app.entry(label.to_string()).or_default().push(r);
        }
    }
    let mut out = Holders::new();
    for (label, refs) in by_app {
        let Some((ns, name)) = tether_model::parse_tracking(&label) else {
            continue; // not a label tether writes: nobody to defer to
        };
        let api: Api<Application> = Api::namespaced(cluster.client().clone(), ns);
        let got = tether_kube::retrying(&format!("get Application {ns}/{name}"), || async {
            api.get_opt(name).await.map_err(KubeError::from)
        })
        .await;
        match got {
            Ok(Some(app)) => {
                let held = inventory(&app);
                let holder = Holder {
                    takes_over: app.spec.sync_option(tether_model::TAKE_OVER_OPTION),
                };
                for r in refs.into_iter().filter(|r| held.contains(r)) {
                    out.insert(r, holder.clone());
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(
                    "cannot read Application {ns}/{name}, which manages {} object(s) this app declares; leaving them to it: {e}",
                    refs.len()
                );
                for r in refs {
                    out.insert(r, Holder::default());
                }
            }
        }
    }
    out
}

/// The objects an app holds: its inventory, which leaves out the objects it
/// only declares while another app manages them (see `record`).
fn inventory(app: &Application) -> BTreeSet<ObjectRef> {
    app.status
        .as_ref()
        .map(|s| s.inventory_refs().into_iter().collect())
        .unwrap_or_default()
}

/// How a `Shared` object's entry in the app's resources begins, so that the
/// app is not taken to hold it.
pub const SHARED_PREFIX: &str = "SharedResource: ";

/// Set or clear the `SharedResource` condition from the plan. Returns the
/// message when the conflict is new or changed, to be audited and announced
/// once rather than on every reconcile.
pub fn condition(
    status: &mut ApplicationStatus,
    plan: &Plan,
    generation: Option<i64>,
) -> Option<String> {
    let Some(message) = plan.shared_conflict() else {
        status.remove_condition(SHARED_RESOURCE);
        return None;
    };
    let known = status
        .condition(SHARED_RESOURCE)
        .is_some_and(|c| c.message == message);
    status.set_condition(
        Condition {
            type_: SHARED_RESOURCE.into(),
            status: "True".into(),
            reason: SHARED_RESOURCE.into(),
            message: message.clone(),
            last_transition_time: None,
            observed_generation: generation,
        },
        &crate::time::now(),
    );
    (!known).then_some(message)
}

/// Fold the Apply entries of `from` into `into`'s in the object's
/// managedFields (see `tether_plan::owner::fold_managers`), just before it is
/// applied as `into`. Read fresh (the live cache strips field sets) and
/// written with the resourceVersion read, so a concurrent write is not
/// overwritten: it is read and folded again.
pub async fn fold_managers(
    cluster: &Cluster,
    r: &ObjectRef,
    from: &[String],
    into: &str,
) -> Result<(), KubeError> {
    for _ in 0..3 {
        let Some(live) = cluster.get(r).await? else {
            return Ok(());
        };
        let entries = live["metadata"]["managedFields"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let Some(folded) = tether_plan::owner::fold_managers(&entries, from, into) else {
            return Ok(());
        };
        let rv = live["metadata"]["resourceVersion"].clone();
        let patch = json!({"metadata": {"resourceVersion": rv, "managedFields": folded}});
        match cluster.merge_patch(&live, &patch, into).await {
            Ok(_) => {
                tracing::info!(object = %r, "field managers {from:?} folded into {into}");
                return Ok(());
            }
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(KubeError::Other(format!(
        "{r} kept changing while its field managers were being handed to {into}"
    )))
}

/// The per-object result of a sync for an object that changed hands or was
/// left to another app: (action, status, message). None for the rest.
pub fn result(
    step: &tether_plan::plan::Step,
    outcome: &crate::apply::ApplyOutcome,
) -> Option<(&'static str, &'static str, String)> {
    use tether_plan::owner::Claim;
    if step.action == tether_plan::plan::Action::Shared {
        return Some(("shared", SHARED_RESOURCE, step.reason.clone()));
    }
    if !outcome.applied.contains_key(&step.object) {
        return None;
    }
    match step.claim.as_ref()? {
        Claim::Adopt => Some((
            ADOPTED,
            "Synced",
            format!("it had no {TRACKING_LABEL} label"),
        )),
        Claim::Orphan { from } => Some((
            ADOPTED,
            "Synced",
            format!("from app {from}, which no longer manages it"),
        )),
        Claim::TakeOver { from } => Some((TAKEN_OVER, "Synced", format!("from app {from}"))),
        Claim::Shared { .. } => None,
    }
}

/// The result action of an object this app adopted: it was live and nobody's.
pub const ADOPTED: &str = "adopted";
/// The result action of an object this app took over from another.
pub const TAKEN_OVER: &str = "taken-over";

/// Whether a history line should carry the result's message: it says where
/// an adopted or taken-over object came from.
pub fn names_another_app(r: &tether_model::ResourceResult) -> bool {
    (r.action == ADOPTED || r.action == TAKEN_OVER) && !r.message.is_empty()
}
