//! The catalog of served kinds: every built-in kind a default 1.35 cluster
//! serves, plus the kinds that CustomResourceDefinitions add at run time.
//!
//! Names, groups, versions, plurals and scopes of built-in kinds come from the
//! `k8s-openapi` crate's `Resource` impls; short names, categories and
//! subresources come from the small tables below, which the real discovery
//! documents in `../shared/k8s-api` check (see `tests/schema_tables.rs`).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::schema::Schema;

/// Checks a built-in object against its Rust type and returns the object as the
/// typed round trip writes it: unknown fields are gone, so the caller can tell
/// which fields were unknown by comparing.
pub type TypedRoundTrip = fn(&Value) -> Result<Value, String>;

/// Adds a built-in kind's OpenAPI schema (and the schemas it refers to) to a
/// generator's definitions and returns the reference to it.
pub type OpenApiSchema =
    fn(&mut k8s_openapi::schemars::SchemaGenerator) -> k8s_openapi::schemars::Schema;

fn openapi_schema<T: k8s_openapi::schemars::JsonSchema>(
    generator: &mut k8s_openapi::schemars::SchemaGenerator,
) -> k8s_openapi::schemars::Schema {
    generator.subschema_for::<T>()
}

/// One served resource (a kind at one group/version).
#[derive(Clone, Debug)]
pub struct ResourceInfo {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    /// The plural, as used in URLs.
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub has_status: bool,
    /// For kinds with a scale subresource: the JSON paths of replicas in spec and status
    /// and of the label selector, as `(spec, status, selector)`.
    pub scale: Option<ScalePaths>,
    /// The verbs served: all eight, except on namespaces (no deletecollection).
    pub verbs: &'static [&'static str],
    /// Built-in kinds: the typed round trip. Custom resources: None.
    pub typed: Option<TypedRoundTrip>,
    /// Built-in kinds: their full OpenAPI schema. Custom resources: None (see `crd`).
    pub openapi: Option<OpenApiSchema>,
    /// The merge schema (built-in table or CRD's openAPIV3Schema).
    pub schema: Arc<Schema>,
    /// Custom resources: the CRD's raw openAPIV3Schema, for validation, and its printer columns.
    pub crd: Option<CrdVersionInfo>,
    /// Preferred version of the group for discovery ordering.
    pub storage: bool,
    /// Where objects of every version of this resource are stored (group, plural).
    pub key: GroupResource,
}

#[derive(Clone, Debug)]
pub struct ScalePaths {
    pub spec_replicas: &'static [&'static str],
    pub status_replicas: &'static [&'static str],
    pub selector: Option<&'static str>,
}

#[derive(Clone, Debug)]
pub struct CrdVersionInfo {
    pub crd_name: String,
    pub open_api_schema: Option<Value>,
    pub printer_columns: Vec<crate::table::PrinterColumn>,
}

pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Namespaces: deleting the collection is not served (the real server answers 405).
pub const NAMESPACE_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

impl ResourceInfo {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, as error messages name resources.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The key under which objects of this resource are stored: all versions of a
    /// resource share one collection, as in etcd.
    pub fn storage_key(&self) -> &GroupResource {
        &self.key
    }

    pub fn is_custom(&self) -> bool {
        self.crd.is_some()
    }
}

/// A subresource that reads the whole object and writes one part of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartSubresource {
    pub name: &'static str,
    pub verbs: &'static [&'static str],
    /// The part of the object a write through it may change.
    pub path: &'static [&'static str],
}

/// Subresources of built-in kinds besides `status` and `scale`, as a default
/// 1.35 cluster serves them: (group, kind, subresource).
const PART_SUBRESOURCES: &[(&str, &str, PartSubresource)] = &[
    (
        "",
        "Namespace",
        PartSubresource {
            name: "finalize",
            verbs: &["update"],
            path: &["spec", "finalizers"],
        },
    ),
    (
        "",
        "Pod",
        PartSubresource {
            name: "ephemeralcontainers",
            verbs: &["get", "patch", "update"],
            path: &["spec", "ephemeralContainers"],
        },
    ),
    (
        "",
        "Pod",
        PartSubresource {
            name: "resize",
            verbs: &["get", "patch", "update"],
            path: &["spec", "containers"],
        },
    ),
    (
        "certificates.k8s.io",
        "CertificateSigningRequest",
        PartSubresource {
            name: "approval",
            verbs: &["get", "patch", "update"],
            path: &["status", "conditions"],
        },
    ),
];

const STATUS: PartSubresource = PartSubresource {
    name: "status",
    verbs: &["get", "patch", "update"],
    path: &["status"],
};

impl ResourceInfo {
    /// The part-writing subresources of this kind, `status` first.
    pub fn part_subresources(&self) -> Vec<PartSubresource> {
        let mut out = Vec::new();
        if self.has_status {
            out.push(STATUS);
        }
        out.extend(
            PART_SUBRESOURCES
                .iter()
                .filter(|(g, k, _)| *g == self.group && *k == self.kind && !self.is_custom())
                .map(|(_, _, p)| *p),
        );
        out
    }

    pub fn part_subresource(&self, name: &str) -> Option<PartSubresource> {
        self.part_subresources()
            .into_iter()
            .find(|p| p.name == name)
    }

    /// Whether objects of this kind carry `metadata.generation`. Custom resources
    /// and kinds with a spec do; the real registry leaves it off these data and
    /// bookkeeping kinds.
    pub fn has_generation(&self) -> bool {
        const WITHOUT: &[(&str, &str)] = &[
            ("", "ConfigMap"),
            ("", "Secret"),
            ("", "Namespace"),
            ("", "Service"),
            ("", "ServiceAccount"),
            ("", "Endpoints"),
            ("", "Event"),
            ("", "Node"),
            ("", "LimitRange"),
            ("", "ResourceQuota"),
            ("", "PersistentVolume"),
            ("", "PersistentVolumeClaim"),
            ("", "PodTemplate"),
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("rbac.authorization.k8s.io", "RoleBinding"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
            ("coordination.k8s.io", "Lease"),
            ("events.k8s.io", "Event"),
            ("scheduling.k8s.io", "PriorityClass"),
            ("storage.k8s.io", "StorageClass"),
        ];
        self.is_custom() || !WITHOUT.contains(&(self.group.as_str(), self.kind.as_str()))
    }

    /// Pods serve their containers' logs at `pods/log`.
    pub fn has_log(&self) -> bool {
        self.group.is_empty() && self.kind == "Pod"
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

trait Scope {
    const NAMESPACED: bool;
}
impl Scope for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl Scope for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

fn round_trip<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
    // Deserialising from a borrowed value avoids copying the object first; the
    // path tracker names the field that failed (`spec.replicas: invalid type ...`).
    let typed: T = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.into_inner().to_string()
        } else {
            format!("{path}: {}", e.into_inner())
        }
    })?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// Project-written facts that `k8s-openapi` does not carry.
struct Extra {
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: Option<ScalePaths>,
}

const REPLICAS_SCALE: Option<ScalePaths> = Some(ScalePaths {
    spec_replicas: &["spec", "replicas"],
    status_replicas: &["status", "replicas"],
    selector: Some("selector"),
});

fn builtin<T>(extra: Extra) -> ResourceInfo
where
    T: k8s_openapi::Resource
        + k8s_openapi::ListableResource
        + DeserializeOwned
        + Serialize
        + k8s_openapi::schemars::JsonSchema,
    T::Scope: Scope,
{
    let kind = T::KIND.to_string();
    ResourceInfo {
        group: T::GROUP.to_string(),
        version: T::VERSION.to_string(),
        list_kind: T::LIST_KIND.to_string(),
        plural: T::URL_PATH_SEGMENT.to_string(),
        singular: kind.to_lowercase(),
        namespaced: <T::Scope as Scope>::NAMESPACED,
        short_names: extra.short_names.iter().map(|s| s.to_string()).collect(),
        categories: extra.categories.iter().map(|s| s.to_string()).collect(),
        has_status: extra.status,
        scale: extra.scale,
        verbs: ALL_VERBS,
        typed: Some(round_trip::<T>),
        openapi: Some(openapi_schema::<T>),
        schema: crate::builtin_schema::builtin_schema(T::GROUP, T::VERSION, T::KIND)
            .unwrap_or_default(),
        crd: None,
        storage: true,
        key: GroupResource {
            group: T::GROUP.to_string(),
            resource: T::URL_PATH_SEGMENT.to_string(),
        },
        kind,
    }
}

macro_rules! extra {
    ([$($s:literal),*], [$($c:literal),*], $status:expr, $scale:expr) => {
        Extra { short_names: &[$($s),*], categories: &[$($c),*], status: $status, scale: $scale }
    };
}

/// The built-in kinds a default Kubernetes 1.35 cluster serves (stable versions only;
/// beta and alpha APIs are off by default).
pub fn builtin_resources() -> Vec<ResourceInfo> {
    use k8s_openapi::api::*;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apiregistration;

    vec![
        // core/v1
        builtin::<core::v1::ConfigMap>(extra!(["cm"], [], false, None)),
        builtin::<core::v1::Endpoints>(extra!(["ep"], [], false, None)),
        builtin::<core::v1::Event>(extra!(["ev"], [], false, None)),
        builtin::<core::v1::LimitRange>(extra!(["limits"], [], false, None)),
        ResourceInfo {
            verbs: NAMESPACE_VERBS,
            ..builtin::<core::v1::Namespace>(extra!(["ns"], [], true, None))
        },
        builtin::<core::v1::Node>(extra!(["no"], [], true, None)),
        builtin::<core::v1::PersistentVolumeClaim>(extra!(["pvc"], [], true, None)),
        builtin::<core::v1::PersistentVolume>(extra!(["pv"], [], true, None)),
        builtin::<core::v1::Pod>(extra!(["po"], ["all"], true, None)),
        builtin::<core::v1::PodTemplate>(extra!([], [], false, None)),
        builtin::<core::v1::ReplicationController>(extra!(
            ["rc"],
            ["all"],
            true,
            Some(ScalePaths {
                spec_replicas: &["spec", "replicas"],
                status_replicas: &["status", "replicas"],
                selector: None,
            })
        )),
        builtin::<core::v1::ResourceQuota>(extra!(["quota"], [], true, None)),
        builtin::<core::v1::Secret>(extra!([], [], false, None)),
        builtin::<core::v1::ServiceAccount>(extra!(["sa"], [], false, None)),
        builtin::<core::v1::Service>(extra!(["svc"], ["all"], true, None)),
        // admissionregistration.k8s.io/v1
        builtin::<admissionregistration::v1::MutatingWebhookConfiguration>(extra!(
            [],
            ["api-extensions"],
            false,
            None
        )),
        builtin::<admissionregistration::v1::ValidatingWebhookConfiguration>(extra!(
            [],
            ["api-extensions"],
            false,
            None
        )),
        builtin::<admissionregistration::v1::ValidatingAdmissionPolicy>(extra!(
            [],
            ["api-extensions"],
            true,
            None
        )),
        builtin::<admissionregistration::v1::ValidatingAdmissionPolicyBinding>(extra!(
            [],
            ["api-extensions"],
            false,
            None
        )),
        // apiextensions.k8s.io/v1
        builtin::<apiext::CustomResourceDefinition>(extra!(
            ["crd", "crds"],
            ["api-extensions"],
            true,
            None
        )),
        // apiregistration.k8s.io/v1
        builtin::<apiregistration::APIService>(extra!([], ["api-extensions"], true, None)),
        // apps/v1
        builtin::<apps::v1::ControllerRevision>(extra!([], [], false, None)),
        builtin::<apps::v1::DaemonSet>(extra!(["ds"], ["all"], true, None)),
        builtin::<apps::v1::Deployment>(extra!(["deploy"], ["all"], true, REPLICAS_SCALE)),
        builtin::<apps::v1::ReplicaSet>(extra!(["rs"], ["all"], true, REPLICAS_SCALE)),
        builtin::<apps::v1::StatefulSet>(extra!(["sts"], ["all"], true, REPLICAS_SCALE)),
        // autoscaling: v2 is preferred; v1 is served too.
        builtin::<autoscaling::v2::HorizontalPodAutoscaler>(extra!(["hpa"], ["all"], true, None)),
        ResourceInfo {
            storage: false,
            ..builtin::<autoscaling::v1::HorizontalPodAutoscaler>(extra!(
                ["hpa"],
                ["all"],
                true,
                None
            ))
        },
        // batch/v1
        builtin::<batch::v1::CronJob>(extra!(["cj"], ["all"], true, None)),
        builtin::<batch::v1::Job>(extra!([], ["all"], true, None)),
        // certificates.k8s.io/v1
        builtin::<certificates::v1::CertificateSigningRequest>(extra!(["csr"], [], true, None)),
        // coordination.k8s.io/v1
        builtin::<coordination::v1::Lease>(extra!([], [], false, None)),
        // discovery.k8s.io/v1
        builtin::<discovery::v1::EndpointSlice>(extra!([], [], false, None)),
        // events.k8s.io/v1
        // Stored with core Events: one resource served by two groups (see `crate::events`).
        ResourceInfo {
            key: GroupResource {
                group: String::new(),
                resource: "events".into(),
            },
            ..builtin::<events::v1::Event>(extra!(["ev"], [], false, None))
        },
        // flowcontrol.apiserver.k8s.io/v1
        builtin::<flowcontrol::v1::FlowSchema>(extra!([], [], true, None)),
        builtin::<flowcontrol::v1::PriorityLevelConfiguration>(extra!([], [], true, None)),
        // networking.k8s.io/v1
        builtin::<networking::v1::IngressClass>(extra!([], [], false, None)),
        builtin::<networking::v1::Ingress>(extra!(["ing"], [], true, None)),
        builtin::<networking::v1::IPAddress>(extra!(["ip"], [], false, None)),
        builtin::<networking::v1::NetworkPolicy>(extra!(["netpol"], [], false, None)),
        builtin::<networking::v1::ServiceCIDR>(extra!([], [], true, None)),
        // node.k8s.io/v1
        builtin::<node::v1::RuntimeClass>(extra!([], [], false, None)),
        // policy/v1
        builtin::<policy::v1::PodDisruptionBudget>(extra!(["pdb"], [], true, None)),
        // rbac.authorization.k8s.io/v1
        builtin::<rbac::v1::ClusterRoleBinding>(extra!([], [], false, None)),
        builtin::<rbac::v1::ClusterRole>(extra!([], [], false, None)),
        builtin::<rbac::v1::RoleBinding>(extra!([], [], false, None)),
        builtin::<rbac::v1::Role>(extra!([], [], false, None)),
        // resource.k8s.io/v1
        builtin::<resource::v1::DeviceClass>(extra!([], [], false, None)),
        builtin::<resource::v1::ResourceClaimTemplate>(extra!([], [], false, None)),
        builtin::<resource::v1::ResourceClaim>(extra!([], [], true, None)),
        builtin::<resource::v1::ResourceSlice>(extra!([], [], false, None)),
        // scheduling.k8s.io/v1
        builtin::<scheduling::v1::PriorityClass>(extra!(["pc"], [], false, None)),
        // storage.k8s.io/v1
        builtin::<storage::v1::CSIDriver>(extra!([], [], false, None)),
        builtin::<storage::v1::CSINode>(extra!([], [], false, None)),
        builtin::<storage::v1::CSIStorageCapacity>(extra!([], [], false, None)),
        builtin::<storage::v1::StorageClass>(extra!(["sc"], [], false, None)),
        builtin::<storage::v1::VolumeAttachment>(extra!([], [], true, None)),
        builtin::<storage::v1::VolumeAttributesClass>(extra!(["vac"], [], false, None)),
    ]
}

/// The live catalog: built-ins plus whatever CRDs are established.
#[derive(Default)]
pub struct Catalog {
    inner: RwLock<CatalogInner>,
}

#[derive(Default, Clone)]
struct CatalogInner {
    /// (group, version, plural) -> info
    by_path: BTreeMap<(String, String, String), Arc<ResourceInfo>>,
    /// The same, keyed `group/version/plural`, for the lookup every request makes.
    by_url: std::collections::HashMap<String, Arc<ResourceInfo>>,
    /// The order groups were first seen in, for discovery (built-ins first, like the real server).
    group_order: Vec<String>,
    /// group -> versions in preference order
    group_versions: BTreeMap<String, Vec<String>>,
    /// Resources added by each CRD (by CRD name), so deleting a CRD removes them.
    by_crd: BTreeMap<String, Vec<(String, String, String)>>,
}

impl Catalog {
    pub fn new() -> Self {
        let catalog = Catalog::default();
        {
            let mut inner = catalog.write();
            for info in builtin_resources() {
                inner.insert(info);
            }
        }
        catalog
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, CatalogInner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
    fn read(&self) -> std::sync::RwLockReadGuard<'_, CatalogInner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.read()
            .by_url
            .get(&format!("{group}/{version}/{plural}"))
            .cloned()
    }

    /// Any served version of a group/resource.
    pub fn any_version(&self, gr: &GroupResource) -> Option<Arc<ResourceInfo>> {
        self.read().by_path.values().find(|r| r.key == *gr).cloned()
    }

    /// Finds a resource by group, version and kind.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceInfo>> {
        self.read()
            .by_path
            .values()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
            .cloned()
    }

    /// Every version of a group/resource, for watchers that span versions.
    pub fn group_exists(&self, group: &str) -> bool {
        self.read().group_versions.contains_key(group)
    }

    pub fn version_exists(&self, group: &str, version: &str) -> bool {
        self.read()
            .group_versions
            .get(group)
            .is_some_and(|v| v.iter().any(|x| x == version))
    }

    /// Groups in discovery order with their versions (preferred first). The core group is "".
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let inner = self.read();
        inner
            .group_order
            .iter()
            .filter_map(|g| inner.group_versions.get(g).map(|v| (g.clone(), v.clone())))
            .collect()
    }

    /// Resources of one group/version, sorted by plural.
    pub fn resources(&self, group: &str, version: &str) -> Vec<Arc<ResourceInfo>> {
        self.read()
            .by_path
            .values()
            .filter(|r| r.group == group && r.version == version)
            .cloned()
            .collect()
    }

    pub fn all(&self) -> Vec<Arc<ResourceInfo>> {
        self.read().by_path.values().cloned().collect()
    }

    /// Serves (or re-serves) the versions of one CRD, replacing what it served before.
    pub fn register_crd(&self, crd_name: &str, infos: Vec<ResourceInfo>) {
        let mut inner = self.write();
        inner.remove_crd(crd_name);
        let keys = infos
            .iter()
            .map(|i| (i.group.clone(), i.version.clone(), i.plural.clone()))
            .collect();
        for info in infos {
            inner.insert(info);
        }
        inner.by_crd.insert(crd_name.to_string(), keys);
    }

    pub fn unregister_crd(&self, crd_name: &str) {
        self.write().remove_crd(crd_name);
    }
}

impl CatalogInner {
    fn insert(&mut self, info: ResourceInfo) {
        if !self.group_versions.contains_key(&info.group) {
            self.group_order.push(info.group.clone());
        }
        let versions = self.group_versions.entry(info.group.clone()).or_default();
        if !versions.contains(&info.version) {
            // The storage (preferred) version goes first.
            if info.storage {
                versions.insert(0, info.version.clone());
            } else {
                versions.push(info.version.clone());
            }
        }
        let url = format!("{}/{}/{}", info.group, info.version, info.plural);
        let info = Arc::new(info);
        self.by_url.insert(url, info.clone());
        self.by_path.insert(
            (
                info.group.clone(),
                info.version.clone(),
                info.plural.clone(),
            ),
            info,
        );
    }

    fn remove_crd(&mut self, crd_name: &str) {
        let Some(keys) = self.by_crd.remove(crd_name) else {
            return;
        };
        for key in keys {
            self.by_path.remove(&key);
            self.by_url
                .remove(&format!("{}/{}/{}", key.0, key.1, key.2));
            let (group, version, _) = key;
            let still_served = self
                .by_path
                .keys()
                .any(|(g, v, _)| g == &group && v == &version);
            if !still_served && let Some(vs) = self.group_versions.get_mut(&group) {
                vs.retain(|v| v != &version);
                if vs.is_empty() {
                    self.group_versions.remove(&group);
                    self.group_order.retain(|g| g != &group);
                }
            }
        }
    }
}
