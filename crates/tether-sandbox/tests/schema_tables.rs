//! The sandbox's table of built-in kinds (`tether_sandbox::catalog::builtin_resources()`)
//! and the discovery documents it serves agree with a real server's discovery
//! documents, read at test time from `../shared/k8s-api/discovery`:
//! `aggregated_v2.json` (`/apis`, aggregated form; no core group) and
//! `api__v1.json` (`/api/v1`, legacy form).
//!
//! Those documents were generated with every alpha and beta API switched on; a
//! default 1.35 cluster serves only the stable versions (`v1`, `v2`, ...), so the
//! others are filtered out before comparing.
//!
//! Compared for every kind: kind, plural, singular, scope, verbs, shortNames,
//! categories, and subresources (names, response kinds, verbs) — in the table
//! itself (where it says which kinds have status and scale), in the served
//! aggregated discovery (`/apis` and `/api` with the aggregated Accept header)
//! and in the served legacy discovery (`/api/v1`, `/apis/{group}/{version}`).
//! Every stable group/version/resource a default cluster serves must be served,
//! except the non-CRUD kinds listed in [`NOT_CRUD`].

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::TestSandbox;
use serde_json::Value;
use tether_sandbox::catalog::{ResourceInfo, builtin_resources};

/// Kinds a default cluster serves that are not CRUD-able, so the sandbox (a store
/// of objects) does not serve them. Resources and subresources whose response
/// kind is one of these are left out of every comparison.
const NOT_CRUD: &[(&str, &str)] = &[
    (
        "Binding",
        "create-only: binds a pod to a node (bindings, pods/binding)",
    ),
    (
        "ComponentStatus",
        "read-only health of control-plane components, deprecated",
    ),
    ("Eviction", "create-only: the pods/eviction subresource"),
    (
        "TokenRequest",
        "create-only: the serviceaccounts/token subresource",
    ),
    ("TokenReview", "create-only review, nothing is stored"),
    ("SelfSubjectReview", "create-only review, nothing is stored"),
    (
        "SubjectAccessReview",
        "create-only review, nothing is stored",
    ),
    (
        "LocalSubjectAccessReview",
        "create-only review, nothing is stored",
    ),
    (
        "SelfSubjectAccessReview",
        "create-only review, nothing is stored",
    ),
    (
        "SelfSubjectRulesReview",
        "create-only review, nothing is stored",
    ),
    (
        "PodAttachOptions",
        "connect stream (pods/attach), not an object",
    ),
    (
        "PodExecOptions",
        "connect stream (pods/exec), not an object",
    ),
    (
        "PodPortForwardOptions",
        "connect stream (pods/portforward), not an object",
    ),
    (
        "PodProxyOptions",
        "connect proxy (pods/proxy), not an object",
    ),
    (
        "NodeProxyOptions",
        "connect proxy (nodes/proxy), not an object",
    ),
    (
        "ServiceProxyOptions",
        "connect proxy (services/proxy), not an object",
    ),
];

fn not_crud(kind: &str) -> bool {
    NOT_CRUD.iter().any(|(k, _)| *k == kind)
}

/// `v1`, `v2`: a stable version, served by default. `v1beta1`, `v1alpha3` are not.
fn stable(version: &str) -> bool {
    version
        .strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// One resource as discovery describes it, reduced to what is compared.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Res {
    kind: String,
    /// singularResource (aggregated) or singularName (legacy)
    singular: String,
    namespaced: bool,
    verbs: BTreeSet<String>,
    short_names: Vec<String>,
    categories: Vec<String>,
    /// subresource name -> (response kind as group/version/kind, verbs)
    subresources: BTreeMap<String, (String, BTreeSet<String>)>,
}

/// (group, version, plural)
type Key = (String, String, String);

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn set(v: &Value) -> BTreeSet<String> {
    strings(v).into_iter().collect()
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

/// `group/version/Kind`, with an empty responseKind group/version meaning the parent's.
fn gvk(rk: &Value, group: &str, version: &str) -> String {
    let g = rk["group"].as_str().filter(|s| !s.is_empty());
    let v = rk["version"].as_str().filter(|s| !s.is_empty());
    // A response kind that names only a version (never seen) would keep the parent group.
    let (g, v) = match (g, v) {
        (None, None) => (group, version),
        (g, v) => (g.unwrap_or(group), v.unwrap_or(version)),
    };
    format!("{g}/{v}/{}", rk["kind"].as_str().unwrap_or(""))
}

/// Resources from an aggregated `APIGroupDiscoveryList`, stable versions only,
/// with non-CRUD kinds (and subresources) left out.
fn from_aggregated(doc: &Value) -> BTreeMap<Key, Res> {
    let mut out = BTreeMap::new();
    for g in doc["items"].as_array().into_iter().flatten() {
        let group = g["metadata"]["name"].as_str().unwrap_or("");
        for v in g["versions"].as_array().into_iter().flatten() {
            let version = v["version"].as_str().unwrap_or("");
            if !stable(version) {
                continue;
            }
            for r in v["resources"].as_array().into_iter().flatten() {
                let kind = r["responseKind"]["kind"].as_str().unwrap_or("").to_string();
                if not_crud(&kind) {
                    continue;
                }
                let subresources = r["subresources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| !not_crud(s["responseKind"]["kind"].as_str().unwrap_or("")))
                    .map(|s| {
                        (
                            s["subresource"].as_str().unwrap_or("").to_string(),
                            (gvk(&s["responseKind"], group, version), set(&s["verbs"])),
                        )
                    })
                    .collect();
                let res = Res {
                    kind,
                    singular: r["singularResource"].as_str().unwrap_or("").to_string(),
                    namespaced: r["scope"] == "Namespaced",
                    verbs: set(&r["verbs"]),
                    short_names: strings(&r["shortNames"]),
                    categories: strings(&r["categories"]),
                    subresources,
                };
                let plural = r["resource"].as_str().unwrap_or("").to_string();
                out.insert((group.to_string(), version.to_string(), plural), res);
            }
        }
    }
    out
}

/// Resources from a legacy `APIResourceList`, with non-CRUD kinds left out.
fn from_legacy(doc: &Value, group: &str, version: &str) -> BTreeMap<Key, Res> {
    let all: Vec<&Value> = doc["resources"].as_array().into_iter().flatten().collect();
    let mut out = BTreeMap::new();
    for r in all
        .iter()
        .filter(|r| !r["name"].as_str().unwrap_or("").contains('/'))
    {
        let name = r["name"].as_str().unwrap_or("");
        let kind = r["kind"].as_str().unwrap_or("").to_string();
        if not_crud(&kind) {
            continue;
        }
        let prefix = format!("{name}/");
        let subresources = all
            .iter()
            .filter_map(|s| {
                let sub = s["name"].as_str()?.strip_prefix(&prefix)?;
                let sub_kind = s["kind"].as_str().unwrap_or("");
                if not_crud(sub_kind) {
                    return None;
                }
                let g = s["group"].as_str().unwrap_or(group);
                let v = s["version"].as_str().unwrap_or(version);
                Some((
                    sub.to_string(),
                    (format!("{g}/{v}/{sub_kind}"), set(&s["verbs"])),
                ))
            })
            .collect();
        let res = Res {
            kind,
            singular: r["singularName"].as_str().unwrap_or("").to_string(),
            namespaced: r["namespaced"].as_bool().unwrap_or(false),
            verbs: set(&r["verbs"]),
            short_names: strings(&r["shortNames"]),
            categories: strings(&r["categories"]),
            subresources,
        };
        out.insert(
            (group.to_string(), version.to_string(), name.to_string()),
            res,
        );
    }
    out
}

/// The real server's stable resources: core from `api__v1.json`, groups from `aggregated_v2.json`.
fn real() -> Option<BTreeMap<Key, Res>> {
    let docs = real_docs()?;
    let mut all = docs.groups;
    all.extend(docs.core);
    Some(all)
}

fn builtin_table() -> BTreeMap<Key, ResourceInfo> {
    let mut out = BTreeMap::new();
    for r in builtin_resources() {
        let key = (r.group.clone(), r.version.clone(), r.plural.clone());
        assert!(
            out.insert(key.clone(), r).is_none(),
            "{key:?} is in the table twice"
        );
    }
    out
}

fn show(k: &Key) -> String {
    let (g, v, p) = k;
    if g.is_empty() {
        format!("{v}/{p}")
    } else {
        format!("{g}/{v}/{p}")
    }
}

fn report(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn builtin_table_matches_real_discovery() {
    let Some(real) = real() else { return };
    let table = builtin_table();
    assert!(table.len() > 40, "the table is suspiciously small");
    let mut problems = Vec::new();
    for (key, r) in &table {
        let at = show(key);
        let Some(want) = real.get(key) else {
            problems.push(format!(
                "{at}: served by the sandbox, not by a default 1.35 cluster"
            ));
            continue;
        };
        let mut same = |what: &str, want: String, got: String| {
            if want != got {
                problems.push(format!("{at}: {what}: real {want}, table {got}"));
            }
        };
        same("kind", want.kind.clone(), r.kind.clone());
        same(
            "namespaced",
            want.namespaced.to_string(),
            r.namespaced.to_string(),
        );
        let verbs: BTreeSet<String> = r.verbs.iter().map(|v| v.to_string()).collect();
        same("verbs", format!("{:?}", want.verbs), format!("{verbs:?}"));
        same(
            "shortNames",
            format!("{:?}", want.short_names),
            format!("{:?}", r.short_names),
        );
        same(
            "categories",
            format!("{:?}", want.categories),
            format!("{:?}", r.categories),
        );
        // The table says which kinds have the status and scale subresources (the
        // others are served by kind-specific code and checked in the served
        // discovery below).
        for (sub, has) in [("status", r.has_status), ("scale", r.scale.is_some())] {
            same(
                &format!("{sub} subresource"),
                want.subresources.contains_key(sub).to_string(),
                has.to_string(),
            );
        }
    }
    report("built-in table vs real discovery", &problems);
}

#[test]
fn every_stable_kind_of_a_default_cluster_is_served() {
    let Some(real) = real() else { return };
    let table = builtin_table();
    let missing: Vec<String> = real
        .iter()
        .filter(|(k, _)| !table.contains_key(*k))
        .map(|(k, r)| format!("{} ({})", show(k), r.kind))
        .collect();
    report(
        "kinds a default 1.35 cluster serves that the sandbox does not",
        &missing,
    );
    // The same at the level of group/versions.
    let gvs = |keys: Vec<&Key>| -> BTreeSet<(String, String)> {
        keys.into_iter()
            .map(|(g, v, _)| (g.clone(), v.clone()))
            .collect()
    };
    let want = gvs(real.keys().collect());
    let got = gvs(table.keys().collect());
    let missing: Vec<String> = want
        .difference(&got)
        .map(|(g, v)| format!("{g}/{v}"))
        .collect();
    report("group/versions not served", &missing);
}

#[test]
fn not_crud_exclusions_are_real() {
    // Every exclusion names a kind that the real documents have, so the list
    // cannot silently hide a typo.
    let Some(dir) = common::shared_k8s_api().map(|d| d.join("discovery")) else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("aggregated_v2.json")).expect("aggregated")
        + &std::fs::read_to_string(dir.join("api__v1.json")).expect("core");
    for (kind, _) in NOT_CRUD {
        assert!(
            text.contains(&format!("\"{kind}\"")),
            "{kind} is in no real discovery document"
        );
    }
    assert!(stable("v1") && stable("v2") && !stable("v1beta1") && !stable("v2alpha1"));
}

/// Every difference between the served resources and the real ones, each line
/// prefixed with `what`.
fn compare_served(
    real: &BTreeMap<Key, Res>,
    served: &BTreeMap<Key, Res>,
    what: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, got) in served {
        let at = show(key);
        let Some(want) = real.get(key) else {
            problems.push(format!("{at}: served, but a default 1.35 cluster does not"));
            continue;
        };
        if want.kind != got.kind {
            problems.push(format!(
                "{at}: kind: real {}, served {}",
                want.kind, got.kind
            ));
        }
        if want.singular != got.singular {
            problems.push(format!(
                "{at}: singular: real {:?}, served {:?}",
                want.singular, got.singular
            ));
        }
        if want.namespaced != got.namespaced {
            problems.push(format!(
                "{at}: namespaced: real {}, served {}",
                want.namespaced, got.namespaced
            ));
        }
        if want.verbs != got.verbs {
            problems.push(format!(
                "{at}: verbs: real {:?}, served {:?}",
                want.verbs, got.verbs
            ));
        }
        if want.short_names != got.short_names {
            problems.push(format!(
                "{at}: shortNames: real {:?}, served {:?}",
                want.short_names, got.short_names
            ));
        }
        if want.categories != got.categories {
            problems.push(format!(
                "{at}: categories: real {:?}, served {:?}",
                want.categories, got.categories
            ));
        }
        // Which subresources there are is compared in served_subresources_match_real.
        for (sub, (want_kind, want_verbs)) in &want.subresources {
            if let Some((got_kind, got_verbs)) = got.subresources.get(sub) {
                if want_kind != got_kind {
                    problems.push(format!(
                        "{at}/{sub}: responseKind: real {want_kind}, served {got_kind}"
                    ));
                }
                if want_verbs != got_verbs {
                    problems.push(format!(
                        "{at}/{sub}: verbs: real {want_verbs:?}, served {got_verbs:?}"
                    ));
                }
            }
        }
    }
    for key in real.keys().filter(|k| !served.contains_key(*k)) {
        problems.push(format!(
            "{}: a default 1.35 cluster serves it, the sandbox does not",
            show(key)
        ));
    }
    problems.iter().map(|p| format!("{what}: {p}")).collect()
}

/// Every resource whose set of subresource names differs.
fn compare_subresource_names(
    real: &BTreeMap<Key, Res>,
    served: &BTreeMap<Key, Res>,
    what: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, got) in served {
        let Some(want) = real.get(key) else { continue };
        let want_subs: BTreeSet<&String> = want.subresources.keys().collect();
        let got_subs: BTreeSet<&String> = got.subresources.keys().collect();
        if want_subs != got_subs {
            problems.push(format!(
                "{what}: {}: subresources: real {want_subs:?}, served {got_subs:?}",
                show(key)
            ));
        }
    }
    problems
}

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

async fn get(ts: &TestSandbox, path: &str, accept: &str) -> (String, Value) {
    let resp = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        ts.http.get(ts.url(path)).header("accept", accept).send(),
    )
    .await
    .unwrap_or_else(|_| panic!("GET {path} timed out"))
    .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(resp.status().as_u16(), 200, "GET {path}");
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (ct, resp.json().await.expect("JSON body"))
}

/// What the sandbox serves in aggregated form: the raw `/apis` document, its
/// resources, and the core group's resources from `/api`.
async fn served_aggregated(ts: &TestSandbox) -> (Value, BTreeMap<Key, Res>, BTreeMap<Key, Res>) {
    let (ct, apis) = get(ts, "/apis", AGGREGATED).await;
    assert_eq!(ct, AGGREGATED, "content type of aggregated /apis");
    assert_eq!(apis["kind"], "APIGroupDiscoveryList");
    assert_eq!(apis["apiVersion"], "apidiscovery.k8s.io/v2");
    let groups = from_aggregated(&apis);
    assert!(!groups.is_empty());
    let (ct, api) = get(ts, "/api", AGGREGATED).await;
    assert_eq!(ct, AGGREGATED, "content type of aggregated /api");
    assert_eq!(api["kind"], "APIGroupDiscoveryList");
    let core = from_aggregated(&api);
    assert!(!core.is_empty());
    assert!(core.keys().all(|(g, v, _)| g.is_empty() && v == "v1"));
    (apis, groups, core)
}

/// What the sandbox serves in legacy form: `/api/v1`, and every `/apis/{group}/{version}`
/// that `/apis` lists.
async fn served_legacy(ts: &TestSandbox) -> (BTreeMap<Key, Res>, BTreeMap<Key, Res>) {
    let (_, core) = get(ts, "/api/v1", "application/json").await;
    assert_eq!(core["kind"], "APIResourceList");
    assert_eq!(core["groupVersion"], "v1");
    let (_, groups) = get(ts, "/apis", "application/json").await;
    assert_eq!(groups["kind"], "APIGroupList");
    let mut served = BTreeMap::new();
    for g in groups["groups"].as_array().into_iter().flatten() {
        let name = g["name"].as_str().unwrap_or("");
        for v in g["versions"].as_array().into_iter().flatten() {
            let version = v["version"].as_str().unwrap_or("");
            let (_, list) = get(ts, &format!("/apis/{name}/{version}"), "application/json").await;
            assert_eq!(list["groupVersion"], format!("{name}/{version}"));
            served.extend(from_legacy(&list, name, version));
        }
    }
    (from_legacy(&core, "", "v1"), served)
}

struct RealDocs {
    aggregated: Value,
    groups: BTreeMap<Key, Res>,
    core: BTreeMap<Key, Res>,
}

fn real_docs() -> Option<RealDocs> {
    let dir = common::shared_k8s_api()?.join("discovery");
    let aggregated = read(&dir.join("aggregated_v2.json"));
    Some(RealDocs {
        groups: from_aggregated(&aggregated),
        core: from_legacy(&read(&dir.join("api__v1.json")), "", "v1"),
        aggregated,
    })
}

/// Aggregated discovery (what kubectl and kube-rs ask for first): every served
/// resource's kind, singular, scope, verbs, shortNames, categories, and each
/// subresource's responseKind and verbs; and each group's stable versions in order.
#[tokio::test]
async fn served_aggregated_discovery_matches_real() {
    let Some(real) = real_docs() else { return };
    let ts = TestSandbox::start().await;
    let (apis, groups, core) = served_aggregated(&ts).await;
    let mut problems = compare_served(&real.groups, &groups, "aggregated /apis");
    problems.extend(compare_served(&real.core, &core, "aggregated /api"));

    // Each group lists its versions in the same order (preferred first), after
    // leaving out the versions a default cluster does not serve.
    let versions = |doc: &Value| -> BTreeMap<String, Vec<String>> {
        doc["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                let vs = g["versions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v["version"].as_str())
                    .filter(|v| stable(v))
                    .map(str::to_string)
                    .collect();
                (g["metadata"]["name"].as_str().unwrap_or("").to_string(), vs)
            })
            .collect()
    };
    let (want, got) = (versions(&real.aggregated), versions(&apis));
    for (g, vs) in &got {
        match want.get(g) {
            Some(w) if w != vs => {
                problems.push(format!("versions of group {g}: real {w:?}, served {vs:?}"))
            }
            Some(_) => {}
            None => problems.push(format!("group {g}: served, not in a real cluster")),
        }
    }
    report("served aggregated discovery", &problems);
}

/// Legacy discovery (`/api/v1`, `/apis/{group}/{version}`), the same fields.
#[tokio::test]
async fn served_legacy_discovery_matches_real() {
    let Some(real) = real_docs() else { return };
    let ts = TestSandbox::start().await;
    let (core, groups) = served_legacy(&ts).await;
    let mut problems = compare_served(&real.core, &core, "/api/v1");
    problems.extend(compare_served(
        &real.groups,
        &groups,
        "/apis/{group}/{version}",
    ));
    report("served legacy discovery", &problems);
}

/// Every served resource has exactly the subresources a real server lists, in both
/// forms of discovery (leaving out the non-CRUD ones in NOT_CRUD).
#[tokio::test]
async fn served_subresources_match_real() {
    let Some(real) = real_docs() else { return };
    let ts = TestSandbox::start().await;
    let (_, groups, core) = served_aggregated(&ts).await;
    let mut problems = compare_subresource_names(&real.groups, &groups, "aggregated /apis");
    problems.extend(compare_subresource_names(
        &real.core,
        &core,
        "aggregated /api",
    ));
    let (core, groups) = served_legacy(&ts).await;
    problems.extend(compare_subresource_names(&real.core, &core, "/api/v1"));
    problems.extend(compare_subresource_names(
        &real.groups,
        &groups,
        "/apis/{group}/{version}",
    ));
    report("subresources", &problems);
}
