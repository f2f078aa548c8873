//! The agent under faults: the sandbox's fault injection (500s, 429s, slow
//! responses, dropped watches) and `kill -9` at random points during syncs.
//! Transient errors are retried with backoff and shown as a clear condition;
//! nothing is ever half-pruned or orphaned; the audit log loses at most the
//! sync in flight, which the next start records as interrupted.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// Live objects carrying the app's tracking label, as `Kind/name` (a list, so
/// faults on `get` do not touch it).
fn labelled(env: &Env, ns: &str, app: &str) -> BTreeMap<String, Value> {
    let selector = format!("tether.dev/app=tether.{app}");
    let out = env.kubectl_ok(&[
        "get",
        "configmaps,deployments",
        "-n",
        ns,
        "-l",
        &selector,
        "-o",
        "json",
    ]);
    let list: Value = serde_json::from_str(&out).expect("json");
    list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|o| {
            let key = format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            );
            (key, o)
        })
        .collect()
}

/// The app's inventory (`status.inventory`) as `Kind/name`.
fn inventory(app: &Value) -> BTreeSet<String> {
    app["status"]["inventory"]["entries"]
        .as_array()
        .map(|es| {
            es.iter()
                .flat_map(|e| {
                    let kind = e["kind"].as_str().unwrap_or("").to_string();
                    e["names"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .map(move |n| format!("{kind}/{}", n.as_str().unwrap_or("")))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn ready(app: &Value) -> (String, String, String) {
    let c = condition(app, "Ready");
    let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
    (s("status"), s("reason"), s("message"))
}

fn assert_no_panics(env: &Env) {
    let log = env.agent_log();
    assert!(
        !log.contains("panicked"),
        "the agent panicked:\n{}",
        log.lines()
            .filter(|l| l.contains("panicked"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Polls an app and its labelled objects, checking at every observation that
/// nothing is half-pruned (an object Git dropped that is still live is still
/// in the inventory) and that no object Git still declares was deleted.
struct Observer<'a> {
    env: &'a Env,
    ns: &'a str,
    app: &'a str,
    /// Dropped from Git, never added back.
    removed: BTreeSet<String>,
    /// Declared by Git all along: must never disappear.
    keep: BTreeSet<String>,
    observations: usize,
}

impl Observer<'_> {
    fn observe(&mut self) -> (Value, BTreeMap<String, Value>) {
        // The inventory first, then live: an object pruned in between is
        // simply gone, never live and missing from the inventory.
        let app = self.env.app(self.app);
        let inv = inventory(&app);
        let live = labelled(self.env, self.ns, self.app);
        self.observations += 1;
        for r in &self.removed {
            assert!(
                !live.contains_key(r) || inv.contains(r),
                "half-pruned: {r} is live but no longer in the inventory {inv:?}\nstatus: {}",
                app["status"]
            );
        }
        for r in &self.keep {
            assert!(
                live.contains_key(r),
                "{r} was deleted though Git still declares it; live: {:?}\nstatus: {}",
                live.keys().collect::<Vec<_>>(),
                app["status"]
            );
        }
        (app, live)
    }

    fn wait(
        &mut self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&Value, &BTreeMap<String, Value>) -> bool,
    ) -> (Value, BTreeMap<String, Value>) {
        let deadline = Instant::now() + timeout;
        loop {
            let (app, live) = self.observe();
            if done(&app, &live) {
                return (app, live);
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\nstatus: {}\nagent log:\n{}",
                serde_json::to_string_pretty(&app["status"]).unwrap_or_default(),
                self.env
                    .agent_log()
                    .lines()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn value_of(live: &BTreeMap<String, Value>, cm: &str) -> String {
    live.get(&format!("ConfigMap/{cm}"))
        .and_then(|o| o["data"]["value"].as_str())
        .unwrap_or("")
        .to_string()
}

fn image(live: &BTreeMap<String, Value>) -> String {
    live.get("Deployment/web")
        .and_then(|o| o["spec"]["template"]["spec"]["containers"][0]["image"].as_str())
        .unwrap_or("")
        .to_string()
}

/// Faults from the sandbox: while patches fail every time the app says so
/// (Ready=False ClusterUnavailable, naming the object and the API error, and
/// when it retries), retries without any `retry` policy, and deletes nothing;
/// a prune that fails part-way keeps the rest in the inventory and the retry
/// finishes it; under 50 % errors, slow reads and dropped watches, a sequence
/// of commits converges once the faults clear.
#[test]
fn transient_api_errors_are_retried_and_never_half_prune() {
    let ns = "faulty";
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    for cm in ["a", "b", "c", "d", "e"] {
        repo.write(&format!("app/{cm}.yaml"), &configmap(cm, "1"));
    }
    repo.write("app/web.yaml", &deployment("web", "nginx:1.0", 1));
    repo.commit("five settings and web");
    env.apply_yaml(&app_yaml(ns, &repo.url(), "app", ns, AUTO_PRUNE, ""));
    env.wait_synced_healthy(ns);

    // Every patch fails: 500s on ConfigMaps, 429s on Deployments; reads are slow.
    env.set_faults(json!([
        {"verb": "patch", "resource": "configmaps", "errorCode": 500},
        {"verb": "patch", "resource": "deployments", "errorCode": 429},
        {"verb": "get", "resource": "configmaps", "latencyMs": 300},
    ]));
    repo.write("app/a.yaml", &configmap("a", "2"));
    repo.write("app/web.yaml", &deployment("web", "nginx:1.1", 1));
    repo.remove("app/d.yaml");
    repo.remove("app/e.yaml");
    let drop_de = repo.commit("a=2, web 1.1, drop d and e");
    let mut obs = Observer {
        env: &env,
        ns,
        app: ns,
        removed: set(&["ConfigMap/d", "ConfigMap/e"]),
        // Nothing is deleted while the applies fail: prunes never start.
        keep: set(&[
            "ConfigMap/a",
            "ConfigMap/b",
            "ConfigMap/c",
            "ConfigMap/d",
            "ConfigMap/e",
            "Deployment/web",
        ]),
        observations: 0,
    };
    let (app, live) = obs.wait(
        "ClusterUnavailable, retried twice",
        Duration::from_secs(30),
        |app, _| {
            let (status, reason, _) = ready(app);
            let op = &app["status"]["operationState"];
            status == "False"
                && reason == "ClusterUnavailable"
                && op["revision"] == drop_de
                && op["phase"] == "Error"
                && op["transientRetries"].as_i64().unwrap_or(0) >= 2
                // Not counted against `retry.limit`.
                && op["retryCount"].is_null()
        },
    );
    env.drop_watches();
    let (_, _, message) = ready(&app);
    assert!(
        message.contains("ConfigMap faulty/a")
            && message.contains("injected fault on patch configmaps")
            && message.contains("retrying in 1s"),
        "the condition names the object, the API error and the retry: {message}"
    );
    let op = &app["status"]["operationState"];
    assert_eq!(op["phase"], "Error", "{op}");
    // The Events say the cluster failed, not the commit.
    let reasons: Vec<String> = env
        .app_events(ns)
        .iter()
        .filter(|e| e["type"] == "Warning")
        .map(|e| e["reason"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        reasons.iter().any(|r| r == "ClusterUnavailable")
            && !reasons.iter().any(|r| r == "SyncFailed"),
        "{reasons:?}"
    );
    let web = op["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "Deployment")
        .expect("web's result");
    assert!(
        web["message"]
            .as_str()
            .unwrap()
            .contains("too many requests"),
        "{web}"
    );
    assert_eq!(condition(&app, "Stalled")["status"], "False");
    assert_eq!(condition(&app, "Reconciling")["status"], "True");
    assert_eq!(sync(&app), "OutOfSync");
    assert_eq!(value_of(&live, "a"), "1", "nothing applied");
    // The retries replace one another in the history: the good sync stays.
    let history = app["status"]["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0]["result"], "Succeeded");
    assert_eq!(history[1]["result"], "Error");

    // The applies go through; the first prune's delete fails four times (all
    // its attempts), the other succeeds: half the prune is done, and what is
    // left must stay in the inventory until the retry finishes it.
    env.set_faults(json!([
        {"verb": "delete", "resource": "configmaps", "errorCode": 500, "count": 4},
        {"verb": "get", "resource": "configmaps", "latencyMs": 300},
    ]));
    obs.keep = set(&[
        "ConfigMap/a",
        "ConfigMap/b",
        "ConfigMap/c",
        "Deployment/web",
    ]);
    let mut half_seen = 0;
    let mut prune_failure_shown = false;
    let (app, live) = obs.wait(
        "the prune finished after a partial failure",
        Duration::from_secs(30),
        |app, live| {
            let left: Vec<&str> = ["ConfigMap/d", "ConfigMap/e"]
                .into_iter()
                .filter(|r| live.contains_key(*r))
                .collect();
            if left.len() == 1 {
                // Half done: what is left is still the app's, to be pruned.
                half_seen += 1;
                let entry = app["status"]["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| format!("ConfigMap/{}", r["name"].as_str().unwrap()) == left[0])
                    .cloned()
                    .unwrap_or_default();
                assert_eq!(entry["requiresPruning"], true, "{}", app["status"]);
            }
            let (_, reason, message) = ready(app);
            prune_failure_shown |= reason == "ClusterUnavailable"
                && message.contains(
                    "prune failed: Internal error occurred: injected fault on delete configmaps",
                )
                && message.contains("retrying in");
            left.is_empty()
                && app["status"]["sync"]["revision"] == drop_de
                && sync(app) == "Synced"
                && health(app) == "Healthy"
        },
    );
    assert!(half_seen > 0, "never saw the prune half done");
    assert!(prune_failure_shown, "the failed prune was never shown");
    assert_eq!(value_of(&live, "a"), "2");
    assert_eq!(image(&live), "nginx:1.1");
    assert_eq!(condition(&app, "Ready")["status"], "True");

    // Half the calls fail (500s, 429s, 503s on deletes), reads are slow and
    // watches drop, while three commits land.
    env.set_faults(json!([
        {"verb": "patch", "resource": "configmaps", "errorCode": 500, "errorRate": 0.5},
        {"verb": "patch", "resource": "deployments", "errorCode": 429, "errorRate": 0.5},
        {"verb": "delete", "resource": "configmaps", "errorCode": 503, "errorRate": 0.5},
        {"verb": "get", "resource": "configmaps", "latencyMs": 300},
    ]));
    obs.keep = set(&["ConfigMap/a", "ConfigMap/b", "Deployment/web"]);
    // Each commit, and what it drops from Git.
    let steps: [(&str, &dyn Fn(), &str); 3] = [
        (
            "b=2, add f",
            &|| {
                repo.write("app/b.yaml", &configmap("b", "2"));
                repo.write("app/f.yaml", &configmap("f", "1"));
            },
            "",
        ),
        (
            "drop c, add g, web 1.2",
            &|| {
                repo.remove("app/c.yaml");
                repo.write("app/g.yaml", &configmap("g", "1"));
                repo.write("app/web.yaml", &deployment("web", "nginx:1.2", 1));
            },
            "ConfigMap/c",
        ),
        (
            "drop f, a=3",
            &|| {
                repo.remove("app/f.yaml");
                repo.write("app/a.yaml", &configmap("a", "3"));
            },
            "ConfigMap/f",
        ),
    ];
    let mut head = String::new();
    for (message, change, dropped) in steps {
        change();
        head = repo.commit(message);
        env.drop_watches();
        obs.wait(
            &format!("a sync of {message:?} tried"),
            Duration::from_secs(30),
            |app, _| app["status"]["operationState"]["revision"] == head,
        );
        // From now on no sync of an older commit can (re)create it.
        if !dropped.is_empty() {
            obs.removed.insert(dropped.to_string());
        }
    }
    env.clear_faults();
    let (app, live) = obs.wait(
        "converged to Git once the faults cleared",
        Duration::from_secs(30),
        |app, _| {
            app["status"]["sync"]["revision"] == head
                && sync(app) == "Synced"
                && health(app) == "Healthy"
        },
    );
    assert_eq!(
        live.keys().cloned().collect::<BTreeSet<_>>(),
        set(&[
            "ConfigMap/a",
            "ConfigMap/b",
            "ConfigMap/g",
            "Deployment/web"
        ]),
        "exactly what Git declares"
    );
    assert_eq!(value_of(&live, "a"), "3");
    assert_eq!(value_of(&live, "b"), "2");
    assert_eq!(image(&live), "nginx:1.2");
    assert_eq!(
        inventory(&app),
        set(&[
            "ConfigMap/a",
            "ConfigMap/b",
            "ConfigMap/g",
            "Deployment/web"
        ])
    );
    assert!(obs.observations > 10, "{} observations", obs.observations);
    assert_no_panics(&env);
}

/// A tiny xorshift: the crash test's random choices, reproducible from the
/// printed seed (`TETHER_CRASH_SEED`).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `tether audit --app APP --kind sync -o json`, read-only.
fn audit_syncs(env: &Env, app: &str) -> Vec<Value> {
    env.audit(&["--app", app, "--kind", "sync"])
}

/// `kill -9` the agent at random points of 50 syncs and restart it: no object
/// is ever left live outside the inventory, the end state equals Git (nothing
/// half-applied or broken), syncs cut short are recorded as interrupted, and
/// every audit record written before a crash is still there after it.
#[test]
fn kill_dash_nine_during_syncs_loses_nothing() {
    let ns = "crashy";
    let seed = std::env::var("TETHER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    eprintln!("TETHER_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    // What Git declares: ConfigMap name -> value, and web's image tag.
    let mut model: BTreeMap<String, String> = BTreeMap::new();
    let mut next_cm = 0;
    for _ in 0..4 {
        model.insert(format!("cm-{next_cm}"), "0".into());
        next_cm += 1;
    }
    let mut tag = 0;
    let write = |model: &BTreeMap<String, String>, tag: u32| {
        let _ = std::fs::remove_dir_all(repo.path.join("app"));
        for (name, value) in model {
            repo.write(&format!("app/{name}.yaml"), &configmap(name, value));
        }
        repo.write(
            "app/web.yaml",
            &deployment("web", &format!("nginx:1.{tag}"), 1),
        );
    };
    write(&model, tag);
    let mut head = repo.commit("start");
    env.apply_yaml(&app_yaml(ns, &repo.url(), "app", ns, AUTO_PRUNE, ""));
    env.wait_synced_healthy(ns);
    // Slow writes widen each sync, so kills land inside them.
    env.set_faults(json!([
        {"verb": "patch", "latencyMs": 80},
        {"verb": "delete", "resource": "configmaps", "latencyMs": 80},
    ]));

    let mut kills = 0;
    let mut saved_by_intent = 0;
    let mut in_flight_at_kill: BTreeSet<i64> = BTreeSet::new();
    // Finished sync records seen so far: id -> outcome. None may vanish or change.
    let mut finished: BTreeMap<i64, String> = BTreeMap::new();
    for i in 0..50 {
        // Add one or two, remove up to two, change one or two.
        for _ in 0..=rng.below(2) {
            model.insert(format!("cm-{next_cm}"), i.to_string());
            next_cm += 1;
        }
        for _ in 0..rng.below(3) {
            if model.len() > 2 {
                let k = model
                    .keys()
                    .nth(rng.below(model.len() as u64) as usize)
                    .cloned();
                model.remove(&k.unwrap());
            }
        }
        for _ in 0..=rng.below(2) {
            let k = model
                .keys()
                .nth(rng.below(model.len() as u64) as usize)
                .cloned();
            model.insert(k.unwrap(), format!("{i}-changed"));
        }
        if i % 7 == 3 {
            tag += 1;
        }
        write(&model, tag);
        head = repo.commit(&format!("change {i}"));
        env.kubectl_ok(&[
            "annotate",
            "applications.tether.dev",
            ns,
            "-n",
            "tether",
            &format!("tether.dev/refresh=change-{i}"),
            "--overwrite",
        ]);
        // Most commits: kill at a random moment; some: right when a sync is
        // seen running; the rest: let it be.
        match rng.below(10) {
            0..=5 => std::thread::sleep(Duration::from_millis(rng.below(400))),
            6..=7 => {
                let deadline = Instant::now() + Duration::from_secs(3);
                while Instant::now() < deadline
                    && env.app(ns)["status"]["operationState"]["phase"] != "Running"
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            _ => continue,
        }
        env.kill_agent();
        kills += 1;
        // With the agent dead: every labelled object is in the inventory.
        let app = env.app(ns);
        let inv = inventory(&app);
        let live = labelled(&env, ns, ns);
        for r in live.keys() {
            assert!(
                inv.contains(r),
                "after kill {kills} (change {i}): {r} is live outside the inventory {inv:?}"
            );
        }
        // Objects created by the sync the kill cut short: in the inventory only
        // because it was written before they were applied.
        // Detail lists only objects needing attention: none when all is fine.
        let intended: BTreeSet<String> = app["status"]["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["message"] == "being created")
            .map(|r| {
                format!(
                    "{}/{}",
                    r["kind"].as_str().unwrap(),
                    r["name"].as_str().unwrap()
                )
            })
            .collect();
        saved_by_intent += intended.iter().filter(|r| live.contains_key(*r)).count();
        let syncs = audit_syncs(&env, ns);
        for rec in &syncs {
            let id = rec["id"].as_i64().unwrap();
            let outcome = rec["outcome"].as_str().unwrap().to_string();
            if outcome == "in_progress" {
                in_flight_at_kill.insert(id);
            } else if let Some(before) = finished.insert(id, outcome.clone()) {
                assert_eq!(before, outcome, "audit record {id} changed");
            }
        }
        let ids: BTreeSet<i64> = syncs.iter().map(|r| r["id"].as_i64().unwrap()).collect();
        for id in finished.keys() {
            assert!(ids.contains(id), "audit record {id} lost after a crash");
        }
        env.restart_agent(&[]);
    }
    env.clear_faults();

    let app = env.wait_app(
        ns,
        "Synced and Healthy at the last commit",
        Duration::from_secs(40),
        |a| {
            a["status"]["sync"]["revision"] == head && sync(a) == "Synced" && health(a) == "Healthy"
        },
    );
    // No orphans: what carries the app's label is exactly what Git declares,
    // with Git's values.
    let live = labelled(&env, ns, ns);
    let mut want: BTreeSet<String> = model.keys().map(|k| format!("ConfigMap/{k}")).collect();
    want.insert("Deployment/web".into());
    assert_eq!(live.keys().cloned().collect::<BTreeSet<_>>(), want);
    for (name, value) in &model {
        assert_eq!(value_of(&live, name), *value, "ConfigMap {name}");
    }
    assert_eq!(image(&live), format!("nginx:1.{tag}"));
    assert_eq!(inventory(&app), want);
    // Every object fine: none needs a line of detail.
    assert!(app["status"]["resources"].is_null(), "{}", app["status"]);
    assert_eq!(
        app["status"]["resourceCounts"]["fine"],
        app["status"]["resourceCounts"]["total"]
    );

    // The audit log: no sync left in progress, every sync in flight at a kill
    // now interrupted, and every record from before a crash still there.
    let syncs = audit_syncs(&env, ns);
    let by_id: BTreeMap<i64, &str> = syncs
        .iter()
        .map(|r| (r["id"].as_i64().unwrap(), r["outcome"].as_str().unwrap()))
        .collect();
    assert!(
        !by_id.values().any(|o| *o == "in_progress"),
        "a sync is still in progress: {by_id:?}"
    );
    for id in &in_flight_at_kill {
        assert_eq!(by_id.get(id), Some(&"interrupted"), "sync {id}");
    }
    for (id, outcome) in &finished {
        assert_eq!(by_id.get(id), Some(&outcome.as_str()), "sync {id}");
    }
    let interrupted = by_id.values().filter(|o| **o == "interrupted").count();
    assert!(
        interrupted >= 1,
        "{kills} kills and none landed mid-sync: {by_id:?}"
    );
    assert!(kills >= 20, "{kills} kills");
    assert!(
        saved_by_intent >= 1,
        "no kill landed between an object's create and the end of its sync"
    );
    assert_no_panics(&env);
    eprintln!(
        "{kills} kills, {interrupted} syncs interrupted, {saved_by_intent} objects created mid-sync, {} syncs recorded, {:?}",
        by_id.len(),
        started.elapsed()
    );
}
