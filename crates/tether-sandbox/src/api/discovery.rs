//! Discovery documents: `/version`, `/api`, `/apis`, per-group and
//! per-group-version lists, in the legacy form and the aggregated
//! `apidiscovery.k8s.io/v2` form that kubectl and kube-rs ask for first.

use serde_json::{Value, json};

use crate::catalog::{Catalog, ResourceInfo};

pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "35",
        "emulationMajor": "1",
        "emulationMinor": "35",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "34",
        "gitVersion": format!("v1.35.0-tether.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `/api`: the legacy core group versions.
pub fn core_versions(server: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]})
}

fn gv(group: &str, version: &str) -> Value {
    json!({"groupVersion": format!("{group}/{version}"), "version": version})
}

fn group_doc(group: &str, versions: &[String]) -> Value {
    json!({
        "name": group,
        "versions": versions.iter().map(|v| gv(group, v)).collect::<Vec<_>>(),
        "preferredVersion": gv(group, &versions[0]),
    })
}

/// `/apis`: every named group.
pub fn groups(catalog: &Catalog) -> Value {
    let groups: Vec<Value> = catalog
        .groups()
        .into_iter()
        .filter(|(g, v)| !g.is_empty() && !v.is_empty())
        .map(|(g, v)| group_doc(&g, &v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(catalog: &Catalog, group: &str) -> Option<Value> {
    let (_, versions) = catalog
        .groups()
        .into_iter()
        .find(|(g, v)| g == group && !v.is_empty())?;
    let mut doc = group_doc(group, &versions);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// The subresources of a kind: (name, group, version, kind of the body, verbs).
fn subresources(
    r: &ResourceInfo,
) -> Vec<(&'static str, String, String, String, Vec<&'static str>)> {
    let mut out = Vec::new();
    if r.has_log() {
        out.push((
            "log",
            r.group.clone(),
            r.version.clone(),
            r.kind.clone(),
            vec!["get"],
        ));
    }
    if r.scale.is_some() {
        out.push((
            "scale",
            "autoscaling".to_string(),
            "v1".to_string(),
            "Scale".to_string(),
            vec!["get", "patch", "update"],
        ));
    }
    for part in r.part_subresources() {
        out.push((
            part.name,
            r.group.clone(),
            r.version.clone(),
            r.kind.clone(),
            part.verbs.to_vec(),
        ));
    }
    out
}

/// `/api/v1` or `/apis/{group}/{version}` in the legacy `APIResourceList` form.
pub fn resource_list(catalog: &Catalog, group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for r in catalog.resources(group, version) {
        let mut doc = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            doc["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            doc["categories"] = json!(r.categories);
        }
        doc["storageVersionHash"] = json!(storage_version_hash(&r));
        resources.push(doc);
        for (sub, g, v, k, verbs) in subresources(&r) {
            let mut s = json!({"name": format!("{}/{sub}", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": k, "verbs": verbs});
            if g != r.group || v != r.version {
                s["group"] = json!(g);
                s["version"] = json!(v);
            }
            resources.push(s);
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

/// A stable hash of the resource's identity, shaped like the real one.
fn storage_version_hash(r: &ResourceInfo) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in format!("{}/{}/{}", r.group, r.version, r.kind).bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    // 11 characters of 6 bits each, like the base64 of 8 bytes the real server shows.
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..11)
        .map(|i| T[((h >> (58 - 6 * i.min(9))) & 63) as usize] as char)
        .collect()
}

/// The aggregated discovery document: for `/api` (core only) or `/apis` (every named group).
pub fn aggregated(catalog: &Catalog, core: bool) -> Value {
    let items: Vec<Value> = catalog
        .groups()
        .into_iter()
        .filter(|(g, v)| g.is_empty() == core && !v.is_empty())
        .map(|(g, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = catalog
                        .resources(&g, v)
                        .iter()
                        .map(|r| {
                            let mut doc = json!({
                                "resource": r.plural,
                                "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                                "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                                "singularResource": r.singular,
                                "verbs": r.verbs,
                            });
                            if !r.short_names.is_empty() {
                                doc["shortNames"] = json!(r.short_names);
                            }
                            if !r.categories.is_empty() {
                                doc["categories"] = json!(r.categories);
                            }
                            let subs: Vec<Value> = subresources(r)
                                .into_iter()
                                .map(|(sub, sg, sv, sk, verbs)| {
                                    json!({"subresource": sub, "responseKind": {"group": sg, "version": sv, "kind": sk}, "verbs": verbs})
                                })
                                .collect();
                            if !subs.is_empty() {
                                doc["subresources"] = json!(subs);
                            }
                            doc
                        })
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}
