//! The audit-log sink: a report's durable records. The sync's `in_progress`
//! record is written before Apply ([`super::Record::sync_starting`]); this
//! writes the rest once the reconcile is done: new drift (dated when it was
//! detected), the sync's result with every object's, a failed stage and a new
//! `SharedResource` conflict. A failed write is logged by the [`Auditor`] and
//! never fails the reconcile.

use tether_model::ResourceResult;

use super::report::{Ended, Report, Stopped};
use crate::audit::Auditor;

/// `results`: every object's result of the sync (the status keeps only some).
pub async fn record(
    auditor: &Auditor,
    report: &Report,
    news: Option<&Stopped>,
    results: &[ResourceResult],
    conflict: Option<&str>,
) {
    let key = &report.key;
    if let Some(s) = news {
        auditor
            .error(key, s.failure.reason, &s.failure.message)
            .await;
    }
    let planned = match &report.ended {
        Ended::SyncNotStarted(p) => p,
        Ended::Reconciled(r) => &r.planned,
        Ended::Suspended | Ended::Stopped(_) => return,
    };
    let resolved = &planned.desired.resolved;
    for d in &planned.new_drift {
        auditor
            .drift(key, &d.object, &d.drift, resolved, d.detected_at)
            .await;
    }
    if let Some(sync) = report.reconciled().and_then(|r| r.sync.as_ref()) {
        auditor
            .sync_finished(
                sync.audit_id,
                key,
                resolved,
                &report.initiator,
                &sync.outcome,
                results,
            )
            .await;
    }
    if let Some(conflict) = conflict {
        auditor
            .error(key, crate::owner::SHARED_RESOURCE, conflict)
            .await;
    }
}
