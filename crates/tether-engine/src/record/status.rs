//! The status sink: what a reconcile's report means for the Application's
//! status: conditions (kstatus Ready / Reconciling / Stalled), sync, health,
//! the inventory, the operation and its history entry. Pure except for
//! `write_status`.

use std::collections::HashSet;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tether_kube::Cluster;
use tether_model::{
    Application, ApplicationStatus, CommitInfo, Condition, HealthCode, HealthStatus, HistoryEntry,
    Inventory, ObjectRef, OperationPhase, OperationState, ResourceCounts, ResourceResult,
    ResourceStatus, SyncCode, SyncStatus,
};
use tether_plan::plan::{Action, Plan, Step};

use crate::apply::ApplyOutcome;
use crate::pipeline::{Desired, short};
use crate::time;

/// Field manager for status writes: separate from `tether`, which owns the
/// applied objects.
pub const STATUS_MANAGER: &str = "tether-agent";

/// A reconcile that stopped before syncing, with a kstatus reason.
#[derive(Debug, Clone)]
pub struct Failure {
    pub reason: &'static str,
    pub message: String,
    /// Where in the repository the commit's content is at fault, when known.
    pub location: Option<Location>,
}

/// A file in the repository, with line and column when known (1-based).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Location {
    pub file: String,
    pub line: Option<u64>,
    pub column: Option<u64>,
}

impl Failure {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            reason,
            message: message.into(),
            location: None,
        }
    }

    pub fn at(mut self, location: Option<Location>) -> Failure {
        self.location = location;
        self
    }
}

/// `status.error` for a reconcile that stopped at `stage`, keeping `since`
/// while it keeps failing the same way.
pub fn status_error(
    previous: Option<&tether_model::StatusError>,
    stage: crate::report::Stage,
    failure: &Failure,
    revision: Option<&str>,
) -> tether_model::StatusError {
    let loc = failure.location.clone().unwrap_or_default();
    let mut e = tether_model::StatusError {
        stage: stage.as_str().to_string(),
        reason: failure.reason.to_string(),
        message: failure.message.clone(),
        revision: revision.map(str::to_string),
        file: failure.location.as_ref().map(|_| loc.file.clone()),
        line: loc.line,
        column: loc.column,
        since: None,
    };
    let same = previous.filter(|p| {
        p.stage == e.stage && p.reason == e.reason && p.revision == e.revision && p.file == e.file
    });
    e.since = Some(same.and_then(|p| p.since.clone()).unwrap_or_else(time::now));
    e
}

pub fn resource_ref(r: &ResourceStatus) -> ObjectRef {
    ObjectRef::new(&r.group, &r.kind, &r.namespace, &r.name)
}

fn cond(
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: None,
        observed_generation: generation,
    }
}

/// Source, Render or Plan failed: nothing was applied or pruned. The inventory
/// and health stay as they were; sync becomes Unknown.
pub fn failed_before_sync(status: &mut ApplicationStatus, app: &Application, failure: &Failure) {
    let now = time::now();
    let generation = app.metadata.generation;
    let message = format!("{}; nothing was applied or pruned", failure.message);
    status.set_condition(
        cond("Ready", false, failure.reason, &message, generation),
        &now,
    );
    status.set_condition(
        cond("Stalled", true, failure.reason, &message, generation),
        &now,
    );
    status.set_condition(
        cond("Reconciling", false, failure.reason, "", generation),
        &now,
    );
    let revision = status.sync.as_ref().and_then(|s| s.revision.clone());
    status.sync = Some(SyncStatus {
        status: SyncCode::Unknown,
        revision,
    });
    status.observed_generation = generation;
    status.reconciled_at = Some(now);
}

pub fn suspended(status: &mut ApplicationStatus, app: &Application) {
    let now = time::now();
    let generation = app.metadata.generation;
    let msg = "spec.suspend is true: not refreshed or synced";
    status.set_condition(cond("Ready", false, "Suspended", msg, generation), &now);
    status.set_condition(
        cond("Reconciling", false, "Suspended", "", generation),
        &now,
    );
    status.remove_condition("Stalled");
    status.observed_generation = generation;
}

/// How [`sync_reason`] ends the reason of a retry after transient cluster
/// errors, which [`operation_started`] counts apart from `retry.limit`.
pub const TRANSIENT_RETRY: &str = "after a transient cluster error";

/// Why to sync now, or None. Follows Argo CD's automated policy: sync when Git
/// moved or the spec changed, not merely because live drifted (unless
/// selfHeal), and retry a failed sync only as `retry` allows.
pub fn sync_reason(
    app: &Application,
    status: &ApplicationStatus,
    revision: &str,
    plan: &Plan,
    requested: bool,
) -> Option<String> {
    if requested {
        return Some("requested".into());
    }
    // The cluster failed, not the commit (429, 5xx, a lost connection): try
    // the same sync again, automated or not and whatever `retry` says; the
    // agent backs off between attempts.
    if let Some(op) = status.operation_state.as_ref()
        && op.phase == OperationPhase::Error
        && op.revision.as_deref() == Some(revision)
        && !plan.in_sync()
    {
        return Some(format!(
            "retry {} {TRANSIENT_RETRY}",
            op.transient_retries + 1
        ));
    }
    let automated = app.spec.automated()?;
    let Some(op) = status.operation_state.as_ref() else {
        return Some("first sync".into());
    };
    if op.revision.as_deref() != Some(revision) {
        return Some(format!("new revision {}", short(revision)));
    }
    // Against the generation last synced, not observedGeneration: a spec
    // change seen while the source was failing must still be synced later.
    if op.synced_generation.is_some() && op.synced_generation != app.metadata.generation {
        return Some("the Application spec changed".into());
    }
    if op.phase == OperationPhase::Running {
        // The agent stopped mid-sync: finish the job.
        return Some("the last sync was interrupted".into());
    }
    if op.phase != OperationPhase::Succeeded && !plan.in_sync() {
        let limit = app
            .spec
            .sync_policy
            .as_ref()
            .and_then(|p| p.retry.as_ref())
            .map(|r| r.limit)
            .unwrap_or(0);
        if limit < 0 || op.retry_count < limit {
            return Some(format!("retry {} of the failed sync", op.retry_count + 1));
        }
        return None;
    }
    // Only when applying or pruning would change something: an extra object
    // kept on purpose must not cause a no-op sync every poll.
    let has_work = plan
        .steps
        .iter()
        .any(|s| matches!(s.action, Action::Create | Action::Update | Action::Prune));
    let detect_only = app.spec.sync_policy.as_ref().is_some_and(|p| p.detect_only);
    if automated.self_heal && !detect_only && has_work {
        return Some(format!("self-heal: {}", plan.summary()));
    }
    None
}

/// The retry policy's wait before attempt `n` (0-based).
pub fn retry_delay(app: &Application, n: i64) -> Option<Duration> {
    let retry = app.spec.sync_policy.as_ref()?.retry.as_ref()?;
    let backoff = retry.backoff.clone().unwrap_or(tether_model::Backoff {
        duration: None,
        factor: None,
        max_duration: None,
    });
    let base = backoff
        .duration
        .as_deref()
        .and_then(time::parse_duration)
        .unwrap_or(Duration::from_secs(5));
    let factor = backoff.factor.unwrap_or(2).max(1) as f64;
    let max = backoff
        .max_duration
        .as_deref()
        .and_then(time::parse_duration)
        .unwrap_or(Duration::from_secs(180));
    let secs = base.as_secs_f64() * factor.powi(n.clamp(0, 30) as i32);
    // try_from: a user's huge factor or duration must not panic the agent.
    Some(Duration::try_from_secs_f64(secs).unwrap_or(max).min(max))
}

/// The wait before the next attempt of a sync that failed on transient
/// cluster errors, after `retries` such attempts: 1 s, 2 s, 4 s … (as the
/// agent backs off) up to `cap`.
pub fn transient_delay(retries: i64, cap: Duration) -> Duration {
    Duration::from_secs(1u64 << retries.clamp(0, 16)).min(cap)
}

/// A sync failed on transient cluster errors and is tried again after `wait`:
/// Ready=False `ClusterUnavailable` names the object, the API's error and
/// when; Reconciling is True and Stalled False, as no one needs to act.
pub fn transient_retry(status: &mut ApplicationStatus, app: &Application, wait: Duration) {
    let now = time::now();
    let generation = app.metadata.generation;
    let when = if wait < Duration::from_secs(1) {
        format!("{}ms", wait.as_millis())
    } else {
        format!("{}s", wait.as_secs())
    };
    let what = status
        .operation_state
        .as_ref()
        .map(|o| o.message.clone())
        .unwrap_or_default();
    let message = format!("{what}; retrying in {when}");
    status.set_condition(
        cond("Ready", false, "ClusterUnavailable", &message, generation),
        &now,
    );
    status.set_condition(
        cond(
            "Reconciling",
            true,
            "Retrying",
            &format!("the cluster failed transiently; retrying in {when}"),
            generation,
        ),
        &now,
    );
    status.set_condition(cond("Stalled", false, "Retrying", "", generation), &now);
}

/// The operation's `(retry_count, transient_retries)` once a sync for
/// `reason` begins after `previous`: see [`operation_started`].
pub fn retry_counts(previous: Option<&OperationState>, reason: &str) -> (i64, i64) {
    let transient = reason.starts_with("retry") && reason.ends_with(TRANSIENT_RETRY);
    let is_retry = reason.starts_with("retry") && !transient;
    match previous {
        Some(op) if transient => (op.retry_count, op.transient_retries + 1),
        Some(op) if is_retry => (op.retry_count + 1, 0),
        _ => (0, 0),
    }
}

/// The app already shows this failure (its Ready message begins with it):
/// a retry that failed the same way is not news for the audit log or Events.
pub fn already_shown(stored: Option<&ApplicationStatus>, failure: &Failure) -> bool {
    let shown = stored
        .and_then(|s| s.condition("Ready"))
        .map(|c| c.message.as_str())
        .unwrap_or("");
    shown.starts_with(&failure.message)
}

/// A sync begins, for `reason` (from [`sync_reason`]). The automated retry of
/// a failed sync is what counts against `retry.limit`; a retry after
/// transient cluster errors is counted apart, and requested and spec-change
/// syncs count as neither.
pub fn operation_started(
    status: &mut ApplicationStatus,
    revision: &str,
    initiator: &str,
    generation: Option<i64>,
    reason: &str,
    options: Option<&tether_model::SyncOptions>,
) {
    let (retry_count, transient_retries) = retry_counts(status.operation_state.as_ref(), reason);
    status.operation_state = Some(OperationState {
        phase: OperationPhase::Running,
        message: format!("syncing: {reason}"),
        revision: Some(revision.to_string()),
        initiator: initiator.to_string(),
        started_at: time::now(),
        finished_at: None,
        results: Vec::new(),
        results_omitted: 0,
        retry_count,
        transient_retries,
        synced_generation: generation,
        options: options.cloned(),
    });
    let now = time::now();
    status.set_condition(
        cond(
            "Reconciling",
            true,
            "Syncing",
            &format!("syncing {}", short(revision)),
            None,
        ),
        &now,
    );
}

/// Add every object the plan is about to create or take over to the inventory
/// (`status.inventory`) as OutOfSync, so the Running status written before the
/// apply already names them: if the agent dies between creating an object and
/// recording it, the next reconcile still prunes it once Git drops it. Linear
/// in the number of objects: one set of what the inventory holds, one pass over
/// the plan.
pub fn inventory_intent(status: &mut ApplicationStatus, plan: &Plan) {
    // A status written before the compact inventory: `resources` was the
    // inventory; carry it over before trimming `resources` to the detail.
    let old_form = status.inventory.is_none();
    let mut inventory = compact_inventory(&status.inventory_objects());
    if old_form {
        status.resources.retain(needs_attention);
        status.resources.truncate(RESOURCE_DETAIL_LIMIT);
    }
    let known: HashSet<ObjectRef> = inventory.refs().into_iter().collect();
    let mut listed = status.resources.len();
    let mut new: Vec<(ObjectRef, String)> = Vec::new();
    // Updates too: an existing object taken over (adopted) is not in the
    // inventory yet either.
    for step in plan
        .steps
        .iter()
        .filter(|s| matches!(s.action, Action::Create | Action::Update))
        .filter(|s| !known.contains(&s.object))
    {
        let version = step
            .desired
            .as_ref()
            .and_then(|o| o["apiVersion"].as_str())
            .map(|v| tether_model::object::split_api_version(v).1.to_string())
            .unwrap_or_default();
        // Detail only while it stays small; the inventory has them all.
        if listed < RESOURCE_DETAIL_LIMIT {
            listed += 1;
            status.resources.push(ResourceStatus {
                group: step.object.group.clone(),
                version: version.clone(),
                kind: step.object.kind.clone(),
                namespace: step.object.namespace.clone(),
                name: step.object.name.clone(),
                status: SyncCode::OutOfSync,
                health: None,
                message: if step.action == Action::Create {
                    "being created".into()
                } else {
                    "being applied".into()
                },
                requires_pruning: false,
                drift: None,
            });
        }
        new.push((step.object.clone(), version));
    }
    inventory.extend(new.iter().map(|(r, v)| (r, v.as_str())));
    status.inventory = Some(inventory);
}

/// The compact inventory of these objects.
pub fn compact_inventory(objects: &[(ObjectRef, String)]) -> Inventory {
    Inventory::from_objects(objects.iter().map(|(r, v)| (r, v.as_str())))
}

/// At most this many objects get per-object detail in `status.resources`.
pub const RESOURCE_DETAIL_LIMIT: usize = 100;
/// A detail message is cut to this many characters.
const DETAIL_MESSAGE_CHARS: usize = 300;
/// An operation's (and history entry's) message is cut to this many characters.
const OPERATION_MESSAGE_CHARS: usize = 2000;
/// At most this many per-object results in `operationState.results`.
pub const RESULTS_LIMIT: usize = 100;
/// The status is trimmed (oldest history, then detail, then results) until
/// its JSON is at most this big, well under etcd's 1.5 MiB and the 1 MiB the
/// docs promise.
pub const STATUS_BUDGET: usize = 960 * 1024;

/// Not Synced and Healthy, or carrying drift or a pending prune: worth a line
/// of detail.
pub fn needs_attention(r: &ResourceStatus) -> bool {
    r.status != SyncCode::Synced
        || r.health
            .as_ref()
            .is_none_or(|h| h.status != HealthCode::Healthy)
        || r.requires_pruning
        || r.drift.is_some()
}

/// The inventory, the counts and the detail from every object's status.
fn record_resources(status: &mut ApplicationStatus, resources: Vec<ResourceStatus>) {
    // An object another app holds is declared here but not this app's: it
    // stays in the detail (OutOfSync, SharedResource) and out of the
    // inventory, so it is never pruned from under its owner.
    let objects: Vec<(ObjectRef, String)> = resources
        .iter()
        .filter(|r| !r.message.starts_with(crate::owner::SHARED_PREFIX))
        .map(|r| (resource_ref(r), r.version.clone()))
        .collect();
    status.inventory = Some(compact_inventory(&objects));
    let mut counts = ResourceCounts {
        total: resources.len() as u64,
        ..Default::default()
    };
    let mut detail = Vec::new();
    for mut r in resources {
        if r.status != SyncCode::Synced {
            counts.out_of_sync += 1;
        }
        if r.health
            .as_ref()
            .is_none_or(|h| h.status != HealthCode::Healthy)
        {
            counts.unhealthy += 1;
        }
        if !needs_attention(&r) {
            counts.fine += 1;
        } else if detail.len() < RESOURCE_DETAIL_LIMIT {
            r.message = cut(&r.message, DETAIL_MESSAGE_CHARS);
            detail.push(r);
        } else {
            counts.not_listed += 1;
        }
    }
    status.resources = detail;
    status.resource_counts = Some(counts);
}

/// At most `max` characters, with `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// Keep the status under [`STATUS_BUDGET`] whatever else grew: drop the
/// oldest history entries (keeping the last), then halve the per-object
/// detail, then the results. The inventory and the conditions stay whole.
pub fn bound_size(status: &mut ApplicationStatus) {
    // A status written before the compact inventory keeps its inventory in
    // `resources`: carry it over first, so trimming drops detail, not objects.
    if status.inventory.is_none() && !status.resources.is_empty() {
        status.inventory = Some(compact_inventory(&status.inventory_objects()));
    }
    loop {
        let len = serde_json::to_vec(&*status).map(|v| v.len()).unwrap_or(0);
        if len <= STATUS_BUDGET {
            return;
        }
        if status.history.len() > 1 {
            status.history.remove(0);
        } else if !status.resources.is_empty() {
            let keep = status.resources.len() / 2;
            let dropped = (status.resources.len() - keep) as u64;
            status.resources.truncate(keep);
            if let Some(c) = status.resource_counts.as_mut() {
                c.not_listed += dropped;
            }
        } else if let Some(op) = status
            .operation_state
            .as_mut()
            .filter(|o| !o.results.is_empty())
        {
            let keep = op.results.len() / 2;
            op.results_omitted += (op.results.len() - keep) as u64;
            op.results.truncate(keep);
        } else {
            return;
        }
    }
}

/// The results kept in the status: all of them when few, else failures
/// first, then changes, then the rest, up to [`RESULTS_LIMIT`]; and how many
/// were left out.
fn bound_results(all: &[ResourceResult]) -> (Vec<ResourceResult>, u64) {
    if all.len() <= RESULTS_LIMIT {
        return (all.to_vec(), 0);
    }
    let rank = |r: &ResourceResult| {
        if r.status == "SyncFailed" {
            0
        } else if r.action != "unchanged" {
            1
        } else {
            2
        }
    };
    let mut order: Vec<usize> = (0..all.len()).collect();
    // Stable: plan order within a rank.
    order.sort_by_key(|&i| rank(&all[i]));
    order.truncate(RESULTS_LIMIT);
    order.sort_unstable();
    let kept: Vec<ResourceResult> = order.into_iter().map(|i| all[i].clone()).collect();
    let omitted = (all.len() - kept.len()) as u64;
    (kept, omitted)
}

/// Sync status and message of one object after this reconcile.
pub fn resource_sync(step: &Step, synced: Option<&ApplyOutcome>) -> (SyncCode, String) {
    if let Some(s) = synced {
        if let Some(e) = s.errors.get(&step.object) {
            return (SyncCode::OutOfSync, e.clone());
        }
        if s.skipped.contains(&step.object) {
            return (
                SyncCode::OutOfSync,
                "not applied: an earlier wave failed".into(),
            );
        }
        if s.applied.contains_key(&step.object) {
            return (SyncCode::Synced, String::new());
        }
    }
    match step.action {
        Action::Unchanged => (SyncCode::Synced, String::new()),
        Action::Create => (SyncCode::OutOfSync, "missing from the cluster".into()),
        Action::Update => (SyncCode::OutOfSync, step.reason.clone()),
        Action::Prune | Action::PruneSkipped => (SyncCode::OutOfSync, step.reason.clone()),
        Action::Shared => (
            SyncCode::OutOfSync,
            format!("{}{}", crate::owner::SHARED_PREFIX, step.reason),
        ),
    }
}

/// Returns every per-object result of the sync (empty when none ran), for the
/// audit log: the status keeps at most [`RESULTS_LIMIT`] of them.
#[allow(clippy::too_many_arguments)]
pub fn finish(
    status: &mut ApplicationStatus,
    app: &Application,
    desired: &Desired,
    plan: &Plan,
    applied_plan: &Plan,
    resources: Vec<ResourceStatus>,
    health: HealthStatus,
    synced: Option<&ApplyOutcome>,
    initiator: &str,
    history_limit: usize,
) -> Vec<ResourceResult> {
    let now = time::now();
    let generation = app.metadata.generation;
    let revision = desired.resolved.commit.clone();
    let out_of_sync = resources.iter().any(|r| r.status != SyncCode::Synced);
    let sync_code = if out_of_sync {
        SyncCode::OutOfSync
    } else {
        SyncCode::Synced
    };
    status.sync = Some(SyncStatus {
        status: sync_code,
        revision: Some(revision.clone()),
    });
    status.health = Some(health.clone());
    // Before the detail is cut to its limit: the message counts every object.
    let out_of_sync_text = out_of_sync.then(|| out_of_sync_message(&resources));
    record_resources(status, resources);
    status.observed_generation = generation;
    let mut all_results = Vec::new();
    status.reconciled_at = Some(now.clone());

    if let Some(outcome) = synced {
        let started_at = status
            .operation_state
            .as_ref()
            .map(|o| o.started_at.clone())
            .unwrap_or_else(|| now.clone());
        let (retry_count, transient_retries) = status
            .operation_state
            .as_ref()
            .map(|o| (o.retry_count, o.transient_retries))
            .unwrap_or((0, 0));
        // Why this sync ran (`syncing: <reason>`), then what it did.
        let why = status
            .operation_state
            .as_ref()
            .and_then(|o| o.message.strip_prefix("syncing: "))
            .map(str::to_string)
            .unwrap_or_default();
        let message = if why.is_empty() {
            outcome.message.clone()
        } else {
            format!("{why}; {}", outcome.message)
        };
        let message = cut(&message, OPERATION_MESSAGE_CHARS);
        let synced_generation = status
            .operation_state
            .as_ref()
            .and_then(|o| o.synced_generation);
        // Over what was applied: a sync of selected objects changed only those.
        let results = results(applied_plan, outcome);
        let summary = summarise(&results);
        let (changes, objects) = changed_objects(applied_plan, &results);
        let options = status
            .operation_state
            .as_ref()
            .and_then(|o| o.options.clone());
        let (kept, results_omitted) = bound_results(&results);
        all_results = results;
        let results = kept;
        let op = OperationState {
            phase: outcome.phase,
            message: message.clone(),
            revision: Some(revision.clone()),
            initiator: initiator.to_string(),
            started_at: started_at.clone(),
            finished_at: Some(now.clone()),
            results,
            results_omitted,
            retry_count,
            transient_retries,
            synced_generation,
            options: options.clone(),
        };
        let meta = &desired.resolved.meta;
        // Retries after transient errors replace one another, so an outage
        // does not push the last good syncs out of the history.
        let repeat = outcome.phase == OperationPhase::Error
            && status
                .history
                .last()
                .is_some_and(|h| h.result == OperationPhase::Error && h.revision == revision);
        if repeat {
            status.history.pop();
        }
        let id = status.history.last().map(|h| h.id + 1).unwrap_or(1);
        status.history.push(HistoryEntry {
            id,
            revision: revision.clone(),
            commit: Some(CommitInfo {
                author: meta.author.clone(),
                message: meta.message.trim_end().to_string(),
                time: time::from_unix(meta.time),
            }),
            started_at,
            finished_at: Some(now.clone()),
            result: outcome.phase,
            initiator: initiator.to_string(),
            message: message.clone(),
            summary,
            changes,
            objects,
            duration_ms: Some(u64::try_from(outcome.elapsed.as_millis()).unwrap_or(u64::MAX)),
            options,
        });
        let excess = status.history.len().saturating_sub(history_limit.max(1));
        status.history.drain(..excess);
        status.operation_state = Some(op);
    }

    // kstatus conditions.
    let sync_failed = status
        .operation_state
        .as_ref()
        .is_some_and(|o| matches!(o.phase, OperationPhase::Failed | OperationPhase::Error))
        && status
            .operation_state
            .as_ref()
            .and_then(|o| o.revision.as_deref())
            == Some(revision.as_str())
        // Once live matches Git again (fixed by hand, say), the failure is history.
        && sync_code == SyncCode::OutOfSync;
    let (ready, reason, message) = if sync_failed {
        let msg = status
            .operation_state
            .as_ref()
            .map(|o| o.message.clone())
            .unwrap_or_default();
        (false, "SyncFailed", msg)
    } else if let Some(blocked) = &plan.prune_blocked {
        (false, "PruneBlocked", blocked.clone())
    } else if let Some(shared) = plan.shared_conflict() {
        (false, crate::owner::SHARED_RESOURCE, shared)
    } else if sync_code == SyncCode::OutOfSync {
        (false, "OutOfSync", out_of_sync_text.unwrap_or_default())
    } else {
        match health.status {
            HealthCode::Healthy => (
                true,
                "Succeeded",
                format!("synced to {} and healthy", short(&revision)),
            ),
            HealthCode::Progressing => (false, "Progressing", health.message.clone()),
            HealthCode::Degraded => (false, "Degraded", health.message.clone()),
            HealthCode::Missing => (false, "Missing", health.message.clone()),
            HealthCode::Suspended => (true, "Suspended", health.message.clone()),
            HealthCode::Unknown => (false, "HealthUnknown", health.message.clone()),
        }
    };
    status.set_condition(cond("Ready", ready, reason, &message, generation), &now);
    match &status.rollback {
        Some(rb) => {
            let message = format!(
                "rolled back to {}; auto-sync will not move forward until Git moves past {} or `tether app sync`",
                short(&rb.revision),
                short(&rb.held_head)
            );
            status.set_condition(
                cond("RolledBack", true, "Rollback", &message, generation),
                &now,
            );
        }
        None => status.remove_condition("RolledBack"),
    }
    let reconciling = health.status == HealthCode::Progressing && !sync_failed;
    status.set_condition(
        cond(
            "Reconciling",
            reconciling,
            if reconciling { "Progressing" } else { "Idle" },
            if reconciling { &health.message } else { "" },
            generation,
        ),
        &now,
    );
    // Another app's object waits for a person to decide whose it is.
    let shared = reason == crate::owner::SHARED_RESOURCE;
    let stalled = sync_failed || shared || health.status == HealthCode::Degraded;
    status.set_condition(
        cond(
            "Stalled",
            stalled,
            if sync_failed {
                "SyncFailed"
            } else if shared {
                crate::owner::SHARED_RESOURCE
            } else if stalled {
                "Degraded"
            } else {
                "Idle"
            },
            if stalled { &message } else { "" },
            generation,
        ),
        &now,
    );
    // Commit messages and authors, tool output and object messages come from
    // the repository: escaped here as well as at the write, so that a status
    // compared with the stored one before writing compares equal.
    status.escape_control();
    all_results
}

fn out_of_sync_message(resources: &[ResourceStatus]) -> String {
    let odd: Vec<&ResourceStatus> = resources
        .iter()
        .filter(|r| r.status != SyncCode::Synced)
        .collect();
    // Only the ones shown are formatted: 50,000 strings for five is waste.
    let shown: Vec<String> = odd
        .iter()
        .take(5)
        .map(|r| {
            let what = ObjectRef::new(&r.group, &r.kind, &r.namespace, &r.name);
            if r.requires_pruning {
                format!(
                    "{what} (not in Git{})",
                    if r.message.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", r.message)
                    }
                )
            } else if r.message.is_empty() {
                what.to_string()
            } else {
                format!("{what} ({})", r.message)
            }
        })
        .collect();
    let more = if odd.len() > 5 {
        format!(" and {} more", odd.len() - 5)
    } else {
        String::new()
    };
    format!(
        "{} object(s) differ from Git: {}{more}",
        odd.len(),
        shown.join(", ")
    )
}

fn results(plan: &Plan, outcome: &ApplyOutcome) -> Vec<ResourceResult> {
    plan.steps
        .iter()
        .map(|step| {
            let r = &step.object;
            let (action, status, message) = if let Some(e) = outcome.errors.get(r) {
                let action = if step.action == Action::Prune {
                    "prune"
                } else {
                    action_name(step)
                };
                (action, "SyncFailed", e.clone())
            } else if outcome.pruned.contains(r) {
                ("pruned", "Pruned", String::new())
            } else if outcome.skipped.contains(r) {
                (
                    action_name(step),
                    "Skipped",
                    "an earlier wave failed".to_string(),
                )
            } else if step.action == Action::PruneSkipped {
                ("prune-skipped", "PruneSkipped", step.reason.clone())
            } else if let Some((action, status, message)) = crate::owner::result(step, outcome) {
                (action, status, message)
            } else {
                (action_name(step), "Synced", String::new())
            };
            ResourceResult {
                group: r.group.clone(),
                kind: r.kind.clone(),
                namespace: r.namespace.clone(),
                name: r.name.clone(),
                action: action.into(),
                status: status.into(),
                message,
                wave: Some(step.wave),
            }
        })
        .collect()
}

fn action_name(step: &Step) -> &'static str {
    match step.action {
        Action::Create => "created",
        Action::Update => "configured",
        Action::Unchanged => "unchanged",
        Action::Prune => "pruned",
        Action::PruneSkipped => "prune-skipped",
        Action::Shared => "shared",
    }
}

/// How many changed objects a history entry lists by name.
const HISTORY_CHANGES: usize = 20;

/// One line per object created, configured, pruned or failed, with the
/// fields an update changed: the first [`HISTORY_CHANGES`], then how many
/// more. `results` is [`results`]' output, one per step in plan order.
fn changed_objects(
    plan: &Plan,
    results: &[ResourceResult],
) -> (Vec<String>, Vec<tether_model::ChangedObject>) {
    let mut lines: Vec<String> = Vec::new();
    let mut objects: Vec<tether_model::ChangedObject> = Vec::new();
    let mut more = 0usize;
    let changed = plan.steps.iter().zip(results).filter(|(_, r)| {
        r.action != "unchanged" && r.status != "Skipped" && r.action != "prune-skipped"
    });
    for (step, r) in changed {
        if lines.len() == HISTORY_CHANGES {
            more += 1;
            continue;
        }
        let verb = if r.status == "SyncFailed" {
            format!("failed to {}", r.action.trim_end_matches('d'))
        } else {
            r.action.clone()
        };
        let fields: Vec<&str> = if step.action == Action::Update {
            step.changes
                .iter()
                .map(|c| c.path.as_str())
                .take(5)
                .collect()
        } else {
            Vec::new()
        };
        let object = &step.object;
        objects.push(tether_model::ChangedObject {
            group: object.group.clone(),
            kind: object.kind.clone(),
            namespace: object.namespace.clone(),
            name: object.name.clone(),
            action: verb.clone(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
        });
        lines.push(if crate::owner::names_another_app(r) {
            format!("{verb} {object} ({})", r.message)
        } else if fields.is_empty() {
            format!("{verb} {object}")
        } else {
            format!("{verb} {object}: {}", fields.join(", "))
        });
    }
    if more > 0 {
        lines.push(format!("… and {more} more"));
    }
    (lines, objects)
}

fn summarise(results: &[ResourceResult]) -> String {
    let count = |a: &str| {
        results
            .iter()
            .filter(|r| r.action == a && r.status != "SyncFailed")
            .count()
    };
    let failed = results.iter().filter(|r| r.status == "SyncFailed").count();
    let mut parts = Vec::new();
    for (n, label) in [
        (count("created"), "created"),
        (count("configured"), "configured"),
        (count("pruned"), "pruned"),
        (count("unchanged"), "unchanged"),
        (failed, "failed"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {label}"));
        }
    }
    if parts.is_empty() {
        "nothing to do".into()
    } else {
        parts.join(", ")
    }
}

/// Server-side apply of the whole status on the status subresource, retried
/// briefly on transient errors like every other write.
pub async fn write_status(
    cluster: &Cluster,
    app: &Application,
    mut status: ApplicationStatus,
) -> Result<(), tether_kube::KubeError> {
    // Clean text: nothing a repository wrote reaches the status with raw
    // control characters, whichever path built it (idempotent).
    status.escape_control();
    // Escaping can lengthen text, so the size bound comes after it.
    bound_size(&mut status);
    let api: Api<Application> = Api::namespaced(
        cluster.client().clone(),
        &app.namespace().unwrap_or_default(),
    );
    let body = json!({
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": app.name_any()},
        "status": status,
    });
    let params = PatchParams::apply(STATUS_MANAGER).force();
    let name = app.name_any();
    tether_kube::retrying(&format!("status of {name}"), || async {
        api.patch_status(&name, &params, &Patch::Apply(&body))
            .await
            .map_err(tether_kube::KubeError::from)
    })
    .await?;
    Ok(())
}

/// What [`status_of`] made of a report.
pub struct StatusUpdate {
    pub write: Write,
    /// Every object's result of the sync, for the audit log (the status
    /// keeps at most [`RESULTS_LIMIT`]).
    pub results: Vec<ResourceResult>,
    /// A `SharedResource` conflict that is new, to announce once.
    pub conflict: Option<String>,
}

/// Whether the status is written.
#[derive(Debug, PartialEq, Eq)]
pub enum Write {
    Always,
    /// Unless it differs from the stored one only in a recent `reconciledAt`.
    UnlessNothingNew,
    /// The reconcile stopped before anything worth a status (the status
    /// naming its sync could not be written).
    Never,
}

/// The status sink: what `report` means for `status` (the stored status, or
/// the one [`super::Record::sync_starting`] wrote). Moves the assessed
/// resources out of the report.
pub fn status_of(
    status: &mut ApplicationStatus,
    app: &Application,
    report: &mut super::Report,
    history_limit: usize,
    poll_interval: Duration,
) -> StatusUpdate {
    use super::report::Ended;
    let generation = app.metadata.generation;
    status.rollback = report.rollback.clone();
    let handled = report.requested.clone();
    let (write, results, conflict) = match &mut report.ended {
        Ended::Suspended => {
            suspended(status, app);
            (Write::Always, Vec::new(), None)
        }
        Ended::Stopped(s) => {
            failed_before_sync(status, app, &s.failure);
            let revision = report.commit.as_ref().map(|c| c.revision.as_str());
            status.error = Some(status_error(
                status.error.as_ref(),
                s.stage,
                &s.failure,
                revision,
            ));
            if s.handles_refresh && handled.is_some() {
                status.last_handled_refresh = handled;
            }
            (Write::Always, Vec::new(), None)
        }
        Ended::SyncNotStarted(_) => (Write::Never, Vec::new(), None),
        Ended::Reconciled(r) => {
            status.error = None;
            let planned = &r.planned;
            let resources = std::mem::take(&mut r.resources);
            let results = crate::limits::cpu_heavy(planned.size, || {
                let results = finish(
                    status,
                    app,
                    &planned.desired,
                    &planned.plan,
                    planned.sync_plan(),
                    resources,
                    r.health.clone(),
                    r.sync.as_ref().map(|s| &s.outcome),
                    &report.initiator,
                    history_limit,
                );
                bound_size(status);
                results
            });
            let conflict = crate::owner::condition(status, &planned.plan, generation);
            if handled.is_some() {
                status.last_handled_refresh = handled;
            }
            flapping_condition(status, r.flapping.as_deref(), generation);
            if let Some(sync) = r.sync.as_ref().filter(|s| s.transient()) {
                let wait = transient_delay(sync.retries.1, poll_interval);
                transient_retry(status, app, wait);
            }
            (Write::UnlessNothingNew, results, conflict)
        }
    };
    StatusUpdate {
        write,
        results,
        conflict,
    }
}

/// How stale `reconciledAt` may get while nothing else in the status changes.
const RECONCILED_AT_MAX_AGE: Duration = Duration::from_secs(300);

/// The status differs from what is stored only in `reconciledAt`, and the
/// stored one is recent: not worth a write.
pub fn nothing_new(stored: Option<&ApplicationStatus>, status: &ApplicationStatus) -> bool {
    let Some(stored) = stored else { return false };
    let recent = stored
        .reconciled_at
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .is_some_and(|t| {
            jiff::Timestamp::now().duration_since(t).unsigned_abs() < RECONCILED_AT_MAX_AGE
        });
    let mut same = status.clone();
    same.reconciled_at = stored.reconciled_at.clone();
    recent && same == *stored
}

/// `SelfHealFlapping` says who tether keeps fighting (`manager`, while it
/// is flapping); it clears once the fight is over.
pub fn flapping_condition(
    status: &mut ApplicationStatus,
    manager: Option<&str>,
    generation: Option<i64>,
) {
    let Some(manager) = manager else {
        status.remove_condition("SelfHealFlapping");
        return;
    };
    let message = format!(
        "self-heal flapping with manager {manager}: corrected {}+ times in {}s; backing off",
        crate::flapping::FREE_HEALS,
        crate::flapping::WINDOW.as_secs()
    );
    status.set_condition(
        cond("SelfHealFlapping", true, "Flapping", &message, generation),
        &time::now(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_plan::order::Stage;

    fn app(policy: serde_json::Value) -> Application {
        serde_json::from_value(json!({
            "apiVersion": "tether.dev/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "web", "namespace": "tether", "generation": 1},
            "spec": {
                "source": {"repoURL": "file:///repo", "path": "app"},
                "destination": {"namespace": "web"},
                "syncPolicy": policy,
            },
        }))
        .expect("application")
    }

    fn out_of_sync() -> Plan {
        Plan {
            steps: vec![Step {
                object: ObjectRef::new("", "ConfigMap", "web", "a"),
                action: Action::Update,
                reason: "data changed".into(),
                diff: String::new(),
                changes: Vec::new(),
                stage: Stage::Main,
                wave: 0,
                desired: None,
                requires_pruning: false,
                claim: None,
                fold: Vec::new(),
            }],
            prune_blocked: None,
        }
    }

    fn after(phase: OperationPhase, retry_count: i64) -> ApplicationStatus {
        ApplicationStatus {
            operation_state: Some(OperationState {
                phase,
                revision: Some("abc".into()),
                retry_count,
                synced_generation: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_report_decides_the_status_and_whether_to_write_it() {
        use crate::record::facts::tests::{planned, reconciled, report, sync};
        use crate::record::report::{Ended, Stopped};
        let a = app(json!({"automated": {}}));
        let poll = Duration::from_secs(30);
        // A failed render: Stalled, the user's refresh handled, written.
        let mut r = report(Ended::Stopped(Stopped {
            stage: crate::report::Stage::Render,
            failure: Failure::new("RenderFailed", "bad yaml").at(Some(Location {
                file: "web/cm.yaml".into(),
                line: Some(5),
                column: Some(7),
            })),
            announce: true,
            handles_refresh: true,
        }));
        r.requested = Some("now".into());
        let mut status = ApplicationStatus::default();
        let update = status_of(&mut status, &a, &mut r, 10, poll);
        assert_eq!(update.write, Write::Always);
        assert_eq!(status.condition("Stalled").unwrap().reason, "RenderFailed");
        assert_eq!(status.last_handled_refresh.as_deref(), Some("now"));
        assert_eq!(status.sync.clone().unwrap().status, SyncCode::Unknown);
        // Where it failed, for a client to point at; `since` stays while it
        // keeps failing the same way.
        let error = status.error.clone().expect("status.error");
        assert_eq!(
            (
                error.stage.as_str(),
                error.reason.as_str(),
                error.revision.as_deref()
            ),
            ("render", "RenderFailed", Some("abc"))
        );
        assert_eq!(
            (error.file.as_deref(), error.line, error.column),
            (Some("web/cm.yaml"), Some(5), Some(7))
        );
        let since = error.since.clone();
        status_of(&mut status, &a, &mut r, 10, poll);
        assert_eq!(status.error.as_ref().unwrap().since, since);
        // A reconcile that gets through Plan clears it.
        let mut ok = report(reconciled(planned(&[]), None, HealthCode::Healthy));
        status_of(&mut status, &a, &mut ok, 10, poll);
        assert_eq!(status.error, None);
        // Reading live failed: retried quietly, the refresh not handled yet.
        let mut r = report(Ended::Stopped(Stopped {
            stage: crate::report::Stage::Plan,
            failure: Failure::new("ClusterUnavailable", "reading live objects"),
            announce: false,
            handles_refresh: false,
        }));
        r.requested = Some("now".into());
        let mut status = ApplicationStatus::default();
        status_of(&mut status, &a, &mut r, 10, poll);
        assert_eq!(status.last_handled_refresh, None);
        // The status naming a sync was lost: nothing more is written.
        let mut r = report(Ended::SyncNotStarted(Box::new(planned(&[]))));
        let mut status = ApplicationStatus::default();
        assert_eq!(
            status_of(&mut status, &a, &mut r, 10, poll).write,
            Write::Never
        );
        // A sync the cluster failed: the history entry, and a retry condition
        // with the agent's backoff (the third attempt waits 4 s).
        let mut run = sync(OperationPhase::Error, true);
        run.retries = (0, 2);
        let mut r = report(reconciled(planned(&[]), Some(run), HealthCode::Healthy));
        let mut status = ApplicationStatus::default();
        operation_started(
            &mut status,
            "abc",
            "auto",
            Some(1),
            "new revision abc",
            None,
        );
        let update = status_of(&mut status, &a, &mut r, 10, poll);
        assert_eq!(update.write, Write::UnlessNothingNew);
        assert_eq!(status.history.len(), 1);
        assert_eq!(status.history[0].result, OperationPhase::Error);
        let ready = status.condition("Ready").unwrap();
        assert_eq!(ready.reason, "ClusterUnavailable");
        assert!(
            ready.message.ends_with("retrying in 4s"),
            "{}",
            ready.message
        );
        assert!(status.condition("SelfHealFlapping").is_none());
        // Suspended: said so, nothing else.
        let mut r = report(Ended::Suspended);
        let mut status = ApplicationStatus::default();
        assert_eq!(
            status_of(&mut status, &a, &mut r, 10, poll).write,
            Write::Always
        );
        assert_eq!(status.condition("Ready").unwrap().reason, "Suspended");
        assert!(status.history.is_empty());
    }

    fn at(ts: jiff::Timestamp) -> ApplicationStatus {
        ApplicationStatus {
            reconciled_at: Some(crate::time::format_ts(ts)),
            ..Default::default()
        }
    }

    #[test]
    fn only_a_fresh_reconciled_at_is_not_worth_a_write() {
        let now = jiff::Timestamp::now();
        let stored = at(now - jiff::SignedDuration::from_secs(60));
        assert!(nothing_new(Some(&stored), &at(now)));
        // Anything else changed: write.
        let mut changed = at(now);
        changed.last_handled_refresh = Some("x".into());
        assert!(!nothing_new(Some(&stored), &changed));
        // reconciledAt grew old: write, so it stays roughly true.
        let old = at(now - jiff::SignedDuration::from_secs(600));
        assert!(!nothing_new(Some(&old), &at(now)));
        assert!(!nothing_new(None, &at(now)));
    }

    #[test]
    fn the_flapping_condition_names_the_manager_and_clears() {
        let mut status = ApplicationStatus::default();
        flapping_condition(&mut status, Some("hpa-controller"), Some(3));
        let c = status.condition("SelfHealFlapping").expect("set");
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", "Flapping"));
        assert!(
            c.message
                .starts_with("self-heal flapping with manager hpa-controller: corrected")
        );
        assert_eq!(c.observed_generation, Some(3));
        flapping_condition(&mut status, None, Some(3));
        assert!(status.condition("SelfHealFlapping").is_none());
    }

    #[test]
    fn a_failure_already_shown_is_not_news() {
        let app = app(json!({}));
        let failure = Failure::new("RenderFailed", "abc at app: bad yaml");
        let mut status = ApplicationStatus::default();
        assert!(!already_shown(Some(&status), &failure));
        failed_before_sync(&mut status, &app, &failure);
        assert!(already_shown(Some(&status), &failure));
        assert!(!already_shown(
            Some(&status),
            &Failure::new("RenderFailed", "def at app: bad yaml")
        ));
        assert!(!already_shown(None, &failure));
    }

    #[test]
    fn transient_retries_do_not_use_up_the_retry_limit() {
        let a = app(json!({"automated": {}, "retry": {"limit": 2}}));
        let mut status = after(OperationPhase::Failed, 1);
        let counts = |s: &ApplicationStatus| {
            let op = s.operation_state.as_ref().unwrap();
            (op.retry_count, op.transient_retries)
        };
        // Two retries after transient errors: the policy's count stays at 1.
        for n in 1..=2 {
            operation_started(
                &mut status,
                "abc",
                "auto",
                Some(1),
                &format!("retry {n} {TRANSIENT_RETRY}"),
                None,
            );
            assert_eq!(counts(&status), (1, n));
            status.operation_state.as_mut().unwrap().phase = OperationPhase::Error;
        }
        // The commit's own failure is retried as the policy allows, once more.
        status.operation_state.as_mut().unwrap().phase = OperationPhase::Failed;
        let why = sync_reason(&a, &status, "abc", &out_of_sync(), false);
        assert_eq!(why.as_deref(), Some("retry 2 of the failed sync"));
        operation_started(
            &mut status,
            "abc",
            "auto",
            Some(1),
            why.as_deref().unwrap(),
            None,
        );
        assert_eq!(counts(&status), (2, 0));
        // A new reason (Git moved) starts both counts again.
        operation_started(
            &mut status,
            "def",
            "auto",
            Some(1),
            "new revision def",
            None,
        );
        assert_eq!(counts(&status), (0, 0));
    }

    #[test]
    fn a_transient_failure_is_retried_without_a_retry_policy() {
        let plan = out_of_sync();
        let auto = app(json!({"automated": {"prune": true}}));
        // A failed sync (the commit's fault) waits for Git or a user…
        assert_eq!(
            sync_reason(
                &auto,
                &after(OperationPhase::Failed, 0),
                "abc",
                &plan,
                false
            ),
            None
        );
        // …one the cluster failed is tried again, past any limit, manual or not.
        let mut seven = after(OperationPhase::Error, 0);
        if let Some(op) = seven.operation_state.as_mut() {
            op.transient_retries = 7;
        }
        let why = sync_reason(&auto, &seven, "abc", &plan, false);
        assert_eq!(
            why.as_deref(),
            Some("retry 8 after a transient cluster error")
        );
        let limited = app(json!({"automated": {}, "retry": {"limit": 1}}));
        assert!(
            sync_reason(
                &limited,
                &after(OperationPhase::Error, 5),
                "abc",
                &plan,
                false
            )
            .is_some()
        );
        let manual = app(json!({}));
        assert!(
            sync_reason(
                &manual,
                &after(OperationPhase::Error, 0),
                "abc",
                &plan,
                false
            )
            .is_some()
        );
        // Not once live matches Git, and not for an older revision.
        let done = Plan::default();
        assert_eq!(
            sync_reason(
                &manual,
                &after(OperationPhase::Error, 0),
                "abc",
                &done,
                false
            ),
            None
        );
        assert_eq!(
            sync_reason(
                &manual,
                &after(OperationPhase::Error, 0),
                "def",
                &plan,
                false
            ),
            None
        );
    }

    #[test]
    fn transient_retries_back_off_like_the_agent() {
        let cap = Duration::from_secs(30);
        let waits: Vec<u64> = (0..7).map(|n| transient_delay(n, cap).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(transient_delay(-1, cap), Duration::from_secs(1));
        assert_eq!(transient_delay(i64::MAX, cap), cap);
        assert_eq!(
            transient_delay(3, Duration::from_millis(500)),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn a_transient_retry_is_a_clear_condition_not_a_stall() {
        let a = app(json!({"automated": {}}));
        let mut status = after(OperationPhase::Error, 1);
        if let Some(op) = status.operation_state.as_mut() {
            op.message = "new revision abc; 1 object(s) failed in Main wave 0; later waves and prunes were not run. First: ConfigMap web/a: Internal error occurred: injected fault on patch configmaps".into();
        }
        transient_retry(&mut status, &a, Duration::from_secs(2));
        let ready = status.condition("Ready").expect("Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "ClusterUnavailable")
        );
        assert!(
            ready.message.contains("ConfigMap web/a: Internal error")
                && ready.message.ends_with("retrying in 2s"),
            "{}",
            ready.message
        );
        assert_eq!(
            status.condition("Stalled").expect("Stalled").status,
            "False"
        );
        assert_eq!(
            status.condition("Reconciling").expect("Reconciling").status,
            "True"
        );
    }

    fn cm(name: &str, sync: SyncCode, health: HealthCode) -> ResourceStatus {
        ResourceStatus {
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "web".into(),
            name: name.into(),
            status: sync,
            health: Some(HealthStatus::new(health, "")),
            ..Default::default()
        }
    }

    fn create(name: &str) -> Step {
        Step {
            object: ObjectRef::new("", "ConfigMap", "web", name),
            action: Action::Create,
            reason: String::new(),
            diff: String::new(),
            changes: Vec::new(),
            stage: Stage::Main,
            wave: 0,
            desired: Some(json!({"apiVersion": "v1", "kind": "ConfigMap"})),
            requires_pruning: false,
            claim: None,
            fold: Vec::new(),
        }
    }

    #[test]
    fn the_intent_carries_an_old_status_over_to_the_compact_inventory() {
        // Written by the previous version: every object in `resources`.
        let old: Vec<ResourceStatus> = (0..300)
            .map(|i| {
                cm(
                    &format!("old-{i:03}"),
                    SyncCode::Synced,
                    HealthCode::Healthy,
                )
            })
            .collect();
        let mut status = ApplicationStatus {
            resources: old,
            ..Default::default()
        };
        let plan = Plan {
            steps: vec![create("new"), create("old-007")],
            prune_blocked: None,
        };
        inventory_intent(&mut status, &plan);
        let inv = status.inventory.as_ref().expect("compact inventory");
        assert_eq!(inv.count, 301);
        let refs: HashSet<ObjectRef> = status.inventory_refs().into_iter().collect();
        assert!(refs.contains(&ObjectRef::new("", "ConfigMap", "web", "old-299")));
        assert!(refs.contains(&ObjectRef::new("", "ConfigMap", "web", "new")));
        // Detail: only what needs attention, the object being created.
        assert_eq!(status.resources.len(), 1);
        assert_eq!(status.resources[0].message, "being created");
    }

    #[test]
    fn detail_is_for_objects_needing_attention_and_capped() {
        let mut all: Vec<ResourceStatus> = (0..1_000)
            .map(|i| cm(&format!("ok-{i:04}"), SyncCode::Synced, HealthCode::Healthy))
            .collect();
        for i in 0..150 {
            all.push(cm(
                &format!("odd-{i:03}"),
                SyncCode::OutOfSync,
                HealthCode::Healthy,
            ));
        }
        all.push(cm("slow", SyncCode::Synced, HealthCode::Progressing));
        let mut status = ApplicationStatus::default();
        record_resources(&mut status, all);
        let c = status.resource_counts.clone().unwrap();
        assert_eq!(
            (c.total, c.fine, c.out_of_sync, c.unhealthy, c.not_listed),
            (1_151, 1_000, 150, 1, 51)
        );
        assert_eq!(status.resources.len(), RESOURCE_DETAIL_LIMIT);
        assert_eq!(status.inventory.as_ref().unwrap().count, 1_151);
    }

    #[test]
    fn results_keep_failures_and_changes_first() {
        let result = |name: &str, action: &str, status: &str| ResourceResult {
            kind: "ConfigMap".into(),
            name: name.into(),
            action: action.into(),
            status: status.into(),
            ..Default::default()
        };
        let mut all: Vec<ResourceResult> = (0..500)
            .map(|i| result(&format!("u{i}"), "unchanged", "Synced"))
            .collect();
        all.push(result("changed", "configured", "Synced"));
        all.push(result("bad", "configured", "SyncFailed"));
        let (kept, omitted) = bound_results(&all);
        assert_eq!((kept.len(), omitted), (RESULTS_LIMIT, 402));
        assert!(kept.iter().any(|r| r.name == "bad"));
        assert!(kept.iter().any(|r| r.name == "changed"));
        let (few, none) = bound_results(&all[..5]);
        assert_eq!((few.len(), none), (5, 0));
    }

    #[test]
    fn the_status_is_trimmed_to_its_budget() {
        let mut status = ApplicationStatus::default();
        let long = "x".repeat(50_000);
        for id in 0..40 {
            status.history.push(HistoryEntry {
                id,
                message: long.clone(),
                ..Default::default()
            });
        }
        bound_size(&mut status);
        let len = serde_json::to_vec(&status).unwrap().len();
        assert!(len <= STATUS_BUDGET, "{len}");
        assert_eq!(status.history.last().unwrap().id, 39, "the newest kept");
    }

    #[test]
    fn history_lists_twenty_changes_and_counts_the_rest() {
        let steps: Vec<Step> = (0..5_000).map(|i| create(&format!("c{i}"))).collect();
        let plan = Plan {
            steps,
            prune_blocked: None,
        };
        let outcome = ApplyOutcome::default();
        let all = results(&plan, &outcome);
        let (lines, objects) = changed_objects(&plan, &all);
        assert_eq!(lines.len(), HISTORY_CHANGES + 1);
        assert_eq!(objects.len(), HISTORY_CHANGES);
        assert_eq!(
            (
                objects[0].kind.as_str(),
                objects[0].name.as_str(),
                objects[0].action.as_str()
            ),
            ("ConfigMap", "c0", "created")
        );
        assert_eq!(lines[0], "created ConfigMap web/c0");
        assert_eq!(lines[HISTORY_CHANGES], "… and 4980 more");
    }
}
