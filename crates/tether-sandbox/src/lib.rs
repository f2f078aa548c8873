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
pub mod auth;
pub mod builtin_schema;
pub mod catalog;
pub mod cluster_defaults;
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
pub mod tls;

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
    /// Serve HTTPS with the sandbox's own CA (true by default); false serves plain HTTP.
    pub https: bool,
    /// Every request is the admin, with or without a token (false by default):
    /// no authentication and no authorization, as before they existed.
    pub anonymous_admin: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            data_dir: None,
            rollout_delay: Duration::from_secs(2),
            watch_window: 10_000,
            https: true,
            anonymous_admin: false,
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
    /// The CA, the serving certificate or the token signing key could not be made or read.
    #[error("cannot set up TLS and tokens in {path}: {message}")]
    Pki { path: PathBuf, message: String },
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
    https: bool,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Resolves once the listening port is closed (HTTPS hands it to a task).
    port_released: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
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
        tls::install_default_provider();
        let pki = Pki::new(config.data_dir.as_deref())?;
        let auth = auth::Auth::new(!config.anonymous_admin, pki.admin_token, pki.signer);
        let shared = Arc::new(Shared::new(store, config.rollout_delay, auth));
        let _ = shared.ca_pem.set(pki.authority.ca_pem.clone());
        let server_tls = if config.https {
            Some(pki.authority.server_config().map_err(|e| Error::Pki {
                path: config.data_dir.clone().unwrap_or_default(),
                message: e.to_string(),
            })?)
        } else {
            None
        };
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
        cluster_defaults::bootstrap_policy(&shared);
        cluster_defaults::spawn(shared.clone());
        sim::spawn(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = api::router(shared.clone());
        let stopped = async move {
            let _ = stopped.await;
        };
        let mut port_released = None;
        let task = match server_tls {
            Some(tls) => {
                let mut listener =
                    tls::TlsListener::new(listener, tls).map_err(|source| Error::Bind {
                        port: config.port,
                        source,
                    })?;
                port_released = Some(Box::pin(listener.port_released()) as _);
                tokio::spawn(async move {
                    let serve = axum::serve(listener, app).with_graceful_shutdown(stopped);
                    if let Err(e) = serve.await {
                        tracing::error!(error = %e, "sandbox server stopped");
                    }
                })
            }
            None => tokio::spawn(async move {
                let serve = axum::serve(listener, app).with_graceful_shutdown(stopped);
                if let Err(e) = serve.await {
                    tracing::error!(error = %e, "sandbox server stopped");
                }
            }),
        };
        tracing::info!(%addr, "sandbox serving");
        Ok(Sandbox {
            addr,
            https: config.https,
            shared,
            stop: Some(stop),
            task: Some(task),
            port_released,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT` (or `http://` with plain HTTP).
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The CA certificate (PEM) that verifies this server.
    pub fn ca_pem(&self) -> &str {
        self.shared.ca_pem()
    }

    /// The admin's bearer token (the one the kubeconfig carries).
    pub fn admin_token(&self) -> &str {
        self.shared.auth.admin_token()
    }

    /// A rustls client configuration that trusts this sandbox's CA, for
    /// HTTP clients (reqwest's `use_preconfigured_tls`).
    pub fn client_tls_config(&self) -> Result<rustls::ClientConfig, tls::TlsError> {
        tls::client_config(self.ca_pem())
    }

    /// A signed token for ServiceAccount `namespace/name` valid from `issued_at`
    /// (unix seconds) for `seconds`, as the TokenRequest API would issue it at
    /// that time; for tests of expiry. None when the ServiceAccount does not exist.
    pub fn service_account_token_at(
        &self,
        namespace: &str,
        name: &str,
        issued_at: i64,
        seconds: i64,
    ) -> Option<String> {
        let gr = catalog::GroupResource {
            group: String::new(),
            resource: "serviceaccounts".into(),
        };
        let key = store::ObjKey {
            namespace: namespace.into(),
            name: name.into(),
        };
        let sa = self.shared.store.get(&gr, &key)?;
        let uid = sa["metadata"]["uid"].as_str()?;
        let claims = auth::token::Claims::service_account(
            namespace,
            name,
            uid,
            vec![auth::token::ISSUER.into()],
            issued_at,
            seconds,
        );
        Some(self.shared.auth.signer.sign(&claims))
    }

    /// Direct access to the state, for tests and benchmarks.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// A kubeconfig whose current context points at this sandbox, as the
    /// admin: the server's CA (with HTTPS) and the admin's token.
    pub fn kubeconfig(&self) -> String {
        let ca = self.https.then(|| self.ca_pem());
        kubeconfig_yaml(&self.url(), ca, self.admin_token())
    }

    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), Error> {
        let err = |source| Error::Kubeconfig {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        // It carries the admin's token: readable by its owner only.
        tls::write_private(path, self.kubeconfig().as_bytes()).map_err(err)
    }

    /// Stops accepting connections, waits for the server task to end and for the
    /// state written so far to reach the data directory.
    pub async fn shutdown(mut self) {
        self.stop_now();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some(released) = self.port_released.take() {
            released.await;
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

/// The kubeconfig text for a server URL: one cluster, one user, one context,
/// all named `tether-sandbox`; with the CA (PEM) that verifies the server, and
/// the user's bearer token.
pub fn kubeconfig_yaml(server: &str, ca_pem: Option<&str>, token: &str) -> String {
    use base64::Engine;
    let ca = match ca_pem {
        Some(pem) => format!(
            "\n    certificate-authority-data: {}",
            base64::engine::general_purpose::STANDARD.encode(pem)
        ),
        None => String::new(),
    };
    // The anonymous-admin sandbox takes any token; kubectl wants one to send.
    let token = if token.is_empty() {
        "tether-sandbox"
    } else {
        token
    };
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: tether-sandbox
  cluster:
    server: {server}{ca}
users:
- name: tether-sandbox
  user:
    token: {token}
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

/// The sandbox's CA, token signing key and admin token: kept in the data
/// directory (`DIR/pki/`) and reused across restarts, or made afresh in memory.
struct Pki {
    authority: tls::Authority,
    signer: auth::token::Signer,
    admin_token: String,
}

impl Pki {
    fn new(data_dir: Option<&Path>) -> Result<Pki, Error> {
        let err = |message: String| Error::Pki {
            path: data_dir.map(Path::to_path_buf).unwrap_or_default(),
            message,
        };
        Ok(match data_dir {
            Some(dir) => Pki {
                authority: tls::Authority::load_or_create(dir).map_err(|e| err(e.to_string()))?,
                signer: auth::token::Signer::load_or_create(dir).map_err(|e| err(e.to_string()))?,
                admin_token: auth::load_or_create_admin_token(dir)
                    .map_err(|e| err(e.to_string()))?,
            },
            None => Pki {
                authority: tls::Authority::generate().map_err(|e| err(e.to_string()))?,
                signer: auth::token::Signer::generate().map_err(|e| err(e.to_string()))?,
                admin_token: auth::new_token(),
            },
        })
    }
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
