//! `/api/webhook/{github|gitlab|gitea|bitbucket|generic}`: a verified push is a hint to
//! poll that repository now, never an instruction.
//!
//! A request is checked in this order, and the first failure answers:
//! 1. the host is one of the five (404);
//! 2. the body is at most [`MAX_BODY`] (413);
//! 3. the signature, as that host signs, against the host's key in the Secret
//!    [`SECRET_NAME`] in the agent's namespace (401, and an audit record);
//! 4. the body is a push (or ping) in the host's published shape (400);
//! 5. some Application reads the repository (202 and nothing happens if none does).
//!
//! Then the repository's fetchers poll on their next resolve and the apps whose revision
//! follows a pushed ref reconcile now: through the agent when this replica runs it, or,
//! on a standby, by writing the refresh annotation on the automated ones, which the
//! leader then reconciles. Nothing from the payload but "this repository moved" is used:
//! the commit deployed is whatever the poll finds.

mod matching;
mod payload;
pub(crate) mod repo_url;
mod verify;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde_json::json;
use tether_model::Application;

pub use matching::{AppSource, Matched, follows, matching};
pub use payload::{Event, Malformed, Push, parse};
pub use repo_url::normalise;
pub use verify::{Refused, sign, verify};

use crate::ServerContext;

/// The Secret, in the agent's namespace, holding one key per host.
pub const SECRET_NAME: &str = "tether-webhook";
/// The largest body read; larger ones get 413 before they are read whole.
pub const MAX_BODY: usize = 1 << 20;
/// Refused requests written to the audit log per minute; more are only counted, so a
/// flood of forgeries cannot fill the disk.
const AUDITS_PER_MINUTE: u32 = 60;

/// A Git host, as it signs and shapes its webhooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    GitHub,
    GitLab,
    Gitea,
    Bitbucket,
    Generic,
}

impl Host {
    pub const ALL: [Host; 5] = [
        Host::GitHub,
        Host::GitLab,
        Host::Gitea,
        Host::Bitbucket,
        Host::Generic,
    ];

    /// The path segment, the Secret's key and the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Host::GitHub => "github",
            Host::GitLab => "gitlab",
            Host::Gitea => "gitea",
            Host::Bitbucket => "bitbucket",
            Host::Generic => "generic",
        }
    }

    pub fn parse(text: &str) -> Option<Host> {
        Host::ALL.into_iter().find(|h| h.as_str() == text)
    }
}

type Labels = Vec<(&'static str, String)>;

struct Receiver {
    ctx: ServerContext,
    /// `tether_webhook_requests_total{host,result}`.
    requests: Family<Labels, Counter>,
    /// Opened on the first refusal, on a blocking thread (SQLite opens and writes block).
    audit: Arc<OnceLock<Option<Arc<tether_audit::AuditLog>>>>,
    /// (start of the current minute, refusals audited in it).
    audited: Mutex<(Instant, u32)>,
    /// The webhook Secret's data as last read, and when: a flood of forged requests
    /// costs the API server at most one read per [`SECRET_TTL`].
    secret: tokio::sync::Mutex<Option<(Instant, SecretData)>>,
}

/// The webhook Secret's keys and values; `None` when the Secret does not exist.
type SecretData = Option<std::collections::BTreeMap<String, Vec<u8>>>;

/// How long a read of the webhook Secret is reused; a rotated secret takes effect
/// within this.
const SECRET_TTL: Duration = Duration::from_secs(5);

pub fn routes(ctx: &ServerContext) -> axum::Router {
    let requests = Family::<Labels, Counter>::default();
    ctx.metrics.register(|r| {
        r.register(
            "tether_webhook_requests",
            "Git webhook requests by host and result (accepted, ignored, unknown_repo, unauthorized, too_large, malformed, unavailable)",
            requests.clone(),
        )
    });
    let receiver = Arc::new(Receiver {
        ctx: ctx.clone(),
        requests,
        audit: Arc::default(),
        audited: Mutex::new((Instant::now(), 0)),
        secret: Default::default(),
    });
    axum::Router::new()
        .route("/api/webhook/{host}", post(receive))
        .with_state(receiver)
}

/// What a request came to: the status, the metrics label and the JSON answer.
struct Answer {
    status: StatusCode,
    result: &'static str,
    body: serde_json::Value,
}

impl Answer {
    fn error(status: StatusCode, result: &'static str, code: &str, message: String) -> Answer {
        Answer {
            status,
            result,
            body: json!({"code": code, "message": message}),
        }
    }
}

async fn receive(
    State(rx): State<Arc<Receiver>>,
    Path(host): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(host) = Host::parse(&host) else {
        rx.count("unknown", "not_found");
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"code": "UnknownHost", "message": format!(
                "no webhook receiver for {host:?}; use one of github, gitlab, gitea, bitbucket, generic")})),
        )
            .into_response();
    };
    let answer = rx.handle(host, &headers, body).await;
    rx.count(host.as_str(), answer.result);
    (answer.status, Json(answer.body)).into_response()
}

impl Receiver {
    fn count(&self, host: &str, result: &str) {
        self.requests
            .get_or_create(&vec![
                ("host", host.to_owned()),
                ("result", result.to_owned()),
            ])
            .inc();
    }

    async fn handle(&self, host: Host, headers: &HeaderMap, body: Body) -> Answer {
        let too_large = || {
            Answer::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "PayloadTooLarge",
                format!("webhook bodies are limited to {MAX_BODY} bytes"),
            )
        };
        let declared = headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY as u64) {
            return too_large();
        }
        let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
            return too_large();
        };
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());

        let secret = match self.secret(host).await {
            Ok(Some(secret)) => secret,
            Ok(None) => {
                let why = format!(
                    "no secret for {h} webhooks: set key {h} of Secret {SECRET_NAME} in namespace {ns}",
                    h = host.as_str(),
                    ns = self.ctx.namespace
                );
                self.audit_refusal(host, &why).await;
                return Answer::error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "Unauthorized",
                    why,
                );
            }
            Err(e) => {
                tracing::warn!(
                    host = host.as_str(),
                    "webhook: cannot read Secret {SECRET_NAME}: {e}"
                );
                return Answer::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Unavailable",
                    "cannot read the webhook secret from the cluster; the host will retry".into(),
                );
            }
        };
        if let Err(refused) = verify(host, header, &body, &secret) {
            let why = format!("refused a {} webhook: {refused}", host.as_str());
            self.audit_refusal(host, &why).await;
            return Answer::error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                why,
            );
        }
        let push = match parse(host, header, &body) {
            Ok(Event::Push(push)) => push,
            Ok(Event::Ping) => {
                return Answer {
                    status: StatusCode::OK,
                    result: "ignored",
                    body: json!({"message": "pong"}),
                };
            }
            Ok(Event::Other(event)) => {
                return Answer {
                    status: StatusCode::ACCEPTED,
                    result: "ignored",
                    body: json!({"message": format!("{event:?} events are not used; only pushes")}),
                };
            }
            Err(e) => {
                return Answer::error(
                    StatusCode::BAD_REQUEST,
                    "malformed",
                    "MalformedPayload",
                    e.to_string(),
                );
            }
        };
        self.wake(host, push).await
    }

    /// The host's key of the webhook Secret; `None` when the Secret or the key is missing.
    async fn secret(&self, host: Host) -> Result<Option<Vec<u8>>, kube::Error> {
        let mut cached = self.secret.lock().await;
        let fresh = cached
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < SECRET_TTL);
        if !fresh {
            let api: Api<Secret> =
                Api::namespaced(self.ctx.cluster.client().clone(), &self.ctx.namespace);
            let data = api.get_opt(SECRET_NAME).await?.map(|s| {
                s.data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect()
            });
            *cached = Some((Instant::now(), data));
        }
        Ok(cached
            .as_ref()
            .and_then(|(_, data)| data.as_ref())
            .and_then(|d| d.get(host.as_str()))
            .filter(|b| !b.is_empty())
            .cloned())
    }

    async fn wake(&self, host: Host, push: Push) -> Answer {
        // From the server's watch of the Applications: a push never costs a list.
        let cache = self.ctx.apps();
        // Just started: the first list takes a moment.
        if !cache.wait_ready(Duration::from_secs(10)).await {
            return Answer::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Unavailable",
                "the Applications are still being listed; the host will retry".into(),
            );
        }
        let all = cache.snapshot();
        let sources: Vec<AppSource> = all
            .iter()
            .map(|a| AppSource {
                key: app_key(a),
                repo_url: a.spec.source.repo_url.clone(),
                revision: a.spec.source.revision.clone(),
            })
            .collect();
        let matched = matching(&push, &sources);
        let repository = push.urls.first().cloned().unwrap_or_default();
        if !matched.repo_known {
            return Answer {
                status: StatusCode::ACCEPTED,
                result: "unknown_repo",
                body: json!({"message": "no Application reads this repository; nothing to do",
                    "repository": repository}),
            };
        }
        let apps: Vec<String> = matched.apps().cloned().collect();
        if apps.is_empty() {
            return Answer {
                status: StatusCode::ACCEPTED,
                result: "ignored",
                body: json!({"message": "no Application follows the pushed refs",
                    "repository": repository, "refs": push.refs}),
            };
        }
        let via = if self.wake_agent(&matched) {
            "agent"
        } else {
            // A standby: the leader reconciles what the annotation asks for. Only automated
            // apps: on a manual one the annotation would be a sync, and a push only refreshes.
            let automated: Vec<&Application> = all
                .iter()
                .filter(|a| apps.contains(&app_key(a)))
                .filter(|a| {
                    a.spec
                        .sync_policy
                        .as_ref()
                        .is_some_and(|p| p.automated.is_some())
                })
                .map(|a| a.as_ref())
                .collect();
            self.annotate(host, &automated).await;
            "annotation"
        };
        tracing::info!(host = host.as_str(), repository = %repository, apps = apps.len(), via, "webhook: push accepted");
        Answer {
            status: StatusCode::OK,
            result: "accepted",
            body: json!({"repository": repository, "refs": push.refs, "apps": apps, "via": via}),
        }
    }

    fn wake_agent(&self, matched: &Matched) -> bool {
        let mut all = true;
        for (url, apps) in &matched.by_url {
            all &= self.ctx.agent.wake(tether_engine::wake::Wake {
                repo_url: url.clone(),
                apps: apps.clone(),
            });
        }
        all
    }
}

impl Receiver {
    /// Ask the leader to refresh `apps`, as `tether app sync` does, naming the webhook as
    /// who asked. Failures are logged: the next poll still finds the commit.
    async fn annotate(&self, host: Host, apps: &[&Application]) {
        let value = format!(
            "webhook-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        let patch = json!({"metadata": {"annotations": {
            tether_model::REFRESH_ANNOTATION: value,
            tether_model::REFRESH_BY_ANNOTATION: format!("webhook:{}", host.as_str()),
        }}});
        for app in apps {
            let (Some(ns), Some(name)) = (&app.metadata.namespace, &app.metadata.name) else {
                continue;
            };
            let api: Api<Application> = Api::namespaced(self.ctx.cluster.client().clone(), ns);
            if let Err(e) = api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                tracing::warn!(app = %format!("{ns}/{name}"), "webhook: cannot request a refresh: {e}");
            }
        }
    }

    /// An audit record for a refused request, at most [`AUDITS_PER_MINUTE`] a minute.
    async fn audit_refusal(&self, host: Host, why: &str) {
        tracing::warn!(host = host.as_str(), "{why}");
        {
            let mut g = self.audited.lock().unwrap_or_else(|e| e.into_inner());
            if g.0.elapsed() >= Duration::from_secs(60) {
                *g = (Instant::now(), 0);
            }
            if g.1 >= AUDITS_PER_MINUTE {
                return;
            }
            g.1 += 1;
        }
        let (audit, dir) = (self.audit.clone(), self.ctx.state_dir.clone());
        let record = tether_audit::NewRecord {
            time: jiff::Timestamp::now(),
            cluster: String::new(),
            app: String::new(),
            kind: tether_audit::EventKind::Error,
            actor: format!("webhook:{}", host.as_str()),
            revision: None,
            commit_author: None,
            commit_message: None,
            object: None,
            outcome: tether_audit::FAILED.to_owned(),
            message: why.to_owned(),
            details: Some(json!({"reason": "WebhookRefused", "host": host.as_str()})),
        };
        let appended = tokio::task::spawn_blocking(move || {
            let log = audit.get_or_init(|| match tether_audit::AuditLog::open_appender(&dir) {
                Ok(log) => Some(Arc::new(log)),
                Err(e) => {
                    tracing::warn!("webhook: cannot open the audit log: {e}");
                    None
                }
            });
            log.as_ref().map(|log| log.append(&record))
        })
        .await;
        if let Ok(Some(Err(e))) = appended {
            tracing::warn!("webhook: cannot write the audit record: {e}");
        }
    }
}

fn app_key(a: &Application) -> String {
    format!(
        "{}/{}",
        a.metadata.namespace.as_deref().unwrap_or_default(),
        a.metadata.name.as_deref().unwrap_or_default()
    )
}
