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

pub mod fence;
pub use fence::{Fence, FenceLayer};

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

/// How a call to the API server is retried when it fails transiently (429,
/// 5xx, connection errors): exponential backoff with jitter, a few attempts,
/// and a cap on the total wait, so one sick request never holds a sync for
/// long. Longer outages are the agent's to back off from, per app.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub base: Duration,
    /// Up to this fraction of each wait is added at random (0.5: up to 50 % more),
    /// so callers that failed together do not retry together.
    pub jitter: f64,
    /// The most one call waits across all its retries.
    pub max_total: Duration,
}

/// What [`Cluster`] uses: waits of 150–225 ms, 300–450 ms, 600–900 ms.
pub const RETRY: RetryPolicy = RetryPolicy {
    attempts: 4,
    base: Duration::from_millis(150),
    jitter: 0.5,
    max_total: Duration::from_secs(2),
};

impl RetryPolicy {
    /// The wait before retry `retry` (0 for the first retry) of a call that
    /// has already waited `waited`, with `random` in [0, 1); None: give up.
    pub fn delay(&self, retry: u32, waited: Duration, random: f64) -> Option<Duration> {
        if retry.saturating_add(1) >= self.attempts {
            return None;
        }
        let left = self.max_total.saturating_sub(waited);
        if left.is_zero() {
            return None;
        }
        let base = self.base.saturating_mul(1u32 << retry.min(20));
        let random = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let wait = base.saturating_add(base.mul_f64(self.jitter.max(0.0) * random));
        Some(wait.min(left))
    }
}

/// A number in [0, 1) for jitter: std's per-instance random hasher keys are
/// enough, and need no dependency.
fn jitter_random() -> f64 {
    use std::hash::BuildHasher;
    let x = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Run `call` under [`RETRY`]: transient errors are retried (logged at debug),
/// anything else is returned at once. `what` names the call in the log.
pub async fn retrying<T, F, Fut>(what: &str, mut call: F) -> Result<T, KubeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, KubeError>>,
{
    let mut waited = Duration::ZERO;
    let mut retry = 0;
    loop {
        let err = match call().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() => e,
            Err(e) => return Err(e),
        };
        let Some(wait) = RETRY.delay(retry, waited, jitter_random()) else {
            tracing::debug!(attempts = retry + 1, "{what}: giving up: {err}");
            return Err(err);
        };
        tracing::debug!(attempt = retry + 1, ?wait, "{what}: {err}; retrying");
        tokio::time::sleep(wait).await;
        waited += wait;
        retry += 1;
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
    api_versions: Arc<Vec<String>>,
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
        Cluster::connect_with(kubeconfig, context, None).await
    }

    /// Like [`Cluster::connect`], but every write (POST, PUT, PATCH, DELETE) except
    /// those on the fence's own Lease is refused unless `fence` holds: the
    /// client of a replica under leader election.
    pub async fn connect_fenced(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
        fence: Fence,
    ) -> Result<Cluster, KubeError> {
        Cluster::connect_with(kubeconfig, context, Some(fence)).await
    }

    async fn connect_with(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
        fence: Option<Fence>,
    ) -> Result<Cluster, KubeError> {
        // kube-rs builds its TLS client from the process-default crypto provider;
        // choose the one the whole binary uses rather than leave it to features.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let options = KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let mut config = match kubeconfig {
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
        // kube's own retry layer retries 429/503/504 up to 15 times, for minutes:
        // a sync would hang on a busy server. Cluster's methods retry briefly
        // themselves (RETRY) and the agent backs off per app.
        config.default_retry = false;
        let server = config.cluster_url.to_string();
        let builder = kube::client::ClientBuilder::try_from(config)
            .map_err(|e| KubeError::Connect(e.to_string()))?;
        let client = match fence {
            Some(fence) => builder.with_layer(&FenceLayer::new(fence)).build(),
            None => builder.build(),
        };
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
    /// Every `group/version` and `group/version/Kind` served, sorted (what
    /// `helm template --api-versions` wants). Worked out once per discovery.
    pub async fn api_versions(&self) -> Arc<Vec<String>> {
        self.discovery.read().await.api_versions.clone()
    }

    pub async fn refresh_discovery(&self) -> Result<(), KubeError> {
        let snap = retrying("discovery", || discover(&self.client)).await?;
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
        let api = self.api(&info, &r.namespace);
        let got = retrying(&format!("get {r}"), || async {
            api.get_opt(&r.name).await.map_err(KubeError::from)
        })
        .await?;
        match got {
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
        let api = self.api(&info, namespace);
        // Server-side apply is idempotent: sending it again is safe.
        let applied = retrying(&format!("apply {kind} {namespace}/{name}"), || async {
            api.patch(name, &params, &Patch::Apply(obj))
                .await
                .map_err(KubeError::from)
        })
        .await?;
        serde_json::to_value(applied).map_err(|e| KubeError::Other(e.to_string()))
    }

    /// JSON merge patch of the object `obj` (its apiVersion, kind, namespace
    /// and name say which) as `field_manager`. Not retried: callers patch with
    /// a resourceVersion precondition and decide again on a conflict.
    pub async fn merge_patch(
        &self,
        obj: &Value,
        patch: &Value,
        field_manager: &str,
    ) -> Result<Value, KubeError> {
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let info = self.resolve(api_version, kind).await?;
        let meta = &obj["metadata"];
        let name = meta.get("name").and_then(Value::as_str).unwrap_or("");
        let namespace = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
        let params = PatchParams {
            field_manager: Some(field_manager.to_string()),
            ..Default::default()
        };
        let patched = self
            .api(&info, namespace)
            .patch(name, &params, &Patch::Merge(patch))
            .await
            .map_err(KubeError::from)?;
        serde_json::to_value(patched).map_err(|e| KubeError::Other(e.to_string()))
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
        let api = self.api(&info, &r.namespace);
        // A retry after a lost reply finds the object gone: a 404, which is success.
        let deleted = retrying(&format!("delete {r}"), || async {
            api.delete(&r.name, &params).await.map_err(KubeError::from)
        })
        .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            // With preconditions, a retry after a delete that did land (its reply
            // lost) can meet the object still there, finalizers pending, with a
            // new resourceVersion: a 409. Same uid and being deleted is success.
            Err(e) if e.is_conflict() && read.is_some() => {
                let uid = read.map(|(uid, _)| uid).unwrap_or("");
                match api.get_opt(&r.name).await {
                    Ok(None) => Ok(()),
                    Ok(Some(obj))
                        if obj.metadata.uid.as_deref() == Some(uid)
                            && obj.metadata.deletion_timestamp.is_some() =>
                    {
                        Ok(())
                    }
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
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

fn api_versions_of(discovery: &Discovery) -> Vec<String> {
    let mut out = Vec::new();
    for group in discovery.groups() {
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

async fn discover(client: &Client) -> Result<Snapshot, KubeError> {
    // Aggregated discovery is two requests instead of one per group version.
    let discovery = match Discovery::new(client.clone()).run_aggregated().await {
        Ok(d) => d,
        Err(_) => Discovery::new(client.clone()).run().await?,
    };
    let version = client.apiserver_version().await?.git_version;
    Ok(Snapshot {
        api_versions: Arc::new(api_versions_of(&discovery)),
        discovery: Arc::new(discovery),
        taken: Instant::now(),
        version,
    })
}

#[cfg(test)]
mod retry_tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn waits_double_with_jitter_on_top() {
        let low: Vec<_> = (0..3).map(|n| RETRY.delay(n, ms(0), 0.0)).collect();
        assert_eq!(low, vec![Some(ms(150)), Some(ms(300)), Some(ms(600))]);
        let high: Vec<_> = (0..3).map(|n| RETRY.delay(n, ms(0), 0.999_999)).collect();
        for (h, l) in high.iter().zip(&low) {
            let (h, l) = (h.unwrap(), l.unwrap());
            assert!(h > l && h <= l.mul_f64(1.5), "{h:?} vs {l:?}");
        }
    }

    #[test]
    fn gives_up_after_the_attempts() {
        // Four attempts: three retries, then the error is returned.
        assert!(RETRY.delay(2, ms(450), 0.0).is_some());
        assert_eq!(RETRY.delay(3, ms(0), 0.0), None);
        assert_eq!(RETRY.delay(u32::MAX, ms(0), 0.0), None);
    }

    #[test]
    fn total_wait_is_capped() {
        let mut waited = Duration::ZERO;
        let mut n = 0;
        while let Some(d) = RETRY.delay(n, waited, 0.999_999) {
            waited += d;
            n += 1;
        }
        assert_eq!(n, 3);
        assert!(waited <= RETRY.max_total, "{waited:?}");
        // A call that already waited long gets only what is left, then nothing.
        assert_eq!(RETRY.delay(1, ms(1_900), 0.0), Some(ms(100)));
        assert_eq!(RETRY.delay(1, ms(2_000), 0.0), None);
        let long = RetryPolicy {
            attempts: 40,
            ..RETRY
        };
        assert_eq!(long.delay(35, ms(0), 0.5), Some(RETRY.max_total));
    }

    #[test]
    fn odd_random_numbers_do_not_break_it() {
        assert_eq!(RETRY.delay(0, ms(0), f64::NAN), Some(ms(150)));
        assert_eq!(RETRY.delay(0, ms(0), -3.0), Some(ms(150)));
        assert_eq!(RETRY.delay(0, ms(0), 7.0), Some(ms(225)));
        let r = jitter_random();
        assert!((0.0..1.0).contains(&r), "{r}");
    }

    #[test]
    fn only_transient_errors_are_retried() {
        let api = |code| KubeError::Api {
            code,
            reason: String::new(),
            message: String::new(),
        };
        assert!(api(429).is_transient());
        assert!(api(500).is_transient());
        assert!(api(503).is_transient());
        assert!(KubeError::Connect("refused".into()).is_transient());
        assert!(!api(404).is_transient());
        assert!(!api(409).is_transient());
        assert!(!api(422).is_transient());
        assert!(!KubeError::Other("bad".into()).is_transient());
    }

    #[tokio::test]
    async fn retrying_stops_at_success_or_a_lasting_error() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let calls = AtomicU32::new(0);
        let got = retrying("test", || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(KubeError::Connect("reset".into())),
                _ => Ok(7),
            }
        })
        .await;
        assert_eq!(got.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        calls.store(0, Ordering::SeqCst);
        let got: Result<(), _> = retrying("test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(KubeError::Api {
                code: 422,
                reason: "Invalid".into(),
                message: "bad".into(),
            })
        })
        .await;
        assert!(got.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a 422 is not retried");

        calls.store(0, Ordering::SeqCst);
        let got: Result<(), _> = retrying("test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(KubeError::Connect("down".into()))
        })
        .await;
        assert!(got.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), RETRY.attempts);
    }
}
