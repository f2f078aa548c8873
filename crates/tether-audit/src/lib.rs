//! tether's durable audit log: every sync and its per-object changes, drift
//! with forensics, self-heals, rollbacks, prunes and errors, each with its
//! app, cluster, time, actor, revision and commit.
//!
//! One SQLite file, `<state-dir>/audit.sqlite`, written by the agent through
//! [`AuditLog::open`] and read by the CLI through [`AuditLog::open_read_only`].
//!
//! **Append-only.** A record is never changed after it is written, with one
//! exception: a sync is appended as [`IN_PROGRESS`] when it starts and closed
//! once by [`AuditLog::finish`]. If the agent dies first, the next
//! [`AuditLog::open`] marks it [`INTERRUPTED`]. Records are deleted only by
//! [`AuditLog::apply_retention`], which first folds them into [`Summary`]
//! rows. A trigger in the file enforces the first rule against any writer.
//!
//! **Durability.** Every append and finish is its own committed transaction,
//! so once a call returns the record survives kill -9 of the agent, and, with
//! `synchronous = FULL`, loss of the node too.
//!
//! Calls block on disk I/O (an fsync per write); async callers should use
//! `spawn_blocking` or a dedicated writer thread.

mod record;
mod schema;
mod time;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

pub use record::{
    DETECTED, EventKind, FAILED, IN_PROGRESS, INTERRUPTED, NewRecord, Query, Record, Retention,
    RetentionReport, SUCCEEDED, Summary, parse_kind,
};
pub use time::parse_since;

/// The audit log's file name inside the agent's state directory.
pub const FILE_NAME: &str = "audit.sqlite";

/// How long a call waits for another process holding the write lock (the
/// agent, while the CLI reads; or a second `open`) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("audit log {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("no audit log at {} (has the agent run with this state directory?)", path.display())]
    Missing { path: PathBuf },
    #[error(
        "audit log {} has schema version {found}, newer than this tether understands ({supported}); upgrade tether",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("audit log: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("audit record details: {0}")]
    Json(#[from] serde_json::Error),
    #[error("audit record {0} does not exist")]
    NotFound(i64),
    #[error(
        "audit record {id} is already {outcome}; records are append-only and only an in_progress one can be finished"
    )]
    NotInProgress { id: i64, outcome: String },
    #[error("invalid outcome {0:?}: {1}")]
    InvalidOutcome(String, &'static str),
    #[error("audit record {id} cannot be read: {reason}")]
    Corrupt { id: i64, reason: String },
    #[error("audit log is inconsistent: {0}")]
    Inconsistent(String),
    #[error(
        "unknown event kind {0:?}; expected one of sync, object-change, drift, self-heal, rollback, prune, error"
    )]
    UnknownKind(String),
    #[error("cannot read time {text:?}: {reason}")]
    ParseTime { text: String, reason: String },
}

/// The audit log. Cheap to share behind an `Arc`: one connection, serialised
/// by a mutex, because SQLite allows one writer at a time anyway and audit
/// writes are small and infrequent next to the syncs they describe.
#[derive(Debug)]
pub struct AuditLog {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl AuditLog {
    /// Opens or creates `<dir>/audit.sqlite` for writing, creating `dir` if
    /// needed, and brings its schema up to date. Every record a previous run
    /// left in progress is marked [`INTERRUPTED`]; returns how many.
    ///
    /// Only the agent may call this: crash recovery assumes no other writer
    /// is mid-sync. Readers use [`AuditLog::open_read_only`].
    pub fn open(dir: &Path) -> Result<(AuditLog, usize), AuditError> {
        Self::open_writer(dir, true)
    }

    /// Opens (or creates) the log to append records beside the agent, as the
    /// API server does for the requests it takes: no crash recovery, so a
    /// running agent's in-progress syncs are left alone.
    pub fn open_appender(dir: &Path) -> Result<AuditLog, AuditError> {
        Self::open_writer(dir, false).map(|(log, _)| log)
    }

    fn open_writer(dir: &Path, recover_unfinished: bool) -> Result<(AuditLog, usize), AuditError> {
        std::fs::create_dir_all(dir).map_err(|source| AuditError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let opened = |source| AuditError::Open {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(opened)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(opened)?;
        // WAL: a commit is one append to the -wal file, readers (the CLI) never
        // block the agent, and a crash mid-write leaves at most a torn tail of
        // the WAL, which SQLite discards by checksum on the next open.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
            .map_err(opened)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(AuditError::Inconsistent(format!(
                "{}: journal_mode is {mode}, could not switch to wal",
                path.display()
            )));
        }
        // FULL, not NORMAL. In WAL mode NORMAL already survives kill -9 of the
        // agent (a commit sits in the OS page cache, which outlives the
        // process), but the last commits can vanish if the node itself dies
        // or loses power. FULL fsyncs the WAL on every commit so they cannot.
        // Nodes do die, and the price is one fsync per record: records come
        // one per sync or drift, far below the fsync rate of any disk.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(opened)?;
        migrate(&mut conn, &path)?;
        let recovered = if recover_unfinished {
            recover(&conn).map_err(opened)?
        } else {
            0
        };
        Ok((
            AuditLog {
                conn: Mutex::new(conn),
                path,
            },
            recovered,
        ))
    }

    /// Opens `<dir>/audit.sqlite` to read, as `tether audit` does. It never
    /// writes, so it neither migrates nor recovers, and it cannot mark a
    /// running agent's in-progress syncs as interrupted.
    pub fn open_read_only(dir: &Path) -> Result<AuditLog, AuditError> {
        let path = dir.join(FILE_NAME);
        if !path.exists() {
            return Err(AuditError::Missing { path });
        }
        let opened = |source| AuditError::Open {
            path: path.clone(),
            source,
        };
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(opened)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(opened)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(opened)?;
        if version == 0 {
            return Err(AuditError::Missing { path });
        }
        if version > schema::CURRENT_VERSION {
            return Err(AuditError::SchemaTooNew {
                path,
                found: version,
                supported: schema::CURRENT_VERSION,
            });
        }
        Ok(AuditLog {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// The file this log lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and returns its id. The record is committed (and
    /// fsynced) before this returns.
    pub fn append(&self, rec: &NewRecord) -> Result<i64, AuditError> {
        let details = encode(rec)?;
        let conn = self.lock();
        insert(&conn, rec, details)
    }

    /// Appends several records in one transaction, all or none, and returns
    /// their ids in order. Meant for a sync's per-object changes: one fsync
    /// for the lot instead of one each.
    pub fn append_many(&self, recs: &[NewRecord]) -> Result<Vec<i64>, AuditError> {
        let encoded = recs.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ids = recs
            .iter()
            .zip(encoded)
            .map(|(rec, details)| insert(&tx, rec, details))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit()?;
        Ok(ids)
    }

    /// Closes an [`IN_PROGRESS`] record with its final outcome and message.
    /// `details` replaces the stored details when given, and keeps them when
    /// `None`. Fails on any record that is not in progress: finished records
    /// are never rewritten.
    pub fn finish(
        &self,
        id: i64,
        outcome: &str,
        message: &str,
        details: Option<&serde_json::Value>,
    ) -> Result<(), AuditError> {
        if outcome.trim().is_empty() {
            return Err(AuditError::InvalidOutcome(
                outcome.to_owned(),
                "must not be empty",
            ));
        }
        if outcome == IN_PROGRESS {
            return Err(AuditError::InvalidOutcome(
                outcome.to_owned(),
                "finish needs a final outcome",
            ));
        }
        let details = details.map(serde_json::to_string).transpose()?;
        let conn = self.lock();
        let changed = conn.execute(
            "UPDATE records SET outcome = ?2, message = ?3, details = COALESCE(?4, details), finished = ?5
             WHERE id = ?1 AND outcome = 'in_progress'",
            params![id, outcome, message, details, Timestamp::now().as_microsecond()],
        )?;
        if changed == 1 {
            return Ok(());
        }
        let current: Option<String> = conn
            .query_row("SELECT outcome FROM records WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()?;
        Err(match current {
            None => AuditError::NotFound(id),
            Some(outcome) => AuditError::NotInProgress { id, outcome },
        })
    }

    /// Records matching every filter in `q`, oldest first (by time, then id).
    pub fn query(&self, q: &Query) -> Result<Vec<Record>, AuditError> {
        let mut clauses: Vec<String> = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        if let Some(app) = &q.app {
            clauses.push(app_clause(&mut values, app));
        }
        if !q.apps.is_empty() {
            let any: Vec<String> = q.apps.iter().map(|a| app_clause(&mut values, a)).collect();
            clauses.push(format!("({})", any.join(" OR ")));
        }
        if let Some((time, id)) = q.before {
            let t = bind(&mut values, Value::Integer(time.as_microsecond()));
            let i = bind(&mut values, Value::Integer(id));
            clauses.push(format!("(time < {t} OR (time = {t} AND id < {i}))"));
        }
        if let Some(object) = &q.object {
            for term in object.split_whitespace() {
                let p = bind(&mut values, Value::Text(term.to_ascii_lowercase()));
                clauses.push(format!("instr(lower(object), {p}) > 0"));
            }
        }
        if let Some(actor) = &q.actor {
            match actor.strip_suffix('*') {
                Some(prefix) => {
                    let p = bind(&mut values, Value::Text(prefix.to_owned()));
                    clauses.push(format!("substr(actor, 1, length({p})) = {p}"));
                }
                None => {
                    let p = bind(&mut values, Value::Text(actor.clone()));
                    clauses.push(format!("actor = {p}"));
                }
            }
        }
        if !q.kinds.is_empty() {
            let ps: Vec<String> = q
                .kinds
                .iter()
                .map(|k| bind(&mut values, Value::Text(k.as_str().to_owned())))
                .collect();
            clauses.push(format!("kind IN ({})", ps.join(", ")));
        }
        if let Some(since) = q.since {
            let p = bind(&mut values, Value::Integer(since.as_microsecond()));
            clauses.push(format!("time >= {p}"));
        }
        if let Some(until) = q.until {
            let p = bind(&mut values, Value::Integer(until.as_microsecond()));
            clauses.push(format!("time < {p}"));
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = match q.limit {
            Some(limit) if q.newest_first => {
                let p = bind(
                    &mut values,
                    Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)),
                );
                format!(
                    "SELECT {COLUMNS} FROM records {filter} ORDER BY time DESC, id DESC LIMIT {p}"
                )
            }
            None if q.newest_first => {
                format!("SELECT {COLUMNS} FROM records {filter} ORDER BY time DESC, id DESC")
            }
            Some(limit) => {
                let p = bind(
                    &mut values,
                    Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)),
                );
                format!(
                    "SELECT * FROM (SELECT {COLUMNS} FROM records {filter}
                         ORDER BY time DESC, id DESC LIMIT {p})
                     ORDER BY time, id"
                )
            }
            None => format!("SELECT {COLUMNS} FROM records {filter} ORDER BY time, id"),
        };
        let conn = self.lock();
        let mut stmt = conn.prepare(&sql)?;
        let raw = stmt
            .query_map(rusqlite::params_from_iter(values), RawRecord::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        drop(stmt);
        drop(conn);
        raw.into_iter().map(RawRecord::into_record).collect()
    }

    /// Applies `policy` now; see [`AuditLog::apply_retention_at`].
    pub fn apply_retention(&self, policy: &Retention) -> Result<RetentionReport, AuditError> {
        self.apply_retention_at(policy, Timestamp::now())
    }

    /// Drops records older than `now - max_age`, and all but the newest
    /// `max_records` (by time, then id). In-progress records are never
    /// dropped: their sync is still running and will finish them.
    ///
    /// Nothing disappears without trace: in the same transaction as the
    /// delete, every dropped record is counted into its (cluster, app, UTC
    /// day, kind) [`Summary`] row, with counts per outcome.
    pub fn apply_retention_at(
        &self,
        policy: &Retention,
        now: Timestamp,
    ) -> Result<RetentionReport, AuditError> {
        let cutoff = match policy.max_age {
            None => i64::MIN,
            Some(age) => SignedDuration::try_from(age)
                .ok()
                .and_then(|age| now.checked_sub(age).ok())
                .map_or(i64::MIN, Timestamp::as_microsecond),
        };
        // LIMIT -1 is SQLite for "no limit".
        let max_records = policy
            .max_records
            .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        // One predicate, used by the fold and the delete inside one write
        // transaction, so exactly the rows counted are the rows deleted.
        const DOOMED: &str = "outcome <> 'in_progress' AND (time < ?1 OR id NOT IN
            (SELECT id FROM records ORDER BY time DESC, id DESC LIMIT ?2))";

        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut groups: BTreeMap<(String, String, String, String), SummaryAcc> = BTreeMap::new();
        {
            let mut stmt = tx.prepare(&format!(
                "SELECT cluster, app, strftime('%Y-%m-%d', time / 1000000, 'unixepoch'), kind,
                        outcome, COUNT(*), MIN(time), MAX(time)
                 FROM records WHERE {DOOMED}
                 GROUP BY 1, 2, 3, 4, 5"
            ))?;
            let mut rows = stmt.query(params![cutoff, max_records])?;
            while let Some(row) = rows.next()? {
                let key = (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
                let outcome: String = row.get(4)?;
                let count: i64 = row.get(5)?;
                let (first, last): (i64, i64) = (row.get(6)?, row.get(7)?);
                groups
                    .entry(key)
                    .or_default()
                    .add(&outcome, count, first, last);
            }
        }
        let mut folded: i64 = 0;
        for ((cluster, app, day, kind), acc) in &groups {
            let existing: Option<(i64, String, i64, i64)> = tx
                .query_row(
                    "SELECT count, outcomes, first, last FROM summary
                     WHERE cluster = ?1 AND app = ?2 AND day = ?3 AND kind = ?4",
                    params![cluster, app, day, kind],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )
                .optional()?;
            let mut merged = acc.clone();
            if let Some((count, outcomes, first, last)) = existing {
                let outcomes: BTreeMap<String, i64> = serde_json::from_str(&outcomes)?;
                merged.count += count;
                for (outcome, n) in outcomes {
                    *merged.outcomes.entry(outcome).or_default() += n;
                }
                merged.first = merged.first.min(first);
                merged.last = merged.last.max(last);
            }
            tx.execute(
                "INSERT INTO summary (cluster, app, day, kind, count, outcomes, first, last)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (cluster, app, day, kind) DO UPDATE SET
                     count = excluded.count, outcomes = excluded.outcomes,
                     first = excluded.first, last = excluded.last",
                params![
                    cluster,
                    app,
                    day,
                    kind,
                    merged.count,
                    serde_json::to_string(&merged.outcomes)?,
                    merged.first,
                    merged.last,
                ],
            )?;
            folded += acc.count;
        }
        let dropped = tx.execute(
            &format!("DELETE FROM records WHERE {DOOMED}"),
            params![cutoff, max_records],
        )?;
        if i64::try_from(dropped).ok() != Some(folded) {
            // Cannot happen inside one write transaction; if it ever does,
            // roll back rather than delete records that were not summarised.
            return Err(AuditError::Inconsistent(format!(
                "retention would delete {dropped} records but summarised {folded}; nothing deleted"
            )));
        }
        let kept: i64 = tx.query_row("SELECT COUNT(*) FROM records", [], |row| row.get(0))?;
        tx.commit()?;
        Ok(RetentionReport {
            dropped,
            summaries_touched: groups.len(),
            kept: usize::try_from(kept).unwrap_or(usize::MAX),
        })
    }

    /// The summary rows retention has written, for one app (same matching as
    /// [`Query::app`]) or all, ordered by day, cluster, app and kind.
    pub fn summaries(&self, app: Option<&str>) -> Result<Vec<Summary>, AuditError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT cluster, app, day, kind, count, outcomes, first, last FROM summary
             WHERE ?1 IS NULL OR app = ?1
                OR (instr(?1, '/') = 0 AND substr(app, -length(?1) - 1) = '/' || ?1)
             ORDER BY day, cluster, app, kind",
        )?;
        let rows = stmt
            .query_map([app], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, i64>(6)?,
                    row.get::<_, i64>(7)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        drop(stmt);
        drop(conn);
        rows.into_iter()
            .map(|(cluster, app, day, kind, count, outcomes, first, last)| {
                let corrupt = AuditError::Inconsistent;
                Ok(Summary {
                    kind: parse_kind(&kind)
                        .map_err(|e| corrupt(format!("summary {app} {day}: {e}")))?,
                    count: u64::try_from(count).unwrap_or(0),
                    outcomes: serde_json::from_str(&outcomes)?,
                    first: micros(first)
                        .map_err(|e| corrupt(format!("summary {app} {day}: {e}")))?,
                    last: micros(last).map_err(|e| corrupt(format!("summary {app} {day}: {e}")))?,
                    cluster,
                    app,
                    day,
                })
            })
            .collect()
    }

    /// Runs SQLite's `PRAGMA integrity_check`; returns the problems found,
    /// empty when the file is sound.
    pub fn integrity_check(&self) -> Result<Vec<String>, AuditError> {
        let conn = self.lock();
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let lines = stmt
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(lines.into_iter().filter(|line| line != "ok").collect())
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave the connection
        // half-written: SQLite rolls back any open transaction when the
        // statement or transaction guard is dropped during unwinding.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs every migration above the file's `user_version`, each in its own
/// write transaction that also bumps the version, so a crash mid-migration
/// leaves the file at the previous version and the next open retries.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), AuditError> {
    let opened = |source| AuditError::Open {
        path: path.to_owned(),
        source,
    };
    loop {
        // IMMEDIATE takes the write lock before reading the version, so two
        // processes opening a new file at once cannot both run migration 1.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(opened)?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(opened)?;
        if version > schema::CURRENT_VERSION {
            return Err(AuditError::SchemaTooNew {
                path: path.to_owned(),
                found: version,
                supported: schema::CURRENT_VERSION,
            });
        }
        if version == schema::CURRENT_VERSION {
            return Ok(());
        }
        let index = usize::try_from(version).map_err(|_| {
            AuditError::Inconsistent(format!(
                "{}: negative schema version {version}",
                path.display()
            ))
        })?;
        tx.execute_batch(schema::MIGRATIONS[index])
            .map_err(opened)?;
        tx.pragma_update(None, "user_version", version + 1)
            .map_err(opened)?;
        tx.commit().map_err(opened)?;
    }
}

/// Checks a record before it is written and renders its details as JSON text.
fn encode(rec: &NewRecord) -> Result<Option<String>, AuditError> {
    if rec.outcome.trim().is_empty() {
        return Err(AuditError::InvalidOutcome(
            rec.outcome.clone(),
            "must not be empty",
        ));
    }
    Ok(rec
        .details
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?)
}

fn insert(conn: &Connection, rec: &NewRecord, details: Option<String>) -> Result<i64, AuditError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO records (time, cluster, app, kind, actor, revision, commit_author,
             commit_message, object, outcome, message, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    stmt.execute(params![
        rec.time.as_microsecond(),
        rec.cluster,
        rec.app,
        rec.kind.as_str(),
        rec.actor,
        rec.revision,
        rec.commit_author,
        rec.commit_message,
        rec.object,
        rec.outcome,
        rec.message,
        details,
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Marks every record left in progress by a previous run as interrupted.
fn recover(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE records SET outcome = 'interrupted',
             message = CASE WHEN message = '' THEN ?1 ELSE message || ' (' || ?1 || ')' END
         WHERE outcome = 'in_progress'",
        [format!(
            "interrupted: the agent stopped before this finished; found at restart {}",
            Timestamp::now()
        )],
    )
}

fn micros(value: i64) -> Result<Timestamp, String> {
    Timestamp::from_microsecond(value).map_err(|e| e.to_string())
}

/// Adds a parameter and returns its placeholder.
/// `namespace/name` matches exactly; a bare name matches `<any namespace>/<name>`,
/// compared with substr rather than LIKE so `_` and `%` in names stay literal.
fn app_clause(values: &mut Vec<Value>, app: &str) -> String {
    let p = bind(values, Value::Text(app.to_owned()));
    if app.contains('/') {
        format!("app = {p}")
    } else {
        format!("(app = {p} OR substr(app, -length({p}) - 1) = '/' || {p})")
    }
}

fn bind(values: &mut Vec<Value>, value: Value) -> String {
    values.push(value);
    format!("?{}", values.len())
}

const COLUMNS: &str = "id, time, finished, cluster, app, kind, actor, revision, commit_author, \
                       commit_message, object, outcome, message, details";

/// A row as SQLite holds it; converted to a [`Record`] outside the
/// row callback so that bad stored values become [`AuditError::Corrupt`]
/// naming the record, not an opaque conversion error.
struct RawRecord {
    id: i64,
    time: i64,
    finished: Option<i64>,
    cluster: String,
    app: String,
    kind: String,
    actor: String,
    revision: Option<String>,
    commit_author: Option<String>,
    commit_message: Option<String>,
    object: Option<String>,
    outcome: String,
    message: String,
    details: Option<String>,
}

impl RawRecord {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRecord> {
        Ok(RawRecord {
            id: row.get(0)?,
            time: row.get(1)?,
            finished: row.get(2)?,
            cluster: row.get(3)?,
            app: row.get(4)?,
            kind: row.get(5)?,
            actor: row.get(6)?,
            revision: row.get(7)?,
            commit_author: row.get(8)?,
            commit_message: row.get(9)?,
            object: row.get(10)?,
            outcome: row.get(11)?,
            message: row.get(12)?,
            details: row.get(13)?,
        })
    }

    fn into_record(self) -> Result<Record, AuditError> {
        let id = self.id;
        let corrupt = |reason: String| AuditError::Corrupt { id, reason };
        Ok(Record {
            id,
            time: micros(self.time).map_err(corrupt)?,
            finished: self.finished.map(micros).transpose().map_err(corrupt)?,
            kind: parse_kind(&self.kind).map_err(|e| corrupt(e.to_string()))?,
            details: self
                .details
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| corrupt(format!("details: {e}")))?,
            cluster: self.cluster,
            app: self.app,
            actor: self.actor,
            revision: self.revision,
            commit_author: self.commit_author,
            commit_message: self.commit_message,
            object: self.object,
            outcome: self.outcome,
            message: self.message,
        })
    }
}

/// Counts for one summary row while retention gathers them.
#[derive(Debug, Clone)]
struct SummaryAcc {
    count: i64,
    outcomes: BTreeMap<String, i64>,
    first: i64,
    last: i64,
}

impl Default for SummaryAcc {
    fn default() -> Self {
        SummaryAcc {
            count: 0,
            outcomes: BTreeMap::new(),
            first: i64::MAX,
            last: i64::MIN,
        }
    }
}

impl SummaryAcc {
    fn add(&mut self, outcome: &str, count: i64, first: i64, last: i64) {
        self.count += count;
        *self.outcomes.entry(outcome.to_owned()).or_default() += count;
        self.first = self.first.min(first);
        self.last = self.last.max(last);
    }
}
