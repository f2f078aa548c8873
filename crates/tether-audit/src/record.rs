//! The shapes of audit records: what callers append, what queries return.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::AuditError;

/// Outcome of a sync that has started and not yet finished. Only records with
/// this outcome may be changed, and only by [`crate::AuditLog::finish`].
pub const IN_PROGRESS: &str = "in_progress";
/// Outcome given at open to every record a previous run left [`IN_PROGRESS`]:
/// the agent died (crash, kill -9, node loss) before it could finish it.
pub const INTERRUPTED: &str = "interrupted";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";
/// Outcome of a drift record: seen, not (yet) acted on.
pub const DETECTED: &str = "detected";

/// What happened. Stored as its kebab-case text so the file stays readable
/// with the `sqlite3` shell and new kinds need no migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// One sync of an app to a revision.
    Sync,
    /// One object created, updated or pruned within a sync.
    ObjectChange,
    /// A live object stopped matching Git; details carry the forensics.
    Drift,
    SelfHeal,
    Rollback,
    Prune,
    Error,
    /// One notification delivered to a Notifier's target, or given up on.
    Notification,
    /// A request made through the HTTP API (sync, refresh, rollback,
    /// delete); the actor is `token:NAME`.
    ApiRequest,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::Sync,
        EventKind::ObjectChange,
        EventKind::Drift,
        EventKind::SelfHeal,
        EventKind::Rollback,
        EventKind::Prune,
        EventKind::Error,
        EventKind::Notification,
        EventKind::ApiRequest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Sync => "sync",
            EventKind::ObjectChange => "object-change",
            EventKind::Drift => "drift",
            EventKind::SelfHeal => "self-heal",
            EventKind::Rollback => "rollback",
            EventKind::Prune => "prune",
            EventKind::Error => "error",
            EventKind::Notification => "notification",
            EventKind::ApiRequest => "api-request",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = AuditError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_kind(s)
    }
}

/// Parses a kind as a user types it on the command line: case does not matter,
/// and `self-heal`, `self_heal` and `selfheal` are all accepted.
pub fn parse_kind(text: &str) -> Result<EventKind, AuditError> {
    let folded: String = text
        .trim()
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    EventKind::ALL
        .into_iter()
        .find(|kind| kind.as_str().replace('-', "") == folded)
        .ok_or_else(|| AuditError::UnknownKind(text.to_owned()))
}

/// One event to append. `time` is when it happened, which the caller knows
/// better than the log (a drift is timestamped when the watch saw it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRecord {
    pub time: Timestamp,
    pub cluster: String,
    /// `namespace/name` of the Application.
    pub app: String,
    pub kind: EventKind,
    /// `auto`, `user:<name>`, `webhook`, `self-heal`, or for drift the field
    /// manager that made the change (`kubectl-scale`).
    pub actor: String,
    pub revision: Option<String>,
    pub commit_author: Option<String>,
    pub commit_message: Option<String>,
    /// `group/Kind namespace/name`, e.g. `apps/Deployment demo/web`.
    pub object: Option<String>,
    /// [`SUCCEEDED`], [`FAILED`], [`IN_PROGRESS`], [`DETECTED`], ...
    pub outcome: String,
    pub message: String,
    /// Free-form JSON: per-object changes, drift forensics (fields with old
    /// and new values, the manager), durations.
    pub details: Option<serde_json::Value>,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: i64,
    pub time: Timestamp,
    /// When [`crate::AuditLog::finish`] closed an in-progress record; `None`
    /// for records appended already finished, and for interrupted ones.
    pub finished: Option<Timestamp>,
    pub cluster: String,
    pub app: String,
    pub kind: EventKind,
    pub actor: String,
    pub revision: Option<String>,
    pub commit_author: Option<String>,
    pub commit_message: Option<String>,
    pub object: Option<String>,
    pub outcome: String,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

/// Filters for [`crate::AuditLog::query`]; every filter that is set must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// `namespace/name` matches exactly; a bare `name` matches that name in
    /// any namespace, so `--app web` works as a user expects.
    pub app: Option<String>,
    /// Whitespace-separated terms, each a case-insensitive substring of the
    /// object: `deployment web` matches `apps/Deployment demo/web`.
    pub object: Option<String>,
    /// Exact actor, or a prefix when it ends in `*` (`kubectl*`).
    pub actor: Option<String>,
    /// Any of these kinds; empty means all.
    pub kinds: Vec<EventKind>,
    /// Inclusive.
    pub since: Option<Timestamp>,
    /// Exclusive, so consecutive windows never count a record twice.
    pub until: Option<Timestamp>,
    /// Keep only the newest `limit` matches (still returned oldest first,
    /// unless `newest_first`), as `tail` does: the recent past is what a user
    /// asks about.
    pub limit: Option<usize>,
    /// Any of these apps (each matched as `app` is); empty: no filter. Both
    /// `app` and `apps` must match when both are set.
    pub apps: Vec<String>,
    /// Only records before this one, in newest-first order: older than its
    /// time, or as old with a smaller id (a page's cursor).
    pub before: Option<(Timestamp, i64)>,
    /// Return the newest first (pages of the API's audit log).
    pub newest_first: bool,
}

/// Bounds on the log's size. Records older than `max_age`, and beyond the
/// newest `max_records`, are folded into [`Summary`] rows and deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    pub max_age: Option<Duration>,
    pub max_records: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    /// Records deleted.
    pub dropped: usize,
    /// Summary rows created or added to.
    pub summaries_touched: usize,
    /// Records left.
    pub kept: usize,
}

/// What is left of the records retention dropped: counts per cluster, app,
/// UTC day and kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub cluster: String,
    pub app: String,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub kind: EventKind,
    pub count: u64,
    /// Count per outcome, e.g. `{"failed": 1, "succeeded": 3}`.
    pub outcomes: BTreeMap<String, u64>,
    pub first: Timestamp,
    pub last: Timestamp,
}
