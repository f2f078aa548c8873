//! Once per app, event and revision. Pure.
//!
//! The engine retries a failing sync: each retry establishes SyncStarted and
//! SyncFailed again for the same commit. Users want one message, then one when
//! it recovers, as Argo CD's `oncePer: revision` triggers give them.
//!
//! Events fall into families whose members replace each other: a sync ends
//! Succeeded, Failed or ReconcileFailed (or is Blocked); health is Degraded or
//! Recovered; drift on an object is healed. A fact is delivered unless the
//! last delivered fact of its family, for that app, was the same event for the
//! same revision (and object, for drift). So: failed ×10 on commit B → one;
//! succeeded on B → one; failed again on B later → one again.
//!
//! Memory is bounded: past `capacity` (app, family) entries, the oldest half
//! is forgotten, which at worst delivers one repeat for those apps.

use std::collections::HashMap;

use tether_engine::report::{Fact, FactKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Family {
    Start,
    Outcome,
    Health,
    Drift,
    RolledBack,
}

fn family(kind: &FactKind) -> Family {
    match kind {
        FactKind::SyncStarted { .. } => Family::Start,
        FactKind::SyncSucceeded { .. }
        | FactKind::SyncFailed { .. }
        | FactKind::ReconcileFailed { .. }
        | FactKind::SyncBlocked { .. } => Family::Outcome,
        FactKind::HealthDegraded { .. } | FactKind::HealthRecovered => Family::Health,
        FactKind::DriftDetected { .. } | FactKind::SelfHealed { .. } => Family::Drift,
        FactKind::RolledBack => Family::RolledBack,
    }
}

/// What makes two facts of one family "the same event".
fn identity(fact: &Fact) -> String {
    let revision = fact.commit.as_ref().map(|c| c.revision.as_str());
    let detail = match &fact.kind {
        FactKind::DriftDetected { object, .. } => object.as_str(),
        FactKind::ReconcileFailed { stage, .. } => stage.as_str(),
        _ => "",
    };
    format!(
        "{}\u{0}{}\u{0}{detail}",
        fact.kind.name(),
        revision.unwrap_or("")
    )
}

pub struct Dedup {
    last: HashMap<(String, String, Family), (String, u64)>,
    tick: u64,
    capacity: usize,
}

impl Dedup {
    pub fn new(capacity: usize) -> Dedup {
        Dedup {
            last: HashMap::new(),
            tick: 0,
            capacity: capacity.max(2),
        }
    }

    /// Whether `fact` is news, remembering it if so.
    pub fn fresh(&mut self, fact: &Fact) -> bool {
        let key = (
            fact.namespace.clone(),
            fact.name.clone(),
            family(&fact.kind),
        );
        let id = identity(fact);
        self.tick += 1;
        if let Some((last, at)) = self.last.get_mut(&key) {
            *at = self.tick;
            if *last == id {
                return false;
            }
            *last = id;
            return true;
        }
        if self.last.len() >= self.capacity {
            self.forget_oldest_half();
        }
        self.last.insert(key, (id, self.tick));
        true
    }

    /// A reconcile of `namespace/name` ended with these facts. One that got past
    /// every stage (no ReconcileFailed) ends an earlier ReconcileFailed, so the
    /// next outage of that stage, even with no commit in between, is news again.
    pub fn settle(&mut self, namespace: &str, name: &str, facts: &[Fact]) {
        if facts
            .iter()
            .any(|f| matches!(f.kind, FactKind::ReconcileFailed { .. }))
        {
            return;
        }
        let key = (namespace.to_string(), name.to_string(), Family::Outcome);
        if self
            .last
            .get(&key)
            .is_some_and(|(id, _)| id.starts_with("ReconcileFailed\u{0}"))
        {
            self.last.remove(&key);
        }
    }

    fn forget_oldest_half(&mut self) {
        let mut ticks: Vec<u64> = self.last.values().map(|(_, t)| *t).collect();
        ticks.sort_unstable();
        let cut = ticks[ticks.len() / 2];
        self.last.retain(|_, (_, t)| *t > cut);
    }

    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_engine::report::{Commit, Stage};

    fn fact(app: &str, rev: &str, kind: FactKind) -> Fact {
        Fact {
            namespace: "tether".into(),
            name: app.into(),
            commit: (!rev.is_empty()).then(|| Commit {
                revision: rev.into(),
                ..Default::default()
            }),
            time: String::new(),
            kind,
        }
    }
    fn started() -> FactKind {
        FactKind::SyncStarted {
            initiator: "auto".into(),
            reason: "r".into(),
        }
    }
    fn failed(msg: &str) -> FactKind {
        FactKind::SyncFailed {
            initiator: "auto".into(),
            message: msg.into(),
            transient: false,
        }
    }
    fn ok() -> FactKind {
        FactKind::SyncSucceeded {
            initiator: "auto".into(),
            message: String::new(),
        }
    }

    #[test]
    fn a_failing_sync_retried_ten_times_is_one_message_then_one_on_recovery() {
        let mut d = Dedup::new(100);
        assert!(d.fresh(&fact("web", "a", started())));
        assert!(d.fresh(&fact("web", "a", ok())));
        let mut sent = 0;
        for i in 0..10 {
            // Messages may differ between retries (a timestamp); still one.
            sent += d.fresh(&fact("web", "b", started())) as usize;
            sent += d.fresh(&fact("web", "b", failed(&format!("try {i}")))) as usize;
        }
        assert_eq!(sent, 2, "one SyncStarted and one SyncFailed for b");
        assert!(d.fresh(&fact("web", "c", started())));
        assert!(d.fresh(&fact("web", "c", ok())));
        assert!(
            !d.fresh(&fact("web", "c", ok())),
            "a self-heal's success again"
        );
    }

    #[test]
    fn the_same_commit_failing_again_after_it_worked_is_news() {
        let mut d = Dedup::new(100);
        assert!(d.fresh(&fact("web", "a", failed("x"))));
        assert!(d.fresh(&fact("web", "a", ok())));
        assert!(d.fresh(&fact("web", "a", failed("x"))));
    }

    #[test]
    fn apps_stages_health_and_drift_objects_are_apart() {
        let mut d = Dedup::new(100);
        assert!(d.fresh(&fact("web", "a", failed("x"))));
        assert!(d.fresh(&fact("api", "a", failed("x"))));
        let render = FactKind::ReconcileFailed {
            stage: Stage::Render,
            reason: "r".into(),
            message: "m".into(),
        };
        assert!(d.fresh(&fact("db", "a", render.clone())));
        assert!(!d.fresh(&fact("db", "a", render)));
        let degraded = FactKind::HealthDegraded {
            message: "m".into(),
        };
        assert!(d.fresh(&fact("web", "a", degraded.clone())));
        assert!(!d.fresh(&fact("web", "a", degraded.clone())));
        assert!(d.fresh(&fact("web", "a", FactKind::HealthRecovered)));
        assert!(d.fresh(&fact("web", "a", degraded)));
        let drift = |o: &str| FactKind::DriftDetected {
            object: o.into(),
            fields: vec![],
            manager: "m".into(),
        };
        assert!(d.fresh(&fact("web", "a", drift("x"))));
        assert!(d.fresh(&fact("web", "a", drift("y"))));
        assert!(!d.fresh(&fact("web", "a", drift("y"))));
        assert!(d.fresh(&fact("web", "a", FactKind::SelfHealed { objects: 1 })));
        assert!(
            d.fresh(&fact("web", "a", drift("y"))),
            "drifted again after a heal"
        );
    }

    #[test]
    fn a_second_outage_after_a_clean_reconcile_is_news() {
        let mut d = Dedup::new(100);
        let down = |_: ()| {
            fact(
                "a",
                "",
                FactKind::ReconcileFailed {
                    stage: tether_engine::report::Stage::Source,
                    reason: "SourceUnreachable".into(),
                    message: "down".into(),
                },
            )
        };
        assert!(d.fresh(&down(())));
        assert!(!d.fresh(&down(())), "the same outage, retried");
        // Still failing: nothing is forgotten.
        d.settle("tether", "a", &[down(())]);
        assert!(!d.fresh(&down(())));
        // A reconcile that got through, with nothing to sync: the outage is over.
        d.settle("tether", "a", &[]);
        assert!(d.fresh(&down(())), "the next outage is told");
    }

    #[test]
    fn memory_stays_bounded() {
        let mut d = Dedup::new(10);
        for i in 0..1000 {
            d.fresh(&fact(&format!("app{i}"), "a", ok()));
            assert!(d.len() <= 10);
        }
        // The newest is remembered.
        assert!(!d.fresh(&fact("app999", "a", ok())));
    }
}
