//! kube-rs works against the sandbox unchanged: discovery (legacy and
//! aggregated), server-side apply of built-in and CRD-defined kinds through
//! `Api<DynamicObject>`, dry-run, field-manager conflicts, and kube-runtime's
//! watcher and reflector, including recovery from 410 Expired.
//!
//! Every await that talks to the server is bounded (`within`), so a hang fails
//! the test instead of blocking the run.

mod common;

use std::future::Future;
use std::time::Duration;

use common::TestSandbox;
use futures_util::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{ApiCapabilities, Discovery, Scope};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, Config, ResourceExt};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(20);

/// Awaits `fut`, failing the test if it takes longer than [`LIMIT`].
async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(LIMIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {LIMIT:?}: {what}"),
    }
}

/// A kube client built from the sandbox's kubeconfig file, exactly as a user's would be.
async fn client(ts: &TestSandbox) -> Client {
    let kubeconfig = Kubeconfig::read_from(&ts.kubeconfig).expect("kubeconfig parses");
    let config = within(
        "kube config",
        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()),
    )
    .await
    .expect("kube accepts the sandbox's kubeconfig");
    Client::try_from(config).expect("kube client")
}

const ALL_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn sorted(v: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
    let mut v: Vec<String> = v.into_iter().map(Into::into).collect();
    v.sort();
    v
}

/// What kube's discovery found for apps/v1 Deployment must be what a real server says.
fn check_deployment(discovery: &Discovery, how: &str, legacy: bool) {
    let apps = discovery
        .get("apps")
        .unwrap_or_else(|| panic!("{how}: group apps not discovered"));
    assert_eq!(
        apps.preferred_version(),
        Some("v1"),
        "{how}: apps preferred version"
    );
    let (ar, caps) = apps
        .versioned_resources("v1")
        .into_iter()
        .find(|(ar, _)| ar.kind == "Deployment")
        .unwrap_or_else(|| panic!("{how}: apps/v1 Deployment not discovered"));
    assert_eq!(ar.plural, "deployments", "{how}");
    assert_eq!(ar.api_version, "apps/v1", "{how}");
    assert_eq!(caps.scope, Scope::Namespaced, "{how}");
    assert_eq!(
        sorted(caps.operations.clone()),
        sorted(ALL_VERBS),
        "{how}: verbs"
    );
    let subs = sorted(caps.subresources.iter().map(|(sub, _)| sub.plural.clone()));
    assert_eq!(subs, ["scale", "status"], "{how}: subresources");
    let (scale, scale_caps) = caps
        .subresources
        .iter()
        .find(|(sub, _)| sub.plural == "scale")
        .expect("scale subresource");
    assert_eq!(scale.kind, "Scale", "{how}");
    if legacy {
        // kube's aggregated (v2) parser takes a subresource's group and version from
        // its parent, whatever responseKind says; only the legacy path carries the
        // group and version the server sent. (tests/schema_tables.rs checks the
        // aggregated responseKind itself.)
        assert_eq!(
            (scale.group.as_str(), scale.version.as_str()),
            ("autoscaling", "v1"),
            "{how}: the scale subresource answers with autoscaling/v1 Scale"
        );
    }
    assert_eq!(
        sorted(scale_caps.operations.clone()),
        ["get", "patch", "update"],
        "{how}: scale verbs"
    );

    // resolve_gvk is what dynamic clients use to turn a manifest into a URL.
    let gvk = GroupVersionKind::gvk("apps", "v1", "Deployment");
    let (resolved, _) = discovery
        .resolve_gvk(&gvk)
        .unwrap_or_else(|| panic!("{how}: resolve_gvk(apps/v1 Deployment)"));
    assert_eq!(resolved.plural, "deployments", "{how}");

    // The core group comes from /api: Pods are there, with the `all` category's scope.
    let (pod, pod_caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Pod"))
        .unwrap_or_else(|| panic!("{how}: v1 Pod not discovered"));
    assert_eq!(
        (pod.plural.as_str(), pod.api_version.as_str()),
        ("pods", "v1"),
        "{how}"
    );
    assert_eq!(pod_caps.scope, Scope::Namespaced, "{how}");
    let (_, ns_caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Namespace"))
        .unwrap_or_else(|| panic!("{how}: v1 Namespace not discovered"));
    assert_eq!(ns_caps.scope, Scope::Cluster, "{how}");
}

#[tokio::test]
async fn legacy_discovery_finds_deployments() {
    let ts = TestSandbox::start().await;
    let discovery = within("Discovery::run", Discovery::new(client(&ts).await).run())
        .await
        .expect("legacy discovery runs");
    check_deployment(&discovery, "legacy discovery", true);
}

#[tokio::test]
async fn aggregated_discovery_finds_deployments() {
    let ts = TestSandbox::start().await;
    let discovery = within(
        "Discovery::run_aggregated",
        Discovery::new(client(&ts).await).run_aggregated(),
    )
    .await
    .expect("aggregated discovery runs");
    check_deployment(&discovery, "aggregated discovery", false);
}

/// Both discovery paths must agree on every group, version and kind the sandbox serves.
#[tokio::test]
async fn legacy_and_aggregated_discovery_agree() {
    let ts = TestSandbox::start().await;
    let c = client(&ts).await;
    let legacy = within("Discovery::run", Discovery::new(c.clone()).run())
        .await
        .expect("legacy discovery");
    let aggregated = within("run_aggregated", Discovery::new(c).run_aggregated())
        .await
        .expect("aggregated discovery");
    let summary = |d: &Discovery| -> Vec<String> {
        let mut out = Vec::new();
        for g in d.groups() {
            for v in g.versions() {
                for (ar, caps) in g.versioned_resources(v) {
                    out.push(format!(
                        "{}/{} {} {} {:?} {:?} {:?}",
                        ar.group,
                        ar.version,
                        ar.kind,
                        ar.plural,
                        caps.scope,
                        sorted(caps.operations.clone()),
                        sorted(caps.subresources.iter().map(|(s, _)| s.plural.clone())),
                    ));
                }
            }
        }
        out.sort();
        out
    };
    let (l, a) = (summary(&legacy), summary(&aggregated));
    assert!(!l.is_empty());
    assert_eq!(l, a, "legacy and aggregated discovery disagree");
}

fn deployment(name: &str, replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image}]}
            }
        }
    })
}

/// The Deployment ApiResource as kube's discovery resolves it.
async fn deployments(c: &Client) -> Api<DynamicObject> {
    let discovery = within(
        "discovery",
        Discovery::new(c.clone()).filter(&["apps"]).run_aggregated(),
    )
    .await
    .expect("discovery");
    let (ar, _) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
        .expect("Deployment discovered");
    Api::namespaced_with(c.clone(), "default", &ar)
}

/// The managers of the object's main resource listed in managedFields, as
/// `manager/operation`. The deployment controller's entries are left out: its
/// status writes (marked as `status` subresource entries, as
/// kube-controller-manager's are) and, as in a real cluster, its main-resource
/// entry owning only the `deployment.kubernetes.io/revision` annotation.
fn managers(obj: &DynamicObject) -> Vec<String> {
    let controller = |m: &&k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry| {
        m.manager.as_deref() == Some("kube-controller-manager")
    };
    for m in obj.managed_fields().iter().filter(controller) {
        if m.subresource.is_none() {
            let fields = m
                .fields_v1
                .as_ref()
                .map(|f| f.0.clone())
                .unwrap_or_default();
            assert_eq!(
                fields,
                json!({"f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}}}),
                "the controller's main-resource entry owns only the revision: {m:?}"
            );
        } else {
            assert_eq!(m.subresource.as_deref(), Some("status"), "{m:?}");
        }
    }
    sorted(
        obj.managed_fields()
            .iter()
            .filter(|m| m.subresource.is_none() && !controller(m))
            .map(|m| {
                format!(
                    "{}/{}",
                    m.manager.as_deref().unwrap_or(""),
                    m.operation.as_deref().unwrap_or("")
                )
            }),
    )
}

fn at<'a>(obj: &'a DynamicObject, path: &[&str]) -> &'a Value {
    let mut v = &obj.data;
    for p in path {
        v = v.get(p).unwrap_or(&Value::Null);
    }
    v
}

#[tokio::test]
async fn server_side_apply_creates_then_updates_a_deployment() {
    let ts = TestSandbox::start().await;
    let c = client(&ts).await;
    let api = deployments(&c).await;
    let pp = PatchParams::apply("tether-test");

    let created = within(
        "apply (create)",
        api.patch(
            "web",
            &pp,
            &Patch::Apply(deployment("web", 1, "nginx:1.27")),
        ),
    )
    .await
    .expect("apply creates the deployment");
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(at(&created, &["spec", "replicas"]), &json!(1));
    assert_eq!(managers(&created), ["tether-test/Apply"]);
    // Server defaults are filled in, as a real server fills them in.
    assert_eq!(at(&created, &["spec", "revisionHistoryLimit"]), &json!(10));
    let rv1 = created.resource_version().expect("resourceVersion");
    let uid = created.uid().expect("uid");

    let updated = within(
        "apply (update)",
        api.patch(
            "web",
            &pp,
            &Patch::Apply(deployment("web", 3, "nginx:1.28")),
        ),
    )
    .await
    .expect("apply updates the deployment");
    assert_eq!(updated.uid().as_deref(), Some(uid.as_str()), "same object");
    assert_eq!(
        updated.metadata.generation,
        Some(2),
        "a spec change bumps generation"
    );
    assert_eq!(at(&updated, &["spec", "replicas"]), &json!(3));
    assert_eq!(
        updated.data["spec"]["template"]["spec"]["containers"][0]["image"],
        json!("nginx:1.28")
    );
    assert_ne!(updated.resource_version().as_deref(), Some(rv1.as_str()));

    // Applying the same configuration again changes nothing. (The simulated
    // deployment controller writes status meanwhile, so the resourceVersion is
    // compared on the CRD-defined kind, which no controller touches.)
    let again = within(
        "apply (no-op)",
        api.patch(
            "web",
            &pp,
            &Patch::Apply(deployment("web", 3, "nginx:1.28")),
        ),
    )
    .await
    .expect("re-apply");
    assert_eq!(again.metadata.generation, Some(2));

    let got = within("get", api.get("web")).await.expect("get");
    assert_eq!(got.data["spec"]["replicas"], json!(3));
    assert_eq!(managers(&got), ["tether-test/Apply"]);
}

const CRD_GROUP: &str = "widgets.tether.dev";

fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("widgets.{CRD_GROUP}")},
        "spec": {
            "group": CRD_GROUP,
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "shortNames": ["wg"]},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {
                        "type": "object",
                        "properties": {
                            "size": {"type": "integer"},
                            "colour": {"type": "string"},
                            "tags": {"type": "array", "items": {"type": "string"}}
                        }
                    }}
                }},
                "subresources": {"status": {}}
            }]
        }
    })
}

#[tokio::test]
async fn server_side_apply_of_a_crd_defined_kind() {
    let ts = TestSandbox::start().await;
    let c = client(&ts).await;
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    let name = format!("widgets.{CRD_GROUP}");
    within(
        "apply CRD",
        crds.patch(
            &name,
            &PatchParams::apply("tether-test"),
            &Patch::Apply(widget_crd()),
        ),
    )
    .await
    .expect("CRD applied");
    within(
        "CRD established",
        kube::runtime::wait::await_condition(
            crds.clone(),
            &name,
            kube::runtime::conditions::is_crd_established(),
        ),
    )
    .await
    .expect("await Established");

    let discovery = within(
        "discovery of the CRD group",
        Discovery::new(c.clone())
            .filter(&[CRD_GROUP])
            .run_aggregated(),
    )
    .await
    .expect("discovery");
    let (ar, caps): (ApiResource, ApiCapabilities) = discovery
        .resolve_gvk(&GroupVersionKind::gvk(CRD_GROUP, "v1", "Widget"))
        .expect("the CRD's kind is discovered");
    assert_eq!(ar.plural, "widgets");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert_eq!(
        sorted(caps.subresources.iter().map(|(s, _)| s.plural.clone())),
        ["status"]
    );

    let widgets: Api<DynamicObject> = Api::namespaced_with(c.clone(), "default", &ar);
    let widget = |size: i64, tags: &[&str]| {
        json!({
            "apiVersion": format!("{CRD_GROUP}/v1"),
            "kind": "Widget",
            "metadata": {"name": "w1"},
            "spec": {"size": size, "colour": "blue", "tags": tags}
        })
    };
    let pp = PatchParams::apply("tether-test");
    let created = within(
        "apply widget",
        widgets.patch("w1", &pp, &Patch::Apply(widget(1, &["a"]))),
    )
    .await
    .expect("widget created by apply");
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(
        created.data["spec"],
        json!({"size": 1, "colour": "blue", "tags": ["a"]})
    );
    assert_eq!(managers(&created), ["tether-test/Apply"]);

    let updated = within(
        "re-apply widget",
        widgets.patch("w1", &pp, &Patch::Apply(widget(2, &["a", "b"]))),
    )
    .await
    .expect("widget updated by apply");
    assert_eq!(updated.metadata.generation, Some(2));
    assert_eq!(
        updated.data["spec"],
        json!({"size": 2, "colour": "blue", "tags": ["a", "b"]})
    );

    // Applying the same configuration again writes nothing.
    let again = within(
        "no-op apply",
        widgets.patch("w1", &pp, &Patch::Apply(widget(2, &["a", "b"]))),
    )
    .await
    .expect("no-op apply");
    assert_eq!(again.resource_version(), updated.resource_version());
    assert_eq!(again.metadata.generation, Some(2));

    let listed = within("list widgets", widgets.list(&Default::default()))
        .await
        .expect("list");
    assert_eq!(
        listed
            .items
            .iter()
            .map(|w| w.name_any())
            .collect::<Vec<_>>(),
        ["w1"]
    );
}

fn expect_api_error<T: std::fmt::Debug>(
    r: Result<T, kube::Error>,
    what: &str,
) -> kube::core::Status {
    match r {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("{what}: expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn dry_run_apply_returns_the_merged_object_and_stores_nothing() {
    let ts = TestSandbox::start().await;
    let c = client(&ts).await;
    let api = deployments(&c).await;
    let dry = PatchParams::apply("tether-test").dry_run();

    // A dry-run create: the answer is the object as it would be stored.
    let preview = within(
        "dry-run apply (create)",
        api.patch(
            "dry",
            &dry,
            &Patch::Apply(deployment("dry", 2, "nginx:1.27")),
        ),
    )
    .await
    .expect("dry-run apply");
    assert_eq!(preview.name_any(), "dry");
    assert_eq!(preview.data["spec"]["replicas"], json!(2));
    assert_eq!(
        preview.data["spec"]["revisionHistoryLimit"],
        json!(10),
        "defaults applied"
    );
    assert_eq!(managers(&preview), ["tether-test/Apply"]);
    let status = expect_api_error(
        within("get after dry run", api.get("dry")).await,
        "GET after dry run",
    );
    assert_eq!(status.code, 404, "dry run stored the object: {status:?}");
    assert_eq!(status.reason, "NotFound");

    // A dry-run update: the answer is merged with what is stored, and nothing changes.
    let real = within(
        "apply",
        api.patch(
            "dry",
            &PatchParams::apply("tether-test"),
            &Patch::Apply(deployment("dry", 1, "nginx:1.27")),
        ),
    )
    .await
    .expect("apply");
    let preview = within(
        "dry-run apply (update)",
        api.patch(
            "dry",
            &dry,
            &Patch::Apply(deployment("dry", 5, "nginx:1.27")),
        ),
    )
    .await
    .expect("dry-run apply of an update");
    assert_eq!(preview.data["spec"]["replicas"], json!(5));
    assert_eq!(preview.uid(), real.uid());
    let stored = within("get", api.get("dry")).await.expect("get");
    assert_eq!(
        stored.data["spec"]["replicas"],
        json!(1),
        "dry run changed the stored object"
    );
    // (Its resourceVersion may move: the simulated controller writes status.)
    assert_eq!(stored.metadata.generation, Some(1));
    let applied = |o: &DynamicObject| {
        o.managed_fields()
            .iter()
            .find(|m| m.manager.as_deref() == Some("tether-test"))
            .and_then(|m| m.fields_v1.clone())
    };
    assert!(applied(&real).is_some());
    assert_eq!(
        applied(&stored),
        applied(&real),
        "dry run changed managedFields"
    );
}

#[tokio::test]
async fn conflicting_managers_get_409_with_field_manager_conflict() {
    let ts = TestSandbox::start().await;
    let c = client(&ts).await;
    let api = deployments(&c).await;
    within(
        "apply as tether-a",
        api.patch(
            "shared",
            &PatchParams::apply("tether-a"),
            &Patch::Apply(deployment("shared", 2, "nginx:1.27")),
        ),
    )
    .await
    .expect("first manager applies");

    let result = within(
        "apply as tether-b",
        api.patch(
            "shared",
            &PatchParams::apply("tether-b"),
            &Patch::Apply(deployment("shared", 3, "nginx:1.27")),
        ),
    )
    .await;
    let status = expect_api_error(result, "conflicting apply");
    assert_eq!(status.code, 409, "{status:?}");
    assert_eq!(status.reason, "Conflict", "{status:?}");
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"tether-a\": .spec.replicas"
    );
    let causes = status.details.expect("details").causes;
    assert_eq!(causes.len(), 1, "{causes:?}");
    assert_eq!(causes[0].reason, "FieldManagerConflict");
    assert_eq!(causes[0].field, ".spec.replicas");
    assert_eq!(causes[0].message, "conflict with \"tether-a\"");

    // Nothing was written; forcing takes the field over.
    let stored = within("get", api.get("shared")).await.expect("get");
    assert_eq!(stored.data["spec"]["replicas"], json!(2));
    let forced = within(
        "forced apply",
        api.patch(
            "shared",
            &PatchParams::apply("tether-b").force(),
            &Patch::Apply(deployment("shared", 3, "nginx:1.27")),
        ),
    )
    .await
    .expect("forced apply succeeds");
    assert_eq!(forced.data["spec"]["replicas"], json!(3));
    assert_eq!(managers(&forced), ["tether-a/Apply", "tether-b/Apply"]);
}

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}}))
        .expect("configmap")
}

async fn namespace(c: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    within(
        "create namespace",
        Api::<Namespace>::all(c.clone()).create(&PostParams::default(), &ns),
    )
    .await
    .expect("namespace created");
}

/// A watcher event as a short string, for comparing sequences.
fn describe(e: &Result<watcher::Event<ConfigMap>, watcher::Error>) -> String {
    match e {
        Ok(watcher::Event::Init) => "Init".into(),
        Ok(watcher::Event::InitApply(o)) => format!("InitApply({})", o.name_any()),
        Ok(watcher::Event::InitDone) => "InitDone".into(),
        Ok(watcher::Event::Apply(o)) => format!("Apply({})", o.name_any()),
        Ok(watcher::Event::Delete(o)) => format!("Delete({})", o.name_any()),
        Err(watcher::Error::WatchError(status)) => format!("WatchError({})", status.code),
        Err(other) => format!("Err({other})"),
    }
}

async fn next<S>(stream: &mut S, what: &str) -> String
where
    S: Stream<Item = Result<watcher::Event<ConfigMap>, watcher::Error>> + Unpin,
{
    let e = within(what, stream.next())
        .await
        .unwrap_or_else(|| panic!("watcher stream ended while waiting for {what}"));
    describe(&e)
}

async fn next_n<S>(stream: &mut S, n: usize, what: &str) -> Vec<String>
where
    S: Stream<Item = Result<watcher::Event<ConfigMap>, watcher::Error>> + Unpin,
{
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(next(stream, what).await);
    }
    out
}

/// Watches leave out the `kube-root-ca.crt` ConfigMap every namespace holds.
const NOT_ROOT_CA: &str = "metadata.name!=kube-root-ca.crt";

async fn watcher_sees_init_create_and_delete(config: watcher::Config, ns: &str) {
    let config = config.fields(NOT_ROOT_CA);
    let ts = TestSandbox::start().await;
    let c = client(&ts).await;
    namespace(&c, ns).await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), ns);
    let pp = PostParams::default();
    within("create pre", api.create(&pp, &configmap("pre")))
        .await
        .expect("create pre");

    let mut stream = watcher(api.clone(), config).boxed();
    assert_eq!(
        next_n(&mut stream, 3, "initial events").await,
        ["Init", "InitApply(pre)", "InitDone"]
    );

    within("create live", api.create(&pp, &configmap("live")))
        .await
        .expect("create live");
    assert_eq!(next(&mut stream, "Apply(live)").await, "Apply(live)");

    within("delete live", api.delete("live", &DeleteParams::default()))
        .await
        .expect("delete live");
    assert_eq!(next(&mut stream, "Delete(live)").await, "Delete(live)");
}

#[tokio::test]
async fn watcher_with_list_then_watch() {
    watcher_sees_init_create_and_delete(watcher::Config::default(), "watch-list").await;
}

#[tokio::test]
async fn watcher_with_streaming_lists() {
    watcher_sees_init_create_and_delete(
        watcher::Config::default().streaming_lists(),
        "watch-stream",
    )
    .await;
}

#[tokio::test]
async fn reflector_store_holds_what_was_created() {
    let ts = TestSandbox::start().await;
    let c = client(&ts).await;
    namespace(&c, "refl").await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "refl");
    let pp = PostParams::default();
    within("create a", api.create(&pp, &configmap("a")))
        .await
        .expect("create a");

    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream = reflector(
        writer,
        watcher(api.clone(), watcher::Config::default().fields(NOT_ROOT_CA)),
    )
    .applied_objects()
    .boxed();
    let drain = tokio::spawn(async move {
        let mut stream = stream;
        while stream.next().await.is_some() {}
    });
    within("reflector ready", reader.wait_until_ready())
        .await
        .expect("store ready");

    for name in ["b", "c"] {
        within("create", api.create(&pp, &configmap(name)))
            .await
            .expect("create");
    }
    within("delete a", api.delete("a", &DeleteParams::default()))
        .await
        .expect("delete a");

    let names = ts
        .eventually("the store to hold b and c only", LIMIT, || {
            let mut names: Vec<String> = reader.state().iter().map(|o| o.name_any()).collect();
            names.sort();
            async move { (names == ["b", "c"]).then_some(names) }
        })
        .await;
    assert_eq!(names, ["b", "c"]);
    let b = reader
        .get(&reflector::ObjectRef::new("b").within("refl"))
        .expect("b in store");
    assert_eq!(
        b.data.as_ref().and_then(|d| d.get("k")).map(String::as_str),
        Some("v")
    );
    drain.abort();
}

/// The lines of a watch response body, parsed.
async fn watch_lines(ts: &TestSandbox, path: &str) -> Vec<Value> {
    let resp = within("raw watch", ts.http.get(ts.url(path)).timeout(LIMIT).send())
        .await
        .expect("watch request");
    assert_eq!(
        resp.status().as_u16(),
        200,
        "a watch that expired still answers 200"
    );
    let body = within("raw watch body", resp.text())
        .await
        .expect("watch body");
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad watch line {l:?}: {e}")))
        .collect()
}

fn tiny_window() -> tether_sandbox::Config {
    tether_sandbox::Config {
        watch_window: 5,
        rollout_delay: Duration::ZERO,
        ..Default::default()
    }
}

#[tokio::test]
async fn raw_watch_from_an_expired_resource_version_gets_410() {
    let ts = TestSandbox::with_config(tiny_window()).await;
    let c = client(&ts).await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let first = within(
        "create",
        api.create(&PostParams::default(), &configmap("cm-0")),
    )
    .await
    .expect("create");
    let old = first.resource_version().expect("rv");
    for i in 1..20 {
        within(
            "create",
            api.create(&PostParams::default(), &configmap(&format!("cm-{i}"))),
        )
        .await
        .expect("create");
    }
    let lines = watch_lines(
        &ts,
        &format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={old}"),
    )
    .await;
    assert_eq!(
        lines.len(),
        1,
        "one ERROR event, then the stream ends: {lines:?}"
    );
    let e = &lines[0];
    assert_eq!(e["type"], "ERROR", "{e}");
    let status = &e["object"];
    assert_eq!(status["kind"], "Status", "{e}");
    assert_eq!(status["apiVersion"], "v1", "{e}");
    assert_eq!(status["status"], "Failure", "{e}");
    assert_eq!(status["code"], 410, "{e}");
    assert_eq!(status["reason"], "Expired", "{e}");
    let message = status["message"].as_str().unwrap_or("");
    assert!(
        message.starts_with(&format!("too old resource version: {old} (")),
        "{message}"
    );

    // A resourceVersion still inside the window resumes normally.
    let recent = within("list", api.list(&Default::default()))
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("list rv");
    within(
        "create",
        api.create(&PostParams::default(), &configmap("after")),
    )
    .await
    .expect("create");
    let lines = watch_lines(
        &ts,
        &format!(
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={recent}&timeoutSeconds=1"
        ),
    )
    .await;
    let kinds: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["type"].as_str().unwrap_or(""),
                l["object"]["metadata"]["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(kinds, [("ADDED", "after")]);
}

#[tokio::test]
async fn watcher_recovers_from_410_by_relisting() {
    let ts = TestSandbox::with_config(tiny_window()).await;
    let c = client(&ts).await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let elsewhere: Api<ConfigMap> = Api::namespaced(c.clone(), "kube-public");
    let pp = PostParams::default();

    let mut stream = watcher(api.clone(), watcher::Config::default().fields(NOT_ROOT_CA)).boxed();
    assert_eq!(
        next_n(&mut stream, 2, "initial list").await,
        ["Init", "InitDone"]
    );
    within("create before", api.create(&pp, &configmap("before")))
        .await
        .expect("create");
    assert_eq!(next(&mut stream, "Apply(before)").await, "Apply(before)");

    // Writes the watcher does not see move the window past its resourceVersion...
    for i in 0..20 {
        within(
            "write elsewhere",
            elsewhere.create(&pp, &configmap(&format!("x-{i}"))),
        )
        .await
        .expect("create elsewhere");
    }
    // ...and dropping the watches makes it resume from there: 410, then a re-list.
    let dropped = within(
        "drop watches",
        ts.http.post(ts.url("/_sandbox/watches/drop")).send(),
    )
    .await
    .expect("drop watches");
    assert_eq!(dropped.status().as_u16(), 200);

    assert_eq!(
        next_n(&mut stream, 4, "410 and re-list").await,
        ["WatchError(410)", "Init", "InitApply(before)", "InitDone"]
    );
    within("create after", api.create(&pp, &configmap("after")))
        .await
        .expect("create after");
    assert_eq!(next(&mut stream, "Apply(after)").await, "Apply(after)");
    within(
        "delete before",
        api.delete("before", &DeleteParams::default()),
    )
    .await
    .expect("delete");
    assert_eq!(next(&mut stream, "Delete(before)").await, "Delete(before)");
}
