//! Delivery: one task per Notifier takes its queue in order, sends each
//! message, retries with exponential backoff, and records every outcome in the
//! audit log, the metrics and the Notifier's status. Secrets are read from the
//! Kubernetes Secret at each attempt (a rotated token is used at once) and are
//! scrubbed from every message shown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use serde_json::json;
use tether_audit::{AuditLog, EventKind, NewRecord};
use tether_engine::report::Fact;
use tether_model::Notifier;
use tether_model::notifier::DeliveryRecord;

use super::filter::AppInfo;
use super::metrics::{self, Result as Counted};
use super::payload::{self, Context, Secrets};

/// Timing and sizes; the defaults suit production, tests shorten the waits.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where cluster-wide Notifiers live (the agent's own namespace).
    pub agent_namespace: String,
    /// This cluster's name, for audit records.
    pub cluster_name: String,
    /// Messages waiting per Notifier; past it the oldest is dropped.
    pub queue_capacity: usize,
    /// The first retry's wait; each next one doubles, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// A message still failing this long after its first attempt is given up.
    pub give_up_after: Duration,
    /// One attempt's time limit (connect, send, answer).
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            agent_namespace: "tether".into(),
            cluster_name: "in-cluster".into(),
            queue_capacity: 1000,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            give_up_after: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
        }
    }
}

/// How long to wait after failed attempt number `attempt` (1-based).
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
    base.saturating_mul(factor).min(max)
}

/// One message for one Notifier.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// Stable across retries (the webhook's `X-Tether-Delivery`).
    pub id: String,
    pub app: AppInfo,
    pub fact: Fact,
}

/// An attempt that did not deliver.
struct Failure {
    message: String,
    retry: bool,
}

/// What the delivery tasks share.
pub struct Deliverer {
    pub options: Options,
    pub store: Store<Notifier>,
    pub client: Client,
    pub http: reqwest::Client,
    pub audit: Option<Arc<AuditLog>>,
    /// When each Notifier's status was last written after a success.
    pub written: std::sync::Mutex<std::collections::HashMap<String, Instant>>,
}

/// A burst of successes writes the status at most this often (the last of the
/// burst always writes, so the status ends true).
const STATUS_EVERY: Duration = Duration::from_secs(1);

impl Deliverer {
    fn notifier(&self, key: &str) -> Option<Arc<Notifier>> {
        let (ns, name) = key.split_once('/')?;
        self.store
            .get(&kube::runtime::reflector::ObjectRef::new(name).within(ns))
    }

    /// Deliver one message, retrying until it is delivered, refused for good, or
    /// too old. Returns when done.
    /// `more_waiting` says whether other messages wait behind this one.
    pub async fn deliver(&self, key: &str, d: Delivery, more_waiting: impl Fn() -> bool) {
        let first = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let Some(n) = self.notifier(key) else {
                tracing::info!(notifier = %key, app = %d.app.key(), event = d.fact.kind.name(), "notifier gone; message dropped");
                metrics::count(key, Counted::Dropped);
                return;
            };
            if n.spec.suspend {
                metrics::count(key, Counted::Dropped);
                return;
            }
            match self.attempt(key, &n, &d).await {
                Ok(code) => {
                    metrics::count(key, Counted::Delivered);
                    tracing::info!(notifier = %key, app = %d.app.key(), event = d.fact.kind.name(), attempt, "notification delivered");
                    self.audit(
                        key,
                        &n,
                        &d,
                        tether_audit::SUCCEEDED,
                        format!(
                            "{} sent to {} ({}), attempt {attempt}",
                            d.fact.kind.name(),
                            n.spec.target.as_str(),
                            code
                        ),
                    )
                    .await;
                    // Successes in a burst: not one status write each (the API
                    // server's load), but the last one always.
                    let now = Instant::now();
                    let due = {
                        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
                        let recent = written
                            .get(key)
                            .is_some_and(|t| now.duration_since(*t) < STATUS_EVERY);
                        let failing = n.status.as_ref().is_some_and(|s| {
                            s.conditions
                                .iter()
                                .any(|c| c.type_ == "Ready" && c.status != "True")
                        });
                        let due = failing || !recent || !more_waiting();
                        if due {
                            written.insert(key.to_string(), now);
                        }
                        due
                    };
                    if due {
                        self.write_status(&n, &d, None).await;
                    }
                    return;
                }
                Err(f) => {
                    let wait = backoff(attempt, self.options.retry_base, self.options.retry_max);
                    let give_up = !f.retry || first.elapsed() + wait > self.options.give_up_after;
                    let text = if give_up {
                        metrics::count(key, Counted::Failed);
                        format!(
                            "{} to {}: given up after attempt {attempt}: {}",
                            d.fact.kind.name(),
                            n.spec.target.as_str(),
                            f.message
                        )
                    } else {
                        metrics::count(key, Counted::Retry);
                        format!(
                            "{} to {}: attempt {attempt} failed: {}; retrying in {}s",
                            d.fact.kind.name(),
                            n.spec.target.as_str(),
                            f.message,
                            wait.as_secs_f64()
                        )
                    };
                    tracing::warn!(notifier = %key, app = %d.app.key(), "{text}");
                    self.audit(key, &n, &d, tether_audit::FAILED, text).await;
                    // The status says the target is failing from the first failed attempt.
                    self.write_status(&n, &d, Some(&f.message)).await;
                    if give_up {
                        return;
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One attempt: read the Secret, build the request, send it.
    async fn attempt(&self, key: &str, n: &Notifier, d: &Delivery) -> Result<String, Failure> {
        let secrets = self.secrets(n).await?;
        let scrub = |text: String| payload::redact(&text, &secrets.values());
        let out = payload::build(&Context {
            notifier: key,
            spec: &n.spec,
            secrets: &secrets,
            app: &d.app,
            fact: &d.fact,
            delivery_id: &d.id,
        })
        .map_err(|message| Failure {
            message: scrub(message),
            retry: false,
        })?;
        let mut req = self.http.post(&out.url).timeout(self.options.timeout);
        for (k, v) in &out.headers {
            req = req.header(k, v);
        }
        let resp = req.body(out.body).send().await.map_err(|e| Failure {
            // Without the URL: it may be the secret (a Slack hook).
            message: scrub(describe(&e.without_url())),
            retry: true,
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(format!("HTTP {}", status.as_u16()));
        }
        let body = resp.text().await.unwrap_or_default();
        let body: String = body.chars().take(200).collect();
        let retry = status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429;
        Err(Failure {
            message: scrub(format!(
                "HTTP {}{}",
                status.as_u16(),
                if body.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", body.trim())
                }
            )),
            retry,
        })
    }

    async fn secrets(&self, n: &Notifier) -> Result<Secrets, Failure> {
        let Some(name) = &n.spec.secret_ref else {
            return Ok(Secrets::default());
        };
        let ns = n.namespace().unwrap_or_default();
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &ns);
        let secret = api.get_opt(name).await.map_err(|e| Failure {
            message: format!("reading Secret {ns}/{name}: {e}"),
            retry: true,
        })?;
        // A missing Secret may be on its way (applied from the same commit): retry.
        let secret = secret.ok_or_else(|| Failure {
            message: format!("Secret {ns}/{name} not found"),
            retry: true,
        })?;
        let read = |k: &str| {
            secret
                .data
                .as_ref()
                .and_then(|d| d.get(k))
                .and_then(|v| String::from_utf8(v.0.clone()).ok())
                .or_else(|| secret.string_data.as_ref().and_then(|d| d.get(k).cloned()))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Ok(Secrets {
            address: read("address"),
            token: read("token"),
        })
    }

    async fn audit(&self, key: &str, n: &Notifier, d: &Delivery, outcome: &str, message: String) {
        let Some(log) = self.audit.clone() else {
            return;
        };
        let rec = NewRecord {
            time: jiff::Timestamp::now(),
            cluster: self.options.cluster_name.clone(),
            app: d.app.key(),
            kind: EventKind::Notification,
            actor: format!("notifier:{key}"),
            revision: d.fact.commit.as_ref().map(|c| c.revision.clone()),
            commit_author: d.fact.commit.as_ref().map(|c| c.author.clone()),
            commit_message: d.fact.commit.as_ref().map(|c| c.message.clone()),
            object: None,
            outcome: outcome.to_string(),
            message,
            details: Some(json!({
                "notifier": key,
                "target": n.spec.target.as_str(),
                "event": d.fact.kind.name(),
                "delivery": d.id,
            })),
        };
        write_audit(log, rec).await;
    }

    /// The Notifier's status after an attempt: Ready, and the last success or failure.
    async fn write_status(&self, n: &Notifier, d: &Delivery, failure: Option<&str>) {
        let key = format!("{}/{}", n.namespace().unwrap_or_default(), n.name_any());
        let now = jiff::Timestamp::now().to_string();
        let record = DeliveryRecord {
            time: now.clone(),
            app: d.app.key(),
            event: d.fact.kind.name().to_string(),
            revision: d
                .fact
                .commit
                .as_ref()
                .map(|c| c.revision.clone())
                .unwrap_or_default(),
            message: failure.unwrap_or_default().to_string(),
        };
        let (ready, reason, message) = match failure {
            None => (
                "True",
                "Delivered",
                format!("delivered {} for {}", record.event, record.app),
            ),
            Some(m) => (
                "False",
                "DeliveryFailed",
                format!("{} for {}: {m}", record.event, record.app),
            ),
        };
        let counts: serde_json::Map<String, serde_json::Value> = [
            Counted::Delivered,
            Counted::Retry,
            Counted::Failed,
            Counted::Dropped,
        ]
        .into_iter()
        .map(|r| (r.as_str().to_string(), json!(metrics::value(&key, r))))
        .collect();
        let mut status = json!({
            "observedGeneration": n.metadata.generation,
            "conditions": [ready_condition(n, ready, reason, &message, &now)],
            "counts": counts,
        });
        let field = if failure.is_some() {
            "lastFailure"
        } else {
            "lastSuccess"
        };
        status[field] = serde_json::to_value(&record).unwrap_or_default();
        patch_status(&self.client, n, status).await;
    }
}

/// The Ready condition, keeping its transition time while the status holds.
pub fn ready_condition(
    n: &Notifier,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
) -> serde_json::Value {
    let since = n
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .filter(|c| c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.to_string());
    json!({
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": tether_model::text::one_line(message),
        "lastTransitionTime": since,
        "observedGeneration": n.metadata.generation,
    })
}

pub async fn patch_status(client: &Client, n: &Notifier, status: serde_json::Value) {
    let ns = n.namespace().unwrap_or_default();
    let api: Api<Notifier> = Api::namespaced(client.clone(), &ns);
    if let Err(e) = api
        .patch_status(
            &n.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
    {
        tracing::debug!(notifier = %format!("{ns}/{}", n.name_any()), "cannot write the status: {e}");
    }
}

/// Audit writes block on disk: on the blocking pool, and a failure only logged.
pub async fn write_audit(log: Arc<AuditLog>, rec: NewRecord) {
    match tokio::task::spawn_blocking(move || log.append(&rec)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!("audit log: notification: {e}"),
        Err(e) => tracing::warn!("audit log: notification: {e}"),
    }
}

/// An HTTP error with its causes (connection refused, timed out), no URL.
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The client for outgoing notifications: the system's trust roots, no
/// redirects (a redirect must not carry a token to another host), a user agent.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tether/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Duration::from_secs(1);
        let m = Duration::from_secs(300);
        assert_eq!(backoff(1, b, m), Duration::from_secs(1));
        assert_eq!(backoff(2, b, m), Duration::from_secs(2));
        assert_eq!(backoff(5, b, m), Duration::from_secs(16));
        assert_eq!(backoff(20, b, m), m);
        assert_eq!(backoff(u32::MAX, b, m), m);
    }

    #[test]
    fn the_client_builds() {
        assert!(http_client(Duration::from_secs(1)).is_ok());
    }
}
