//! Notifications: a sink of the engine's facts that delivers them to the
//! targets users declare in Git as `Notifier` resources (tether.dev/v1alpha1).
//!
//! ```text
//! Engine ─ facts ─▶ NotifySink::accept (dedup, match, enqueue: returns at once)
//!                        │ one bounded queue per Notifier
//!                        ▼
//!                   a task per Notifier: Secret → payload → POST, backoff,
//!                   audit log, tether_notifications_total, Notifier status
//! ```
//!
//! - [`filter`]: which Notifiers apply to an app and which facts they want
//!   ([`matching`] is what `tether app get` and the API show). Pure.
//! - [`dedup`]: once per app, event and revision. Pure.
//! - [`payload`]: the request shapes of each target, signing, redaction. Pure.
//! - [`queue`]: the bounded per-Notifier queue.
//! - [`deliver`]: sending, retries, audit, status.
//! - [`metrics`]: the counters, and [`register`] for `/metrics`.

pub mod dedup;
pub mod deliver;
pub mod filter;
pub mod metrics;
pub mod payload;
pub mod queue;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tether_audit::AuditLog;
use tether_engine::report::{Fact, Sink, Timings};
use tether_model::{Application, Notifier};

pub use deliver::Options;
pub use filter::{AppInfo, matching};
pub use metrics::register;

use deliver::{Deliverer, Delivery};
use queue::Lane;

/// Apps × event families remembered for deduplication.
const DEDUP_CAPACITY: usize = 100_000;

/// Notifications for one agent term (the leader's): the sink to hand the
/// engine, and the tasks that deliver. Dropping it stops the tasks; what was
/// still queued is lost (the next leader starts afresh).
pub struct Notifications {
    shared: Arc<Shared>,
    writer: Option<reflector::store::Writer<Notifier>>,
}

struct Shared {
    options: Options,
    client: Client,
    store: Store<Notifier>,
    lanes: Mutex<HashMap<String, Arc<Lane<Delivery>>>>,
    dedup: Mutex<dedup::Dedup>,
    /// Set by [`Notifications::start`]; until then facts find no Notifier.
    deliverer: Mutex<Option<Arc<Deliverer>>>,
    runtime: tokio::runtime::Handle,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Notifications {
    /// Call within the runtime. Nothing is watched or sent before [`Notifications::start`].
    pub fn new(client: Client, options: Options) -> Notifications {
        let (store, writer) = reflector::store();
        Notifications {
            shared: Arc::new(Shared {
                options,
                client,
                store,
                lanes: Mutex::new(HashMap::new()),
                dedup: Mutex::new(dedup::Dedup::new(DEDUP_CAPACITY)),
                deliverer: Mutex::new(None),
                runtime: tokio::runtime::Handle::current(),
                tasks: Mutex::new(Vec::new()),
            }),
            writer: Some(writer),
        }
    }

    /// The sink for `AgentConfig.sinks`.
    pub fn sink(&self) -> Arc<dyn Sink> {
        Arc::new(NotifySink {
            shared: self.shared.clone(),
        })
    }

    /// Watch the Notifiers (all namespaces), validate each new spec into its status,
    /// and start delivering. Waits (up to 10 s) for the first list, so the first
    /// reconciles already see the Notifiers. `audit` is the agent's audit log.
    pub async fn start(&mut self, audit: Option<Arc<AuditLog>>) -> Result<(), String> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let http = deliver::http_client(self.shared.options.timeout)?;
        let shared = self.shared.clone();
        *shared.deliverer.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(Deliverer {
            options: shared.options.clone(),
            store: shared.store.clone(),
            client: shared.client.clone(),
            http,
            audit,
            written: Default::default(),
        }));
        let api: Api<Notifier> = Api::all(shared.client.clone());
        let client = shared.client.clone();
        let watch = tokio::spawn(async move {
            let stream = reflector::reflector(
                writer,
                watcher::watcher(api, watcher::Config::default()).default_backoff(),
            )
            .applied_objects();
            futures_util::pin_mut!(stream);
            while let Some(item) = stream.next().await {
                match item {
                    Ok(n) => validate_into_status(&client, &n).await,
                    Err(e) => tracing::debug!("watching Notifiers: {e}"),
                }
            }
        });
        self.shared
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(watch.abort_handle());
        if tokio::time::timeout(
            Duration::from_secs(10),
            self.shared.store.wait_until_ready(),
        )
        .await
        .is_err()
        {
            tracing::warn!("the Notifier list is slow to arrive; notifications start without it");
        }
        Ok(())
    }

    /// The Notifiers currently known (for the API).
    pub fn notifiers(&self) -> Vec<Arc<Notifier>> {
        self.shared.store.state()
    }
}

impl Drop for Notifications {
    fn drop(&mut self) {
        for t in self
            .shared
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

/// A new or changed spec: say in its status whether it can work.
async fn validate_into_status(client: &Client, n: &Notifier) {
    let seen = n.status.as_ref().and_then(|s| s.observed_generation);
    if seen.is_some() && seen == n.metadata.generation {
        return;
    }
    let now = jiff::Timestamp::now().to_string();
    let condition = match filter::validate(&n.spec) {
        Ok(()) => {
            deliver::ready_condition(n, "True", "Accepted", "waiting for the first event", &now)
        }
        Err(e) => {
            tracing::warn!(notifier = %format!("{}/{}", n.namespace().unwrap_or_default(), n.name_any()), "invalid: {e}");
            deliver::ready_condition(n, "False", "InvalidSpec", &e, &now)
        }
    };
    deliver::patch_status(
        client,
        n,
        serde_json::json!({
            "observedGeneration": n.metadata.generation,
            "conditions": [condition],
        }),
    )
    .await;
}

/// The engine's side: dedup, match, enqueue. Never waits on I/O.
struct NotifySink {
    shared: Arc<Shared>,
}

impl Sink for NotifySink {
    fn name(&self) -> &'static str {
        "notifications"
    }

    fn accept(&self, app: &Application, _timings: &Timings, facts: &[Fact]) {
        self.shared
            .dedup
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .settle(
                &app.metadata.namespace.clone().unwrap_or_default(),
                &app.metadata.name.clone().unwrap_or_default(),
                facts,
            );
        if facts.is_empty() {
            return;
        }
        let Some(deliverer) = self
            .shared
            .deliverer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        else {
            return;
        };
        let fresh: Vec<&Fact> = {
            let mut dedup = self.shared.dedup.lock().unwrap_or_else(|e| e.into_inner());
            facts.iter().filter(|f| dedup.fresh(f)).collect()
        };
        if fresh.is_empty() {
            return;
        }
        let info = AppInfo::of(app);
        let notifiers = self.shared.store.state();
        let global = &self.shared.options.agent_namespace;
        for n in notifiers
            .iter()
            .filter(|n| filter::applies(n, &info, global))
        {
            let key = format!("{}/{}", n.namespace().unwrap_or_default(), n.name_any());
            for fact in fresh.iter().filter(|f| filter::wants(&n.spec, f)) {
                let d = Delivery {
                    id: uuid::Uuid::new_v4().to_string(),
                    app: info.clone(),
                    fact: (*fact).clone(),
                };
                self.shared.enqueue(&deliverer, &key, d);
            }
        }
    }
}

impl Shared {
    fn enqueue(&self, deliverer: &Arc<Deliverer>, key: &str, d: Delivery) {
        let lane = {
            let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
            lanes
                .entry(key.to_string())
                .or_insert_with(|| {
                    let lane = Arc::new(Lane::new(self.options.queue_capacity));
                    let (l, dl, k) = (lane.clone(), deliverer.clone(), key.to_string());
                    let task = self.runtime.spawn(async move {
                        loop {
                            let d = l.pop().await;
                            dl.deliver(&k, d, || !l.is_empty()).await;
                        }
                    });
                    self.tasks
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(task.abort_handle());
                    lane
                })
                .clone()
        };
        if let Some(dropped) = lane.push(d) {
            metrics::count(key, metrics::Result::Dropped);
            tracing::warn!(notifier = %key, app = %dropped.app.key(), event = dropped.fact.kind.name(),
                "notification queue full ({}); the oldest waiting message dropped", self.options.queue_capacity);
            if let Some(log) = deliverer.audit.clone() {
                let rec = tether_audit::NewRecord {
                    time: jiff::Timestamp::now(),
                    cluster: self.options.cluster_name.clone(),
                    app: dropped.app.key(),
                    kind: tether_audit::EventKind::Notification,
                    actor: format!("notifier:{key}"),
                    revision: dropped.fact.commit.as_ref().map(|c| c.revision.clone()),
                    commit_author: None,
                    commit_message: None,
                    object: None,
                    outcome: "dropped".into(),
                    message: format!(
                        "{}: dropped, the queue was full ({} waiting)",
                        dropped.fact.kind.name(),
                        self.options.queue_capacity
                    ),
                    details: Some(
                        serde_json::json!({"notifier": key, "event": dropped.fact.kind.name(), "delivery": dropped.id}),
                    ),
                };
                self.runtime.spawn(deliver::write_audit(log, rec));
            }
        }
    }
}
