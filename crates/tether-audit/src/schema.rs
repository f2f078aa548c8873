//! The on-disk schema and its migrations, versioned by `PRAGMA user_version`.

/// Migration `i` takes the file from version `i` to `i + 1`. Append new
/// migrations; never edit a released one, because files in the field have
/// already run it.
pub(crate) const MIGRATIONS: &[&str] = &[V1];

/// The version this build writes; a file with a higher version came from a
/// newer tether and is refused rather than misread.
pub(crate) const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

const V1: &str = r#"
-- Times are integer microseconds since the Unix epoch, UTC: they compare and
-- index as numbers, which RFC 3339 text with varying fractional digits does not.
-- AUTOINCREMENT so an id is never reused after retention deletes rows: an id
-- quoted in a ticket keeps meaning that one event.
CREATE TABLE records (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    time           INTEGER NOT NULL,
    finished       INTEGER,
    cluster        TEXT NOT NULL,
    app            TEXT NOT NULL,
    kind           TEXT NOT NULL,
    actor          TEXT NOT NULL,
    revision       TEXT,
    commit_author  TEXT,
    commit_message TEXT,
    object         TEXT,
    outcome        TEXT NOT NULL,
    message        TEXT NOT NULL,
    details        TEXT
) STRICT;

CREATE INDEX records_app_time ON records (app, time);
CREATE INDEX records_time ON records (time);
-- Crash recovery looks only for in-progress records; this keeps open() from
-- scanning the whole log.
CREATE INDEX records_in_progress ON records (id) WHERE outcome = 'in_progress';

-- Append-only, enforced by the file itself and not only by this crate's API:
-- the only update allowed is closing an in-progress record (its outcome,
-- message, details and finish time); what happened, to what, by whom and when
-- never changes.
CREATE TRIGGER records_append_only BEFORE UPDATE ON records
WHEN OLD.outcome <> 'in_progress'
    OR NEW.id IS NOT OLD.id
    OR NEW.time IS NOT OLD.time
    OR NEW.cluster IS NOT OLD.cluster
    OR NEW.app IS NOT OLD.app
    OR NEW.kind IS NOT OLD.kind
    OR NEW.actor IS NOT OLD.actor
    OR NEW.revision IS NOT OLD.revision
    OR NEW.commit_author IS NOT OLD.commit_author
    OR NEW.commit_message IS NOT OLD.commit_message
    OR NEW.object IS NOT OLD.object
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only: only an in_progress record may be finished');
END;

-- What retention leaves of the records it drops. outcomes is a JSON object
-- of counts per outcome.
CREATE TABLE summary (
    cluster  TEXT NOT NULL,
    app      TEXT NOT NULL,
    day      TEXT NOT NULL,
    kind     TEXT NOT NULL,
    count    INTEGER NOT NULL,
    outcomes TEXT NOT NULL,
    first    INTEGER NOT NULL,
    last     INTEGER NOT NULL,
    PRIMARY KEY (cluster, app, day, kind)
) STRICT;
"#;
