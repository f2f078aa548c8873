//! The list subscription, as pure logic: which changes a filter shows, as
//! rows to add or replace and keys to remove, and the counts kept current
//! without recounting every app.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::hub::Seen;
use crate::api::cache::AppKey;
use crate::api::query::{Counts, ListQuery};

/// A change to one app over a coalescing window: as it was before the
/// window's first change, and as it is after the last.
pub type Span = (Option<Arc<Seen>>, Option<Arc<Seen>>);

/// What one flush sends: rows (JSON, as rendered by the hub) and removals.
#[derive(Default, Debug)]
pub struct Batch {
    pub upserted: Vec<Arc<str>>,
    pub removed: Vec<AppKey>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.upserted.is_empty() && self.removed.is_empty()
    }
}

pub struct ListView {
    pub query: ListQuery,
    pub counts: Counts,
}

impl ListView {
    /// Fold one app's coalesced change into `batch`, keeping the counts.
    /// Nothing is added when nothing the subscriber sees changed: the app
    /// stayed out of the filter, or stayed in with the same row.
    pub fn fold(&mut self, key: &AppKey, (before, now): &Span, batch: &mut Batch) {
        let was = before.as_ref().filter(|s| self.query.matches(&s.app));
        let is = now.as_ref().filter(|s| self.query.matches(&s.app));
        match (was, is) {
            (Some(b), Some(n)) => {
                if b.row != n.row {
                    count(&mut self.counts, b, -1);
                    count(&mut self.counts, n, 1);
                    batch.upserted.push(n.row.clone());
                }
            }
            (None, Some(n)) => {
                count(&mut self.counts, n, 1);
                batch.upserted.push(n.row.clone());
            }
            (Some(b), None) => {
                count(&mut self.counts, b, -1);
                batch.removed.push(key.clone());
            }
            (None, None) => {}
        }
    }

    /// After a resume: the apps that changed while the client was away, in
    /// their state now. Whether the client had each one is unknown, so an app
    /// outside the filter is sent as removed (a client ignores removals of
    /// apps it does not have). The counts are recounted by the caller.
    pub fn replay(&self, changed: &[(AppKey, Option<Arc<Seen>>)]) -> Batch {
        let mut batch = Batch::default();
        for (key, now) in changed {
            match now.as_ref().filter(|s| self.query.matches(&s.app)) {
                Some(n) => batch.upserted.push(n.row.clone()),
                None => batch.removed.push(key.clone()),
            }
        }
        batch
    }
}

/// Add (`delta` 1) or take away (-1) one app from the counts; a status with
/// no app left disappears, as the list leaves it out.
fn count(counts: &mut Counts, seen: &Seen, delta: i64) {
    fn bump(map: &mut BTreeMap<String, usize>, key: &str, delta: i64) {
        let n = map.get(key).copied().unwrap_or(0) as i64 + delta;
        if n > 0 {
            map.insert(key.to_string(), n as usize);
        } else {
            map.remove(key);
        }
    }
    counts.total = (counts.total as i64 + delta).max(0) as usize;
    bump(&mut counts.sync, seen.sync, delta);
    bump(&mut counts.health, seen.health, delta);
}

/// The JSON of a `changes` event.
pub fn changes_json(batch: &Batch, counts: &Counts) -> String {
    let mut out = String::with_capacity(
        64 + batch.upserted.iter().map(|r| r.len() + 1).sum::<usize>()
            + batch.removed.iter().map(|k| k.len() + 3).sum::<usize>(),
    );
    out.push_str("{\"upserted\":[");
    join_raw(&mut out, &batch.upserted);
    out.push_str("],\"removed\":");
    out.push_str(&serde_json::to_string(&batch.removed).unwrap_or_else(|_| "[]".into()));
    out.push_str(",\"counts\":");
    out.push_str(&serde_json::to_string(counts).unwrap_or_else(|_| "{}".into()));
    out.push('}');
    out
}

/// Rows already rendered as JSON, comma-separated.
pub fn join_raw(out: &mut String, rows: &[Arc<str>]) {
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::stream::row;
    use tether_model::status::{ApplicationStatus, HealthStatus, SyncStatus};
    use tether_model::{Application, ApplicationSpec, HealthCode, Source, SyncCode};

    fn seen(name: &str, sync: SyncCode, health: HealthCode, team: &str) -> Arc<Seen> {
        let mut a = Application::new(
            name,
            ApplicationSpec {
                source: Source {
                    repo_url: "https://git.example.com/r.git".into(),
                    path: Some(name.into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        a.metadata.namespace = Some("tether".into());
        a.metadata.labels = Some([("team".to_string(), team.to_string())].into());
        a.status = Some(ApplicationStatus {
            sync: Some(SyncStatus {
                status: sync,
                revision: None,
            }),
            health: Some(HealthStatus::new(health, "")),
            ..Default::default()
        });
        Arc::new(row::seen(Arc::new(a)))
    }

    fn view(query: &str, apps: &[Arc<Seen>]) -> ListView {
        let query = ListQuery::parse(query).unwrap();
        let all: Vec<_> = apps.iter().map(|s| s.app.clone()).collect();
        let counts = query.run(&all).counts;
        ListView { query, counts }
    }

    fn rows(batch: &Batch) -> Vec<String> {
        batch
            .upserted
            .iter()
            .map(|r| {
                let v: serde_json::Value = serde_json::from_str(r).unwrap();
                format!(
                    "{} {}",
                    v["name"].as_str().unwrap(),
                    v["sync"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn entering_changing_and_leaving_the_filter() {
        use HealthCode::Healthy;
        use SyncCode::{OutOfSync, Synced};
        let a1 = seen("a", OutOfSync, Healthy, "web");
        let b1 = seen("b", OutOfSync, Healthy, "web");
        let mut v = view("label=team%3Dweb", &[a1.clone(), b1.clone()]);
        assert_eq!(v.counts.total, 2);
        assert_eq!(v.counts.sync["OutOfSync"], 2);

        let mut batch = Batch::default();
        // a: OutOfSync → Synced, still in: its new row, counts move.
        let a2 = seen("a", Synced, Healthy, "web");
        v.fold(
            &"tether/a".into(),
            &(Some(a1.clone()), Some(a2.clone())),
            &mut batch,
        );
        // b: relabelled out of the filter: removed.
        let b2 = seen("b", OutOfSync, Healthy, "db");
        v.fold(&"tether/b".into(), &(Some(b1), Some(b2)), &mut batch);
        // c: new, but not in the filter: nothing.
        let c = seen("c", Synced, Healthy, "db");
        v.fold(&"tether/c".into(), &(None, Some(c)), &mut batch);
        // d: new and in: added.
        let d = seen("d", Synced, Healthy, "web");
        v.fold(&"tether/d".into(), &(None, Some(d)), &mut batch);
        assert_eq!(rows(&batch), ["a Synced", "d Synced"]);
        assert_eq!(batch.removed, ["tether/b"]);
        assert_eq!(v.counts.total, 2);
        assert_eq!(v.counts.sync.get("OutOfSync"), None, "{:?}", v.counts);
        assert_eq!(v.counts.sync["Synced"], 2);
        assert_eq!(v.counts.health["Healthy"], 2);

        // The same row again (a change the row does not show): no event.
        let a3 = seen("a", Synced, Healthy, "web");
        let mut quiet = Batch::default();
        v.fold(&"tether/a".into(), &(Some(a2), Some(a3)), &mut quiet);
        assert!(quiet.is_empty());

        // Deleted.
        let mut gone = Batch::default();
        v.fold(&"tether/a".into(), &(Some(a1), None), &mut gone);
        assert_eq!(gone.removed, ["tether/a"]);
    }

    #[test]
    fn incremental_counts_agree_with_a_recount() {
        let states = [
            (SyncCode::Synced, HealthCode::Healthy),
            (SyncCode::OutOfSync, HealthCode::Progressing),
            (SyncCode::Unknown, HealthCode::Degraded),
            (SyncCode::Synced, HealthCode::Missing),
        ];
        let mut apps: Vec<Arc<Seen>> = (0..12)
            .map(|i| {
                let (s, h) = states[i % 4];
                seen(
                    &format!("app{i}"),
                    s,
                    h,
                    if i % 3 == 0 { "web" } else { "db" },
                )
            })
            .collect();
        let mut v = view("health=Healthy,Degraded,Progressing", &apps);
        for step in 0..40 {
            let i = (step * 7) % apps.len();
            let (s, h) = states[(step + i) % 4];
            let next = seen(&format!("app{i}"), s, h, "web");
            let span = (Some(apps[i].clone()), Some(next.clone()));
            v.fold(&format!("tether/app{i}"), &span, &mut Batch::default());
            apps[i] = next;
            let fresh = view("health=Healthy,Degraded,Progressing", &apps);
            assert_eq!(v.counts, fresh.counts, "after step {step}");
        }
    }

    #[test]
    fn a_replay_sends_what_matches_and_removes_the_rest() {
        use HealthCode::Healthy;
        use SyncCode::*;
        let v = view("sync=OutOfSync", &[]);
        let batch = v.replay(&[
            ("tether/a".into(), Some(seen("a", OutOfSync, Healthy, "x"))),
            ("tether/b".into(), Some(seen("b", Synced, Healthy, "x"))),
            ("tether/c".into(), None),
        ]);
        assert_eq!(rows(&batch), ["a OutOfSync"]);
        assert_eq!(batch.removed, ["tether/b", "tether/c"]);
    }

    #[test]
    fn the_changes_event_is_json() {
        let a = seen("a", SyncCode::Synced, HealthCode::Healthy, "x");
        let mut counts = Counts::default();
        count(&mut counts, &a, 1);
        let batch = Batch {
            upserted: vec![a.row.clone()],
            removed: vec!["tether/\"b\"".into()],
        };
        let v: serde_json::Value = serde_json::from_str(&changes_json(&batch, &counts)).unwrap();
        assert_eq!(v["upserted"][0]["name"], "a");
        assert_eq!(v["removed"][0], "tether/\"b\"");
        assert_eq!(v["counts"]["total"], 1);
        assert_eq!(v["counts"]["sync"]["Synced"], 1);
    }
}
