//! One owner per object (issue 9): two apps that declare the same object do
//! not fight over it. The second reports a `SharedResource` conflict naming
//! both apps and the object and applies the rest; nothing is pruned from
//! under the owner; taking over is explicit and audited; adopting an
//! unmanaged object is recorded; each app applies as its own field manager.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const SELF_HEAL: &str = "    automated: {prune: true, selfHeal: true}";

fn data(env: &Env, name: &str) -> Value {
    env.get("configmap", "demo", name)
        .unwrap_or_else(|| panic!("ConfigMap demo/{name} exists"))["data"]
        .clone()
}

fn owner_label(env: &Env, name: &str) -> String {
    env.get("configmap", "demo", name)
        .unwrap_or_else(|| panic!("ConfigMap demo/{name} exists"))["metadata"]["labels"]
        ["tether.dev/app"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// The managers of the object's managedFields entries, as `manager/operation`.
fn managers(env: &Env, name: &str) -> Vec<String> {
    let out = env.kubectl_ok(&[
        "get",
        "configmap",
        name,
        "-n",
        "demo",
        "--show-managed-fields",
        "-o",
        "json",
    ]);
    let obj: Value = serde_json::from_str(&out).expect("json");
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{}/{}",
                e["manager"].as_str().unwrap_or(""),
                e["operation"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn resource<'a>(app: &'a Value, name: &str) -> Option<&'a Value> {
    app["status"]["resources"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == name)
}

/// Whether the app's compact inventory (`status.inventory`) names a ConfigMap.
fn in_inventory(app: &Value, name: &str) -> bool {
    app["status"]["inventory"]["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "ConfigMap")
        .flat_map(|e| e["names"].as_array().cloned().unwrap_or_default())
        .any(|n| n == name)
}

fn shared_condition(app: &Value) -> bool {
    condition(app, "SharedResource")["status"] == "True"
}

fn history(app: &Value) -> Vec<Value> {
    app["status"]["history"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// One repository, one path per app, all deploying to namespace `demo`.
fn two_apps(env: &Env, second_annotation: &str) -> Repo {
    let repo = Repo::init(&env.path("repo"));
    repo.write(
        "first/shared.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  value: first\n  only-first: \"yes\"\n",
    );
    repo.write("first/mine.yaml", &configmap("first-only", "1"));
    repo.write(
        "second/shared.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n{second_annotation}data:\n  value: second\n"
        ),
    );
    repo.write("second/mine.yaml", &configmap("second-only", "2"));
    repo.commit("two apps that both declare ConfigMap shared");
    repo
}

/// (a) and (b): the second app to declare an object reports SharedResource,
/// naming both apps and the object, and applies its other objects; the
/// owner stays Synced and Healthy and keeps syncing new commits. When the
/// second drops the object from Git, nothing is pruned.
#[test]
fn a_second_app_reports_a_shared_resource_and_never_prunes_it() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = two_apps(&env, "");
    env.apply_yaml(&app_yaml(
        "first",
        &repo.url(),
        "first",
        "demo",
        AUTO_PRUNE,
        "",
    ));
    env.wait_synced_healthy("first");
    env.apply_yaml(&app_yaml(
        "second",
        &repo.url(),
        "second",
        "demo",
        AUTO_PRUNE,
        "",
    ));

    let second = env.wait_app("second", "SharedResource", Duration::from_secs(30), |a| {
        shared_condition(a) && in_inventory(a, "second-only")
    });
    // The object it only declares is not its own: out of its inventory.
    assert!(!in_inventory(&second, "shared"), "{}", second["status"]);
    let ready = condition(&second, "Ready");
    assert_eq!(ready["status"], "False", "{ready}");
    assert_eq!(ready["reason"], "SharedResource", "{ready}");
    let message = ready["message"].as_str().unwrap();
    for part in [
        "ConfigMap demo/shared",
        "app tether/first",
        "app tether/second",
        "TakeOver=true",
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    assert_eq!(condition(&second, "Stalled")["reason"], "SharedResource");
    let entry = resource(&second, "shared").expect("the conflict is shown on the object");
    assert_eq!(entry["status"], "OutOfSync");
    assert!(
        entry["message"]
            .as_str()
            .unwrap()
            .starts_with("SharedResource: ConfigMap demo/shared is managed by app tether/first"),
        "{entry}"
    );
    assert_eq!(sync(&second), "OutOfSync");
    let get = env.run_tether(&["app", "get", "second"]);
    assert!(
        get.stdout.contains("SharedResource") && get.stdout.contains("tether/first"),
        "`tether app get` shows the conflict: {get:?}"
    );
    // Its other object was applied; the shared one was not touched.
    assert_eq!(owner_label(&env, "second-only"), "tether.second");
    assert_eq!(owner_label(&env, "shared"), "tether.first");
    assert_eq!(data(&env, "shared")["value"], "first");
    let m = managers(&env, "shared");
    assert!(
        m.contains(&"tether/tether.first/Apply".to_string()),
        "{m:?}"
    );
    assert!(
        !m.iter().any(|m| m.starts_with("tether/tether.second")),
        "{m:?}"
    );
    // Recorded once, in the audit log and as an Event.
    let errors = env.audit(&["--app", "tether/second", "--kind", "error"]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("SharedResource: ConfigMap demo/shared"),
        "{errors:?}"
    );
    assert!(
        env.app_events("second")
            .iter()
            .any(|e| e["reason"] == "SharedResource"),
        "a Warning event"
    );

    // The owner is unaffected, and keeps following Git meanwhile.
    let first = env.app("first");
    assert_eq!((sync(&first), health(&first)), ("Synced", "Healthy"));
    assert!(condition(&first, "SharedResource").is_null());
    repo.write("first/mine.yaml", &configmap("first-only", "1b"));
    repo.commit("first moves on");
    env.wait_app("first", "the new commit", Duration::from_secs(30), |a| {
        sync(a) == "Synced" && history(a).len() == 2
    });
    assert_eq!(data(&env, "first-only")["value"], "1b");
    assert_eq!(data(&env, "shared")["value"], "first");

    // (b) The second drops it from Git: it leaves the second's inventory, and
    // nothing is pruned from under the owner.
    repo.remove("second/shared.yaml");
    repo.commit("second no longer declares shared");
    let second = env.wait_app("second", "no conflict", Duration::from_secs(30), |a| {
        sync(a) == "Synced" && health(a) == "Healthy" && !shared_condition(a)
    });
    assert!(
        resource(&second, "shared").is_none() && !in_inventory(&second, "shared"),
        "{}",
        second["status"]
    );
    assert_eq!(condition(&second, "Ready")["status"], "True");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(owner_label(&env, "shared"), "tether.first");
    assert_eq!(data(&env, "shared")["value"], "first");
    let first = env.app("first");
    assert_eq!((sync(&first), health(&first)), ("Synced", "Healthy"));
    assert!(
        env.audit(&["--app", "tether/second", "--kind", "prune"])
            .is_empty(),
        "nothing pruned"
    );
}

/// (c) Two self-healing apps on one object no longer rewrite it forever: the
/// owner's content stays, and the object is not written again.
#[test]
fn two_self_healing_apps_do_not_fight_over_an_object() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = two_apps(&env, "");
    env.apply_yaml(&app_yaml(
        "first",
        &repo.url(),
        "first",
        "demo",
        SELF_HEAL,
        "",
    ));
    env.wait_synced_healthy("first");
    env.apply_yaml(&app_yaml(
        "second",
        &repo.url(),
        "second",
        "demo",
        SELF_HEAL,
        "",
    ));
    env.wait_app(
        "second",
        "SharedResource",
        Duration::from_secs(30),
        shared_condition,
    );

    let rv = |env: &Env| {
        env.get("configmap", "demo", "shared").expect("shared")["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let stats = |env: &Env| -> u64 {
        let s: Value = serde_json::from_str(&env.kubectl_ok(&["get", "--raw", "/_sandbox/stats"]))
            .expect("stats");
        s["resourceVersion"].as_str().unwrap().parse().unwrap()
    };
    let (rv_before, writes_before) = (rv(&env), stats(&env));
    let heals_before = (
        history(&env.app("first")).len(),
        history(&env.app("second")).len(),
    );
    // Ten polls of both apps (--poll-interval 1): before issue 9 each one rewrote it.
    std::thread::sleep(Duration::from_secs(10));
    let writes = stats(&env) - writes_before;
    eprintln!("writes to the cluster in 10 s of two self-healing apps on one object: {writes}");
    assert_eq!(rv(&env), rv_before, "the object was not written again");
    assert_eq!(
        data(&env, "shared")["value"],
        "first",
        "the owner's content"
    );
    assert_eq!(owner_label(&env, "shared"), "tether.first");
    assert!(
        writes <= 2,
        "{writes} writes: the agent is idle, not fighting"
    );
    let first = env.app("first");
    let second = env.app("second");
    assert_eq!(
        (history(&first).len(), history(&second).len()),
        heals_before,
        "no sync ran on either side"
    );
    assert!(env.audit(&["--kind", "self-heal"]).is_empty());
    assert_eq!((sync(&first), health(&first)), ("Synced", "Healthy"));
    assert!(condition(&first, "SelfHealFlapping").is_null());
    assert!(condition(&second, "SelfHealFlapping").is_null());
    assert!(shared_condition(&second));
}

/// (d) Taking over is explicit (an annotation on the object in Git), moves
/// the object and its fields to the new app, is in the audit log and the
/// history naming the previous owner, and the old owner neither prunes it
/// nor shows it Missing.
#[test]
fn an_explicit_take_over_moves_the_object_and_is_audited() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = two_apps(
        &env,
        "  annotations:\n    tether.dev/sync-options: TakeOver=true\n",
    );
    env.apply_yaml(&app_yaml(
        "first",
        &repo.url(),
        "first",
        "demo",
        AUTO_PRUNE,
        "",
    ));
    env.wait_synced_healthy("first");
    env.apply_yaml(&app_yaml(
        "second",
        &repo.url(),
        "second",
        "demo",
        AUTO_PRUNE,
        "",
    ));
    let second = env.wait_synced_healthy("second");

    assert_eq!(owner_label(&env, "shared"), "tether.second");
    let d = data(&env, "shared");
    assert_eq!(d["value"], "second");
    assert!(
        d.get("only-first").is_none(),
        "the previous owner's fields went with it: {d}"
    );
    let m = managers(&env, "shared");
    assert!(
        m.contains(&"tether/tether.second/Apply".to_string()),
        "{m:?}"
    );
    assert!(
        !m.iter().any(|m| m.starts_with("tether/tether.first")),
        "{m:?}"
    );
    let last = history(&second).last().cloned().unwrap();
    assert!(
        last["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "taken-over ConfigMap demo/shared (from app tether/first)"),
        "{last}"
    );
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("took ConfigMap demo/shared over from app tether/first"),
        "{last}"
    );
    let audited = env.audit(&[
        "--app",
        "tether/second",
        "--object",
        "ConfigMap demo/shared",
    ]);
    assert!(
        audited
            .iter()
            .any(|r| r["message"] == "taken-over: from app tether/first"
                && r["outcome"] == "succeeded"),
        "{audited:?}"
    );

    // The old owner still declares it: a conflict, not Missing, and no fight.
    let first = env.wait_app(
        "first",
        "SharedResource",
        Duration::from_secs(30),
        shared_condition,
    );
    assert_ne!(health(&first), "Missing");
    assert!(
        condition(&first, "Ready")["message"]
            .as_str()
            .unwrap()
            .contains("ConfigMap demo/shared is managed by app tether/second; app tether/first does not apply it"),
        "{}",
        condition(&first, "Ready")
    );
    // It drops it from Git: gone from its inventory, not pruned.
    repo.remove("first/shared.yaml");
    repo.commit("first lets shared go");
    let first = env.wait_app("first", "clean", Duration::from_secs(30), |a| {
        sync(a) == "Synced" && health(a) == "Healthy" && !shared_condition(a)
    });
    assert!(
        resource(&first, "shared").is_none() && !in_inventory(&first, "shared"),
        "{}",
        first["status"]
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(owner_label(&env, "shared"), "tether.second");
    assert_eq!(data(&env, "shared")["value"], "second");
    assert!(env.audit(&["--kind", "prune"]).is_empty(), "nothing pruned");
    let second = env.app("second");
    assert_eq!((sync(&second), health(&second)), ("Synced", "Healthy"));
}

/// (e) An object that exists without tether's label is adopted, and the
/// history and the audit log say so.
#[test]
fn adopting_an_unmanaged_object_is_recorded() {
    let mut env = Env::start();
    env.agent(&[]);
    env.kubectl_ok(&["create", "namespace", "demo"]);
    env.kubectl_ok(&[
        "create",
        "configmap",
        "existing",
        "-n",
        "demo",
        "--from-literal=value=v",
    ]);
    let repo = Repo::init(&env.path("repo"));
    repo.write("app/existing.yaml", &configmap("existing", "v"));
    repo.write("app/new.yaml", &configmap("new", "n"));
    repo.commit("manage the existing ConfigMap");
    env.apply_yaml(&app_yaml(
        "adopt",
        &repo.url(),
        "app",
        "demo",
        AUTO_PRUNE,
        "",
    ));
    let app = env.wait_synced_healthy("adopt");

    assert_eq!(owner_label(&env, "existing"), "tether.adopt");
    let changes = history(&app)[0]["changes"].clone();
    assert!(
        changes
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "adopted ConfigMap demo/existing (it had no tether.dev/app label)"),
        "{changes}"
    );
    assert!(
        changes
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "created ConfigMap demo/new"),
        "{changes}"
    );
    let audited = env.audit(&[
        "--app",
        "tether/adopt",
        "--object",
        "ConfigMap demo/existing",
    ]);
    assert!(
        audited.iter().any(|r| r["kind"] == "object-change"
            && r["message"].as_str().unwrap_or("").starts_with("adopted")),
        "{audited:?}"
    );
}

/// Objects applied by an older tether, as the field manager `tether` that
/// every app shared, are handed to the app's own manager when next applied:
/// no conflict with the old manager, and a field Git dropped is removed.
#[test]
fn objects_of_the_old_shared_field_manager_are_migrated() {
    let mut env = Env::start();
    env.agent(&[]);
    env.kubectl_ok(&["create", "namespace", "demo"]);
    let old = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: demo\n  labels:\n    tether.dev/app: tether.legacy\ndata:\n  a: \"1\"\n  dropped: \"x\"\n";
    env.apply_yaml_with(old, &["--field-manager=tether"]);
    assert_eq!(managers(&env, "settings"), ["tether/Apply"]);

    let repo = Repo::init(&env.path("repo"));
    repo.write(
        "app/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: \"2\"\n",
    );
    repo.commit("a is 2; dropped is gone");
    env.apply_yaml(&app_yaml(
        "legacy",
        &repo.url(),
        "app",
        "demo",
        AUTO_PRUNE,
        "",
    ));
    let started = Instant::now();
    env.wait_synced_healthy("legacy");
    let d = data(&env, "settings");
    assert_eq!(d["a"], "2");
    assert!(
        d.get("dropped").is_none(),
        "a field Git dropped is removed: {d}"
    );
    assert_eq!(managers(&env, "settings"), ["tether/tether.legacy/Apply"]);
    eprintln!("migrated in {:?}", started.elapsed());
}

/// The Application's syncOption `TakeOver=true` takes objects over too; and
/// when the owner asks for the same, the two do not take it from each other
/// in turn: the second one reports the conflict and leaves the object alone.
#[test]
fn take_over_by_sync_option_and_two_takers_do_not_take_turns() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = two_apps(&env, "");
    env.apply_yaml(&app_yaml(
        "first",
        &repo.url(),
        "first",
        "demo",
        SELF_HEAL,
        "",
    ));
    env.wait_synced_healthy("first");
    env.apply_yaml(&app_yaml(
        "second",
        &repo.url(),
        "second",
        "demo",
        SELF_HEAL,
        "",
    ));
    env.wait_app(
        "second",
        "SharedResource",
        Duration::from_secs(30),
        shared_condition,
    );

    let take_over = |name: &str| {
        env.kubectl_ok(&[
            "patch",
            "applications.tether.dev",
            name,
            "-n",
            "tether",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"syncPolicy":{"syncOptions":["CreateNamespace=true","TakeOver=true"]}}}"#,
        ]);
    };
    take_over("second");
    env.wait_app("second", "taken over", Duration::from_secs(30), |a| {
        sync(a) == "Synced" && health(a) == "Healthy" && !shared_condition(a)
    });
    assert_eq!(owner_label(&env, "shared"), "tether.second");
    assert_eq!(data(&env, "shared")["value"], "second");
    env.wait_app(
        "first",
        "SharedResource",
        Duration::from_secs(30),
        shared_condition,
    );

    // The old owner asks for it back: both ask, so neither takes it from the other.
    take_over("first");
    let first = env.wait_app("first", "the contest", Duration::from_secs(30), |a| {
        condition(a, "SharedResource")["message"]
            .as_str()
            .is_some_and(|m| m.contains("which takes it over too"))
    });
    assert!(
        condition(&first, "Ready")["message"]
            .as_str()
            .unwrap()
            .contains("remove TakeOver from one of the two apps"),
        "{}",
        condition(&first, "Ready")
    );
    let rv = |env: &Env| {
        env.get("configmap", "demo", "shared").expect("shared")["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let before = rv(&env);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(rv(&env), before, "nobody rewrote it");
    assert_eq!(owner_label(&env, "shared"), "tether.second");
    let taken: Vec<Value> = env
        .audit(&["--object", "ConfigMap demo/shared"])
        .into_iter()
        .filter(|r| {
            r["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("taken-over")
        })
        .collect();
    assert_eq!(taken.len(), 1, "taken over once: {taken:?}");
    assert_eq!(taken[0]["app"], "tether/second");
}
