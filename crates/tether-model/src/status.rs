//! Application status: what the agent last saw and did. Authoritative; the CLI reads it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::inventory::{Inventory, ResourceCounts};

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    /// kstatus conditions: `Ready`, `Reconciling`, `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStatus>,
    /// Every object the app manages, compactly (see [`Inventory`]). Pruning
    /// reads it; when absent (written by tether before 0.2), `resources` is
    /// the inventory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Inventory>,
    /// Counts over every object: how many are fine, out of sync, unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_counts: Option<ResourceCounts>,
    /// Detail for the objects that are not Synced and Healthy (at most 100;
    /// `resourceCounts.notListed` counts the rest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_state: Option<OperationState>,
    /// The last syncs, newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the source was last checked (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciled_at: Option<String>,
    /// The last refresh request (`tether.dev/refresh` annotation value) the agent handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_refresh: Option<String>,
    /// Set while the app is held at an older commit by `tether app rollback`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackState>,
    /// The failure that stopped the last reconcile before anything was
    /// applied (Source, Render or Plan), with the file, line and column when
    /// the commit's content is at fault; cleared once a reconcile gets
    /// through Plan. The `Stalled` condition carries the same message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StatusError>,
}

/// Where a reconcile failed, for a client to point at (`status.error`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusError {
    /// `source`, `render` or `plan`.
    pub stage: String,
    /// The condition's reason: `RenderFailed`, `InvalidObject`, `SourceUnreachable`, ...
    pub reason: String,
    pub message: String,
    /// The commit that failed, when Source got that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The file at fault, relative to the repository's root, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// 1-based, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
    /// When it first failed this way (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// A rollback in force: the app stays at `revision` and does not auto-sync
/// forward until Git moves past `heldHead` or a user runs `tether app sync`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackState {
    pub revision: String,
    /// The commit Git pointed at when the rollback began.
    pub held_head: String,
    pub since: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    pub reason: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum SyncCode {
    Synced,
    OutOfSync,
    #[default]
    Unknown,
}

impl SyncCode {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncCode::Synced => "Synced",
            SyncCode::OutOfSync => "OutOfSync",
            SyncCode::Unknown => "Unknown",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    pub status: SyncCode,
    /// The commit Git points at (the one compared against).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// Health, ordered from best to worst so that `max` gives an app's health.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    JsonSchema,
)]
pub enum HealthCode {
    Healthy,
    Suspended,
    Progressing,
    #[default]
    Unknown,
    Missing,
    Degraded,
}

impl HealthCode {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthCode::Healthy => "Healthy",
            HealthCode::Suspended => "Suspended",
            HealthCode::Progressing => "Progressing",
            HealthCode::Unknown => "Unknown",
            HealthCode::Missing => "Missing",
            HealthCode::Degraded => "Degraded",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthStatus {
    pub status: HealthCode,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl HealthStatus {
    pub fn new(status: HealthCode, message: impl Into<String>) -> Self {
        HealthStatus {
            status,
            message: message.into(),
        }
    }
}

/// One managed object in the inventory.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    #[serde(default)]
    pub group: String,
    pub version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
    pub status: SyncCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStatus>,
    /// Why it is OutOfSync or failed, when it is.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Present in the cluster but no longer declared by Git (and not pruned).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requires_pruning: bool,
    /// When live drifted from Git: what changed and who changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
}

/// Drift forensics for one object: the fields that differ from Git, with
/// both values, and the field manager that last wrote the object.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// From managedFields: the most recent writer other than tether, e.g.
    /// `kubectl-scale`, `kubectl-edit`; `deleted` when the object is gone.
    pub manager: String,
    /// When that manager wrote (managedFields time), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    pub fields: Vec<DriftField>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftField {
    /// e.g. `spec.replicas`, `spec.template.spec.containers[name=web].image`.
    pub path: String,
    /// The values as JSON text; empty when absent.
    #[serde(default)]
    pub git: String,
    #[serde(default)]
    pub live: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum OperationPhase {
    #[default]
    Running,
    Succeeded,
    Failed,
    Error,
}

impl OperationPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationPhase::Running => "Running",
            OperationPhase::Succeeded => "Succeeded",
            OperationPhase::Failed => "Failed",
            OperationPhase::Error => "Error",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationState {
    pub phase: OperationPhase,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// `auto`, `user:<name>`, `webhook`, `self-heal`.
    #[serde(default)]
    pub initiator: String,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<ResourceResult>,
    /// Results left out of `results` to bound the status's size (unchanged
    /// objects first); the audit log keeps every one.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub results_omitted: u64,
    /// How many times this revision was retried after failing (what
    /// `retry.limit` counts).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retry_count: i64,
    /// How many times this revision was retried after transient cluster
    /// errors (429, 5xx, a lost connection); these never count against
    /// `retry.limit`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub transient_retries: i64,
    /// The Application's generation this sync applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_generation: Option<i64>,
    /// The options it was asked with (selected objects, prune), when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<crate::SyncOptions>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// What one sync did to one object.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceResult {
    #[serde(default)]
    pub group: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
    /// `created`, `configured`, `unchanged`, `pruned`, `prune-skipped`.
    pub action: String,
    /// `Synced`, `SyncFailed`, `Pruned`, `PruneSkipped`.
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitInfo {
    pub author: String,
    pub message: String,
    /// Author time, RFC 3339.
    pub time: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// Increases by one per sync; `tether app history` shows it.
    pub id: i64,
    pub revision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitInfo>,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The operation phase it ended in.
    pub result: OperationPhase,
    pub initiator: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// e.g. `2 created, 1 configured, 1 pruned`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    /// The objects this sync changed, one line each with the fields that
    /// changed (`configured Deployment.apps web/web: spec.replicas`); at most
    /// 20, then a count of the rest. The audit log keeps every one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    /// The same objects as `changes`, structured, for a client to link to
    /// (at most 20; the audit log keeps every one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ChangedObject>,
    /// How long the apply took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The options it was asked with: `resources` (a partial sync of only
    /// those objects) and `prune` (forced on or off), when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<crate::SyncOptions>,
}

/// One object a sync changed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangedObject {
    #[serde(default)]
    pub group: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
    /// `created`, `configured`, `pruned`, or `failed to create` (…).
    pub action: String,
    /// For an update: the fields that changed (at most 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

impl ApplicationStatus {
    /// Every object the app manages, with its version: the compact inventory,
    /// or `resources` for a status written before the compact inventory
    /// existed (so an upgraded agent still prunes what the old one applied).
    pub fn inventory_objects(&self) -> Vec<(crate::ObjectRef, String)> {
        match &self.inventory {
            Some(inv) => inv.objects(),
            None => self
                .resources
                .iter()
                .map(|r| {
                    (
                        crate::ObjectRef::new(&r.group, &r.kind, &r.namespace, &r.name),
                        r.version.clone(),
                    )
                })
                .collect(),
        }
    }

    /// Every object the app manages (see [`Self::inventory_objects`]).
    pub fn inventory_refs(&self) -> Vec<crate::ObjectRef> {
        self.inventory_objects()
            .into_iter()
            .map(|(r, _)| r)
            .collect()
    }

    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Set a condition, keeping lastTransitionTime when the status did not change.
    pub fn set_condition(&mut self, mut new: Condition, now: &str) {
        match self.conditions.iter_mut().find(|c| c.type_ == new.type_) {
            Some(old) => {
                new.last_transition_time = if old.status == new.status {
                    old.last_transition_time.clone()
                } else {
                    Some(now.to_string())
                };
                *old = new;
            }
            None => {
                new.last_transition_time = Some(now.to_string());
                self.conditions.push(new);
            }
        }
    }

    pub fn remove_condition(&mut self, type_: &str) {
        self.conditions.retain(|c| c.type_ != type_);
    }
}

impl ApplicationStatus {
    /// Escape control characters (see [`crate::text`]) in every text the
    /// status carries that a repository or a cluster can put there. One line
    /// (newlines escaped too): condition messages (the Ready message is a
    /// column of `kubectl get -o wide`, where a newline would forge a row),
    /// commit authors, initiators, summaries and change lines. Multi-line
    /// (`\n` and `\t` kept): commit messages, operation and per-object
    /// messages. So `kubectl get`, `kubectl describe` and any other reader of
    /// the status are safe. Idempotent and cheap when there is nothing to
    /// escape.
    ///
    /// The inventory's object identities (group, kind, namespace, name) are
    /// left exact: they address objects to prune, and the API server already
    /// restricts them.
    pub fn escape_control(&mut self) {
        use crate::text::{Lines, escape_in_place};
        let multi = |s: &mut String| escape_in_place(s, Lines::Keep);
        let one = |s: &mut String| escape_in_place(s, Lines::Escape);
        for c in &mut self.conditions {
            one(&mut c.message);
        }
        if let Some(h) = &mut self.health {
            multi(&mut h.message);
        }
        for r in &mut self.resources {
            multi(&mut r.message);
            if let Some(h) = &mut r.health {
                multi(&mut h.message);
            }
            if let Some(d) = &mut r.drift {
                one(&mut d.manager);
                for f in &mut d.fields {
                    one(&mut f.path);
                    multi(&mut f.git);
                    multi(&mut f.live);
                }
            }
        }
        if let Some(e) = &mut self.error {
            multi(&mut e.message);
            if let Some(f) = &mut e.file {
                one(f);
            }
        }
        if let Some(op) = &mut self.operation_state {
            multi(&mut op.message);
            one(&mut op.initiator);
            for r in &mut op.results {
                one(&mut r.namespace);
                one(&mut r.name);
                multi(&mut r.message);
            }
        }
        for h in &mut self.history {
            if let Some(c) = &mut h.commit {
                one(&mut c.author);
                multi(&mut c.message);
            }
            one(&mut h.initiator);
            multi(&mut h.message);
            one(&mut h.summary);
            for line in &mut h.changes {
                one(line);
            }
            for o in &mut h.objects {
                one(&mut o.action);
                for f in &mut o.fields {
                    one(f);
                }
            }
        }
        // `last_handled_refresh` is left as it is: it is compared with the
        // raw annotation, and an escaped copy would never match, making every
        // reconcile a new (hard) refresh.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_texts_are_escaped_but_object_identities_are_not() {
        let esc = "\x1b]0;pwned\x07";
        let mut s = ApplicationStatus {
            conditions: vec![Condition {
                type_: "Ready".into(),
                message: format!("render failed:\n{esc}"),
                ..Default::default()
            }],
            resources: vec![ResourceStatus {
                name: "web".into(),
                message: format!("x{esc}"),
                health: Some(HealthStatus::new(HealthCode::Degraded, esc)),
                ..Default::default()
            }],
            operation_state: Some(OperationState {
                message: esc.into(),
                results: vec![ResourceResult {
                    message: esc.into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            history: vec![HistoryEntry {
                commit: Some(CommitInfo {
                    author: format!("Eve{esc}\n"),
                    message: format!("subject{esc}\n\nbody\tline\r"),
                    time: String::new(),
                }),
                changes: vec![format!("created ConfigMap a\nb")],
                ..Default::default()
            }],
            ..Default::default()
        };
        s.escape_control();
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            !json.contains("\\u001b") && !json.contains("\\u0007"),
            "{json}"
        );
        assert_eq!(
            s.conditions[0].message,
            "render failed:\\u{a}\\u{1b}]0;pwned\\u{7}"
        );
        let c = s.history[0].commit.as_ref().unwrap();
        assert_eq!(c.author, "Eve\\u{1b}]0;pwned\\u{7}\\u{a}");
        assert_eq!(
            c.message,
            "subject\\u{1b}]0;pwned\\u{7}\n\nbody\tline\\u{d}"
        );
        assert_eq!(s.history[0].changes[0], "created ConfigMap a\\u{a}b");
        assert_eq!(s.resources[0].name, "web");
        // Twice is once: an unchanged status stays equal (no needless writes).
        let once = s.clone();
        s.escape_control();
        assert_eq!(s, once);
    }
}
