//! Watch-driven drift: a change to a managed object wakes its app at once (the
//! agent polls Git only every hour here, so only the watch can explain a fast
//! reaction), the drift is recorded with the fields and the field manager, and
//! self-heal puts it back.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn replicas(env: &Env, ns: &str) -> i64 {
    env.get("deployment", ns, "web").expect("web")["spec"]["replicas"]
        .as_i64()
        .unwrap_or(-1)
}

fn setup(env: &mut Env, name: &str, policy: &str) {
    let repo = Repo::init(&env.dir.path().join(format!("repo-{name}")));
    repo.write("app/web.yaml", &deployment("web", "nginx:1.0", 3));
    repo.commit("web with 3 replicas");
    env.apply_yaml(&app_yaml(name, &repo.url(), "app", name, policy, ""));
    env.wait_synced_healthy(name);
}

/// Issue 4, proof 1: `kubectl scale --replicas=2` on a self-healing app is put
/// back to 3; status and audit name kubectl's field manager and the field.
#[test]
fn self_heal_reverts_a_scale_and_names_who_did_it() {
    let mut env = Env::start();
    env.agent(&["--poll-interval", "3600"]);
    setup(
        &mut env,
        "healing",
        "    automated: {prune: true, selfHeal: true}",
    );
    let before = env.app("healing")["status"]["history"]
        .as_array()
        .unwrap()
        .len();

    env.kubectl_ok(&["scale", "deployment/web", "-n", "healing", "--replicas=2"]);
    let started = Instant::now();
    let app = env.wait_app(
        "healing",
        "self-heal recorded",
        Duration::from_secs(10),
        |a| {
            a["status"]["history"]
                .as_array()
                .is_some_and(|h| h.len() > before)
        },
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    while replicas(&env, "healing") != 3 {
        assert!(Instant::now() < deadline, "not healed back to 3");
        std::thread::sleep(Duration::from_millis(50));
    }
    let last = app["status"]["history"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(last["initiator"], "self-heal", "{last}");
    let msg = app["status"]["operationState"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let entry = serde_json::to_string(&app["status"]).unwrap();
    assert!(
        entry.contains("spec.replicas"),
        "the field is named: {msg} {last}"
    );

    let drifts = env.audit(&["--app", "healing", "--kind", "drift"]);
    assert_eq!(drifts.len(), 1, "{drifts:?}");
    let actor = drifts[0]["actor"].as_str().unwrap();
    assert!(
        actor.starts_with("kubectl"),
        "the field manager is the actor: {actor}"
    );
    assert!(
        drifts[0]["message"]
            .as_str()
            .unwrap()
            .contains("spec.replicas 3 → 2"),
        "{}",
        drifts[0]
    );
    let heals = env.audit(&["--app", "healing", "--kind", "self-heal"]);
    assert_eq!(heals.len(), 1, "{heals:?}");
    assert_eq!(heals[0]["outcome"], "succeeded");
}

/// Issue 4, proof 2 (first half): without self-heal the app goes OutOfSync
/// with the drift's fields and values, and nothing is corrected.
#[test]
fn without_self_heal_drift_is_reported_not_corrected() {
    let mut env = Env::start();
    env.agent(&["--poll-interval", "3600"]);
    setup(&mut env, "watching", AUTO_PRUNE);
    env.kubectl_ok(&["scale", "deployment/web", "-n", "watching", "--replicas=2"]);
    let app = env.wait_app("watching", "OutOfSync", Duration::from_secs(10), |a| {
        sync(a) == "OutOfSync"
    });
    let web = app["status"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "web")
        .cloned()
        .unwrap();
    let drift = &web["drift"];
    assert!(
        drift["manager"].as_str().unwrap().starts_with("kubectl"),
        "{web}"
    );
    assert_eq!(drift["fields"][0]["path"], "spec.replicas");
    assert_eq!(drift["fields"][0]["git"], "3");
    assert_eq!(drift["fields"][0]["live"], "2");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        replicas(&env, "watching"),
        2,
        "not corrected without selfHeal"
    );
    let get = env.tether(&["app", "get", "watching"]);
    let text = String::from_utf8_lossy(&get.stdout);
    assert!(
        text.contains("drift: spec.replicas 3 → 2 by kubectl"),
        "app get shows the drift: {text}"
    );
    let out = env.tether(&["app", "diff", "watching"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("replicas"));
}

/// Issue 4, proof 3: a managed Deployment deleted with kubectl is recreated.
#[test]
fn a_deleted_object_is_recreated_by_self_heal() {
    let mut env = Env::start();
    env.agent(&["--poll-interval", "3600"]);
    setup(
        &mut env,
        "recreate",
        "    automated: {prune: true, selfHeal: true}",
    );
    let uid = env.get("deployment", "recreate", "web").unwrap()["metadata"]["uid"].clone();
    env.kubectl_ok(&["delete", "deployment/web", "-n", "recreate"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if env
            .get("deployment", "recreate", "web")
            .is_some_and(|d| d["metadata"]["uid"] != uid)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not recreated:\n{}",
            env.agent_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let drifts = env.audit(&["--app", "recreate", "--kind", "drift"]);
    assert!(drifts.iter().any(|d| d["actor"] == "deleted"), "{drifts:?}");
}

/// A controller writing status (the sandbox's rollout) never makes an app
/// OutOfSync, and no drift is recorded for it.
#[test]
fn status_writes_are_not_drift() {
    let mut env = Env::start_with(&["--rollout-delay-ms", "300"]);
    env.agent(&["--poll-interval", "3600"]);
    setup(
        &mut env,
        "quiet",
        "    automated: {prune: true, selfHeal: true}",
    );
    // Scaling through Git-less status churn: the rollout controller writes status a few times.
    std::thread::sleep(Duration::from_secs(2));
    let app = env.app("quiet");
    assert_eq!(sync(&app), "Synced");
    assert_eq!(
        app["status"]["history"].as_array().unwrap().len(),
        1,
        "no self-heal happened"
    );
    assert!(env.audit(&["--app", "quiet", "--kind", "drift"]).is_empty());
}

/// Issue 4, proof 2 (second half): a detect-only app reports drift and
/// alerts (a Warning event on the Application) but never corrects, even with
/// selfHeal on. Syncs are Events too.
#[test]
fn detect_only_reports_and_alerts_but_never_corrects() {
    let mut env = Env::start();
    env.agent(&["--poll-interval", "3600"]);
    setup(
        &mut env,
        "detect",
        "    automated: {prune: true, selfHeal: true}\n    detectOnly: true",
    );
    env.kubectl_ok(&["scale", "deployment/web", "-n", "detect", "--replicas=2"]);
    env.wait_app("detect", "OutOfSync", Duration::from_secs(10), |a| {
        sync(a) == "OutOfSync"
    });
    let events = |reason: &str| {
        env.app_events("detect")
            .into_iter()
            .filter(|e| e["reason"] == reason)
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while events("DriftDetected").is_empty() {
        assert!(Instant::now() < deadline, "no DriftDetected event");
        std::thread::sleep(Duration::from_millis(50));
    }
    let drift = &events("DriftDetected")[0];
    assert_eq!(drift["type"], "Warning");
    assert!(
        drift["note"]
            .as_str()
            .unwrap()
            .contains("spec.replicas 3 → 2"),
        "{drift}"
    );
    assert_eq!(events("Synced").len(), 1, "the first sync was an event");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(replicas(&env, "detect"), 2, "detect-only never corrects");
    assert!(
        env.audit(&["--app", "detect", "--kind", "self-heal"])
            .is_empty()
    );
}

/// A controller that keeps fighting self-heal: tether backs off instead of
/// looping hot, and says whom it is fighting.
#[test]
fn self_heal_backs_off_when_another_manager_keeps_fighting() {
    let mut env = Env::start();
    env.agent(&["--poll-interval", "3600"]);
    setup(
        &mut env,
        "fight",
        "    automated: {prune: true, selfHeal: true}",
    );
    let kubeconfig = env.kubeconfig.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fighter = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut scales = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = Command::new("kubectl")
                    .args(["scale", "deployment/web", "-n", "fight", "--replicas=2"])
                    .env("KUBECONFIG", &kubeconfig)
                    .output();
                scales += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            scales
        })
    };
    let app = env.wait_app("fight", "flapping shown", Duration::from_secs(20), |a| {
        condition(a, "SelfHealFlapping")["status"] == "True"
    });
    let msg = condition(&app, "SelfHealFlapping")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("self-heal flapping with manager kubectl"),
        "{msg}"
    );
    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let scales = fighter.join().unwrap();
    let heals = env.audit(&["--app", "fight", "--kind", "self-heal"]).len();
    assert!(scales >= 8, "the fighter ran: {scales}");
    assert!(
        heals <= 7,
        "{heals} heals against {scales} scales: backing off, not looping hot"
    );
    // Once the fight stops, tether wins and the flag clears.
    env.wait_app("fight", "healed and calm", Duration::from_secs(40), |a| {
        sync(a) == "Synced" && condition(a, "SelfHealFlapping").is_null()
    });
    assert_eq!(replicas(&env, "fight"), 3);
}

/// Issue 4, proof 5: a `git revert` of a bad commit converges back, and the
/// history shows both; `tether app rollback` goes to an entry, holds there
/// (status says so) until Git moves on.
#[test]
fn revert_and_rollback() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("app/web.yaml", &deployment("web", "nginx:1.0", 1));
    let good = repo.commit("good");
    env.apply_yaml(&app_yaml("rb", &repo.url(), "app", "rb", AUTO_PRUNE, ""));
    env.wait_synced_healthy("rb");
    let image = |env: &Env| {
        env.get("deployment", "rb", "web").unwrap()["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // A bad commit, then its revert: the cluster follows Git back.
    repo.write("app/web.yaml", &deployment("web", "nginx:fail", 1));
    let bad = repo.commit("bad image");
    env.wait_app("rb", "bad applied", Duration::from_secs(15), |a| {
        a["status"]["sync"]["revision"] == bad
    });
    repo.git(&["revert", "--no-edit", "HEAD"]);
    let reverted = repo.git(&["rev-parse", "HEAD"]);
    env.wait_app("rb", "revert applied", Duration::from_secs(15), |a| {
        a["status"]["sync"]["revision"] == reverted && health(a) == "Healthy"
    });
    assert_eq!(image(&env), "nginx:1.0");
    let app = env.app("rb");
    let revs: Vec<&str> = app["status"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["revision"].as_str().unwrap())
        .collect();
    assert_eq!(revs, [good.as_str(), bad.as_str(), reverted.as_str()]);

    // Forward again, then roll back to entry 1 (the good commit) with the CLI.
    repo.write("app/web.yaml", &deployment("web", "nginx:2.0", 1));
    let two = repo.commit("2.0");
    env.wait_app("rb", "2.0 applied", Duration::from_secs(15), |a| {
        a["status"]["sync"]["revision"] == two
    });
    let out = env.tether(&["app", "rollback", "rb", "1", "--timeout", "30s"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(image(&env), "nginx:1.0");
    let app = env.app("rb");
    assert_eq!(app["status"]["rollback"]["revision"], good);
    assert_eq!(app["status"]["sync"]["revision"], good);
    let rolled = condition(&app, "RolledBack");
    assert_eq!(rolled["status"], "True");
    let rollbacks = env.audit(&["--app", "rb", "--kind", "rollback"]);
    assert_eq!(rollbacks.len(), 1, "{rollbacks:?}");
    assert_eq!(rollbacks[0]["revision"], good, "{rollbacks:?}");
    assert!(
        rolled["message"]
            .as_str()
            .unwrap()
            .contains("will not move forward"),
        "{rolled}"
    );
    // Polls go by (1 s each) and the app stays where it was put.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        image(&env),
        "nginx:1.0",
        "auto-sync does not move a rolled-back app forward"
    );

    // Git moves on: the rollback ends and the new commit is synced.
    repo.write("app/web.yaml", &deployment("web", "nginx:3.0", 1));
    let three = repo.commit("3.0");
    let app = env.wait_app("rb", "3.0 applied", Duration::from_secs(15), |a| {
        a["status"]["sync"]["revision"] == three && sync(a) == "Synced"
    });
    assert!(app["status"]["rollback"].is_null());
    assert!(condition(&app, "RolledBack").is_null());
    assert!(env.get("application.tether.dev", "tether", "rb").unwrap()["metadata"]["annotations"]["tether.dev/rollback"].is_null());
    assert_eq!(image(&env), "nginx:3.0");
}

/// Issue 4, proof 4 (second half): replicas owned by an HPA, ignored through
/// ignoreDifferences, never make the app OutOfSync nor trigger self-heal.
#[test]
fn ignored_differences_are_not_drift() {
    let mut env = Env::start();
    env.agent(&["--poll-interval", "3600"]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("app/web.yaml", &deployment("web", "nginx:1.0", 3));
    repo.commit("web");
    let yaml = app_yaml("hpa", &repo.url(), "app", "hpa", "    automated: {prune: true, selfHeal: true}", "")
        .replace(
            "  syncPolicy:\n",
            "  ignoreDifferences:\n    - {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}\n  syncPolicy:\n",
        );
    env.apply_yaml(&yaml);
    env.wait_synced_healthy("hpa");
    env.kubectl_ok(&["scale", "deployment/web", "-n", "hpa", "--replicas=7"]);
    std::thread::sleep(Duration::from_secs(3));
    let app = env.app("hpa");
    assert_eq!(sync(&app), "Synced", "{}", app["status"]);
    assert_eq!(
        replicas(&env, "hpa"),
        7,
        "not healed: the HPA owns replicas"
    );
    assert_eq!(app["status"]["history"].as_array().unwrap().len(), 1);
    assert!(env.audit(&["--app", "hpa", "--kind", "drift"]).is_empty());
    // A field that is not ignored still is drift.
    env.kubectl_ok(&[
        "set",
        "image",
        "deployment/web",
        "-n",
        "hpa",
        "main=nginx:evil",
    ]);
    env.wait_app("hpa", "image healed", Duration::from_secs(10), |a| {
        a["status"]["history"]
            .as_array()
            .is_some_and(|h| h.len() == 2)
    });
}

fn sandbox_stats(env: &Env) -> Value {
    serde_json::from_str(&env.kubectl_ok(&["get", "--raw", "/_sandbox/stats"])).unwrap()
}

/// Plan reads live state from the live cache, not the API server: with every
/// GET of a ConfigMap failing, drift on one is still seen and healed, and the
/// app reports no error. (The test changes the ConfigMap with a PUT, which needs no GET.)
#[test]
fn drift_is_planned_from_the_live_cache() {
    let mut env = Env::start();
    env.agent(&["--poll-interval", "3600"]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("app/cm.yaml", &configmap("settings", "blue"));
    repo.commit("settings");
    env.apply_yaml(&app_yaml(
        "cached",
        &repo.url(),
        "app",
        "cached",
        "    automated: {prune: true, selfHeal: true}",
        "",
    ));
    env.wait_synced_healthy("cached");
    // The first reconcile started the ConfigMap watch; give its list a moment
    // (and make the last read from the API server over a second old, so that
    // `--resync-interval 1` would read from the server and fail: the check
    // that this test can fail).
    std::thread::sleep(Duration::from_millis(1500));
    let live = env.get("configmap", "cached", "settings").unwrap();
    env.set_faults(serde_json::json!([
        {"verb": "get", "resource": "configmaps", "errorCode": 500}
    ]));
    assert!(
        !env.kubectl(&["get", "configmap", "settings", "-n", "cached"])
            .status
            .success(),
        "the fault is armed"
    );
    // A PUT of the whole object (update, not get), as another tool would.
    let mut cm = live.clone();
    cm["data"]["value"] = "red".into();
    let file = env.dir.path().join("cm.json");
    std::fs::write(&file, cm.to_string()).unwrap();
    env.kubectl_ok(&[
        "replace",
        "--raw",
        "/api/v1/namespaces/cached/configmaps/settings",
        "-f",
        file.to_str().unwrap(),
    ]);
    let healed = |env: &Env| {
        let out = env.kubectl_ok(&["get", "--raw", "/api/v1/namespaces/cached/configmaps"]);
        let list: Value = serde_json::from_str(&out).unwrap();
        // The namespace also holds kube-root-ca.crt, as on a real cluster.
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["metadata"]["name"] == "settings" && i["data"]["value"] == "blue")
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !healed(&env) {
        assert!(
            Instant::now() < deadline,
            "not healed while GETs fail:\n{}",
            env.agent_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let app = env.app("cached");
    assert_eq!(condition(&app, "Ready")["status"], "True", "{app}");
    let history = app["status"]["history"].as_array().unwrap();
    assert_eq!(history.last().unwrap()["initiator"], "self-heal");
    env.clear_faults();
}

/// A kind is watched while some app manages it and unwatched when none does.
#[test]
fn kinds_are_unwatched_when_no_app_manages_them() {
    let mut env = Env::start();
    env.agent(&["--poll-interval", "3600"]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("cm/cm.yaml", &configmap("settings", "blue"));
    repo.write("web/web.yaml", &deployment("web", "nginx:1.0", 1));
    repo.commit("two apps");
    env.apply_yaml(&app_yaml("cms", &repo.url(), "cm", "cms", AUTO_PRUNE, ""));
    env.apply_yaml(&app_yaml(
        "webs",
        &repo.url(),
        "web",
        "webs",
        AUTO_PRUNE,
        "",
    ));
    env.wait_synced_healthy("cms");
    env.wait_synced_healthy("webs");
    let watches = |env: &Env| sandbox_stats(env)["watches"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    // Applications, ConfigMaps, Deployments (and kubectl's none: it has exited).
    while watches(&env) < 3 {
        assert!(Instant::now() < deadline, "{}", sandbox_stats(&env));
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = watches(&env);
    let out = env.tether(&["app", "delete", "cms", "--wait"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while watches(&env) != before - 1 {
        assert!(
            Instant::now() < deadline,
            "ConfigMaps still watched: {} (before {before})\n{}",
            sandbox_stats(&env),
            env.agent_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The Deployment app still reacts at once.
    env.kubectl_ok(&["scale", "deployment/web", "-n", "webs", "--replicas=3"]);
    env.wait_app("webs", "OutOfSync", Duration::from_secs(5), |a| {
        sync(a) == "OutOfSync"
    });
}

/// The other kinds of drift the issue names, each seen through the watch with
/// the field and kubectl's manager: an env var added inside a container list
/// tether owns (`kubectl set env`; Git declares the env list) and a label
/// changed (`kubectl label`).
#[test]
fn an_added_env_var_and_a_changed_label_are_drift() {
    let mut env = Env::start();
    env.agent(&["--poll-interval", "3600"]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    // Git declares one env var, so the env list is tether's.
    let web = deployment("web", "nginx:1.0", 1)
        .replace(
            "metadata:\n  name: web\n",
            "metadata:\n  name: web\n  labels: {tier: web}\n",
        )
        .replace(
            "          image: nginx:1.0\n",
            "          image: nginx:1.0\n          env: [{name: MODE, value: prod}]\n",
        );
    assert!(web.contains("MODE") && web.contains("tier"), "{web}");
    repo.write("app/web.yaml", &web);
    repo.commit("web");
    env.apply_yaml(&app_yaml(
        "kinds",
        &repo.url(),
        "app",
        "kinds",
        AUTO_PRUNE,
        "",
    ));
    env.wait_synced_healthy("kinds");
    let drift_paths = |app: &Value| -> Vec<(String, String)> {
        app["status"]["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["name"] == "web")
            .flat_map(|r| r["drift"]["fields"].as_array().cloned().unwrap_or_default())
            .map(|f| {
                (
                    f["path"].as_str().unwrap_or("").to_string(),
                    f["live"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };

    env.kubectl_ok(&["set", "env", "deployment/web", "-n", "kinds", "DEBUG=1"]);
    let app = env.wait_app(
        "kinds",
        "the env var as drift",
        Duration::from_secs(10),
        |a| {
            drift_paths(a)
                .iter()
                .any(|(p, _)| p.contains("env[name=DEBUG]"))
        },
    );
    assert_eq!(sync(&app), "OutOfSync");
    let web = app["status"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "web")
        .unwrap();
    assert!(
        web["drift"]["manager"]
            .as_str()
            .unwrap()
            .starts_with("kubectl"),
        "{web}"
    );

    env.kubectl_ok(&[
        "label",
        "deployment/web",
        "-n",
        "kinds",
        "tier=db",
        "--overwrite",
    ]);
    let app = env.wait_app(
        "kinds",
        "the label as drift",
        Duration::from_secs(10),
        |a| {
            drift_paths(a)
                .iter()
                .any(|(p, live)| p == "metadata.labels.tier" && live == "\"db\"")
        },
    );
    assert!(
        drift_paths(&app)
            .iter()
            .any(|(p, _)| p.contains("env[name=DEBUG]")),
        "both drifts shown: {:?}",
        drift_paths(&app)
    );
}

/// The live cache survives a watch outage that outlasts the server's event
/// window: with watches on ConfigMaps failing, a drift goes unseen (Git is
/// polled hourly here), and once they work again the resumed watch gets
/// 410 Gone, re-lists, and the re-list wakes the owner of what changed, which
/// heals it.
#[test]
fn a_relist_after_410_gone_finds_the_drift_missed_meanwhile() {
    let mut env = Env::start_with(&["--rollout-delay-ms", "0", "--watch-window", "20"]);
    env.agent(&["--poll-interval", "3600"]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("app/cm.yaml", &configmap("settings", "blue"));
    repo.commit("settings");
    env.apply_yaml(&app_yaml(
        "gone",
        &repo.url(),
        "app",
        "gone",
        "    automated: {prune: true, selfHeal: true}",
        "",
    ));
    env.wait_synced_healthy("gone");
    std::thread::sleep(Duration::from_millis(500));
    let value = |env: &Env| {
        env.get("configmap", "gone", "settings").unwrap()["data"]["value"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    env.set_faults(serde_json::json!([
        {"verb": "watch", "resource": "configmaps", "errorCode": 500}
    ]));
    env.drop_watches();
    env.kubectl_ok(&[
        "patch",
        "configmap",
        "settings",
        "-n",
        "gone",
        "--type=merge",
        "-p",
        r#"{"data":{"value":"red"}}"#,
    ]);
    // Push the patch out of the sandbox's 20-event window.
    let mut many = String::new();
    for i in 0..30 {
        many.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: filler{i}, namespace: default}}\n"
        ));
    }
    let file = env.dir.path().join("filler.yaml");
    std::fs::write(&file, many).unwrap();
    env.kubectl_ok(&["apply", "-f", file.to_str().unwrap()]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(value(&env), "red", "no watch, no poll: not seen yet");
    env.clear_faults();
    let deadline = Instant::now() + Duration::from_secs(20);
    while value(&env) != "blue" {
        assert!(
            Instant::now() < deadline,
            "the drift missed during the outage was not healed:\n{}",
            env.agent_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `tether.dev/compare: ignore` on an object in Git takes it out of drift:
/// a self-heal app neither reports nor corrects a change to it.
#[test]
fn an_object_marked_compare_ignore_is_never_drift() {
    let mut env = Env::start();
    env.agent(&["--poll-interval", "3600"]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    let web = deployment("web", "nginx:1.0", 3).replace(
        "metadata:\n  name: web\n",
        "metadata:\n  name: web\n  annotations: {tether.dev/compare: ignore}\n",
    );
    assert!(web.contains("compare"), "{web}");
    repo.write("app/web.yaml", &web);
    repo.write("app/cm.yaml", &configmap("settings", "blue"));
    repo.commit("web, not compared");
    env.apply_yaml(&app_yaml(
        "ignored",
        &repo.url(),
        "app",
        "ignored",
        "    automated: {prune: true, selfHeal: true}",
        "",
    ));
    env.wait_synced_healthy("ignored");
    env.kubectl_ok(&["scale", "deployment/web", "-n", "ignored", "--replicas=1"]);
    // A change to the other object is seen and healed: the app is watching.
    env.kubectl_ok(&[
        "patch",
        "configmap",
        "settings",
        "-n",
        "ignored",
        "--type=merge",
        "-p",
        r#"{"data":{"value":"red"}}"#,
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.get("configmap", "ignored", "settings").unwrap()["data"]["value"] != "blue" {
        assert!(Instant::now() < deadline, "{}", env.agent_log());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(replicas(&env, "ignored"), 1, "not compared, not corrected");
    let app = env.app("ignored");
    assert_eq!(sync(&app), "Synced", "{app}");
    let drifts = env.audit(&["--app", "ignored", "--kind", "drift"]);
    assert!(
        drifts
            .iter()
            .all(|d| !d["object"].as_str().unwrap_or("").contains("Deployment")),
        "{drifts:?}"
    );
    assert!(!drifts.is_empty(), "the ConfigMap's drift is recorded");
}
