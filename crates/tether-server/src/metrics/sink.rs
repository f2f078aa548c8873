//! The engine's facts as metrics: a [`Sink`] wired into the agent's sinks. Updating a
//! counter is a few atomic operations, so it runs inline and returns at once.
//!
//! - `tether_sync_total{namespace,name,phase}`: `phase` is `Running` when a sync starts,
//!   then `Succeeded` or `Failed`;
//! - `tether_reconcile_failures_total{namespace,name,stage}`: Source, Render or Plan failed;
//! - `tether_drift_total{namespace,name}`: objects found drifted;
//! - `tether_self_heal_total{namespace,name}`: self-heals;
//! - `tether_reconcile_duration_seconds{stage}`: each stage's time, and `total`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use tether_engine::report::{Fact, FactKind, Sink, Timings};

use super::Metrics;

type Labels = Vec<(&'static str, String)>;

pub struct FactMetrics {
    syncs: Family<Labels, Counter>,
    failures: Family<Labels, Counter>,
    drift: Family<Labels, Counter>,
    heals: Family<Labels, Counter>,
    durations: Family<Labels, Histogram>,
}

/// A reconcile stage takes from a millisecond (an idle re-plan from the caches) to
/// minutes (a large Helm chart, a rollout).
fn duration_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
    ])
}

impl FactMetrics {
    /// Make the families and register them in `metrics`. Call once per process.
    pub fn new(metrics: &Metrics) -> FactMetrics {
        let m = FactMetrics {
            syncs: Family::default(),
            failures: Family::default(),
            drift: Family::default(),
            heals: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
        };
        metrics.register(|r| {
            r.register(
                "tether_sync",
                "Syncs by app and phase (Running when started, then Succeeded or Failed)",
                m.syncs.clone(),
            );
            r.register(
                "tether_reconcile_failures",
                "Reconciles that failed before syncing, by app and stage (source, render, plan)",
                m.failures.clone(),
            );
            r.register(
                "tether_drift",
                "Managed objects found drifted from Git, by app",
                m.drift.clone(),
            );
            r.register(
                "tether_self_heal",
                "Self-heals (drift put back), by app",
                m.heals.clone(),
            );
            r.register(
                "tether_reconcile_duration_seconds",
                "Time spent in each stage of a reconcile (stage=total for the whole)",
                m.durations.clone(),
            );
        });
        m
    }
}

fn app_labels(fact: &Fact) -> Labels {
    vec![
        ("namespace", fact.namespace.clone()),
        ("name", fact.name.clone()),
    ]
}

impl Sink for FactMetrics {
    fn name(&self) -> &'static str {
        "metrics"
    }

    fn accept(&self, _app: &tether_model::Application, timings: &Timings, facts: &[Fact]) {
        for (stage, took) in &timings.stages {
            self.durations
                .get_or_create(&vec![("stage", stage.as_str().to_owned())])
                .observe(took.as_secs_f64());
        }
        if !timings.total.is_zero() {
            self.durations
                .get_or_create(&vec![("stage", "total".to_owned())])
                .observe(timings.total.as_secs_f64());
        }
        for fact in facts {
            let phase = |p: &str| {
                let mut l = app_labels(fact);
                l.push(("phase", p.to_owned()));
                l
            };
            match &fact.kind {
                FactKind::SyncStarted { .. } => {
                    self.syncs.get_or_create(&phase("Running")).inc();
                }
                FactKind::SyncSucceeded { .. } => {
                    self.syncs.get_or_create(&phase("Succeeded")).inc();
                }
                FactKind::SyncFailed { .. } => {
                    self.syncs.get_or_create(&phase("Failed")).inc();
                }
                FactKind::ReconcileFailed { stage, .. } => {
                    let mut l = app_labels(fact);
                    l.push(("stage", stage.as_str().to_owned()));
                    self.failures.get_or_create(&l).inc();
                }
                FactKind::DriftDetected { .. } => {
                    self.drift.get_or_create(&app_labels(fact)).inc();
                }
                FactKind::SelfHealed { .. } => {
                    self.heals.get_or_create(&app_labels(fact)).inc();
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tether_engine::report::Stage;

    fn fact(kind: FactKind) -> Fact {
        Fact {
            namespace: "tether".into(),
            name: "web".into(),
            commit: None,
            time: "2026-01-01T00:00:00Z".into(),
            kind,
        }
    }

    #[test]
    fn facts_become_counters_and_timings_a_histogram() {
        let metrics = Metrics::default();
        let sink = FactMetrics::new(&metrics);
        let app: tether_model::Application = serde_json::from_value(serde_json::json!({
            "apiVersion": "tether.dev/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": "tether"},
            "spec": {"source": {"repoURL": "https://h/r"}}
        }))
        .unwrap();
        let timings = Timings {
            stages: vec![
                (Stage::Source, Duration::from_millis(3)),
                (Stage::Apply, Duration::from_millis(40)),
            ],
            total: Duration::from_millis(50),
        };
        sink.accept(
            &app,
            &timings,
            &[
                fact(FactKind::SyncStarted {
                    initiator: "auto".into(),
                    reason: "r".into(),
                }),
                fact(FactKind::SyncSucceeded {
                    initiator: "auto".into(),
                    message: "m".into(),
                }),
                fact(FactKind::DriftDetected {
                    object: "apps/Deployment x/y".into(),
                    fields: vec![],
                    manager: "kubectl".into(),
                }),
                fact(FactKind::SelfHealed { objects: 1 }),
                fact(FactKind::ReconcileFailed {
                    stage: Stage::Render,
                    reason: "x".into(),
                    message: "y".into(),
                }),
            ],
        );
        sink.accept(
            &app,
            &timings,
            &[fact(FactKind::SyncFailed {
                initiator: "auto".into(),
                message: "m".into(),
                transient: false,
            })],
        );
        let mut text = String::new();
        metrics.encode(&mut text).unwrap();
        for line in [
            r#"tether_sync_total{namespace="tether",name="web",phase="Running"} 1"#,
            r#"tether_sync_total{namespace="tether",name="web",phase="Succeeded"} 1"#,
            r#"tether_sync_total{namespace="tether",name="web",phase="Failed"} 1"#,
            r#"tether_drift_total{namespace="tether",name="web"} 1"#,
            r#"tether_self_heal_total{namespace="tether",name="web"} 1"#,
            r#"tether_reconcile_failures_total{namespace="tether",name="web",stage="render"} 1"#,
            r#"tether_reconcile_duration_seconds_count{stage="apply"} 2"#,
            r#"tether_reconcile_duration_seconds_count{stage="total"} 2"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        // No object or commit reaches a label.
        assert!(!text.contains("Deployment"));
    }
}
