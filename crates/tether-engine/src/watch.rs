//! Watch: the live cache. One watch per managed kind on the cluster, shared by
//! every app, keeps a stripped copy of every object that carries tether's
//! tracking label. Reconciles read live state from here instead of the API
//! server, and an event on an object wakes the app that owns it (the label's
//! value is `<app-namespace>.<app-name>`), so drift is planned within moments
//! instead of at the next poll.
//!
//! - Kinds are added when an app first manages one and dropped when no app
//!   manages it any more ([`LiveCache::use_kinds`]).
//! - Only labelled objects are watched: an object tether has not applied yet
//!   (or one without the label) is read from the API server by the caller.
//! - The copies are stripped of what diffing, health and forensics never read
//!   (tether's own managedFields tree, kubectl's last-applied annotation), to
//!   keep the agent small with many objects.
//! - Watch errors, 410 Gone and API-server restarts re-list with backoff
//!   (kube-runtime's watcher). A re-list swaps the whole kind at once and wakes
//!   the owners of whatever changed while the watch was down.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures_util::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use tether_model::{FIELD_MANAGER, ObjectRef};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// What a watch reports: the app to re-plan (`namespace/name`) and the object
/// that changed, for the log.
#[derive(Debug, Clone)]
pub struct Touched {
    pub app: String,
    pub object: String,
}

/// What the cache knows of one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The stripped live object.
    Hit(Value),
    /// The kind is watched and synced, and no labelled object has this name.
    Absent,
    /// The kind is not watched yet, or its first list has not finished: ask
    /// the API server.
    Unknown,
}

/// `(namespace, name)`; the namespace is empty for cluster-scoped kinds.
type Key = (String, String);

#[derive(Default)]
struct Store {
    objects: RwLock<HashMap<Key, Arc<Value>>>,
    /// The first list finished: an absent key means no such labelled object.
    ready: AtomicBool,
}

struct Kind {
    store: Arc<Store>,
    task: AbortHandle,
}

#[derive(Default)]
struct Kinds {
    /// By `group/kind` (the group is empty for core kinds).
    by_kind: HashMap<String, Kind>,
    /// Which kinds each app (`namespace/name`) manages.
    by_app: HashMap<String, HashSet<String>>,
}

pub struct LiveCache {
    client: kube::Client,
    tx: mpsc::UnboundedSender<Touched>,
    kinds: Mutex<Kinds>,
}

impl LiveCache {
    pub fn new(client: kube::Client) -> (LiveCache, mpsc::UnboundedReceiver<Touched>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            LiveCache {
                client,
                tx,
                kinds: Mutex::new(Kinds::default()),
            },
            rx,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kinds> {
        self.kinds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Set the kinds `app` manages now: new ones are watched, and a kind that
    /// no app manages any more is unwatched and its objects dropped.
    pub fn use_kinds(&self, app: &str, kinds: &[ApiResource]) {
        let mut k = self.lock();
        let now: HashSet<String> = kinds.iter().map(kind_key).collect();
        for resource in kinds {
            if let std::collections::hash_map::Entry::Vacant(slot) =
                k.by_kind.entry(kind_key(resource))
            {
                tracing::debug!(kind = %slot.key(), "watching");
                slot.insert(self.watch(resource));
            }
        }
        let before = if now.is_empty() {
            k.by_app.remove(app).unwrap_or_default()
        } else {
            k.by_app.insert(app.to_string(), now).unwrap_or_default()
        };
        for gone in before {
            if !k.by_app.values().any(|s| s.contains(&gone))
                && let Some(kind) = k.by_kind.remove(&gone)
            {
                tracing::debug!(kind = %gone, "no app manages it any more; unwatched");
                kind.task.abort();
            }
        }
    }

    /// How many live objects the cache holds, over every watched kind (for metrics).
    pub fn object_count(&self) -> usize {
        let stores: Vec<Arc<Store>> = self
            .lock()
            .by_kind
            .values()
            .map(|k| k.store.clone())
            .collect();
        stores
            .iter()
            .map(|s| s.objects.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// How many kinds are watched (for metrics).
    pub fn kind_count(&self) -> usize {
        self.lock().by_kind.len()
    }

    /// The app is gone: release its kinds.
    pub fn forget(&self, app: &str) {
        self.use_kinds(app, &[]);
    }

    pub fn lookup(&self, r: &ObjectRef) -> Lookup {
        let store = match self.lock().by_kind.get(&ref_kind_key(r)) {
            Some(kind) => kind.store.clone(),
            None => return Lookup::Unknown,
        };
        if !store.ready.load(Ordering::Acquire) {
            return Lookup::Unknown;
        }
        let objects = store.objects.read().unwrap_or_else(|e| e.into_inner());
        match objects.get(&(r.namespace.clone(), r.name.clone())) {
            Some(obj) => Lookup::Hit(obj.as_ref().clone()),
            None => Lookup::Absent,
        }
    }

    /// Write-through after an apply: the server's copy is news before the
    /// watch delivers it, so the next plan does not see the old object.
    pub fn applied(&self, r: &ObjectRef, obj: &Value) {
        if label_owner(obj).is_none() {
            return;
        }
        if let Some(store) = self.store(r) {
            let mut objects = store.objects.write().unwrap_or_else(|e| e.into_inner());
            let key = (r.namespace.clone(), r.name.clone());
            if objects.get(&key).is_none_or(|old| newer(obj, old)) {
                objects.insert(key, Arc::new(strip(obj.clone())));
            }
        }
    }

    /// Write-through after a prune.
    pub fn deleted(&self, r: &ObjectRef) {
        if let Some(store) = self.store(r) {
            let mut objects = store.objects.write().unwrap_or_else(|e| e.into_inner());
            objects.remove(&(r.namespace.clone(), r.name.clone()));
        }
    }

    fn store(&self, r: &ObjectRef) -> Option<Arc<Store>> {
        self.lock()
            .by_kind
            .get(&ref_kind_key(r))
            .map(|k| k.store.clone())
    }

    fn watch(&self, resource: &ApiResource) -> Kind {
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), resource);
        let store = Arc::new(Store::default());
        let tx = self.tx.clone();
        let kind = resource.kind.clone();
        let resource = resource.clone();
        let config = watcher::Config::default().labels(tether_model::TRACKING_LABEL);
        let task = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut events = watcher::watcher(api, config).default_backoff().boxed();
                let mut relist: Option<HashMap<Key, Arc<Value>>> = None;
                while let Some(ev) = events.next().await {
                    let ev = match ev {
                        Ok(ev) => ev,
                        Err(e) => {
                            tracing::debug!(kind = %kind, "watch: {e}; re-listing with backoff");
                            continue;
                        }
                    };
                    let woken = match ev {
                        Event::Init => {
                            relist = Some(HashMap::new());
                            Vec::new()
                        }
                        Event::InitApply(obj) => {
                            if let (Some(fresh), Some((key, v))) =
                                (relist.as_mut(), entry(obj, &resource))
                            {
                                fresh.insert(key, Arc::new(v));
                            }
                            Vec::new()
                        }
                        Event::InitDone => {
                            let fresh = relist.take().unwrap_or_default();
                            let was_ready = store.ready.swap(true, Ordering::AcqRel);
                            let mut objects =
                                store.objects.write().unwrap_or_else(|e| e.into_inner());
                            let old = std::mem::replace(&mut *objects, fresh);
                            // The first list is what the apps' first reconciles read;
                            // a later one covers a gap in the watch: wake whoever
                            // owns an object that changed in it.
                            if was_ready {
                                changed_between(&old, &objects)
                            } else {
                                Vec::new()
                            }
                        }
                        Event::Apply(obj) => match entry(obj, &resource) {
                            Some((key, v)) => {
                                let mut objects =
                                    store.objects.write().unwrap_or_else(|e| e.into_inner());
                                match objects.get(&key) {
                                    // Already known: tether's own write, written through.
                                    Some(old) if !newer(&v, old) => Vec::new(),
                                    _ => {
                                        let woken = vec![(key.clone(), v.clone())];
                                        objects.insert(key, Arc::new(v));
                                        woken
                                    }
                                }
                            }
                            None => Vec::new(),
                        },
                        Event::Delete(obj) => match entry(obj, &resource) {
                            Some((key, v)) => {
                                let mut objects =
                                    store.objects.write().unwrap_or_else(|e| e.into_inner());
                                // A copy written through after a re-create is newer
                                // than the deletion: keep it.
                                if objects.get(&key).is_some_and(|old| !newer(old, &v)) {
                                    objects.remove(&key);
                                }
                                vec![(key, v)]
                            }
                            None => Vec::new(),
                        },
                    };
                    for ((ns, name), obj) in woken {
                        let Some(app) = label_owner(&obj) else {
                            continue;
                        };
                        let object = if ns.is_empty() {
                            format!("{kind} {name}")
                        } else {
                            format!("{kind} {ns}/{name}")
                        };
                        if tx.send(Touched { app, object }).is_err() {
                            return;
                        }
                    }
                }
            })
        };
        Kind {
            store,
            task: task.abort_handle(),
        }
    }
}

impl Drop for LiveCache {
    fn drop(&mut self) {
        for kind in self.lock().by_kind.values() {
            kind.task.abort();
        }
    }
}

fn kind_key(resource: &ApiResource) -> String {
    format!("{}/{}", resource.group, resource.kind)
}

fn ref_kind_key(r: &ObjectRef) -> String {
    format!("{}/{}", r.group, r.kind)
}

/// The cache key and stripped JSON of a watched object. Items of a list come
/// without `apiVersion` and `kind` for built-in kinds (and kube does not fill
/// them in), but health rules and diffs go by them: take them from the watch.
fn entry(mut obj: DynamicObject, resource: &ApiResource) -> Option<(Key, Value)> {
    if obj.types.is_none() {
        obj.types = Some(kube::core::TypeMeta {
            api_version: resource.api_version.clone(),
            kind: resource.kind.clone(),
        });
    }
    let key = (
        obj.metadata.namespace.clone().unwrap_or_default(),
        obj.metadata.name.clone()?,
    );
    let v = serde_json::to_value(obj).ok()?;
    Some((key, strip(v)))
}

/// Objects added, removed or changed (by resourceVersion) between two lists.
fn changed_between(
    old: &HashMap<Key, Arc<Value>>,
    new: &HashMap<Key, Arc<Value>>,
) -> Vec<(Key, Value)> {
    let mut out = Vec::new();
    for (k, v) in new {
        if old.get(k).is_none_or(|o| rv(o) != rv(v)) {
            out.push((k.clone(), v.as_ref().clone()));
        }
    }
    for (k, v) in old {
        if !new.contains_key(k) {
            out.push((k.clone(), v.as_ref().clone()));
        }
    }
    out
}

fn rv(obj: &Value) -> &str {
    obj["metadata"]["resourceVersion"].as_str().unwrap_or("")
}

/// Whether `a` is a later version of the object than `b`. resourceVersions
/// are opaque by contract, but every server we know of (etcd's revision, the
/// sandbox's counter) uses integers; anything else counts as newer when it
/// differs, so the cache never sticks on an old copy.
fn newer(a: &Value, b: &Value) -> bool {
    match (rv(a).parse::<u64>(), rv(b).parse::<u64>()) {
        (Ok(x), Ok(y)) => x > y,
        _ => rv(a) != rv(b),
    }
}

/// Keep only what Plan, Assess and the drift forensics read. Dropped:
/// - the `fieldsV1` trees of the owning app's managedFields entries (its own
///   manager, `tether/<the tracking label>`, and `tether`, the manager every
///   app shared before), the largest part of most objects; other managers'
///   trees (another app's included) stay, for
///   `ignoreDifferences.managedFieldsManagers`, and every entry keeps its
///   manager, operation, time and subresource, for the forensics;
/// - kubectl's `last-applied-configuration` annotation, a second copy of the
///   object that tether never compares.
pub fn strip(mut obj: Value) -> Value {
    let own = obj["metadata"]["labels"][tether_model::TRACKING_LABEL]
        .as_str()
        .map(tether_model::field_manager_for);
    if let Some(entries) = obj
        .pointer_mut("/metadata/managedFields")
        .and_then(Value::as_array_mut)
    {
        for e in entries.iter_mut() {
            let manager = e["manager"].as_str().unwrap_or("");
            if (manager == FIELD_MANAGER || Some(manager) == own.as_deref())
                && let Some(m) = e.as_object_mut()
            {
                m.remove("fieldsV1");
            }
        }
    }
    if let Some(a) = obj
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    obj
}

/// The owning app's key from the tracking label: namespaces cannot contain
/// dots, so the first dot splits namespace from name.
fn label_owner(obj: &Value) -> Option<String> {
    let value = obj["metadata"]["labels"][tether_model::TRACKING_LABEL].as_str()?;
    let (ns, name) = value.split_once('.')?;
    if ns.is_empty() || name.is_empty() {
        return None;
    }
    Some(format!("{ns}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labelled(value: &str) -> Value {
        json!({"metadata": {"labels": {(tether_model::TRACKING_LABEL): value}}})
    }

    #[test]
    fn owner_from_the_tracking_label() {
        assert_eq!(label_owner(&json!({"metadata": {}})), None);
        assert_eq!(
            label_owner(&labelled("tether.web.v2")).as_deref(),
            Some("tether/web.v2"),
            "app names may hold dots"
        );
        assert_eq!(label_owner(&labelled("nodot")), None);
        assert_eq!(label_owner(&labelled(".web")), None);
    }

    #[test]
    fn strip_drops_tethers_field_tree_and_last_applied_only() {
        let obj = json!({
            "metadata": {
                "name": "web",
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{...}",
                    "keep": "me"
                },
                "managedFields": [
                    {"manager": FIELD_MANAGER, "operation": "Apply", "time": "t1", "fieldsV1": {"f:spec": {}}},
                    {"manager": "kubectl", "operation": "Update", "time": "t2", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
                ]
            },
            "spec": {"replicas": 2},
            "status": {"readyReplicas": 2}
        });
        let s = strip(obj.clone());
        assert_eq!(
            s["metadata"]["annotations"],
            json!({"keep": "me"}),
            "only last-applied goes"
        );
        assert_eq!(
            s["metadata"]["managedFields"][0],
            json!({"manager": FIELD_MANAGER, "operation": "Apply", "time": "t1"})
        );
        assert_eq!(
            s["metadata"]["managedFields"][1],
            obj["metadata"]["managedFields"][1]
        );
        assert_eq!(s["spec"], obj["spec"]);
        assert_eq!(s["status"], obj["status"], "health reads status");
        // The forensics still name the other manager.
        assert_eq!(crate::drift::last_writer(&s).0, "kubectl");
    }

    #[test]
    fn strip_drops_the_owning_apps_own_field_tree_not_another_apps() {
        let obj = json!({
            "metadata": {
                "name": "web",
                "labels": {(tether_model::TRACKING_LABEL): "tether.web"},
                "managedFields": [
                    {"manager": "tether/tether.web", "operation": "Apply", "time": "t1", "fieldsV1": {"f:data": {}}},
                    {"manager": "tether/tether.other", "operation": "Apply", "time": "t2", "fieldsV1": {"f:data": {"f:x": {}}}},
                ]
            }
        });
        let s = strip(obj.clone());
        assert_eq!(
            s["metadata"]["managedFields"][0],
            json!({"manager": "tether/tether.web", "operation": "Apply", "time": "t1"})
        );
        assert_eq!(
            s["metadata"]["managedFields"][1], obj["metadata"]["managedFields"][1],
            "another app's tree stays, for ignoreDifferences and the forensics"
        );
        assert_eq!(crate::drift::last_writer(&s).0, "tether/tether.other");
    }

    #[test]
    fn list_items_without_kind_get_it_from_the_watch() {
        // A real API server leaves apiVersion and kind out of list items for
        // built-in kinds; health rules go by them.
        let resource = ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&());
        let mut obj = DynamicObject::new("web", &resource).within("shop");
        obj.types = None;
        let ((ns, name), v) = entry(obj, &resource).unwrap();
        assert_eq!((ns.as_str(), name.as_str()), ("shop", "web"));
        assert_eq!(v["apiVersion"], "apps/v1");
        assert_eq!(v["kind"], "Deployment");
    }

    #[test]
    fn newer_compares_resource_versions_as_numbers() {
        let at = |rv: &str| json!({"metadata": {"resourceVersion": rv}});
        assert!(newer(&at("10"), &at("9")));
        assert!(!newer(&at("9"), &at("10")));
        assert!(!newer(&at("9"), &at("9")));
        assert!(newer(&at("b"), &at("a")), "opaque versions: differ = newer");
        assert!(!newer(&at("a"), &at("a")));
    }

    #[test]
    fn a_relist_reports_what_changed_while_the_watch_was_down() {
        let obj = |rv: &str| Arc::new(json!({"metadata": {"resourceVersion": rv}}));
        let key = |n: &str| (String::from("ns"), n.to_string());
        let old: HashMap<Key, Arc<Value>> = [
            (key("same"), obj("1")),
            (key("changed"), obj("2")),
            (key("deleted"), obj("3")),
        ]
        .into();
        let new: HashMap<Key, Arc<Value>> = [
            (key("same"), obj("1")),
            (key("changed"), obj("5")),
            (key("added"), obj("6")),
        ]
        .into();
        let mut names: Vec<String> = changed_between(&old, &new)
            .into_iter()
            .map(|((_, n), _)| n)
            .collect();
        names.sort();
        assert_eq!(names, ["added", "changed", "deleted"]);
    }
}
