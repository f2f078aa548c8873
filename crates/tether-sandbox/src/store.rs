//! The object store: every object of every resource, one monotonic
//! resourceVersion counter, and the event log that watches replay from.
//!
//! One mutex guards the whole store, as etcd serialises writes through one
//! revision counter. Objects are shared as `Arc<Value>` so reads and watchers
//! clone a pointer under the lock and serialise outside it. Watchers follow a
//! broadcast channel; a slow watcher falls behind and is closed with 410 (as
//! the real server closes it), so no watcher can stall a writer.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::catalog::GroupResource;

/// Where an object lives within its resource: namespace ("" when cluster-scoped) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches deliver it.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub gr: GroupResource,
    pub key: ObjKey,
    pub kind: EventType,
    pub object: Arc<Value>,
    /// The object before this change (None for ADDED), so selector-filtered watches
    /// can tell an object that stopped matching.
    pub prev: Option<Arc<Value>>,
    /// `object` as JSON, serialised once by the first watcher that sends it and
    /// shared by the others, so many watchers do not starve writers of CPU.
    pub object_json: std::sync::OnceLock<Vec<u8>>,
}

impl Event {
    /// `object` serialised as JSON (computed on first use).
    pub fn object_json(&self) -> &[u8] {
        self.object_json
            .get_or_init(|| serde_json::to_vec(&*self.object).unwrap_or_default())
    }
}

/// What a write closure decides to do with the object it was shown.
pub enum WriteOp {
    /// Store this object (create or replace). Its resourceVersion is set by the store.
    Put(Value),
    /// Remove the object.
    Delete,
    /// Change nothing and return the current object.
    Keep,
}

/// The result of a committed (or dry-run) write.
pub struct Written {
    pub object: Arc<Value>,
    pub kind: Option<EventType>,
}

pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Event>>,
    log_writer: Option<std::sync::mpsc::Sender<LogMsg>>,
    /// Committed writes of RBAC objects, so the authorizer rebuilds its index
    /// only when one changed.
    rbac_writes: std::sync::atomic::AtomicU64,
}

struct Inner {
    rv: u64,
    collections: HashMap<GroupResource, BTreeMap<ObjKey, Arc<Value>>>,
    log: VecDeque<Arc<Event>>,
    log_capacity: usize,
    /// Every event at or below this revision has left the log: a watch from an
    /// older revision gets 410 Expired.
    compacted: u64,
}

/// Why a watch cannot start where it asked to.
#[derive(Debug)]
pub struct TooOld {
    pub requested: u64,
    pub oldest: u64,
}

/// Where a watch starts: the logged events to replay, the receiver for what
/// follows, and the revision the store was at.
pub type WatchStart = (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>, u64);

/// Capacity of the broadcast channel: how far a watcher may fall behind before it is closed.
const BROADCAST_CAPACITY: usize = 16 * 1024;

impl Store {
    /// An in-memory store keeping `log_capacity` events for watches to resume from.
    pub fn new(log_capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                collections: HashMap::new(),
                log: VecDeque::new(),
                log_capacity: log_capacity.max(1),
                compacted: 1,
            }),
            tx,
            log_writer: None,
            rbac_writes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A store whose state survives restarts in `dir/objects.jsonl`: an append-only
    /// log of writes, compacted to the live objects each time it is opened.
    pub fn open(dir: &Path, log_capacity: usize) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("objects.jsonl");
        let mut store = Store::new(log_capacity);
        {
            let mut inner = store.lock();
            if path.exists() {
                let file = std::io::BufReader::new(std::fs::File::open(&path)?);
                for (n, line) in file.lines().enumerate() {
                    let line = line?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    // A torn last line (the process died mid-write) is dropped, not fatal.
                    let Ok(rec) = serde_json::from_str::<Value>(&line) else {
                        tracing::warn!(line = n + 1, path = %path.display(), "skipping unreadable record");
                        continue;
                    };
                    inner.replay(&rec);
                }
            }
            inner.compacted = inner.rv;
            // Rewrite the log as one record per live object.
            let tmp = dir.join("objects.jsonl.tmp");
            let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            for (gr, objects) in &inner.collections {
                for (key, obj) in objects {
                    let rec = LogRecord::put(inner.rv, gr, key, obj.clone());
                    writeln!(out, "{}", rec.to_line())?;
                }
            }
            out.flush()?;
            std::fs::rename(&tmp, &path)?;
        }
        store.log_writer = Some(spawn_log_writer(path)?);
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written object (writes
        // are single inserts), so a poisoned lock is safe to keep using.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many RBAC objects have been written (a number that changes when one is).
    pub fn rbac_writes(&self) -> u64 {
        self.rbac_writes.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Events at or below this revision are no longer kept.
    pub fn compacted_rv(&self) -> u64 {
        self.lock().compacted
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, gr: &GroupResource, key: &ObjKey) -> Option<Arc<Value>> {
        self.lock().collections.get(gr)?.get(key).cloned()
    }

    /// Objects of a resource, in one namespace or all, in key order, with the revision they were read at.
    pub fn list(&self, gr: &GroupResource, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        let Some(objects) = inner.collections.get(gr) else {
            return (Vec::new(), inner.rv);
        };
        let items = match namespace {
            Some(ns) => objects
                .range(
                    ObjKey {
                        namespace: ns.to_string(),
                        name: String::new(),
                    }..,
                )
                .take_while(|(k, _)| k.namespace == ns)
                .map(|(_, v)| v.clone())
                .collect(),
            None => objects.values().cloned().collect(),
        };
        (items, inner.rv)
    }

    /// Every resource that holds at least one object in `namespace`.
    pub fn namespaced_keys(&self, namespace: &str) -> Vec<(GroupResource, ObjKey)> {
        let inner = self.lock();
        let mut out = Vec::new();
        for (gr, objects) in &inner.collections {
            for key in objects.keys().filter(|k| k.namespace == namespace) {
                out.push((gr.clone(), key.clone()));
            }
        }
        out
    }

    /// Every object of every resource, for controllers that sweep (garbage collection).
    pub fn all_objects(&self) -> Vec<(GroupResource, ObjKey, Arc<Value>)> {
        let inner = self.lock();
        let mut out = Vec::new();
        for (gr, objects) in &inner.collections {
            for (key, obj) in objects {
                out.push((gr.clone(), key.clone(), obj.clone()));
            }
        }
        out
    }

    /// Read-modify-write of one object under the store lock. `decide` sees the current
    /// object (if any) and says what to do. With `dry_run` nothing is committed and the
    /// object is returned as it would have been stored.
    pub fn write<E>(
        &self,
        gr: &GroupResource,
        key: &ObjKey,
        dry_run: bool,
        decide: impl FnOnce(Option<&Arc<Value>>) -> Result<WriteOp, E>,
    ) -> Result<Written, E> {
        let mut inner = self.lock();
        let current = inner.collections.get(gr).and_then(|c| c.get(key)).cloned();
        let op = decide(current.as_ref())?;
        let (kind, object) = match op {
            WriteOp::Keep => {
                let object = current.unwrap_or_else(|| Arc::new(Value::Null));
                return Ok(Written { object, kind: None });
            }
            WriteOp::Put(mut value) => {
                if dry_run {
                    return Ok(Written {
                        object: Arc::new(value),
                        kind: None,
                    });
                }
                let rv = inner.rv + 1;
                set_rv(&mut value, rv);
                let object = Arc::new(value);
                let kind = if current.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                inner
                    .collections
                    .entry(gr.clone())
                    .or_default()
                    .insert(key.clone(), object.clone());
                (kind, object)
            }
            WriteOp::Delete => {
                let Some(current) = current.clone() else {
                    return Ok(Written {
                        object: Arc::new(Value::Null),
                        kind: None,
                    });
                };
                if dry_run {
                    return Ok(Written {
                        object: current,
                        kind: None,
                    });
                }
                let rv = inner.rv + 1;
                if let Some(c) = inner.collections.get_mut(gr) {
                    c.remove(key);
                }
                // The DELETED event carries the revision of the deletion.
                let mut last = (*current).clone();
                set_rv(&mut last, rv);
                (EventType::Deleted, Arc::new(last))
            }
        };
        inner.rv += 1;
        if gr.group == "rbac.authorization.k8s.io" {
            self.rbac_writes
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        let event = Arc::new(Event {
            rv: inner.rv,
            gr: gr.clone(),
            key: key.clone(),
            kind,
            object: object.clone(),
            prev: current,
            object_json: std::sync::OnceLock::new(),
        });
        inner.push_event(event.clone());
        if let Some(w) = &self.log_writer {
            let rec = match kind {
                EventType::Deleted => LogRecord::delete(inner.rv, gr, key),
                _ => LogRecord::put(inner.rv, gr, key, object.clone()),
            };
            // The writer thread only stops when the store is dropped.
            let _ = w.send(LogMsg::Record(rec));
        }
        // Sending under the lock keeps the broadcast in revision order.
        let _ = self.tx.send(event);
        drop(inner);
        Ok(Written {
            object,
            kind: Some(kind),
        })
    }

    /// Starts a watch: the logged events after `from` that `matches` accepts, and a
    /// receiver for everything after them, taken under one lock so nothing is missed
    /// or seen twice. `from == None` means "from now".
    pub fn watch_from(&self, from: Option<u64>) -> Result<WatchStart, TooOld> {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let backlog = match from {
            None => Vec::new(),
            Some(rv) if rv >= inner.rv => Vec::new(),
            Some(rv) if rv < inner.compacted => {
                return Err(TooOld {
                    requested: rv,
                    oldest: inner.compacted + 1,
                });
            }
            Some(rv) => inner.log.iter().filter(|e| e.rv > rv).cloned().collect(),
        };
        Ok((backlog, rx, inner.rv))
    }

    /// A snapshot of one resource plus a receiver for what follows it, taken under one
    /// lock: the basis of watches that start with the current state.
    pub fn snapshot_and_subscribe(
        &self,
        gr: &GroupResource,
        namespace: Option<&str>,
    ) -> (Vec<Arc<Value>>, broadcast::Receiver<Arc<Event>>, u64) {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let items = match inner.collections.get(gr) {
            Some(c) => c
                .iter()
                .filter(|(k, _)| namespace.is_none_or(|ns| k.namespace == ns))
                .map(|(_, v)| v.clone())
                .collect(),
            None => Vec::new(),
        };
        (items, rx, inner.rv)
    }

    /// A receiver of every future event, for the built-in controllers.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Waits until every write so far is in the data directory (at once when the
    /// store is in memory only), so that a store opened next on it sees them.
    pub fn sync(&self) {
        if let Some(w) = &self.log_writer {
            let (tx, rx) = std::sync::mpsc::channel();
            if w.send(LogMsg::Sync(tx)).is_ok() {
                let _ = rx.recv_timeout(std::time::Duration::from_secs(10));
            }
        }
    }

    pub fn object_count(&self) -> usize {
        self.lock().collections.values().map(|c| c.len()).sum()
    }
}

impl Inner {
    fn push_event(&mut self, event: Arc<Event>) {
        self.log.push_back(event);
        while self.log.len() > self.log_capacity {
            if let Some(old) = self.log.pop_front() {
                self.compacted = old.rv;
            }
        }
    }

    fn replay(&mut self, rec: &Value) {
        let rv = rec.get("rv").and_then(Value::as_u64).unwrap_or(self.rv);
        let s = |k: &str| rec.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let gr = GroupResource {
            group: s("g"),
            resource: s("r"),
        };
        let key = ObjKey {
            namespace: s("ns"),
            name: s("n"),
        };
        match rec.get("o") {
            Some(obj) if !obj.is_null() => {
                self.collections
                    .entry(gr)
                    .or_default()
                    .insert(key, Arc::new(obj.clone()));
            }
            _ => {
                if let Some(c) = self.collections.get_mut(&gr) {
                    c.remove(&key);
                }
            }
        }
        self.rv = self.rv.max(rv);
    }
}

fn set_rv(value: &mut Value, rv: u64) {
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

/// One line of the persistence log.
struct LogRecord {
    rv: u64,
    gr: GroupResource,
    key: ObjKey,
    object: Option<Arc<Value>>,
}

impl LogRecord {
    fn put(rv: u64, gr: &GroupResource, key: &ObjKey, object: Arc<Value>) -> Self {
        LogRecord {
            rv,
            gr: gr.clone(),
            key: key.clone(),
            object: Some(object),
        }
    }
    fn delete(rv: u64, gr: &GroupResource, key: &ObjKey) -> Self {
        LogRecord {
            rv,
            gr: gr.clone(),
            key: key.clone(),
            object: None,
        }
    }
    fn to_line(&self) -> String {
        json!({
            "rv": self.rv,
            "g": self.gr.group,
            "r": self.gr.resource,
            "ns": self.key.namespace,
            "n": self.key.name,
            "o": self.object.as_deref().unwrap_or(&Value::Null),
        })
        .to_string()
    }
}

/// What the log writer thread is sent: a record to append, or a request to be
/// told once everything sent before it is on disk.
enum LogMsg {
    Record(LogRecord),
    Sync(std::sync::mpsc::Sender<()>),
}

/// Appends records on a thread of its own, flushing whenever it catches up, so a
/// write never waits for the disk.
fn spawn_log_writer(path: PathBuf) -> std::io::Result<std::sync::mpsc::Sender<LogMsg>> {
    let file = std::fs::OpenOptions::new().append(true).open(&path)?;
    let (tx, rx) = std::sync::mpsc::channel::<LogMsg>();
    std::thread::Builder::new()
        .name("sandbox-log".into())
        .spawn(move || {
            let mut out = std::io::BufWriter::new(file);
            while let Ok(first) = rx.recv() {
                let (mut ok, mut synced) = (true, Vec::new());
                let mut next = Some(first);
                while let Some(msg) = next.take().or_else(|| rx.try_recv().ok()) {
                    match msg {
                        LogMsg::Record(rec) => ok &= writeln!(out, "{}", rec.to_line()).is_ok(),
                        LogMsg::Sync(done) => synced.push(done),
                    }
                }
                if !ok || out.flush().is_err() {
                    tracing::error!(path = %path.display(), "cannot write the sandbox state log");
                }
                for done in synced {
                    let _ = done.send(());
                }
            }
        })?;
    Ok(tx)
}
