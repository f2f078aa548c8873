//! The `Application` custom resource: one source path deployed to one destination.
//!
//! The CRD is generated from these types (`Application::crd()`), so the schema a
//! user sees in `kubectl explain` is the one the agent deserialises.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::ApplicationStatus;

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tether.dev",
    version = "v1alpha1",
    kind = "Application",
    plural = "applications",
    shortname = "app",
    category = "tether",
    namespaced,
    status = "ApplicationStatus",
    printcolumn = r#"{"name":"Sync","type":"string","jsonPath":".status.sync.status"}"#,
    printcolumn = r#"{"name":"Health","type":"string","jsonPath":".status.health.status"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.sync.revision","priority":1}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    /// Where the manifests come from.
    pub source: Source,
    /// Where they go.
    #[serde(default)]
    pub destination: Destination,
    /// When and how tether syncs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<SyncPolicy>,
    /// Differences that do not make the app OutOfSync.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<IgnoreDifference>,
    /// A suspended app is neither refreshed nor synced; its status says so.
    #[serde(default, skip_serializing_if = "is_false")]
    pub suspend: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// Git URL: `file://`, `http(s)://`, `ssh://` or scp-style `user@host:path`.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Branch, tag or commit (full or short). Empty means the remote's HEAD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Directory inside the repository. Empty means the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Name of a Secret in the app's namespace holding credentials:
    /// `username`/`password` (or `token`) for HTTP, `sshPrivateKey` (and optional `knownHosts`) for SSH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<String>,
    /// The render tool. Detected from the files when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<Tool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectoryOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<KustomizeOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonnet: Option<JsonnetOptions>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Tool {
    Directory,
    Kustomize,
    Helm,
    Jsonnet,
}

impl Tool {
    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Directory => "Directory",
            Tool::Kustomize => "Kustomize",
            Tool::Helm => "Helm",
            Tool::Jsonnet => "Jsonnet",
        }
    }
}

/// A plain directory of YAML/JSON files.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryOptions {
    /// Also read subdirectories.
    #[serde(default, skip_serializing_if = "is_false")]
    pub recurse: bool,
    /// Glob patterns (relative to the path) a file must match to be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Glob patterns of files to skip.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KustomizeOptions {
    /// Image overrides as `kustomize edit set image` takes them: `name=newname:tag`, `name:tag`, `name@digest`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_prefix: Option<String>,
    /// Sets `namespace:` on every object, as `kustomize edit set namespace` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmOptions {
    /// Values files, relative to the chart directory, applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value_files: Vec<String>,
    /// Inline values as a YAML document, applied after the files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<String>,
    /// Defaults to the Application's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    /// Leave out the chart's `crds/` directory.
    #[serde(default, skip_serializing_if = "is_false")]
    pub skip_crds: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JsonnetOptions {
    /// Top-level arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tlas: Vec<JsonnetVar>,
    /// External variables (`std.extVar`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ext_vars: Vec<JsonnetVar>,
    /// Library search paths, relative to the repository root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub libs: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JsonnetVar {
    pub name: String,
    pub value: String,
    /// The value is Jsonnet code rather than a string.
    #[serde(default, skip_serializing_if = "is_false")]
    pub code: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    /// Namespace for objects that do not name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Cluster name; empty means the cluster the agent runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    /// Sync on every new commit. Without it, tether only reports OutOfSync until `tether app sync`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<Automated>,
    /// `CreateNamespace=true`, `ServerSideApply=force-conflicts` (or `Force=true`), `PruneLast=true`,
    /// `TakeOver=true` (take objects over from the other apps that manage them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// Report drift (status, audit log, a Warning event) but never correct it, even with
    /// `selfHeal`. New commits are still synced as `automated` says.
    #[serde(default, skip_serializing_if = "is_false")]
    pub detect_only: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Automated {
    /// Delete objects that Git no longer declares.
    #[serde(default, skip_serializing_if = "is_false")]
    pub prune: bool,
    /// Correct drift (next issue: watch-driven).
    #[serde(default, skip_serializing_if = "is_false")]
    pub self_heal: bool,
    /// Allow a render with no objects to prune everything. Off by default, so a broken
    /// commit that renders nothing cannot wipe the app.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_empty: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retry {
    /// Attempts after the first failure; negative means without limit.
    #[serde(default = "default_retry_limit")]
    pub limit: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
}

fn default_retry_limit() -> i64 {
    5
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// First wait, e.g. `5s`, `1m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<i64>,
    /// Longest wait, e.g. `3m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
}

/// Differences to ignore for objects matching group/kind (and name/namespace when set).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IgnoreDifference {
    #[serde(default)]
    pub group: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// RFC 6901 pointers, e.g. `/spec/replicas`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
    /// Fields owned by these field managers (from managedFields) are ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields_managers: Vec<String>,
}

impl ApplicationSpec {
    pub fn automated(&self) -> Option<&Automated> {
        self.sync_policy.as_ref().and_then(|p| p.automated.as_ref())
    }

    /// Whether `option` (e.g. `CreateNamespace`) is set to true in syncOptions.
    pub fn sync_option(&self, option: &str) -> bool {
        self.sync_policy.as_ref().is_some_and(|p| {
            p.sync_options.iter().any(|o| {
                let (k, v) = o.split_once('=').unwrap_or((o.as_str(), "true"));
                k.trim().eq_ignore_ascii_case(option) && !v.trim().eq_ignore_ascii_case("false")
            })
        })
    }

    /// SSA with force: `ServerSideApply=force-conflicts` or `Force=true`.
    pub fn force_conflicts(&self) -> bool {
        self.sync_policy.as_ref().is_some_and(|p| {
            p.sync_options.iter().any(|o| {
                o.eq_ignore_ascii_case("ServerSideApply=force-conflicts")
                    || o.eq_ignore_ascii_case("Force=true")
            })
        })
    }
}
