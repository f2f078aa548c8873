//! One reconcile of one Application: Source → Render → Plan → Apply → Assess →
//! Record. Each stage is a method named after it that returns what it did
//! (or the failure that stopped the run) into a [`Report`]; none of them
//! writes the status, the audit log or Events. [`Record`] does, once, at the
//! end (and, named as such, just before Apply). A failure in Source, Render or
//! Plan stops the run before anything touches the cluster, so a bad commit
//! never prunes or breaks what is already deployed.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use serde_json::Value;
use tether_kube::{Cluster, KubeError};
use tether_model::{
    Application, HealthCode, HealthStatus, ObjectRef, OperationPhase, ResourceStatus, SyncCode,
};
use tether_plan::plan::{Action, Plan, PlanInput};
use tether_render::{RenderRequest, Renderer};
use tether_source::{Auth, Checkout, Resolved, Sources};

use crate::apply::{self, ApplyOutcome};
use crate::audit::SyncKind;
use crate::drift;
use crate::flapping;
use crate::record::{
    self, Ended, Failure, NewDrift, Planned, Reconciled, Record, Report, StatusNotWritten, Stopped,
    SyncRun,
};
use crate::report::{Commit, Stage};

/// Everything one cluster's reconciles share: the cluster, the Git fetchers
/// (one per repo URL) and the render cache.
pub struct Engine {
    pub cluster: Arc<Cluster>,
    pub sources: Sources,
    pub renderer: Renderer,
    pub poll_interval: Duration,
    pub history_limit: usize,
    /// How soon to look again while objects are still progressing.
    pub progress_recheck: Duration,
    /// The durable audit log, when the agent keeps one.
    pub audit: Option<crate::audit::Auditor>,
    /// The live cache: watches on managed kinds, read by Plan and Assess,
    /// that wake an app when one of its objects changes.
    pub live_cache: Option<Arc<crate::watch::LiveCache>>,
    /// How often an app's plan reads every object from the API server instead
    /// of the cache: the safety net under the watches.
    pub resync_interval: Duration,
    /// Per app: when it last read live state from the API server, and how many
    /// reconciles in a row found it still progressing.
    pub pacing: std::sync::Mutex<HashMap<String, Pacing>>,
    /// Kubernetes Events on the Application.
    pub events: Option<crate::events::Notifier>,
    /// Recent self-heals per app, to notice flapping.
    pub heals: std::sync::Mutex<HashMap<String, flapping::Heals>>,
    /// Where each reconcile's facts go beyond status, audit and Events:
    /// metrics, notifications, the API's live stream.
    pub sinks: crate::report::Sinks,
}

/// Per-app timing the scheduler does not keep.
#[derive(Default)]
pub struct Pacing {
    last_full_read: Option<std::time::Instant>,
    progressing: u32,
    /// The drift last reported per object: the status shows at most 100
    /// objects' detail, so this is what keeps the others from being
    /// reported again at every reconcile.
    drift_reported: BTreeMap<ObjectRef, tether_model::Drift>,
}

/// Where Source and Render ended: the commit and the desired objects.
pub struct Desired {
    pub resolved: Resolved,
    /// Rendered objects with namespace defaulted and tracking metadata added,
    /// each with where it came from.
    pub objects: Vec<(Value, String)>,
}

/// What [`Engine::sync_due`] decided: the sync to run (why, and its kind
/// for the audit log), or the one that was due but is held back, and for how
/// long.
struct Due {
    sync: Option<(String, SyncKind)>,
    blocked: Option<(String, Duration)>,
}

/// What `tether app diff` shows: the plan, without applying it.
pub struct Preview {
    pub revision: String,
    pub plan: Plan,
}

/// Why a preview has no plan.
#[derive(Debug, Clone, PartialEq)]
pub enum PreviewError {
    /// Source, Render or reading live state failed.
    Failed(String),
    /// Selected objects that are neither rendered nor in the inventory.
    Unknown(Vec<ObjectRef>),
}

/// What a reconcile asks of the scheduler: look again after this long.
pub struct Outcome {
    pub requeue_after: Duration,
    /// Source, Render or Plan failed: the scheduler backs off exponentially
    /// (capped by `requeue_after`) while failures repeat.
    pub failed: bool,
    /// A failed sync waits `requeue_after` before its retry: changes to the
    /// app's objects must not wake it sooner, or an outage would be retried
    /// at the pace of the events (a rollout writing status) instead.
    pub hold_off: bool,
}

impl Outcome {
    /// Look again after `d`.
    pub fn after(d: Duration) -> Outcome {
        Outcome {
            requeue_after: d,
            failed: false,
            hold_off: false,
        }
    }

    /// Something failed: look again with the scheduler's backoff, at most `d`.
    pub fn failed(d: Duration) -> Outcome {
        Outcome {
            requeue_after: d,
            failed: true,
            hold_off: false,
        }
    }
}

impl Engine {
    pub fn app_key(app: &Application) -> String {
        format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any())
    }

    /// Entry point from the scheduler: finalise a deleted app, else reconcile.
    pub async fn handle(&self, app: &Application) -> Outcome {
        if app.metadata.deletion_timestamp.is_some() {
            self.finalize(app).await;
            return Outcome::after(self.poll_interval);
        }
        self.reconcile(app).await
    }

    /// An app deleted with the cascade finalizer (`tether app delete`, the
    /// default) takes its objects with it: the inventory is pruned, still
    /// only objects carrying this app's tracking label.
    async fn finalize(&self, app: &Application) {
        let key = Self::app_key(app);
        if !app
            .finalizers()
            .iter()
            .any(|f| f == tether_model::CASCADE_FINALIZER)
        {
            return;
        }
        let tracking =
            tether_model::tracking_value(&app.namespace().unwrap_or_default(), &app.name_any());
        let mut inventory: Vec<ObjectRef> = app
            .status
            .as_ref()
            .map(|s| s.inventory_refs())
            .unwrap_or_default();
        // Dependents before what they depend on: the reverse of apply order
        // (webhooks first, namespaces and CRDs last).
        inventory.sort_by_cached_key(|r| std::cmp::Reverse(tether_plan::order::key_of(r, 0)));
        let mut failed = false;
        for r in inventory.iter() {
            match self.cluster.get(r).await {
                Ok(Some(live)) => {
                    if tether_plan::plan::prunable_by(&live, &tracking) {
                        match self.cluster.delete(r).await {
                            Ok(()) => {
                                tracing::info!(app = %key, object = %r, "deleted with the app")
                            }
                            Err(e) => {
                                tracing::warn!(app = %key, object = %r, "cannot delete with the app: {e}");
                                failed = true;
                            }
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(app = %key, object = %r, "cannot read: {e}");
                    failed = true;
                }
            }
        }
        if failed {
            return; // the finalizer stays; the next attempt tries again
        }
        let api: Api<Application> = Api::namespaced(
            self.cluster.client().clone(),
            &app.namespace().unwrap_or_default(),
        );
        let rest: Vec<String> = app
            .finalizers()
            .iter()
            .filter(|f| *f != tether_model::CASCADE_FINALIZER)
            .cloned()
            .collect();
        let patch = serde_json::json!({"metadata": {"finalizers": rest, "resourceVersion": app.resource_version()}});
        match api
            .patch(
                &app.name_any(),
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {
                tracing::info!(app = %key, "deleted; {} object(s) removed with it", inventory.len())
            }
            Err(e) => tracing::warn!(app = %key, "cannot remove the finalizer: {e}"),
        }
    }

    /// The full pipeline for one app: Source → Render → Plan → Apply →
    /// Assess → Record. The stages write nothing: what each did goes into
    /// the report, which Record writes (status, audit log, Events, logs) and
    /// hands to the sinks. Never panics on bad input; every error ends up on
    /// the app's status.
    pub async fn reconcile(&self, app: &Application) -> Outcome {
        let mut record = Record::new(self, app);
        let mut report = Report::begin(app);
        report.ended = self.run(app, &mut report, &mut record).await;
        record.finish(report).await
    }

    /// The stages, each returning what it did; the first failure ends the run
    /// before anything touches the cluster.
    async fn run(&self, app: &Application, report: &mut Report, record: &mut Record<'_>) -> Ended {
        if app.spec.suspend && report.requested.is_none() {
            return Ended::Suspended;
        }
        let desired = match self.source_and_render_stage(app, report).await {
            Ok(desired) => desired,
            Err(stopped) => return Ended::Stopped(stopped),
        };
        let (planned, live) = match self.plan_stage(app, report, desired).await {
            Ok(planned) => planned,
            Err(stopped) => return Ended::Stopped(stopped),
        };
        let due = self.sync_due(app, report, &planned);
        let sync = match due.sync {
            Some((reason, kind)) => {
                match self
                    .apply_stage(app, report, record, &planned, reason, kind)
                    .await
                {
                    Ok(sync) => Some(sync),
                    Err(StatusNotWritten) => return Ended::SyncNotStarted(Box::new(planned)),
                }
            }
            None => None,
        };
        let (resources, health) = self
            .assess_stage(report, &planned, &live, sync.as_ref())
            .await;
        let (requeue_after, flapping) = self.next_look(
            app,
            &report.key,
            &planned.plan,
            sync.as_ref(),
            &health,
            due.blocked.as_ref(),
        );
        Ended::Reconciled(Box::new(Reconciled {
            planned,
            blocked: due.blocked.map(|(reason, _)| reason),
            sync,
            resources,
            health,
            flapping,
            requeue_after,
        }))
    }

    /// Source and Render: the commit (the one a rollback holds the app at,
    /// else the spec's revision; a user's refresh polls Git now) and its
    /// objects.
    async fn source_and_render_stage(
        &self,
        app: &Application,
        report: &mut Report,
    ) -> Result<Desired, Stopped> {
        let max_age = if report.requested.is_some() {
            Duration::ZERO
        } else {
            self.poll_interval
        };
        report.held_at = self
            .rollback_hold(app, &mut report.rollback, max_age)
            .await
            .map_err(|failure| Stopped {
                stage: Stage::Source,
                failure,
                announce: false,
                handles_refresh: false,
            })?;
        let stopped = |failure: Failure| Stopped {
            stage: failure.stage(),
            failure,
            announce: true,
            handles_refresh: true,
        };
        // Source: the commit, known (and reported) even when its render fails, so
        // a commit that cannot render still gets its red status.
        let started = std::time::Instant::now();
        let sourced = self.source(app, max_age, report.held_at.as_deref()).await;
        report.timed(Stage::Source, started);
        let (resolved, checkout) = sourced.map_err(stopped)?;
        let meta = &resolved.meta;
        report.commit = Some(Commit {
            revision: resolved.commit.clone(),
            author: meta.author.clone(),
            message: meta.summary.clone(),
        });
        // Render: the checkout guard keeps the tree from collection until it is done.
        let started = std::time::Instant::now();
        let rendered = self
            .render(app, resolved, checkout.path().to_path_buf())
            .await;
        report.timed(Stage::Render, started);
        let desired = rendered.map_err(stopped)?;
        Ok(desired)
    }

    /// Plan against what is live now, and what drifted since the last sync.
    async fn plan_stage(
        &self,
        app: &Application,
        report: &mut Report,
        mut desired: Desired,
    ) -> Result<(Planned, BTreeMap<ObjectRef, Value>), Stopped> {
        let started = std::time::Instant::now();
        let stopped = |failure, announce| Stopped {
            stage: Stage::Plan,
            failure,
            announce,
            handles_refresh: false,
        };
        // A request whose options cannot be followed is answered once (the
        // refresh counts as handled), never retried and never half-done.
        let refused = |failure| Stopped {
            stage: Stage::Plan,
            failure,
            announce: true,
            handles_refresh: true,
        };
        let options = match &report.options {
            Ok(o) => o.clone().filter(|o| !o.is_default()),
            Err(e) => return Err(refused(Failure::new("InvalidSyncOptions", e.clone()))),
        };
        let stored = app.status.as_ref();
        let inventory: Vec<ObjectRef> = stored.map(|s| s.inventory_refs()).unwrap_or_default();
        let live = self
            .live(&report.key, &desired, &inventory)
            .await
            .map_err(|e| {
                let failure =
                    Failure::new("ClusterUnavailable", format!("reading live objects: {e}"));
                stopped(failure, false)
            })?;
        // Whose each live object is: an object another app holds is not this app's to apply.
        let holders = self.holders(app, &desired, &live).await;
        let size = desired.objects.len().max(inventory.len());
        let prune = options.as_ref().and_then(|o| o.prune);
        let plan = crate::limits::cpu_heavy(size, || {
            self.plan(app, &mut desired, &live, &inventory, prune, &holders)
        })
        .map_err(|failure| stopped(failure, true))?;
        // Selected objects: Apply gets only their steps; Assess the whole plan.
        let selected = match options.as_ref().filter(|o| o.is_partial()) {
            Some(o) => Some(
                tether_plan::select::select(&plan, &o.resources, &inventory).map_err(|unknown| {
                    refused(Failure::new(
                        "UnknownResources",
                        format!(
                            "the sync names objects that are neither rendered from Git nor in the app's inventory: {}; nothing was synced",
                            tether_plan::select::names(&unknown)
                        ),
                    ))
                })?,
            ),
            None => None,
        };
        report.timed(Stage::Plan, started);
        // Drift: live left Git at the revision already synced.
        let synced_here = stored
            .and_then(|s| s.operation_state.as_ref())
            .is_some_and(|o| {
                o.revision.as_deref() == Some(desired.resolved.commit.as_str())
                    && o.phase == OperationPhase::Succeeded
            });
        let mut drift = if synced_here {
            crate::limits::cpu_heavy(size, || drift::forensics(&plan, &live, &inventory))
        } else {
            BTreeMap::new()
        };
        // After a sync of selected objects, the others were never synced at
        // this revision: their difference from Git is not drift.
        if let Some(only) = stored
            .and_then(|s| s.operation_state.as_ref())
            .and_then(|o| o.options.as_ref())
            .filter(|o| o.is_partial())
        {
            drift.retain(|r, _| only.resources.contains(r));
        }
        let new_drift = self.new_drift(app, &report.key, &drift);
        let planned = Planned {
            desired,
            plan,
            size,
            drift,
            new_drift,
            options,
            selected,
        };
        Ok((planned, live))
    }

    /// Whether to sync now, and why: on request, or automatically when Git
    /// moved, the spec changed, or a failed sync is due for a retry; self-heal
    /// when live drifted, unless it keeps being undone (then the sync is
    /// blocked for a growing wait).
    fn sync_due(&self, app: &Application, report: &mut Report, planned: &Planned) -> Due {
        let stored = app.status.clone().unwrap_or_default();
        let revision = &planned.desired.resolved.commit;
        let requested = report.requested.is_some();
        let mut reason = record::sync_reason(app, &stored, revision, &planned.plan, requested);
        let mut blocked = None;
        if reason
            .as_deref()
            .is_some_and(|r| r.starts_with("self-heal"))
        {
            report.initiator = "self-heal".to_string();
            let drifts = &planned.drift;
            // The first few: the reason lands in the operation, history and log.
            let mut what: Vec<String> = drifts
                .iter()
                .take(5)
                .map(|(r, d)| drift::describe(r, d))
                .collect();
            if drifts.len() > 5 {
                what.push(format!("and {} more", drifts.len() - 5));
            }
            if !what.is_empty() {
                reason = Some(format!("self-heal: {}", what.join("; ")));
            }
            // Another controller fighting back: heal with a growing wait, not hot.
            let manager = drifts
                .values()
                .next()
                .map(|d| d.manager.clone())
                .unwrap_or_default();
            let mut heals = self.heals.lock().unwrap_or_else(|e| e.into_inner());
            let h = heals.entry(report.key.clone()).or_default();
            match h.verdict(std::time::Instant::now()) {
                flapping::Verdict::Heal => h.healed(std::time::Instant::now(), &manager),
                flapping::Verdict::Wait(d) => {
                    let why = format!(
                        "self-heal flapping with manager {manager}; next heal in {}s",
                        d.as_secs()
                    );
                    blocked = Some((why, d));
                    reason = None;
                }
            }
        }
        if let (Some(r), Some(o)) = (reason.as_mut(), planned.options.as_ref()) {
            *r = format!("{r} ({})", o.describe());
        }
        let kind = if report.held_at.is_some() {
            SyncKind::Rollback
        } else if report.initiator == "self-heal" && !planned.drift.is_empty() {
            SyncKind::SelfHeal
        } else {
            SyncKind::Sync
        };
        Due {
            sync: reason.map(|r| (r, kind)),
            blocked,
        }
    }

    /// Apply: Record stores the Running operation and the inventory intent
    /// first, then the plan runs wave by wave. Self-heal takes fields back
    /// from whoever changed them.
    async fn apply_stage(
        &self,
        app: &Application,
        report: &mut Report,
        record: &mut Record<'_>,
        planned: &Planned,
        reason: String,
        kind: SyncKind,
    ) -> Result<SyncRun, StatusNotWritten> {
        let previous = app.status.as_ref().and_then(|s| s.operation_state.as_ref());
        let retries = record::retry_counts(previous, &reason);
        let audit_id = record.sync_starting(report, planned, &reason, kind).await?;
        let started = std::time::Instant::now();
        let self_heal = report.initiator == "self-heal";
        let outcome = apply::run(&self.cluster, app, planned.sync_plan(), self_heal).await;
        report.timed(Stage::Apply, started);
        if let Some(cache) = &self.live_cache {
            for (r, obj) in &outcome.applied {
                cache.applied(r, obj);
            }
            for r in &outcome.pruned {
                cache.deleted(r);
            }
        }
        Ok(SyncRun {
            reason,
            kind,
            audit_id,
            retries,
            outcome,
        })
    }

    /// Assess: every managed object's sync, health and drift as it is now;
    /// the live cache learns which kinds to watch for this app.
    async fn assess_stage(
        &self,
        report: &mut Report,
        planned: &Planned,
        live: &BTreeMap<ObjectRef, Value>,
        sync: Option<&SyncRun>,
    ) -> (Vec<ResourceStatus>, HealthStatus) {
        let started = std::time::Instant::now();
        let outcome = sync.map(|s| &s.outcome);
        let (mut resources, health) = self.assess(&planned.plan, live, outcome).await;
        record::attach_drift(&mut resources, &planned.drift);
        self.watch_kinds(&report.key, &resources).await;
        report.timed(Stage::Assess, started);
        (resources, health)
    }

    /// When to look again, and the field manager self-heal keeps fighting
    /// (while it does). A failed sync is retried as the app's retry policy
    /// says, one the cluster failed with the agent's backoff; objects still
    /// progressing are looked at again sooner.
    fn next_look(
        &self,
        app: &Application,
        key: &str,
        plan: &Plan,
        sync: Option<&SyncRun>,
        health: &HealthStatus,
        blocked: Option<&(String, Duration)>,
    ) -> (Duration, Option<String>) {
        let progressing =
            health.status == HealthCode::Progressing || sync.is_some_and(|s| !s.succeeded());
        let flapping = self.flapping(key, plan);
        let progress_delay = self.progress_delay(key, progressing);
        let requeue_after = match sync {
            Some(s) if s.transient() => record::transient_delay(s.retries.1, self.poll_interval),
            Some(s) if !s.succeeded() => {
                record::retry_delay(app, s.retries.0).unwrap_or(self.poll_interval)
            }
            _ if progressing => progress_delay,
            _ => self.poll_interval,
        };
        let requeue_after = blocked.map_or(requeue_after, |(_, w)| (*w).min(requeue_after));
        // While flapping, look again after a calm spell so the flag can clear.
        let requeue_after = if flapping.is_some() {
            requeue_after.min(flapping::CALM + Duration::from_secs(1))
        } else {
            requeue_after
        };
        (requeue_after, flapping)
    }

    /// How soon to look again at an app whose objects are still progressing:
    /// `progress_recheck`, doubling while it stays progressing, up to the poll
    /// interval. The live cache wakes the app when an object's status moves,
    /// so this is only the fallback. A reconcile that finds the app settled
    /// resets the streak.
    fn progress_delay(&self, key: &str, progressing: bool) -> Duration {
        let mut pacing = self.pacing.lock().unwrap_or_else(|e| e.into_inner());
        let p = pacing.entry(key.to_string()).or_default();
        p.progressing = if progressing { p.progressing + 1 } else { 0 };
        let n = p.progressing.max(1);
        if self.live_cache.is_none() {
            return self.progress_recheck;
        }
        self.progress_recheck
            .saturating_mul(1u32 << (n - 1).min(16))
            .min(self.poll_interval)
    }

    /// The drift not reported yet: what differs from what the app's status
    /// already shows for that object (or, past the status's limit on detail,
    /// from what this agent last reported). Each drift is told once.
    fn new_drift(
        &self,
        app: &Application,
        key: &str,
        drifts: &BTreeMap<ObjectRef, tether_model::Drift>,
    ) -> Vec<NewDrift> {
        let shown: HashMap<ObjectRef, &tether_model::Drift> = app
            .status
            .iter()
            .flat_map(|s| s.resources.iter())
            .filter_map(|x| Some((record::resource_ref(x), x.drift.as_ref()?)))
            .collect();
        let mut pacing = self.pacing.lock().unwrap_or_else(|e| e.into_inner());
        let p = pacing.entry(key.to_string()).or_default();
        let detected_at = jiff::Timestamp::now();
        let fresh = drifts
            .iter()
            .filter(|(r, d)| shown.get(*r) != Some(d) && p.drift_reported.get(*r) != Some(*d))
            .map(|(r, d)| NewDrift {
                object: r.clone(),
                drift: d.clone(),
                detected_at,
            })
            .collect();
        p.drift_reported = drifts.clone();
        fresh
    }

    /// Who self-heal keeps fighting, while it does: the flag clears once the
    /// fight is over (no heals in the window, or live matches Git).
    fn flapping(&self, key: &str, plan: &Plan) -> Option<String> {
        let mut heals = self.heals.lock().unwrap_or_else(|e| e.into_inner());
        let h = heals.get_mut(key)?;
        let now = std::time::Instant::now();
        if plan.in_sync() {
            h.calm(now);
        } else {
            h.stirred();
        }
        h.flapping(now).then(|| h.manager.clone())
    }

    /// Tell the live cache which kinds this app manages now, so a change to
    /// one of its objects wakes it at once (and unused kinds are unwatched).
    async fn watch_kinds(&self, key: &str, resources: &[ResourceStatus]) {
        let Some(cache) = &self.live_cache else {
            return;
        };
        let mut kinds: Vec<(&str, &str)> = resources
            .iter()
            .map(|r| (r.group.as_str(), r.kind.as_str()))
            .collect();
        kinds.sort();
        kinds.dedup();
        let mut watched = Vec::with_capacity(kinds.len());
        for (group, kind) in kinds {
            if let Ok(info) = self.cluster.resolve_kind(group, kind).await {
                watched.push(info.resource);
            }
        }
        cache.use_kinds(key, &watched);
    }

    /// An app is gone: its kinds may be unwatched, its pacing forgotten.
    pub fn forget(&self, key: &str) {
        if let Some(cache) = &self.live_cache {
            cache.forget(key);
        }
        self.pacing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        self.heals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Source → Render, without touching the cluster: used by `tether app diff`.
    pub async fn preview(&self, app: &Application) -> Result<Preview, String> {
        self.preview_with(app, &tether_model::SyncOptions::default(), None)
            .await
            .map_err(|e| match e {
                PreviewError::Failed(m) => m,
                PreviewError::Unknown(u) => tether_plan::select::names(&u),
            })
    }

    /// What a sync with `options` would do (the API's dry runs): the plan with
    /// `prune` as asked, cut to the selected objects when there are any; at
    /// commit `at` (a rollback's) instead of the spec's revision when given.
    pub async fn preview_with(
        &self,
        app: &Application,
        options: &tether_model::SyncOptions,
        at: Option<&str>,
    ) -> Result<Preview, PreviewError> {
        let failed = |m: String| PreviewError::Failed(m);
        let mut desired = self
            .source_and_render_at(app, Duration::ZERO, at)
            .await
            .map_err(|f| failed(f.message))?;
        let status = app.status.clone().unwrap_or_default();
        let inventory: Vec<ObjectRef> = status.inventory_refs();
        let live = self
            .live(&Self::app_key(app), &desired, &inventory)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let holders = self.holders(app, &desired, &live).await;
        let plan = self
            .plan(
                app,
                &mut desired,
                &live,
                &inventory,
                options.prune,
                &holders,
            )
            .map_err(|f| failed(f.message))?;
        let plan = if options.is_partial() {
            tether_plan::select::select(&plan, &options.resources, &inventory)
                .map_err(PreviewError::Unknown)?
        } else {
            plan
        };
        Ok(Preview {
            revision: desired.resolved.commit,
            plan,
        })
    }

    /// Source and Render, at `at` (a commit) instead of the spec's revision when given.
    async fn source_and_render_at(
        &self,
        app: &Application,
        max_age: Duration,
        at: Option<&str>,
    ) -> Result<Desired, Failure> {
        // The guard keeps the checkout from collection until the render is done.
        let (resolved, checkout) = self.source(app, max_age, at).await?;
        self.render(app, resolved, checkout.path().to_path_buf())
            .await
    }

    /// The commit a rollback holds the app at, if one is in force. A rollback
    /// ends when Git moves past the commit it pointed at when the rollback
    /// began (the annotation is then removed), or when a user removes the
    /// annotation (`tether app sync`).
    async fn rollback_hold(
        &self,
        app: &Application,
        rollback: &mut Option<tether_model::RollbackState>,
        max_age: Duration,
    ) -> Result<Option<String>, Failure> {
        let key = Self::app_key(app);
        let Some(target) = app
            .annotations()
            .get(tether_model::ROLLBACK_ANNOTATION)
            .cloned()
        else {
            if rollback.take().is_some() {
                tracing::info!(app = %key, "rollback ended by a user's sync");
            }
            return Ok(None);
        };
        let (head, _) = self.source(app, max_age, None).await?;
        match rollback {
            Some(rb) if rb.revision == target && rb.held_head != head.commit => {
                tracing::info!(app = %key, "Git moved on from {}: the rollback ends", short(&rb.held_head));
                *rollback = None;
                let api: Api<Application> = Api::namespaced(
                    self.cluster.client().clone(),
                    &app.namespace().unwrap_or_default(),
                );
                let patch = serde_json::json!({"metadata": {"annotations": {tether_model::ROLLBACK_ANNOTATION: null}}});
                if let Err(e) = api
                    .patch(
                        &app.name_any(),
                        &kube::api::PatchParams::default(),
                        &kube::api::Patch::Merge(&patch),
                    )
                    .await
                {
                    tracing::warn!(app = %key, "cannot remove the rollback annotation: {e}");
                }
                Ok(None)
            }
            Some(rb) if rb.revision == target => Ok(Some(target)),
            _ => {
                tracing::info!(app = %key, "rollback to {}", short(&target));
                *rollback = Some(tether_model::RollbackState {
                    revision: target.clone(),
                    held_head: head.commit,
                    since: crate::time::now(),
                });
                Ok(Some(target))
            }
        }
    }

    /// Source: resolve the revision (one shared fetcher per repo URL) and check
    /// out its tree.
    async fn source(
        &self,
        app: &Application,
        max_age: Duration,
        at: Option<&str>,
    ) -> Result<(Resolved, Checkout), Failure> {
        let src = &app.spec.source;
        let auth = match &src.secret_ref {
            Some(name) => Some(self.credentials(app, name).await?),
            None => None,
        };
        let fetcher = self.sources.fetcher(&src.repo_url, auth);
        let revision = at.or(src.revision.as_deref().filter(|r| !r.is_empty()));
        let resolved = fetcher
            .resolve(revision, max_age)
            .await
            .map_err(|e| Failure::from_source(&e))?;
        let root = fetcher
            .checkout(&resolved.commit)
            .await
            .map_err(|e| Failure::from_source(&e))?;
        Ok((resolved, root))
    }

    /// Credentials from a Secret in the app's namespace.
    async fn credentials(&self, app: &Application, name: &str) -> Result<Auth, Failure> {
        let ns = app.namespace().unwrap_or_default();
        let api: Api<Secret> = Api::namespaced(self.cluster.client().clone(), &ns);
        let secret = api
            .get_opt(name)
            .await
            .map_err(|e| {
                Failure::new(
                    "CredentialsFailed",
                    format!("reading Secret {ns}/{name}: {e}"),
                )
            })?
            .ok_or_else(|| {
                Failure::new(
                    "CredentialsFailed",
                    format!("Secret {ns}/{name} does not exist"),
                )
            })?;
        let field = |k: &str| {
            secret
                .data
                .as_ref()
                .and_then(|d| d.get(k))
                .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                .or_else(|| secret.string_data.as_ref().and_then(|d| d.get(k)).cloned())
        };
        if let Some(key) = field("sshPrivateKey") {
            return Ok(Auth::SshKey {
                private_key: key,
                known_hosts: field("knownHosts"),
            });
        }
        match (
            field("username"),
            field("password").or_else(|| field("token")),
        ) {
            (user, Some(password)) => Ok(Auth::Basic {
                username: user.unwrap_or_else(|| "git".into()),
                password,
            }),
            _ => Err(Failure::new(
                "CredentialsFailed",
                format!("Secret {ns}/{name} has neither password/token nor sshPrivateKey"),
            )),
        }
    }

    /// Render the app's path, then give every object its namespace and
    /// tether's tracking label and annotation.
    async fn render(
        &self,
        app: &Application,
        resolved: Resolved,
        root: PathBuf,
    ) -> Result<Desired, Failure> {
        let src = &app.spec.source;
        let path = src.path.as_deref().unwrap_or("");
        let kube_version = self.cluster.server_version().await;
        let api_versions = self.cluster.api_versions().await;
        let app_name = app.name_any();
        let namespace = self.default_namespace(app);
        let req = RenderRequest {
            root: &root,
            path,
            source: src,
            app_name: &app_name,
            namespace: Some(&namespace),
            kube_version: Some(&kube_version),
            api_versions: &api_versions,
            hard_refresh: hard_refresh_requested(app),
        };
        // Where the commit's content is at fault, the message says which
        // commit and path. An app over the renderer's object limit
        // (`--max-objects-per-app`) fails here, before anything plans.
        let at = |reason: &'static str, message: &dyn std::fmt::Display| {
            Failure::new(
                reason,
                format!(
                    "{} at {}: {message}",
                    short(&resolved.commit),
                    display_path(path)
                ),
            )
        };
        let rendered = self.renderer.render(&req).await.map_err(|e| {
            let location = e
                .location(path)
                .map(|(file, line, column)| record::Location { file, line, column });
            at(e.reason(), &e).at(location)
        })?;
        let tracking =
            tether_model::tracking_value(&app.namespace().unwrap_or_default(), &app_name);
        // Label values are at most 63 characters; a longer one would make every apply fail.
        if tracking.len() > 63 {
            return Err(Failure::new(
                "NameTooLong",
                format!(
                    "the tracking label value {tracking:?} is {} characters, over Kubernetes' 63; shorten the Application's namespace or name",
                    tracking.len()
                ),
            ));
        }
        let annotation = format!(
            "{}/{}:{}@{}",
            app.namespace().unwrap_or_default(),
            app_name,
            src.repo_url,
            display_path(path)
        );
        // Kinds defined by CRDs in this same render are not served yet: take
        // their scope from the CRD itself.
        let crd_scopes = crd_scopes(rendered.manifests.iter().map(|m| &m.object));
        let mut objects = Vec::with_capacity(rendered.manifests.len());
        for m in rendered.manifests.iter() {
            let mut obj = m.object.clone();
            let api_version = obj["apiVersion"].as_str().unwrap_or("").to_string();
            let kind = obj["kind"].as_str().unwrap_or("").to_string();
            // Names and namespaces the API server would refuse are the commit's
            // fault, caught before anything is applied (else the client fails
            // to build a URL and the cluster gets the blame).
            invalid_object(&obj, &m.origin, &kind, None)?;
            let namespaced = match self.cluster.resolve(&api_version, &kind).await {
                Ok(info) => info.namespaced,
                Err(KubeError::UnknownKind { .. }) => {
                    let (group, _) = tether_model::object::split_api_version(&api_version);
                    match crd_scopes.get(&(group.to_string(), kind.clone())) {
                        Some(n) => *n,
                        None => {
                            return Err(Failure::new(
                                "UnknownKind",
                                format!(
                                    "{}: kind {kind} ({api_version}) is not served by the cluster and no CRD in the app defines it",
                                    tether_model::text::one_line(&m.origin)
                                ),
                            ));
                        }
                    }
                }
                Err(e) => {
                    return Err(Failure::new(
                        "ClusterUnavailable",
                        format!("discovery: {e}"),
                    ));
                }
            };
            if namespaced {
                if obj["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .is_empty()
                {
                    obj["metadata"]["namespace"] = Value::String(namespace.clone());
                    invalid_object(&obj, &m.origin, &kind, Some(&namespace))?;
                }
            } else if let Some(meta) = obj["metadata"].as_object_mut() {
                meta.remove("namespace");
            }
            tether_plan::plan::decorate(&mut obj, &tracking, &annotation);
            objects.push((obj, m.origin.clone()));
        }
        let identities: Vec<(ObjectRef, String)> = objects
            .iter()
            .filter_map(|(o, _)| {
                let version = tether_model::object::split_api_version(o["apiVersion"].as_str()?).1;
                Some((ObjectRef::of(o)?, version.to_string()))
            })
            .collect();
        crate::limits::check_inventory_size(identities.iter().map(|(r, v)| (r, v.as_str())))
            .map_err(|f| at(f.reason, &f.message))?;
        Ok(Desired { resolved, objects })
    }

    fn default_namespace(&self, app: &Application) -> String {
        app.spec
            .destination
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| app.namespace())
            .unwrap_or_else(|| "default".into())
    }

    /// Live state of every desired and inventory object: from the live cache
    /// where it knows, else fetched from the API server concurrently. Every
    /// `resync_interval` an app reads everything from the server once, in
    /// case the cache missed something.
    async fn live(
        &self,
        key: &str,
        desired: &Desired,
        inventory: &[ObjectRef],
    ) -> Result<BTreeMap<ObjectRef, Value>, KubeError> {
        let mut refs: Vec<ObjectRef> = desired
            .objects
            .iter()
            .filter_map(|(o, _)| ObjectRef::of(o))
            .collect();
        refs.extend(inventory.iter().cloned());
        refs.sort();
        refs.dedup();
        let mut live = BTreeMap::new();
        let full_read = {
            let mut pacing = self.pacing.lock().unwrap_or_else(|e| e.into_inner());
            let p = pacing.entry(key.to_string()).or_default();
            let due = p
                .last_full_read
                .is_none_or(|t| t.elapsed() >= self.resync_interval);
            if due {
                p.last_full_read = Some(std::time::Instant::now());
            }
            due
        };
        if let (Some(cache), false) = (&self.live_cache, full_read) {
            refs.retain(|r| match cache.lookup(r) {
                crate::watch::Lookup::Hit(obj) => {
                    live.insert(r.clone(), obj);
                    false
                }
                // Not labelled yet (never applied, or someone else's object),
                // or deleted: ask the server. Misses are rare once an app is
                // synced, and a wrong "gone" would drop an object from the
                // inventory for good.
                crate::watch::Lookup::Absent | crate::watch::Lookup::Unknown => true,
            });
        }
        // Owned values in the closures: borrowed ones trip the compiler's
        // higher-ranked lifetime check once this future is spawned.
        let cluster = self.cluster.clone();
        let results: Vec<(ObjectRef, Result<Option<Value>, KubeError>)> = stream::iter(refs)
            .map(move |r| {
                let cluster = cluster.clone();
                async move {
                    let got = cluster.get(&r).await;
                    (r, got)
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        for (r, got) in results {
            if let Some(obj) = got? {
                live.insert(r, obj);
            }
        }
        Ok(live)
    }

    /// The apps that hold desired objects whose live copies carry their labels.
    async fn holders(
        &self,
        app: &Application,
        desired: &Desired,
        live: &BTreeMap<ObjectRef, Value>,
    ) -> tether_plan::owner::Holders {
        let tracking =
            tether_model::tracking_value(&app.namespace().unwrap_or_default(), &app.name_any());
        crate::owner::holders(&self.cluster, &tracking, desired, live).await
    }

    /// Plan: pure; decides per object. Moves the rendered objects out of
    /// `desired` rather than copying them (the steps hold them from here on):
    /// at 50,000 objects every copy is hundreds of MB.
    fn plan(
        &self,
        app: &Application,
        desired: &mut Desired,
        live: &BTreeMap<ObjectRef, Value>,
        inventory: &[ObjectRef],
        prune: Option<bool>,
        holders: &tether_plan::owner::Holders,
    ) -> Result<Plan, Failure> {
        let objects: Vec<Value> = std::mem::take(&mut desired.objects)
            .into_iter()
            .map(|(o, _)| o)
            .collect();
        let automated = app.spec.automated();
        let tracking =
            tether_model::tracking_value(&app.namespace().unwrap_or_default(), &app.name_any());
        let input = PlanInput {
            desired: &objects,
            live,
            inventory,
            tracking: &tracking,
            // A sync asked with `prune` decides; else the policy does.
            prune: prune.unwrap_or_else(|| automated.is_some_and(|a| a.prune)),
            allow_empty: automated.is_some_and(|a| a.allow_empty),
            prune_last: app.spec.sync_option("PruneLast"),
            ignore: &app.spec.ignore_differences,
            holders,
            take_over: app.spec.sync_option(tether_model::TAKE_OVER_OPTION),
        };
        tether_plan::plan::plan(&input).map_err(|e| Failure::new("PlanFailed", e.to_string()))
    }

    /// Assess: per-object health (from what the apply returned, else what was
    /// live) and the app's health, the worst of them.
    async fn assess(
        &self,
        plan: &Plan,
        live: &BTreeMap<ObjectRef, Value>,
        synced: Option<&ApplyOutcome>,
    ) -> (Vec<ResourceStatus>, HealthStatus) {
        // References, not copies: an app's every object may be in here.
        let mut now: HashMap<&ObjectRef, &Value> = HashMap::new();
        if let Some(s) = synced {
            for (r, obj) in &s.applied {
                now.insert(r, obj);
            }
        }
        let mut resources = Vec::new();
        let mut healths: Vec<(ObjectRef, HealthStatus)> = Vec::new();
        for step in &plan.steps {
            let r = &step.object;
            let pruned = synced.is_some_and(|s| s.pruned.contains(r));
            // Pruned, or an extra that another app took over or that lost our
            // label: no longer this app's, so out of the inventory.
            let disowned = step.action == Action::PruneSkipped && !step.requires_pruning;
            if pruned || disowned {
                continue;
            }
            let current = now.get(r).copied().or_else(|| live.get(r));
            let is_extra = matches!(step.action, Action::Prune | Action::PruneSkipped);
            // Another app's object: shown, but its health is that app's.
            let is_others = step.action == Action::Shared;
            // Objects present but not declared keep their health out of the app's.
            let health = tether_plan::health::assess(current);
            let version = current
                .or(step.desired.as_ref())
                .and_then(|o| o["apiVersion"].as_str())
                .map(|v| tether_model::object::split_api_version(v).1.to_string())
                .unwrap_or_default();
            let (sync, message) = record::resource_sync(step, synced);
            if !is_extra && !is_others {
                healths.push((r.clone(), health.clone()));
            }
            resources.push(ResourceStatus {
                group: r.group.clone(),
                version,
                kind: r.kind.clone(),
                namespace: r.namespace.clone(),
                name: r.name.clone(),
                status: if is_extra { SyncCode::OutOfSync } else { sync },
                health: Some(health),
                message,
                requires_pruning: is_extra,
                drift: None,
            });
        }
        let app_health = tether_plan::health::app_health(healths.iter().map(|(r, h)| (r, h)));
        (resources, app_health)
    }
}

fn crd_scopes<'a>(objects: impl Iterator<Item = &'a Value>) -> HashMap<(String, String), bool> {
    objects
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .filter_map(|o| {
            let spec = &o["spec"];
            Some((
                (
                    spec["group"].as_str()?.to_string(),
                    spec["names"]["kind"].as_str()?.to_string(),
                ),
                spec["scope"].as_str() != Some("Cluster"),
            ))
        })
        .collect()
}

/// Render: an object whose name or namespace the API server would refuse
/// fails the render as `InvalidObject`, naming the file and the object
/// (`destination`: the namespace was the Application's, not the file's).
fn invalid_object(
    obj: &Value,
    origin: &str,
    kind: &str,
    destination: Option<&str>,
) -> Result<(), Failure> {
    let Err(e) = tether_plan::names::check_object(obj) else {
        return Ok(());
    };
    let meta = &obj["metadata"];
    let name = meta["name"]
        .as_str()
        .or(meta["generateName"].as_str())
        .unwrap_or("");
    let origin = tether_model::text::one_line(origin);
    let message = match destination {
        Some(ns) => format!(
            "{origin}: {kind} {name:?}: the Application's destination namespace {ns:?} is invalid: {}",
            e.rule
        ),
        None => format!("{origin}: {kind} {name:?}: {e}"),
    };
    let location = tether_render::origin_location(&origin)
        .map(|(file, line, column)| record::Location { file, line, column });
    Err(Failure::new("InvalidObject", message).at(location))
}

pub fn short(commit: &str) -> &str {
    &commit[..commit.len().min(8)]
}

/// A hard refresh not yet handled: the user asked to render again even if
/// the result (or failure) for this input is cached.
fn hard_refresh_requested(app: &Application) -> bool {
    let handled = app
        .status
        .as_ref()
        .and_then(|s| s.last_handled_refresh.as_deref());
    app.annotations()
        .get(tether_model::REFRESH_ANNOTATION)
        .is_some_and(|v| {
            v.starts_with(tether_model::HARD_REFRESH_PREFIX) && Some(v.as_str()) != handled
        })
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "." } else { path }
}

impl Failure {
    fn from_source(e: &tether_source::SourceError) -> Failure {
        use tether_source::SourceError::*;
        let reason = match e {
            Unreachable { .. } => "SourceUnreachable",
            Auth { .. } => "SourceAuthFailed",
            RevisionNotFound { .. } => "RevisionNotFound",
            TooLarge { .. } => "SourceTooLarge",
            LocalNotAllowed { .. } => "LocalRepoNotAllowed",
            _ => "SourceFailed",
        };
        Failure::new(reason, e.to_string())
    }

    /// Which stage a failure of Source-and-Render came from.
    fn stage(&self) -> Stage {
        match self.reason {
            "SourceUnreachable"
            | "SourceAuthFailed"
            | "RevisionNotFound"
            | "SourceTooLarge"
            | "LocalRepoNotAllowed"
            | "SourceFailed"
            | "CredentialsFailed" => Stage::Source,
            _ => Stage::Render,
        }
    }
}
