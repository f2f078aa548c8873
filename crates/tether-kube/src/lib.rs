//! Cluster access: discovery, server-side apply, get and delete of any kind,
//! and installing tether's own CRD. Everything that talks to the API server
//! goes through [`Cluster`], so the engine's logic stays testable.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, PropagationPolicy,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Discovery, Scope};
use kube::{Client, Config};
use serde_json::Value;
use tether_model::ObjectRef;
use tokio::sync::RwLock;

/// Errors from the cluster, worded for an Application's status.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("cannot reach the cluster: {0}")]
    Connect(String),
    #[error(
        "unknown kind {kind} in {api_version}: the cluster does not serve it (is its CRD installed?)"
    )]
    UnknownKind { api_version: String, kind: String },
    /// The API server refused: `code` is the HTTP status, `reason` the Status reason.
    #[error("{message}")]
    Api {
        code: u16,
        reason: String,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}

impl KubeError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, KubeError::Api { code: 404, .. })
    }
    pub fn is_conflict(&self) -> bool {
        matches!(self, KubeError::Api { code: 409, .. })
    }
    /// Worth retrying: the server was busy, failing or unreachable.
    pub fn is_transient(&self) -> bool {
        match self {
            KubeError::Connect(_) => true,
            KubeError::Api { code, .. } => *code == 429 || *code >= 500,
            _ => false,
        }
    }
}

impl From<kube::Error> for KubeError {
    fn from(e: kube::Error) -> Self {
        match e {
            kube::Error::Api(s) => KubeError::Api {
                code: s.code,
                reason: s.reason.clone(),
                message: s.message.clone(),
            },
            kube::Error::HyperError(e) => KubeError::Connect(e.to_string()),
            kube::Error::Service(e) => KubeError::Connect(e.to_string()),
            other => KubeError::Other(other.to_string()),
        }
    }
}

/// What discovery says about one kind.
#[derive(Clone, Debug)]
pub struct KindInfo {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// One cluster: a client plus a discovery cache.
pub struct Cluster {
    client: Client,
    discovery: RwLock<Snapshot>,
    /// Host the client talks to, for logs and `tether up`'s hints.
    pub server: String,
}

struct Snapshot {
    discovery: Arc<Discovery>,
    taken: Instant,
    version: String,
}

/// Re-run discovery on a miss at most this often, so a render full of unknown
/// kinds cannot hammer the API server.
const DISCOVERY_MIN_AGE: Duration = Duration::from_secs(2);

impl Cluster {
    /// Connect with a kubeconfig file (and optional context), or the usual
    /// defaults (KUBECONFIG, ~/.kube/config, in-cluster) when none is given.
    pub async fn connect(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
    ) -> Result<Cluster, KubeError> {
        let options = KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let config = match kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path).map_err(|e| {
                    KubeError::Connect(format!("reading kubeconfig {}: {e}", path.display()))
                })?;
                Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| KubeError::Connect(e.to_string()))?
            }
            None => match context {
                Some(_) => Config::from_kubeconfig(&options)
                    .await
                    .map_err(|e| KubeError::Connect(e.to_string()))?,
                None => Config::infer()
                    .await
                    .map_err(|e| KubeError::Connect(e.to_string()))?,
            },
        };
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(|e| KubeError::Connect(e.to_string()))?;
        Cluster::new(client, server).await
    }

    pub async fn new(client: Client, server: String) -> Result<Cluster, KubeError> {
        let snapshot = discover(&client).await?;
        Ok(Cluster {
            client,
            discovery: RwLock::new(snapshot),
            server,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The API server's version, e.g. `v1.35.0` (for `helm --kube-version`).
    pub async fn server_version(&self) -> String {
        self.discovery.read().await.version.clone()
    }

    /// Every served `group/version` and `group/version/Kind` (for `helm --api-versions`).
    pub async fn api_versions(&self) -> Vec<String> {
        let snap = self.discovery.read().await;
        let mut out = Vec::new();
        for group in snap.discovery.groups() {
            for version in group.versions() {
                let gv = if group.name().is_empty() {
                    version.to_string()
                } else {
                    format!("{}/{version}", group.name())
                };
                for (ar, _) in group.versioned_resources(version) {
                    out.push(format!("{gv}/{}", ar.kind));
                }
                out.push(gv);
            }
        }
        out.sort();
        out.dedup();
        out
    }

    pub async fn refresh_discovery(&self) -> Result<(), KubeError> {
        let snap = discover(&self.client).await?;
        *self.discovery.write().await = snap;
        Ok(())
    }

    /// Map `apiVersion` + `kind` to a resource. A miss re-runs discovery once
    /// (a CRD may just have been installed).
    pub async fn resolve(&self, api_version: &str, kind: &str) -> Result<KindInfo, KubeError> {
        let (group, version) = tether_model::object::split_api_version(api_version);
        let gvk = GroupVersionKind::gvk(group, version, kind);
        if let Some(info) = self.lookup(&gvk).await {
            return Ok(info);
        }
        let stale = self.discovery.read().await.taken.elapsed() >= DISCOVERY_MIN_AGE;
        if stale {
            self.refresh_discovery().await?;
            if let Some(info) = self.lookup(&gvk).await {
                return Ok(info);
            }
        }
        Err(KubeError::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        })
    }

    /// Resolve by group and kind only, at the preferred version (for inventory
    /// entries, whose identity leaves the version out).
    pub async fn resolve_kind(&self, group: &str, kind: &str) -> Result<KindInfo, KubeError> {
        let found = {
            let snap = self.discovery.read().await;
            snap.discovery
                .get(group)
                .and_then(|g| g.recommended_kind(kind))
        };
        match found {
            Some((ar, caps)) => Ok(KindInfo {
                resource: ar,
                namespaced: caps.scope == Scope::Namespaced,
            }),
            None => {
                let api_version = if group.is_empty() {
                    "v1".to_string()
                } else {
                    format!("{group}/v1")
                };
                // An inventory entry whose CRD is gone would otherwise re-run
                // discovery on every reconcile.
                if self.discovery.read().await.taken.elapsed() < DISCOVERY_MIN_AGE {
                    return Err(KubeError::UnknownKind {
                        api_version,
                        kind: kind.to_string(),
                    });
                }
                self.refresh_discovery().await?;
                let snap = self.discovery.read().await;
                match snap
                    .discovery
                    .get(group)
                    .and_then(|g| g.recommended_kind(kind))
                {
                    Some((ar, caps)) => Ok(KindInfo {
                        resource: ar,
                        namespaced: caps.scope == Scope::Namespaced,
                    }),
                    None => Err(KubeError::UnknownKind {
                        api_version,
                        kind: kind.to_string(),
                    }),
                }
            }
        }
    }

    async fn lookup(&self, gvk: &GroupVersionKind) -> Option<KindInfo> {
        let snap = self.discovery.read().await;
        snap.discovery.resolve_gvk(gvk).map(|(ar, caps)| KindInfo {
            resource: ar,
            namespaced: caps.scope == Scope::Namespaced,
        })
    }

    fn api(&self, info: &KindInfo, namespace: &str) -> Api<DynamicObject> {
        if info.namespaced && !namespace.is_empty() {
            Api::namespaced_with(self.client.clone(), namespace, &info.resource)
        } else {
            Api::all_with(self.client.clone(), &info.resource)
        }
    }

    /// The live object, or None when it does not exist (or its kind is not served).
    pub async fn get(&self, r: &ObjectRef) -> Result<Option<Value>, KubeError> {
        let info = match self.resolve_kind(&r.group, &r.kind).await {
            Ok(info) => info,
            Err(KubeError::UnknownKind { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        match self.api(&info, &r.namespace).get_opt(&r.name).await? {
            Some(obj) => Ok(Some(
                serde_json::to_value(obj).map_err(|e| KubeError::Other(e.to_string()))?,
            )),
            None => Ok(None),
        }
    }

    /// Server-side apply `obj` with `field_manager`. Returns the object as the
    /// server stored it. `dry_run` asks the server to validate without storing.
    pub async fn apply(
        &self,
        obj: &Value,
        field_manager: &str,
        force: bool,
        dry_run: bool,
    ) -> Result<Value, KubeError> {
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let info = self.resolve(api_version, kind).await?;
        let meta = &obj["metadata"];
        let name = meta.get("name").and_then(Value::as_str).unwrap_or("");
        let namespace = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
        let mut params = PatchParams::apply(field_manager);
        params.force = force;
        params.dry_run = dry_run;
        let applied = self
            .api(&info, namespace)
            .patch(name, &params, &Patch::Apply(obj))
            .await?;
        serde_json::to_value(applied).map_err(|e| KubeError::Other(e.to_string()))
    }

    /// Delete with background propagation. A missing object is not an error.
    pub async fn delete(&self, r: &ObjectRef) -> Result<(), KubeError> {
        self.delete_exact(r, None).await
    }

    /// Delete only the object with this uid and resourceVersion (a 409 when it
    /// changed since it was read), so a decision taken on a read is not
    /// applied to a newer object.
    pub async fn delete_exact(
        &self,
        r: &ObjectRef,
        read: Option<(&str, &str)>,
    ) -> Result<(), KubeError> {
        let info = self.resolve_kind(&r.group, &r.kind).await?;
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            preconditions: read.map(|(uid, rv)| kube::api::Preconditions {
                uid: Some(uid.to_string()),
                resource_version: Some(rv.to_string()),
            }),
            ..Default::default()
        };
        match self.api(&info, &r.namespace).delete(&r.name, &params).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = KubeError::from(e);
                if e.is_not_found() { Ok(()) } else { Err(e) }
            }
        }
    }

    /// Create a namespace if it is missing (syncOption CreateNamespace).
    pub async fn ensure_namespace(
        &self,
        name: &str,
        field_manager: &str,
    ) -> Result<bool, KubeError> {
        let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client.clone());
        if api.get_opt(name).await?.is_some() {
            return Ok(false);
        }
        let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        let ns: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(ns).map_err(|e| KubeError::Other(e.to_string()))?;
        match api
            .create(
                &PostParams {
                    field_manager: Some(field_manager.to_string()),
                    ..Default::default()
                },
                &ns,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = KubeError::from(e);
                if e.is_conflict() { Ok(false) } else { Err(e) }
            }
        }
    }

    /// Install (or update) a CRD and wait until it is Established.
    pub async fn ensure_crd(
        &self,
        crd: &CustomResourceDefinition,
        timeout: Duration,
    ) -> Result<(), KubeError> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(
            &name,
            &PatchParams::apply(tether_model::FIELD_MANAGER).force(),
            &Patch::Apply(crd),
        )
        .await?;
        self.wait_established(&name, timeout).await?;
        self.refresh_discovery().await
    }

    /// Wait until a CRD reports `Established=True`.
    pub async fn wait_established(&self, name: &str, timeout: Duration) -> Result<(), KubeError> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(crd) = api.get_opt(name).await? {
                let established = crd
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    });
                if established {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(KubeError::Other(format!(
                    "CustomResourceDefinition {name} was not Established within {}s",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn discover(client: &Client) -> Result<Snapshot, KubeError> {
    // Aggregated discovery is two requests instead of one per group version.
    let discovery = match Discovery::new(client.clone()).run_aggregated().await {
        Ok(d) => d,
        Err(_) => Discovery::new(client.clone()).run().await?,
    };
    let version = client.apiserver_version().await?.git_version;
    Ok(Snapshot {
        discovery: Arc::new(discovery),
        taken: Instant::now(),
        version,
    })
}
