//! The controller loop: events mark objects (and their controlling owners) for
//! reconciliation; one worker reconciles them through the pure controllers
//! and writes what they decide. Timed steps (a pod's start after the rollout
//! delay, a rollout's deadline, CronJob schedules) come back on timers.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::pod::{NodeInfo, PodStep};
use super::util::{
    controller_ref, controller_uid, deleting, images_fail, int_at, name, pod_active, str_at,
};
use super::write::{CONTROLLER, change, delete, gr, key, put_status};
use super::{cronjob, daemonset, deployment, job, node, pod, replicaset, revision, statefulset};
use crate::api::Shared;
use crate::catalog::GroupResource;
use crate::store::{Event, EventType, ObjKey};

type Item = (GroupResource, ObjKey);

/// The kinds this loop reconciles, by resource.
fn reconciled(gr: &GroupResource) -> bool {
    matches!(
        (gr.group.as_str(), gr.resource.as_str()),
        (
            "apps",
            "deployments" | "replicasets" | "statefulsets" | "daemonsets"
        ) | ("batch", "jobs" | "cronjobs")
            | ("", "pods" | "replicationcontrollers" | "nodes")
    )
}

/// The resource of a controlling owner, by its kind.
fn owner_resource(kind: &str) -> Option<GroupResource> {
    Some(match kind {
        "Deployment" => gr("apps", "deployments"),
        "ReplicaSet" => gr("apps", "replicasets"),
        "StatefulSet" => gr("apps", "statefulsets"),
        "DaemonSet" => gr("apps", "daemonsets"),
        "Job" => gr("batch", "jobs"),
        "CronJob" => gr("batch", "cronjobs"),
        "ReplicationController" => gr("", "replicationcontrollers"),
        _ => return None,
    })
}

#[derive(Default)]
struct Queue {
    set: HashSet<Item>,
    order: VecDeque<Item>,
}

pub struct Sim {
    sh: Arc<Shared>,
    queue: Mutex<Queue>,
    wake: tokio::sync::Notify,
    /// When each pod last changed stage (by uid), so the next waits the rollout delay.
    pod_steps: Mutex<HashMap<String, Instant>>,
    /// Each rollout's last progress (by Deployment uid): what it was and since when.
    progress: Mutex<HashMap<String, (String, Instant)>>,
    /// The objects each controller owns (by owner uid), so a controller reads
    /// its children without scanning its namespace. Candidates only: each is
    /// read back from the store, so a stale entry costs a lookup, never a
    /// wrong decision.
    children: Mutex<HashMap<String, HashSet<Item>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sim {
    pub fn new(sh: Arc<Shared>) -> Arc<Sim> {
        Arc::new(Sim {
            sh,
            queue: Mutex::default(),
            wake: tokio::sync::Notify::new(),
            pod_steps: Mutex::default(),
            progress: Mutex::default(),
            children: Mutex::default(),
        })
    }

    pub fn enqueue(&self, item: Item) {
        let mut q = lock(&self.queue);
        if q.set.insert(item.clone()) {
            q.order.push_back(item);
            self.wake.notify_one();
        }
    }

    /// Comes back to an object after `delay`.
    fn later(self: &Arc<Self>, item: Item, delay: Duration) {
        if delay.is_zero() {
            self.enqueue(item);
            return;
        }
        let sim = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            sim.enqueue(item);
        });
    }

    fn index(&self, owner: &str, item: Item) {
        lock(&self.children)
            .entry(owner.to_string())
            .or_default()
            .insert(item);
    }

    /// Keeps the owner index up to date with one event.
    fn index_event(&self, e: &Event) {
        let item = (e.gr.clone(), e.key.clone());
        let now_owner = if e.kind == EventType::Deleted {
            None
        } else {
            controller_uid(&e.object)
        };
        let before = e.prev.as_deref().and_then(controller_uid);
        let gone = if e.kind == EventType::Deleted {
            controller_uid(&e.object)
        } else {
            before.filter(|b| Some(*b) != now_owner)
        };
        if let Some(old) = gone {
            // A deletion seen late must not drop a namesake created since.
            let recreated = self
                .sh
                .store
                .get(&e.gr, &e.key)
                .is_some_and(|o| controller_uid(&o) == Some(old));
            if !recreated {
                let mut children = lock(&self.children);
                if let Some(set) = children.get_mut(old) {
                    set.remove(&item);
                    if set.is_empty() {
                        children.remove(old);
                    }
                }
            }
        }
        if let Some(owner) = now_owner {
            self.index(owner, item);
        }
        if e.kind == EventType::Deleted {
            // An owner that is gone has no children to list any more.
            lock(&self.children).remove(super::util::uid(&e.object));
        }
    }

    /// Marks what an event concerns for reconciliation.
    pub fn observe(&self, e: &Event) {
        self.index_event(e);
        if e.kind == EventType::Deleted {
            if e.gr.group.is_empty() && e.gr.resource == "pods" {
                lock(&self.pod_steps).remove(super::util::uid(&e.object));
            }
            if e.gr.group == "apps" && e.gr.resource == "deployments" {
                lock(&self.progress).remove(super::util::uid(&e.object));
            }
        } else if reconciled(&e.gr) {
            self.enqueue((e.gr.clone(), e.key.clone()));
        }
        if e.gr.group.is_empty() && e.gr.resource == "nodes" {
            for ds in self.sh.store.list(&gr("apps", "daemonsets"), None).0 {
                self.enqueue((
                    gr("apps", "daemonsets"),
                    key(str_at(&ds, "/metadata/namespace"), name(&ds)),
                ));
            }
        }
        if let Some(r) = controller_ref(&e.object)
            && let Some(owner) = r
                .get("kind")
                .and_then(Value::as_str)
                .and_then(owner_resource)
            && let Some(owner_name) = r.get("name").and_then(Value::as_str)
        {
            self.enqueue((owner, key(&e.key.namespace, owner_name)));
        }
    }

    fn all_of(&self, g: &GroupResource) {
        for o in self.sh.store.list(g, None).0 {
            self.enqueue((g.clone(), key(str_at(&o, "/metadata/namespace"), name(&o))));
        }
    }

    /// Looks at everything once (start, or after missed events).
    pub fn resync(&self) {
        for (g, k, o) in self.sh.store.all_objects() {
            if let Some(owner) = controller_uid(&o) {
                self.index(owner, (g.clone(), k.clone()));
            }
            if reconciled(&g) {
                self.enqueue((g, k));
            }
        }
    }

    /// The worker: reconciles what is queued, and CronJobs every second.
    pub async fn run(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tick.tick() => self.all_of(&gr("batch", "cronjobs")),
            }
            loop {
                let batch: Vec<Item> = {
                    let mut q = lock(&self.queue);
                    q.set.clear();
                    q.order.drain(..).collect()
                };
                if batch.is_empty() {
                    break;
                }
                for (n, item) in batch.iter().enumerate() {
                    self.reconcile(item);
                    if n % 64 == 63 {
                        tokio::task::yield_now().await;
                    }
                }
                tokio::task::yield_now().await;
            }
        }
    }

    fn reconcile(self: &Arc<Self>, item: &Item) {
        let (g, k) = item;
        let Some(obj) = self.sh.store.get(g, k) else {
            return;
        };
        match (g.group.as_str(), g.resource.as_str()) {
            ("", "pods") => self.pod(item, &obj),
            ("", "nodes") => node::reconcile(&self.sh, k),
            ("apps", "replicasets") => self.replicaset(item, &obj, "apps/v1", "ReplicaSet"),
            ("", "replicationcontrollers") => {
                self.replicaset(item, &obj, "v1", "ReplicationController")
            }
            ("apps", "deployments") => self.deployment(item, &obj),
            ("apps", "statefulsets") => self.statefulset(item, &obj),
            ("apps", "daemonsets") => self.daemonset(item, &obj),
            ("batch", "jobs") => self.job(item, &obj),
            ("batch", "cronjobs") => self.cronjob(item, &obj),
            _ => {}
        }
    }

    /// The objects of a resource in a namespace whose controller is `owner`,
    /// in name order.
    fn owned(&self, g: &GroupResource, namespace: &str, owner: &Value) -> Vec<Arc<Value>> {
        let uid = super::util::uid(owner);
        let mut keys: Vec<ObjKey> = lock(&self.children)
            .get(uid)
            .map(|set| {
                set.iter()
                    .filter(|(cg, k)| cg == g && k.namespace == namespace)
                    .map(|(_, k)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        keys.sort();
        keys.iter()
            .filter_map(|k| self.sh.store.get(g, k))
            .filter(|o| controller_uid(o) == Some(uid))
            .collect()
    }

    /// Creates a child and indexes it at once, so the next pass counts it
    /// even before its event arrives.
    fn create(&self, owner: &Value, group: &str, plural: &str, obj: Value) {
        if let Some(made) = super::write::create_as(&self.sh, group, "v1", plural, obj, CONTROLLER)
        {
            let k = key(str_at(&made, "/metadata/namespace"), name(&made));
            self.index(super::util::uid(owner), (gr(group, plural), k));
        }
    }

    fn pod(self: &Arc<Self>, item: &Item, p: &Value) {
        let delay = self.sh.rollout_delay();
        let uid = super::util::uid(p).to_string();
        let due = lock(&self.pod_steps)
            .get(&uid)
            .is_none_or(|t| t.elapsed() >= delay);
        let completes = controller_ref(p).and_then(|r| r.get("kind")) == Some(&json!("Job"));
        // An unbound pod goes to a schedulable node; a bound one runs where it is.
        let (all, schedulable): (Vec<NodeInfo>, Vec<NodeInfo>) = node::nodes(&self.sh);
        let nodes = if str_at(p, "/spec/nodeName").is_empty() {
            schedulable
        } else {
            all
        };
        match pod::next(p, &nodes, due, completes) {
            PodStep::Idle => {}
            PodStep::Write {
                node_name,
                status,
                again,
            } => {
                let (g, k) = item;
                if let Some(n) = node_name {
                    change(&self.sh, g, k, "kube-scheduler", None, |cur| {
                        cur["spec"]["nodeName"] = json!(n);
                        true
                    });
                }
                put_status(&self.sh, g, k, &status, "kubelet");
                lock(&self.pod_steps).insert(uid, Instant::now());
                if again {
                    self.later(item.clone(), delay);
                }
            }
        }
    }

    fn replicaset(&self, item: &Item, rs: &Value, api_version: &str, kind: &str) {
        if deleting(rs) {
            return;
        }
        let (g, k) = item;
        let pods = self.owned(&gr("", "pods"), &k.namespace, rs);
        let active: Vec<&Value> = pods
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| pod_active(p))
            .collect();
        let plan = replicaset::reconcile(rs, &active, api_version, kind);
        for p in plan.create {
            self.create(rs, "", "pods", p);
        }
        for n in plan.delete {
            delete(&self.sh, &gr("", "pods"), &key(&k.namespace, &n));
        }
        put_status(&self.sh, g, k, &plan.status, CONTROLLER);
    }

    /// How long a rollout may go without progress before it is reported stuck:
    /// `progressDeadlineSeconds`, scaled down to three rollout delays so that
    /// sandbox rollouts fail as fast as they succeed.
    fn deadline(&self, d: &Value) -> Duration {
        let pds = Duration::from_secs(
            int_at(d, "/spec/progressDeadlineSeconds")
                .unwrap_or(600)
                .max(0) as u64,
        );
        pds.min(self.sh.rollout_delay() * 3)
    }

    fn deployment(self: &Arc<Self>, item: &Item, d: &Value) {
        if deleting(d) {
            return;
        }
        let (g, k) = item;
        let rss = self.owned(&gr("apps", "replicasets"), &k.namespace, d);
        let live: Vec<&Value> = rss
            .iter()
            .map(|r| r.as_ref())
            .filter(|r| !deleting(r))
            .collect();
        // Progress: stuck when the pods cannot start (the failure convention)
        // and nothing moved within the deadline.
        let uid = super::util::uid(d).to_string();
        let deadline = self.deadline(d);
        let probe = deployment::reconcile(d, &live, false);
        let signature = format!(
            "{}/{}/{}/{}/{}",
            probe.create.as_ref().map(name).unwrap_or(""),
            probe.status["updatedReplicas"],
            probe.status["readyReplicas"],
            probe.status["availableReplicas"],
            probe.status["replicas"],
        );
        let stuck_possible =
            images_fail(d.pointer("/spec/template/spec")) && !deployment::complete(&probe.status);
        let since = {
            let mut progress = lock(&self.progress);
            let entry = progress
                .entry(uid)
                .or_insert_with(|| (signature.clone(), Instant::now()));
            if entry.0 != signature {
                *entry = (signature, Instant::now());
            }
            entry.1
        };
        let stalled = stuck_possible && since.elapsed() >= deadline;
        if stuck_possible && !stalled {
            self.later(
                item.clone(),
                deadline.saturating_sub(since.elapsed()) + Duration::from_millis(5),
            );
        }
        let plan = if stalled {
            deployment::reconcile(d, &live, true)
        } else {
            probe
        };
        if let Some(rs) = plan.create {
            self.create(d, "apps", "replicasets", rs);
        }
        for u in plan.update {
            change(
                &self.sh,
                &gr("apps", "replicasets"),
                &key(&k.namespace, &u.name),
                CONTROLLER,
                None,
                |cur| {
                    let before = cur.clone();
                    if let Some(n) = u.replicas {
                        cur["spec"]["replicas"] = json!(n);
                    }
                    if !u.annotations.is_empty() {
                        if cur
                            .pointer("/metadata/annotations")
                            .is_none_or(|a| !a.is_object())
                        {
                            cur["metadata"]["annotations"] = json!({});
                        }
                        for (a, v) in &u.annotations {
                            cur["metadata"]["annotations"][a] = v.clone();
                        }
                    }
                    *cur != before
                },
            );
        }
        for n in plan.delete {
            delete(&self.sh, &gr("apps", "replicasets"), &key(&k.namespace, &n));
        }
        if !plan.annotations.is_empty() {
            change(&self.sh, g, k, CONTROLLER, None, |cur| {
                let before = cur.clone();
                if cur
                    .pointer("/metadata/annotations")
                    .is_none_or(|a| !a.is_object())
                {
                    cur["metadata"]["annotations"] = json!({});
                }
                for (a, v) in &plan.annotations {
                    cur["metadata"]["annotations"][a] = v.clone();
                }
                *cur != before
            });
        }
        put_status(&self.sh, g, k, &plan.status, CONTROLLER);
    }

    /// Keeps the ControllerRevisions of a StatefulSet or DaemonSet.
    fn revisions(&self, owner: &Value, kind: &str, namespace: &str) {
        let g = gr("apps", "controllerrevisions");
        let existing = self.owned(&g, namespace, owner);
        let refs: Vec<&Value> = existing.iter().map(|r| r.as_ref()).collect();
        let plan = revision::plan(owner, kind, &refs);
        if let Some(r) = plan.create {
            self.create(owner, "apps", "controllerrevisions", r);
        }
        if let Some((n, number)) = plan.renumber {
            change(&self.sh, &g, &key(namespace, &n), CONTROLLER, None, |cur| {
                cur["revision"] = json!(number);
                true
            });
        }
        for n in plan.delete {
            delete(&self.sh, &g, &key(namespace, &n));
        }
    }

    fn statefulset(&self, item: &Item, sts: &Value) {
        if deleting(sts) {
            return;
        }
        let (g, k) = item;
        let pods = self.owned(&gr("", "pods"), &k.namespace, sts);
        let active: Vec<&Value> = pods
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| pod_active(p))
            .collect();
        let claims: HashSet<String> = self
            .sh
            .store
            .list(&gr("", "persistentvolumeclaims"), Some(&k.namespace))
            .0
            .iter()
            .map(|c| name(c).to_string())
            .collect();
        self.revisions(sts, "StatefulSet", &k.namespace);
        let plan = statefulset::reconcile(sts, &active, &claims);
        for o in plan.create {
            let plural = if o["kind"] == "Pod" {
                "pods"
            } else {
                "persistentvolumeclaims"
            };
            self.create(sts, "", plural, o);
        }
        for n in plan.delete {
            delete(&self.sh, &gr("", "pods"), &key(&k.namespace, &n));
        }
        put_status(&self.sh, g, k, &plan.status, CONTROLLER);
    }

    fn daemonset(&self, item: &Item, ds: &Value) {
        if deleting(ds) {
            return;
        }
        let (g, k) = item;
        let pods = self.owned(&gr("", "pods"), &k.namespace, ds);
        let active: Vec<&Value> = pods
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| pod_active(p))
            .collect();
        let nodes = node::daemon_nodes(&self.sh);
        self.revisions(ds, "DaemonSet", &k.namespace);
        let plan = daemonset::reconcile(ds, &active, &nodes);
        for p in plan.create {
            self.create(ds, "", "pods", p);
        }
        for n in plan.delete {
            delete(&self.sh, &gr("", "pods"), &key(&k.namespace, &n));
        }
        put_status(&self.sh, g, k, &plan.status, CONTROLLER);
    }

    fn job(&self, item: &Item, j: &Value) {
        if deleting(j) {
            return;
        }
        let (g, k) = item;
        let pods = self.owned(&gr("", "pods"), &k.namespace, j);
        let live: Vec<&Value> = pods
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| !deleting(p))
            .collect();
        let plan = job::reconcile(j, &live);
        for p in plan.create {
            self.create(j, "", "pods", p);
        }
        for n in plan.delete {
            delete(&self.sh, &gr("", "pods"), &key(&k.namespace, &n));
        }
        put_status(&self.sh, g, k, &plan.status, CONTROLLER);
    }

    fn cronjob(&self, item: &Item, cj: &Value) {
        if deleting(cj) {
            return;
        }
        let (g, k) = item;
        let jobs = self.owned(&gr("batch", "jobs"), &k.namespace, cj);
        let live: Vec<&Value> = jobs
            .iter()
            .map(|j| j.as_ref())
            .filter(|j| !deleting(j))
            .collect();
        let plan = cronjob::reconcile(cj, &live, super::clock_now(&self.sh));
        if let Some(j) = plan.create {
            self.create(cj, "batch", "jobs", j);
        }
        for n in plan.delete {
            delete(&self.sh, &gr("batch", "jobs"), &key(&k.namespace, &n));
        }
        put_status(&self.sh, g, k, &plan.status, CONTROLLER);
    }
}
