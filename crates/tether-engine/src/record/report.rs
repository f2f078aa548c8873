//! What one reconcile did, stage by stage: the pipeline fills a [`Report`] in
//! and hands it to Record, which turns it into the status, the audit log,
//! Kubernetes Events, log lines and the facts of [`crate::report`]. The report
//! is plain data: nothing in it has been written anywhere yet (except what
//! [`super::Record::sync_starting`] wrote before Apply).

use std::collections::BTreeMap;
use std::time::Duration;

use kube::ResourceExt;
use tether_model::{
    Application, Drift, HealthStatus, ObjectRef, OperationPhase, ResourceStatus, RollbackState,
    SyncOptions,
};
use tether_plan::plan::Plan;

use super::Failure;
use crate::apply::ApplyOutcome;
use crate::audit::SyncKind;
use crate::pipeline::Desired;
use crate::report::{Commit, Stage, Timings};

/// One reconcile of one app.
pub struct Report {
    /// `namespace/name`.
    pub key: String,
    /// The refresh annotation this reconcile handles, when a user asked for
    /// it (not yet handled according to the status).
    pub requested: Option<String>,
    /// Who started it: `auto`, `self-heal`, or who asked.
    pub initiator: String,
    /// The commit Source resolved, once it did.
    pub commit: Option<Commit>,
    /// The rollback the status carries from now on (Source decides whether a
    /// rollback holds, begins or ended).
    pub rollback: Option<RollbackState>,
    /// The commit a rollback holds the app at, when one is in force.
    pub held_at: Option<String>,
    /// The options of the requested sync (`tether.dev/sync-request` for this
    /// refresh value), or why they are not valid. Plan reads them.
    pub options: Result<Option<SyncOptions>, String>,
    pub timings: Timings,
    pub ended: Ended,
}

/// How the reconcile ended.
pub enum Ended {
    /// `spec.suspend`: nothing refreshed or synced.
    Suspended,
    /// Source, Render or Plan failed: nothing was applied or pruned.
    Stopped(Stopped),
    /// A sync was due, but the status naming it (and its inventory intent)
    /// could not be written before Apply: nothing was applied.
    SyncNotStarted(Box<Planned>),
    /// Planned and assessed, and synced when a sync was due.
    Reconciled(Box<Reconciled>),
}

/// A stage that failed.
pub struct Stopped {
    pub stage: Stage,
    pub failure: Failure,
    /// Worth telling beyond the status (a warning log line, the audit log,
    /// a Warning Event), once: Source, Render and Plan failures are; reading
    /// live objects and resolving the head a rollback holds against are
    /// retried and shown on the status only.
    pub announce: bool,
    /// A user's refresh counts as handled (it got as far as Render, which
    /// would fail the same way again).
    pub handles_refresh: bool,
}

/// Where Plan ended: the desired objects (moved into the plan), the plan and
/// what drifted.
pub struct Planned {
    /// The commit and its metadata; the objects have moved into `plan`.
    pub desired: Desired,
    pub plan: Plan,
    /// The larger of desired and inventory: past a threshold, CPU work moves
    /// off the runtime's workers.
    pub size: usize,
    /// Every object whose live copy left Git at the revision already synced.
    pub drift: BTreeMap<ObjectRef, Drift>,
    /// The part of `drift` not reported before: each is announced once.
    pub new_drift: Vec<NewDrift>,
    /// A requested sync's options (selected objects, prune), when any.
    pub options: Option<SyncOptions>,
    /// With selected objects: the part of `plan` the sync applies and prunes
    /// (`tether_plan::select`); `plan` stays whole for Assess.
    pub selected: Option<Plan>,
}

impl Planned {
    /// What a sync applies: the selection, or the whole plan.
    pub fn sync_plan(&self) -> &Plan {
        self.selected.as_ref().unwrap_or(&self.plan)
    }
}

/// Drift seen for the first time.
pub struct NewDrift {
    pub object: ObjectRef,
    pub drift: Drift,
    pub detected_at: jiff::Timestamp,
}

/// A reconcile that got through Plan and Assess.
pub struct Reconciled {
    pub planned: Planned,
    /// A sync was due but did not run (self-heal flapping), and why.
    pub blocked: Option<String>,
    pub sync: Option<SyncRun>,
    /// Every object's sync, health and drift as it is now.
    pub resources: Vec<ResourceStatus>,
    pub health: HealthStatus,
    /// Self-heal keeps fighting this field manager.
    pub flapping: Option<String>,
    /// When to look again.
    pub requeue_after: Duration,
}

/// A sync that ran.
pub struct SyncRun {
    pub reason: String,
    pub kind: SyncKind,
    /// The audit log's `in_progress` record, to finish.
    pub audit_id: Option<i64>,
    /// The operation's retry counts: `(retry_count, transient_retries)`.
    pub retries: (i64, i64),
    pub outcome: ApplyOutcome,
}

impl SyncRun {
    pub fn succeeded(&self) -> bool {
        self.outcome.phase == OperationPhase::Succeeded
    }

    /// The cluster failed (unreachable, throttled), not the commit.
    pub fn transient(&self) -> bool {
        self.outcome.transient
    }
}

impl Report {
    /// A reconcile begins: who asked, if anyone.
    pub fn begin(app: &Application) -> Report {
        let stored = app.status.as_ref();
        let refresh = app
            .annotations()
            .get(tether_model::REFRESH_ANNOTATION)
            .cloned();
        let handled = stored.and_then(|s| s.last_handled_refresh.clone());
        let requested = refresh.filter(|r| Some(r) != handled.as_ref());
        let options = match &requested {
            Some(r) => tether_model::sync_options_for(app.annotations(), r),
            None => Ok(None),
        };
        let initiator = match requested {
            Some(_) => app
                .annotations()
                .get(tether_model::REFRESH_BY_ANNOTATION)
                .cloned()
                .unwrap_or_else(|| "user".into()),
            None => "auto".to_string(),
        };
        Report {
            key: crate::pipeline::Engine::app_key(app),
            requested,
            initiator,
            commit: None,
            rollback: stored.and_then(|s| s.rollback.clone()),
            held_at: None,
            options,
            timings: Timings::default(),
            ended: Ended::Suspended,
        }
    }

    /// How long `stage` took, from `since`.
    pub fn timed(&mut self, stage: Stage, since: std::time::Instant) {
        self.timings.stages.push((stage, since.elapsed()));
    }

    pub fn reconciled(&self) -> Option<&Reconciled> {
        match &self.ended {
            Ended::Reconciled(r) => Some(r),
            _ => None,
        }
    }

    /// What the scheduler is told: look again after this long, backing off
    /// while failures repeat, holding off a failed sync's retry. `written`:
    /// the final status was stored (or needed no write).
    pub fn next_look(&self, poll_interval: Duration, written: bool) -> crate::pipeline::Outcome {
        use crate::pipeline::Outcome;
        match &self.ended {
            Ended::Suspended => Outcome::after(poll_interval),
            Ended::Stopped(_) | Ended::SyncNotStarted(_) => Outcome::failed(poll_interval),
            Ended::Reconciled(r) => {
                let sync = r.sync.as_ref();
                Outcome {
                    requeue_after: r.requeue_after,
                    // A lost final write would leave the "Running" operation
                    // behind and the history entry unwritten: back off and
                    // try again rather than wait a poll. Transient cluster
                    // errors: retried with the agent's backoff.
                    failed: !written || sync.is_some_and(SyncRun::transient),
                    hold_off: sync.is_some_and(|s| !s.succeeded()),
                }
            }
        }
    }
}
