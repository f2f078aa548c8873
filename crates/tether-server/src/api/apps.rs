//! Reading Applications: the list (filtered, sorted, paged and counted here,
//! from the watch cache), one app, its history, its Kubernetes Events and its
//! audit records.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tether_model::Application;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::params::{AppPath, Params};
use super::query::{AppList, ListQuery};
use super::{ApiState, Caller, Verb, actions};

/// The app at `{ns}/{name}` from the cache, or 404.
pub fn find(state: &ApiState, ns: &str, name: &str) -> Result<Arc<Application>, ApiError> {
    state.apps.get(ns, name).ok_or_else(|| {
        ApiError::not_found(format!(
            "no Application {name:?} in namespace {ns:?}; GET /api/v1/applications lists them"
        ))
        .about(format!("{ns}/{name}"))
    })
}

/// The list's query parameters (documentation; the list parses the raw query
/// itself so that repeated parameters add up).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListParamsDoc {
    /// Sync status: `Synced`, `OutOfSync`, `Unknown`; repeat or comma-separate for any of several.
    sync: Option<String>,
    /// Health status: `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing`, `Unknown`.
    health: Option<String>,
    /// Free text: a case-insensitive substring of the name, namespace, repository URL or path.
    q: Option<String>,
    /// A Kubernetes label selector (`env=prod,tier!=db,team in (a,b),!legacy`). `selector` is accepted too.
    label: Option<String>,
    /// The Application's namespace (comma-separated for several). `appNamespace` is accepted too.
    namespace: Option<String>,
    /// Exact name(s).
    name: Option<String>,
    /// The destination cluster (`in-cluster` for apps that name none).
    cluster: Option<String>,
    /// The repository URL (compared without `.git`, a trailing `/` and the host's case).
    repo: Option<String>,
    /// `true`: only apps with objects drifted from Git; `false`: only apps without.
    drift: Option<bool>,
    /// `name`, `namespace`, `repo`, `sync`, `health`, `lastSync` or `drift`; a leading `-` sorts descending.
    sort: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    limit: Option<usize>,
    /// `metadata.continue` of the previous page (with the same sort).
    #[serde(rename = "continue")]
    continue_: Option<String>,
}

/// List Applications: filtered, sorted, paged and counted on the server.
#[utoipa::path(get, path = "/api/v1/applications", tag = "applications",
    params(ListParamsDoc),
    responses(
        (status = 200, description = "One page of rows, with totals over every match", body = AppList),
        (status = 400, description = "A query parameter or value is not accepted", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<AppList>, ApiError> {
    caller.allow(Verb::Read, None)?;
    if !state.apps.is_ready() {
        return Err(ApiError::unavailable(
            "the Applications are still being listed; try again in a moment",
        ));
    }
    let query = ListQuery::parse(raw.as_deref().unwrap_or(""))?;
    let apps = state.apps.snapshot();
    Ok(Json(query.run(&apps).into_list()))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetParams {
    /// `normal`: fetch from Git and sync now (as `tether app sync --async`);
    /// `hard`: also render again even if the result is cached. Needs the admin role.
    #[param(inline)]
    refresh: Option<RefreshKind>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RefreshKind {
    Normal,
    Hard,
}

/// One Application as the cluster stores it (`tether.dev/v1alpha1`).
#[derive(ToSchema)]
#[schema(value_type = Object)]
pub struct ApplicationObject(#[allow(dead_code)] Value);

/// Get one Application; `?refresh=normal|hard` asks the agent to refresh it first.
#[utoipa::path(get, path = "/api/v1/applications/{ns}/{name}", tag = "applications",
    params(("ns" = String, Path, description = "The Application's namespace"),
           ("name" = String, Path, description = "The Application's name"), GetParams),
    responses(
        (status = 200, description = "The Application", body = ApplicationObject),
        (status = 400, description = "A query value is not accepted", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A refresh needs the admin role", body = ErrorBody),
        (status = 404, description = "No such Application", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    AppPath(ns, name): AppPath,
    Params(params): Params<GetParams>,
) -> Result<Json<Value>, ApiError> {
    let key = format!("{ns}/{name}");
    caller.allow(Verb::Read, Some(&key))?;
    // A refresh writes: judged before anything is looked up.
    if params.refresh.is_some() {
        caller.allow(Verb::Write, Some(&key))?;
    }
    let app = find(&state, &ns, &name)?;
    if let Some(kind) = params.refresh {
        let app = actions::request_sync(
            &state,
            &caller,
            &app,
            kind == RefreshKind::Hard,
            None,
            "refresh",
            None,
        )
        .await?;
        return Ok(Json(serde_json::to_value(&app).unwrap_or_default()));
    }
    Ok(Json(serde_json::to_value(&*app).unwrap_or_default()))
}

/// An app's sync history, oldest first (as `status.history`).
#[derive(Serialize, ToSchema)]
pub struct HistoryList {
    /// Each entry: `id`, `revision`, `commit`, `startedAt`, `finishedAt`, `result`, `initiator`, …
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
}

#[utoipa::path(get, path = "/api/v1/applications/{ns}/{name}/history", tag = "applications",
    params(("ns" = String, Path), ("name" = String, Path)),
    responses(
        (status = 400, description = "The path is not valid", body = ErrorBody),
        (status = 200, description = "The sync history, oldest first; the ids are what rollback takes", body = HistoryList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such Application", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn history(
    State(state): State<ApiState>,
    caller: Caller,
    AppPath(ns, name): AppPath,
) -> Result<Json<HistoryList>, ApiError> {
    caller.allow(Verb::Read, Some(&format!("{ns}/{name}")))?;
    let app = find(&state, &ns, &name)?;
    let items = app
        .status
        .as_ref()
        .map(|s| {
            s.history
                .iter()
                .map(|h| serde_json::to_value(h).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(HistoryList { items }))
}

/// The Notifiers that apply to an app: those in its namespace and the agent's
/// whose app globs and label selector take it in.
#[derive(Serialize, ToSchema)]
pub struct NotifierList {
    /// Each: `namespace`, `name`, `target` (webhook, slack, teams, github, gitlab),
    /// `events` (empty: all), `severity`, `suspended`, and whether deliveries work
    /// (`ready`, `message`). Addresses and secrets are never shown.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
}

#[utoipa::path(get, path = "/api/v1/applications/{ns}/{name}/notifiers", tag = "applications",
    params(("ns" = String, Path), ("name" = String, Path)),
    responses(
        (status = 200, description = "The Notifiers that apply to this app", body = NotifierList),
        (status = 400, description = "The path is not valid", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such Application", body = ErrorBody),
        (status = 503, description = "The Notifiers cannot be read", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn notifiers(
    State(state): State<ApiState>,
    caller: Caller,
    AppPath(ns, name): AppPath,
) -> Result<Json<NotifierList>, ApiError> {
    caller.allow(Verb::Read, Some(&format!("{ns}/{name}")))?;
    let app = find(&state, &ns, &name)?;
    let api: Api<tether_model::Notifier> = Api::all(state.ctx.cluster.client().clone());
    let all = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        // No Notifier CRD yet (no agent has started): nothing applies.
        Err(kube::Error::Api(e)) if e.code == 404 => Vec::new(),
        Err(e) => {
            return Err(ApiError::unavailable(format!(
                "cannot read the Notifiers: {e}"
            )));
        }
    };
    let items = crate::notify::matching(&app, &all, &state.ctx.namespace)
        .into_iter()
        .map(|n| {
            let ready = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
            serde_json::json!({
                "namespace": n.metadata.namespace,
                "name": n.metadata.name,
                "target": n.spec.target,
                "events": n.spec.events,
                "severity": n.spec.severity,
                "suspended": n.spec.suspend,
                "ready": ready.map(|c| c.status == "True"),
                "message": ready.map(|c| c.message.clone()),
            })
        })
        .collect();
    Ok(Json(NotifierList { items }))
}

/// One Kubernetes Event.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventRow {
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    pub message: String,
    /// The object it is about: `Kind namespace/name`.
    pub object: String,
    pub count: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_time: Option<String>,
    /// Who reported it (`tether`, `deployment-controller`, …).
    pub source: String,
}

#[derive(Serialize, ToSchema)]
pub struct EventList {
    /// Newest last.
    pub items: Vec<EventRow>,
}

/// The Events on the app and on every object it manages (and their
/// ReplicaSets and Pods), newest last.
#[utoipa::path(get, path = "/api/v1/applications/{ns}/{name}/events", tag = "applications",
    params(("ns" = String, Path), ("name" = String, Path)),
    responses(
        (status = 400, description = "The path is not valid", body = ErrorBody),
        (status = 200, description = "Events on the app and its objects", body = EventList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such Application", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn events(
    State(state): State<ApiState>,
    caller: Caller,
    AppPath(ns, name): AppPath,
) -> Result<Json<EventList>, ApiError> {
    caller.allow(Verb::Read, Some(&format!("{ns}/{name}")))?;
    let app = find(&state, &ns, &name)?;
    let client = state.ctx.cluster.client().clone();
    // Which (namespace, kind, name) the app owns, with the children the tree finds.
    let tree = super::objects::build_tree(&state, &app).await?;
    let mut wanted: BTreeSet<(String, String, String)> = tree
        .nodes
        .iter()
        .map(|n| (n.namespace.clone(), n.kind.clone(), n.name.clone()))
        .collect();
    wanted.insert((ns.clone(), "Application".into(), name.clone()));
    let namespaces: BTreeSet<String> = wanted.iter().map(|w| w.0.clone()).collect();
    let mut items = Vec::new();
    for namespace in namespaces {
        let api: Api<Event> = if namespace.is_empty() {
            Api::namespaced(client.clone(), "default")
        } else {
            Api::namespaced(client.clone(), &namespace)
        };
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| ApiError::internal("listing Events", e))?;
        for ev in list.items {
            let inv = &ev.involved_object;
            let key = (
                inv.namespace.clone().unwrap_or_default(),
                inv.kind.clone().unwrap_or_default(),
                inv.name.clone().unwrap_or_default(),
            );
            if !wanted.contains(&key) {
                continue;
            }
            let time = |t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
                t.as_ref().map(|t| t.0.to_string())
            };
            items.push(EventRow {
                type_: ev.type_.clone().unwrap_or_default(),
                reason: ev.reason.clone().unwrap_or_default(),
                message: ev.message.clone().unwrap_or_default(),
                object: format!("{} {}/{}", key.1, key.0, key.2),
                count: ev.count.unwrap_or(1),
                first_time: time(&ev.first_timestamp)
                    .or_else(|| ev.event_time.as_ref().map(|t| t.0.to_string())),
                last_time: time(&ev.last_timestamp)
                    .or_else(|| ev.event_time.as_ref().map(|t| t.0.to_string())),
                source: ev
                    .source
                    .as_ref()
                    .and_then(|s| s.component.clone())
                    .or(ev.reporting_component.clone())
                    .unwrap_or_default(),
            });
        }
    }
    items.sort_by(|a, b| a.last_time.cmp(&b.last_time));
    Ok(Json(EventList { items }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Kinds, comma-separated: `sync`, `object-change`, `drift`, `self-heal`, `rollback`, `prune`, `error`, `notification`, `api-request`.
    kind: Option<String>,
    /// From: RFC 3339, or a duration back from now (`1h`, `7d`).
    since: Option<String>,
    /// Until (exclusive): RFC 3339, or a duration back from now.
    until: Option<String>,
    /// The actor, exactly, or a prefix ending in `*` (`token:*`, `kubectl*`).
    actor: Option<String>,
    /// Words that must all appear in the object (`deployment web`).
    object: Option<String>,
    /// The newest N records (1 to 10000, default 500), returned oldest first.
    limit: Option<usize>,
}

/// `GET /api/v1/audit`: the per-app route's filters, plus `app` and paging.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditLogParams {
    /// Apps, comma-separated: `NS/NAME`, or a bare `NAME` for that name in any namespace.
    app: Option<String>,
    /// Kinds, comma-separated: `sync`, `object-change`, `drift`, `self-heal`, `rollback`, `prune`, `error`, `notification`, `api-request`.
    kind: Option<String>,
    /// From: RFC 3339, or a duration back from now (`1h`, `7d`).
    since: Option<String>,
    /// Until (exclusive): RFC 3339, or a duration back from now.
    until: Option<String>,
    /// The actor, exactly, or a prefix ending in `*` (`token:*`, `kubectl*`).
    actor: Option<String>,
    /// Words that must all appear in the object (`deployment web`).
    object: Option<String>,
    /// Page size: 1 to 10000, default 500.
    limit: Option<usize>,
    /// `metadata.continue` of the previous page: the next, older records.
    #[serde(rename = "continue")]
    continue_: Option<String>,
}

/// The filters both audit routes take, parsed one way: kinds, time range,
/// actor, object words and the limit.
fn audit_query(
    kind: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
    actor: Option<&str>,
    object: Option<&str>,
    limit: Option<usize>,
) -> Result<tether_audit::Query, ApiError> {
    let now = jiff::Timestamp::now();
    let time = |what: &str, text: Option<&str>| -> Result<Option<jiff::Timestamp>, ApiError> {
        text.map(|t| {
            tether_audit::parse_since(t, now).map_err(|e| {
                ApiError::bad_request(format!(
                    "{what}={t:?} is not accepted ({e}): use RFC 3339 or a duration such as 1h or 7d"
                ))
            })
        })
        .transpose()
    };
    let mut kinds = Vec::new();
    for k in kind
        .iter()
        .flat_map(|k| k.split(','))
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        kinds.push(tether_audit::parse_kind(k).map_err(|_| {
            let all: Vec<&str> = tether_audit::EventKind::ALL
                .iter()
                .map(|k| k.as_str())
                .collect();
            ApiError::bad_request(format!(
                "kind={k:?} is not accepted: use {}",
                all.join(", ")
            ))
        })?);
    }
    let limit = limit.unwrap_or(500);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit={limit} is not accepted: use 1 to 10000"
        )));
    }
    Ok(tether_audit::Query {
        object: object.map(str::to_string),
        actor: actor.map(str::to_string),
        kinds,
        since: time("since", since)?,
        until: time("until", until)?,
        limit: Some(limit),
        ..Default::default()
    })
}

/// The records `query` matches, read from the agent's audit log (none when
/// the agent has not written one yet).
async fn read_audit(
    state: &ApiState,
    query: tether_audit::Query,
) -> Result<Vec<tether_audit::Record>, ApiError> {
    let dir = state.ctx.state_dir.clone();
    let records =
        tokio::task::spawn_blocking(move || match tether_audit::AuditLog::open_read_only(&dir) {
            Ok(log) => log.query(&query).map(Some),
            Err(tether_audit::AuditError::Missing { .. }) => Ok(None),
            Err(e) => Err(e),
        })
        .await
        .map_err(|e| ApiError::internal("reading the audit log", e))?
        .map_err(|e| ApiError::internal("reading the audit log", e))?;
    Ok(records.unwrap_or_default())
}

/// How a record's change came about: `git` (a sync applied a commit: its
/// `revision`, with `commit_author` and `commit_message`), `drift` (someone
/// changed the live object outside Git: the actor is the field manager, such
/// as `kubectl-scale`), `api` (a request made with a token: `token:NAME`), or
/// `agent` (an error or a notification: nothing changed).
pub fn via(kind: tether_audit::EventKind) -> &'static str {
    use tether_audit::EventKind::*;
    match kind {
        Sync | ObjectChange | SelfHeal | Rollback | Prune => "git",
        Drift => "drift",
        ApiRequest => "api",
        Error | Notification => "agent",
    }
}

/// A record as both audit routes answer it: the stored record, and `via`.
fn audit_item(r: &tether_audit::Record) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let Value::Object(o) = &mut v {
        o.insert("via".into(), Value::String(via(r.kind).to_string()));
    }
    v
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    /// Oldest first: `id`, `time`, `kind`, `actor`, `via` (`git`, `drift`, `api`, `agent`), `revision`, `commit_author`, `commit_message`, `object`, `outcome`, `message`, `details`, …
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
}

/// The app's records in the agent's audit log, filtered as `tether audit` filters.
#[utoipa::path(get, path = "/api/v1/applications/{ns}/{name}/audit", tag = "applications",
    params(("ns" = String, Path), ("name" = String, Path), AuditParams),
    responses(
        (status = 200, description = "Audit records, oldest first", body = AuditList),
        (status = 400, description = "A filter is not accepted", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such Application", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn audit(
    State(state): State<ApiState>,
    caller: Caller,
    AppPath(ns, name): AppPath,
    Params(p): Params<AuditParams>,
) -> Result<Json<AuditList>, ApiError> {
    let key = format!("{ns}/{name}");
    caller.allow(Verb::Read, Some(&key))?;
    // A deleted app's records stay readable: no 404 from the cache here.
    let mut query = audit_query(
        p.kind.as_deref(),
        p.since.as_deref(),
        p.until.as_deref(),
        p.actor.as_deref(),
        p.object.as_deref(),
        p.limit,
    )?;
    query.app = Some(key);
    let items = read_audit(&state, query)
        .await?
        .iter()
        .map(audit_item)
        .collect();
    Ok(Json(AuditList { items }))
}

/// `GET /api/v1/audit`'s answer: the per-app route's, newest first, paged.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub metadata: AuditPageMeta,
    /// Newest first; the same record objects as the per-app route.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPageMeta {
    /// Pass as `continue` for the next (older) page; absent on the last page.
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_: Option<String>,
}

/// A page's cursor: the last record's time (µs) and id.
#[derive(Serialize, Deserialize)]
struct AuditCursor {
    t: i64,
    i: i64,
}

fn encode_cursor(r: &tether_audit::Record) -> String {
    use base64::Engine as _;
    let json = serde_json::to_vec(&AuditCursor {
        t: r.time.as_microsecond(),
        i: r.id,
    })
    .unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(token: &str) -> Result<(jiff::Timestamp, i64), ApiError> {
    use base64::Engine as _;
    let bad = || {
        ApiError::bad_request(
            "continue token is not valid: pass the `metadata.continue` value of the previous page unchanged",
        )
    };
    if token.len() > 512 {
        return Err(bad());
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let c: AuditCursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let t = jiff::Timestamp::from_microsecond(c.t).map_err(|_| bad())?;
    Ok((t, c.i))
}

/// The audit log across apps, newest first and paged: every sync (and the
/// objects it changed, from which commit), drift (who changed what in the
/// cluster), self-heal, rollback, prune, error, notification and API request.
#[utoipa::path(get, path = "/api/v1/audit", tag = "applications",
    params(AuditLogParams),
    responses(
        (status = 200, description = "Audit records, newest first, one page", body = AuditPage),
        (status = 400, description = "A filter or the continue token is not accepted", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn audit_log(
    State(state): State<ApiState>,
    caller: Caller,
    Params(p): Params<AuditLogParams>,
) -> Result<Json<AuditPage>, ApiError> {
    caller.allow(Verb::Read, None)?;
    let mut query = audit_query(
        p.kind.as_deref(),
        p.since.as_deref(),
        p.until.as_deref(),
        p.actor.as_deref(),
        p.object.as_deref(),
        p.limit,
    )?;
    query.apps = p
        .app
        .iter()
        .flat_map(|a| a.split(','))
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    if query.apps.iter().any(|a| a.split('/').count() > 2) {
        return Err(ApiError::bad_request(
            "app is not accepted: use NS/NAME or NAME, comma-separated",
        ));
    }
    query.before = p.continue_.as_deref().map(decode_cursor).transpose()?;
    query.newest_first = true;
    let limit = query.limit.unwrap_or(500);
    // One more than the page: whether there is a next page.
    query.limit = Some(limit + 1);
    let mut records = read_audit(&state, query).await?;
    let more = records.len() > limit;
    records.truncate(limit);
    let continue_ = if more {
        records.last().map(encode_cursor)
    } else {
        None
    };
    Ok(Json(AuditPage {
        metadata: AuditPageMeta { continue_ },
        items: records.iter().map(audit_item).collect(),
    }))
}
