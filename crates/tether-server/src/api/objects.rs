//! An app's objects: the resource tree (what it manages, with the children
//! the cluster made for them), desired against live with the diff (rendered by
//! the agent's own pipeline, as `tether app diff`), and a managed Pod's logs.
//! Secret values never leave here.

use std::collections::{BTreeSet, HashMap};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tether_model::{Application, ObjectRef};
use tether_plan::plan::{Action, Step};
use utoipa::{IntoParams, ToSchema};

use super::apps::find;
use super::error::{ApiError, ErrorBody};
use super::params::{AppPath, Params};
use super::{ApiState, Caller, Verb};

/// An object a node hangs under.
#[derive(Serialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParentRef {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Serialize, Clone, Debug, ToSchema)]
pub struct NodeHealth {
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or `Unknown`.
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// One object of the tree.
#[derive(Serialize, Clone, Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TreeNode {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// True for the objects Git declares (the inventory); false for what
    /// the cluster made for them (ReplicaSets, Pods, Jobs).
    pub managed: bool,
    /// Owners, as the cluster's ownerReferences say.
    pub parent_refs: Vec<ParentRef>,
    /// For managed objects: `Synced` or `OutOfSync`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<NodeHealth>,
    /// Drift from Git now: `{manager, time, fields: [{path, git, live}],
    /// detectedAt, healed: false}`: who changed which fields (the field
    /// manager, when it wrote), from what to what, and when tether saw it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub drift: Option<Value>,
    /// The last drift a sync put back (self-heal, or a sync from Git), from
    /// the audit log, when the object is not drifted now: the same fields as
    /// `drift` with `healed: true`, `healedAt` and `healedBy` (`self-heal`,
    /// `auto`, `token:NAME`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub healed_drift: Option<Value>,
    /// Present in Git no longer; kept until pruned.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub requires_pruning: bool,
    /// Not found in the cluster.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
}

#[derive(Serialize, Clone, Debug, ToSchema)]
pub struct ResourceTree {
    /// Managed objects first (inventory order), then their children.
    pub nodes: Vec<TreeNode>,
}

fn health_of_status(h: &tether_model::HealthStatus) -> NodeHealth {
    NodeHealth {
        status: h.status.as_str().to_string(),
        message: h.message.clone(),
    }
}

/// The health of a child the cluster made (kept simple: the app's own health
/// rules judge the managed objects).
fn child_health(kind: &str, obj: &Value) -> NodeHealth {
    let status = &obj["status"];
    let (s, message) = match kind {
        "Pod" => match status["phase"].as_str().unwrap_or("") {
            "Running" | "Succeeded" => ("Healthy", String::new()),
            "Pending" => ("Progressing", "Pending".to_string()),
            "Failed" => (
                "Degraded",
                status["message"].as_str().unwrap_or("Failed").to_string(),
            ),
            _ => ("Unknown", String::new()),
        },
        "ReplicaSet" => {
            let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = status["readyReplicas"].as_i64().unwrap_or(0);
            if ready >= want {
                ("Healthy", String::new())
            } else {
                ("Progressing", format!("{ready} of {want} ready"))
            }
        }
        "Job" => {
            if status["succeeded"].as_i64().unwrap_or(0) > 0 {
                ("Healthy", String::new())
            } else if status["failed"].as_i64().unwrap_or(0) > 0 {
                ("Degraded", "failed".to_string())
            } else {
                ("Progressing", String::new())
            }
        }
        _ => ("Unknown", String::new()),
    };
    NodeHealth {
        status: s.to_string(),
        message,
    }
}

/// The kinds whose children the tree looks for.
const WORKLOADS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
];

/// Build the tree: the inventory, each object's live state, and the
/// ReplicaSets, Pods and Jobs owned (transitively) by them.
pub async fn build_tree(state: &ApiState, app: &Application) -> Result<ResourceTree, ApiError> {
    let status = app.status.clone().unwrap_or_default();
    let detail: HashMap<(String, String, String, String), &tether_model::ResourceStatus> = status
        .resources
        .iter()
        .map(|r| {
            (
                (
                    r.group.clone(),
                    r.kind.clone(),
                    r.namespace.clone(),
                    r.name.clone(),
                ),
                r,
            )
        })
        .collect();
    let app_health = status.health.clone();
    let stories = drift_stories_of(state, app).await;
    let label = |r: &ObjectRef| {
        tether_engine::audit::object_label(&r.group, &r.kind, &r.namespace, &r.name)
    };
    let mut nodes = Vec::new();
    // uid → index, to hang children under their owners.
    let mut by_uid: HashMap<String, ParentRef> = HashMap::new();
    let mut workload_namespaces = BTreeSet::new();
    let objects = status.inventory_objects();
    let cluster = state.ctx.cluster.clone();
    let fetched = futures_util::stream::iter(objects.into_iter().map(|(r, version)| {
        let cluster = cluster.clone();
        async move {
            let live = cluster.get(&r).await;
            (r, version, live)
        }
    }))
    .buffered(8)
    .collect::<Vec<_>>()
    .await;
    for (r, version, live) in fetched {
        let live = match live {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("API tree: reading {r:?}: {e}");
                None
            }
        };
        let d = detail.get(&(
            r.group.clone(),
            r.kind.clone(),
            r.namespace.clone(),
            r.name.clone(),
        ));
        let uid = live
            .as_ref()
            .and_then(|l| l["metadata"]["uid"].as_str())
            .unwrap_or("")
            .to_string();
        if !uid.is_empty() {
            by_uid.insert(
                uid.clone(),
                ParentRef {
                    group: r.group.clone(),
                    kind: r.kind.clone(),
                    namespace: r.namespace.clone(),
                    name: r.name.clone(),
                },
            );
        }
        if WORKLOADS.contains(&r.kind.as_str()) && live.is_some() {
            workload_namespaces.insert(r.namespace.clone());
        }
        nodes.push(TreeNode {
            group: r.group.clone(),
            version,
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            uid,
            managed: true,
            parent_refs: Vec::new(),
            sync: Some(
                d.map(|d| d.status.as_str())
                    .unwrap_or(if app_health.is_some() {
                        "Synced"
                    } else {
                        "Unknown"
                    })
                    .to_string(),
            ),
            health: d
                .and_then(|d| d.health.as_ref().map(health_of_status))
                .or_else(|| {
                    Some(NodeHealth {
                        status: if live.is_some() { "Healthy" } else { "Missing" }.to_string(),
                        message: String::new(),
                    })
                }),
            drift: d.and_then(|d| d.drift.as_ref()).map(|x| {
                let mut v = serde_json::to_value(x).unwrap_or_default();
                let story = stories.get(&label(&r));
                v["healed"] = Value::Bool(false);
                if let Some(at) = story.map(|s| s.detected_at.clone()) {
                    v["detectedAt"] = Value::String(at);
                }
                v
            }),
            healed_drift: if d.and_then(|d| d.drift.as_ref()).is_some() {
                None
            } else {
                stories
                    .get(&label(&r))
                    .filter(|s| s.healed_at.is_some())
                    .map(DriftStory::to_value)
            },
            requires_pruning: d.is_some_and(|d| d.requires_pruning),
            missing: live.is_none(),
        });
    }
    // Children: ReplicaSets, Jobs, Pods in the namespaces that hold workloads,
    // attached by ownerReferences; owners first so grandchildren find them.
    let client = cluster.client().clone();
    for ns in workload_namespaces {
        let mut found: Vec<(String, &'static str, &'static str, Value)> = Vec::new();
        let lp = ListParams::default();
        let rs = Api::<ReplicaSet>::namespaced(client.clone(), &ns)
            .list(&lp)
            .await;
        let jobs = Api::<Job>::namespaced(client.clone(), &ns).list(&lp).await;
        let pods = Api::<Pod>::namespaced(client.clone(), &ns).list(&lp).await;
        let to_values = |items: Vec<Value>, group: &'static str, kind: &'static str| {
            items
                .into_iter()
                .map(move |v| (String::new(), group, kind, v))
        };
        let values = |r: Result<Vec<Value>, kube::Error>, what: &str| match r {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("API tree: listing {what} in {ns}: {e}");
                Vec::new()
            }
        };
        found.extend(to_values(
            values(
                rs.map(|l| {
                    l.items
                        .iter()
                        .map(|o| serde_json::to_value(o).unwrap_or_default())
                        .collect()
                }),
                "ReplicaSets",
            ),
            "apps",
            "ReplicaSet",
        ));
        found.extend(to_values(
            values(
                jobs.map(|l| {
                    l.items
                        .iter()
                        .map(|o| serde_json::to_value(o).unwrap_or_default())
                        .collect()
                }),
                "Jobs",
            ),
            "batch",
            "Job",
        ));
        found.extend(to_values(
            values(
                pods.map(|l| {
                    l.items
                        .iter()
                        .map(|o| serde_json::to_value(o).unwrap_or_default())
                        .collect()
                }),
                "Pods",
            ),
            "",
            "Pod",
        ));
        // Owners come before what they own (RS and Jobs before Pods), but a
        // Job of a CronJob or a ReplicaSet both hang under managed objects,
        // so one pass per level suffices; two passes cover Pod → RS → Deployment.
        let mut pending = found;
        for _ in 0..3 {
            let mut rest = Vec::new();
            for (_, group, kind, obj) in pending {
                let uid = obj["metadata"]["uid"].as_str().unwrap_or("").to_string();
                if by_uid.contains_key(&uid) {
                    continue;
                }
                let owners: Vec<ParentRef> = obj["metadata"]["ownerReferences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|o| by_uid.get(o["uid"].as_str().unwrap_or("")).cloned())
                    .collect();
                if owners.is_empty() {
                    rest.push((String::new(), group, kind, obj));
                    continue;
                }
                let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
                by_uid.insert(
                    uid.clone(),
                    ParentRef {
                        group: group.to_string(),
                        kind: kind.to_string(),
                        namespace: ns.clone(),
                        name: name.clone(),
                    },
                );
                nodes.push(TreeNode {
                    group: group.to_string(),
                    version: "v1".to_string(),
                    kind: kind.to_string(),
                    namespace: ns.clone(),
                    name,
                    uid,
                    managed: false,
                    parent_refs: owners,
                    sync: None,
                    health: Some(child_health(kind, &obj)),
                    drift: None,
                    healed_drift: None,
                    requires_pruning: false,
                    missing: false,
                });
            }
            pending = rest;
        }
    }
    Ok(ResourceTree { nodes })
}

/// One object's last drift, from the audit log: when tether saw it, what it
/// was, and the sync that put it back, if one did.
#[derive(Clone, Debug, PartialEq)]
pub struct DriftStory {
    pub detected_at: String,
    /// The drift record's details: `{manager, time, fields}`.
    pub drift: Value,
    pub healed_at: Option<String>,
    pub healed_by: Option<String>,
}

impl DriftStory {
    fn to_value(&self) -> Value {
        let mut v = self.drift.clone();
        if !v.is_object() {
            v = Value::Object(Default::default());
        }
        v["detectedAt"] = Value::String(self.detected_at.clone());
        v["healed"] = Value::Bool(self.healed_at.is_some());
        if let Some(at) = &self.healed_at {
            v["healedAt"] = Value::String(at.clone());
        }
        if let Some(by) = &self.healed_by {
            v["healedBy"] = Value::String(by.clone());
        }
        v
    }
}

/// Per object (as the audit log labels it), its last drift and whether a
/// later sync changed the object back. `records` oldest first. Pure.
pub fn drift_stories(records: &[tether_audit::Record]) -> HashMap<String, DriftStory> {
    use tether_audit::EventKind;
    let mut out: HashMap<String, DriftStory> = HashMap::new();
    for r in records {
        let Some(object) = &r.object else { continue };
        match r.kind {
            EventKind::Drift => {
                out.insert(
                    object.clone(),
                    DriftStory {
                        detected_at: r.time.to_string(),
                        drift: r.details.clone().unwrap_or(Value::Null),
                        healed_at: None,
                        healed_by: None,
                    },
                );
            }
            EventKind::ObjectChange if r.outcome == tether_audit::SUCCEEDED => {
                if let Some(s) = out.get_mut(object).filter(|s| s.healed_at.is_none()) {
                    s.healed_at = Some(r.time.to_string());
                    s.healed_by = Some(r.actor.clone());
                }
            }
            _ => {}
        }
    }
    out
}

/// One app's drift stories, by object label.
type Stories = std::sync::Arc<HashMap<String, DriftStory>>;

/// See [`ApiState::drift_stories`]: app key → (resourceVersion, stories).
pub type DriftStoryCache = std::sync::Arc<std::sync::Mutex<HashMap<String, (String, Stories)>>>;

/// The most apps whose stories are kept; past it the cache starts over.
const DRIFT_STORY_CACHE_APPS: usize = 1000;

/// The app's drift stories from the audit log (none when there is no log, or
/// it cannot be read: the tree is still served). A drift or a sync that puts
/// one back always changes the Application's status, so its resourceVersion
/// says when the stories may have changed.
async fn drift_stories_of(state: &ApiState, app: &Application) -> Stories {
    let key = format!(
        "{}/{}",
        app.metadata.namespace.as_deref().unwrap_or(""),
        app.metadata.name.as_deref().unwrap_or("")
    );
    let version = app.metadata.resource_version.clone().unwrap_or_default();
    let cached = |cache: &HashMap<String, (String, Stories)>| {
        cache
            .get(&key)
            .filter(|(v, _)| !version.is_empty() && *v == version)
            .map(|(_, s)| s.clone())
    };
    if let Some(stories) = cached(
        &state
            .drift_stories
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    ) {
        return stories;
    }
    let dir = state.ctx.state_dir.clone();
    let query = tether_audit::Query {
        app: Some(key.clone()),
        kinds: vec![
            tether_audit::EventKind::Drift,
            tether_audit::EventKind::ObjectChange,
        ],
        limit: Some(2000),
        ..Default::default()
    };
    let read = tokio::task::spawn_blocking(move || {
        tether_audit::AuditLog::open_read_only(&dir).and_then(|log| log.query(&query))
    })
    .await;
    let stories = std::sync::Arc::new(match read {
        Ok(Ok(records)) => drift_stories(&records),
        _ => HashMap::new(),
    });
    let mut cache = state
        .drift_stories
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if cache.len() >= DRIFT_STORY_CACHE_APPS {
        cache.clear();
    }
    cache.insert(key, (version, stories.clone()));
    stories
}

#[utoipa::path(get, path = "/api/v1/applications/{ns}/{name}/resource-tree", tag = "objects",
    params(("ns" = String, Path), ("name" = String, Path)),
    responses(
        (status = 400, description = "The path is not valid", body = ErrorBody),
        (status = 200, description = "The managed objects and their children, with sync, health and drift", body = ResourceTree),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such Application", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn resource_tree(
    State(state): State<ApiState>,
    caller: Caller,
    AppPath(ns, name): AppPath,
) -> Result<Json<ResourceTree>, ApiError> {
    caller.allow(Verb::Read, Some(&format!("{ns}/{name}")))?;
    let app = find(&state, &ns, &name)?;
    Ok(Json(build_tree(&state, &app).await?))
}

/// The value every Secret value is replaced with.
pub const REDACTED: &str = "<redacted>";

fn is_secret(r: &ObjectRef) -> bool {
    r.group.is_empty() && r.kind == "Secret"
}

/// A Secret without its values (keys stay, so a reader sees what it holds);
/// `last-applied-configuration` would carry them too, so it goes. Every
/// object loses `managedFields`, which only adds noise here.
pub fn redact(r: &ObjectRef, mut obj: Value) -> Value {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if is_secret(r)
            && let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut)
        {
            ann.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    if is_secret(r) {
        for field in ["data", "stringData"] {
            if let Some(map) = obj.get_mut(field).and_then(Value::as_object_mut) {
                for v in map.values_mut() {
                    *v = Value::String(REDACTED.to_string());
                }
            }
        }
    }
    obj
}

/// One field that differs.
#[derive(Serialize, Clone, Debug, ToSchema)]
pub struct FieldDiff {
    pub path: String,
    #[schema(value_type = Option<Object>)]
    pub desired: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub live: Option<Value>,
}

/// What a sync would do to one object.
#[derive(Serialize, Clone, Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedChange {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `create`, `update`, `unchanged`, `prune`, `prune-skipped`, `shared`.
    pub action: String,
    pub reason: String,
    /// Unified YAML diff, `--- live` / `+++ desired`, Secret values redacted.
    pub diff: String,
    pub fields: Vec<FieldDiff>,
}

/// One object, desired against live.
#[derive(Serialize, Clone, Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedResource {
    #[serde(flatten)]
    pub change: PlannedChange,
    /// What Git renders (none for objects Git no longer has).
    #[schema(value_type = Option<Object>)]
    pub desired: Option<Value>,
    /// What the cluster has (none for objects still to create).
    #[schema(value_type = Option<Object>)]
    pub live: Option<Value>,
}

#[derive(Serialize, Clone, Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedResources {
    /// The commit rendered.
    pub revision: String,
    pub items: Vec<ManagedResource>,
}

/// Source → Render → Plan against the live cluster, nothing applied.
pub struct PreviewPlan {
    pub revision: String,
    pub steps: Vec<Step>,
    pub summary: String,
}

pub async fn preview(state: &ApiState, app: &Application) -> Result<PreviewPlan, ApiError> {
    preview_with(state, app, &tether_model::SyncOptions::default(), None).await
}

/// What a sync with `options` (at commit `at`, a rollback's) would do. Objects
/// selected that are neither rendered nor in the inventory: 400, naming them.
pub async fn preview_with(
    state: &ApiState,
    app: &Application,
    options: &tether_model::SyncOptions,
    at: Option<&str>,
) -> Result<PreviewPlan, ApiError> {
    let Some(engine) = state.ctx.preview.clone() else {
        return Err(ApiError::unavailable(
            "this server renders no apps (it was started without the agent's pipeline)",
        ));
    };
    let key = format!(
        "{}/{}",
        app.metadata.namespace.as_deref().unwrap_or(""),
        app.metadata.name.as_deref().unwrap_or("")
    );
    let preview = engine
        .preview_with(app, options, at)
        .await
        .map_err(|e| match e {
            tether_engine::pipeline::PreviewError::Failed(e) => ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "RenderFailed",
                format!("rendering the app from Git failed: {e}"),
            )
            .about(key.clone()),
            tether_engine::pipeline::PreviewError::Unknown(unknown) => {
                unknown_resources(&unknown).about(key.clone())
            }
        })?;
    Ok(PreviewPlan {
        revision: preview.revision,
        summary: preview.plan.summary(),
        steps: preview.plan.steps,
    })
}

/// 400 for selected objects the app has not: neither rendered nor in its inventory.
pub fn unknown_resources(unknown: &[ObjectRef]) -> ApiError {
    ApiError::bad_request(format!(
        "resources: {} {} neither rendered from Git nor in the app's inventory; GET …/resource-tree or …/managed-resources lists the app's objects (group \"\" for core kinds, namespace \"\" for cluster-scoped ones)",
        tether_plan::select::names(unknown),
        if unknown.len() == 1 { "is" } else { "are" }
    ))
}

fn change_of(step: &Step) -> PlannedChange {
    let r = &step.object;
    PlannedChange {
        group: r.group.clone(),
        kind: r.kind.clone(),
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        action: step.action.as_str().to_string(),
        reason: step.reason.clone(),
        diff: step.diff.clone(),
        fields: step
            .changes
            .iter()
            .map(|c| FieldDiff {
                path: c.path.clone(),
                desired: c.desired.clone(),
                live: c.live.clone(),
            })
            .collect(),
    }
}

fn differs(step: &Step) -> bool {
    match step.action {
        Action::Unchanged => false,
        Action::PruneSkipped => step.requires_pruning,
        Action::Create | Action::Update | Action::Prune | Action::Shared => true,
    }
}

impl PreviewPlan {
    pub fn dry_run(&self, key: &str) -> super::actions::DryRun {
        let changes: Vec<PlannedChange> = self
            .steps
            .iter()
            .filter(|s| differs(s))
            .map(change_of)
            .collect();
        super::actions::DryRun {
            application: key.to_string(),
            revision: self.revision.clone(),
            in_sync: changes.is_empty(),
            summary: self.summary.clone(),
            changes,
            options: None,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/applications/{ns}/{name}/managed-resources", tag = "objects",
    params(("ns" = String, Path), ("name" = String, Path)),
    responses(
        (status = 400, description = "The path is not valid", body = ErrorBody),
        (status = 200, description = "Desired and live per object with the diff; Secret values redacted", body = ManagedResources),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such Application", body = ErrorBody),
        (status = 422, description = "The app could not be rendered from Git", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn managed_resources(
    State(state): State<ApiState>,
    caller: Caller,
    AppPath(ns, name): AppPath,
) -> Result<Json<ManagedResources>, ApiError> {
    caller.allow(Verb::Read, Some(&format!("{ns}/{name}")))?;
    let app = find(&state, &ns, &name)?;
    let plan = preview(&state, &app).await?;
    let cluster = state.ctx.cluster.clone();
    let items = futures_util::stream::iter(plan.steps.into_iter().map(|step| {
        let cluster = cluster.clone();
        async move {
            let r = &step.object;
            let live = match cluster.get(r).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!("API managed-resources: reading {r:?}: {e}");
                    None
                }
            };
            ManagedResource {
                change: change_of(&step),
                desired: step.desired.clone().map(|d| redact(r, d)),
                live: live.map(|l| redact(r, l)),
            }
        }
    }))
    .buffered(8)
    .collect::<Vec<_>>()
    .await;
    Ok(Json(ManagedResources {
        revision: plan.revision,
        items,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// The Pod (one of the app's: `GET …/resource-tree` lists them). `podName` is accepted too.
    pod: Option<String>,
    #[serde(rename = "podName")]
    #[param(rename = "podName")]
    pod_name: Option<String>,
    /// The Pod's namespace; needed only when the app has Pods of that name in several.
    namespace: Option<String>,
    /// The container; needed when the Pod has more than one.
    container: Option<String>,
    /// Only the last N lines (0 to 100000).
    tail_lines: Option<i64>,
    /// Keep streaming new lines until the client goes away.
    follow: Option<bool>,
}

/// A managed Pod's log, proxied from the cluster as `text/plain`.
#[utoipa::path(get, path = "/api/v1/applications/{ns}/{name}/logs", tag = "objects",
    params(("ns" = String, Path), ("name" = String, Path), LogQuery),
    responses(
        (status = 200, description = "The log lines", content_type = "text/plain", body = String),
        (status = 400, description = "No pod given, or a bad value", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such Application, or the Pod is not one of its", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn logs(
    State(state): State<ApiState>,
    caller: Caller,
    AppPath(ns, name): AppPath,
    Params(q): Params<LogQuery>,
) -> Result<Response, ApiError> {
    let key = format!("{ns}/{name}");
    caller.allow(Verb::Read, Some(&key))?;
    let app = find(&state, &ns, &name)?;
    let Some(pod) = q
        .pod
        .clone()
        .or(q.pod_name.clone())
        .filter(|p| !p.is_empty())
    else {
        return Err(ApiError::bad_request(
            "say which Pod: ?pod=NAME (GET …/resource-tree lists the app's Pods)",
        ));
    };
    if let Some(n) = q.tail_lines
        && !(0..=100_000).contains(&n)
    {
        return Err(ApiError::bad_request(format!(
            "tailLines={n} is not accepted: use 0 to 100000"
        )));
    }
    let tree = build_tree(&state, &app).await?;
    let owned: Vec<&TreeNode> = tree
        .nodes
        .iter()
        .filter(|n| n.kind == "Pod" && n.group.is_empty() && n.name == pod)
        .filter(|n| q.namespace.as_deref().is_none_or(|ns| ns == n.namespace))
        .collect();
    let node = match owned.as_slice() {
        [one] => *one,
        [] => {
            return Err(ApiError::not_found(format!(
                "Pod {pod:?} is not one of {key}'s (GET …/resource-tree lists its Pods)"
            ))
            .about(key));
        }
        _ => {
            return Err(ApiError::bad_request(format!(
                "{key} has Pods named {pod:?} in several namespaces: add ?namespace="
            )));
        }
    };
    let api: Api<Pod> = Api::namespaced(state.ctx.cluster.client().clone(), &node.namespace);
    let params = LogParams {
        container: q.container.clone(),
        follow: q.follow.unwrap_or(false),
        tail_lines: q.tail_lines,
        ..Default::default()
    };
    let reader = api
        .log_stream(&node.name, &params)
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 400 || s.code == 404 => ApiError::bad_request(
                format!("the cluster refused the log request: {}", s.message),
            ),
            e => ApiError::internal("reading a Pod's log", e),
        })?;
    // Bytes as the cluster sends them, in bounded chunks: a log need not be UTF-8
    // nor have newlines, and a follow must not grow a buffer without limit.
    let chunks = futures_util::stream::try_unfold(Box::pin(reader), |mut r| async move {
        let mut buf = vec![0u8; 16 * 1024];
        let n = futures_util::AsyncReadExt::read(&mut r, &mut buf).await?;
        if n == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        buf.truncate(n);
        Ok(Some((axum::body::Bytes::from(buf), r)))
    });
    let mut response = axum::body::Body::from_stream(chunks).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_audit::{EventKind, Record};

    fn rec(id: i64, minute: i64, kind: EventKind, actor: &str, outcome: &str) -> Record {
        Record {
            id,
            time: jiff::Timestamp::from_second(1_800_000_000 + minute * 60).unwrap(),
            finished: None,
            cluster: String::new(),
            app: "web/web".into(),
            kind,
            actor: actor.into(),
            revision: Some("abc".into()),
            commit_author: None,
            commit_message: None,
            object: Some("apps/Deployment web/web".into()),
            outcome: outcome.into(),
            message: String::new(),
            details: (kind == EventKind::Drift).then(|| {
                serde_json::json!({"manager": actor, "fields": [{"path": "spec.replicas", "git": "1", "live": "3"}]})
            }),
        }
    }

    #[test]
    fn a_drift_is_healed_by_the_next_successful_change_of_its_object() {
        let records = [
            rec(
                1,
                0,
                EventKind::ObjectChange,
                "auto",
                tether_audit::SUCCEEDED,
            ),
            rec(
                2,
                1,
                EventKind::Drift,
                "kubectl-scale",
                tether_audit::DETECTED,
            ),
            rec(
                3,
                2,
                EventKind::ObjectChange,
                "self-heal",
                tether_audit::FAILED,
            ),
            rec(
                4,
                3,
                EventKind::ObjectChange,
                "self-heal",
                tether_audit::SUCCEEDED,
            ),
            rec(
                5,
                4,
                EventKind::ObjectChange,
                "auto",
                tether_audit::SUCCEEDED,
            ),
        ];
        let stories = drift_stories(&records);
        let s = &stories["apps/Deployment web/web"];
        assert_eq!(s.healed_by.as_deref(), Some("self-heal"));
        assert_eq!(s.healed_at, Some(records[3].time.to_string()));
        let v = s.to_value();
        assert_eq!(v["manager"], "kubectl-scale");
        assert_eq!(v["fields"][0]["path"], "spec.replicas");
        assert_eq!(v["healed"], true);
        assert_eq!(v["detectedAt"], records[1].time.to_string());
        // Drifted again since: not healed (yet).
        let mut again = records.to_vec();
        again.push(rec(
            6,
            5,
            EventKind::Drift,
            "kubectl-edit",
            tether_audit::DETECTED,
        ));
        let s = &drift_stories(&again)["apps/Deployment web/web"];
        assert_eq!(s.healed_at, None);
        assert_eq!(s.to_value()["healed"], false);
    }
}
