//! Apply: run a plan against the cluster. Waves go in order; objects within a
//! wave are applied concurrently. CRDs and Namespaces come first and are waited
//! for. A failed object is reported and the rest of its wave still goes on, but
//! later waves do not start (they may depend on it), and nothing is pruned.
//!
//! Each app applies as its own field manager (`tether/<ns>.<name>`), so the
//! API server itself reports a conflict when two apps set the same field. An
//! object declared by an app but managed by another (`Shared` in the plan)
//! is not applied at all.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use kube::ResourceExt;
use serde_json::Value;
use tether_kube::{Cluster, KubeError};
use tether_model::{Application, FIELD_MANAGER, ObjectRef, OperationPhase};
use tether_plan::order::Stage;
use tether_plan::owner::Claim;
use tether_plan::plan::{Action, Plan, Step};

/// Objects applied at once within a wave.
const APPLY_CONCURRENCY: usize = 8;
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);
/// Objects that changed hands named in the operation's message.
const NOTES_SHOWN: usize = 5;

/// What one sync did.
#[derive(Debug, Default)]
pub struct ApplyOutcome {
    pub phase: OperationPhase,
    pub message: String,
    /// The server's copy of every object applied.
    pub applied: BTreeMap<ObjectRef, Value>,
    pub pruned: BTreeSet<ObjectRef>,
    /// Per-object errors.
    pub errors: BTreeMap<ObjectRef, String>,
    /// Objects not attempted because an earlier wave failed.
    pub skipped: BTreeSet<ObjectRef>,
    /// At least one error was the cluster's, not the object's (429, 5xx, a
    /// lost connection) and outlived the client's own retries: the sync is
    /// worth repeating as it is, with backoff (phase `Error`).
    pub transient: bool,
    /// How long the apply took, waves and prunes included.
    pub elapsed: std::time::Duration,
}

/// An apply error, saying so when the conflict is with another app's field
/// manager (two apps applied the object at once, before either saw the other's
/// label): the next reconcile reports it as a SharedResource conflict.
fn conflict_with_app(e: &KubeError) -> String {
    let text = e.to_string();
    let prefix = format!("conflict with \"{FIELD_MANAGER}/");
    if e.is_conflict() && text.contains(&prefix) {
        // Not SHARED_PREFIX: that marks objects Plan left to another app,
        // which Record keeps out of the inventory. This one may be ours.
        format!("another app applies this object too (SharedResource): {text}")
    } else {
        text
    }
}

/// `take_over`: apply with force whatever the app's options (self-heal).
pub async fn run(
    cluster: &Arc<Cluster>,
    app: &Application,
    plan: &Plan,
    take_over: bool,
) -> ApplyOutcome {
    let started = std::time::Instant::now();
    let mut out = run_waves(cluster, app, plan, take_over).await;
    out.elapsed = started.elapsed();
    out
}

async fn run_waves(
    cluster: &Arc<Cluster>,
    app: &Application,
    plan: &Plan,
    take_over: bool,
) -> ApplyOutcome {
    let key = format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any());
    let force = take_over || app.spec.force_conflicts();
    let tracking =
        tether_model::tracking_value(&app.namespace().unwrap_or_default(), &app.name_any());
    let manager = tether_model::field_manager_for(&tracking);
    let mut out = ApplyOutcome {
        phase: OperationPhase::Succeeded,
        ..Default::default()
    };
    if app.spec.sync_option("CreateNamespace")
        && let Some(ns) = app
            .spec
            .destination
            .namespace
            .as_deref()
            .filter(|n| !n.is_empty())
    {
        {
            match cluster.ensure_namespace(ns, FIELD_MANAGER).await {
                Ok(true) => {
                    tracing::info!(app = %key, object = %format!("Namespace {ns}"), "created (CreateNamespace)")
                }
                Ok(false) => {}
                Err(e) => {
                    out.transient = e.is_transient();
                    out.phase = if out.transient {
                        OperationPhase::Error
                    } else {
                        OperationPhase::Failed
                    };
                    out.message = format!("creating namespace {ns}: {e}");
                    return out;
                }
            }
        }
    }

    let mut failed_wave: Option<String> = None;
    // Objects whose error was the cluster's (transient), not their own.
    let mut flaky: BTreeSet<ObjectRef> = BTreeSet::new();
    for (stage, wave, steps) in plan.waves() {
        let todo: Vec<&Step> = steps
            .into_iter()
            .filter(|s| matches!(s.action, Action::Create | Action::Update))
            .collect();
        if todo.is_empty() {
            continue;
        }
        if failed_wave.is_some() {
            out.skipped.extend(todo.iter().map(|s| s.object.clone()));
            continue;
        }
        // Owned values in the closures: borrowed ones trip the compiler's
        // higher-ranked lifetime check once this future is spawned.
        let work: Vec<(ObjectRef, Action, Value, Vec<String>)> = todo
            .iter()
            .map(|s| {
                (
                    s.object.clone(),
                    s.action,
                    s.desired.clone().unwrap_or(Value::Null),
                    s.fold.clone(),
                )
            })
            .collect();
        let shared = cluster.clone();
        let manager = manager.clone();
        let results: Vec<(ObjectRef, Action, Result<Value, KubeError>)> = stream::iter(work)
            .map(move |(r, action, obj, fold)| {
                let cluster = shared.clone();
                let manager = manager.clone();
                async move {
                    // Fields the previous manager applied become this app's, so
                    // what this app's Git leaves out is removed by the apply.
                    if !fold.is_empty()
                        && let Err(e) =
                            crate::owner::fold_managers(&cluster, &r, &fold, &manager).await
                    {
                        return (r, action, Err(e));
                    }
                    // A create is never forced: if another app created the object
                    // meanwhile, its field manager's conflict stops this one.
                    let force = force && action != Action::Create;
                    let res = cluster.apply(&obj, &manager, force, false).await;
                    (r, action, res)
                }
            })
            .buffer_unordered(APPLY_CONCURRENCY)
            .collect()
            .await;
        let mut wave_failed = false;
        for (r, action, res) in results {
            match res {
                Ok(obj) => {
                    let verb = if action == Action::Create {
                        "created"
                    } else {
                        "configured"
                    };
                    tracing::info!(app = %key, object = %r, wave, "{verb}");
                    // Without tether's own field tree, as the live cache keeps
                    // it: every object of a large app is held here at once.
                    out.applied.insert(r, crate::watch::strip(obj));
                }
                Err(e) => {
                    tracing::warn!(app = %key, object = %r, wave, "apply failed: {e}");
                    if e.is_transient() {
                        flaky.insert(r.clone());
                    }
                    out.errors.insert(r, conflict_with_app(&e));
                    wave_failed = true;
                }
            }
        }
        // CRDs must be Established before objects of their kinds are applied.
        if stage == Stage::Foundation {
            for (r, _) in out
                .applied
                .iter()
                .filter(|(r, _)| r.kind == "CustomResourceDefinition")
            {
                if let Err(e) = cluster.wait_established(&r.name, ESTABLISH_TIMEOUT).await {
                    if e.is_transient() {
                        flaky.insert(r.clone());
                    }
                    out.errors.insert(r.clone(), e.to_string());
                    wave_failed = true;
                }
            }
            let _ = cluster.refresh_discovery().await;
        }
        if wave_failed {
            failed_wave = Some(format!("{stage:?} wave {wave}"));
        }
    }

    // Prune only when every apply succeeded: a half-applied app must not lose
    // objects on top of it.
    let prunes: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| s.action == Action::Prune)
        .collect();
    if failed_wave.is_none() {
        for step in prunes {
            // The plan judged an object read before the applies; another app may
            // have taken it over since. Read it again and delete exactly that copy.
            let fresh = match cluster.get(&step.object).await {
                Ok(Some(obj)) => obj,
                Ok(None) => {
                    out.pruned.insert(step.object.clone());
                    continue;
                }
                Err(e) => {
                    // Not read, not deleted: it stays in the inventory for the next sync.
                    tracing::warn!(app = %key, object = %step.object, "prune failed: reading it: {e}");
                    if e.is_transient() {
                        flaky.insert(step.object.clone());
                    }
                    out.errors
                        .insert(step.object.clone(), format!("prune failed: {e}"));
                    continue;
                }
            };
            if !tether_plan::plan::prunable_by(&fresh, &tracking) {
                tracing::info!(app = %key, object = %step.object, "not pruned: no longer this app's");
                out.skipped.insert(step.object.clone());
                continue;
            }
            let uid = fresh["metadata"]["uid"].as_str().unwrap_or_default();
            let rv = fresh["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default();
            match cluster.delete_exact(&step.object, Some((uid, rv))).await {
                Ok(()) => {
                    tracing::info!(app = %key, object = %step.object, "pruned");
                    out.pruned.insert(step.object.clone());
                }
                Err(e) => {
                    tracing::warn!(app = %key, object = %step.object, "prune failed: {e}");
                    if e.is_transient() {
                        flaky.insert(step.object.clone());
                    }
                    out.errors
                        .insert(step.object.clone(), format!("prune failed: {e}"));
                }
            }
        }
    } else {
        out.skipped.extend(prunes.iter().map(|s| s.object.clone()));
    }

    if !out.errors.is_empty() {
        // A transient error makes the whole sync worth repeating: phase Error,
        // and the message names that object and the API's error first.
        out.transient = !flaky.is_empty();
        out.phase = if out.transient {
            OperationPhase::Error
        } else {
            OperationPhase::Failed
        };
        let first = out
            .errors
            .iter()
            .find(|(r, _)| !out.transient || flaky.contains(*r))
            .map(|(r, e)| format!("{r}: {e}"))
            .unwrap_or_default();
        out.message = match &failed_wave {
            Some(w) => format!(
                "{} object(s) failed in {w}; later waves and prunes were not run. First: {first}",
                out.errors.len()
            ),
            None => format!("{} object(s) failed. First: {first}", out.errors.len()),
        };
    } else {
        out.message = format!("{} applied, {} pruned", out.applied.len(), out.pruned.len());
    }
    // Say what changed hands, and what was left to another app.
    let mut notes: Vec<String> = Vec::new();
    for step in plan
        .steps
        .iter()
        .filter(|s| out.applied.contains_key(&s.object))
    {
        match &step.claim {
            Some(Claim::Adopt) => notes.push(format!("adopted {}", step.object)),
            Some(Claim::Orphan { from }) => {
                notes.push(format!("adopted {} from app {from}", step.object))
            }
            Some(Claim::TakeOver { from }) => {
                notes.push(format!("took {} over from app {from}", step.object))
            }
            _ => {}
        }
    }
    let shared = plan
        .steps
        .iter()
        .filter(|s| s.action == Action::Shared)
        .count();
    if shared > 0 {
        notes.push(format!(
            "{shared} not applied: managed by another app (SharedResource)"
        ));
    }
    if !notes.is_empty() {
        let more = notes.len().saturating_sub(NOTES_SHOWN);
        notes.truncate(NOTES_SHOWN);
        if more > 0 {
            notes.push(format!("and {more} more"));
        }
        out.message = format!("{}; {}", out.message, notes.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict(message: &str) -> KubeError {
        KubeError::Api {
            code: 409,
            reason: "Conflict".into(),
            message: message.into(),
        }
    }

    #[test]
    fn a_conflict_with_another_apps_manager_says_so() {
        let e = conflict(
            r#"Apply failed with 1 conflict: conflict with "tether/tether.first": .data.value"#,
        );
        assert!(
            conflict_with_app(&e)
                .starts_with("another app applies this object too (SharedResource): Apply failed"),
            "{}",
            conflict_with_app(&e)
        );
        // Any other manager's conflict, or another error, reads as it came.
        let kubectl =
            conflict(r#"Apply failed with 1 conflict: conflict with "kubectl": .data.value"#);
        assert_eq!(conflict_with_app(&kubectl), kubectl.to_string());
        let other = KubeError::Other(r#"conflict with "tether/x""#.into());
        assert_eq!(conflict_with_app(&other), other.to_string());
    }
}
