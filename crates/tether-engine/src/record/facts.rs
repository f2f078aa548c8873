//! Report → facts, pure: what metrics, notifications and the live stream are
//! told about one reconcile. One SyncStarted and one SyncSucceeded or
//! SyncFailed per sync; DriftDetected once per new drift; HealthDegraded and
//! HealthRecovered on transitions only; ReconcileFailed naming the stage.

use tether_model::{HealthCode, HealthStatus};

use super::report::{Ended, Report};
use crate::report::{Fact, FactKind};

/// The facts of `report`. `health_before`: the health the stored status
/// showed; `operation_message`: the finished operation's message as the
/// status records it.
pub fn facts(
    report: &Report,
    namespace: &str,
    name: &str,
    health_before: Option<&HealthStatus>,
    operation_message: Option<&str>,
) -> Vec<Fact> {
    let now = crate::time::now();
    let fact = |kind: FactKind, time: &str| Fact {
        namespace: namespace.to_string(),
        name: name.to_string(),
        commit: report.commit.clone(),
        time: time.to_string(),
        kind,
    };
    let mut out = Vec::new();
    let planned = match &report.ended {
        Ended::Suspended => return out,
        Ended::Stopped(s) => {
            out.push(fact(
                FactKind::ReconcileFailed {
                    stage: s.stage,
                    reason: s.failure.reason.to_string(),
                    message: s.failure.message.clone(),
                },
                &now,
            ));
            return out;
        }
        Ended::SyncNotStarted(p) => p,
        Ended::Reconciled(r) => &r.planned,
    };
    for d in &planned.new_drift {
        out.push(fact(
            FactKind::DriftDetected {
                object: d.object.to_string(),
                fields: d.drift.fields.iter().map(|f| f.path.clone()).collect(),
                manager: d.drift.manager.clone(),
            },
            &crate::time::format_ts(d.detected_at),
        ));
    }
    let Some(r) = report.reconciled() else {
        return out;
    };
    if let Some(reason) = &r.blocked {
        out.push(fact(
            FactKind::SyncBlocked {
                reason: reason.clone(),
            },
            &now,
        ));
    }
    if let Some(sync) = &r.sync {
        let initiator = report.initiator.clone();
        out.push(fact(
            FactKind::SyncStarted {
                initiator: initiator.clone(),
                reason: sync.reason.clone(),
            },
            &now,
        ));
        let message = operation_message.unwrap_or_default().to_string();
        if sync.succeeded() {
            let self_heal = initiator == "self-heal";
            out.push(fact(FactKind::SyncSucceeded { initiator, message }, &now));
            if self_heal {
                out.push(fact(
                    FactKind::SelfHealed {
                        objects: planned.drift.len(),
                    },
                    &now,
                ));
            }
            if report.held_at.is_some() {
                out.push(fact(FactKind::RolledBack, &now));
            }
        } else {
            out.push(fact(
                FactKind::SyncFailed {
                    initiator,
                    message,
                    transient: sync.transient(),
                },
                &now,
            ));
        }
    }
    if let Some(kind) = health_transition(health_before, &r.health) {
        out.push(fact(kind, &now));
    }
    out
}

/// Degraded and recovered: only the transitions.
fn health_transition(before: Option<&HealthStatus>, now: &HealthStatus) -> Option<FactKind> {
    let was = before.map(|h| h.status);
    match (was, &now.status) {
        (Some(HealthCode::Degraded), HealthCode::Degraded) => None,
        (_, HealthCode::Degraded) => Some(FactKind::HealthDegraded {
            message: now.message.clone(),
        }),
        (Some(HealthCode::Degraded), HealthCode::Healthy) => Some(FactKind::HealthRecovered),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use tether_model::{Drift, DriftField, ObjectRef, OperationPhase};
    use tether_plan::plan::Plan;

    use super::*;
    use crate::apply::ApplyOutcome;
    use crate::audit::SyncKind;
    use crate::pipeline::Desired;
    use crate::record::Failure;
    use crate::record::report::{NewDrift, Planned, Reconciled, Stopped, SyncRun};
    use crate::report::{Commit, Stage, Timings};

    pub fn report(ended: Ended) -> Report {
        Report {
            key: "tether/web".into(),
            requested: None,
            initiator: "auto".into(),
            commit: Some(Commit {
                revision: "abc".into(),
                author: "a".into(),
                message: "m".into(),
            }),
            rollback: None,
            held_at: None,
            options: Ok(None),
            timings: Timings::default(),
            ended,
        }
    }

    pub fn planned(drifted: &[&str]) -> Planned {
        let drift: BTreeMap<ObjectRef, Drift> = drifted
            .iter()
            .map(|n| {
                (
                    ObjectRef::new("apps", "Deployment", "web", n),
                    Drift {
                        manager: "kubectl".into(),
                        fields: vec![DriftField {
                            path: "spec.replicas".into(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                )
            })
            .collect();
        let new_drift = drift
            .iter()
            .map(|(r, d)| NewDrift {
                object: r.clone(),
                drift: d.clone(),
                detected_at: jiff::Timestamp::UNIX_EPOCH,
            })
            .collect();
        Planned {
            desired: Desired {
                resolved: tether_source::Resolved {
                    commit: "abc".into(),
                    meta: tether_source::CommitMeta {
                        author: "a".into(),
                        committer: "a".into(),
                        message: "m".into(),
                        summary: "m".into(),
                        time: 0,
                    },
                },
                objects: Vec::new(),
            },
            plan: Plan::default(),
            size: 0,
            drift,
            new_drift,
            options: None,
            selected: None,
        }
    }

    pub fn reconciled(planned: Planned, sync: Option<SyncRun>, health: HealthCode) -> Ended {
        Ended::Reconciled(Box::new(Reconciled {
            planned,
            blocked: None,
            sync,
            resources: Vec::new(),
            health: HealthStatus::new(health, "why"),
            flapping: None,
            requeue_after: Duration::from_secs(30),
        }))
    }

    pub fn sync(phase: OperationPhase, transient: bool) -> SyncRun {
        SyncRun {
            reason: "new revision abc".into(),
            kind: SyncKind::Sync,
            audit_id: None,
            retries: (0, 0),
            outcome: ApplyOutcome {
                phase,
                transient,
                ..Default::default()
            },
        }
    }

    fn names(facts: &[Fact]) -> Vec<&'static str> {
        facts.iter().map(|f| f.kind.name()).collect()
    }

    fn healthy() -> HealthStatus {
        HealthStatus::new(HealthCode::Healthy, "")
    }

    #[test]
    fn a_sync_is_one_start_and_one_end() {
        let r = report(reconciled(
            planned(&[]),
            Some(sync(OperationPhase::Succeeded, false)),
            HealthCode::Healthy,
        ));
        let f = facts(&r, "tether", "web", Some(&healthy()), Some("done"));
        assert_eq!(names(&f), ["SyncStarted", "SyncSucceeded"]);
        assert_eq!(
            f[1].kind,
            FactKind::SyncSucceeded {
                initiator: "auto".into(),
                message: "done".into()
            }
        );
        assert_eq!(f[0].commit.as_ref().unwrap().revision, "abc");
        assert_eq!(
            (f[0].namespace.as_str(), f[0].name.as_str()),
            ("tether", "web")
        );

        let r = report(reconciled(
            planned(&[]),
            Some(sync(OperationPhase::Error, true)),
            HealthCode::Healthy,
        ));
        let f = facts(&r, "tether", "web", Some(&healthy()), Some("boom"));
        assert_eq!(names(&f), ["SyncStarted", "SyncFailed"]);
        assert!(matches!(
            f[1].kind,
            FactKind::SyncFailed {
                transient: true,
                ..
            }
        ));
    }

    #[test]
    fn a_self_heal_counts_every_drifted_object_and_announces_only_new_drift() {
        let mut p = planned(&["a", "b", "c"]);
        p.new_drift.truncate(1);
        let mut r = report(reconciled(
            p,
            Some(sync(OperationPhase::Succeeded, false)),
            HealthCode::Healthy,
        ));
        r.initiator = "self-heal".into();
        let f = facts(&r, "tether", "web", None, Some("ok"));
        assert_eq!(
            names(&f),
            [
                "DriftDetected",
                "SyncStarted",
                "SyncSucceeded",
                "SelfHealed"
            ]
        );
        assert_eq!(
            f[0].kind,
            FactKind::DriftDetected {
                object: "Deployment.apps web/a".into(),
                fields: vec!["spec.replicas".into()],
                manager: "kubectl".into()
            }
        );
        assert_eq!(f[0].time, "1970-01-01T00:00:00Z", "when it was detected");
        assert_eq!(f[3].kind, FactKind::SelfHealed { objects: 3 });
    }

    #[test]
    fn a_rollback_is_told_only_when_its_sync_succeeded() {
        let mut r = report(reconciled(
            planned(&[]),
            Some(sync(OperationPhase::Succeeded, false)),
            HealthCode::Healthy,
        ));
        r.held_at = Some("abc".into());
        assert_eq!(
            names(&facts(&r, "n", "a", None, None)),
            ["SyncStarted", "SyncSucceeded", "RolledBack"]
        );
        r.ended = reconciled(
            planned(&[]),
            Some(sync(OperationPhase::Failed, false)),
            HealthCode::Healthy,
        );
        assert_eq!(
            names(&facts(&r, "n", "a", None, None)),
            ["SyncStarted", "SyncFailed"]
        );
    }

    #[test]
    fn health_is_told_on_transitions_only() {
        let degraded = HealthStatus::new(HealthCode::Degraded, "crash");
        let now = |code| report(reconciled(planned(&[]), None, code));
        let told =
            |before: Option<&HealthStatus>, code| names(&facts(&now(code), "n", "a", before, None));
        assert_eq!(
            told(Some(&healthy()), HealthCode::Degraded),
            ["HealthDegraded"]
        );
        assert_eq!(told(None, HealthCode::Degraded), ["HealthDegraded"]);
        assert!(told(Some(&degraded), HealthCode::Degraded).is_empty());
        assert_eq!(
            told(Some(&degraded), HealthCode::Healthy),
            ["HealthRecovered"]
        );
        // Progressing in between is not a recovery.
        assert!(told(Some(&degraded), HealthCode::Progressing).is_empty());
        assert!(told(Some(&healthy()), HealthCode::Healthy).is_empty());
    }

    #[test]
    fn a_failed_stage_is_one_fact_naming_it() {
        let r = report(Ended::Stopped(Stopped {
            stage: Stage::Render,
            failure: Failure::new("RenderFailed", "bad yaml"),
            announce: true,
            handles_refresh: true,
        }));
        let f = facts(&r, "n", "a", None, None);
        assert_eq!(
            f.iter().map(|f| &f.kind).collect::<Vec<_>>(),
            [&FactKind::ReconcileFailed {
                stage: Stage::Render,
                reason: "RenderFailed".into(),
                message: "bad yaml".into()
            }]
        );
        assert!(facts(&report(Ended::Suspended), "n", "a", None, None).is_empty());
    }

    #[test]
    fn a_blocked_heal_and_a_sync_that_could_not_start() {
        let mut ended = reconciled(planned(&["a"]), None, HealthCode::Healthy);
        if let Ended::Reconciled(r) = &mut ended {
            r.blocked = Some("self-heal flapping with manager hpa".into());
        }
        assert_eq!(
            names(&facts(&report(ended), "n", "a", None, None)),
            ["DriftDetected", "SyncBlocked"]
        );
        // The status naming the sync could not be written: nothing ran, the
        // drift it found is still told (it is not reported again).
        let r = report(Ended::SyncNotStarted(Box::new(planned(&["a"]))));
        assert_eq!(names(&facts(&r, "n", "a", None, None)), ["DriftDetected"]);
    }
}
