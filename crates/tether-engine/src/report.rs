//! What Record hands to the sinks: the facts one reconcile established, in a
//! form every consumer (metrics, notifications, the API's live stream) can read
//! without knowing the pipeline.
//!
//! A [`Sink`] must never slow a reconcile: `accept` is synchronous and must
//! return at once. A sink with I/O to do (a webhook, a disk) queues the fact and
//! does the work on its own task, bounded, dropping (and counting) what it
//! cannot keep.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

/// Which stage of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Source,
    Render,
    Plan,
    Apply,
    Assess,
    Record,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Source,
        Stage::Render,
        Stage::Plan,
        Stage::Apply,
        Stage::Assess,
        Stage::Record,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Source => "source",
            Stage::Render => "render",
            Stage::Plan => "plan",
            Stage::Apply => "apply",
            Stage::Assess => "assess",
            Stage::Record => "record",
        }
    }
}

/// How bad a fact is, for notification filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// The commit a fact is about.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Commit {
    pub revision: String,
    pub author: String,
    pub message: String,
}

/// What happened, as notifications, metrics and the live stream name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum FactKind {
    /// A sync began (`initiator` is `auto`, `self-heal`, or who asked).
    SyncStarted {
        initiator: String,
        reason: String,
    },
    SyncSucceeded {
        initiator: String,
        message: String,
    },
    /// `transient`: the cluster failed (unreachable, throttled), not the commit.
    SyncFailed {
        initiator: String,
        message: String,
        transient: bool,
    },
    /// Source, Render or Plan failed: nothing was applied or pruned.
    ReconcileFailed {
        stage: Stage,
        reason: String,
        message: String,
    },
    /// Health went from Healthy (or unknown) to Degraded.
    HealthDegraded {
        message: String,
    },
    /// Health came back to Healthy after Degraded.
    HealthRecovered,
    /// Live left Git on one object, and who did it.
    DriftDetected {
        object: String,
        fields: Vec<String>,
        manager: String,
    },
    /// A self-heal put drifted objects back.
    SelfHealed {
        objects: usize,
    },
    /// A sync to an older commit held by `tether app rollback`.
    RolledBack,
    /// A sync was due but did not run (suspended, flapping, a later window).
    SyncBlocked {
        reason: String,
    },
}

impl FactKind {
    /// The name used in metrics labels, notification filters and the stream.
    pub fn name(&self) -> &'static str {
        match self {
            FactKind::SyncStarted { .. } => "SyncStarted",
            FactKind::SyncSucceeded { .. } => "SyncSucceeded",
            FactKind::SyncFailed { .. } => "SyncFailed",
            FactKind::ReconcileFailed { .. } => "ReconcileFailed",
            FactKind::HealthDegraded { .. } => "HealthDegraded",
            FactKind::HealthRecovered => "HealthRecovered",
            FactKind::DriftDetected { .. } => "DriftDetected",
            FactKind::SelfHealed { .. } => "SelfHealed",
            FactKind::RolledBack => "RolledBack",
            FactKind::SyncBlocked { .. } => "SyncBlocked",
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            FactKind::SyncFailed { .. }
            | FactKind::ReconcileFailed { .. }
            | FactKind::HealthDegraded { .. } => Severity::Error,
            FactKind::DriftDetected { .. } | FactKind::SyncBlocked { .. } => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

/// One fact about one app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fact {
    pub namespace: String,
    pub name: String,
    /// The commit the fact is about, when the reconcile got that far.
    pub commit: Option<Commit>,
    pub time: String,
    #[serde(flatten)]
    pub kind: FactKind,
}

impl Fact {
    pub fn severity(&self) -> Severity {
        self.kind.severity()
    }
}

/// How one reconcile went, for metrics: each stage's time, and the end.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    pub stages: Vec<(Stage, Duration)>,
    pub total: Duration,
}

/// A consumer of facts. `accept` is called once per reconcile with every fact
/// it established (possibly none: metrics still want the timings), and must
/// return at once.
pub trait Sink: Send + Sync {
    /// For logs: which sink.
    fn name(&self) -> &'static str;
    fn accept(&self, app: &tether_model::Application, timings: &Timings, facts: &[Fact]);
}

/// The sinks beyond status, audit and Events, wired by the binary.
#[derive(Clone, Default)]
pub struct Sinks(pub Vec<Arc<dyn Sink>>);

impl std::fmt::Debug for Sinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|s| s.name()))
            .finish()
    }
}

impl Sinks {
    pub fn push(&mut self, sink: Arc<dyn Sink>) {
        self.0.push(sink);
    }

    /// Hand the facts to every sink. A sink that panics is logged and does
    /// not stop the others or the reconcile.
    pub fn accept(&self, app: &tether_model::Application, timings: &Timings, facts: &[Fact]) {
        for sink in &self.0 {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                sink.accept(app, timings, facts)
            }));
            if r.is_err() {
                tracing::error!(sink = sink.name(), "a sink panicked; facts dropped for it");
            }
        }
    }
}
