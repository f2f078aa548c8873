//! The agent: watches Applications on one cluster and schedules reconciles.
//!
//! Scheduling rules:
//! - one reconcile per app at a time; a request that arrives while one runs
//!   marks the app dirty and it runs again right after;
//! - at most `concurrency` reconciles at once;
//! - a watch event schedules an app only when its spec (generation), its
//!   refresh annotation or its deletion changed: the agent's own status writes
//!   never wake it, so it cannot loop;
//! - after each reconcile the app is due again after the poll interval (sooner
//!   while it progresses, with exponential backoff while it fails).
//! - a verified webhook push (through [`crate::wake::AgentLink`]) marks its
//!   repository's fetchers stale and makes the apps it names due now, a failing
//!   one's backoff included.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tether_kube::Cluster;
use tether_model::Application;
use tether_render::{Renderer, RendererConfig};
use tether_source::Sources;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use crate::pipeline::{Engine, Outcome};

#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Git cache: bare repositories and checkouts.
    pub state_dir: PathBuf,
    /// How often each repo is polled (and each app re-planned).
    pub poll_interval: Duration,
    /// Reconciles at once.
    pub concurrency: usize,
    /// Watch Applications in this namespace only.
    pub namespace: Option<String>,
    pub history_limit: usize,
    /// How soon to look again while an app is progressing.
    pub progress_recheck: Duration,
    /// This cluster's name: apps whose `destination.cluster` names another
    /// cluster are left to that cluster's agent.
    pub cluster_name: String,
    /// How much of the audit log to keep; applied at start and hourly.
    pub audit_retention: tether_audit::Retention,
    /// How often each app reads its objects from the API server instead of
    /// the live cache, in case a watch missed something.
    pub resync_interval: Duration,
    /// Render limits, the render worker, and whether remote bases may be fetched.
    pub renderer: RendererConfig,
    /// What a repository may cost (file and checkout sizes) and whether local repositories
    /// (`file://`, paths) may be read.
    pub source: tether_source::SourceOptions,
    /// How often checkouts and mirrors no Application needs are removed (also at start); one
    /// used within the last interval is kept.
    pub gc_interval: Duration,
    /// An app rendering more objects fails with `TooManyObjects` and applies nothing.
    pub max_objects_per_app: usize,
    /// Where reconciles' facts go beyond status, audit and Events (metrics,
    /// notifications, the API's live stream).
    pub sinks: crate::report::Sinks,
    /// How the server in this process reaches the agent while it runs (webhook wakes,
    /// metrics of its caches).
    pub link: crate::wake::AgentLink,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            state_dir: PathBuf::from(".tether"),
            poll_interval: Duration::from_secs(30),
            concurrency: 4,
            namespace: None,
            history_limit: 10,
            progress_recheck: Duration::from_secs(2),
            cluster_name: IN_CLUSTER.to_string(),
            audit_retention: tether_audit::Retention {
                max_age: Some(Duration::from_secs(90 * 24 * 3600)),
                max_records: Some(1_000_000),
            },
            resync_interval: Duration::from_secs(600),
            renderer: RendererConfig::default(),
            source: tether_source::SourceOptions::default(),
            gc_interval: Duration::from_secs(600),
            max_objects_per_app: crate::limits::DEFAULT_MAX_OBJECTS,
            sinks: Default::default(),
            link: Default::default(),
        }
    }
}

/// How long after a managed object changes its app is re-planned: a burst of
/// changes (a rollout writing status, `kubectl apply` of many objects) costs
/// one reconcile, not one each.
const DEBOUNCE: Duration = Duration::from_millis(50);

/// The name an agent's own cluster always answers to, as in Argo CD.
pub const IN_CLUSTER: &str = "in-cluster";

pub struct Agent {
    pub engine: Arc<Engine>,
    config: AgentConfig,
    /// Changes to managed objects, from the drift watches.
    touched: Option<mpsc::UnboundedReceiver<crate::watch::Touched>>,
}

/// What the scheduler remembers of an app between watch events.
#[derive(PartialEq, Eq, Clone, Debug)]
struct Seen {
    generation: Option<i64>,
    refresh: Option<String>,
    deleting: bool,
}

impl Agent {
    /// Install the Application and Notifier CRDs when missing and set up the pipeline.
    pub async fn new(cluster: Arc<Cluster>, config: AgentConfig) -> Result<Agent, AgentError> {
        use kube::CustomResourceExt;
        cluster
            .ensure_crd(&Application::crd(), Duration::from_secs(30))
            .await
            .map_err(AgentError::Crd)?;
        cluster
            .ensure_crd(&tether_model::Notifier::crd(), Duration::from_secs(30))
            .await
            .map_err(AgentError::Crd)?;
        std::fs::create_dir_all(&config.state_dir).map_err(|source| AgentError::StateDir {
            path: config.state_dir.display().to_string(),
            source,
        })?;
        let (auditor, interrupted) =
            crate::audit::Auditor::open(&config.state_dir, &config.cluster_name)
                .map_err(AgentError::Audit)?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "the last run stopped mid-sync; recorded as interrupted in the audit log"
            );
        }
        let (live_cache, touched) = crate::watch::LiveCache::new(cluster.client().clone());
        let engine = Engine {
            audit: Some(auditor),
            live_cache: Some(Arc::new(live_cache)),
            resync_interval: config.resync_interval,
            pacing: Default::default(),
            events: Some(crate::events::Notifier::new(cluster.client().clone())),
            heals: Default::default(),
            sinks: config.sinks.clone(),
            cluster,
            renderer: Renderer::new(RendererConfig {
                max_objects: config.max_objects_per_app,
                ..config.renderer.clone()
            }),
            sources: Sources::with_options(config.state_dir.join("git"), config.source),
            poll_interval: config.poll_interval,
            history_limit: config.history_limit,
            progress_recheck: config.progress_recheck,
        };
        Ok(Agent {
            engine: Arc::new(engine),
            config,
            touched: Some(touched),
        })
    }

    /// Run until `shutdown` resolves; then let running reconciles finish.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        let (_never_tx, never_rx) = mpsc::unbounded_channel();
        let mut changes = self.touched.take().unwrap_or(never_rx);
        // Webhook pushes, for as long as this agent runs.
        let (_attached, mut wakes) = self.config.link.attach(self.engine.clone());
        let client = self.engine.cluster.client().clone();
        let api: Api<Application> = match &self.config.namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::all(client),
        };
        // The watcher re-lists with backoff after errors (410 Gone, a restarted API server).
        let mut events = watcher::watcher(api.clone(), watcher::Config::default())
            .default_backoff()
            .boxed();
        // Which apps exist, from the watch itself (a reflector store fills only at the end of
        // each re-list, so an app scheduled from an early event could be missed).
        let mut known: HashSet<String> = HashSet::new();
        let mut relisted: HashSet<String> = HashSet::new();

        let (due_tx, mut due_rx) = mpsc::unbounded_channel::<(String, Option<Instant>)>();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(String, Outcome)>();
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let stopping = Arc::new(AtomicBool::new(false));
        let mut seen: HashMap<String, Seen> = HashMap::new();
        let mut running: HashSet<String> = HashSet::new();
        let mut dirty: HashSet<String> = HashSet::new();
        let mut next_due: HashMap<String, Instant> = HashMap::new();
        let mut failures: HashMap<String, u32> = HashMap::new();
        let mut debouncing: HashSet<String> = HashSet::new();
        let mut holding_off: HashSet<String> = HashSet::new();
        let mut changed_while_running: HashSet<String> = HashSet::new();
        let (settled_tx, mut settled_rx) = mpsc::unbounded_channel::<String>();
        tokio::pin!(shutdown);
        let retention = {
            let engine = self.engine.clone();
            let policy = self.config.audit_retention.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(3600));
                loop {
                    every.tick().await;
                    if let Some(audit) = &engine.audit {
                        audit.retain(policy.clone()).await;
                    }
                }
            })
        };
        let source_gc =
            crate::source_gc::spawn(self.engine.clone(), api.clone(), self.config.gc_interval);
        tracing::info!(
            poll_interval = ?self.config.poll_interval,
            concurrency = self.config.concurrency,
            "agent started; watching Applications"
        );

        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                ev = events.next() => {
                    match ev {
                        Some(Ok(ev)) => {
                            match &ev {
                                Event::Init => relisted.clear(),
                                Event::InitApply(a) => {
                                    relisted.insert(Engine::app_key(a));
                                }
                                // Apps deleted while the watch was down are forgotten.
                                Event::InitDone => {
                                    for gone in known.iter().filter(|k| !relisted.contains(*k)) {
                                        self.engine.forget(gone);
                                    }
                                    known.retain(|k| relisted.contains(k));
                                    seen.retain(|k, _| relisted.contains(k));
                                }
                                Event::Delete(a) => {
                                    let key = Engine::app_key(a);
                                    known.remove(&key);
                                    seen.remove(&key);
                                    holding_off.remove(&key);
                                    failures.remove(&key);
                                    self.engine.forget(&key);
                                }
                                Event::Apply(_) => {}
                            }
                            for app in touched(ev) {
                                known.insert(Engine::app_key(&app));
                                let key = Engine::app_key(&app);
                                let now = Seen {
                                    generation: app.metadata.generation,
                                    refresh: app.annotations().get(tether_model::REFRESH_ANNOTATION).cloned(),
                                    deleting: app.metadata.deletion_timestamp.is_some(),
                                };
                                if seen.get(&key) != Some(&now) {
                                    seen.insert(key.clone(), now);
                                    let _ = due_tx.send((key, None));
                                }
                            }
                        }
                        Some(Err(e)) => tracing::warn!("watching Applications: {e}; retrying"),
                        None => break,
                    }
                }
                // A managed object changed: re-plan its app shortly. Changes
                // within the debounce collapse into one reconcile, and a burst
                // while it runs into one re-run (dirty).
                Some(t) = changes.recv() => {
                    if known.contains(&t.app) && debouncing.insert(t.app.clone()) {
                        tracing::debug!(app = %t.app, object = %t.object, "managed object changed");
                        let tx = settled_tx.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(DEBOUNCE).await;
                            let _ = tx.send(t.app);
                        });
                    }
                }
                // A verified push: the repository's fetchers poll on their next resolve, and
                // the apps on the pushed branch reconcile now (a running one right after).
                Some(wake) = wakes.recv() => {
                    let fetchers = self.engine.sources.expire(&wake.repo_url);
                    let mut woken = 0;
                    for key in wake.apps {
                        if known.contains(&key) {
                            woken += 1;
                            let _ = due_tx.send((key, None));
                        }
                    }
                    tracing::info!(repo = %wake.repo_url, fetchers, apps = woken, "webhook: polling now");
                }
                Some(key) = settled_rx.recv() => {
                    debouncing.remove(&key);
                    // A failed sync waiting for its retry keeps waiting.
                    if holding_off.contains(&key) {
                        continue;
                    }
                    // Running: look again when it ends, unless it ends failed.
                    if running.contains(&key) {
                        changed_while_running.insert(key);
                        continue;
                    }
                    let _ = due_tx.send((key, None));
                }
                Some((key, at)) = due_rx.recv() => {
                    // A timer that was superseded by a newer schedule is ignored.
                    if at.is_some_and(|at| next_due.get(&key) != Some(&at)) {
                        continue;
                    }
                    if running.contains(&key) {
                        dirty.insert(key);
                        continue;
                    }
                    if !known.contains(&key) {
                        next_due.remove(&key);
                        continue;
                    }
                    running.insert(key.clone());
                    let engine = self.engine.clone();
                    let slots = slots.clone();
                    let done = done_tx.clone();
                    let api = api.clone();
                    let cluster_name = self.config.cluster_name.clone();
                    let stopping = stopping.clone();
                    tokio::spawn(async move {
                        let Ok(_permit) = slots.acquire_owned().await else { return };
                        // Queued behind the running ones when the stop came: do not start.
                        if stopping.load(Ordering::SeqCst) {
                            return;
                        }
                        // Read the app fresh: the watch may not have delivered this agent's
                        // own last status write yet, and a stale copy would redo a handled
                        // refresh or overwrite history.
                        let outcome = match fetch(&api, &key).await {
                            Ok(Some(app)) if is_ours(&app, &cluster_name) => {
                                // A panic in one app's reconcile must not leave it marked
                                // running forever: catch it, log it, and back off.
                                match AssertUnwindSafe(engine.handle(&app)).catch_unwind().await {
                                    Ok(outcome) => outcome,
                                    Err(_) => {
                                        tracing::error!(app = %key, "reconcile panicked; will retry");
                                        Outcome::failed(engine.poll_interval)
                                    }
                                }
                            }
                            Ok(Some(_)) => {
                                tracing::debug!(app = %key, "destination is another cluster; skipped");
                                Outcome::after(engine.poll_interval)
                            }
                            Ok(None) => Outcome::after(Duration::from_secs(3600)),
                            Err(e) => {
                                tracing::warn!(app = %key, "cannot read the Application: {e}");
                                Outcome::failed(engine.poll_interval)
                            }
                        };
                        let _ = done.send((key, outcome));
                    });
                }
                Some((key, outcome)) = done_rx.recv() => {
                    running.remove(&key);
                    // Deleted while it ran: the reconcile may have re-registered
                    // its kinds after the delete event forgot them.
                    if !known.contains(&key) {
                        self.engine.forget(&key);
                        changed_while_running.remove(&key);
                        holding_off.remove(&key);
                        failures.remove(&key);
                        next_due.remove(&key);
                        dirty.remove(&key);
                        continue;
                    }
                    let delay = if outcome.failed {
                        let n = failures.entry(key.clone()).or_insert(0);
                        *n = (*n + 1).min(16);
                        backoff(*n).min(outcome.requeue_after)
                    } else {
                        failures.remove(&key);
                        outcome.requeue_after
                    };
                    // A failure of any kind waits out its backoff: object events
                    // (a rollout writing status) must not retry it at their pace.
                    let hold_off = outcome.hold_off || outcome.failed;
                    let changed = changed_while_running.remove(&key);
                    if dirty.remove(&key) || (changed && !hold_off) {
                        let _ = due_tx.send((key.clone(), None));
                    }
                    if hold_off {
                        holding_off.insert(key.clone());
                    } else {
                        holding_off.remove(&key);
                    }
                    let at = Instant::now() + delay;
                    next_due.insert(key.clone(), at);
                    let tx = due_tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep_until(at).await;
                        let _ = tx.send((key, Some(at)));
                    });
                }
            }
        }

        retention.abort();
        source_gc.abort();
        // Graceful stop: wait for the reconciles that are running; queued ones
        // see the flag and do not start.
        stopping.store(true, Ordering::SeqCst);
        self.engine.renderer.stop_renders();
        if !running.is_empty() {
            tracing::info!(
                running = running.len(),
                "stopping: waiting for running syncs to finish"
            );
        }
        let _ = slots
            .acquire_many(self.config.concurrency.max(1) as u32)
            .await;
        tracing::info!("agent stopped");
    }
}

fn is_ours(app: &Application, cluster_name: &str) -> bool {
    match app.spec.destination.cluster.as_deref() {
        None | Some("") | Some(IN_CLUSTER) => true,
        Some(name) => name == cluster_name,
    }
}

async fn fetch(api: &Api<Application>, key: &str) -> Result<Option<Application>, kube::Error> {
    let Some((ns, name)) = key.split_once('/') else {
        return Ok(None);
    };
    let api: Api<Application> = Api::namespaced(api.clone().into_client(), ns);
    api.get_opt(name).await
}

/// 1 s, 2 s, 4 s … for repeated failures of the same app.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(8))
}

fn touched(ev: Event<Application>) -> Vec<Application> {
    match ev {
        Event::Apply(a) | Event::InitApply(a) => vec![a],
        Event::Delete(_) | Event::Init | Event::InitDone => Vec::new(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("installing the Application CRD: {0}")]
    Crd(tether_kube::KubeError),
    #[error("opening the audit log: {0}")]
    Audit(tether_audit::AuditError),
    #[error("creating the state dir {path}: {source}")]
    StateDir {
        path: String,
        source: std::io::Error,
    },
}
