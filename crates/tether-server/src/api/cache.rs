//! The Applications, from one watch: every read of the API is served from
//! here, never from a request to the Kubernetes API per call. Each change is
//! broadcast (the live stream subscribes) as the app's key.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use futures_util::StreamExt;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tether_model::Application;
use tokio::sync::{broadcast, watch};

/// `namespace/name`.
pub type AppKey = String;

pub fn key_of(app: &Application) -> AppKey {
    format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any())
}

/// One change: the app as it is now, or gone.
#[derive(Clone, Debug)]
pub struct AppChange {
    pub key: AppKey,
    /// `None`: deleted.
    pub app: Option<Arc<Application>>,
}

/// Sorted by key, so paging is stable.
#[derive(Clone)]
pub struct AppCache {
    apps: Arc<RwLock<BTreeMap<AppKey, Arc<Application>>>>,
    changes: broadcast::Sender<AppChange>,
    ready: watch::Receiver<bool>,
}

/// How many changes a subscriber may fall behind before it is told it lagged
/// (and must re-read): a slow reader never holds the watch up.
const CHANGE_BUFFER: usize = 16_384;

impl AppCache {
    /// Start the watch on `api` (all namespaces, or one). The cache is ready
    /// after the first full list.
    pub fn start(api: Api<Application>) -> AppCache {
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        let (ready_tx, ready) = watch::channel(false);
        let cache = AppCache {
            apps: Default::default(),
            changes,
            ready,
        };
        let this = cache.clone();
        tokio::spawn(async move { this.run(api, ready_tx).await });
        cache
    }

    /// An empty cache fed by hand, for unit tests and benches.
    pub fn fixed(apps: impl IntoIterator<Item = Application>) -> AppCache {
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        let (_, ready) = watch::channel(true);
        let map = apps
            .into_iter()
            .map(|a| (key_of(&a), Arc::new(a)))
            .collect();
        AppCache {
            apps: Arc::new(RwLock::new(map)),
            changes,
            ready,
        }
    }

    async fn run(&self, api: Api<Application>, ready: watch::Sender<bool>) {
        let mut events = watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut relisted: BTreeMap<AppKey, Arc<Application>> = BTreeMap::new();
        while let Some(ev) = events.next().await {
            match ev {
                Ok(Event::Init) => relisted.clear(),
                Ok(Event::InitApply(app)) => {
                    relisted.insert(key_of(&app), Arc::new(app));
                }
                Ok(Event::InitDone) => {
                    let fresh = std::mem::take(&mut relisted);
                    let old = std::mem::replace(&mut *self.write(), fresh.clone());
                    for (key, app) in &fresh {
                        if old.get(key).map(|a| a.resource_version())
                            != Some(app.resource_version())
                        {
                            self.announce(key.clone(), Some(app.clone()));
                        }
                    }
                    for key in old.keys().filter(|k| !fresh.contains_key(*k)) {
                        self.announce(key.clone(), None);
                    }
                    let _ = ready.send(true);
                }
                Ok(Event::Apply(app)) => self.apply(app),
                Ok(Event::Delete(app)) => self.delete(&key_of(&app)),
                Err(e) => tracing::warn!("API cache: watching Applications: {e}; retrying"),
            }
        }
    }

    /// Store an app and announce it.
    pub fn apply(&self, app: Application) {
        let key = key_of(&app);
        let app = Arc::new(app);
        self.write().insert(key.clone(), app.clone());
        self.announce(key, Some(app));
    }

    pub fn delete(&self, key: &str) {
        if self.write().remove(key).is_some() {
            self.announce(key.to_string(), None);
        }
    }

    fn announce(&self, key: AppKey, app: Option<Arc<Application>>) {
        // No subscribers is fine.
        let _ = self.changes.send(AppChange { key, app });
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<AppKey, Arc<Application>>> {
        self.apps.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Every app, sorted by key. Cheap: the apps are shared, not copied.
    pub fn snapshot(&self) -> Vec<Arc<Application>> {
        let apps = self.apps.read().unwrap_or_else(|e| e.into_inner());
        apps.values().cloned().collect()
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<Application>> {
        let apps = self.apps.read().unwrap_or_else(|e| e.into_inner());
        apps.get(&format!("{namespace}/{name}")).cloned()
    }

    pub fn len(&self) -> usize {
        self.apps.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<AppChange> {
        self.changes.subscribe()
    }

    /// Wait up to `limit` for the first full list; true when it arrived.
    pub async fn wait_ready(&self, limit: std::time::Duration) -> bool {
        let mut ready = self.ready.clone();
        matches!(
            tokio::time::timeout(limit, ready.wait_for(|r| *r)).await,
            Ok(Ok(_))
        )
    }

    /// True once the first full list arrived (`/readyz`).
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }
}
