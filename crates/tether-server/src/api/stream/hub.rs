//! The hub between the Application cache and the streams: it numbers every
//! change, keeps a bounded ring of recent ones for `Last-Event-ID` resumes,
//! renders each app's row once (not once per client), and broadcasts the
//! change with the app as it was and as it is, so a subscriber can tell when
//! an app enters or leaves its filter without keeping per-app state.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use tether_model::Application;
use tokio::sync::broadcast;

use super::row;
use crate::api::cache::{AppCache, AppKey};

/// How many recent changes a resume can replay. Older ids get a snapshot.
/// Only keys are kept, so this costs about 50 bytes a change.
pub const RING_CAPACITY: usize = 10_000;

/// How far a subscriber may fall behind the hub before it is dropped (the
/// per-client queue). A client is at most this many changes behind; the
/// server never waits for it.
pub const CLIENT_BUFFER: usize = 4_096;

/// An app as the hub last saw it, with its row rendered once for every
/// subscriber.
#[derive(Debug)]
pub struct Seen {
    pub app: Arc<Application>,
    /// The list row (`row::StreamRow`) as JSON.
    pub row: Arc<str>,
    pub sync: &'static str,
    pub health: &'static str,
}

/// One numbered change.
#[derive(Debug)]
pub struct Change {
    pub seq: u64,
    pub key: AppKey,
    /// Before the change; `None`: the app is new.
    pub old: Option<Arc<Seen>>,
    /// After; `None`: deleted.
    pub new: Option<Arc<Seen>>,
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    /// Per process: an id from another process (a restart, another replica)
    /// cannot be resumed from, and gets a snapshot.
    epoch: String,
    state: Mutex<State>,
    changes: broadcast::Sender<Arc<Change>>,
}

#[derive(Default)]
struct State {
    seq: u64,
    ring: VecDeque<(u64, AppKey)>,
    apps: BTreeMap<AppKey, Arc<Seen>>,
}

/// What a new subscriber starts from; everything after `seq` comes on `changes`.
pub struct Attached {
    pub changes: broadcast::Receiver<Arc<Change>>,
    pub seq: u64,
    /// Every app now, sorted by key.
    pub apps: Vec<Arc<Seen>>,
    pub resume: Resume,
}

/// How a `Last-Event-ID` was taken.
#[derive(Debug, PartialEq)]
pub enum Resume {
    /// No id: start with a snapshot.
    Fresh,
    /// The apps that changed after the id (their state now, `None`: deleted).
    Replay(Vec<(AppKey, Option<Arc<Seen>>)>),
    /// An id from another process, or older than the ring: a snapshot.
    TooOld,
}

impl PartialEq for Seen {
    fn eq(&self, other: &Seen) -> bool {
        Arc::ptr_eq(&self.app, &other.app)
    }
}

impl Hub {
    /// A hub fed by `cache`'s changes, for the life of the process.
    pub fn start(cache: AppCache) -> Hub {
        let hub = Hub::new();
        // Subscribe before reading the cache, so nothing falls between; a
        // change that is in both is recognised (same `Arc`) and skipped.
        let mut rx = cache.subscribe();
        for app in cache.snapshot() {
            hub.publish(crate::api::cache::key_of(&app), Some(app));
        }
        let this = hub.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(change) => {
                        this.publish(change.key, change.app);
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(
                            "API stream: {n} Application changes arrived faster than they were numbered; comparing with the cache"
                        );
                        this.resync(&cache);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        hub
    }

    pub fn new() -> Hub {
        let (changes, _) = broadcast::channel(CLIENT_BUFFER);
        Hub {
            inner: Arc::new(Inner {
                epoch: epoch(),
                state: Mutex::new(State::default()),
                changes,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number and broadcast one change; false when it changed nothing (the
    /// same app object again).
    pub fn publish(&self, key: AppKey, app: Option<Arc<Application>>) -> bool {
        // Rendered outside the lock: only this task writes, readers never wait on JSON.
        let new = app.map(|app| Arc::new(row::seen(app)));
        let mut state = self.state();
        let old = state.apps.get(&key).cloned();
        let same = match (&old, &new) {
            (Some(o), Some(n)) => Arc::ptr_eq(&o.app, &n.app),
            (None, None) => true,
            _ => false,
        };
        if same {
            return false;
        }
        match &new {
            Some(n) => state.apps.insert(key.clone(), n.clone()),
            None => state.apps.remove(&key),
        };
        state.seq += 1;
        let seq = state.seq;
        state.ring.push_back((seq, key.clone()));
        if state.ring.len() > RING_CAPACITY {
            state.ring.pop_front();
        }
        // Sent under the lock, so a subscriber that attaches sees every
        // change either in its snapshot or on its receiver, never both or neither.
        let _ = self
            .inner
            .changes
            .send(Arc::new(Change { seq, key, old, new }));
        true
    }

    /// After missing changes from the cache: publish whatever differs.
    fn resync(&self, cache: &AppCache) {
        let now: BTreeMap<AppKey, Arc<Application>> = cache
            .snapshot()
            .into_iter()
            .map(|a| (crate::api::cache::key_of(&a), a))
            .collect();
        let known: BTreeSet<AppKey> = self.state().apps.keys().cloned().collect();
        for key in known.iter().filter(|k| !now.contains_key(*k)) {
            self.publish(key.clone(), None);
        }
        for (key, app) in now {
            self.publish(key, Some(app));
        }
    }

    /// Start a subscriber, resuming after `last_event_id` when it is one of ours.
    pub fn attach(&self, last_event_id: Option<&str>) -> Attached {
        let state = self.state();
        let changes = self.inner.changes.subscribe();
        let resume = match last_event_id {
            None => Resume::Fresh,
            Some(id) => match parse_id(id) {
                Some((epoch, after)) if epoch == self.inner.epoch => {
                    replay(&state, after).map_or(Resume::TooOld, Resume::Replay)
                }
                _ => Resume::TooOld,
            },
        };
        Attached {
            changes,
            seq: state.seq,
            apps: state.apps.values().cloned().collect(),
            resume,
        }
    }

    /// The event id for a position in this hub's sequence.
    pub fn event_id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.inner.epoch)
    }

    /// How many streams are attached (for tests and logs).
    pub fn subscribers(&self) -> usize {
        self.inner.changes.receiver_count()
    }
}

impl Default for Hub {
    fn default() -> Hub {
        Hub::new()
    }
}

/// The apps changed after `after`, once each, with their state now; `None`
/// when the ring no longer reaches back that far (or the id is from the future).
fn replay(state: &State, after: u64) -> Option<Vec<(AppKey, Option<Arc<Seen>>)>> {
    if after > state.seq {
        return None;
    }
    let oldest_kept = state.seq - state.ring.len() as u64;
    if after < oldest_kept {
        return None;
    }
    let keys: BTreeSet<&AppKey> = state
        .ring
        .iter()
        .filter(|(seq, _)| *seq > after)
        .map(|(_, key)| key)
        .collect();
    Some(
        keys.into_iter()
            .map(|k| (k.clone(), state.apps.get(k).cloned()))
            .collect(),
    )
}

/// `EPOCH-SEQ`.
pub fn parse_id(id: &str) -> Option<(&str, u64)> {
    let (epoch, seq) = id.trim().rsplit_once('-')?;
    Some((epoch, seq.parse().ok()?))
}

/// A random tag for this process's sequence.
fn epoch() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_model::{ApplicationSpec, Source};

    fn app(name: &str, path: &str) -> Arc<Application> {
        let mut a = Application::new(
            name,
            ApplicationSpec {
                source: Source {
                    repo_url: "https://git.example.com/r.git".into(),
                    path: Some(path.into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        a.metadata.namespace = Some("tether".into());
        Arc::new(a)
    }

    fn key(name: &str) -> AppKey {
        format!("tether/{name}")
    }

    #[test]
    fn changes_are_numbered_and_the_same_object_twice_is_not_a_change() {
        let hub = Hub::new();
        let mut sub = hub.attach(None);
        let a = app("a", "x");
        assert!(hub.publish(key("a"), Some(a.clone())));
        assert!(!hub.publish(key("a"), Some(a.clone())));
        assert!(hub.publish(key("a"), Some(app("a", "y"))));
        assert!(hub.publish(key("a"), None));
        assert!(!hub.publish(key("a"), None));
        let seqs: Vec<(u64, bool, bool)> = (0..3)
            .map(|_| {
                let c = sub.changes.try_recv().unwrap();
                (c.seq, c.old.is_some(), c.new.is_some())
            })
            .collect();
        assert_eq!(seqs, [(1, false, true), (2, true, true), (3, true, false)]);
        assert!(sub.changes.try_recv().is_err());
    }

    #[test]
    fn a_resume_replays_each_changed_app_once_with_its_state_now() {
        let hub = Hub::new();
        hub.publish(key("a"), Some(app("a", "1")));
        let id = hub.event_id(1);
        hub.publish(key("b"), Some(app("b", "1")));
        hub.publish(key("b"), Some(app("b", "2")));
        hub.publish(key("a"), None);
        let attached = hub.attach(Some(&id));
        let Resume::Replay(changed) = attached.resume else {
            panic!("expected a replay");
        };
        let keys: Vec<(&str, Option<String>)> = changed
            .iter()
            .map(|(k, s)| {
                (
                    k.as_str(),
                    s.as_ref().map(|s| s.app.spec.source.path.clone().unwrap()),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [("tether/a", None), ("tether/b", Some("2".to_string()))]
        );
        assert_eq!(attached.seq, 4);
        // Up to date: nothing to replay.
        let now = hub.attach(Some(&hub.event_id(4)));
        assert_eq!(now.resume, Resume::Replay(vec![]));
    }

    #[test]
    fn ids_from_elsewhere_the_future_or_beyond_the_ring_get_a_snapshot() {
        let hub = Hub::new();
        hub.publish(key("a"), Some(app("a", "1")));
        assert_eq!(hub.attach(Some("deadbeef-1")).resume, Resume::TooOld);
        assert_eq!(hub.attach(Some("garbage")).resume, Resume::TooOld);
        assert_eq!(hub.attach(Some(&hub.event_id(9))).resume, Resume::TooOld);
        assert_eq!(hub.attach(None).resume, Resume::Fresh);
        for i in 0..RING_CAPACITY {
            hub.publish(key(&format!("n{i}")), Some(app("n", "1")));
        }
        // seq is now RING_CAPACITY + 1; the ring holds 2..=RING_CAPACITY+1.
        assert_eq!(hub.attach(Some(&hub.event_id(0))).resume, Resume::TooOld);
        assert!(matches!(
            hub.attach(Some(&hub.event_id(1))).resume,
            Resume::Replay(ref v) if v.len() == RING_CAPACITY
        ));
    }

    #[test]
    fn ids_parse() {
        assert_eq!(parse_id("abc12345-17"), Some(("abc12345", 17)));
        assert_eq!(parse_id(" abc-0 "), Some(("abc", 0)));
        assert_eq!(parse_id("abc"), None);
        assert_eq!(parse_id("abc-x"), None);
    }

    #[tokio::test]
    async fn the_hub_follows_the_cache() {
        let cache = AppCache::fixed([(*app("a", "1")).clone()]);
        let hub = Hub::start(cache.clone());
        let mut sub = hub.attach(None);
        assert_eq!(sub.apps.len(), 1);
        cache.apply((*app("b", "1")).clone());
        let c = tokio::time::timeout(std::time::Duration::from_secs(5), sub.changes.recv())
            .await
            .expect("in time")
            .expect("a change");
        assert_eq!(c.key, "tether/b");
        assert!(c.old.is_none());
    }
}
