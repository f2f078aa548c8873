//! The GitOps engine end to end: real Git repositories, the real `tether
//! agent` against the sandbox, Applications created with kubectl as a user
//! would, and the cluster checked with kubectl.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn image_of(env: &Env, ns: &str, name: &str) -> String {
    env.get("deployment", ns, name).expect("deployment")["spec"]["template"]["spec"]["containers"]
        [0]["image"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn history(app: &Value) -> Vec<Value> {
    app["status"]["history"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Proof 1 and 2: a plain directory syncs and is healthy, its history names the
/// commit's author and message; a new commit is applied at the next poll, and
/// at once with `tether app sync`.
#[test]
fn plain_directory_syncs_then_follows_new_commits() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("app/web.yaml", &deployment("web", "nginx:1.0", 2));
    repo.write("app/config.yaml", &configmap("settings", "a"));
    let first = repo.commit("Add web\n\nFirst deployment of web.");
    env.apply_yaml(&app_yaml("web", &repo.url(), "app", "web", AUTO_PRUNE, ""));

    let app = env.wait_synced_healthy("web");
    assert_eq!(app["status"]["sync"]["revision"], first);
    let h = history(&app);
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0]["revision"], first);
    assert_eq!(h[0]["commit"]["author"], "Ada Lovelace <ada@example.com>");
    assert!(
        h[0]["commit"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Add web"),
        "{h:?}"
    );
    assert_eq!(h[0]["initiator"], "auto");
    assert_eq!(h[0]["result"], "Succeeded");
    assert_eq!(image_of(&env, "web", "web"), "nginx:1.0");
    let cm = env
        .get("configmap", "web", "settings")
        .expect("configmap applied");
    assert_eq!(cm["metadata"]["labels"]["tether.dev/app"], "tether.web");
    let fields = env.kubectl_ok(&[
        "get",
        "configmap",
        "settings",
        "-n",
        "web",
        "--show-managed-fields",
        "-o",
        "json",
    ]);
    let fields: Value = serde_json::from_str(&fields).unwrap();
    assert_eq!(
        fields["metadata"]["managedFields"][0]["manager"], "tether/tether.web",
        "server-side applied by tether, as the app's own field manager"
    );
    let ready = condition(&app, "Ready");
    assert_eq!(ready["status"], "True", "{ready}");
    // The compact inventory names both; per-object detail is only for
    // objects that need attention, and both are fine.
    assert_eq!(app["status"]["inventory"]["count"], 2, "{}", app["status"]);
    assert_eq!(app["status"]["resourceCounts"]["fine"], 2);
    assert!(app["status"]["resources"].is_null(), "{}", app["status"]);

    // A new image reaches the cluster within a poll interval (1 s here).
    repo.write("app/web.yaml", &deployment("web", "nginx:1.1", 2));
    let second = repo.commit("Bump web to 1.1");
    let app = env.wait_app(
        "web",
        "second revision synced",
        Duration::from_secs(15),
        |a| {
            a["status"]["sync"]["revision"] == second
                && sync(a) == "Synced"
                && health(a) == "Healthy"
        },
    );
    assert_eq!(image_of(&env, "web", "web"), "nginx:1.1");
    let h = history(&app);
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(h[1]["revision"], second);
    assert!(
        h[1]["summary"].as_str().unwrap().contains("1 configured"),
        "{h:?}"
    );

    // An explicit refresh applies a commit at once, well before a slow poll.
    env.stop_agent();
    env.agent(&["--poll-interval", "3600"]);
    repo.write("app/web.yaml", &deployment("web", "nginx:1.2", 2));
    let third = repo.commit("Bump web to 1.2");
    let started = Instant::now();
    let out = env.tether(&["app", "sync", "web", "--timeout", "30s"]);
    assert!(
        out.status.success(),
        "app sync: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(image_of(&env, "web", "web"), "nginx:1.2");
    let app = env.app("web");
    let h = history(&app);
    assert_eq!(h.last().unwrap()["revision"], third);
    assert!(
        h.last().unwrap()["initiator"]
            .as_str()
            .unwrap()
            .starts_with("user:"),
        "{h:?}"
    );
}

/// Proof 3: a Kustomize overlay (a base with two overlays) and a Helm chart
/// (values file plus an inline override) sync, and what is live equals what
/// `kubectl kustomize` and `helm template` produce.
#[test]
fn kustomize_and_helm_apps_match_their_tools() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write(
        "kustomize/base/kustomization.yaml",
        "resources: [deployment.yaml, configmap.yaml]\nlabels:\n  - pairs: {tier: web}\n",
    );
    repo.write(
        "kustomize/base/deployment.yaml",
        &deployment("guestbook", "guestbook:1.0", 1),
    );
    repo.write(
        "kustomize/base/configmap.yaml",
        &configmap("guestbook-config", "base"),
    );
    repo.write(
        "kustomize/overlays/dev/kustomization.yaml",
        "namePrefix: dev-\nresources: [../../base]\nimages:\n  - name: guestbook\n    newTag: \"2.0\"\n",
    );
    repo.write(
        "kustomize/overlays/prod/kustomization.yaml",
        "namePrefix: prod-\nresources: [../../base]\nreplicas:\n  - name: guestbook\n    count: 4\n",
    );
    repo.write(
        "chart/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    repo.write(
        "chart/values.yaml",
        "replicas: 1\nimage: nginx:1.0\ncolour: blue\n",
    );
    repo.write("chart/values-prod.yaml", "replicas: 3\n");
    repo.write(
        "chart/templates/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n  labels: {colour: {{ .Values.colour }}}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels: {app: {{ .Release.Name }}}\n  template:\n    metadata:\n      labels: {app: {{ .Release.Name }}}\n    spec:\n      containers:\n        - name: web\n          image: {{ .Values.image }}\n",
    );
    repo.commit("Kustomize and Helm");
    env.apply_yaml(&app_yaml(
        "kdev",
        &repo.url(),
        "kustomize/overlays/dev",
        "kdev",
        AUTO_PRUNE,
        "",
    ));
    env.apply_yaml(&app_yaml(
        "kprod",
        &repo.url(),
        "kustomize/overlays/prod",
        "kprod",
        AUTO_PRUNE,
        "",
    ));
    env.apply_yaml(&app_yaml(
        "helm",
        &repo.url(),
        "chart",
        "helm",
        AUTO_PRUNE,
        "    helm:\n      releaseName: shop\n      valueFiles: [values-prod.yaml]\n      values: |\n        colour: green\n",
    ));
    for app in ["kdev", "kprod", "helm"] {
        env.wait_synced_healthy(app);
    }

    // What kubectl kustomize makes is what is live (every field it sets).
    for (overlay, ns) in [("dev", "kdev"), ("prod", "kprod")] {
        let out = Command::new("kubectl")
            .args(["kustomize"])
            .arg(repo.path.join(format!("kustomize/overlays/{overlay}")))
            .output()
            .expect("kubectl kustomize");
        assert!(out.status.success());
        let docs = yaml_docs(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(docs.len(), 2);
        for doc in docs {
            let kind = doc["kind"].as_str().unwrap().to_lowercase();
            let name = doc["metadata"]["name"].as_str().unwrap();
            let live = env
                .get(&kind, ns, name)
                .unwrap_or_else(|| panic!("{kind} {ns}/{name} not live"));
            assert_subset(&doc, &live, &format!("{kind}/{name}"));
        }
    }
    assert_eq!(image_of(&env, "kdev", "dev-guestbook"), "guestbook:2.0");
    assert_eq!(
        env.get("deployment", "kprod", "prod-guestbook").unwrap()["spec"]["replicas"],
        4
    );

    // What helm template makes is what is live.
    let values = env.dir.path().join("inline.yaml");
    std::fs::write(&values, "colour: green\n").unwrap();
    let out = Command::new("helm")
        .args(["template", "shop"])
        .arg(repo.path.join("chart"))
        .args(["--namespace", "helm", "--values"])
        .arg(repo.path.join("chart/values-prod.yaml"))
        .arg("--values")
        .arg(&values)
        .output()
        .expect("helm template (make tools installs helm)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = yaml_docs(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(docs.len(), 1);
    let live = env
        .get("deployment", "helm", "shop")
        .expect("helm deployment");
    assert_subset(&docs[0], &live, "deployment/shop");
    assert_eq!(live["spec"]["replicas"], 3);
    assert_eq!(live["metadata"]["labels"]["colour"], "green");
}

/// Proof 4: a Jsonnet app with top-level arguments syncs.
#[test]
fn jsonnet_app_with_tlas_syncs() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("lib/names.libsonnet", "{ prefix(p, n):: p + '-' + n }\n");
    repo.write(
        "jsonnet/main.jsonnet",
        "local names = import 'names.libsonnet';\nfunction(env, replicas=1) [\n  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.prefix(env, 'settings') }, data: { env: env, replicas: std.toString(replicas) } },\n]\n",
    );
    repo.commit("Jsonnet");
    env.apply_yaml(&app_yaml(
        "js",
        &repo.url(),
        "jsonnet",
        "js",
        AUTO_PRUNE,
        "    jsonnet:\n      libs: [lib]\n      tlas:\n        - {name: env, value: staging}\n        - {name: replicas, value: \"3\", code: true}\n",
    ));
    env.wait_synced_healthy("js");
    let cm = env
        .get("configmap", "js", "staging-settings")
        .expect("rendered by jsonnet");
    assert_eq!(cm["data"]["env"], "staging");
    assert_eq!(cm["data"]["replicas"], "3");
}

/// Proof 5: a file removed from Git is pruned when prune is on; without prune
/// the app is OutOfSync and lists the extra object.
#[test]
fn removed_files_are_pruned_only_with_prune() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    for dir in ["a", "b"] {
        repo.write(&format!("{dir}/one.yaml"), &configmap("one", "1"));
        repo.write(&format!("{dir}/two.yaml"), &configmap("two", "2"));
    }
    repo.commit("two configmaps each");
    env.apply_yaml(&app_yaml(
        "pruning",
        &repo.url(),
        "a",
        "pruning",
        AUTO_PRUNE,
        "",
    ));
    env.apply_yaml(&app_yaml(
        "keeping",
        &repo.url(),
        "b",
        "keeping",
        AUTO_NO_PRUNE,
        "",
    ));
    env.wait_synced_healthy("pruning");
    env.wait_synced_healthy("keeping");
    // Someone else's object in the same namespace is never touched.
    env.kubectl_ok(&[
        "create",
        "configmap",
        "bystander",
        "-n",
        "pruning",
        "--from-literal=x=y",
    ]);

    repo.remove("a/two.yaml");
    repo.remove("b/two.yaml");
    let rev = repo.commit("drop two");
    env.wait_app("pruning", "two pruned", Duration::from_secs(15), |a| {
        a["status"]["sync"]["revision"] == rev && sync(a) == "Synced"
    });
    assert!(
        env.get("configmap", "pruning", "two").is_none(),
        "two was pruned"
    );
    assert!(env.get("configmap", "pruning", "one").is_some());
    assert!(
        env.get("configmap", "pruning", "bystander").is_some(),
        "not ours: kept"
    );
    let app = env.app("pruning");
    let last = history(&app).last().cloned().unwrap();
    assert!(
        last["summary"].as_str().unwrap().contains("1 pruned"),
        "{last}"
    );

    let app = env.wait_app(
        "keeping",
        "OutOfSync with the extra object",
        Duration::from_secs(15),
        |a| a["status"]["sync"]["revision"] == rev && sync(a) == "OutOfSync",
    );
    assert!(
        env.get("configmap", "keeping", "two").is_some(),
        "not pruned without prune"
    );
    let extra = app["status"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "two")
        .cloned()
        .expect("two listed in resources");
    assert_eq!(extra["status"], "OutOfSync");
    assert_eq!(extra["requiresPruning"], true);
    let msg = condition(&app, "Ready")["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(msg.contains("ConfigMap keeping/two"), "{msg}");
}

/// Proof 6: invalid YAML is reported with file and line; nothing is applied
/// or pruned, the last good objects stay; fixing the commit recovers.
#[test]
fn invalid_yaml_is_reported_and_changes_nothing() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("app/one.yaml", &configmap("one", "1"));
    repo.write("app/two.yaml", &configmap("two", "2"));
    repo.commit("good");
    env.apply_yaml(&app_yaml("bad", &repo.url(), "app", "bad", AUTO_PRUNE, ""));
    env.wait_synced_healthy("bad");

    repo.remove("app/two.yaml");
    repo.write(
        "app/one.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\ndata:\n  value: [unclosed\n",
    );
    let broken = repo.commit("broken");
    let app = env.wait_app("bad", "render error shown", Duration::from_secs(15), |a| {
        condition(a, "Stalled")["status"] == "True"
    });
    let msg = condition(&app, "Ready")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("one.yaml"), "names the file: {msg}");
    assert!(
        msg.contains("line") || msg.contains(":6"),
        "names the line: {msg}"
    );
    assert!(msg.contains(&broken[..8]), "names the commit: {msg}");
    assert_eq!(condition(&app, "Ready")["reason"], "RenderFailed");
    assert_eq!(sync(&app), "Unknown");
    // Nothing pruned, nothing changed.
    assert_eq!(
        env.get("configmap", "bad", "one").unwrap()["data"]["value"],
        "1"
    );
    assert!(
        env.get("configmap", "bad", "two").is_some(),
        "two not pruned by a broken render"
    );

    repo.write("app/one.yaml", &configmap("one", "fixed"));
    let fixed = repo.commit("fix");
    env.wait_app("bad", "recovered", Duration::from_secs(15), |a| {
        a["status"]["sync"]["revision"] == fixed
            && sync(a) == "Synced"
            && condition(a, "Ready")["status"] == "True"
    });
    assert_eq!(
        env.get("configmap", "bad", "one").unwrap()["data"]["value"],
        "fixed"
    );
    assert!(
        env.get("configmap", "bad", "two").is_none(),
        "pruned once the render is good"
    );
}

/// Proof 7: an empty render with prune on deletes nothing and says why.
#[test]
fn empty_render_prunes_nothing() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("app/one.yaml", &configmap("one", "1"));
    repo.commit("one");
    env.apply_yaml(&app_yaml(
        "empty",
        &repo.url(),
        "app",
        "empty",
        AUTO_PRUNE,
        "",
    ));
    env.wait_synced_healthy("empty");
    repo.remove("app/one.yaml");
    repo.write("app/README.md", "nothing here\n");
    let rev = repo.commit("empty the dir");
    let app = env.wait_app("empty", "prune refused", Duration::from_secs(15), |a| {
        a["status"]["sync"]["revision"] == rev && condition(a, "Ready")["reason"] == "PruneBlocked"
    });
    assert!(
        env.get("configmap", "empty", "one").is_some(),
        "nothing deleted"
    );
    let msg = condition(&app, "Ready")["message"].as_str().unwrap();
    assert!(
        msg.contains("no objects") && msg.contains("allowEmpty"),
        "{msg}"
    );
}

/// Proof 8: a workload that never becomes ready turns Degraded, with the reason.
#[test]
fn failing_rollout_is_degraded_with_the_reason() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("app/web.yaml", &deployment("web", "nginx:fail", 1));
    repo.commit("a broken image");
    env.apply_yaml(&app_yaml(
        "broken",
        &repo.url(),
        "app",
        "broken",
        AUTO_PRUNE,
        "",
    ));
    let app = env.wait_app("broken", "Degraded", Duration::from_secs(30), |a| {
        health(a) == "Degraded"
    });
    let msg = app["status"]["health"]["message"].as_str().unwrap();
    assert!(
        msg.contains("Deployment") && msg.contains("web"),
        "names the object: {msg}"
    );
    assert!(
        msg.contains("ProgressDeadlineExceeded") || msg.contains("progress"),
        "gives the reason: {msg}"
    );
    assert_eq!(sync(&app), "Synced", "applied fine; just unhealthy");
    assert_eq!(condition(&app, "Stalled")["status"], "True");
}

/// Errors in Source: a missing revision and a missing path are reported on the
/// app and touch nothing.
#[test]
fn missing_revision_and_path_are_clear_errors() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("app/one.yaml", &configmap("one", "1"));
    repo.commit("one");
    env.apply_yaml(&app_yaml(
        "norev",
        &repo.url(),
        "app",
        "norev",
        AUTO_PRUNE,
        "    revision: no-such-branch",
    ));
    env.apply_yaml(&app_yaml(
        "nopath",
        &repo.url(),
        "nowhere",
        "nopath",
        AUTO_PRUNE,
        "",
    ));
    env.apply_yaml(&app_yaml(
        "norepo",
        "file:///does/not/exist",
        "app",
        "norepo",
        AUTO_PRUNE,
        "",
    ));
    let app = env.wait_app("norev", "revision error", Duration::from_secs(15), |a| {
        condition(a, "Stalled")["status"] == "True"
    });
    assert_eq!(condition(&app, "Ready")["reason"], "RevisionNotFound");
    assert!(
        condition(&app, "Ready")["message"]
            .as_str()
            .unwrap()
            .contains("no-such-branch")
    );
    let app = env.wait_app("nopath", "path error", Duration::from_secs(15), |a| {
        condition(a, "Stalled")["status"] == "True"
    });
    assert!(
        condition(&app, "Ready")["message"]
            .as_str()
            .unwrap()
            .contains("nowhere"),
        "{app}"
    );
    let app = env.wait_app("norepo", "repo error", Duration::from_secs(15), |a| {
        condition(a, "Stalled")["status"] == "True"
    });
    assert_eq!(condition(&app, "Ready")["reason"], "SourceUnreachable");
    assert!(
        condition(&app, "Ready")["message"]
            .as_str()
            .unwrap()
            .contains("/does/not/exist")
    );
}

/// Sync waves and CRDs: a CRD and an object of its kind in one commit; the
/// CRD goes first and is Established before the custom object is applied.
#[test]
fn crd_and_custom_object_in_one_commit() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write(
        "app/crd.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {plural: widgets, singular: widget, kind: Widget}\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n          x-kubernetes-preserve-unknown-fields: true\n",
    );
    repo.write(
        "app/widget.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n",
    );
    repo.write(
        "app/late.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late\n  annotations: {tether.dev/sync-wave: \"5\"}\ndata: {a: b}\n",
    );
    repo.commit("crd + widget");
    env.apply_yaml(&app_yaml(
        "crds",
        &repo.url(),
        "app",
        "crds",
        AUTO_PRUNE,
        "",
    ));
    let app = env.wait_synced_healthy("crds");
    assert!(env.get("widgets.example.com", "crds", "w1").is_some());
    let results = app["status"]["operationState"]["results"]
        .as_array()
        .unwrap();
    let order: Vec<&str> = results
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        ["CustomResourceDefinition", "Widget", "ConfigMap"],
        "apply order"
    );
    assert_eq!(results[2]["wave"], 5);
}

/// Every field `expected` sets has the same value live.
fn assert_subset(expected: &Value, live: &Value, at: &str) {
    match (expected, live) {
        (Value::Object(e), Value::Object(l)) => {
            for (k, v) in e {
                let lv = l.get(k).unwrap_or_else(|| panic!("{at}.{k} missing live"));
                assert_subset(v, lv, &format!("{at}.{k}"));
            }
        }
        (Value::Array(e), Value::Array(l)) => {
            assert_eq!(e.len(), l.len(), "{at}: list length");
            for (i, (ev, lv)) in e.iter().zip(l).enumerate() {
                assert_subset(ev, lv, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(expected, live, "{at}"),
    }
}

fn yaml_docs(text: &str) -> Vec<Value> {
    text.split("\n---")
        .filter_map(|doc| {
            let v: Value = serde_saphyr::from_str(doc).ok()?;
            if v.is_object() { Some(v) } else { None }
        })
        .collect()
}

/// An object the API server rejects is reported on the app and on that
/// object; the rest of its wave is still applied.
#[test]
fn a_rejected_object_is_reported_and_the_rest_applied() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("app/good.yaml", &configmap("good", "1"));
    repo.write(
        "app/bad.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\nspec:\n  replicas: three\n  selector: {matchLabels: {app: bad}}\n  template:\n    metadata: {labels: {app: bad}}\n    spec: {containers: [{name: c, image: nginx}]}\n",
    );
    repo.commit("one good, one bad");
    env.apply_yaml(&app_yaml(
        "partial",
        &repo.url(),
        "app",
        "partial",
        AUTO_PRUNE,
        "",
    ));
    let app = env.wait_app("partial", "sync failed", Duration::from_secs(15), |a| {
        a["status"]["operationState"]["phase"] == "Failed"
    });
    assert!(
        env.get("configmap", "partial", "good").is_some(),
        "the good object was applied"
    );
    let op = &app["status"]["operationState"];
    let bad = op["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "bad")
        .cloned()
        .unwrap();
    assert_eq!(bad["status"], "SyncFailed");
    assert!(
        bad["message"].as_str().unwrap().contains("replicas"),
        "names the field: {bad}"
    );
    let res = app["status"]["resources"].as_array().unwrap();
    let bad_res = res.iter().find(|r| r["name"] == "bad").unwrap();
    assert_eq!(bad_res["status"], "OutOfSync");
    assert_eq!(condition(&app, "Ready")["reason"], "SyncFailed");
    assert!(
        op["message"]
            .as_str()
            .unwrap()
            .contains("Deployment.apps partial/bad"),
        "{op}"
    );
}

/// A suspended app is left alone and says so.
#[test]
fn suspended_app_is_not_synced() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("app/one.yaml", &configmap("one", "1"));
    repo.commit("one");
    let yaml = app_yaml("paused", &repo.url(), "app", "paused", AUTO_PRUNE, "")
        .replace("spec:\n", "spec:\n  suspend: true\n");
    env.apply_yaml(&yaml);
    let app = env.wait_app("paused", "suspended", Duration::from_secs(15), |a| {
        condition(a, "Ready")["reason"] == "Suspended"
    });
    assert!(app["status"]["history"].is_null());
    assert!(
        env.get("configmap", "paused", "one").is_none(),
        "nothing applied while suspended"
    );
}

/// The durable audit log: syncs with their commits and initiators, each
/// object created, changed or pruned, and errors, queried with `tether audit`.
#[test]
fn audit_log_answers_who_changed_what_and_through_which_commit() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("app/web.yaml", &deployment("web", "nginx:1.0", 1));
    repo.write("app/extra.yaml", &configmap("extra", "1"));
    let first = repo.commit("Add web");
    env.apply_yaml(&app_yaml("web", &repo.url(), "app", "web", AUTO_PRUNE, ""));
    env.wait_synced_healthy("web");
    repo.write("app/web.yaml", &deployment("web", "nginx:1.1", 1));
    repo.remove("app/extra.yaml");
    let second = repo.commit("Bump web, drop extra");
    env.wait_app("web", "second sync", Duration::from_secs(15), |a| {
        a["status"]["sync"]["revision"] == second && sync(a) == "Synced"
    });
    repo.write("app/web.yaml", "kind: [broken\n");
    repo.commit("Break it");
    env.wait_app("web", "render error", Duration::from_secs(15), |a| {
        condition(a, "Stalled")["status"] == "True"
    });

    let state = env.dir.path().join("agent-state");
    let audit = |args: &[&str]| {
        let out = Command::new(common::BIN)
            .arg("audit")
            .arg("--state-dir")
            .arg(&state)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let records: Vec<Value> =
        serde_json::from_str(&audit(&["--app", "web", "--since", "1h", "-o", "json"])).unwrap();
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    let syncs: Vec<&Value> = records.iter().filter(|r| r["kind"] == "sync").collect();
    assert_eq!(syncs.len(), 2, "{kinds:?}");
    assert_eq!(syncs[0]["revision"], first);
    assert_eq!(syncs[0]["commit_author"], "Ada Lovelace <ada@example.com>");
    assert_eq!(syncs[0]["commit_message"], "Add web");
    assert_eq!(syncs[0]["actor"], "auto");
    assert_eq!(syncs[0]["outcome"], "succeeded");
    assert_eq!(syncs[1]["revision"], second);
    let changed: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "object-change" && r["revision"] == second)
        .collect();
    assert_eq!(changed.len(), 1, "{records:?}");
    assert_eq!(changed[0]["object"], "apps/Deployment web/web");
    let pruned: Vec<&Value> = records.iter().filter(|r| r["kind"] == "prune").collect();
    assert_eq!(pruned.len(), 1);
    assert_eq!(pruned[0]["object"], "ConfigMap web/extra");
    let errors: Vec<&Value> = records.iter().filter(|r| r["kind"] == "error").collect();
    assert_eq!(
        errors.len(),
        1,
        "an error is recorded once, not per retry: {errors:?}"
    );
    assert!(errors[0]["message"].as_str().unwrap().contains("web.yaml"));
    // In time order, syncs before the error.
    let first_error = kinds.iter().position(|k| *k == "error").unwrap();
    assert!(kinds[..first_error].contains(&"sync"));

    // "Who changed deployment web, and was it through Git?"
    let table = audit(&["--object", "deployment web"]);
    assert!(
        table.contains("apps/Deployment web/web") && table.contains(&second[..8]),
        "{table}"
    );
    let none = audit(&[
        "--app",
        "web",
        "--since",
        "2000-01-01",
        "--until",
        "2000-01-02",
        "-o",
        "json",
    ]);
    assert_eq!(serde_json::from_str::<Vec<Value>>(&none).unwrap().len(), 0);
}

/// A managed Secret declared with `stringData`: the server merges it into
/// `data` (base64) and never returns `stringData`, and the app still reads as
/// in sync (the plan folds `stringData` into `data` before comparing), with no
/// update applied again at the next reconcile.
#[test]
fn a_secret_declared_with_string_data_reads_in_sync() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write(
        "app/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: hunter2\ndata:\n  user: YWRtaW4=\n",
    );
    repo.commit("Add a secret");
    env.apply_yaml(&app_yaml(
        "vault",
        &repo.url(),
        "app",
        "vault",
        AUTO_PRUNE,
        "",
    ));
    let app = env.wait_synced_healthy("vault");
    let live = env.get("secret", "vault", "creds").expect("secret applied");
    assert!(live.get("stringData").is_none(), "{live}");
    assert_eq!(live["data"]["password"], "aHVudGVyMg==", "{live}");
    assert_eq!(live["data"]["user"], "YWRtaW4=", "{live}");
    let rv = live["metadata"]["resourceVersion"].clone();
    let out = env.tether(&["app", "diff", "vault"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "in sync: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sync(&app), "Synced");
    // Another reconcile changes nothing.
    let out = env.tether(&["app", "sync", "vault", "--timeout", "30s"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = env.get("secret", "vault", "creds").expect("secret");
    assert_eq!(
        again["metadata"]["resourceVersion"], rv,
        "no write: {again}"
    );
}
