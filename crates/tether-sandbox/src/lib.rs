//! `tether sandbox`: a Kubernetes-API-compatible server that real clients
//! (kubectl, kube-rs) accept unchanged. It is the embedded default cluster
//! behind `tether up` and the target of tether's integration tests.
//!
//! It holds real state and follows the API's rules: discovery (legacy and
//! aggregated), OpenAPI, CRUD with resourceVersions and generations, label
//! and field selectors, pagination, Table output, JSON/merge/strategic patch,
//! server-side apply with managed fields, watches with bookmarks and 410
//! expiry, finalizers, garbage collection, namespaces, CRDs, and simulated
//! controllers so that health means something. See `docs/sandbox.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tether_sandbox::Error> {
//! let sandbox = tether_sandbox::Sandbox::start(tether_sandbox::Config::default()).await?;
//! println!("{}", sandbox.url());
//! # Ok(()) }
//! ```

// `ApiError` is a Status object of about 140 bytes, returned at most once per
// request; boxing it everywhere would buy nothing measurable.
#![allow(clippy::result_large_err)]

pub mod admission;
pub mod api;
pub mod base64;
pub mod builtin_schema;
pub mod catalog;
pub mod crd;
pub mod events;
pub mod faults;
pub mod merge;
pub mod protobuf;
pub mod protobuf_table;
pub mod schema;
pub mod selector;
pub mod sim;
pub mod store;
pub mod table;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

pub use api::Shared;

/// The largest request body the server accepts, as the real API server (3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// How the sandbox runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Where state is kept across restarts; None keeps it in memory only.
    pub data_dir: Option<PathBuf>,
    /// How long simulated rollouts, pods, jobs, load balancers and volumes take.
    pub rollout_delay: Duration,
    /// How many events watches can resume from before a resume gets 410 Expired.
    pub watch_window: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            data_dir: None,
            rollout_delay: Duration::from_secs(2),
            watch_window: 10_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The port could not be bound (in use, or not permitted).
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    /// The data directory could not be read or written.
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The kubeconfig could not be written.
    #[error("cannot write kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A running sandbox. Dropping it stops the server.
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The namespaces every cluster starts with.
const INITIAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

impl Sandbox {
    /// Starts serving on 127.0.0.1 and returns once the port is bound.
    pub async fn start(config: Config) -> Result<Sandbox, Error> {
        let store = match &config.data_dir {
            Some(dir) => {
                store::Store::open(dir, config.watch_window).map_err(|source| Error::DataDir {
                    path: dir.clone(),
                    source,
                })?
            }
            None => store::Store::new(config.watch_window),
        };
        let shared = Arc::new(Shared::new(store, config.rollout_delay));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
            .await
            .map_err(|source| Error::Bind {
                port: config.port,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            port: config.port,
            source,
        })?;
        let _ = shared
            .server_address
            .set(format!("127.0.0.1:{}", addr.port()));
        restore_crds(&shared);
        bootstrap(&shared);
        sim::spawn(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = api::router(shared.clone());
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "sandbox server stopped");
            }
        });
        tracing::info!(%addr, "sandbox serving");
        Ok(Sandbox {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Direct access to the state, for tests and benchmarks.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// A kubeconfig whose current context points at this sandbox.
    pub fn kubeconfig(&self) -> String {
        kubeconfig_yaml(&self.url())
    }

    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), Error> {
        let err = |source| Error::Kubeconfig {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        std::fs::write(path, self.kubeconfig()).map_err(err)
    }

    /// Stops accepting connections, waits for the server task to end and for the
    /// state written so far to reach the data directory.
    pub async fn shutdown(mut self) {
        self.stop_now();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let shared = self.shared.clone();
        let _ = tokio::task::spawn_blocking(move || shared.store.sync()).await;
    }

    fn stop_now(&mut self) {
        // Closing watches lets graceful shutdown finish instead of waiting on open streams.
        self.shared.drop_watches.send_modify(|n| *n += 1);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop_now();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The kubeconfig text for a server URL: one cluster, one user, one context, all named `tether-sandbox`.
pub fn kubeconfig_yaml(server: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: tether-sandbox
  cluster:
    server: {server}
users:
- name: tether-sandbox
  user:
    token: tether-sandbox
contexts:
- name: tether-sandbox
  context:
    cluster: tether-sandbox
    user: tether-sandbox
    namespace: default
current-context: tether-sandbox
preferences: {{}}
"
    )
}

/// Serves the CRDs found in a restored data directory.
fn restore_crds(sh: &Shared) {
    let gr = catalog::GroupResource {
        group: "apiextensions.k8s.io".into(),
        resource: "customresourcedefinitions".into(),
    };
    let (crds, _) = sh.store.list(&gr, None);
    for crd in crds {
        sim::establish_crd(sh, &crd);
    }
}

/// Creates the namespaces every cluster has, unless restored state already has them.
fn bootstrap(sh: &Shared) {
    let Some(r) = sh.catalog.get("", "v1", "namespaces") else {
        return;
    };
    for ns in INITIAL_NAMESPACES {
        let key = store::ObjKey {
            namespace: String::new(),
            name: ns.to_string(),
        };
        if sh.store.get(r.storage_key(), &key).is_some() {
            continue;
        }
        let p = api::request::ResourcePath {
            plural: "namespaces".into(),
            version: "v1".into(),
            ..Default::default()
        };
        let params = api::request::Params(vec![("fieldManager".into(), "kube-apiserver".into())]);
        let Ok(mut w) = api::resources::Writer::new(sh, &r, &p, &params, "") else {
            continue;
        };
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        if let Err(e) = api::resources::create(&mut w, &p, obj) {
            tracing::warn!(namespace = ns, error = %e.message, "cannot create initial namespace");
        }
    }
}
