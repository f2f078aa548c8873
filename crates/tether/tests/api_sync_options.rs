//! What the dashboard does through the public API, a script can do too: sync
//! selected objects, prune on request, dry runs of exactly that selection, the
//! audit log across apps (who changed what, and whether through Git), and a
//! render error's file and line on the Application's status. The real binary
//! as sandbox and agent (`--listen`), real Git repositories, tokens made with
//! `tether token`.

mod common;
#[path = "support/http.rs"]
mod http;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

struct Api {
    addr: String,
}

impl Api {
    fn get(&self, path: &str, token: &str) -> http::Response {
        let auth = format!("Bearer {token}");
        http::get(&self.addr, path, &[("Authorization", &auth)])
    }

    fn post(&self, path: &str, token: &str, body: &Value) -> http::Response {
        let auth = format!("Bearer {token}");
        let body = body.to_string();
        http::request(
            &self.addr,
            "POST",
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            Some(&body),
        )
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn token(env: &Env, name: &str, role: &str) -> String {
    let out = env.run_tether(&["token", "create", name, "--role", role]);
    assert_eq!(out.code, 0, "{out:?}");
    out.stdout.trim().to_string()
}

fn cm(name: &str) -> Value {
    json!({"group": "", "kind": "ConfigMap", "namespace": "web", "name": name})
}

fn value(env: &Env, name: &str) -> Option<String> {
    env.get("configmap", "web", name)
        .map(|c| c["data"]["value"].as_str().unwrap_or_default().to_string())
}

const SYNC: &str = "/api/v1/applications/tether/web/sync";

#[test]
fn selected_objects_prune_and_dry_runs_through_the_api() {
    let mut env = Env::start();
    let listen = format!("127.0.0.1:{}", free_port());
    env.agent(&["--listen", &listen, "--watch-namespace", "tether"]);
    let api = Api {
        addr: listen.clone(),
    };
    eventually("the API answers", Duration::from_secs(20), || {
        (http::get(&listen, "/readyz", &[]).status == 200).then_some(())
    });
    let admin = token(&env, "ci", "admin");
    let viewer = token(&env, "viewer", "readonly");
    eventually("tokens are loaded", Duration::from_secs(10), || {
        (api.get("/api/v1/version", &admin).status == 200).then_some(())
    });

    // A manual app (no automated policy, so no prune): three ConfigMaps.
    let repo = Repo::init(&env.path("repo"));
    for name in ["a", "b", "old"] {
        repo.write(&format!("web/{name}.yaml"), &configmap(name, "1"));
    }
    repo.commit("first");
    env.apply_yaml(&app_yaml("web", &repo.url(), "web", "web", "", ""));
    eventually("the app is in the API", Duration::from_secs(20), || {
        (api.get("/api/v1/applications/tether/web", &viewer).status == 200).then_some(())
    });
    let r = api.post(SYNC, &admin, &json!({}));
    assert_eq!(r.status, 202, "{}", r.body);
    env.wait_synced_healthy("web");

    // Git moves: a and b change, old is gone.
    repo.write("web/a.yaml", &configmap("a", "2"));
    repo.write("web/b.yaml", &configmap("b", "2"));
    repo.remove("web/old.yaml");
    let second = repo.commit("second");

    // A dry run answers for exactly the selection.
    let dry = api.post(
        SYNC,
        &admin,
        &json!({"dryRun": true, "resources": [cm("a")]}),
    );
    assert_eq!(dry.status, 200, "{}", dry.body);
    let dry = dry.json();
    assert_eq!(dry["revision"], second.as_str());
    let changes: Vec<(Value, Value)> = dry["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].clone(), c["action"].clone()))
        .collect();
    assert_eq!(changes, [(json!("a"), json!("update"))], "{dry}");
    assert_eq!(dry["options"]["resources"][0]["name"], "a");
    let dry = api
        .post(
            SYNC,
            &admin,
            &json!({"dryRun": true, "prune": true, "resources": [cm("old")]}),
        )
        .json();
    assert_eq!(dry["changes"][0]["action"], "prune", "{dry}");
    let dry = api
        .post(SYNC, &admin, &json!({"dryRun": true, "prune": false}))
        .json();
    let old = dry["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "old")
        .expect("old is listed");
    assert_eq!(old["action"], "prune-skipped", "{dry}");

    // Unknown objects: 400, naming each of them; nothing is requested.
    let unknown = api.post(
        SYNC,
        &admin,
        &json!({"resources": [cm("nope"), {"group": "apps", "kind": "Deployment", "namespace": "web", "name": "ghost"}]}),
    );
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    let message = unknown.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("ConfigMap web/nope") && message.contains("Deployment.apps web/ghost"),
        "{message}"
    );
    let no_kind = api.post(SYNC, &admin, &json!({"resources": [{"name": "a"}]}));
    assert_eq!(no_kind.status, 400, "{}", no_kind.body);
    // A readonly token may not, with or without options.
    assert_eq!(
        api.post(SYNC, &viewer, &json!({"resources": [cm("a")]}))
            .status,
        403
    );

    // Sync only a: b keeps its old value, old stays, the app stays OutOfSync.
    let accepted = api.post(SYNC, &admin, &json!({"resources": [cm("a")]}));
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let accepted = accepted.json();
    assert_eq!(accepted["initiator"], "token:ci");
    assert_eq!(accepted["options"]["resources"][0]["name"], "a");
    let app = env.wait_app(
        "web",
        "the partial sync is in history",
        Duration::from_secs(30),
        |a| {
            a["status"]["history"]
                .as_array()
                .and_then(|h| h.last())
                .is_some_and(|e| e["options"]["resources"][0]["name"] == "a")
        },
    );
    let entry = app["status"]["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(entry["initiator"], "token:ci", "{entry}");
    assert_eq!(entry["revision"], second.as_str());
    assert_eq!(entry["result"], "Succeeded", "{entry}");
    assert_eq!(entry["summary"], "1 configured", "{entry}");
    assert_eq!(
        entry["objects"],
        json!([{"group": "", "kind": "ConfigMap", "namespace": "web", "name": "a", "action": "configured", "fields": ["data.value"]}]),
        "{entry}"
    );
    for field in [
        "commit",
        "startedAt",
        "finishedAt",
        "durationMs",
        "initiator",
        "result",
    ] {
        assert!(!entry[field].is_null(), "{field} in {entry}");
    }
    assert_eq!(entry["commit"]["message"], "second", "{entry}");
    assert!(
        entry["message"]
            .as_str()
            .unwrap()
            .contains("only ConfigMap web/a"),
        "{entry}"
    );
    assert_eq!(value(&env, "a").as_deref(), Some("2"));
    assert_eq!(value(&env, "b").as_deref(), Some("1"));
    assert!(env.exists("configmap", "web", "old"));
    assert_eq!(sync(&app), "OutOfSync", "{}", app["status"]);
    // The selected object is Synced; the others are not, and not "drift".
    let tree = api
        .get("/api/v1/applications/tether/web/resource-tree", &viewer)
        .json();
    let node = |name: &str| {
        tree["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {tree}"))
    };
    assert_eq!(node("a")["sync"], "Synced", "{tree}");
    assert_eq!(node("b")["sync"], "OutOfSync", "{tree}");
    assert!(node("b")["drift"].is_null(), "{tree}");

    // Prune on request, although the app's policy does not prune: only old.
    let r = api.post(
        SYNC,
        &admin,
        &json!({"resources": [cm("old")], "prune": true}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    eventually("old is pruned", Duration::from_secs(30), || {
        (!env.exists("configmap", "web", "old")).then_some(())
    });
    let app = env.wait_app(
        "web",
        "the prune in history",
        Duration::from_secs(30),
        |a| {
            a["status"]["history"]
                .as_array()
                .and_then(|h| h.last())
                .is_some_and(|e| e["options"]["prune"] == true)
        },
    );
    let entry = app["status"]["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(entry["summary"], "1 pruned", "{entry}");
    assert_eq!(value(&env, "b").as_deref(), Some("1"));

    // A request the engine cannot follow is answered once with a clear
    // condition, never a panic: a bad annotation written by hand.
    let patch = json!({"metadata": {"annotations": {
        "tether.dev/refresh": "by-hand-1",
        "tether.dev/sync-request": "{not json",
    }}})
    .to_string();
    env.kubectl_ok(&[
        "patch",
        "applications.tether.dev",
        "web",
        "-n",
        "tether",
        "--type=merge",
        "-p",
        &patch,
    ]);
    let app = env.wait_app(
        "web",
        "the bad options are refused",
        Duration::from_secs(30),
        |a| a["status"]["lastHandledRefresh"] == "by-hand-1",
    );
    let stalled = condition(&app, "Stalled");
    assert_eq!(stalled["reason"], "InvalidSyncOptions", "{}", app["status"]);
    assert!(
        stalled["message"]
            .as_str()
            .unwrap()
            .contains("tether.dev/sync-request"),
        "{stalled}"
    );
    assert_eq!(app["status"]["error"]["stage"], "plan", "{}", app["status"]);
    assert_eq!(value(&env, "b").as_deref(), Some("1"), "nothing was synced");

    // The whole app, no prune options: b follows Git; the error clears.
    let r = api.post(SYNC, &admin, &json!({}));
    assert_eq!(r.status, 202, "{}", r.body);
    let app = env.wait_synced_healthy("web");
    assert!(app["status"]["error"].is_null(), "{}", app["status"]);
    assert_eq!(value(&env, "b").as_deref(), Some("2"));

    // ---- the audit log across apps: who, what, and whether through Git ----
    let page = api.get("/api/v1/audit?app=tether/web&kind=sync", &viewer);
    assert_eq!(page.status, 200, "{}", page.body);
    let page = page.json();
    let items = page["items"].as_array().unwrap().clone();
    assert!(items.len() >= 4, "{page}");
    let times: Vec<&str> = items.iter().map(|i| i["time"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    let partial = items
        .iter()
        .find(|i| i["details"]["partial"] == true && i["details"]["resources"][0]["name"] == "a")
        .expect("the sync of a alone");
    assert_eq!(partial["actor"], "token:ci");
    assert_eq!(partial["via"], "git");
    assert_eq!(partial["revision"], second.as_str());
    assert_eq!(partial["details"]["resources"][0]["name"], "a");
    let pruned = items
        .iter()
        .find(|i| i["details"]["prune"] == true)
        .expect("the pruning sync");
    assert_eq!(pruned["actor"], "token:ci");
    // Who changed ConfigMap a, through Git, and the request behind it.
    let changes = api
        .get(
            "/api/v1/audit?app=web&object=configmap%20web/a&kind=object-change",
            &viewer,
        )
        .json();
    let latest = &changes["items"][0];
    assert_eq!(latest["actor"], "token:ci", "{changes}");
    assert_eq!(latest["via"], "git");
    assert_eq!(latest["commit_message"], "second");
    let requests = api
        .get("/api/v1/audit?kind=api-request&actor=token:*", &viewer)
        .json();
    assert!(
        requests["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["via"] == "api"),
        "{requests}"
    );
    // Paging: one at a time, each page older than the last, never repeating.
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..100 {
        let path = match &next {
            Some(c) => format!("/api/v1/audit?app=tether/web&kind=sync&limit=1&continue={c}"),
            None => "/api/v1/audit?app=tether/web&kind=sync&limit=1".to_string(),
        };
        let p = api.get(&path, &viewer).json();
        seen.extend(
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_i64().unwrap()),
        );
        match p["metadata"]["continue"].as_str() {
            Some(c) => next = Some(c.to_string()),
            None => break,
        }
    }
    let all: Vec<i64> = items.iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert_eq!(seen, all);
    for (query, hint) in [
        ("continue=%%%", "continue token"),
        ("kind=nap", "kind"),
        ("limit=0", "1 to 10000"),
        ("app=a/b/c", "NS/NAME"),
        ("bogus=1", "bogus"),
    ] {
        let r = api.get(&format!("/api/v1/audit?{query}"), &viewer);
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert!(r.body.contains(hint), "{query}: {}", r.body);
    }

    // ---- a render error names the file and line on the status ----
    repo.write(
        "web/broken.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: [1, 2\n",
    );
    let broken = repo.commit("broken");
    assert_eq!(api.post(SYNC, &admin, &json!({})).status, 202);
    let app = eventually(
        "the render error is on the status",
        Duration::from_secs(30),
        || {
            let app = api.get("/api/v1/applications/tether/web", &viewer).json();
            (app["status"]["error"]["revision"] == broken.as_str()).then_some(app)
        },
    );
    let error = &app["status"]["error"];
    assert_eq!(error["stage"], "render", "{error}");
    assert_eq!(error["file"], "web/broken.yaml", "{error}");
    assert!(error["line"].as_u64().is_some_and(|l| l >= 5), "{error}");
    assert!(error["column"].as_u64().is_some(), "{error}");
    assert_eq!(
        condition(&app, "Stalled")["reason"],
        error["reason"],
        "{}",
        app["status"]
    );

    // A Helm template error: the template, relative to the repository, and its line.
    repo.write(
        "chart/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    repo.write(
        "chart/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name \n",
    );
    let chart = repo.commit("a broken chart");
    env.apply_yaml(&app_yaml("chart", &repo.url(), "chart", "chart", "", ""));
    eventually(
        "the chart app is in the API",
        Duration::from_secs(20),
        || (api.get("/api/v1/applications/tether/chart", &viewer).status == 200).then_some(()),
    );
    assert_eq!(
        api.post("/api/v1/applications/tether/chart/sync", &admin, &json!({}))
            .status,
        202
    );
    let app = eventually(
        "the Helm error is on the status",
        Duration::from_secs(60),
        || {
            let app = api.get("/api/v1/applications/tether/chart", &viewer).json();
            (app["status"]["error"]["revision"] == chart.as_str()).then_some(app)
        },
    );
    let error = &app["status"]["error"];
    assert_eq!(error["stage"], "render", "{error}");
    assert_eq!(error["file"], "chart/templates/cm.yaml", "{error}");
    // Helm names where the unclosed action ends (the end of the file, line 5).
    assert!(
        error["line"].as_u64().is_some_and(|l| (4..=5).contains(&l)),
        "{error}"
    );
}

/// The tree's drift forensics: which field, its values in Git and live, who
/// changed it and when, and whether self-heal put it back (and when); the
/// audit log across apps says the change came from the cluster, the heal
/// through Git.
#[test]
fn the_tree_says_who_drifted_and_whether_self_heal_put_it_back() {
    let mut env = Env::start();
    let listen = format!("127.0.0.1:{}", free_port());
    env.agent(&[
        "--listen",
        &listen,
        "--watch-namespace",
        "tether",
        "--poll-interval",
        "3600",
    ]);
    let api = Api {
        addr: listen.clone(),
    };
    eventually("the API answers", Duration::from_secs(20), || {
        (http::get(&listen, "/readyz", &[]).status == 200).then_some(())
    });
    let viewer = token(&env, "viewer", "readonly");
    eventually("tokens are loaded", Duration::from_secs(10), || {
        (api.get("/api/v1/version", &viewer).status == 200).then_some(())
    });
    let repo = Repo::init(&env.path("repo"));
    repo.write("heal/web.yaml", &deployment("web", "nginx:1.25", 3));
    repo.write("watch/web.yaml", &deployment("web", "nginx:1.25", 3));
    repo.commit("first");
    env.apply_yaml(&app_yaml(
        "healing",
        &repo.url(),
        "heal",
        "healing",
        "    automated: {prune: true, selfHeal: true}",
        "",
    ));
    env.apply_yaml(&app_yaml(
        "watching",
        &repo.url(),
        "watch",
        "watching",
        AUTO_PRUNE,
        "",
    ));
    env.wait_synced_healthy("healing");
    env.wait_synced_healthy("watching");

    env.kubectl_ok(&["scale", "deployment/web", "-n", "watching", "--replicas=2"]);
    env.kubectl_ok(&["scale", "deployment/web", "-n", "healing", "--replicas=2"]);
    let node = |app: &str| {
        let tree = api
            .get(
                &format!("/api/v1/applications/tether/{app}/resource-tree"),
                &viewer,
            )
            .json();
        tree["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["kind"] == "Deployment")
            .cloned()
            .unwrap_or_else(|| panic!("a Deployment in {tree}"))
    };

    // Not healed: the drift now, with who and when.
    let drifted = eventually("the drift is in the tree", Duration::from_secs(20), || {
        let n = node("watching");
        n["drift"].is_object().then_some(n)
    });
    let drift = &drifted["drift"];
    assert_eq!(drift["healed"], false, "{drift}");
    assert!(
        drift["manager"].as_str().unwrap().starts_with("kubectl"),
        "{drift}"
    );
    assert_eq!(drift["fields"][0]["path"], "spec.replicas", "{drift}");
    assert_eq!(
        (
            drift["fields"][0]["git"].clone(),
            drift["fields"][0]["live"].clone()
        ),
        (json!("3"), json!("2")),
        "{drift}"
    );
    assert!(drift["time"].is_string(), "{drift}");
    assert!(drift["detectedAt"].is_string(), "{drift}");
    assert!(drifted["healedDrift"].is_null());

    // Healed: no drift now, and what it was, when and by whom it was put back.
    let healed = eventually("the heal is in the tree", Duration::from_secs(20), || {
        let n = node("healing");
        (n["healedDrift"]["healed"] == true).then_some(n)
    });
    assert!(healed["drift"].is_null(), "{healed}");
    let h = &healed["healedDrift"];
    assert!(h["manager"].as_str().unwrap().starts_with("kubectl"), "{h}");
    assert_eq!(h["fields"][0]["path"], "spec.replicas", "{h}");
    assert_eq!(h["healedBy"], "self-heal", "{h}");
    let (detected, healed_at) = (
        h["detectedAt"].as_str().unwrap().to_string(),
        h["healedAt"].as_str().unwrap().to_string(),
    );
    assert!(detected <= healed_at, "{h}");

    // The audit log across apps: the scale came from the cluster (drift), the
    // heal through Git.
    let page = api
        .get("/api/v1/audit?object=deployment%20healing/web", &viewer)
        .json();
    let items = page["items"].as_array().unwrap();
    let drift = items
        .iter()
        .find(|i| i["kind"] == "drift")
        .expect("the drift record");
    assert_eq!(drift["via"], "drift");
    assert!(drift["actor"].as_str().unwrap().starts_with("kubectl"));
    let change = items
        .iter()
        .find(|i| i["kind"] == "object-change" && i["actor"] == "self-heal")
        .expect("the heal's change");
    assert_eq!(change["via"], "git");
    assert!(change["revision"].is_string());
}
