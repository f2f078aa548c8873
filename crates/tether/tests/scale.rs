//! Scale within one app, end to end: a large app syncs with a small status
//! (a compact inventory, detail only for objects that need attention), prunes
//! exactly what Git drops through that inventory, and an app over
//! `--max-objects-per-app` fails on its own while its neighbour syncs.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// ConfigMaps `prefix-00000`… in files of 250 documents each.
fn write_configmaps(repo: &Repo, dir: &str, prefix: &str, names: &[usize]) {
    for (file, chunk) in names.chunks(250).enumerate() {
        let text: Vec<String> = chunk
            .iter()
            .map(|i| configmap(&format!("{prefix}-{i:05}"), &format!("v{i}")))
            .collect();
        repo.write(&format!("{dir}/cm-{file:03}.yaml"), &text.join("---\n"));
    }
}

/// The ConfigMaps in `ns` that carry the tracking label of app `tether/<app>`.
fn labelled(env: &Env, ns: &str, app: &str) -> BTreeSet<String> {
    let out = env.kubectl_ok(&[
        "get",
        "configmaps",
        "-n",
        ns,
        "-l",
        &format!("tether.dev/app=tether.{app}"),
        "-o",
        "name",
    ]);
    out.lines()
        .map(|l| l.trim_start_matches("configmap/").to_string())
        .collect()
}

/// The names in the app's compact inventory.
fn inventory_names(app: &Value) -> BTreeSet<String> {
    app["status"]["inventory"]["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["names"].as_array().cloned().unwrap_or_default())
        .map(|n| n.as_str().unwrap_or("").to_string())
        .collect()
}

fn status_bytes(app: &Value) -> usize {
    serde_json::to_vec(&app["status"]).unwrap().len()
}

const BIG: usize = 2_500;

/// 2,500 ConfigMaps sync with a status under 64 KiB (the per-object form took
/// about 280 bytes an object, 700 KB here); `tether app get` gives counts and
/// only the object that drifted; dropping three objects from Git prunes
/// exactly those three.
#[test]
fn a_large_app_syncs_with_a_small_status_and_prunes_by_its_inventory() {
    let mut env = Env::start();
    env.agent(&["--poll-interval", "2"]);
    let repo = Repo::init(&env.path("repo"));
    let all: Vec<usize> = (0..BIG).collect();
    write_configmaps(&repo, "big", "cm", &all);
    // Dots in names are legal and must survive the inventory.
    repo.write("big/dotted.yaml", &configmap("settings.v1.canary", "x"));
    let first = repo.commit("2,500 ConfigMaps");
    env.apply_yaml(&app_yaml("big", &repo.url(), "big", "big", AUTO_PRUNE, ""));

    let app = env.wait_app(
        "big",
        "2,501 objects Synced and Healthy",
        Duration::from_secs(300),
        |a| {
            a["status"]["sync"]["revision"] == first
                && sync(a) == "Synced"
                && health(a) == "Healthy"
        },
    );
    let total = BIG + 1;
    assert_eq!(app["status"]["inventory"]["count"], total);
    assert_eq!(inventory_names(&app).len(), total);
    assert!(inventory_names(&app).contains("settings.v1.canary"));
    let counts = &app["status"]["resourceCounts"];
    assert_eq!(counts["total"], total, "{counts}");
    assert_eq!(counts["fine"], total, "{counts}");
    assert!(
        app["status"]["resources"].is_null(),
        "no detail when all is fine"
    );
    let op = &app["status"]["operationState"];
    assert_eq!(op["results"].as_array().unwrap().len(), 100, "{op}");
    assert_eq!(op["resultsOmitted"], total - 100);
    let changes = app["status"]["history"][0]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 21, "20 lines and a count: {changes:?}");
    assert_eq!(
        changes[20],
        format!("… and {} more", total - 20),
        "{changes:?}"
    );
    let bytes = status_bytes(&app);
    assert!(bytes < 64 * 1024, "status is {bytes} bytes");
    assert_eq!(labelled(&env, "big", "big").len(), total);

    // `tether app get`: counts, and no table of 2,501 fine objects.
    let get = env.run_tether(&["app", "get", "big", "-n", "tether"]);
    assert_eq!(get.code, 0, "{get:?}");
    assert!(
        get.stdout
            .contains(&format!("{total} ({total} synced and healthy)")),
        "{get:?}"
    );
    assert!(
        get.stdout
            .contains(&format!("… and {} more object(s)", total - 100)),
        "{get:?}"
    );
    assert!(get.stdout.lines().count() < 150, "{get:?}");

    // One object drifts: it alone gets detail, and `get` says so.
    env.kubectl_ok(&[
        "patch",
        "configmap",
        "cm-00042",
        "-n",
        "big",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"value":"edited"}}"#,
    ]);
    let app = env.wait_app("big", "the drift seen", Duration::from_secs(30), |a| {
        sync(a) == "OutOfSync"
    });
    let detail = app["status"]["resources"].as_array().unwrap();
    assert_eq!(detail.len(), 1, "{detail:?}");
    assert_eq!(detail[0]["name"], "cm-00042");
    assert_eq!(detail[0]["drift"]["fields"][0]["live"], "\"edited\"");
    let get = env.run_tether(&["app", "get", "big", "-n", "tether"]);
    assert!(
        get.stdout.contains(&format!(
            "{total} ({} synced and healthy; 1 need attention, listed below)",
            total - 1
        )),
        "{get:?}"
    );
    assert!(get.stdout.contains("cm-00042"), "{get:?}");

    // 150 more drift at once (another manager's server-side apply): detail
    // stops at 100, the counts say how many more, and each drift is audited
    // once, not again at every reconcile.
    let edited: Vec<String> = (1_000..1_150)
        .map(|i| configmap(&format!("cm-{i:05}"), "bulk-edit"))
        .collect();
    std::fs::write(env.path("bulk.yaml"), edited.join("---\n")).unwrap();
    let bulk = env.path("bulk.yaml");
    env.kubectl_ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=bulk-editor",
        "-n",
        "big",
        "-f",
        bulk.to_str().unwrap(),
    ]);
    let app = env.wait_app("big", "151 drifted", Duration::from_secs(30), |a| {
        a["status"]["resourceCounts"]["outOfSync"] == 151
    });
    assert_eq!(app["status"]["resources"].as_array().unwrap().len(), 100);
    assert_eq!(app["status"]["resourceCounts"]["notListed"], 51);
    let get = env.run_tether(&["app", "get", "big", "-n", "tether"]);
    assert!(
        get.stdout.contains(&format!(
            "{total} ({} synced and healthy; 151 need attention, 100 listed below, 51 more not shown",
            total - 151
        )),
        "{get:?}"
    );
    std::thread::sleep(Duration::from_secs(5)); // two polls and more
    let drifts = env.audit(&["--app", "big", "--kind", "drift"]);
    assert_eq!(drifts.len(), 151, "each drift audited once: {drifts:?}");
    // The editor puts Git's values back (it still co-owns the field, so a
    // sync would otherwise meet a conflict): the drift clears.
    let restored: Vec<String> = (1_000..1_150)
        .map(|i| configmap(&format!("cm-{i:05}"), &format!("v{i}")))
        .collect();
    std::fs::write(&bulk, restored.join("---\n")).unwrap();
    env.kubectl_ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=bulk-editor",
        "-n",
        "big",
        "-f",
        bulk.to_str().unwrap(),
    ]);
    env.wait_app(
        "big",
        "only cm-00042 drifted",
        Duration::from_secs(30),
        |a| a["status"]["resourceCounts"]["outOfSync"] == 1,
    );

    // Git drops three objects (one the drifted one): exactly those are pruned.
    let dropped = [7usize, 42, 2_400];
    let kept: Vec<usize> = all
        .iter()
        .copied()
        .filter(|i| !dropped.contains(i))
        .collect();
    for f in std::fs::read_dir(repo.path.join("big")).unwrap() {
        let p = f.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("cm-") {
            std::fs::remove_file(p).unwrap();
        }
    }
    write_configmaps(&repo, "big", "cm", &kept);
    let second = repo.commit("Drop three ConfigMaps");
    let app = env.wait_app("big", "the three pruned", Duration::from_secs(120), |a| {
        a["status"]["sync"]["revision"] == second && sync(a) == "Synced"
    });
    let live = labelled(&env, "big", "big");
    assert_eq!(live.len(), total - 3);
    for i in dropped {
        assert!(!live.contains(&format!("cm-{i:05}")), "cm-{i:05} pruned");
    }
    assert!(live.contains("cm-00008") && live.contains("settings.v1.canary"));
    assert_eq!(app["status"]["inventory"]["count"], total - 3);
    let last = app["status"]["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        last["summary"].as_str().unwrap().contains("3 pruned"),
        "{last}"
    );
}

/// An agent started with `--max-objects-per-app 50`: an app rendering 60
/// fails with TooManyObjects, applies none of the new objects and prunes none
/// of its old ones, while its neighbour syncs a new commit.
#[test]
fn an_app_over_the_object_limit_fails_alone_and_applies_nothing() {
    let mut env = Env::start();
    env.agent(&["--max-objects-per-app", "50"]);
    let repo = Repo::init(&env.path("repo"));
    write_configmaps(&repo, "huge", "cm", &(0..40).collect::<Vec<_>>());
    repo.write("small/a.yaml", &configmap("a", "1"));
    let first = repo.commit("40 and 1");
    env.apply_yaml(&app_yaml(
        "huge",
        &repo.url(),
        "huge",
        "huge",
        AUTO_PRUNE,
        "",
    ));
    env.apply_yaml(&app_yaml(
        "small",
        &repo.url(),
        "small",
        "small",
        AUTO_PRUNE,
        "",
    ));
    env.wait_synced_healthy("huge");
    env.wait_synced_healthy("small");
    assert_eq!(labelled(&env, "huge", "huge").len(), 40);

    // Over the limit (and 39 of the 40 renamed, which a sync would prune).
    write_configmaps(&repo, "huge", "cm", &(39..99).collect::<Vec<_>>());
    repo.write("small/a.yaml", &configmap("a", "2"));
    let second = repo.commit("60, and a change next door");
    let app = env.wait_app("huge", "TooManyObjects", Duration::from_secs(30), |a| {
        condition(a, "Ready")["reason"] == "TooManyObjects"
    });
    let ready = condition(&app, "Ready");
    assert_eq!(ready["status"], "False");
    let message = ready["message"].as_str().unwrap();
    for part in [
        "60 objects",
        "limit of 50",
        "--max-objects-per-app",
        "nothing was applied or pruned",
        &second[..8],
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    assert_eq!(condition(&app, "Stalled")["status"], "True");
    assert_eq!(
        app["status"]["operationState"]["revision"], first,
        "no sync of the new commit started"
    );

    // The neighbour syncs its new commit meanwhile.
    let small = env.wait_app("small", "the new commit", Duration::from_secs(30), |a| {
        a["status"]["sync"]["revision"] == second && sync(a) == "Synced"
    });
    assert_eq!(health(&small), "Healthy");
    assert_eq!(
        env.get("configmap", "small", "a").unwrap()["data"]["value"],
        "2"
    );
    // Nothing of the bad commit applied, nothing of the old one pruned.
    std::thread::sleep(Duration::from_secs(2));
    let live = labelled(&env, "huge", "huge");
    let want: BTreeSet<String> = (0..40).map(|i| format!("cm-{i:05}")).collect();
    assert_eq!(live, want);
    let app = env.app("huge");
    assert_eq!(app["status"]["inventory"]["count"], 40);
    let log = env.agent_log();
    assert!(!log.contains("panicked"), "{log}");
}

/// An Application whose status was written by the previous version (every
/// object in `status.resources`, no `inventory`) still prunes what Git drops
/// after the upgrade, and is rewritten in the compact form.
#[test]
fn a_status_in_the_old_form_still_prunes_after_an_upgrade() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.path("repo"));
    write_configmaps(&repo, "old", "cm", &(0..5).collect::<Vec<_>>());
    let first = repo.commit("five");
    env.apply_yaml(&app_yaml("old", &repo.url(), "old", "old", AUTO_PRUNE, ""));
    env.wait_synced_healthy("old");
    env.stop_agent();

    // What the previous version wrote, as it wrote it (server-side apply of
    // the whole status as `tether-agent`): every object in `resources`, no
    // compact inventory.
    let mut status = env.app("old")["status"].clone();
    let fields = status.as_object_mut().unwrap();
    fields.remove("inventory");
    fields.remove("resourceCounts");
    fields.insert(
        "resources".into(),
        (0..5)
            .map(|i| {
                serde_json::json!({"group": "", "version": "v1", "kind": "ConfigMap",
                    "namespace": "old", "name": format!("cm-{i:05}"), "status": "Synced",
                    "health": {"status": "Healthy"}})
            })
            .collect(),
    );
    let body = serde_json::json!({"apiVersion": "tether.dev/v1alpha1", "kind": "Application",
        "metadata": {"name": "old", "namespace": "tether"}, "status": status});
    std::fs::write(env.path("old-status.json"), body.to_string()).unwrap();
    let file = env.path("old-status.json");
    env.kubectl_ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=tether-agent",
        "--subresource=status",
        "-f",
        file.to_str().unwrap(),
    ]);
    let app = env.app("old");
    assert!(app["status"]["inventory"].is_null(), "{}", app["status"]);
    assert_eq!(app["status"]["sync"]["revision"], first);

    repo.remove("old/cm-000.yaml");
    write_configmaps(&repo, "old", "cm", &[0, 1, 2]);
    let second = repo.commit("drop two");
    env.restart_agent(&[]);
    let app = env.wait_app("old", "two pruned", Duration::from_secs(30), |a| {
        a["status"]["sync"]["revision"] == second && sync(a) == "Synced"
    });
    let live = labelled(&env, "old", "old");
    let want: BTreeSet<String> = (0..3).map(|i| format!("cm-{i:05}")).collect();
    assert_eq!(live, want);
    assert_eq!(inventory_names(&app), want);
    assert!(app["status"]["resources"].is_null(), "{}", app["status"]);
}
