//! The `Notifier` custom resource: where to be told about apps' events, and which.
//!
//! One resource names both the target and the events it wants (Flux splits
//! these into a Provider and an Alert; Argo CD into services, triggers and
//! per-app subscription annotations). A Notifier is the unit a user reviews in
//! Git, the unit whose status says whether its deliveries work, and the unit
//! `tether app get` lists; two Notifiers may share one Secret.
//!
//! The CRD is generated from these types (`Notifier::crd()`), like
//! Application's.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::Condition;

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tether.dev",
    version = "v1alpha1",
    kind = "Notifier",
    plural = "notifiers",
    category = "tether",
    namespaced,
    status = "NotifierStatus",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct NotifierSpec {
    /// The kind of target.
    #[serde(rename = "type")]
    pub target: TargetType,
    /// For `webhook`, `slack` and `teams`: the URL to POST to (a Secret's `address` key
    /// takes precedence, and should hold it when the URL itself is the secret, as Slack's
    /// and Teams' are). For `github` and `gitlab`: the API base URL [default:
    /// https://api.github.com, https://gitlab.com/api/v4], e.g. `https://ghe.example.com/api/v3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// A Secret in the Notifier's namespace. Keys: `address` (the URL, overrides
    /// `spec.address`), `token` (GitHub/GitLab API token; for `webhook`, the HMAC-SHA256
    /// signing key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<String>,
    /// For `github`: `owner/repo`; for `gitlab`: the project's id or `group/project` path.
    /// Default: taken from the app's repoURL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The events wanted. Empty means every event the target can show (commit statuses
    /// show only sync and health events).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<NotifyEvent>,
    /// Apps by name, as globs (`*`, `?`): `shop-*`. Empty means every app.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<String>,
    /// Apps by their labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Events at least this severe [default: info, everything].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<NotifySeverity>,
    /// Deliver nothing while true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub suspend: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    /// JSON POSTed to `address`, signed with HMAC-SHA256 when the Secret has a `token`.
    #[default]
    Webhook,
    /// A Slack incoming webhook.
    Slack,
    /// A Microsoft Teams incoming webhook or Workflows webhook (Adaptive Card).
    Teams,
    /// Commit statuses on GitHub (or GitHub Enterprise).
    Github,
    /// Commit statuses on GitLab (or self-managed GitLab).
    Gitlab,
}

impl TargetType {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Webhook => "webhook",
            TargetType::Slack => "slack",
            TargetType::Teams => "teams",
            TargetType::Github => "github",
            TargetType::Gitlab => "gitlab",
        }
    }

    /// Commit-status targets only show sync and health outcomes on a commit.
    pub fn is_commit_status(self) -> bool {
        matches!(self, TargetType::Github | TargetType::Gitlab)
    }
}

/// The events a Notifier can ask for: the names of the engine's facts.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum NotifyEvent {
    SyncStarted,
    SyncSucceeded,
    SyncFailed,
    /// Source, Render or Plan failed: nothing was applied.
    ReconcileFailed,
    HealthDegraded,
    HealthRecovered,
    DriftDetected,
    SelfHealed,
    RolledBack,
    SyncBlocked,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 10] = [
        NotifyEvent::SyncStarted,
        NotifyEvent::SyncSucceeded,
        NotifyEvent::SyncFailed,
        NotifyEvent::ReconcileFailed,
        NotifyEvent::HealthDegraded,
        NotifyEvent::HealthRecovered,
        NotifyEvent::DriftDetected,
        NotifyEvent::SelfHealed,
        NotifyEvent::RolledBack,
        NotifyEvent::SyncBlocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::SyncStarted => "SyncStarted",
            NotifyEvent::SyncSucceeded => "SyncSucceeded",
            NotifyEvent::SyncFailed => "SyncFailed",
            NotifyEvent::ReconcileFailed => "ReconcileFailed",
            NotifyEvent::HealthDegraded => "HealthDegraded",
            NotifyEvent::HealthRecovered => "HealthRecovered",
            NotifyEvent::DriftDetected => "DriftDetected",
            NotifyEvent::SelfHealed => "SelfHealed",
            NotifyEvent::RolledBack => "RolledBack",
            NotifyEvent::SyncBlocked => "SyncBlocked",
        }
    }

    pub fn parse(name: &str) -> Option<NotifyEvent> {
        NotifyEvent::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// What a commit status can say: whether the commit is deployed and working.
    pub fn shows_on_commit(self) -> bool {
        matches!(
            self,
            NotifyEvent::SyncStarted
                | NotifyEvent::SyncSucceeded
                | NotifyEvent::SyncFailed
                | NotifyEvent::ReconcileFailed
                | NotifyEvent::HealthDegraded
                | NotifyEvent::HealthRecovered
        )
    }
}

#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum NotifySeverity {
    #[default]
    Info,
    Warning,
    Error,
}

/// Whether deliveries work. Written by the agent; never holds a secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotifierStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: True while deliveries succeed (or none was due yet), False with the
    /// reason when the spec is invalid or the last delivery failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<DeliveryRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<DeliveryRecord>,
    /// Counts since the agent started, by result (`delivered`, `failed`, `dropped`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u64>,
}

/// One delivery, as the status shows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    pub time: String,
    /// `namespace/name` of the Application.
    pub app: String,
    pub event: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub revision: String,
    /// Why it failed (secrets removed).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn crd_is_namespaced_with_a_status_subresource() {
        let crd = Notifier::crd();
        assert_eq!(crd.metadata.name.as_deref(), Some("notifiers.tether.dev"));
        assert_eq!(crd.spec.scope, "Namespaced");
        let v = &crd.spec.versions[0];
        assert!(v.subresources.as_ref().unwrap().status.is_some());
    }

    #[test]
    fn spec_reads_as_users_write_it() {
        let spec: NotifierSpec = serde_json::from_value(serde_json::json!({
            "type": "github",
            "secretRef": "gh",
            "repository": "acme/deploy",
            "events": ["SyncSucceeded", "SyncFailed"],
            "apps": ["shop-*"],
            "selector": {"matchLabels": {"team": "shop"}},
            "severity": "warning"
        }))
        .unwrap();
        assert_eq!(spec.target, TargetType::Github);
        assert_eq!(
            spec.events,
            [NotifyEvent::SyncSucceeded, NotifyEvent::SyncFailed]
        );
        assert_eq!(spec.severity, Some(NotifySeverity::Warning));
        let bad = serde_json::from_value::<NotifierSpec>(serde_json::json!({
            "type": "webhook", "events": ["SyncExploded"]
        }));
        assert!(bad.is_err());
    }

    #[test]
    fn every_event_name_round_trips() {
        for e in NotifyEvent::ALL {
            assert_eq!(NotifyEvent::parse(e.as_str()), Some(e));
            let json = serde_json::to_value(e).unwrap();
            assert_eq!(json, e.as_str());
        }
    }
}
