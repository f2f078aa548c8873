//! The compact inventory: every object an app manages, in as few bytes as
//! the Application status can afford.
//!
//! Pruning, the cascade delete and drift read it, so it must name every
//! object, whatever the app's size. A real cluster's etcd refuses objects over
//! 1.5 MiB, so one entry per object with its sync and health (what
//! `status.resources` used to be, about 280 bytes each) does not scale: 10,000
//! ConfigMaps took 2.8 MB. Flux keeps one string id per object
//! (`<ns>_<name>_<group>_<kind>` plus the version, about 45 bytes each);
//! tether groups objects by namespace, group, kind and version and lists only
//! the names under each group, so an object costs its name and three bytes
//! (`"…",`): 50,000 ConfigMaps named `cm-00001`… take 550 KB.
//!
//! Per-object detail (`status.resources`) is kept only for objects that are
//! not Synced and Healthy; the rest is in the audit log.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::object::ObjectRef;

/// Every object the app manages, grouped by namespace, group, kind and
/// version. Written before each sync applies anything (with the objects it is
/// about to create), so pruning always knows what tether created.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// How many objects the app manages.
    #[serde(default)]
    pub count: u64,
    /// Sorted by namespace, group, kind and version; names sorted within.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<InventoryEntry>,
}

/// The objects of one kind and version in one namespace (none for
/// cluster-scoped objects).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryEntry {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Empty for the core group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The version last applied, so the object can be read and deleted without
    /// the render that declared it.
    pub version: String,
    pub kind: String,
    pub names: Vec<String>,
}

/// Key of one group of objects: (namespace, group, kind, version).
type GroupKey = (String, String, String, String);

impl Inventory {
    /// Build from each object's identity and version. An object named twice
    /// keeps the last version given.
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = (&'a ObjectRef, &'a str)>) -> Self {
        let unique: BTreeMap<&ObjectRef, &str> = objects.into_iter().collect();
        let mut groups: BTreeMap<GroupKey, Vec<String>> = BTreeMap::new();
        for (r, version) in &unique {
            groups
                .entry((
                    r.namespace.clone(),
                    r.group.clone(),
                    r.kind.clone(),
                    version.to_string(),
                ))
                .or_default()
                .push(r.name.clone());
        }
        let entries = groups
            .into_iter()
            .map(|((namespace, group, kind, version), mut names)| {
                names.sort();
                InventoryEntry {
                    namespace,
                    group,
                    version,
                    kind,
                    names,
                }
            })
            .collect();
        Inventory {
            count: unique.len() as u64,
            entries,
        }
    }

    /// Every object with its version, in the inventory's order.
    pub fn objects(&self) -> Vec<(ObjectRef, String)> {
        self.entries
            .iter()
            .flat_map(|e| {
                e.names.iter().map(move |name| {
                    (
                        ObjectRef::new(&e.group, &e.kind, &e.namespace, name),
                        e.version.clone(),
                    )
                })
            })
            .collect()
    }

    /// Every object's identity.
    pub fn refs(&self) -> Vec<ObjectRef> {
        self.objects().into_iter().map(|(r, _)| r).collect()
    }

    /// Add objects (with their versions) not yet listed; an object already
    /// listed keeps its entry. Linear in the inventory's size.
    pub fn extend<'a>(&mut self, more: impl IntoIterator<Item = (&'a ObjectRef, &'a str)>) {
        let have = self.objects();
        let mut all: BTreeMap<ObjectRef, String> = have.into_iter().collect();
        for (r, v) in more {
            all.entry(r.clone()).or_insert_with(|| v.to_string());
        }
        *self = Inventory::from_objects(all.iter().map(|(r, v)| (r, v.as_str())));
    }

    /// Its size in the status, in bytes of JSON.
    pub fn encoded_len(&self) -> usize {
        serde_json::to_vec(self)
            .map(|v| v.len())
            .unwrap_or(usize::MAX)
    }
}

/// Counts over every object of the app; `status.resources` lists only those
/// that need attention (not Synced, or not Healthy), up to a limit.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceCounts {
    /// Objects the app manages.
    pub total: u64,
    /// Synced and Healthy, not listed in `status.resources`.
    pub fine: u64,
    #[serde(default)]
    pub out_of_sync: u64,
    /// Any health but Healthy (Progressing, Degraded, Missing, Suspended, Unknown).
    #[serde(default)]
    pub unhealthy: u64,
    /// Objects needing attention that `status.resources` leaves out to bound
    /// the status's size; the audit log and `tether app diff` have them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_listed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(group: &str, kind: &str, ns: &str, name: &str) -> ObjectRef {
        ObjectRef::new(group, kind, ns, name)
    }

    #[test]
    fn round_trips_every_kind_of_identity() {
        let objects = vec![
            // Core group, namespaced.
            (r("", "ConfigMap", "web", "settings"), "v1"),
            // Dots in names, a group with dots.
            (r("apps", "Deployment", "web", "web.v2.canary"), "v1"),
            (
                r(
                    "apiextensions.k8s.io",
                    "CustomResourceDefinition",
                    "",
                    "widgets.example.com",
                ),
                "v1",
            ),
            // Cluster-scoped, core group.
            (r("", "Namespace", "", "web"), "v1"),
            // Underscores are legal in some custom resources' names.
            (r("example.com", "Widget", "web_ns", "a_b__c_"), "v1beta1"),
            (
                r("rbac.authorization.k8s.io", "ClusterRole", "", "system:web"),
                "v1",
            ),
        ];
        let inv = Inventory::from_objects(objects.iter().map(|(r, v)| (r, *v)));
        assert_eq!(inv.count, 6);
        let json = serde_json::to_string(&inv).unwrap();
        let back: Inventory = serde_json::from_str(&json).unwrap();
        assert_eq!(back, inv);
        let mut got = back.objects();
        got.sort();
        let mut want: Vec<(ObjectRef, String)> = objects
            .into_iter()
            .map(|(r, v)| (r, v.to_string()))
            .collect();
        want.sort();
        assert_eq!(got, want);
        // Cluster-scoped and core-group entries carry no empty fields.
        assert!(
            json.contains(r#"{"version":"v1","kind":"Namespace","names":["web"]}"#),
            "{json}"
        );
    }

    #[test]
    fn groups_by_kind_and_version_and_sorts() {
        let objects = [
            (r("", "ConfigMap", "a", "z"), "v1"),
            (r("", "ConfigMap", "a", "b"), "v1"),
            (r("apps", "Deployment", "a", "web"), "v1"),
            // The same object twice: one entry, the last version.
            (r("apps", "Deployment", "a", "web"), "v2"),
        ];
        let inv = Inventory::from_objects(objects.iter().map(|(r, v)| (r, *v)));
        assert_eq!(inv.count, 3);
        assert_eq!(inv.entries.len(), 2);
        assert_eq!(inv.entries[0].names, vec!["b", "z"]);
        assert_eq!(inv.entries[1].version, "v2");
    }

    #[test]
    fn extend_keeps_listed_objects_and_adds_new_ones() {
        let a = r("", "ConfigMap", "a", "one");
        let b = r("", "ConfigMap", "a", "two");
        let mut inv = Inventory::from_objects([(&a, "v1")]);
        inv.extend([(&a, "v2"), (&b, "v1")]);
        assert_eq!(inv.count, 2);
        assert_eq!(
            inv.objects(),
            vec![(a, "v1".to_string()), (b, "v1".to_string())]
        );
    }

    #[test]
    fn fifty_thousand_objects_fit_well_under_a_mebibyte() {
        let refs: Vec<ObjectRef> = (0..50_000)
            .map(|i| r("", "ConfigMap", "bench", &format!("cm-{i:05}")))
            .collect();
        let inv = Inventory::from_objects(refs.iter().map(|r| (r, "v1")));
        let len = inv.encoded_len();
        assert!(len < 600 * 1024, "{len} bytes");
        assert_eq!(inv.refs().len(), 50_000);
    }
}
