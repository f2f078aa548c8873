//! `GET /api/v1/stream`: one server-sent-events connection per client that
//! carries every change it subscribed to, so a page never needs a second one
//! (browsers allow six connections per origin over HTTP/1.1).
//!
//! - The list (the default): the same query parameters as
//!   `GET /api/v1/applications`. The first event is a `snapshot` (that list's
//!   page and counts); then `changes` events carry the rows that changed, the
//!   keys of apps that left the filter, and the new counts.
//! - One app (`?app=NAMESPACE/NAME`): an `app` event with the app and its
//!   objects, first and on every change.
//!
//! Changes are coalesced (everything that arrives within [`WINDOW`] of the
//! first becomes one event, each app once in it, as it is at the end),
//! deduplicated (no event when nothing the subscriber sees changed), and
//! numbered: a client that reconnects with `Last-Event-ID` gets what it
//! missed, or a snapshot when the id is too old (see [`hub`]). A comment is
//! sent after [`KEEPALIVE`] without events. A client that falls
//! [`hub::CLIENT_BUFFER`] changes behind is sent `close` and dropped: the
//! server never waits for a reader. docs/api.md ("Live stream") documents the
//! events.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Extension, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::auth::{TokenStore, presented};
use super::cache::AppKey;
use super::query::ListQuery;
use super::{ApiError, ApiState, Caller, Verb};

pub mod hub;
pub mod list;
pub mod row;

use hub::{Attached, Change, Hub, Resume, Seen};
use list::{Batch, ListView, Span};

/// Changes within this window of the first become one event.
pub const WINDOW: Duration = Duration::from_millis(100);
/// A comment after this long without an event, so proxies keep the
/// connection open and a dead client is noticed.
pub const KEEPALIVE: Duration = Duration::from_secs(15);
/// How long a browser waits before reconnecting (the `retry` field).
const RETRY: Duration = Duration::from_secs(2);

pub fn routes(state: &ApiState) -> Router<ApiState> {
    let hub = Hub::start(state.apps.clone());
    Router::new()
        .route("/api/v1/stream", get(stream))
        // Argo CD's path for the same thing, so its users' clients find it.
        .route("/api/v1/stream/applications", get(stream))
        .layer(Extension(hub))
}

/// What the stream's own parameters are; the rest is the list's query.
struct Params {
    app: Option<AppKey>,
    last_event_id: Option<String>,
    list: String,
}

fn split_params(raw: &str) -> Result<Params, ApiError> {
    let mut app = None;
    let mut last_event_id = None;
    let mut list = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
        match name.as_ref() {
            "app" => {
                let key = value.trim();
                let ok = key
                    .split_once('/')
                    .is_some_and(|(ns, n)| !ns.is_empty() && !n.is_empty() && !n.contains('/'));
                if !ok || app.is_some() {
                    return Err(ApiError::bad_request(format!(
                        "app={key:?} is not accepted: name one app as NAMESPACE/NAME (one per stream; the list subscription takes the list's filters instead)"
                    )));
                }
                app = Some(key.to_string());
            }
            // For clients that cannot set the header (a new EventSource).
            "lastEventId" => last_event_id = Some(value.into_owned()),
            _ => {
                list.append_pair(&name, &value);
            }
        }
    }
    let list = list.finish();
    if app.is_some() && !list.is_empty() {
        return Err(ApiError::bad_request(
            "app=NAMESPACE/NAME streams one app and takes no list filters; open the list stream without app= to filter",
        ));
    }
    Ok(Params {
        app,
        last_event_id,
        list,
    })
}

async fn stream(
    State(state): State<ApiState>,
    Extension(hub): Extension<Hub>,
    caller: Caller,
    parts: Parts,
) -> Result<Response, ApiError> {
    let params = split_params(parts.uri.query().unwrap_or(""))?;
    let view = match &params.app {
        Some(key) => {
            caller.allow(Verb::Read, Some(key))?;
            View::App(AppView {
                key: key.clone(),
                last: None,
            })
        }
        None => {
            caller.allow(Verb::Read, None)?;
            View::List(Box::new(ListView {
                query: ListQuery::parse(&params.list)?,
                counts: Default::default(),
            }))
        }
    };
    let last_event_id = parts
        .headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(params.last_event_id);
    let token = presented(&parts).map(|(t, _)| t).unwrap_or_default();
    let attached = hub.attach(last_event_id.as_deref());
    let tokens = state.tokens.clone();
    let subscriber = Subscriber::start(hub, attached, view, tokens, token, Some(state));
    let events = futures_util::stream::unfold(subscriber, |mut s| async move {
        let event = s.next().await?;
        Some((Ok::<Event, Infallible>(event.into_event()), s))
    });
    let mut response = Sse::new(events).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // nginx and others buffer responses unless told not to.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

enum View {
    List(Box<ListView>),
    App(AppView),
}

struct AppView {
    key: AppKey,
    /// The last payload sent, to send nothing when nothing changed.
    last: Option<String>,
}

/// One client's stream: reads the hub's changes, coalesces them, and yields
/// events.
struct Subscriber {
    hub: Hub,
    changes: broadcast::Receiver<Arc<Change>>,
    view: View,
    /// Per app: as it was before the window, as it is now.
    pending: BTreeMap<AppKey, Span>,
    flush_at: Option<Instant>,
    keepalive_at: Instant,
    /// The last change this subscriber has taken into account.
    seq: u64,
    queued: VecDeque<Out>,
    tokens: TokenStore,
    token: String,
    done: bool,
    /// Whether an event went out yet (the first carries `retry`).
    started: bool,
    /// For the app's resource tree; none in unit tests.
    api: Option<ApiState>,
}

impl Subscriber {
    fn start(
        hub: Hub,
        attached: Attached,
        view: View,
        tokens: TokenStore,
        token: String,
        api: Option<ApiState>,
    ) -> Subscriber {
        let Attached {
            changes,
            seq,
            apps,
            resume,
        } = attached;
        let mut s = Subscriber {
            hub,
            changes,
            view,
            pending: BTreeMap::new(),
            flush_at: None,
            keepalive_at: Instant::now() + KEEPALIVE,
            seq,
            queued: VecDeque::new(),
            tokens,
            token,
            done: false,
            started: false,
            api,
        };
        if let Some(event) = s.first_event(&apps, resume) {
            s.queued.push_back(event);
        }
        s
    }

    fn id(&self) -> String {
        self.hub.event_id(self.seq)
    }

    /// What a new (or resuming) client is sent first.
    fn first_event(&mut self, apps: &[Arc<Seen>], resume: Resume) -> Option<Out> {
        let id = self.id();
        match &mut self.view {
            View::List(list) => {
                let all: Vec<_> = apps.iter().map(|s| s.app.clone()).collect();
                let page = list.query.run(&all);
                list.counts = page.counts.clone();
                match resume {
                    Resume::Replay(changed) => {
                        let batch = list.replay(&changed);
                        (!batch.is_empty()).then(|| {
                            Out::new(
                                "changes",
                                Some(id),
                                list::changes_json(&batch, &list.counts),
                            )
                        })
                    }
                    Resume::Fresh | Resume::TooOld => {
                        let by_key: BTreeMap<String, &Arc<Seen>> = apps
                            .iter()
                            .map(|s| (super::cache::key_of(&s.app), s))
                            .collect();
                        let rows: Vec<Arc<str>> = page
                            .items
                            .iter()
                            .filter_map(|r| by_key.get(&format!("{}/{}", r.namespace, r.name)))
                            .map(|s| s.row.clone())
                            .collect();
                        Some(Out::new("snapshot", Some(id), snapshot_json(&rows, &page)))
                    }
                }
            }
            View::App(view) => {
                let current = |key: &str| {
                    apps.iter()
                        .find(|s| super::cache::key_of(&s.app) == key)
                        .cloned()
                };
                let send = match &resume {
                    Resume::Replay(changed) => changed.iter().any(|(k, _)| *k == view.key),
                    Resume::Fresh | Resume::TooOld => true,
                };
                if send {
                    // Built by the first flush: the tree is read from the cluster.
                    self.pending
                        .insert(view.key.clone(), (None, current(&view.key)));
                    self.flush_at = Some(Instant::now());
                }
                None
            }
        }
    }

    /// The next event, or `None` when the stream ends.
    async fn next(&mut self) -> Option<Out> {
        loop {
            if let Some(event) = self.queued.pop_front() {
                return Some(self.checked(event));
            }
            if self.done {
                return None;
            }
            let flush_at = self.flush_at;
            tokio::select! {
                biased;
                _ = sleep_until(flush_at), if flush_at.is_some() => {
                    self.flush_at = None;
                    if let Some(event) = self.flush().await {
                        return Some(self.checked(event));
                    }
                }
                received = self.changes.recv() => match received {
                    Ok(change) => self.take(change),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        self.done = true;
                        tracing::info!("API stream: a client fell {n} changes behind; dropped it");
                        return Some(close(
                            "lagged",
                            "this client fell too far behind; reconnect with Last-Event-ID to resume",
                        ));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = tokio::time::sleep_until(self.keepalive_at) => {
                    self.keepalive_at = Instant::now() + KEEPALIVE;
                    return Some(self.checked(Out::keepalive()));
                }
            }
        }
    }

    /// Every event goes out only while the token is still valid: a revoked
    /// token's stream ends at its next event or keepalive.
    fn checked(&mut self, mut event: Out) -> Out {
        self.keepalive_at = Instant::now() + KEEPALIVE;
        if !self.started && !event.event.is_empty() {
            self.started = true;
            event.retry = true;
        }
        match self.tokens.verify(&self.token) {
            Ok(_) => event,
            Err(e) => {
                self.done = true;
                self.queued.clear();
                close("unauthenticated", &e.message)
            }
        }
    }

    fn take(&mut self, change: Arc<Change>) {
        self.seq = change.seq;
        let wanted = match &self.view {
            View::List(_) => true,
            View::App(view) => view.key == change.key,
        };
        if !wanted {
            return;
        }
        self.pending
            .entry(change.key.clone())
            .or_insert_with(|| (change.old.clone(), None))
            .1 = change.new.clone();
        if self.flush_at.is_none() {
            self.flush_at = Some(Instant::now() + WINDOW);
        }
    }

    /// The window closed: one event for everything in it, or none when the
    /// subscriber would see no difference.
    async fn flush(&mut self) -> Option<Out> {
        let pending = std::mem::take(&mut self.pending);
        let id = self.id();
        match &mut self.view {
            View::List(list) => {
                let mut batch = Batch::default();
                for (key, span) in &pending {
                    list.fold(key, span, &mut batch);
                }
                (!batch.is_empty()).then(|| {
                    Out::new(
                        "changes",
                        Some(id),
                        list::changes_json(&batch, &list.counts),
                    )
                })
            }
            View::App(view) => {
                let now = pending.get(&view.key)?.1.clone();
                let data = app_json(self.api.as_ref(), &view.key, now.as_deref()).await;
                if view.last.as_deref() == Some(data.as_str()) {
                    return None;
                }
                view.last = Some(data.clone());
                Some(Out::new("app", Some(id), data))
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One thing a stream sends, before it is framed as SSE.
#[derive(Debug, Clone, PartialEq)]
struct Out {
    /// The event type; empty for a comment (the keepalive).
    event: &'static str,
    id: Option<String>,
    data: String,
    /// Tell the browser how long to wait before reconnecting.
    retry: bool,
}

impl Out {
    fn new(event: &'static str, id: Option<String>, data: String) -> Out {
        Out {
            event,
            id,
            data,
            retry: false,
        }
    }

    fn keepalive() -> Out {
        Out::new("", None, "keepalive".into())
    }

    fn into_event(self) -> Event {
        if self.event.is_empty() {
            return Event::default().comment(self.data);
        }
        let mut e = Event::default().event(self.event).data(self.data);
        if let Some(id) = self.id {
            e = e.id(id);
        }
        if self.retry {
            e = e.retry(RETRY);
        }
        e
    }
}

/// The last event of a stream the server ends.
fn close(reason: &str, message: &str) -> Out {
    let data = serde_json::json!({"reason": reason, "message": message});
    Out::new("close", None, data.to_string())
}

/// The `snapshot` event: `GET /api/v1/applications`'s answer for the same
/// query, with the stream's rows.
fn snapshot_json(rows: &[Arc<str>], page: &super::query::ListPage) -> String {
    let meta = super::query::ListMeta {
        continue_: page.next.clone(),
        total: page.total,
        remaining_item_count: page.remaining,
    };
    let mut out = String::from("{\"metadata\":");
    out.push_str(&serde_json::to_string(&meta).unwrap_or_else(|_| "{}".into()));
    out.push_str(",\"items\":[");
    list::join_raw(&mut out, rows);
    out.push_str("],\"counts\":");
    out.push_str(&serde_json::to_string(&page.counts).unwrap_or_else(|_| "{}".into()));
    out.push('}');
    out
}

/// The `app` event: the Application (null when it does not exist) and its
/// resource tree as `GET …/resource-tree` answers it (read from the cluster;
/// `treeError` says why when it could not be).
async fn app_json(api: Option<&ApiState>, key: &str, seen: Option<&Seen>) -> String {
    let Some(s) = seen else {
        return serde_json::json!({"key": key, "application": null, "tree": null}).to_string();
    };
    let (tree, error) = match api {
        Some(api) => match super::objects::build_tree(api, &s.app).await {
            Ok(tree) => (serde_json::to_value(tree).ok(), None),
            Err(e) => (None, Some(e.message)),
        },
        None => (None, None),
    };
    let mut data = serde_json::json!({"key": key, "application": &*s.app, "tree": tree});
    if let Some(e) = error {
        data["treeError"] = e.into();
    }
    data.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::auth::{Role, TokenRecord, hash};
    use tether_model::{Application, ApplicationSpec, Source};

    fn app(name: &str, path: &str) -> Arc<Application> {
        let mut a = Application::new(
            name,
            ApplicationSpec {
                source: Source {
                    repo_url: "https://git.example.com/r.git".into(),
                    path: Some(path.into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        a.metadata.namespace = Some("tether".into());
        Arc::new(a)
    }

    fn tokens() -> TokenStore {
        TokenStore::fixed([(
            "viewer".to_string(),
            TokenRecord {
                role: Role::Readonly,
                sha256: hash("tether_t"),
                created_at: "2026-01-01T00:00:00Z".into(),
                expires_at: None,
            },
        )])
    }

    fn list_subscriber(hub: &Hub, token: &str) -> Subscriber {
        let view = View::List(Box::new(ListView {
            query: ListQuery::default(),
            counts: Default::default(),
        }));
        Subscriber::start(
            hub.clone(),
            hub.attach(None),
            view,
            tokens(),
            token.into(),
            None,
        )
    }

    async fn next_within(sub: &mut Subscriber, ms: u64) -> Option<Out> {
        tokio::time::timeout(Duration::from_millis(ms), sub.next())
            .await
            .ok()
            .flatten()
    }

    #[tokio::test]
    async fn a_burst_is_one_event_and_an_unchanged_row_is_none() {
        let hub = Hub::new();
        hub.publish("tether/a".into(), Some(app("a", "1")));
        let mut sub = list_subscriber(&hub, "tether_t");
        let first = next_within(&mut sub, 1000).await.expect("snapshot");
        assert_eq!(first.event, "snapshot");
        assert!(first.retry);
        assert_eq!(first.id, Some(hub.event_id(1)));

        for path in ["2", "3", "4"] {
            hub.publish("tether/a".into(), Some(app("a", path)));
        }
        hub.publish("tether/b".into(), Some(app("b", "1")));
        let e = next_within(&mut sub, 1000).await.expect("one event");
        assert_eq!(e.event, "changes");
        assert_eq!(e.id, Some(hub.event_id(5)));
        let body: serde_json::Value = serde_json::from_str(&e.data).unwrap();
        let rows = body["upserted"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "each app once: {body}");
        assert_eq!(rows[0]["path"], "4", "as it is at the end: {body}");
        assert_eq!(body["counts"]["total"], 2);

        // A new object with the same row: nothing the subscriber sees changed.
        hub.publish("tether/a".into(), Some(app("a", "4")));
        assert_eq!(next_within(&mut sub, 400).await, None);
    }

    #[tokio::test]
    async fn a_slow_client_is_dropped_and_never_holds_the_hub_up() {
        let hub = Hub::new();
        let mut slow = list_subscriber(&hub, "tether_t");
        // It reads nothing while more changes than its buffer arrive; the
        // hub goes on publishing without waiting for it.
        for i in 0..hub::CLIENT_BUFFER + 10 {
            assert!(hub.publish(format!("tether/app{i}"), Some(app("x", "1"))));
        }
        assert_eq!(
            next_within(&mut slow, 1000).await.unwrap().event,
            "snapshot"
        );
        let last = next_within(&mut slow, 1000).await.expect("told why");
        assert_eq!(last.event, "close");
        assert!(last.data.contains("lagged"), "{}", last.data);
        assert_eq!(next_within(&mut slow, 1000).await, None, "and dropped");
        // A client that resumes catches up from the ring.
        let resumed = hub.attach(Some(&hub.event_id(1)));
        assert!(
            matches!(resumed.resume, Resume::Replay(ref v) if v.len() == hub::CLIENT_BUFFER + 9)
        );
    }

    #[tokio::test]
    async fn a_token_no_longer_valid_ends_the_stream() {
        let hub = Hub::new();
        let mut sub = list_subscriber(&hub, "tether_revoked");
        let e = next_within(&mut sub, 1000).await.unwrap();
        assert_eq!(e.event, "close");
        assert!(e.data.contains("unauthenticated"), "{}", e.data);
        assert_eq!(next_within(&mut sub, 1000).await, None);
    }

    #[test]
    fn the_stream_parameters_are_split_from_the_lists() {
        let p = split_params("sync=OutOfSync&lastEventId=ab-3&label=team%3Dweb").unwrap();
        assert_eq!(p.app, None);
        assert_eq!(p.last_event_id.as_deref(), Some("ab-3"));
        assert_eq!(p.list, "sync=OutOfSync&label=team%3Dweb");
        let p = split_params("app=tether%2Fweb").unwrap();
        assert_eq!(p.app.as_deref(), Some("tether/web"));
        for bad in [
            "app=web",
            "app=/web",
            "app=a/b/c",
            "app=a/b&app=a/c",
            "app=a/b&sync=Synced",
        ] {
            let e = split_params(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            assert_eq!(e.code, "BadRequest", "{bad}");
        }
    }
}
