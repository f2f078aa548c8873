//! Acting on Applications, as the CLI does: by writing the Application (the
//! refresh, refresh-by and rollback annotations, and a sync's options in
//! `tether.dev/sync-request`; the cascade finalizer and a delete), so
//! whichever replica leads does the work. Each request is checked
//! against the caller's role and written to the audit log with the token's
//! name as the actor; the refresh-by annotation carries the same name into the
//! engine's own sync record.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tether_model::{
    Application, CASCADE_FINALIZER, ObjectRef, OperationPhase, REFRESH_ANNOTATION,
    REFRESH_BY_ANNOTATION, ROLLBACK_ANNOTATION, SYNC_REQUEST_ANNOTATION, SyncOptions,
    SyncRequestAnnotation,
};
use utoipa::{IntoParams, ToSchema};

use super::apps::find;
use super::error::{ApiError, ErrorBody};
use super::params::{AppPath, Body, Params};
use super::{ApiState, Caller, Verb};

/// Write one API request to the audit log (best effort: a log that cannot be
/// written is logged, never a failed request).
#[allow(clippy::too_many_arguments)]
pub async fn record(
    state: &ApiState,
    caller: &Caller,
    app: &str,
    action: &str,
    revision: Option<String>,
    outcome: &str,
    message: String,
    options: Option<&SyncOptions>,
) {
    let mut details = json!({"action": action});
    if let Some(o) = options.filter(|o| !o.is_default()) {
        details["partial"] = json!(o.is_partial());
        if o.is_partial() {
            details["resources"] = json!(o.resources);
        }
        if let Some(p) = o.prune {
            details["prune"] = json!(p);
        }
    }
    let rec = tether_audit::NewRecord {
        time: jiff::Timestamp::now(),
        cluster: String::new(),
        app: app.to_string(),
        kind: tether_audit::EventKind::ApiRequest,
        actor: caller.actor(),
        revision,
        commit_author: None,
        commit_message: None,
        object: None,
        outcome: outcome.to_string(),
        message,
        details: Some(details),
    };
    let audit = state.audit.clone();
    let dir = state.ctx.state_dir.clone();
    let done = tokio::task::spawn_blocking(move || {
        let mut guard = audit.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(Arc::new(tether_audit::AuditLog::open_appender(&dir)?));
        }
        let log = guard.clone().expect("opened above");
        drop(guard);
        log.append(&rec)
    })
    .await;
    match done {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(app, action, "API: writing the audit record failed: {e}"),
        Err(e) => tracing::warn!(app, action, "API: writing the audit record failed: {e}"),
    }
}

fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "Conflict", message)
}

/// Ask the agent to refresh and sync now (and with `rollback`, to go to that
/// commit and hold it; without, any rollback in force ends), as `tether app
/// sync --async` does; with `options` (selected objects, prune), carried in
/// the `tether.dev/sync-request` annotation for this refresh value only.
/// Returns the Application as written.
pub async fn request_sync(
    state: &ApiState,
    caller: &Caller,
    app: &Application,
    hard: bool,
    rollback: Option<String>,
    action: &str,
    options: Option<&SyncOptions>,
) -> Result<Application, ApiError> {
    let (ns, name) = (app.namespace().unwrap_or_default(), app.name_any());
    let key = format!("{ns}/{name}");
    if app.metadata.deletion_timestamp.is_some() {
        return Err(conflict(format!("application {key} is being deleted")).about(key));
    }
    let value = format!(
        "{}{}",
        if hard {
            tether_model::HARD_REFRESH_PREFIX
        } else {
            ""
        },
        jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.9fZ")
    );
    let options = options.filter(|o| !o.is_default());
    let request = options.map(|o| SyncRequestAnnotation::new(&value, o).to_json());
    let patch = json!({"metadata": {"annotations": {
        REFRESH_ANNOTATION: value,
        REFRESH_BY_ANNOTATION: caller.actor(),
        ROLLBACK_ANNOTATION: rollback,
        SYNC_REQUEST_ANNOTATION: request,
    }}});
    let api: Api<Application> = Api::namespaced(state.ctx.cluster.client().clone(), &ns);
    let written = api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await;
    match written {
        Ok(app) => {
            record(
                state,
                caller,
                &key,
                action,
                rollback.clone(),
                "requested",
                match options {
                    Some(o) => format!(
                        "{action} requested through the API ({}; {REFRESH_ANNOTATION}={value})",
                        o.describe()
                    ),
                    None => {
                        format!("{action} requested through the API ({REFRESH_ANNOTATION}={value})")
                    }
                },
                options,
            )
            .await;
            Ok(app)
        }
        Err(kube::Error::Api(e)) if e.code == 404 => {
            Err(ApiError::not_found(format!("application {key} no longer exists")).about(key))
        }
        Err(e) => Err(ApiError::internal("requesting a sync", e)),
    }
}

/// What `POST …/sync` takes; every field is optional (as Argo CD's).
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncRequest {
    /// Only the revision the app follows may be synced (its `targetRevision`, or
    /// `HEAD`/empty); to go to an older commit use `POST …/rollback`.
    #[serde(default)]
    pub revision: Option<String>,
    /// `true`: prune what Git no longer declares even if
    /// `syncPolicy.automated.prune` is off (only among `resources` when
    /// given); `false`: prune nothing on this sync; absent: as the policy says.
    #[serde(default)]
    pub prune: Option<bool>,
    /// Compute what a sync with these options would change, applying nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Render again even if the result is cached (Argo CD's hard refresh).
    #[serde(default)]
    pub hard_refresh: bool,
    /// Sync only these objects (apply them, or prune them when Git no longer
    /// has them); the others are left as they are. Each must be rendered
    /// from Git or in the app's inventory (else 400, naming them).
    #[serde(default)]
    pub resources: Option<Vec<SyncResource>>,
}

impl SyncRequest {
    /// The options the engine follows.
    pub fn options(&self) -> Result<SyncOptions, ApiError> {
        let mut resources = Vec::new();
        for r in self.resources.iter().flatten() {
            if r.kind.trim().is_empty() || r.name.trim().is_empty() {
                return Err(ApiError::bad_request(
                    "resources: every object needs `kind` and `name` (and `group`, \"\" for core kinds, and `namespace`, \"\" for cluster-scoped ones)",
                ));
            }
            resources.push(ObjectRef::new(&r.group, &r.kind, &r.namespace, &r.name));
        }
        if resources.len() > MAX_RESOURCES {
            return Err(ApiError::bad_request(format!(
                "resources: at most {MAX_RESOURCES} objects per sync; sync the whole app instead"
            )));
        }
        resources.sort();
        resources.dedup();
        Ok(SyncOptions {
            resources,
            prune: self.prune,
        })
    }
}

/// Selected objects per sync: the annotation carrying them stays small.
const MAX_RESOURCES: usize = 500;

/// One object of a sync's `resources`, as Argo CD names it.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncResource {
    #[serde(default)]
    pub group: String,
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
}

/// What `POST …/sync` and `POST …/rollback` answer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncAccepted {
    /// `namespace/name`.
    pub application: String,
    /// The `tether.dev/refresh` value the agent will record in
    /// `status.lastHandledRefresh` once it has handled the request.
    pub refresh: String,
    /// Who asked (`token:NAME`), recorded as the sync's initiator.
    pub initiator: String,
    /// For a rollback: the commit the app is held at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The options the sync was asked with (`resources`, `prune`), when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<SyncOptionsDoc>,
}

/// A sync's options as the API answers them (and `status.operationState.options`
/// and `status.history[].options` hold them).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncOptionsDoc {
    /// The selected objects (`group`, `kind`, `namespace`, `name`); empty: all.
    #[schema(value_type = Vec<Object>)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ObjectRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
}

impl From<&SyncOptions> for SyncOptionsDoc {
    fn from(o: &SyncOptions) -> Self {
        SyncOptionsDoc {
            resources: o.resources.clone(),
            prune: o.prune,
        }
    }
}

/// What `POST …/sync` with `dryRun` answers.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    pub application: String,
    /// The commit that was rendered.
    pub revision: String,
    pub in_sync: bool,
    /// e.g. `1 to update, 1 to create`.
    pub summary: String,
    /// Objects a sync would create, update or prune (only the selected ones
    /// when `resources` was given).
    pub changes: Vec<super::objects::PlannedChange>,
    /// The options this dry run was computed with, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<SyncOptionsDoc>,
}

fn accepted(
    app: &Application,
    caller: &Caller,
    revision: Option<String>,
    options: Option<&SyncOptions>,
) -> SyncAccepted {
    SyncAccepted {
        options: options
            .filter(|o| !o.is_default())
            .map(SyncOptionsDoc::from),
        application: format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any()),
        refresh: app
            .annotations()
            .get(REFRESH_ANNOTATION)
            .cloned()
            .unwrap_or_default(),
        initiator: caller.actor(),
        revision,
    }
}

/// Sync now: the agent fetches from Git and applies. Answers 202 at once; the
/// result shows in the app's `status.operationState` (or on the live stream).
#[utoipa::path(post, path = "/api/v1/applications/{ns}/{name}/sync", tag = "actions",
    params(("ns" = String, Path), ("name" = String, Path)),
    request_body(content = SyncRequest, description = "Optional; an empty body syncs with the defaults"),
    responses(
        (status = 202, description = "The sync was requested", body = SyncAccepted),
        (status = 200, description = "dryRun: what a sync with these options would change", body = DryRun),
        (status = 400, description = "The body is malformed, a value is not accepted, or `resources` names objects the app has not", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token may not write", body = ErrorBody),
        (status = 404, description = "No such Application", body = ErrorBody),
        (status = 409, description = "The app is being deleted", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 422, description = "dryRun or resources: the app could not be rendered from Git", body = ErrorBody),
        (status = 501, description = "A revision other than the one the app follows", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn sync(
    State(state): State<ApiState>,
    caller: Caller,
    AppPath(ns, name): AppPath,
    Body(req): Body<SyncRequest>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let key = format!("{ns}/{name}");
    caller.allow(Verb::Write, Some(&key))?;
    let app = find(&state, &ns, &name)?;
    let not_supported = |m: String| {
        ApiError::new(StatusCode::NOT_IMPLEMENTED, "NotImplemented", m).about(key.clone())
    };
    let options = req.options().map_err(|e| e.about(key.clone()))?;
    if let Some(rev) = req
        .revision
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        let target = app.spec.source.revision.as_deref().unwrap_or("");
        let head = rev.eq_ignore_ascii_case("HEAD") && target.is_empty();
        if rev != target && !head {
            return Err(not_supported(format!(
                "syncing revision {rev:?} is not supported: the app follows {:?}; change spec.source.revision in Git, or roll back to a history entry with POST …/rollback",
                if target.is_empty() {
                    "the default branch"
                } else {
                    target
                }
            )));
        }
    }
    if req.dry_run {
        let plan = super::objects::preview_with(&state, &app, &options, None).await?;
        let mut answer = plan.dry_run(&key);
        answer.options = (!options.is_default()).then(|| SyncOptionsDoc::from(&options));
        return Ok(Json(answer).into_response());
    }
    // Selected objects the app has not are refused now, naming them (the
    // agent checks again when it syncs, against what it renders then).
    if options.is_partial() && state.ctx.preview.is_some() {
        super::objects::preview_with(&state, &app, &options, None).await?;
    }
    let written = request_sync(
        &state,
        &caller,
        &app,
        req.hard_refresh,
        None,
        "sync",
        Some(&options),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(accepted(&written, &caller, None, Some(&options))),
    )
        .into_response())
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollbackRequest {
    /// The history entry to go back to (`GET …/history` lists them); absent or
    /// 0: the last successful sync of another revision.
    #[serde(default)]
    pub id: Option<i64>,
    /// Answer what going back to that entry would change (200, as the sync's
    /// dry run), applying nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// As the sync's: `true` prunes what that commit does not declare even
    /// if the policy does not prune, `false` prunes nothing; absent: the policy.
    #[serde(default)]
    pub prune: Option<bool>,
}

/// Roll back to a history entry's revision and hold the app there (as
/// `tether app rollback`); it resumes following Git when Git moves on or on
/// the next `sync`.
#[utoipa::path(post, path = "/api/v1/applications/{ns}/{name}/rollback", tag = "actions",
    params(("ns" = String, Path), ("name" = String, Path)),
    request_body(content = RollbackRequest),
    responses(
        (status = 202, description = "The rollback was requested", body = SyncAccepted),
        (status = 200, description = "dryRun: what the rollback would change", body = DryRun),
        (status = 400, description = "No such history entry, or a malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token may not write", body = ErrorBody),
        (status = 404, description = "No such Application", body = ErrorBody),
        (status = 409, description = "The app is being deleted", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 422, description = "dryRun: that commit could not be rendered", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn rollback(
    State(state): State<ApiState>,
    caller: Caller,
    AppPath(ns, name): AppPath,
    Body(req): Body<RollbackRequest>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let key = format!("{ns}/{name}");
    caller.allow(Verb::Write, Some(&key))?;
    let app = find(&state, &ns, &name)?;
    let status = app.status.clone().unwrap_or_default();
    let current = status
        .sync
        .as_ref()
        .and_then(|s| s.revision.clone())
        .unwrap_or_default();
    let entry = match req.id.filter(|id| *id != 0) {
        Some(id) => status.history.iter().find(|h| h.id == id).ok_or_else(|| {
            ApiError::bad_request(format!(
                "history entry {id} not found; GET /api/v1/applications/{key}/history lists them"
            ))
            .about(key.clone())
        })?,
        None => status
            .history
            .iter()
            .rev()
            .find(|h| h.result == OperationPhase::Succeeded && h.revision != current)
            .ok_or_else(|| {
                ApiError::bad_request("no earlier successful sync to roll back to")
                    .about(key.clone())
            })?,
    };
    let revision = entry.revision.clone();
    let options = SyncOptions {
        resources: Vec::new(),
        prune: req.prune,
    };
    if req.dry_run {
        let plan = super::objects::preview_with(&state, &app, &options, Some(&revision)).await?;
        return Ok(Json(plan.dry_run(&key)).into_response());
    }
    let written = request_sync(
        &state,
        &caller,
        &app,
        false,
        Some(revision.clone()),
        "rollback",
        Some(&options),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(accepted(&written, &caller, Some(revision), Some(&options))),
    )
        .into_response())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteParamsQuery {
    /// `true` (the default): the agent deletes the objects the app deployed
    /// first; `false`: they are kept (orphaned).
    cascade: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub application: String,
    pub cascade: bool,
    /// What happens next.
    pub message: String,
}

/// Delete an Application (as `tether app delete`).
#[utoipa::path(delete, path = "/api/v1/applications/{ns}/{name}", tag = "actions",
    params(("ns" = String, Path), ("name" = String, Path), DeleteParamsQuery),
    responses(
        (status = 202, description = "The Application is being deleted", body = Deleted),
        (status = 400, description = "A query value is not accepted", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token may not write", body = ErrorBody),
        (status = 404, description = "No such Application", body = ErrorBody),
        (status = 409, description = "Already being deleted the other way", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    AppPath(ns, name): AppPath,
    Params(p): Params<DeleteParamsQuery>,
) -> Result<(StatusCode, Json<Deleted>), ApiError> {
    let key = format!("{ns}/{name}");
    caller.allow(Verb::Write, Some(&key))?;
    let cached: Arc<Application> = find(&state, &ns, &name)?;
    let cascade = p.cascade.unwrap_or(true);
    let api: Api<Application> = Api::namespaced(state.ctx.cluster.client().clone(), &ns);
    let gone =
        || ApiError::not_found(format!("application {key} no longer exists")).about(key.clone());
    // Set the finalizers to say cascade or not, then delete (as the CLI).
    for attempt in 0.. {
        let current = match api.get_opt(&name).await {
            Ok(Some(a)) => a,
            Ok(None) => return Err(gone()),
            Err(e) => return Err(ApiError::internal("reading the Application", e)),
        };
        let has = current.finalizers().iter().any(|f| f == CASCADE_FINALIZER);
        if has == cascade {
            break;
        }
        if cascade && current.metadata.deletion_timestamp.is_some() {
            return Err(conflict(format!(
                "application {key} is already being deleted without cascade; its objects are kept"
            ))
            .about(key));
        }
        let mut finalizers: Vec<String> = current
            .finalizers()
            .iter()
            .filter(|f| *f != CASCADE_FINALIZER)
            .cloned()
            .collect();
        if cascade {
            finalizers.push(CASCADE_FINALIZER.to_string());
        }
        let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": current.resource_version()}});
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => break,
            Err(kube::Error::Api(e)) if e.code == 404 => return Err(gone()),
            Err(kube::Error::Api(e)) if e.code == 409 && attempt < 5 => continue,
            Err(e) => {
                return Err(ApiError::internal(
                    "updating the Application's finalizers",
                    e,
                ));
            }
        }
    }
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => return Err(gone()),
        Err(e) => return Err(ApiError::internal("deleting the Application", e)),
    }
    let message = if cascade {
        "deleting; the agent deletes the objects it deployed, then the Application".to_string()
    } else {
        "deleted; the objects it deployed are kept".to_string()
    };
    record(
        &state,
        &caller,
        &key,
        "delete",
        cached
            .status
            .as_ref()
            .and_then(|s| s.sync.as_ref())
            .and_then(|s| s.revision.clone()),
        "requested",
        format!("delete (cascade={cascade}) requested through the API"),
        None,
    )
    .await;
    Ok((
        StatusCode::ACCEPTED,
        Json(Deleted {
            application: key,
            cascade,
            message,
        }),
    ))
}
