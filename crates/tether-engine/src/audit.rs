//! Record, durably: syncs and their per-object changes, and errors, appended to
//! the SQLite audit log in the agent's state dir. The Application's status keeps
//! the last few syncs; the audit log keeps all of them.
//!
//! A sync is appended as `in_progress` before anything is applied and finished
//! after, so an agent killed mid-sync leaves a record that the next start marks
//! `interrupted`. Writes block on disk, so they run on the blocking pool; a
//! failed write is logged and never stops a sync.

use std::path::Path;
use std::sync::Arc;

use tether_audit::{AuditLog, EventKind, NewRecord};
use tether_source::Resolved;

use crate::apply::ApplyOutcome;

/// What a sync is, for its audit record's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncKind {
    /// Git moved, the spec changed, a user asked, or a retry.
    Sync,
    /// Correcting drift.
    SelfHeal,
    /// Syncing the commit a rollback holds the app at.
    Rollback,
}

pub struct Auditor {
    log: Arc<AuditLog>,
    cluster: String,
}

impl Auditor {
    /// Open (or create) the log in `dir`; returns how many syncs a previous
    /// run left unfinished, now recorded as interrupted.
    pub fn open(dir: &Path, cluster: &str) -> Result<(Auditor, usize), tether_audit::AuditError> {
        let (log, interrupted) = AuditLog::open(dir)?;
        Ok((
            Auditor {
                log: Arc::new(log),
                cluster: cluster.to_string(),
            },
            interrupted,
        ))
    }

    /// The log itself, for other writers in the agent (notifications).
    pub fn log(&self) -> Arc<AuditLog> {
        self.log.clone()
    }

    fn record(
        &self,
        app: &str,
        kind: EventKind,
        actor: &str,
        outcome: &str,
        message: String,
    ) -> NewRecord {
        NewRecord {
            time: jiff::Timestamp::now(),
            cluster: self.cluster.clone(),
            app: app.to_string(),
            kind,
            actor: actor.to_string(),
            revision: None,
            commit_author: None,
            commit_message: None,
            object: None,
            outcome: outcome.to_string(),
            message,
            details: None,
        }
    }

    fn with_commit(mut rec: NewRecord, resolved: &Resolved) -> NewRecord {
        rec.revision = Some(resolved.commit.clone());
        rec.commit_author = Some(resolved.meta.author.clone());
        rec.commit_message = Some(resolved.meta.summary.clone());
        rec
    }

    async fn blocking<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce(&AuditLog) -> Result<T, tether_audit::AuditError> + Send + 'static,
    ) -> Option<T> {
        let log = self.log.clone();
        match tokio::task::spawn_blocking(move || f(&log)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                tracing::warn!("audit log: {what}: {e}");
                None
            }
            Err(e) => {
                tracing::warn!("audit log: {what}: {e}");
                None
            }
        }
    }

    /// A sync begins: returns the record's id, to finish it later.
    pub async fn sync_started(
        &self,
        app: &str,
        resolved: &Resolved,
        initiator: &str,
        reason: &str,
        kind: SyncKind,
        options: Option<&tether_model::SyncOptions>,
    ) -> Option<i64> {
        let kind = match kind {
            SyncKind::Sync => EventKind::Sync,
            SyncKind::SelfHeal => EventKind::SelfHeal,
            SyncKind::Rollback => EventKind::Rollback,
        };
        let mut rec = Self::with_commit(
            self.record(
                app,
                kind,
                initiator,
                tether_audit::IN_PROGRESS,
                reason.to_string(),
            ),
            resolved,
        );
        rec.details = options_details(options);
        self.blocking("recording a sync", move |log| log.append(&rec))
            .await
    }

    /// A sync ended: close its record and append one record per object it
    /// created, changed, pruned or failed on, in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn sync_finished(
        &self,
        id: Option<i64>,
        app: &str,
        resolved: &Resolved,
        initiator: &str,
        outcome: &ApplyOutcome,
        results: &[tether_model::ResourceResult],
        options: Option<&tether_model::SyncOptions>,
    ) {
        let succeeded = outcome.phase == tether_model::OperationPhase::Succeeded;
        let final_outcome = if succeeded {
            tether_audit::SUCCEEDED
        } else {
            tether_audit::FAILED
        };
        let mut changes = Vec::new();
        for r in results.iter().filter(|r| r.action != "unchanged") {
            let kind = if r.action == "pruned" || r.action == "prune" {
                EventKind::Prune
            } else {
                EventKind::ObjectChange
            };
            let mut rec = Self::with_commit(
                self.record(
                    app,
                    kind,
                    initiator,
                    // Not applied, for another app's object, is not a success either.
                    if r.status == "SyncFailed" || r.status == crate::owner::SHARED_RESOURCE {
                        tether_audit::FAILED
                    } else {
                        tether_audit::SUCCEEDED
                    },
                    if r.message.is_empty() {
                        r.action.clone()
                    } else {
                        format!("{}: {}", r.action, r.message)
                    },
                ),
                resolved,
            );
            rec.object = Some(object_label(&r.group, &r.kind, &r.namespace, &r.name));
            rec.details =
                Some(serde_json::json!({"action": r.action, "status": r.status, "wave": r.wave}));
            changes.push(rec);
        }
        let message = outcome.message.clone();
        let mut details = serde_json::json!({"objects": results.len(), "changed": changes.len()});
        if let Some(serde_json::Value::Object(o)) = options_details(options) {
            details.as_object_mut().expect("an object above").extend(o);
        }
        self.blocking("recording a sync's result", move |log| {
            if let Some(id) = id {
                log.finish(id, final_outcome, &message, Some(&details))?;
            }
            if !changes.is_empty() {
                log.append_many(&changes)?;
            }
            Ok(())
        })
        .await;
    }

    /// Live drifted from Git: what changed, and who changed it (the actor is
    /// the field manager). Dated when it was detected, so that it sorts
    /// before the self-heal that corrected it.
    pub async fn drift(
        &self,
        app: &str,
        r: &tether_model::ObjectRef,
        d: &tether_model::Drift,
        resolved: &Resolved,
        detected_at: jiff::Timestamp,
    ) {
        let mut rec = Self::with_commit(
            self.record(
                app,
                EventKind::Drift,
                &d.manager,
                tether_audit::DETECTED,
                crate::drift::describe(r, d),
            ),
            resolved,
        );
        rec.time = detected_at;
        rec.object = Some(object_label(&r.group, &r.kind, &r.namespace, &r.name));
        rec.details = serde_json::to_value(d).ok();
        self.blocking("recording drift", move |log| log.append(&rec))
            .await;
    }

    /// Apply the retention policy: old records are folded into per-day
    /// summaries and dropped.
    pub async fn retain(&self, policy: tether_audit::Retention) {
        if let Some(report) = self
            .blocking("applying retention", move |log| {
                log.apply_retention(&policy)
            })
            .await
            && report.dropped > 0
        {
            tracing::info!(
                dropped = report.dropped,
                "audit log: old records summarised and dropped"
            );
        }
    }

    /// Source, Render or Plan failed; nothing was applied.
    pub async fn error(&self, app: &str, reason: &str, message: &str) {
        let rec = self.record(
            app,
            EventKind::Error,
            "auto",
            tether_audit::FAILED,
            format!("{reason}: {message}"),
        );
        self.blocking("recording an error", move |log| log.append(&rec))
            .await;
    }
}

/// A sync's options in its audit record's details: `{"partial": true,
/// "resources": [...], "prune": true}`; none for a default sync.
fn options_details(options: Option<&tether_model::SyncOptions>) -> Option<serde_json::Value> {
    let o = options.filter(|o| !o.is_default())?;
    let mut v = serde_json::json!({"partial": o.is_partial()});
    if o.is_partial() {
        v["resources"] = serde_json::to_value(&o.resources).unwrap_or_default();
    }
    if let Some(p) = o.prune {
        v["prune"] = serde_json::Value::Bool(p);
    }
    Some(v)
}

/// How an object is named in the audit log (what `tether audit --object`
/// matches): `group/Kind namespace/name`, without the group for core kinds and
/// without the namespace for cluster-scoped ones.
pub fn object_label(group: &str, kind: &str, namespace: &str, name: &str) -> String {
    let group_kind = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{group}/{kind}")
    };
    if namespace.is_empty() {
        format!("{group_kind} {name}")
    } else {
        format!("{group_kind} {namespace}/{name}")
    }
}
