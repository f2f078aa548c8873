//! Record, the last stage: the one place that writes what a reconcile did.
//! The pipeline fills in a [`Report`]; [`Record::finish`] turns it into the
//! Application's status ([`status`]), then hands it to the sinks: the agent's
//! log lines ([`log`]), Kubernetes Events ([`events`]), the audit log
//! ([`audit`]), and as facts ([`facts`], pure) to the external sinks of
//! [`crate::report`] (metrics, notifications, the API's live stream).
//!
//! One write comes before Apply, on purpose: [`Record::sync_starting`] stores
//! the Running operation with the inventory intent (so an agent killed
//! mid-sync cannot orphan the objects it created) and opens the sync's audit
//! record as `in_progress` (so the next start can mark it interrupted).
//!
//! No sink can fail a reconcile: a failed audit write or Event is logged and
//! dropped. The status is written last, so that whoever sees the status has
//! the audit records and Events behind it.

pub mod audit;
pub mod events;
pub mod facts;
pub mod log;
pub mod report;
pub mod status;

use std::time::Instant;

use kube::ResourceExt;
use tether_model::{Application, ApplicationStatus, SyncCode};

pub use report::{Ended, NewDrift, Planned, Reconciled, Report, Stopped, SyncRun};
pub use status::*;

use crate::audit::SyncKind;
use crate::pipeline::{Engine, Outcome, short};
use crate::report::Stage;

/// Records one reconcile of one app. Holds the status as it will be written.
pub struct Record<'a> {
    engine: &'a Engine,
    app: &'a Application,
    status: ApplicationStatus,
    started: Instant,
}

/// The status could not be written before Apply, so the sync did not start.
pub struct StatusNotWritten;

impl<'a> Record<'a> {
    /// At the start of the reconcile (its total time counts from here).
    pub fn new(engine: &'a Engine, app: &'a Application) -> Record<'a> {
        Record {
            engine,
            app,
            status: app.status.clone().unwrap_or_default(),
            started: Instant::now(),
        }
    }

    /// Just before Apply: write the Running operation and the inventory
    /// intent (every object about to be created joins the inventory first),
    /// then open the sync's audit record. Returns that record's id.
    pub async fn sync_starting(
        &mut self,
        report: &Report,
        planned: &Planned,
        reason: &str,
        kind: SyncKind,
    ) -> Result<Option<i64>, StatusNotWritten> {
        let resolved = &planned.desired.resolved;
        tracing::info!(app = %report.key, revision = %short(&resolved.commit), initiator = %report.initiator, "sync: {reason}");
        self.status.rollback = report.rollback.clone();
        operation_started(
            &mut self.status,
            &resolved.commit,
            &report.initiator,
            self.app.metadata.generation,
            reason,
            planned.options.as_ref(),
        );
        inventory_intent(&mut self.status, planned.sync_plan());
        if !self.write(self.status.clone()).await {
            return Err(StatusNotWritten);
        }
        Ok(match &self.engine.audit {
            Some(a) => {
                a.sync_started(
                    &report.key,
                    resolved,
                    &report.initiator,
                    reason,
                    kind,
                    planned.options.as_ref(),
                )
                .await
            }
            None => None,
        })
    }

    /// The end of the reconcile: the status, then every sink. Returns what
    /// the scheduler is told.
    pub async fn finish(mut self, mut report: Report) -> Outcome {
        let stage_started = Instant::now();
        let stored = self.app.status.as_ref();
        // The status first: the sinks report what it records (the operation's
        // message, a new conflict).
        let StatusUpdate {
            write,
            results,
            conflict,
        } = status_of(
            &mut self.status,
            self.app,
            &mut report,
            self.engine.history_limit,
            self.engine.poll_interval,
        );
        let operation_message = self
            .status
            .operation_state
            .as_ref()
            .map(|o| o.message.clone());
        let news = match &report.ended {
            Ended::Stopped(s) if s.announce && !already_shown(stored, &s.failure) => Some(s),
            _ => None,
        };
        let facts = facts::facts(
            &report,
            &self.app.namespace().unwrap_or_default(),
            &self.app.name_any(),
            stored.and_then(|s| s.health.as_ref()),
            operation_message.as_deref(),
        );
        log::record(&report, conflict.as_deref());
        if let Some(notifier) = &self.engine.events {
            let list = events::events(
                &report,
                news,
                operation_message.as_deref(),
                conflict.as_deref(),
            );
            events::publish(notifier, self.app, list).await;
        }
        if let Some(auditor) = &self.engine.audit {
            audit::record(auditor, &report, news, &results, conflict.as_deref()).await;
        }
        let status = std::mem::take(&mut self.status);
        let written = match write {
            Write::Always => self.write(status).await,
            // A re-plan that found everything as it was writes nothing, so
            // an idle agent costs the API server (and itself) next to nothing.
            Write::UnlessNothingNew => nothing_new(stored, &status) || self.write(status).await,
            Write::Never => false,
        };
        report.timed(Stage::Record, stage_started);
        report.timings.total = self.started.elapsed();
        self.engine.sinks.accept(self.app, &report.timings, &facts);
        report.next_look(self.engine.poll_interval, written)
    }

    /// Server-side apply of the status; a failure is logged.
    async fn write(&self, status: ApplicationStatus) -> bool {
        match write_status(&self.engine.cluster, self.app, status).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(app = %Engine::app_key(self.app), "cannot write status: {e}");
                false
            }
        }
    }
}

/// Objects still out of sync carry their drift into the status detail.
pub fn attach_drift(
    resources: &mut [tether_model::ResourceStatus],
    drift: &std::collections::BTreeMap<tether_model::ObjectRef, tether_model::Drift>,
) {
    for r in resources
        .iter_mut()
        .filter(|r| r.status != SyncCode::Synced)
    {
        r.drift = drift.get(&resource_ref(r)).cloned();
    }
}
