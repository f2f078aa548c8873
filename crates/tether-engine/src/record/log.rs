//! The log sink: the agent's log lines about a reconcile, once it is done
//! (the line that a sync begins is written as it begins, by
//! [`super::Record::sync_starting`]).

use super::report::{Ended, Report};

pub fn record(report: &Report, conflict: Option<&str>) {
    let key = &report.key;
    let planned = match &report.ended {
        Ended::Suspended => return,
        Ended::Stopped(s) => {
            if s.announce {
                tracing::warn!(app = %key, reason = s.failure.reason, stage = s.stage.as_str(), "{}", s.failure.message);
            }
            return;
        }
        Ended::SyncNotStarted(p) => {
            tracing::warn!(app = %key, "the sync did not start: its status could not be written");
            p
        }
        Ended::Reconciled(r) => &r.planned,
    };
    for d in &planned.new_drift {
        tracing::info!(app = %key, object = %d.object, manager = %d.drift.manager, "drift: {}", crate::drift::describe(&d.object, &d.drift));
    }
    if let Some(blocked) = report.reconciled().and_then(|r| r.blocked.as_ref()) {
        tracing::info!(app = %key, "sync blocked: {blocked}");
    }
    if let Some(conflict) = conflict {
        tracing::warn!(app = %key, "SharedResource: {conflict}");
    }
}
