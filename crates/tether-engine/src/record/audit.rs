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
                planned.options.as_ref(),
            )
            .await;
    }
    if let Some(conflict) = conflict {
        auditor
            .error(key, crate::owner::SHARED_RESOURCE, conflict)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use tether_audit::{EventKind, Query};
    use tether_model::{HealthCode, OperationPhase};

    use super::*;
    use crate::audit::SyncKind;
    use crate::record::Failure;
    use crate::record::facts::tests::{planned, reconciled, report, sync};
    use crate::report::Stage;

    fn kinds(auditor: &Auditor) -> Vec<(EventKind, String)> {
        auditor
            .log()
            .query(&Query::default())
            .expect("query")
            .into_iter()
            .map(|r| (r.kind, r.outcome))
            .collect()
    }

    #[tokio::test]
    async fn drift_sorts_before_the_heal_that_corrected_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let (auditor, _) = Auditor::open(dir.path(), "test").expect("audit log");
        // The drift was detected (before Apply) earlier than the sync began;
        // its record is written after the sync's in_progress one.
        let mut r = report(reconciled(
            planned(&["web"]),
            Some(sync(OperationPhase::Succeeded, false)),
            HealthCode::Healthy,
        ));
        r.initiator = "self-heal".into();
        let resolved = r.reconciled().unwrap().planned.desired.resolved.clone();
        let id = auditor
            .sync_started(
                &r.key,
                &resolved,
                "self-heal",
                "self-heal",
                SyncKind::SelfHeal,
                None,
            )
            .await;
        assert!(id.is_some());
        if let Ended::Reconciled(rec) = &mut r.ended {
            rec.sync.as_mut().unwrap().audit_id = id;
        }
        record(
            &auditor,
            &r,
            None,
            &[],
            Some("ConfigMap web/a is another app's"),
        )
        .await;
        assert_eq!(
            kinds(&auditor),
            [
                (EventKind::Drift, tether_audit::DETECTED.to_string()),
                (EventKind::SelfHeal, tether_audit::SUCCEEDED.to_string()),
                (EventKind::Error, tether_audit::FAILED.to_string()),
            ]
        );
    }

    #[tokio::test]
    async fn a_failed_stage_is_recorded_only_when_it_is_news() {
        let dir = tempfile::tempdir().expect("tmp");
        let (auditor, _) = Auditor::open(dir.path(), "test").expect("audit log");
        let stopped = Stopped {
            stage: Stage::Render,
            failure: Failure::new("RenderFailed", "bad yaml"),
            announce: true,
            handles_refresh: true,
        };
        let r = report(Ended::Stopped(stopped));
        record(&auditor, &r, None, &[], None).await;
        assert!(kinds(&auditor).is_empty());
        let Ended::Stopped(s) = &r.ended else {
            unreachable!()
        };
        record(&auditor, &r, Some(s), &[], None).await;
        let all = auditor.log().query(&Query::default()).expect("query");
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].kind, EventKind::Error);
        assert_eq!(all[0].message, "RenderFailed: bad yaml");
    }
}
