//! The merge schema of the built-in Kubernetes kinds: which lists are sets or maps keyed by
//! some fields, which objects are atomic, and the strategic-merge-patch strategies and merge
//! keys, as Kubernetes 1.35 publishes them in its OpenAPI v3 documents.
//!
//! The values live in a table written and maintained by hand (the OpenAPI documents may not be
//! copied into the repository). The tests read the real documents, when they are present, and
//! check the table against them in both directions: every entry must match the document, and
//! every marker reachable from a covered kind must be reproduced by the resolved schema.
//!
//! The table lists, per OpenAPI type, only the fields that carry a marker or that lead to a type
//! that does. Everything else resolves to [`Schema::Deduced`], which already behaves like an
//! unmarked field: objects merge field by field and lists are atomic. Built-in objects are marked
//! `preserve_unknown` because pruning of unknown fields in built-in kinds happens elsewhere (the
//! typed round trip); this schema must never report a field as unknown just because the table
//! leaves it out.
//!
//! Known limits of what [`Schema`] can express: a patch strategy on an object field
//! (`DeploymentSpec.strategy` is `retainKeys`, `PodDisruptionBudgetSpec.selector` is `replace`)
//! has no place in it and is left out, as is the odd `x-kubernetes-list-type: atomic` on the
//! string `APIServiceSpec.caBundle`. The recursive `JSONSchemaProps` of a
//! CustomResourceDefinition is unrolled to [`MAX_UNROLL`] levels, below which it is deduced.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use crate::schema::{ArraySchema, ListType, ObjectSchema, Schema};

/// The merge schema of a built-in kind, or None when the kind is not built in. group "" is core.
pub fn builtin_schema(group: &str, version: &str, kind: &str) -> Option<Arc<Schema>> {
    KIND_SCHEMAS.get(&(group, version, kind)).cloned()
}

/// The fields of a built-in kind that are Go value structs (not pointers): the
/// real server's objects always have them, `{}` when empty, so a write never
/// adds them as a whole and field ownership records no `.` for them (only for
/// maps, pointer structs and list items). Paths are listed parents first; a
/// path counts only where its parent exists (a ReplicationController's
/// template is a pointer, but the template's metadata and spec are values).
/// Every built-in kind has `metadata`, `spec` and `status` as value structs
/// where it has them at all; filling them in where a kind has no such field is
/// harmless, as both sides of a comparison get the same `{}`.
pub fn value_structs(group: &str, kind: &str) -> &'static [&'static [&'static str]] {
    const POD_TEMPLATE: &[&[&str]] = &[
        &["metadata"],
        &["spec"],
        &["status"],
        &["spec", "template"],
        &["spec", "template", "metadata"],
        &["spec", "template", "spec"],
    ];
    match (group, kind) {
        ("apps", "Deployment") => &[
            &["metadata"],
            &["spec"],
            &["status"],
            &["spec", "strategy"],
            &["spec", "template"],
            &["spec", "template", "metadata"],
            &["spec", "template", "spec"],
        ],
        ("apps", "DaemonSet" | "StatefulSet") => &[
            &["metadata"],
            &["spec"],
            &["status"],
            &["spec", "updateStrategy"],
            &["spec", "template"],
            &["spec", "template", "metadata"],
            &["spec", "template", "spec"],
        ],
        ("apps", "ReplicaSet") | ("batch", "Job") => POD_TEMPLATE,
        // A pointer template: only its insides are values.
        ("", "ReplicationController") => &[
            &["metadata"],
            &["spec"],
            &["status"],
            &["spec", "template", "metadata"],
            &["spec", "template", "spec"],
        ],
        ("", "PodTemplate") => &[
            &["metadata"],
            &["template"],
            &["template", "metadata"],
            &["template", "spec"],
        ],
        ("batch", "CronJob") => &[
            &["metadata"],
            &["spec"],
            &["status"],
            &["spec", "jobTemplate"],
            &["spec", "jobTemplate", "metadata"],
            &["spec", "jobTemplate", "spec"],
            &["spec", "jobTemplate", "spec", "template"],
            &["spec", "jobTemplate", "spec", "template", "metadata"],
            &["spec", "jobTemplate", "spec", "template", "spec"],
        ],
        ("", "Event") => &[&["metadata"], &["involvedObject"], &["source"]],
        ("events.k8s.io", "Event") => &[&["metadata"], &["regarding"], &["deprecatedSource"]],
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            &[&["metadata"], &["roleRef"]]
        }
        ("autoscaling", "HorizontalPodAutoscaler") => &[
            &["metadata"],
            &["spec"],
            &["status"],
            &["spec", "scaleTargetRef"],
        ],
        ("", "Service") => &[
            &["metadata"],
            &["spec"],
            &["status"],
            &["status", "loadBalancer"],
        ],
        ("", "PersistentVolumeClaim") => &[
            &["metadata"],
            &["spec"],
            &["status"],
            &["spec", "resources"],
        ],
        _ => &[&["metadata"], &["spec"], &["status"]],
    }
}

/// Lists of a built-in kind without `omitempty`: a pod spec's `containers` is
/// encoded as `null` even in the zero object, so adding containers does not add
/// the list as a whole (no `.` on `f:containers`). Listed where the pod spec is
/// always there (see [`value_structs`]).
pub fn value_lists(group: &str, kind: &str) -> &'static [&'static [&'static str]] {
    match (group, kind) {
        ("", "Pod") => &[&["spec", "containers"]],
        ("apps", _) | ("batch", "Job") | ("", "ReplicationController") => {
            &[&["spec", "template", "spec", "containers"]]
        }
        ("", "PodTemplate") => &[&["template", "spec", "containers"]],
        ("batch", "CronJob") => &[&[
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "spec",
            "containers",
        ]],
        _ => &[],
    }
}

/// Group, version and kind.
type Gvk = (&'static str, &'static str, &'static str);

/// Every kind's tree, built on first use. Subtrees shared between kinds (the pod template above
/// all) are built once and shared through their `Arc`.
static KIND_SCHEMAS: LazyLock<HashMap<Gvk, Arc<Schema>>> = LazyLock::new(|| {
    let mut builder = Builder::new();
    let mut out = HashMap::new();
    for &(group, version, package, kinds) in KINDS {
        for &kind in kinds {
            let root = builder.root(&format!("{package}.{kind}"));
            out.insert((group, version, kind), root);
        }
    }
    out
});

/// How deep the self-referencing `JSONSchemaProps` (a CRD's `openAPIV3Schema`) is unrolled.
/// An `Arc` tree cannot loop back on itself, and real CRD schemas nest far less than this.
const MAX_UNROLL: usize = 32;

/// Group, version, the package prefix of their OpenAPI type names, and kinds.
type KindRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

/// The default-served kinds: group, version, the package prefix of their OpenAPI type names
/// (see [`TYPES`]), and the kinds, each rooted at type `<package>.<kind>`. Subresource-only
/// kinds (Scale, Eviction, TokenRequest) are left out: they are never stored or applied.
#[rustfmt::skip]
static KINDS: &[KindRow] = &[
    ("", "v1", "core.v1", &[
        "Binding", "ComponentStatus", "ConfigMap", "Endpoints", "Event", "LimitRange",
        "Namespace", "Node", "PersistentVolume", "PersistentVolumeClaim", "Pod", "PodTemplate",
        "ReplicationController", "ResourceQuota", "Secret", "Service", "ServiceAccount",
    ]),
    ("admissionregistration.k8s.io", "v1", "admissionregistration.v1", &[
        "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration",
    ]),
    ("apiextensions.k8s.io", "v1", "apiextensions.v1", &["CustomResourceDefinition"]),
    ("apiregistration.k8s.io", "v1", "apiregistration.v1", &["APIService"]),
    ("apps", "v1", "apps.v1", &[
        "ControllerRevision", "DaemonSet", "Deployment", "ReplicaSet", "StatefulSet",
    ]),
    ("authentication.k8s.io", "v1", "authentication.v1", &["SelfSubjectReview", "TokenReview"]),
    ("authorization.k8s.io", "v1", "authorization.v1", &[
        "LocalSubjectAccessReview", "SelfSubjectAccessReview", "SelfSubjectRulesReview",
        "SubjectAccessReview",
    ]),
    ("autoscaling", "v1", "autoscaling.v1", &["HorizontalPodAutoscaler"]),
    ("autoscaling", "v2", "autoscaling.v2", &["HorizontalPodAutoscaler"]),
    ("batch", "v1", "batch.v1", &["CronJob", "Job"]),
    ("certificates.k8s.io", "v1", "certificates.v1", &["CertificateSigningRequest"]),
    ("coordination.k8s.io", "v1", "coordination.v1", &["Lease"]),
    ("discovery.k8s.io", "v1", "discovery.v1", &["EndpointSlice"]),
    ("events.k8s.io", "v1", "events.v1", &["Event"]),
    ("flowcontrol.apiserver.k8s.io", "v1", "flowcontrol.v1", &[
        "FlowSchema", "PriorityLevelConfiguration",
    ]),
    ("networking.k8s.io", "v1", "networking.v1", &[
        "IPAddress", "Ingress", "IngressClass", "NetworkPolicy", "ServiceCIDR",
    ]),
    ("node.k8s.io", "v1", "node.v1", &["RuntimeClass"]),
    ("policy", "v1", "policy.v1", &["PodDisruptionBudget"]),
    ("rbac.authorization.k8s.io", "v1", "rbac.v1", &[
        "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
    ]),
    ("resource.k8s.io", "v1", "resource.v1", &[
        "DeviceClass", "ResourceClaim", "ResourceClaimTemplate", "ResourceSlice",
    ]),
    ("scheduling.k8s.io", "v1", "scheduling.v1", &["PriorityClass"]),
    ("storage.k8s.io", "v1", "storage.v1", &[
        "CSIDriver", "CSINode", "CSIStorageCapacity", "StorageClass", "VolumeAttachment",
        "VolumeAttributesClass",
    ]),
];

// ---------------------------------------------------------------------------------------------
// The table's vocabulary. Type names are OpenAPI names shortened to `<package>.<version>.<Type>`
// to keep rows short: `core.v1.PodSpec` is `io.k8s.api.core.v1.PodSpec`, `meta.v1.ObjectMeta`
// is `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`, `apiextensions.v1.X` lives under
// `io.k8s.apiextensions-apiserver.pkg.apis`, `apiregistration.v1.X` under
// `io.k8s.kube-aggregator.pkg.apis`.

/// What a list holds or a map maps to.
#[derive(Clone, Copy, Debug)]
enum Item {
    /// A string or number.
    Scalar,
    /// An object with no markers anywhere below it: deduced.
    Plain,
    /// A type of the table.
    Type(&'static str),
}

/// `x-kubernetes-list-type` (and `x-kubernetes-list-map-keys`).
#[derive(Clone, Copy, Debug)]
enum Keys {
    Atomic,
    Set,
    Map(&'static [&'static str]),
}

#[derive(Clone, Copy, Debug)]
enum Field {
    /// An object of a table type. `granular` is a property-level `x-kubernetes-map-type:
    /// granular` that overrides an atomic type (PersistentVolumeSpec.claimRef).
    Object { ty: &'static str, granular: bool },
    List {
        items: Item,
        keys: Keys,
        strategy: Option<&'static str>,
        merge_key: Option<&'static str>,
    },
    /// A map (`additionalProperties`), atomic or not.
    Map { values: Item, atomic: bool },
}

struct TypeDef {
    name: &'static str,
    /// `x-kubernetes-map-type: atomic` on the type itself.
    atomic: bool,
    fields: &'static [(&'static str, Field)],
}

const S: Item = Item::Scalar;
const P: Item = Item::Plain;
const fn t(name: &'static str) -> Item {
    Item::Type(name)
}
const fn obj(ty: &'static str) -> Field {
    Field::Object {
        ty,
        granular: false,
    }
}
/// An object of an atomic type that the property declares granular after all.
const fn granular(ty: &'static str) -> Field {
    Field::Object { ty, granular: true }
}
const fn list(items: Item, keys: Keys, strategy: &'static str, merge_key: &'static str) -> Field {
    // Empty strings stand for "absent" so the table rows stay short.
    Field::List {
        items,
        keys,
        strategy: if strategy.is_empty() {
            None
        } else {
            Some(strategy)
        },
        merge_key: if merge_key.is_empty() {
            None
        } else {
            Some(merge_key)
        },
    }
}
const fn atomic(items: Item) -> Field {
    list(items, Keys::Atomic, "", "")
}
const fn set(items: Item) -> Field {
    list(items, Keys::Set, "", "")
}
/// A set that strategic merge patch also merges (scalars merge by value, so no key).
const fn set_merge(items: Item) -> Field {
    list(items, Keys::Set, "merge", "")
}
/// A list-map for server-side apply without strategic-merge-patch markers.
const fn keyed(keys: &'static [&'static str], items: Item) -> Field {
    list(items, Keys::Map(keys), "", "")
}
/// A list-map that strategic merge patch merges on `key`.
const fn merged(keys: &'static [&'static str], key: &'static str, items: Item) -> Field {
    list(items, Keys::Map(keys), "merge", key)
}
const fn merged_retain(keys: &'static [&'static str], key: &'static str, items: Item) -> Field {
    list(items, Keys::Map(keys), "merge,retainKeys", key)
}
/// Atomic for server-side apply, yet merged by strategic merge patch (JobStatus.conditions,
/// PodStatus.hostIPs): the two mechanisms disagree in the real API too.
const fn atomic_merged(key: &'static str, items: Item) -> Field {
    list(items, Keys::Atomic, "merge", key)
}
const fn map(values: Item) -> Field {
    Field::Map {
        values,
        atomic: false,
    }
}
const fn atomic_map(values: Item) -> Field {
    Field::Map {
        values,
        atomic: true,
    }
}
const fn ty(name: &'static str, fields: &'static [(&'static str, Field)]) -> TypeDef {
    TypeDef {
        name,
        atomic: false,
        fields,
    }
}
const fn atomic_ty(name: &'static str, fields: &'static [(&'static str, Field)]) -> TypeDef {
    TypeDef {
        name,
        atomic: true,
        fields,
    }
}

const META: (&str, Field) = ("metadata", obj("meta.v1.ObjectMeta"));
/// The usual status conditions: a list-map on `type`, merged on `type` by strategic merge patch.
const CONDITIONS: (&str, Field) = ("conditions", merged(&["type"], "type", P));
/// `metav1.Condition` lists declared without strategic-merge-patch markers.
const CONDITIONS_SSA_ONLY: (&str, Field) = ("conditions", keyed(&["type"], P));
const LABEL_SELECTOR: Field = obj("meta.v1.LabelSelector");
const SECRET_REF: (&str, Field) = ("secretRef", obj("core.v1.SecretReference"));
const LOCAL_SECRET_REF: (&str, Field) = ("secretRef", obj("core.v1.LocalObjectReference"));

/// Container and EphemeralContainer declare the same markers.
#[rustfmt::skip]
const CONTAINER: &[(&str, Field)] = &[
    ("args", atomic(S)),
    ("command", atomic(S)),
    ("env", merged(&["name"], "name", t("core.v1.EnvVar"))),
    ("envFrom", atomic(P)),
    ("lifecycle", obj("core.v1.Lifecycle")),
    ("livenessProbe", obj("core.v1.Probe")),
    ("ports", merged(&["containerPort", "protocol"], "containerPort", P)),
    ("readinessProbe", obj("core.v1.Probe")),
    ("resizePolicy", atomic(P)),
    ("resources", obj("core.v1.ResourceRequirements")),
    ("restartPolicyRules", atomic(t("core.v1.ContainerRestartRule"))),
    ("securityContext", obj("core.v1.SecurityContext")),
    ("startupProbe", obj("core.v1.Probe")),
    ("volumeDevices", merged(&["devicePath"], "devicePath", P)),
    ("volumeMounts", merged(&["mountPath"], "mountPath", P)),
];

/// ValidatingWebhook and MutatingWebhook declare the same markers.
#[rustfmt::skip]
const WEBHOOK: &[(&str, Field)] = &[
    ("admissionReviewVersions", atomic(S)),
    ("matchConditions", merged(&["name"], "name", P)),
    ("namespaceSelector", LABEL_SELECTOR),
    ("objectSelector", LABEL_SELECTOR),
    ("rules", atomic(t("admissionregistration.v1.RuleWithOperations"))),
];

/// PodAffinity and PodAntiAffinity declare the same markers.
const POD_AFFINITY: &[(&str, Field)] = &[
    (
        "preferredDuringSchedulingIgnoredDuringExecution",
        atomic(t("core.v1.WeightedPodAffinityTerm")),
    ),
    (
        "requiredDuringSchedulingIgnoredDuringExecution",
        atomic(t("core.v1.PodAffinityTerm")),
    ),
];

const DEVICE_SELECTORS: &[(&str, Field)] = &[("selectors", atomic(P)), ("tolerations", atomic(P))];

#[rustfmt::skip]
static TYPES: &[TypeDef] = &[
    // meta.k8s.io/v1, shared by every kind.
    ty("meta.v1.ObjectMeta", &[
        // A set for apply, merged by value for strategic merge patch.
        ("finalizers", set_merge(S)),
        ("managedFields", atomic(P)),
        ("ownerReferences", merged(&["uid"], "uid", t("meta.v1.OwnerReference"))),
    ]),
    atomic_ty("meta.v1.OwnerReference", &[]),
    atomic_ty("meta.v1.LabelSelector", &[
        ("matchExpressions", atomic(t("meta.v1.LabelSelectorRequirement"))),
    ]),
    ty("meta.v1.LabelSelectorRequirement", &[("values", atomic(S))]),
    ty("meta.v1.FieldSelectorRequirement", &[("values", atomic(S))]),
    // core/v1: the pod template, shared by every workload kind.
    ty("core.v1.PodTemplateSpec", &[META, ("spec", obj("core.v1.PodSpec"))]),
    ty("core.v1.PodSpec", &[
        ("affinity", obj("core.v1.Affinity")),
        ("containers", merged(&["name"], "name", t("core.v1.Container"))),
        ("dnsConfig", obj("core.v1.PodDNSConfig")),
        ("ephemeralContainers", merged(&["name"], "name", t("core.v1.EphemeralContainer"))),
        ("hostAliases", merged(&["ip"], "ip", t("core.v1.HostAlias"))),
        ("imagePullSecrets", merged(&["name"], "name", t("core.v1.LocalObjectReference"))),
        ("initContainers", merged(&["name"], "name", t("core.v1.Container"))),
        ("nodeSelector", atomic_map(S)),
        ("readinessGates", atomic(P)),
        ("resourceClaims", merged_retain(&["name"], "name", P)),
        ("resources", obj("core.v1.ResourceRequirements")),
        ("schedulingGates", merged(&["name"], "name", P)),
        ("securityContext", obj("core.v1.PodSecurityContext")),
        ("tolerations", atomic(P)),
        ("topologySpreadConstraints", merged(
            &["topologyKey", "whenUnsatisfiable"],
            "topologyKey",
            t("core.v1.TopologySpreadConstraint"),
        )),
        ("volumes", merged_retain(&["name"], "name", t("core.v1.Volume"))),
    ]),
    ty("core.v1.Container", CONTAINER),
    ty("core.v1.EphemeralContainer", CONTAINER),
    ty("core.v1.EnvVar", &[("valueFrom", obj("core.v1.EnvVarSource"))]),
    ty("core.v1.EnvVarSource", &[
        ("configMapKeyRef", obj("core.v1.ConfigMapKeySelector")),
        ("fieldRef", obj("core.v1.ObjectFieldSelector")),
        ("fileKeyRef", obj("core.v1.FileKeySelector")),
        ("resourceFieldRef", obj("core.v1.ResourceFieldSelector")),
        ("secretKeyRef", obj("core.v1.SecretKeySelector")),
    ]),
    atomic_ty("core.v1.ConfigMapKeySelector", &[]),
    atomic_ty("core.v1.SecretKeySelector", &[]),
    atomic_ty("core.v1.FileKeySelector", &[]),
    atomic_ty("core.v1.ObjectFieldSelector", &[]),
    atomic_ty("core.v1.ResourceFieldSelector", &[]),
    atomic_ty("core.v1.LocalObjectReference", &[]),
    atomic_ty("core.v1.ObjectReference", &[]),
    atomic_ty("core.v1.SecretReference", &[]),
    atomic_ty("core.v1.TypedLocalObjectReference", &[]),
    ty("core.v1.Lifecycle", &[
        ("postStart", obj("core.v1.LifecycleHandler")),
        ("preStop", obj("core.v1.LifecycleHandler")),
    ]),
    ty("core.v1.LifecycleHandler", &[
        ("exec", obj("core.v1.ExecAction")),
        ("httpGet", obj("core.v1.HTTPGetAction")),
    ]),
    ty("core.v1.Probe", &[
        ("exec", obj("core.v1.ExecAction")),
        ("httpGet", obj("core.v1.HTTPGetAction")),
    ]),
    ty("core.v1.ExecAction", &[("command", atomic(S))]),
    ty("core.v1.HTTPGetAction", &[("httpHeaders", atomic(P))]),
    ty("core.v1.ResourceRequirements", &[("claims", keyed(&["name"], P))]),
    ty("core.v1.ContainerRestartRule", &[
        ("exitCodes", obj("core.v1.ContainerRestartRuleOnExitCodes")),
    ]),
    ty("core.v1.ContainerRestartRuleOnExitCodes", &[("values", set(S))]),
    ty("core.v1.SecurityContext", &[("capabilities", obj("core.v1.Capabilities"))]),
    ty("core.v1.Capabilities", &[("add", atomic(S)), ("drop", atomic(S))]),
    ty("core.v1.PodSecurityContext", &[("supplementalGroups", atomic(S)), ("sysctls", atomic(P))]),
    ty("core.v1.PodDNSConfig", &[
        ("nameservers", atomic(S)),
        ("options", atomic(P)),
        ("searches", atomic(S)),
    ]),
    ty("core.v1.HostAlias", &[("hostnames", atomic(S))]),
    ty("core.v1.TopologySpreadConstraint", &[
        ("labelSelector", LABEL_SELECTOR),
        ("matchLabelKeys", atomic(S)),
    ]),
    ty("core.v1.Affinity", &[
        ("nodeAffinity", obj("core.v1.NodeAffinity")),
        ("podAffinity", obj("core.v1.PodAffinity")),
        ("podAntiAffinity", obj("core.v1.PodAntiAffinity")),
    ]),
    ty("core.v1.NodeAffinity", &[
        ("preferredDuringSchedulingIgnoredDuringExecution", atomic(
            t("core.v1.PreferredSchedulingTerm"),
        )),
        ("requiredDuringSchedulingIgnoredDuringExecution", obj("core.v1.NodeSelector")),
    ]),
    ty("core.v1.PreferredSchedulingTerm", &[("preference", obj("core.v1.NodeSelectorTerm"))]),
    atomic_ty("core.v1.NodeSelector", &[
        ("nodeSelectorTerms", atomic(t("core.v1.NodeSelectorTerm"))),
    ]),
    atomic_ty("core.v1.NodeSelectorTerm", &[
        ("matchExpressions", atomic(t("core.v1.NodeSelectorRequirement"))),
        ("matchFields", atomic(t("core.v1.NodeSelectorRequirement"))),
    ]),
    ty("core.v1.NodeSelectorRequirement", &[("values", atomic(S))]),
    ty("core.v1.PodAffinity", POD_AFFINITY),
    ty("core.v1.PodAntiAffinity", POD_AFFINITY),
    ty("core.v1.WeightedPodAffinityTerm", &[("podAffinityTerm", obj("core.v1.PodAffinityTerm"))]),
    ty("core.v1.PodAffinityTerm", &[
        ("labelSelector", LABEL_SELECTOR),
        ("matchLabelKeys", atomic(S)),
        ("mismatchLabelKeys", atomic(S)),
        ("namespaceSelector", LABEL_SELECTOR),
        ("namespaces", atomic(S)),
    ]),
    // core/v1: volume sources, in pods and (the persistent ones) in PersistentVolumes.
    ty("core.v1.Volume", &[
        ("cephfs", obj("core.v1.CephFSVolumeSource")),
        ("cinder", obj("core.v1.CinderVolumeSource")),
        ("configMap", obj("core.v1.ConfigMapVolumeSource")),
        ("csi", obj("core.v1.CSIVolumeSource")),
        ("downwardAPI", obj("core.v1.DownwardAPIVolumeSource")),
        ("ephemeral", obj("core.v1.EphemeralVolumeSource")),
        ("fc", obj("core.v1.FCVolumeSource")),
        ("flexVolume", obj("core.v1.FlexVolumeSource")),
        ("iscsi", obj("core.v1.ISCSIVolumeSource")),
        ("projected", obj("core.v1.ProjectedVolumeSource")),
        ("rbd", obj("core.v1.RBDVolumeSource")),
        ("scaleIO", obj("core.v1.ScaleIOVolumeSource")),
        ("secret", obj("core.v1.SecretVolumeSource")),
        ("storageos", obj("core.v1.StorageOSVolumeSource")),
    ]),
    ty("core.v1.CephFSVolumeSource", &[("monitors", atomic(S)), LOCAL_SECRET_REF]),
    ty("core.v1.CinderVolumeSource", &[LOCAL_SECRET_REF]),
    ty("core.v1.ConfigMapVolumeSource", &[("items", atomic(P))]),
    ty("core.v1.CSIVolumeSource", &[("nodePublishSecretRef", obj("core.v1.LocalObjectReference"))]),
    ty("core.v1.DownwardAPIVolumeSource", &[("items", atomic(t("core.v1.DownwardAPIVolumeFile")))]),
    ty("core.v1.DownwardAPIVolumeFile", &[
        ("fieldRef", obj("core.v1.ObjectFieldSelector")),
        ("resourceFieldRef", obj("core.v1.ResourceFieldSelector")),
    ]),
    ty("core.v1.EphemeralVolumeSource", &[
        ("volumeClaimTemplate", obj("core.v1.PersistentVolumeClaimTemplate")),
    ]),
    ty("core.v1.PersistentVolumeClaimTemplate", &[
        META,
        ("spec", obj("core.v1.PersistentVolumeClaimSpec")),
    ]),
    ty("core.v1.FCVolumeSource", &[("targetWWNs", atomic(S)), ("wwids", atomic(S))]),
    ty("core.v1.FlexVolumeSource", &[LOCAL_SECRET_REF]),
    ty("core.v1.ISCSIVolumeSource", &[("portals", atomic(S)), LOCAL_SECRET_REF]),
    ty("core.v1.ProjectedVolumeSource", &[("sources", atomic(t("core.v1.VolumeProjection")))]),
    ty("core.v1.VolumeProjection", &[
        ("clusterTrustBundle", obj("core.v1.ClusterTrustBundleProjection")),
        ("configMap", obj("core.v1.ConfigMapProjection")),
        ("downwardAPI", obj("core.v1.DownwardAPIProjection")),
        ("secret", obj("core.v1.SecretProjection")),
    ]),
    ty("core.v1.ClusterTrustBundleProjection", &[("labelSelector", LABEL_SELECTOR)]),
    ty("core.v1.ConfigMapProjection", &[("items", atomic(P))]),
    ty("core.v1.DownwardAPIProjection", &[("items", atomic(t("core.v1.DownwardAPIVolumeFile")))]),
    ty("core.v1.SecretProjection", &[("items", atomic(P))]),
    ty("core.v1.RBDVolumeSource", &[("monitors", atomic(S)), LOCAL_SECRET_REF]),
    ty("core.v1.ScaleIOVolumeSource", &[LOCAL_SECRET_REF]),
    ty("core.v1.SecretVolumeSource", &[("items", atomic(P))]),
    ty("core.v1.StorageOSVolumeSource", &[LOCAL_SECRET_REF]),
    // core/v1: Pod and the other workloads of the core group.
    ty("core.v1.Pod", &[
        META,
        ("spec", obj("core.v1.PodSpec")),
        ("status", obj("core.v1.PodStatus")),
    ]),
    ty("core.v1.PodStatus", &[
        CONDITIONS,
        ("containerStatuses", atomic(t("core.v1.ContainerStatus"))),
        ("ephemeralContainerStatuses", atomic(t("core.v1.ContainerStatus"))),
        ("extendedResourceClaimStatus", obj("core.v1.PodExtendedResourceClaimStatus")),
        ("hostIPs", atomic_merged("ip", P)),
        ("initContainerStatuses", atomic(t("core.v1.ContainerStatus"))),
        ("podIPs", merged(&["ip"], "ip", P)),
        ("resourceClaimStatuses", merged_retain(&["name"], "name", P)),
        ("resources", obj("core.v1.ResourceRequirements")),
    ]),
    ty("core.v1.ContainerStatus", &[
        ("allocatedResourcesStatus", merged(&["name"], "name", t("core.v1.ResourceStatus"))),
        ("resources", obj("core.v1.ResourceRequirements")),
        ("user", obj("core.v1.ContainerUser")),
        ("volumeMounts", merged(&["mountPath"], "mountPath", P)),
    ]),
    ty("core.v1.ResourceStatus", &[("resources", keyed(&["resourceID"], P))]),
    ty("core.v1.ContainerUser", &[("linux", obj("core.v1.LinuxContainerUser"))]),
    ty("core.v1.LinuxContainerUser", &[("supplementalGroups", atomic(S))]),
    ty("core.v1.PodExtendedResourceClaimStatus", &[("requestMappings", atomic(P))]),
    ty("core.v1.PodTemplate", &[META, ("template", obj("core.v1.PodTemplateSpec"))]),
    ty("core.v1.ReplicationController", &[
        META,
        ("spec", obj("core.v1.ReplicationControllerSpec")),
        ("status", obj("core.v1.ReplicationControllerStatus")),
    ]),
    ty("core.v1.ReplicationControllerSpec", &[
        ("selector", atomic_map(S)),
        ("template", obj("core.v1.PodTemplateSpec")),
    ]),
    ty("core.v1.ReplicationControllerStatus", &[CONDITIONS]),
    // core/v1: the other core kinds.
    ty("core.v1.Binding", &[META, ("target", obj("core.v1.ObjectReference"))]),
    ty("core.v1.ComponentStatus", &[CONDITIONS, META]),
    ty("core.v1.ConfigMap", &[META]),
    ty("core.v1.Endpoints", &[META, ("subsets", atomic(t("core.v1.EndpointSubset")))]),
    ty("core.v1.EndpointSubset", &[
        ("addresses", atomic(t("core.v1.EndpointAddress"))),
        ("notReadyAddresses", atomic(t("core.v1.EndpointAddress"))),
        ("ports", atomic(t("core.v1.EndpointPort"))),
    ]),
    atomic_ty("core.v1.EndpointAddress", &[("targetRef", obj("core.v1.ObjectReference"))]),
    atomic_ty("core.v1.EndpointPort", &[]),
    ty("core.v1.Event", &[
        ("involvedObject", obj("core.v1.ObjectReference")),
        META,
        ("related", obj("core.v1.ObjectReference")),
    ]),
    ty("core.v1.LimitRange", &[META, ("spec", obj("core.v1.LimitRangeSpec"))]),
    ty("core.v1.LimitRangeSpec", &[("limits", atomic(P))]),
    ty("core.v1.Namespace", &[
        META,
        ("spec", obj("core.v1.NamespaceSpec")),
        ("status", obj("core.v1.NamespaceStatus")),
    ]),
    ty("core.v1.NamespaceSpec", &[("finalizers", atomic(S))]),
    ty("core.v1.NamespaceStatus", &[CONDITIONS]),
    ty("core.v1.Node", &[
        META,
        ("spec", obj("core.v1.NodeSpec")),
        ("status", obj("core.v1.NodeStatus")),
    ]),
    ty("core.v1.NodeSpec", &[("podCIDRs", set_merge(S)), ("taints", atomic(P))]),
    ty("core.v1.NodeStatus", &[
        ("addresses", merged(&["type"], "type", P)),
        CONDITIONS,
        ("declaredFeatures", atomic(S)),
        ("images", atomic(t("core.v1.ContainerImage"))),
        ("runtimeHandlers", atomic(P)),
        ("volumesAttached", atomic(P)),
        ("volumesInUse", atomic(S)),
    ]),
    ty("core.v1.ContainerImage", &[("names", atomic(S))]),
    ty("core.v1.PersistentVolume", &[META, ("spec", obj("core.v1.PersistentVolumeSpec"))]),
    ty("core.v1.PersistentVolumeSpec", &[
        ("accessModes", atomic(S)),
        ("cephfs", obj("core.v1.CephFSPersistentVolumeSource")),
        ("cinder", obj("core.v1.CinderPersistentVolumeSource")),
        // ObjectReference is atomic, but the claim reference is declared granular.
        ("claimRef", granular("core.v1.ObjectReference")),
        ("csi", obj("core.v1.CSIPersistentVolumeSource")),
        ("fc", obj("core.v1.FCVolumeSource")),
        ("flexVolume", obj("core.v1.FlexPersistentVolumeSource")),
        ("iscsi", obj("core.v1.ISCSIPersistentVolumeSource")),
        ("mountOptions", atomic(S)),
        ("nodeAffinity", obj("core.v1.VolumeNodeAffinity")),
        ("rbd", obj("core.v1.RBDPersistentVolumeSource")),
        ("scaleIO", obj("core.v1.ScaleIOPersistentVolumeSource")),
        ("storageos", obj("core.v1.StorageOSPersistentVolumeSource")),
    ]),
    ty("core.v1.CephFSPersistentVolumeSource", &[("monitors", atomic(S)), SECRET_REF]),
    ty("core.v1.CinderPersistentVolumeSource", &[SECRET_REF]),
    ty("core.v1.CSIPersistentVolumeSource", &[
        ("controllerExpandSecretRef", obj("core.v1.SecretReference")),
        ("controllerPublishSecretRef", obj("core.v1.SecretReference")),
        ("nodeExpandSecretRef", obj("core.v1.SecretReference")),
        ("nodePublishSecretRef", obj("core.v1.SecretReference")),
        ("nodeStageSecretRef", obj("core.v1.SecretReference")),
    ]),
    ty("core.v1.FlexPersistentVolumeSource", &[SECRET_REF]),
    ty("core.v1.ISCSIPersistentVolumeSource", &[("portals", atomic(S)), SECRET_REF]),
    ty("core.v1.RBDPersistentVolumeSource", &[("monitors", atomic(S)), SECRET_REF]),
    ty("core.v1.ScaleIOPersistentVolumeSource", &[SECRET_REF]),
    ty("core.v1.StorageOSPersistentVolumeSource", &[("secretRef", obj("core.v1.ObjectReference"))]),
    ty("core.v1.VolumeNodeAffinity", &[("required", obj("core.v1.NodeSelector"))]),
    ty("core.v1.PersistentVolumeClaim", &[
        META,
        ("spec", obj("core.v1.PersistentVolumeClaimSpec")),
        ("status", obj("core.v1.PersistentVolumeClaimStatus")),
    ]),
    ty("core.v1.PersistentVolumeClaimSpec", &[
        ("accessModes", atomic(S)),
        ("dataSource", obj("core.v1.TypedLocalObjectReference")),
        ("selector", LABEL_SELECTOR),
    ]),
    ty("core.v1.PersistentVolumeClaimStatus", &[
        ("accessModes", atomic(S)),
        ("allocatedResourceStatuses", map(S)),
        CONDITIONS,
    ]),
    ty("core.v1.ResourceQuota", &[META, ("spec", obj("core.v1.ResourceQuotaSpec"))]),
    ty("core.v1.ResourceQuotaSpec", &[
        ("scopeSelector", obj("core.v1.ScopeSelector")),
        ("scopes", atomic(S)),
    ]),
    atomic_ty("core.v1.ScopeSelector", &[
        ("matchExpressions", atomic(t("core.v1.ScopedResourceSelectorRequirement"))),
    ]),
    ty("core.v1.ScopedResourceSelectorRequirement", &[("values", atomic(S))]),
    ty("core.v1.Secret", &[META]),
    ty("core.v1.Service", &[
        META,
        ("spec", obj("core.v1.ServiceSpec")),
        ("status", obj("core.v1.ServiceStatus")),
    ]),
    ty("core.v1.ServiceSpec", &[
        ("clusterIPs", atomic(S)),
        ("externalIPs", atomic(S)),
        ("ipFamilies", atomic(S)),
        ("loadBalancerSourceRanges", atomic(S)),
        ("ports", merged(&["port", "protocol"], "port", P)),
        ("selector", atomic_map(S)),
    ]),
    ty("core.v1.ServiceStatus", &[CONDITIONS, ("loadBalancer", obj("core.v1.LoadBalancerStatus"))]),
    ty("core.v1.LoadBalancerStatus", &[("ingress", atomic(t("core.v1.LoadBalancerIngress")))]),
    ty("core.v1.LoadBalancerIngress", &[("ports", atomic(P))]),
    ty("core.v1.ServiceAccount", &[
        ("imagePullSecrets", atomic(t("core.v1.LocalObjectReference"))),
        META,
        ("secrets", merged(&["name"], "name", t("core.v1.ObjectReference"))),
    ]),
    atomic_ty("core.v1.TopologySelectorTerm", &[
        ("matchLabelExpressions", atomic(t("core.v1.TopologySelectorLabelRequirement"))),
    ]),
    ty("core.v1.TopologySelectorLabelRequirement", &[("values", atomic(S))]),
    // admissionregistration.k8s.io/v1
    ty("admissionregistration.v1.MutatingWebhookConfiguration", &[
        META,
        ("webhooks", merged(&["name"], "name", t("admissionregistration.v1.MutatingWebhook"))),
    ]),
    ty("admissionregistration.v1.ValidatingWebhookConfiguration", &[
        META,
        ("webhooks", merged(&["name"], "name", t("admissionregistration.v1.ValidatingWebhook"))),
    ]),
    ty("admissionregistration.v1.MutatingWebhook", WEBHOOK),
    ty("admissionregistration.v1.ValidatingWebhook", WEBHOOK),
    ty("admissionregistration.v1.RuleWithOperations", &[
        ("apiGroups", atomic(S)),
        ("apiVersions", atomic(S)),
        ("operations", atomic(S)),
        ("resources", atomic(S)),
    ]),
    atomic_ty("admissionregistration.v1.NamedRuleWithOperations", &[
        ("apiGroups", atomic(S)),
        ("apiVersions", atomic(S)),
        ("operations", atomic(S)),
        ("resourceNames", atomic(S)),
        ("resources", atomic(S)),
    ]),
    ty("admissionregistration.v1.ValidatingAdmissionPolicy", &[
        META,
        ("spec", obj("admissionregistration.v1.ValidatingAdmissionPolicySpec")),
        ("status", obj("admissionregistration.v1.ValidatingAdmissionPolicyStatus")),
    ]),
    ty("admissionregistration.v1.ValidatingAdmissionPolicySpec", &[
        ("auditAnnotations", atomic(P)),
        ("matchConditions", merged(&["name"], "name", P)),
        ("matchConstraints", obj("admissionregistration.v1.MatchResources")),
        ("paramKind", obj("admissionregistration.v1.ParamKind")),
        ("validations", atomic(P)),
        ("variables", merged(&["name"], "name", t("admissionregistration.v1.Variable"))),
    ]),
    ty("admissionregistration.v1.ValidatingAdmissionPolicyStatus", &[
        CONDITIONS_SSA_ONLY,
        ("typeChecking", obj("admissionregistration.v1.TypeChecking")),
    ]),
    ty("admissionregistration.v1.TypeChecking", &[("expressionWarnings", atomic(P))]),
    atomic_ty("admissionregistration.v1.MatchResources", &[
        ("excludeResourceRules", atomic(t("admissionregistration.v1.NamedRuleWithOperations"))),
        ("namespaceSelector", LABEL_SELECTOR),
        ("objectSelector", LABEL_SELECTOR),
        ("resourceRules", atomic(t("admissionregistration.v1.NamedRuleWithOperations"))),
    ]),
    atomic_ty("admissionregistration.v1.ParamKind", &[]),
    atomic_ty("admissionregistration.v1.Variable", &[]),
    ty("admissionregistration.v1.ValidatingAdmissionPolicyBinding", &[
        META,
        ("spec", obj("admissionregistration.v1.ValidatingAdmissionPolicyBindingSpec")),
    ]),
    ty("admissionregistration.v1.ValidatingAdmissionPolicyBindingSpec", &[
        ("matchResources", obj("admissionregistration.v1.MatchResources")),
        ("paramRef", obj("admissionregistration.v1.ParamRef")),
        ("validationActions", set(S)),
    ]),
    atomic_ty("admissionregistration.v1.ParamRef", &[("selector", LABEL_SELECTOR)]),
    // apiextensions.k8s.io/v1
    ty("apiextensions.v1.CustomResourceDefinition", &[
        META,
        ("spec", obj("apiextensions.v1.CustomResourceDefinitionSpec")),
        ("status", obj("apiextensions.v1.CustomResourceDefinitionStatus")),
    ]),
    ty("apiextensions.v1.CustomResourceDefinitionSpec", &[
        ("conversion", obj("apiextensions.v1.CustomResourceConversion")),
        ("names", obj("apiextensions.v1.CustomResourceDefinitionNames")),
        ("versions", atomic(t("apiextensions.v1.CustomResourceDefinitionVersion"))),
    ]),
    ty("apiextensions.v1.CustomResourceConversion", &[
        ("webhook", obj("apiextensions.v1.WebhookConversion")),
    ]),
    ty("apiextensions.v1.WebhookConversion", &[("conversionReviewVersions", atomic(S))]),
    ty("apiextensions.v1.CustomResourceDefinitionNames", &[
        ("categories", atomic(S)),
        ("shortNames", atomic(S)),
    ]),
    ty("apiextensions.v1.CustomResourceDefinitionVersion", &[
        ("additionalPrinterColumns", atomic(P)),
        ("schema", obj("apiextensions.v1.CustomResourceValidation")),
        ("selectableFields", atomic(P)),
    ]),
    ty("apiextensions.v1.CustomResourceValidation", &[
        ("openAPIV3Schema", obj("apiextensions.v1.JSONSchemaProps")),
    ]),
    ty("apiextensions.v1.JSONSchemaProps", &[
        ("allOf", atomic(t("apiextensions.v1.JSONSchemaProps"))),
        ("anyOf", atomic(t("apiextensions.v1.JSONSchemaProps"))),
        ("definitions", map(t("apiextensions.v1.JSONSchemaProps"))),
        ("enum", atomic(P)),
        ("not", obj("apiextensions.v1.JSONSchemaProps")),
        ("oneOf", atomic(t("apiextensions.v1.JSONSchemaProps"))),
        ("patternProperties", map(t("apiextensions.v1.JSONSchemaProps"))),
        ("properties", map(t("apiextensions.v1.JSONSchemaProps"))),
        ("required", atomic(S)),
        ("x-kubernetes-list-map-keys", atomic(S)),
        ("x-kubernetes-validations", merged(&["rule"], "rule", P)),
    ]),
    ty("apiextensions.v1.CustomResourceDefinitionStatus", &[
        ("acceptedNames", obj("apiextensions.v1.CustomResourceDefinitionNames")),
        CONDITIONS_SSA_ONLY,
        ("storedVersions", atomic(S)),
    ]),
    // apiregistration.k8s.io/v1
    ty("apiregistration.v1.APIService", &[
        META,
        ("status", obj("apiregistration.v1.APIServiceStatus")),
    ]),
    ty("apiregistration.v1.APIServiceStatus", &[CONDITIONS]),
    // apps/v1
    ty("apps.v1.ControllerRevision", &[META]),
    ty("apps.v1.DaemonSet", &[
        META,
        ("spec", obj("apps.v1.DaemonSetSpec")),
        ("status", obj("apps.v1.DaemonSetStatus")),
    ]),
    ty("apps.v1.DaemonSetSpec", &[
        ("selector", LABEL_SELECTOR),
        ("template", obj("core.v1.PodTemplateSpec")),
    ]),
    ty("apps.v1.DaemonSetStatus", &[CONDITIONS]),
    ty("apps.v1.Deployment", &[
        META,
        ("spec", obj("apps.v1.DeploymentSpec")),
        ("status", obj("apps.v1.DeploymentStatus")),
    ]),
    // `strategy` is `retainKeys` for strategic merge patch, which an object cannot carry here.
    ty("apps.v1.DeploymentSpec", &[
        ("selector", LABEL_SELECTOR),
        ("template", obj("core.v1.PodTemplateSpec")),
    ]),
    ty("apps.v1.DeploymentStatus", &[CONDITIONS]),
    ty("apps.v1.ReplicaSet", &[
        META,
        ("spec", obj("apps.v1.ReplicaSetSpec")),
        ("status", obj("apps.v1.ReplicaSetStatus")),
    ]),
    ty("apps.v1.ReplicaSetSpec", &[
        ("selector", LABEL_SELECTOR),
        ("template", obj("core.v1.PodTemplateSpec")),
    ]),
    ty("apps.v1.ReplicaSetStatus", &[CONDITIONS]),
    ty("apps.v1.StatefulSet", &[
        META,
        ("spec", obj("apps.v1.StatefulSetSpec")),
        ("status", obj("apps.v1.StatefulSetStatus")),
    ]),
    ty("apps.v1.StatefulSetSpec", &[
        ("selector", LABEL_SELECTOR),
        ("template", obj("core.v1.PodTemplateSpec")),
        ("volumeClaimTemplates", atomic(t("core.v1.PersistentVolumeClaim"))),
    ]),
    ty("apps.v1.StatefulSetStatus", &[CONDITIONS]),
    // authentication.k8s.io/v1
    ty("authentication.v1.SelfSubjectReview", &[
        META,
        ("status", obj("authentication.v1.SelfSubjectReviewStatus")),
    ]),
    ty("authentication.v1.SelfSubjectReviewStatus", &[
        ("userInfo", obj("authentication.v1.UserInfo")),
    ]),
    ty("authentication.v1.TokenReview", &[
        META,
        ("spec", obj("authentication.v1.TokenReviewSpec")),
        ("status", obj("authentication.v1.TokenReviewStatus")),
    ]),
    ty("authentication.v1.TokenReviewSpec", &[("audiences", atomic(S))]),
    ty("authentication.v1.TokenReviewStatus", &[
        ("audiences", atomic(S)),
        ("user", obj("authentication.v1.UserInfo")),
    ]),
    ty("authentication.v1.UserInfo", &[("groups", atomic(S))]),
    // authorization.k8s.io/v1
    ty("authorization.v1.LocalSubjectAccessReview", &[
        META,
        ("spec", obj("authorization.v1.SubjectAccessReviewSpec")),
    ]),
    ty("authorization.v1.SubjectAccessReview", &[
        META,
        ("spec", obj("authorization.v1.SubjectAccessReviewSpec")),
    ]),
    ty("authorization.v1.SubjectAccessReviewSpec", &[
        ("groups", atomic(S)),
        ("resourceAttributes", obj("authorization.v1.ResourceAttributes")),
    ]),
    ty("authorization.v1.SelfSubjectAccessReview", &[
        META,
        ("spec", obj("authorization.v1.SelfSubjectAccessReviewSpec")),
    ]),
    ty("authorization.v1.SelfSubjectAccessReviewSpec", &[
        ("resourceAttributes", obj("authorization.v1.ResourceAttributes")),
    ]),
    ty("authorization.v1.ResourceAttributes", &[
        ("fieldSelector", obj("authorization.v1.FieldSelectorAttributes")),
        ("labelSelector", obj("authorization.v1.LabelSelectorAttributes")),
    ]),
    ty("authorization.v1.FieldSelectorAttributes", &[
        ("requirements", atomic(t("meta.v1.FieldSelectorRequirement"))),
    ]),
    ty("authorization.v1.LabelSelectorAttributes", &[
        ("requirements", atomic(t("meta.v1.LabelSelectorRequirement"))),
    ]),
    ty("authorization.v1.SelfSubjectRulesReview", &[
        META,
        ("status", obj("authorization.v1.SubjectRulesReviewStatus")),
    ]),
    ty("authorization.v1.SubjectRulesReviewStatus", &[
        ("nonResourceRules", atomic(t("authorization.v1.NonResourceRule"))),
        ("resourceRules", atomic(t("authorization.v1.ResourceRule"))),
    ]),
    ty("authorization.v1.NonResourceRule", &[("nonResourceURLs", atomic(S)), ("verbs", atomic(S))]),
    ty("authorization.v1.ResourceRule", &[
        ("apiGroups", atomic(S)),
        ("resourceNames", atomic(S)),
        ("resources", atomic(S)),
        ("verbs", atomic(S)),
    ]),
    // autoscaling/v1
    ty("autoscaling.v1.HorizontalPodAutoscaler", &[
        META,
        ("spec", obj("autoscaling.v1.HorizontalPodAutoscalerSpec")),
    ]),
    ty("autoscaling.v1.HorizontalPodAutoscalerSpec", &[
        ("scaleTargetRef", obj("autoscaling.v1.CrossVersionObjectReference")),
    ]),
    atomic_ty("autoscaling.v1.CrossVersionObjectReference", &[]),
    // autoscaling/v2
    ty("autoscaling.v2.HorizontalPodAutoscaler", &[
        META,
        ("spec", obj("autoscaling.v2.HorizontalPodAutoscalerSpec")),
        ("status", obj("autoscaling.v2.HorizontalPodAutoscalerStatus")),
    ]),
    ty("autoscaling.v2.HorizontalPodAutoscalerSpec", &[
        ("behavior", obj("autoscaling.v2.HorizontalPodAutoscalerBehavior")),
        ("metrics", atomic(t("autoscaling.v2.MetricSpec"))),
    ]),
    ty("autoscaling.v2.HorizontalPodAutoscalerBehavior", &[
        ("scaleDown", obj("autoscaling.v2.HPAScalingRules")),
        ("scaleUp", obj("autoscaling.v2.HPAScalingRules")),
    ]),
    ty("autoscaling.v2.HPAScalingRules", &[("policies", atomic(P))]),
    ty("autoscaling.v2.HorizontalPodAutoscalerStatus", &[
        CONDITIONS,
        ("currentMetrics", atomic(t("autoscaling.v2.MetricStatus"))),
    ]),
    ty("autoscaling.v2.MetricSpec", &[
        ("external", obj("autoscaling.v2.ExternalMetricSource")),
        ("object", obj("autoscaling.v2.ObjectMetricSource")),
        ("pods", obj("autoscaling.v2.PodsMetricSource")),
    ]),
    ty("autoscaling.v2.MetricStatus", &[
        ("external", obj("autoscaling.v2.ExternalMetricStatus")),
        ("object", obj("autoscaling.v2.ObjectMetricStatus")),
        ("pods", obj("autoscaling.v2.PodsMetricStatus")),
    ]),
    ty("autoscaling.v2.ExternalMetricSource", &[
        ("metric", obj("autoscaling.v2.MetricIdentifier")),
    ]),
    ty("autoscaling.v2.ExternalMetricStatus", &[
        ("metric", obj("autoscaling.v2.MetricIdentifier")),
    ]),
    ty("autoscaling.v2.ObjectMetricSource", &[("metric", obj("autoscaling.v2.MetricIdentifier"))]),
    ty("autoscaling.v2.ObjectMetricStatus", &[("metric", obj("autoscaling.v2.MetricIdentifier"))]),
    ty("autoscaling.v2.PodsMetricSource", &[("metric", obj("autoscaling.v2.MetricIdentifier"))]),
    ty("autoscaling.v2.PodsMetricStatus", &[("metric", obj("autoscaling.v2.MetricIdentifier"))]),
    ty("autoscaling.v2.MetricIdentifier", &[("selector", LABEL_SELECTOR)]),
    // batch/v1
    ty("batch.v1.CronJob", &[
        META,
        ("spec", obj("batch.v1.CronJobSpec")),
        ("status", obj("batch.v1.CronJobStatus")),
    ]),
    ty("batch.v1.CronJobSpec", &[("jobTemplate", obj("batch.v1.JobTemplateSpec"))]),
    ty("batch.v1.CronJobStatus", &[("active", atomic(t("core.v1.ObjectReference")))]),
    ty("batch.v1.JobTemplateSpec", &[META, ("spec", obj("batch.v1.JobSpec"))]),
    ty("batch.v1.Job", &[
        META,
        ("spec", obj("batch.v1.JobSpec")),
        ("status", obj("batch.v1.JobStatus")),
    ]),
    ty("batch.v1.JobSpec", &[
        ("podFailurePolicy", obj("batch.v1.PodFailurePolicy")),
        ("selector", LABEL_SELECTOR),
        ("successPolicy", obj("batch.v1.SuccessPolicy")),
        ("template", obj("core.v1.PodTemplateSpec")),
    ]),
    ty("batch.v1.JobStatus", &[
        ("conditions", atomic_merged("type", P)),
        ("uncountedTerminatedPods", obj("batch.v1.UncountedTerminatedPods")),
    ]),
    ty("batch.v1.UncountedTerminatedPods", &[("failed", set(S)), ("succeeded", set(S))]),
    ty("batch.v1.PodFailurePolicy", &[("rules", atomic(t("batch.v1.PodFailurePolicyRule")))]),
    ty("batch.v1.PodFailurePolicyRule", &[
        ("onExitCodes", obj("batch.v1.PodFailurePolicyOnExitCodesRequirement")),
        ("onPodConditions", atomic(P)),
    ]),
    ty("batch.v1.PodFailurePolicyOnExitCodesRequirement", &[("values", set(S))]),
    ty("batch.v1.SuccessPolicy", &[("rules", atomic(P))]),
    // certificates.k8s.io/v1
    ty("certificates.v1.CertificateSigningRequest", &[
        META,
        ("spec", obj("certificates.v1.CertificateSigningRequestSpec")),
        ("status", obj("certificates.v1.CertificateSigningRequestStatus")),
    ]),
    ty("certificates.v1.CertificateSigningRequestSpec", &[
        ("groups", atomic(S)),
        ("usages", atomic(S)),
    ]),
    ty("certificates.v1.CertificateSigningRequestStatus", &[CONDITIONS_SSA_ONLY]),
    // coordination.k8s.io/v1
    ty("coordination.v1.Lease", &[META]),
    // discovery.k8s.io/v1
    ty("discovery.v1.EndpointSlice", &[
        ("endpoints", atomic(t("discovery.v1.Endpoint"))),
        META,
        ("ports", atomic(t("discovery.v1.EndpointPort"))),
    ]),
    ty("discovery.v1.Endpoint", &[
        ("addresses", set(S)),
        ("hints", obj("discovery.v1.EndpointHints")),
        ("targetRef", obj("core.v1.ObjectReference")),
    ]),
    ty("discovery.v1.EndpointHints", &[("forNodes", atomic(P)), ("forZones", atomic(P))]),
    atomic_ty("discovery.v1.EndpointPort", &[]),
    // events.k8s.io/v1
    ty("events.v1.Event", &[
        META,
        ("regarding", obj("core.v1.ObjectReference")),
        ("related", obj("core.v1.ObjectReference")),
    ]),
    // flowcontrol.apiserver.k8s.io/v1
    ty("flowcontrol.v1.FlowSchema", &[
        META,
        ("spec", obj("flowcontrol.v1.FlowSchemaSpec")),
        ("status", obj("flowcontrol.v1.FlowSchemaStatus")),
    ]),
    ty("flowcontrol.v1.FlowSchemaSpec", &[
        ("rules", atomic(t("flowcontrol.v1.PolicyRulesWithSubjects"))),
    ]),
    ty("flowcontrol.v1.FlowSchemaStatus", &[CONDITIONS]),
    ty("flowcontrol.v1.PolicyRulesWithSubjects", &[
        ("nonResourceRules", atomic(t("flowcontrol.v1.NonResourcePolicyRule"))),
        ("resourceRules", atomic(t("flowcontrol.v1.ResourcePolicyRule"))),
        ("subjects", atomic(P)),
    ]),
    ty("flowcontrol.v1.NonResourcePolicyRule", &[("nonResourceURLs", set(S)), ("verbs", set(S))]),
    ty("flowcontrol.v1.ResourcePolicyRule", &[
        ("apiGroups", set(S)),
        ("namespaces", set(S)),
        ("resources", set(S)),
        ("verbs", set(S)),
    ]),
    ty("flowcontrol.v1.PriorityLevelConfiguration", &[
        META,
        ("status", obj("flowcontrol.v1.PriorityLevelConfigurationStatus")),
    ]),
    ty("flowcontrol.v1.PriorityLevelConfigurationStatus", &[CONDITIONS]),
    // networking.k8s.io/v1
    ty("networking.v1.IPAddress", &[META]),
    ty("networking.v1.IngressClass", &[META]),
    ty("networking.v1.Ingress", &[
        META,
        ("spec", obj("networking.v1.IngressSpec")),
        ("status", obj("networking.v1.IngressStatus")),
    ]),
    ty("networking.v1.IngressSpec", &[
        ("defaultBackend", obj("networking.v1.IngressBackend")),
        ("rules", atomic(t("networking.v1.IngressRule"))),
        ("tls", atomic(t("networking.v1.IngressTLS"))),
    ]),
    ty("networking.v1.IngressBackend", &[
        ("resource", obj("core.v1.TypedLocalObjectReference")),
        ("service", obj("networking.v1.IngressServiceBackend")),
    ]),
    ty("networking.v1.IngressServiceBackend", &[("port", obj("networking.v1.ServiceBackendPort"))]),
    atomic_ty("networking.v1.ServiceBackendPort", &[]),
    ty("networking.v1.IngressRule", &[("http", obj("networking.v1.HTTPIngressRuleValue"))]),
    ty("networking.v1.HTTPIngressRuleValue", &[
        ("paths", atomic(t("networking.v1.HTTPIngressPath"))),
    ]),
    ty("networking.v1.HTTPIngressPath", &[("backend", obj("networking.v1.IngressBackend"))]),
    ty("networking.v1.IngressTLS", &[("hosts", atomic(S))]),
    ty("networking.v1.IngressStatus", &[
        ("loadBalancer", obj("networking.v1.IngressLoadBalancerStatus")),
    ]),
    ty("networking.v1.IngressLoadBalancerStatus", &[
        ("ingress", atomic(t("networking.v1.IngressLoadBalancerIngress"))),
    ]),
    ty("networking.v1.IngressLoadBalancerIngress", &[("ports", atomic(P))]),
    ty("networking.v1.NetworkPolicy", &[META, ("spec", obj("networking.v1.NetworkPolicySpec"))]),
    ty("networking.v1.NetworkPolicySpec", &[
        ("egress", atomic(t("networking.v1.NetworkPolicyEgressRule"))),
        ("ingress", atomic(t("networking.v1.NetworkPolicyIngressRule"))),
        ("podSelector", LABEL_SELECTOR),
        ("policyTypes", atomic(S)),
    ]),
    ty("networking.v1.NetworkPolicyEgressRule", &[
        ("ports", atomic(P)),
        ("to", atomic(t("networking.v1.NetworkPolicyPeer"))),
    ]),
    ty("networking.v1.NetworkPolicyIngressRule", &[
        ("from", atomic(t("networking.v1.NetworkPolicyPeer"))),
        ("ports", atomic(P)),
    ]),
    ty("networking.v1.NetworkPolicyPeer", &[
        ("ipBlock", obj("networking.v1.IPBlock")),
        ("namespaceSelector", LABEL_SELECTOR),
        ("podSelector", LABEL_SELECTOR),
    ]),
    ty("networking.v1.IPBlock", &[("except", atomic(S))]),
    ty("networking.v1.ServiceCIDR", &[
        META,
        ("spec", obj("networking.v1.ServiceCIDRSpec")),
        ("status", obj("networking.v1.ServiceCIDRStatus")),
    ]),
    ty("networking.v1.ServiceCIDRSpec", &[("cidrs", atomic(S))]),
    ty("networking.v1.ServiceCIDRStatus", &[CONDITIONS]),
    // node.k8s.io/v1
    ty("node.v1.RuntimeClass", &[META, ("scheduling", obj("node.v1.Scheduling"))]),
    ty("node.v1.Scheduling", &[("nodeSelector", atomic_map(S)), ("tolerations", atomic(P))]),
    // policy/v1
    ty("policy.v1.PodDisruptionBudget", &[
        META,
        ("spec", obj("policy.v1.PodDisruptionBudgetSpec")),
        ("status", obj("policy.v1.PodDisruptionBudgetStatus")),
    ]),
    // `selector` is `replace` for strategic merge patch, which an object cannot carry here;
    // LabelSelector being atomic gives server-side apply the same effect.
    ty("policy.v1.PodDisruptionBudgetSpec", &[("selector", LABEL_SELECTOR)]),
    ty("policy.v1.PodDisruptionBudgetStatus", &[CONDITIONS]),
    // rbac.authorization.k8s.io/v1
    ty("rbac.v1.ClusterRole", &[
        ("aggregationRule", obj("rbac.v1.AggregationRule")),
        META,
        ("rules", atomic(t("rbac.v1.PolicyRule"))),
    ]),
    ty("rbac.v1.Role", &[META, ("rules", atomic(t("rbac.v1.PolicyRule")))]),
    ty("rbac.v1.AggregationRule", &[("clusterRoleSelectors", atomic(t("meta.v1.LabelSelector")))]),
    ty("rbac.v1.PolicyRule", &[
        ("apiGroups", atomic(S)),
        ("nonResourceURLs", atomic(S)),
        ("resourceNames", atomic(S)),
        ("resources", atomic(S)),
        ("verbs", atomic(S)),
    ]),
    ty("rbac.v1.ClusterRoleBinding", &[
        META,
        ("roleRef", obj("rbac.v1.RoleRef")),
        ("subjects", atomic(t("rbac.v1.Subject"))),
    ]),
    ty("rbac.v1.RoleBinding", &[
        META,
        ("roleRef", obj("rbac.v1.RoleRef")),
        ("subjects", atomic(t("rbac.v1.Subject"))),
    ]),
    atomic_ty("rbac.v1.RoleRef", &[]),
    atomic_ty("rbac.v1.Subject", &[]),
    // resource.k8s.io/v1
    ty("resource.v1.DeviceClass", &[META, ("spec", obj("resource.v1.DeviceClassSpec"))]),
    ty("resource.v1.DeviceClassSpec", &[("config", atomic(P)), ("selectors", atomic(P))]),
    ty("resource.v1.ResourceClaim", &[
        META,
        ("spec", obj("resource.v1.ResourceClaimSpec")),
        ("status", obj("resource.v1.ResourceClaimStatus")),
    ]),
    ty("resource.v1.ResourceClaimTemplate", &[
        META,
        ("spec", obj("resource.v1.ResourceClaimTemplateSpec")),
    ]),
    ty("resource.v1.ResourceClaimTemplateSpec", &[
        META,
        ("spec", obj("resource.v1.ResourceClaimSpec")),
    ]),
    ty("resource.v1.ResourceClaimSpec", &[("devices", obj("resource.v1.DeviceClaim"))]),
    ty("resource.v1.DeviceClaim", &[
        ("config", atomic(t("resource.v1.DeviceClaimConfiguration"))),
        ("constraints", atomic(t("resource.v1.DeviceConstraint"))),
        ("requests", atomic(t("resource.v1.DeviceRequest"))),
    ]),
    ty("resource.v1.DeviceClaimConfiguration", &[("requests", atomic(S))]),
    ty("resource.v1.DeviceConstraint", &[("requests", atomic(S))]),
    ty("resource.v1.DeviceRequest", &[
        ("exactly", obj("resource.v1.ExactDeviceRequest")),
        ("firstAvailable", atomic(t("resource.v1.DeviceSubRequest"))),
    ]),
    ty("resource.v1.ExactDeviceRequest", DEVICE_SELECTORS),
    ty("resource.v1.DeviceSubRequest", DEVICE_SELECTORS),
    ty("resource.v1.ResourceClaimStatus", &[
        ("allocation", obj("resource.v1.AllocationResult")),
        ("devices", keyed(
            &["driver", "device", "pool", "shareID"],
            t("resource.v1.AllocatedDeviceStatus"),
        )),
        ("reservedFor", merged(&["uid"], "uid", P)),
    ]),
    ty("resource.v1.AllocationResult", &[
        ("devices", obj("resource.v1.DeviceAllocationResult")),
        ("nodeSelector", obj("core.v1.NodeSelector")),
    ]),
    ty("resource.v1.DeviceAllocationResult", &[
        ("config", atomic(t("resource.v1.DeviceAllocationConfiguration"))),
        ("results", atomic(t("resource.v1.DeviceRequestAllocationResult"))),
    ]),
    ty("resource.v1.DeviceAllocationConfiguration", &[("requests", atomic(S))]),
    ty("resource.v1.DeviceRequestAllocationResult", &[
        ("bindingConditions", atomic(S)),
        ("bindingFailureConditions", atomic(S)),
        ("tolerations", atomic(P)),
    ]),
    ty("resource.v1.AllocatedDeviceStatus", &[
        CONDITIONS_SSA_ONLY,
        ("networkData", obj("resource.v1.NetworkDeviceData")),
    ]),
    ty("resource.v1.NetworkDeviceData", &[("ips", atomic(S))]),
    ty("resource.v1.ResourceSlice", &[META, ("spec", obj("resource.v1.ResourceSliceSpec"))]),
    ty("resource.v1.ResourceSliceSpec", &[
        ("devices", atomic(t("resource.v1.Device"))),
        ("nodeSelector", obj("core.v1.NodeSelector")),
        ("sharedCounters", atomic(P)),
    ]),
    ty("resource.v1.Device", &[
        ("bindingConditions", atomic(S)),
        ("bindingFailureConditions", atomic(S)),
        ("capacity", map(t("resource.v1.DeviceCapacity"))),
        ("consumesCounters", atomic(P)),
        ("nodeSelector", obj("core.v1.NodeSelector")),
        ("taints", atomic(P)),
    ]),
    ty("resource.v1.DeviceCapacity", &[
        ("requestPolicy", obj("resource.v1.CapacityRequestPolicy")),
    ]),
    ty("resource.v1.CapacityRequestPolicy", &[("validValues", atomic(P))]),
    // scheduling.k8s.io/v1
    ty("scheduling.v1.PriorityClass", &[META]),
    // storage.k8s.io/v1
    ty("storage.v1.CSIDriver", &[META, ("spec", obj("storage.v1.CSIDriverSpec"))]),
    ty("storage.v1.CSIDriverSpec", &[
        ("tokenRequests", atomic(P)),
        ("volumeLifecycleModes", set(S)),
    ]),
    ty("storage.v1.CSINode", &[META, ("spec", obj("storage.v1.CSINodeSpec"))]),
    ty("storage.v1.CSINodeSpec", &[
        ("drivers", merged(&["name"], "name", t("storage.v1.CSINodeDriver"))),
    ]),
    ty("storage.v1.CSINodeDriver", &[("topologyKeys", atomic(S))]),
    ty("storage.v1.CSIStorageCapacity", &[META, ("nodeTopology", LABEL_SELECTOR)]),
    ty("storage.v1.StorageClass", &[
        ("allowedTopologies", atomic(t("core.v1.TopologySelectorTerm"))),
        META,
        ("mountOptions", atomic(S)),
    ]),
    ty("storage.v1.VolumeAttachment", &[META, ("spec", obj("storage.v1.VolumeAttachmentSpec"))]),
    ty("storage.v1.VolumeAttachmentSpec", &[("source", obj("storage.v1.VolumeAttachmentSource"))]),
    ty("storage.v1.VolumeAttachmentSource", &[
        ("inlineVolumeSpec", obj("core.v1.PersistentVolumeSpec")),
    ]),
    ty("storage.v1.VolumeAttributesClass", &[META]),
];

// ---------------------------------------------------------------------------------------------
// Resolving the table into `Schema` trees.

struct Builder {
    types: HashMap<&'static str, &'static TypeDef>,
    /// Built types by name and by how many times the type already encloses itself (see
    /// [`MAX_UNROLL`]); for every non-recursive type that count is zero, so each is built once.
    built: HashMap<(&'static str, usize), Arc<Schema>>,
    /// The types being built, outermost first.
    stack: Vec<&'static str>,
    deduced: Arc<Schema>,
    scalar: Arc<Schema>,
}

impl Builder {
    fn new() -> Self {
        Builder {
            types: TYPES.iter().map(|def| (def.name, def)).collect(),
            built: HashMap::new(),
            stack: Vec::new(),
            deduced: Arc::new(Schema::Deduced),
            scalar: Arc::new(Schema::Scalar),
        }
    }

    /// The schema of a kind's root type. A root missing from the table still gets an object
    /// that knows its metadata, so every kind merges finalizers and owner references right.
    fn root(&mut self, name: &str) -> Arc<Schema> {
        if self.types.contains_key(name) {
            return self.ty(name);
        }
        let mut fields = BTreeMap::new();
        fields.insert("metadata".to_string(), self.ty("meta.v1.ObjectMeta"));
        Arc::new(Schema::Object(ObjectSchema {
            fields,
            additional: None,
            atomic: false,
            preserve_unknown: true,
        }))
    }

    fn ty(&mut self, name: &str) -> Arc<Schema> {
        let Some(def) = self.types.get(name).copied() else {
            // Only reachable through a typo in the table, which the tests rule out.
            return self.deduced.clone();
        };
        let depth = self.stack.iter().filter(|n| **n == def.name).count();
        if depth > MAX_UNROLL {
            return self.deduced.clone();
        }
        if let Some(done) = self.built.get(&(def.name, depth)) {
            return done.clone();
        }
        self.stack.push(def.name);
        let fields = def
            .fields
            .iter()
            .map(|(field, shape)| (field.to_string(), self.field(shape)))
            .collect();
        self.stack.pop();
        let schema = Arc::new(Schema::Object(ObjectSchema {
            fields,
            additional: None,
            atomic: def.atomic,
            preserve_unknown: true,
        }));
        self.built.insert((def.name, depth), schema.clone());
        schema
    }

    fn item(&mut self, item: Item) -> Arc<Schema> {
        match item {
            Item::Scalar => self.scalar.clone(),
            Item::Plain => self.deduced.clone(),
            Item::Type(name) => self.ty(name),
        }
    }

    fn field(&mut self, field: &Field) -> Arc<Schema> {
        match *field {
            Field::Object { ty, granular } => {
                let schema = self.ty(ty);
                match (&*schema, granular) {
                    (Schema::Object(o), true) if o.atomic => {
                        Arc::new(Schema::Object(ObjectSchema {
                            atomic: false,
                            ..o.clone()
                        }))
                    }
                    _ => schema,
                }
            }
            Field::List {
                items,
                keys,
                strategy,
                merge_key,
            } => Arc::new(Schema::Array(ArraySchema {
                items: self.item(items),
                list_type: match keys {
                    Keys::Atomic => ListType::Atomic,
                    Keys::Set => ListType::Set,
                    Keys::Map(keys) => ListType::Map(keys.iter().map(|k| k.to_string()).collect()),
                },
                patch_strategy: strategy.map(str::to_string),
                patch_merge_key: merge_key.map(str::to_string),
            })),
            Field::Map { values, atomic } => Arc::new(Schema::Object(ObjectSchema {
                fields: BTreeMap::new(),
                additional: Some(self.item(values)),
                atomic,
                preserve_unknown: true,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The table is checked against the real OpenAPI v3 documents of Kubernetes 1.35 (read
    //! from `../shared/k8s-api`, never copied), both entry by entry and by walking the resolved
    //! tree of every kind beside the document. The path tests at the end need no documents.

    use super::*;
    use serde_json::{Value, json};
    use std::collections::{BTreeSet, HashSet};
    use std::path::PathBuf;
    use std::sync::OnceLock;

    const LIST_TYPE: &str = "x-kubernetes-list-type";
    const LIST_MAP_KEYS: &str = "x-kubernetes-list-map-keys";
    const MAP_TYPE: &str = "x-kubernetes-map-type";
    const STRATEGY: &str = "x-kubernetes-patch-strategy";
    const MERGE_KEY: &str = "x-kubernetes-patch-merge-key";

    /// Markers the `Schema` type has no place for. The walk must meet exactly these, so a new
    /// one in a future document fails the test instead of being dropped silently.
    const UNREPRESENTABLE: &[&str] = &[
        "io.k8s.api.apps.v1.DeploymentSpec.strategy: x-kubernetes-patch-strategy=retainKeys",
        "io.k8s.api.policy.v1.PodDisruptionBudgetSpec.selector: \
         x-kubernetes-patch-strategy=replace",
        "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceSpec.caBundle: \
         x-kubernetes-list-type=atomic",
    ];

    /// Kinds the documents declare that are only ever subresource bodies, never stored objects.
    const SUBRESOURCE_ONLY: &[&str] = &["Eviction", "Scale", "TokenRequest"];

    /// The group-versions a default 1.35 server serves as GA, fixed here so that dropping one
    /// from [`KINDS`] fails [`every_served_kind_is_covered`] rather than shrinking it.
    const SERVED: &[(&str, &str)] = &[
        ("", "v1"),
        ("admissionregistration.k8s.io", "v1"),
        ("apiextensions.k8s.io", "v1"),
        ("apiregistration.k8s.io", "v1"),
        ("apps", "v1"),
        ("authentication.k8s.io", "v1"),
        ("authorization.k8s.io", "v1"),
        ("autoscaling", "v1"),
        ("autoscaling", "v2"),
        ("batch", "v1"),
        ("certificates.k8s.io", "v1"),
        ("coordination.k8s.io", "v1"),
        ("discovery.k8s.io", "v1"),
        ("events.k8s.io", "v1"),
        ("flowcontrol.apiserver.k8s.io", "v1"),
        ("networking.k8s.io", "v1"),
        ("node.k8s.io", "v1"),
        ("policy", "v1"),
        ("rbac.authorization.k8s.io", "v1"),
        ("resource.k8s.io", "v1"),
        ("scheduling.k8s.io", "v1"),
        ("storage.k8s.io", "v1"),
    ];

    /// A key no built-in type declares, to reach a map's value schema through `Schema::field`.
    const ANY_KEY: &str = "\u{1}any-key";

    fn openapi_name(short: &str) -> String {
        let (package, rest) = short.split_once('.').unwrap_or(("", short));
        match package {
            "meta" => format!("io.k8s.apimachinery.pkg.apis.meta.{rest}"),
            "apiextensions" => {
                format!("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{rest}")
            }
            "apiregistration" => {
                format!("io.k8s.kube-aggregator.pkg.apis.apiregistration.{rest}")
            }
            _ => format!("io.k8s.api.{short}"),
        }
    }

    struct Docs {
        /// `components.schemas` of every loaded document, merged (shared types are identical).
        schemas: HashMap<String, Value>,
        /// Group, version and kind of every `x-kubernetes-group-version-kind` of an API type.
        gvks: BTreeSet<(String, String, String)>,
    }

    /// The documents, or None (with a message) where `shared/` is not beside the checkout.
    fn docs() -> Option<&'static Docs> {
        static DOCS: OnceLock<Option<Docs>> = OnceLock::new();
        let docs = DOCS.get_or_init(load_docs).as_ref();
        if docs.is_none() {
            eprintln!("skipping: ../shared/k8s-api not found (set TETHER_SHARED_DIR to override)");
        }
        docs
    }

    fn load_docs() -> Option<Docs> {
        let shared = std::env::var_os("TETHER_SHARED_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"))
            });
        let dir = shared.join("k8s-api/openapi-v3-1.35");
        if !dir.is_dir() {
            return None;
        }
        let mut docs = Docs {
            schemas: HashMap::new(),
            gvks: BTreeSet::new(),
        };
        for &(group, version) in SERVED {
            let file = if group.is_empty() {
                dir.join("api/v1.json")
            } else {
                dir.join(format!("apis/{group}/{version}.json"))
            };
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
            let doc: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("parsing {}: {e}", file.display()));
            let schemas = doc["components"]["schemas"]
                .as_object()
                .unwrap_or_else(|| panic!("{}: no components.schemas", file.display()));
            for (name, schema) in schemas {
                // apimachinery's DeleteOptions, Status and WatchEvent declare every group.
                let gvks = match name.starts_with("io.k8s.apimachinery.") {
                    true => None,
                    false => schema["x-kubernetes-group-version-kind"].as_array(),
                };
                for gvk in gvks.into_iter().flatten() {
                    let part = |k: &str| gvk[k].as_str().unwrap_or_default().to_string();
                    docs.gvks
                        .insert((part("group"), part("version"), part("kind")));
                }
                docs.schemas.insert(name.clone(), schema.clone());
            }
        }
        Some(docs)
    }

    /// The type a node refers to: a direct `$ref`, or the single `allOf` entry OpenAPI v3 uses
    /// to hang a description or default beside a reference.
    fn ref_of(node: &Value) -> Option<&str> {
        let reference = match node.get("$ref") {
            Some(r) => r,
            None => node.get("allOf")?.as_array()?.first()?.get("$ref")?,
        };
        reference.as_str()?.strip_prefix("#/components/schemas/")
    }

    fn marker<'a>(node: &'a Value, name: &str) -> Option<&'a str> {
        node.get(name).and_then(Value::as_str)
    }

    fn map_keys(node: &Value) -> Option<Vec<&str>> {
        let keys = node.get(LIST_MAP_KEYS)?.as_array()?;
        Some(keys.iter().filter_map(Value::as_str).collect())
    }

    fn is_array(node: &Value) -> bool {
        marker(node, "type") == Some("array")
    }

    impl Docs {
        fn schema(&self, name: &str) -> Option<&Value> {
            self.schemas.get(name)
        }

        /// Whether a node, as a property, changes the merge behaviour from the deduced default:
        /// any list marker on an array, a merge key or strategy on an array, an atomic map, or a
        /// granular override of an atomic type. Markers the schema cannot hold do not count.
        fn node_marked(&self, node: &Value) -> bool {
            if is_array(node) {
                [LIST_TYPE, LIST_MAP_KEYS, STRATEGY, MERGE_KEY]
                    .iter()
                    .any(|m| node.get(*m).is_some())
            } else {
                marker(node, MAP_TYPE) == Some("atomic")
                    || (marker(node, MAP_TYPE) == Some("granular")
                        && ref_of(node)
                            .and_then(|r| self.schema(r))
                            .is_some_and(|t| marker(t, MAP_TYPE) == Some("atomic")))
            }
        }

        /// Whether a node, or anything reachable below it, is marked.
        fn leads_to_marks(&self, node: &Value, seen: &mut HashSet<String>) -> bool {
            if self.node_marked(node) {
                return true;
            }
            if let Some(r) = ref_of(node) {
                return self.type_marked(r, seen);
            }
            ["items", "additionalProperties"]
                .iter()
                .filter_map(|k| node.get(*k).filter(|v| v.is_object()))
                .any(|child| self.leads_to_marks(child, seen))
        }

        /// Whether a type, or anything reachable from it, is marked.
        fn type_marked(&self, name: &str, seen: &mut HashSet<String>) -> bool {
            if !seen.insert(name.to_string()) {
                return false;
            }
            let Some(ty) = self.schema(name) else {
                return false;
            };
            self.node_marked(ty)
                || is_array(ty)
                || ty["properties"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .any(|(_, p)| self.leads_to_marks(p, seen))
        }

        fn marked(&self, name: &str) -> bool {
            self.type_marked(name, &mut HashSet::new())
        }
    }

    /// Check 1, one field: the document's property has exactly the table's shape and markers.
    fn check_field(docs: &Docs, site: &str, prop: &Value, field: &Field, errs: &mut Vec<String>) {
        match *field {
            Field::Object { ty, granular } => {
                let want = openapi_name(ty);
                if ref_of(prop) != Some(want.as_str()) {
                    errs.push(format!(
                        "{site}: document refers to {:?}, table to {want}",
                        ref_of(prop)
                    ));
                }
                let want_map = if granular { Some("granular") } else { None };
                if marker(prop, MAP_TYPE) != want_map {
                    errs.push(format!(
                        "{site}: document map-type {:?}, table {want_map:?}",
                        marker(prop, MAP_TYPE)
                    ));
                }
                if let Some(lt) = marker(prop, LIST_TYPE) {
                    errs.push(format!(
                        "{site}: the document says list-type {lt} on an object"
                    ));
                }
            }
            Field::List {
                items,
                keys,
                strategy,
                merge_key,
            } => {
                if !is_array(prop) {
                    errs.push(format!("{site}: table has a list, the document does not"));
                }
                let (want_type, want_keys) = match keys {
                    Keys::Atomic => ("atomic", None),
                    Keys::Set => ("set", None),
                    Keys::Map(keys) => ("map", Some(keys.to_vec())),
                };
                if marker(prop, LIST_TYPE) != Some(want_type) {
                    errs.push(format!(
                        "{site}: document list-type {:?}, table {want_type}",
                        marker(prop, LIST_TYPE)
                    ));
                }
                if map_keys(prop) != want_keys {
                    errs.push(format!(
                        "{site}: document list-map-keys {:?}, table {want_keys:?}",
                        map_keys(prop)
                    ));
                }
                if marker(prop, STRATEGY) != strategy {
                    errs.push(format!(
                        "{site}: document patch strategy {:?}, table {strategy:?}",
                        marker(prop, STRATEGY)
                    ));
                }
                if marker(prop, MERGE_KEY) != merge_key {
                    errs.push(format!(
                        "{site}: document merge key {:?}, table {merge_key:?}",
                        marker(prop, MERGE_KEY)
                    ));
                }
                check_item(docs, &format!("{site}[]"), prop.get("items"), items, errs);
            }
            Field::Map { values, atomic } => {
                if marker(prop, "type") != Some("object") {
                    errs.push(format!("{site}: table has a map, the document does not"));
                }
                let doc_atomic = match marker(prop, MAP_TYPE) {
                    None | Some("granular") => false,
                    Some("atomic") => true,
                    Some(other) => {
                        errs.push(format!("{site}: unexpected map-type {other}"));
                        false
                    }
                };
                if doc_atomic != atomic {
                    errs.push(format!(
                        "{site}: document atomic map {doc_atomic}, table {atomic}"
                    ));
                }
                let values_node = prop.get("additionalProperties").filter(|v| v.is_object());
                check_item(docs, &format!("{site}{{}}"), values_node, values, errs);
            }
        }
    }

    fn check_item(
        docs: &Docs,
        site: &str,
        node: Option<&Value>,
        item: Item,
        errs: &mut Vec<String>,
    ) {
        let Some(node) = node else {
            errs.push(format!("{site}: no item schema in the document"));
            return;
        };
        match item {
            Item::Scalar => {
                let scalar = matches!(
                    marker(node, "type"),
                    Some("string" | "integer" | "number" | "boolean")
                );
                if ref_of(node).is_some() || !scalar {
                    errs.push(format!("{site}: table says scalar, document has {node}"));
                }
            }
            Item::Plain => match ref_of(node) {
                Some(r) if docs.marked(r) => {
                    errs.push(format!("{site}: table says plain, but {r} carries markers"))
                }
                Some(_) => {}
                None => errs.push(format!(
                    "{site}: table says plain object, document has {node}"
                )),
            },
            Item::Type(name) => {
                let want = openapi_name(name);
                if ref_of(node) != Some(want.as_str()) {
                    errs.push(format!(
                        "{site}: document refers to {:?}, table to {want}",
                        ref_of(node)
                    ));
                }
            }
        }
    }

    /// Check 1: every table entry matches the document, marker for marker.
    #[test]
    fn table_entries_match_documents() {
        let Some(docs) = docs() else { return };
        let mut errs = Vec::new();
        for def in TYPES {
            let full = openapi_name(def.name);
            let Some(doc) = docs.schema(&full) else {
                errs.push(format!("{full}: not in the documents"));
                continue;
            };
            let doc_atomic = marker(doc, MAP_TYPE) == Some("atomic");
            if def.atomic != doc_atomic {
                errs.push(format!(
                    "{full}: document atomic {doc_atomic}, table {}",
                    def.atomic
                ));
            }
            for (name, field) in def.fields {
                let site = format!("{full}.{name}");
                match doc["properties"].get(*name) {
                    Some(prop) => check_field(docs, &site, prop, field, &mut errs),
                    None => errs.push(format!("{site}: no such property in the document")),
                }
            }
        }
        assert!(
            errs.is_empty(),
            "{} mismatches:\n{}",
            errs.len(),
            errs.join("\n")
        );
    }

    /// Check 2, type by type: every property of a table type that carries a marker, or leads
    /// to a type that does, has an entry.
    #[test]
    fn table_covers_every_marked_property() {
        let Some(docs) = docs() else { return };
        // The types the merge code leans on most must be in the table, so this is not vacuous.
        for must in [
            "core.v1.PodSpec",
            "core.v1.Container",
            "core.v1.EphemeralContainer",
            "apps.v1.DeploymentSpec",
            "apps.v1.StatefulSetSpec",
            "core.v1.ServiceSpec",
            "meta.v1.ObjectMeta",
        ] {
            assert!(
                TYPES.iter().any(|d| d.name == must),
                "{must} missing from the table"
            );
        }
        let mut errs = Vec::new();
        for def in TYPES {
            let full = openapi_name(def.name);
            let Some(doc) = docs.schema(&full) else {
                continue;
            };
            for (name, prop) in doc["properties"].as_object().into_iter().flatten() {
                let in_table = def.fields.iter().any(|(f, _)| f == name);
                if !in_table && docs.leads_to_marks(prop, &mut HashSet::new()) {
                    errs.push(format!(
                        "{full}.{name}: marked in the document, not in the table"
                    ));
                }
            }
        }
        assert!(
            errs.is_empty(),
            "{} missing:\n{}",
            errs.len(),
            errs.join("\n")
        );
    }

    struct Walk<'a> {
        docs: &'a Docs,
        stack: Vec<String>,
        errs: Vec<String>,
        gaps: BTreeSet<String>,
    }

    impl Walk<'_> {
        /// Compares the resolved schema with the document at one node, then below it. `site`
        /// names the node by type and property (for the gap list), `path` by kind and path.
        fn node(&mut self, node: &Value, built: &Schema, path: &str, site: &str) {
            let target = match ref_of(node) {
                Some(r) => match self.docs.schema(r) {
                    Some(t) => Some((r, t)),
                    None => {
                        self.errs.push(format!("{path}: dangling reference {r}"));
                        return;
                    }
                },
                None => None,
            };
            let shape = target.map_or(node, |(_, t)| t);
            // A marker on the property wins over the same marker on the referenced type.
            let get = |m: &str| marker(node, m).or_else(|| marker(shape, m));

            let want_atomic = get(MAP_TYPE) == Some("atomic");
            if built.is_atomic_map() != want_atomic {
                self.errs.push(format!(
                    "{path}: atomic map is {}, document says {want_atomic}",
                    built.is_atomic_map()
                ));
            }

            if is_array(shape) {
                let want_type = match get(LIST_TYPE) {
                    Some("set") => ListType::Set,
                    Some("map") => ListType::Map(
                        map_keys(node)
                            .or_else(|| map_keys(shape))
                            .unwrap_or_default()
                            .into_iter()
                            .map(String::from)
                            .collect(),
                    ),
                    _ => ListType::Atomic,
                };
                let (strategy, merge_key) = match built {
                    Schema::Array(a) => (a.patch_strategy.as_deref(), a.patch_merge_key.as_deref()),
                    _ => (None, None),
                };
                if built.list_type() != &want_type {
                    self.errs.push(format!(
                        "{path}: list type {:?}, document says {want_type:?}",
                        built.list_type()
                    ));
                }
                if strategy != get(STRATEGY) || merge_key != get(MERGE_KEY) {
                    self.errs.push(format!(
                        "{path}: patch strategy/key {strategy:?}/{merge_key:?}, document says \
                         {:?}/{:?}",
                        get(STRATEGY),
                        get(MERGE_KEY)
                    ));
                }
                if let Some(items) = shape.get("items") {
                    self.node(
                        items,
                        built.items(),
                        &format!("{path}[]"),
                        &format!("{site}[]"),
                    );
                }
                return;
            }

            if matches!(built, Schema::Array(_)) {
                self.errs
                    .push(format!("{path}: a list in the schema, not in the document"));
            }
            for m in [LIST_TYPE, STRATEGY] {
                if let Some(value) = get(m) {
                    self.gaps.insert(format!("{site}: {m}={value}"));
                }
            }
            if let Some(values) = shape.get("additionalProperties").filter(|v| v.is_object()) {
                self.node(
                    values,
                    built.field(ANY_KEY),
                    &format!("{path}{{}}"),
                    &format!("{site}{{}}"),
                );
            }
            let Some(properties) = shape.get("properties").and_then(Value::as_object) else {
                return;
            };
            let owner = target.map_or(site, |(r, _)| r).to_string();
            if self.stack.contains(&owner) {
                // A recursive type (JSONSchemaProps): its first level has been compared.
                return;
            }
            self.stack.push(owner.clone());
            for (name, prop) in properties {
                self.node(
                    prop,
                    built.field(name),
                    &format!("{path}.{name}"),
                    &format!("{owner}.{name}"),
                );
            }
            self.stack.pop();
        }
    }

    /// Check 2, whole trees: every kind's resolved schema reproduces every marker the document
    /// has anywhere below its root, and has none the document lacks.
    #[test]
    fn resolved_kinds_match_documents() {
        let Some(docs) = docs() else { return };
        let mut walk = Walk {
            docs,
            stack: Vec::new(),
            errs: Vec::new(),
            gaps: BTreeSet::new(),
        };
        for &(group, version, package, kinds) in KINDS {
            for &kind in kinds {
                let root = openapi_name(&format!("{package}.{kind}"));
                let Some(built) = builtin_schema(group, version, kind) else {
                    walk.errs
                        .push(format!("{group}/{version} {kind}: no schema"));
                    continue;
                };
                let node = json!({ "$ref": format!("#/components/schemas/{root}") });
                walk.node(&node, &built, &format!("{group}/{version} {kind}"), &root);
            }
        }
        assert!(
            walk.errs.is_empty(),
            "{} mismatches:\n{}",
            walk.errs.len(),
            walk.errs.join("\n")
        );
        let gaps: Vec<&str> = walk.gaps.iter().map(String::as_str).collect();
        assert_eq!(
            gaps, UNREPRESENTABLE,
            "the markers the schema cannot hold changed"
        );
    }

    /// Every kind the documents declare in the covered group-versions is in [`KINDS`], rooted
    /// at the type that declares it, and nothing more.
    #[test]
    fn every_served_kind_is_covered() {
        let Some(docs) = docs() else { return };
        let covered: BTreeSet<(&str, &str)> = SERVED.iter().copied().collect();
        let declared: BTreeSet<(String, String, String)> = docs
            .gvks
            .iter()
            .filter(|(g, v, k)| {
                covered.contains(&(g.as_str(), v.as_str()))
                    && !k.ends_with("List")
                    && !SUBRESOURCE_ONLY.contains(&k.as_str())
            })
            .cloned()
            .collect();
        let mut listed = BTreeSet::new();
        for &(group, version, package, kinds) in KINDS {
            for &kind in kinds {
                listed.insert((group.to_string(), version.to_string(), kind.to_string()));
                let root = openapi_name(&format!("{package}.{kind}"));
                let declares = docs.schema(&root).is_some_and(|s| {
                    s["x-kubernetes-group-version-kind"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|g| {
                            g["group"] == group && g["version"] == version && g["kind"] == kind
                        })
                });
                assert!(declares, "{root} does not declare {group}/{version} {kind}");
            }
        }
        assert_eq!(listed, declared);
    }

    /// Every reference in the table names a table type, no type is listed twice, and every
    /// type is reachable from some kind (no stale entries).
    #[test]
    fn table_is_closed_and_reachable() {
        let mut names = HashSet::new();
        for def in TYPES {
            assert!(names.insert(def.name), "{} listed twice", def.name);
        }
        let refs = |def: &TypeDef| -> Vec<&'static str> {
            def.fields
                .iter()
                .filter_map(|(_, f)| match *f {
                    Field::Object { ty, .. } => Some(ty),
                    Field::List {
                        items: Item::Type(ty),
                        ..
                    } => Some(ty),
                    Field::Map {
                        values: Item::Type(ty),
                        ..
                    } => Some(ty),
                    _ => None,
                })
                .collect()
        };
        for def in TYPES {
            for r in refs(def) {
                assert!(
                    names.contains(r),
                    "{} refers to {r}, which is not in the table",
                    def.name
                );
            }
        }
        let by_name: HashMap<&str, &TypeDef> = TYPES.iter().map(|d| (d.name, d)).collect();
        let mut todo: Vec<String> = Vec::new();
        for &(_, _, package, kinds) in KINDS {
            for &kind in kinds {
                let root = format!("{package}.{kind}");
                assert!(
                    by_name.contains_key(root.as_str()),
                    "root {root} not in the table"
                );
                todo.push(root);
            }
        }
        let mut reached = HashSet::new();
        while let Some(name) = todo.pop() {
            if let Some(def) = by_name.get(name.as_str())
                && reached.insert(def.name)
            {
                todo.extend(refs(def).into_iter().map(String::from));
            }
        }
        let stale: Vec<&str> = TYPES
            .iter()
            .map(|d| d.name)
            .filter(|n| !reached.contains(n))
            .collect();
        assert!(stale.is_empty(), "unreachable table entries: {stale:?}");
    }

    fn keys(keys: &[&str]) -> ListType {
        ListType::Map(keys.iter().map(|k| k.to_string()).collect())
    }

    fn schema(group: &str, version: &str, kind: &str) -> Arc<Schema> {
        builtin_schema(group, version, kind).unwrap_or_else(|| panic!("{group}/{version} {kind}"))
    }

    /// The pod template as merge code sees it, for one PodSpec node.
    fn assert_pod_spec(spec: &Schema, at: &str) {
        let containers = spec.field("containers");
        assert_eq!(containers.list_type(), &keys(&["name"]), "{at}.containers");
        assert_eq!(
            containers.patch_merge_key(),
            Some("name"),
            "{at}.containers"
        );
        for list in [
            "initContainers",
            "ephemeralContainers",
            "imagePullSecrets",
            "schedulingGates",
        ] {
            assert_eq!(
                spec.field(list).list_type(),
                &keys(&["name"]),
                "{at}.{list}"
            );
            assert_eq!(
                spec.field(list).patch_merge_key(),
                Some("name"),
                "{at}.{list}"
            );
        }
        let container = containers.items();
        let env = container.field("env");
        assert_eq!(env.list_type(), &keys(&["name"]), "{at} env");
        assert_eq!(env.patch_merge_key(), Some("name"), "{at} env");
        assert!(
            env.items()
                .field("valueFrom")
                .field("secretKeyRef")
                .is_atomic_map(),
            "{at} env[].valueFrom.secretKeyRef"
        );
        let ports = container.field("ports");
        assert_eq!(
            ports.list_type(),
            &keys(&["containerPort", "protocol"]),
            "{at} ports"
        );
        assert_eq!(ports.patch_merge_key(), Some("containerPort"), "{at} ports");
        assert_eq!(ports.patch_strategy(), Some("merge"), "{at} ports");
        let mounts = container.field("volumeMounts");
        assert_eq!(
            mounts.list_type(),
            &keys(&["mountPath"]),
            "{at} volumeMounts"
        );
        assert_eq!(
            mounts.patch_merge_key(),
            Some("mountPath"),
            "{at} volumeMounts"
        );
        assert_eq!(
            container.field("volumeDevices").patch_merge_key(),
            Some("devicePath")
        );
        assert_eq!(container.field("args").list_type(), &ListType::Atomic);
        assert_eq!(container.field("command").patch_merge_key(), None);
        let volumes = spec.field("volumes");
        assert_eq!(volumes.list_type(), &keys(&["name"]), "{at}.volumes");
        assert_eq!(volumes.patch_merge_key(), Some("name"), "{at}.volumes");
        assert_eq!(
            volumes.patch_strategy(),
            Some("merge,retainKeys"),
            "{at}.volumes"
        );
        assert!(
            volumes
                .items()
                .field("secret")
                .field("items")
                .patch_merge_key()
                .is_none()
        );
        let tolerations = spec.field("tolerations");
        assert_eq!(
            tolerations.list_type(),
            &ListType::Atomic,
            "{at}.tolerations"
        );
        assert_eq!(tolerations.patch_merge_key(), None, "{at}.tolerations");
        let spread = spec.field("topologySpreadConstraints");
        assert_eq!(
            spread.list_type(),
            &keys(&["topologyKey", "whenUnsatisfiable"])
        );
        assert_eq!(spread.patch_merge_key(), Some("topologyKey"));
        assert_eq!(spec.field("hostAliases").patch_merge_key(), Some("ip"));
        assert_eq!(
            spec.field("resourceClaims").patch_strategy(),
            Some("merge,retainKeys")
        );
        assert!(
            spec.field("nodeSelector").is_atomic_map(),
            "{at}.nodeSelector"
        );
        let required = spec
            .field("affinity")
            .field("nodeAffinity")
            .field("requiredDuringSchedulingIgnoredDuringExecution");
        assert!(required.is_atomic_map(), "{at} node affinity selector");
        let term = spec
            .field("affinity")
            .field("podAntiAffinity")
            .field("requiredDuringSchedulingIgnoredDuringExecution")
            .items();
        assert!(
            term.field("labelSelector").is_atomic_map(),
            "{at} pod affinity selector"
        );
    }

    /// Check 3: the resolved trees along the paths the merge code walks most.
    #[test]
    fn resolved_paths() {
        let deployment = schema("apps", "v1", "Deployment");
        let spec = deployment.field("spec").field("template").field("spec");
        assert_eq!(
            spec.field("containers").list_type(),
            &ListType::Map(vec!["name".to_string()])
        );
        assert_eq!(spec.field("containers").patch_merge_key(), Some("name"));
        assert_pod_spec(spec, "Deployment");
        assert!(deployment.field("spec").field("selector").is_atomic_map());

        let cronjob = schema("batch", "v1", "CronJob");
        let job_template = cronjob.field("spec").field("jobTemplate");
        assert_pod_spec(
            job_template.field("spec").field("template").field("spec"),
            "CronJob",
        );
        assert!(
            job_template
                .field("metadata")
                .field("ownerReferences")
                .patch_merge_key()
                .is_some()
        );

        for (group, kind, path) in [
            ("", "Pod", &["spec"][..]),
            ("", "PodTemplate", &["template", "spec"]),
            ("", "ReplicationController", &["spec", "template", "spec"]),
            ("apps", "StatefulSet", &["spec", "template", "spec"]),
            ("apps", "DaemonSet", &["spec", "template", "spec"]),
            ("apps", "ReplicaSet", &["spec", "template", "spec"]),
            ("batch", "Job", &["spec", "template", "spec"]),
        ] {
            let root = schema(group, "v1", kind);
            let spec = path.iter().fold(&*root, |s, f| s.field(f));
            assert_pod_spec(spec, kind);
        }

        // ObjectMeta, for every kind.
        for &(group, version, _, kinds) in KINDS {
            for &kind in kinds {
                let meta = schema(group, version, kind);
                let meta = meta.field("metadata");
                let finalizers = meta.field("finalizers");
                assert_eq!(finalizers.list_type(), &ListType::Set, "{kind} finalizers");
                assert_eq!(
                    finalizers.patch_strategy(),
                    Some("merge"),
                    "{kind} finalizers"
                );
                let owners = meta.field("ownerReferences");
                assert_eq!(
                    owners.list_type(),
                    &keys(&["uid"]),
                    "{kind} ownerReferences"
                );
                assert_eq!(
                    owners.patch_merge_key(),
                    Some("uid"),
                    "{kind} ownerReferences"
                );
                assert!(owners.items().is_atomic_map(), "{kind} ownerReferences[]");
                assert_eq!(meta.field("managedFields").list_type(), &ListType::Atomic);
                assert!(!meta.field("labels").is_atomic_map(), "{kind} labels");
            }
        }

        let pod = schema("", "v1", "Pod");
        let status = pod.field("status");
        assert_eq!(status.field("conditions").list_type(), &keys(&["type"]));
        assert_eq!(status.field("conditions").patch_merge_key(), Some("type"));
        assert_eq!(status.field("podIPs").list_type(), &keys(&["ip"]));
        // Atomic for apply, merged on `ip` by strategic merge patch, as in the real API.
        assert_eq!(status.field("hostIPs").list_type(), &ListType::Atomic);
        assert_eq!(status.field("hostIPs").patch_merge_key(), Some("ip"));
        let job_conditions = schema("batch", "v1", "Job");
        let job_conditions = job_conditions.field("status").field("conditions");
        assert_eq!(job_conditions.list_type(), &ListType::Atomic);
        assert_eq!(job_conditions.patch_merge_key(), Some("type"));

        let service = schema("", "v1", "Service");
        let ports = service.field("spec").field("ports");
        assert_eq!(ports.list_type(), &keys(&["port", "protocol"]));
        assert_eq!(ports.patch_merge_key(), Some("port"));
        assert!(service.field("spec").field("selector").is_atomic_map());

        let sts = schema("apps", "v1", "StatefulSet");
        let claims = sts.field("spec").field("volumeClaimTemplates");
        assert_eq!(claims.list_type(), &ListType::Atomic);
        assert_eq!(claims.patch_merge_key(), None);

        // PersistentVolumeSpec.claimRef overrides the atomic ObjectReference.
        let pv = schema("", "v1", "PersistentVolume");
        assert!(!pv.field("spec").field("claimRef").is_atomic_map());
        let endpoints = schema("", "v1", "Endpoints");
        let address = endpoints
            .field("subsets")
            .items()
            .field("addresses")
            .items();
        assert!(address.is_atomic_map());
        assert!(address.field("targetRef").is_atomic_map());

        let node = schema("", "v1", "Node");
        assert_eq!(
            node.field("spec").field("podCIDRs").list_type(),
            &ListType::Set
        );
        assert_eq!(
            node.field("spec").field("podCIDRs").patch_strategy(),
            Some("merge")
        );
        assert_eq!(
            node.field("status").field("addresses").patch_merge_key(),
            Some("type")
        );

        let sa = schema("", "v1", "ServiceAccount");
        assert_eq!(sa.field("secrets").patch_merge_key(), Some("name"));
        assert_eq!(sa.field("imagePullSecrets").patch_merge_key(), None);

        let webhooks = schema(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingWebhookConfiguration",
        );
        let webhooks = webhooks.field("webhooks");
        assert_eq!(webhooks.list_type(), &keys(&["name"]));
        assert_eq!(
            webhooks.items().field("matchConditions").patch_merge_key(),
            Some("name")
        );
        assert!(webhooks.items().field("namespaceSelector").is_atomic_map());

        let slice = schema("discovery.k8s.io", "v1", "EndpointSlice");
        assert_eq!(
            slice
                .field("endpoints")
                .items()
                .field("addresses")
                .list_type(),
            &ListType::Set
        );

        let claim = schema("resource.k8s.io", "v1", "ResourceClaim");
        assert_eq!(
            claim.field("status").field("devices").list_type(),
            &keys(&["driver", "device", "pool", "shareID"])
        );
        let hpa = schema("autoscaling", "v2", "HorizontalPodAutoscaler");
        assert_eq!(
            hpa.field("status").field("conditions").patch_merge_key(),
            Some("type")
        );
        let hpa1 = schema("autoscaling", "v1", "HorizontalPodAutoscaler");
        assert!(hpa1.field("spec").field("scaleTargetRef").is_atomic_map());
    }

    /// Unlisted fields of built-in objects are deduced and never unknown: pruning of built-in
    /// kinds is the typed round trip's job.
    #[test]
    fn built_in_objects_keep_unknown_fields() {
        let deployment = schema("apps", "v1", "Deployment");
        for node in [
            &*deployment,
            deployment.field("spec"),
            deployment.field("spec").field("template").field("spec"),
            deployment.field("metadata"),
        ] {
            assert!(!node.is_unknown_field("surelyNotAField"));
        }
        let spec = deployment.field("spec").field("template").field("spec");
        assert!(matches!(spec.field("hostname"), Schema::Deduced));
        assert!(matches!(
            spec.field("nodeSelector").field("disk"),
            Schema::Scalar
        ));
    }

    /// The recursive CRD schema is unrolled deep enough for real CRDs, and finitely.
    #[test]
    fn crd_schema_unrolls() {
        let crd = schema("apiextensions.k8s.io", "v1", "CustomResourceDefinition");
        let mut props = crd
            .field("spec")
            .field("versions")
            .items()
            .field("schema")
            .field("openAPIV3Schema");
        for depth in 0..MAX_UNROLL {
            let rules = props.field("x-kubernetes-validations");
            assert_eq!(rules.list_type(), &keys(&["rule"]), "depth {depth}");
            assert_eq!(rules.patch_merge_key(), Some("rule"), "depth {depth}");
            props = props.field("properties").field("child");
        }
        for _ in 0..4 {
            props = props.field("properties").field("child");
        }
        assert!(matches!(props, Schema::Deduced));
        let all_of = crd.field("spec").field("versions").items().field("schema");
        let all_of = all_of.field("openAPIV3Schema").field("allOf").items();
        assert_eq!(
            all_of.field("x-kubernetes-validations").patch_merge_key(),
            Some("rule")
        );
    }

    #[test]
    fn lookups_are_exact_and_cached() {
        assert!(builtin_schema("apps", "v1beta1", "Deployment").is_none());
        assert!(builtin_schema("core", "v1", "Pod").is_none());
        assert!(builtin_schema("", "v1", "Deployment").is_none());
        assert!(builtin_schema("autoscaling", "v1", "Scale").is_none());
        assert!(builtin_schema("example.com", "v1", "Widget").is_none());
        assert!(builtin_schema("", "v1", "PodList").is_none());
        let a = schema("apps", "v1", "Deployment");
        let b = schema("apps", "v1", "Deployment");
        assert!(Arc::ptr_eq(&a, &b));
        // The pod template is built once and shared by every workload.
        let pod = schema("", "v1", "Pod");
        let from_deployment = a.field("spec").field("template").field("spec");
        assert!(std::ptr::eq(from_deployment, pod.field("spec")));
    }
}
