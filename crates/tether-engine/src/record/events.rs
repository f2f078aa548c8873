//! The Events sink: Kubernetes Events on the Application, as Argo CD and Flux
//! emit them (`kubectl describe app`, event-based alerting). Which Events a
//! report makes is pure ([`events`]); [`crate::events::Notifier`] publishes
//! them, best effort.

use super::report::{Ended, Report, Stopped};
use crate::pipeline::short;

/// One Event to publish.
#[derive(Debug, PartialEq, Eq)]
pub struct Event {
    pub warning: bool,
    pub reason: String,
    pub action: &'static str,
    pub note: String,
}

impl Event {
    fn warning(reason: &str, action: &'static str, note: String) -> Event {
        Event {
            warning: true,
            reason: reason.to_string(),
            action,
            note,
        }
    }

    fn normal(reason: &str, action: &'static str, note: String) -> Event {
        Event {
            warning: false,
            ..Event::warning(reason, action, note)
        }
    }
}

/// The Events of `report`: a failed stage that is news (`news`, once, not on
/// every retry), each new drift, the sync's end (`operation_message` as the
/// status records it), and a new `SharedResource` conflict.
pub fn events(
    report: &Report,
    news: Option<&Stopped>,
    operation_message: Option<&str>,
    conflict: Option<&str>,
) -> Vec<Event> {
    let mut out = Vec::new();
    if let Some(s) = news {
        out.push(Event::warning(
            s.failure.reason,
            "Reconcile",
            s.failure.message.clone(),
        ));
    }
    let planned = match &report.ended {
        Ended::SyncNotStarted(p) => p,
        Ended::Reconciled(r) => &r.planned,
        Ended::Suspended | Ended::Stopped(_) => return out,
    };
    for d in &planned.new_drift {
        out.push(Event::warning(
            "DriftDetected",
            "Compare",
            crate::drift::describe(&d.object, &d.drift),
        ));
    }
    if let Some(sync) = report.reconciled().and_then(|r| r.sync.as_ref()) {
        let note = format!(
            "{} at {}: {}",
            report.initiator,
            short(&planned.desired.resolved.commit),
            operation_message.unwrap_or_default()
        );
        out.push(match (sync.succeeded(), report.initiator == "self-heal") {
            (true, true) => Event::normal("SelfHealed", "Sync", note),
            (true, false) => Event::normal("Synced", "Sync", note),
            // The cluster failed, not the commit: say so, as the condition does.
            (false, _) if sync.transient() => Event::warning("ClusterUnavailable", "Sync", note),
            (false, _) => Event::warning("SyncFailed", "Sync", note),
        });
    }
    if let Some(conflict) = conflict {
        out.push(Event::warning(
            crate::owner::SHARED_RESOURCE,
            "Sync",
            conflict.to_string(),
        ));
    }
    out
}

/// Publish `events` on the app, in order. A failed publish is logged by the
/// notifier and never fails the reconcile.
pub async fn publish(
    notifier: &crate::events::Notifier,
    app: &tether_model::Application,
    events: Vec<Event>,
) {
    for e in events {
        if e.warning {
            notifier.warning(app, &e.reason, e.action, e.note).await;
        } else {
            notifier.normal(app, &e.reason, e.action, e.note).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use tether_model::{HealthCode, OperationPhase};

    use super::*;
    use crate::record::Failure;
    use crate::record::facts::tests::{planned, reconciled, report, sync};
    use crate::report::Stage;

    fn reasons(events: &[Event]) -> Vec<(&str, bool)> {
        events
            .iter()
            .map(|e| (e.reason.as_str(), e.warning))
            .collect()
    }

    #[test]
    fn a_sync_ends_in_one_event_named_for_how_it_went() {
        let cases = [
            ("auto", OperationPhase::Succeeded, false, ("Synced", false)),
            (
                "self-heal",
                OperationPhase::Succeeded,
                false,
                ("SelfHealed", false),
            ),
            ("auto", OperationPhase::Failed, false, ("SyncFailed", true)),
            (
                "auto",
                OperationPhase::Error,
                true,
                ("ClusterUnavailable", true),
            ),
        ];
        for (initiator, phase, transient, want) in cases {
            let mut r = report(reconciled(
                planned(&[]),
                Some(sync(phase, transient)),
                HealthCode::Healthy,
            ));
            r.initiator = initiator.into();
            let ev = events(&r, None, Some("new revision abc; 1 configured"), None);
            assert_eq!(reasons(&ev), [want]);
            assert_eq!(
                ev[0].note,
                format!("{initiator} at abc: new revision abc; 1 configured")
            );
            assert_eq!(ev[0].action, "Sync");
        }
    }

    #[test]
    fn drift_comes_before_the_heal_and_a_conflict_after() {
        let mut r = report(reconciled(
            planned(&["web"]),
            Some(sync(OperationPhase::Succeeded, false)),
            HealthCode::Healthy,
        ));
        r.initiator = "self-heal".into();
        let ev = events(
            &r,
            None,
            Some("ok"),
            Some("ConfigMap web/a is held by other"),
        );
        assert_eq!(
            reasons(&ev),
            [
                ("DriftDetected", true),
                ("SelfHealed", false),
                ("SharedResource", true)
            ]
        );
        assert_eq!(ev[0].action, "Compare");
        assert!(ev[0].note.contains("spec.replicas"), "{}", ev[0].note);
    }

    #[test]
    fn a_failure_is_told_only_when_it_is_news() {
        let stopped = Stopped {
            stage: Stage::Source,
            failure: Failure::new("SourceUnreachable", "cannot reach the repo"),
            announce: true,
            handles_refresh: true,
        };
        let r = report(crate::record::report::Ended::Stopped(stopped));
        let Ended::Stopped(s) = &r.ended else {
            unreachable!()
        };
        let ev = events(&r, Some(s), None, None);
        assert_eq!(reasons(&ev), [("SourceUnreachable", true)]);
        assert_eq!(
            (ev[0].action, ev[0].note.as_str()),
            ("Reconcile", "cannot reach the repo")
        );
        assert!(events(&r, None, None, None).is_empty());
    }
}
