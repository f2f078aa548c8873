//! The HTTP API end to end: the real binary as sandbox and agent (`--listen`),
//! real Git repositories, tokens made with `tether token`, requests over HTTP
//! with curl. One shared fixture: one sandbox, one agent, one app that really
//! syncs, and 200 Applications the agent does not reconcile (another
//! namespace) whose statuses are set by hand, so every list filter has known
//! answers.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

struct Http {
    base: String,
}

struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

impl Http {
    /// `curl` with the given extra arguments; the status is the last line.
    fn call(&self, method: &str, path: &str, token: Option<&str>, extra: &[&str]) -> Reply {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-s",
            "-S",
            "-X",
            method,
            "-w",
            "\n%{http_code}",
            "--max-time",
            "30",
        ]);
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        cmd.args(extra).arg(format!("{}{path}", self.base));
        let out = cmd.output().expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        Reply {
            status: status.trim().parse().unwrap_or(0),
            body: body.to_string(),
        }
    }

    fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, Some(token), &[])
    }

    fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.call(
            "POST",
            path,
            Some(token),
            &[
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                &body.to_string(),
            ],
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
    assert!(out.stderr.contains("cannot be shown again"), "{out:?}");
    out.stdout.trim().to_string()
}

fn secret(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\nstringData:\n  password: {value}\n"
    )
}

/// 200 Applications in `fleet` (not reconciled: the agent watches `tether`),
/// with statuses set through the status subresource.
fn seed_fleet(env: &Env) {
    let mut docs = String::new();
    for i in 0..200 {
        let env_label = if i % 5 == 0 { "prod" } else { "dev" };
        docs.push_str(&format!(
            "---\napiVersion: tether.dev/v1alpha1\nkind: Application\nmetadata:\n  name: svc-{i:03}\n  namespace: fleet\n  labels: {{env: {env_label}, team: t{}}}\nspec:\n  source:\n    repoURL: https://git.example.com/org/repo-{}.git\n    path: apps/svc-{i:03}\n  destination:\n    namespace: svc\n",
            i % 3,
            i % 2
        ));
    }
    let _ = env.kubectl(&["create", "namespace", "fleet"]);
    env.apply_yaml(&docs);
    let chunks: Vec<Vec<usize>> = (0..200)
        .collect::<Vec<_>>()
        .chunks(25)
        .map(|c| c.to_vec())
        .collect();
    std::thread::scope(|s| {
        for chunk in chunks {
            s.spawn(move || {
                for i in chunk {
                    let sync = ["Synced", "OutOfSync", "Unknown"][i % 3];
                    let health = ["Healthy", "Degraded"][i % 2];
                    let mut status = json!({"sync": {"status": sync, "revision": "abc"}, "health": {"status": health}});
                    if i % 10 == 0 {
                        status["resources"] = json!([{"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "svc", "name": format!("svc-{i:03}"), "status": "OutOfSync", "drift": {"manager": "kubectl-scale", "fields": [{"path": "spec.replicas", "git": "1", "live": "3"}]}}]);
                    }
                    let patch = json!({"status": status}).to_string();
                    let out = env.kubectl(&[
                        "patch", "applications.tether.dev", &format!("svc-{i:03}"), "-n", "fleet",
                        "--subresource=status", "--type=merge", "-p", &patch,
                    ]);
                    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                }
            });
        }
    });
}

fn keys(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["namespace"].as_str().unwrap(),
                r["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn list_total(http: &Http, token: &str, query: &str) -> u64 {
    let r = http.get(
        &format!("/api/v1/applications?namespace=fleet&{query}"),
        token,
    );
    assert_eq!(r.status, 200, "{query}: {}", r.body);
    r.json()["metadata"]["total"].as_u64().expect("total")
}

#[test]
fn the_api_end_to_end() {
    let mut env = Env::start();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    env.agent(&["--listen", &listen, "--watch-namespace", "tether"]);
    let http = Http {
        base: format!("http://{listen}"),
    };
    eventually("the API answers", Duration::from_secs(20), || {
        (http.call("GET", "/readyz", None, &[]).status == 200).then_some(())
    });

    // Tokens, made as a user makes them.
    let admin = token(&env, "ci", "admin");
    let viewer = token(&env, "viewer", "readonly");
    let doomed = token(&env, "doomed", "admin");
    let again = env.run_tether(&["token", "create", "ci", "--role", "admin"]);
    assert_eq!(again.code, 2, "{again:?}");
    let listed = env.run_tether(&["token", "list", "-o", "json"]);
    assert_eq!(listed.code, 0, "{listed:?}");
    let rows: Value = serde_json::from_str(&listed.stdout).expect("json");
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert!(!listed.stdout.contains("sha256") && !listed.stdout.contains(&admin));
    let table = env.run_tether(&["token", "list"]);
    assert!(
        table.stdout.contains("viewer") && table.stdout.contains("readonly"),
        "{table:?}"
    );
    assert!(!table.stdout.contains(&admin[..20]));

    // No token, a bad token, a malformed header: 401 with the JSON error.
    let none = http.call("GET", "/api/v1/applications", None, &[]);
    assert_eq!(none.status, 401, "{}", none.body);
    assert_eq!(none.json()["code"], "Unauthenticated");
    assert_eq!(http.get("/api/v1/applications", "tether_nope").status, 401);
    let basic = http.call(
        "GET",
        "/api/v1/applications",
        None,
        &["-H", "Authorization: Basic YTpi"],
    );
    assert_eq!(basic.status, 401);
    eventually("tokens are loaded", Duration::from_secs(5), || {
        (http.get("/api/v1/version", &admin).status == 200).then_some(())
    });

    // A real app: a Deployment, a Secret, a ConfigMap in Git.
    let repo = Repo::init(&env.path("repo"));
    repo.write("web/deploy.yaml", &deployment("web", "nginx:1.25", 1));
    repo.write("web/secret.yaml", &secret("creds", "hunter2-first"));
    repo.write("web/cm.yaml", &configmap("settings", "one"));
    let first = repo.commit("first");
    env.apply_yaml(&app_yaml("web", &repo.url(), "web", "web", AUTO_PRUNE, ""));
    env.wait_synced_healthy("web");

    seed_fleet(&env);
    eventually("the cache holds the fleet", Duration::from_secs(20), || {
        (list_total(&http, &viewer, "health=Degraded") == 100).then_some(())
    });

    // ---- list: every filter, counted on the server ----
    assert_eq!(list_total(&http, &viewer, ""), 200);
    assert_eq!(list_total(&http, &viewer, "sync=OutOfSync"), 67);
    assert_eq!(list_total(&http, &viewer, "sync=OutOfSync,Unknown"), 133);
    assert_eq!(
        list_total(&http, &viewer, "health=Healthy&health=Degraded"),
        200
    );
    assert_eq!(list_total(&http, &viewer, "sync=Synced&health=Healthy"), 34);
    assert_eq!(list_total(&http, &viewer, "label=env%3Dprod"), 40);
    assert_eq!(
        list_total(&http, &viewer, "label=team%20in%20(t0,t1),env!%3Dprod"),
        107
    );
    assert_eq!(list_total(&http, &viewer, "q=SVC-01"), 10);
    assert_eq!(
        list_total(&http, &viewer, "repo=https://git.example.com/org/repo-1"),
        100
    );
    assert_eq!(list_total(&http, &viewer, "drift=true"), 20);
    assert_eq!(list_total(&http, &viewer, "cluster=in-cluster"), 200);
    assert_eq!(list_total(&http, &admin, "name=svc-007"), 1);
    let all = http.get("/api/v1/applications?limit=1000", &viewer).json();
    assert_eq!(all["metadata"]["total"], 201, "the fleet and web");
    let web_only = http
        .get("/api/v1/applications?namespace=tether", &viewer)
        .json();
    assert_eq!(keys(&web_only), vec!["tether/web"]);
    let row = &web_only["items"][0];
    assert_eq!(row["sync"], "Synced");
    assert_eq!(row["revision"], first);
    assert_eq!(row["commit"]["message"], "first");
    assert!(row["commit"]["author"].as_str().unwrap().contains("Ada"));
    let counts = http
        .get(
            "/api/v1/applications?namespace=fleet&health=Degraded",
            &viewer,
        )
        .json()["counts"]
        .clone();
    assert_eq!(counts["health"]["Degraded"], 100);
    assert_eq!(
        counts["sync"]["Synced"].as_u64().unwrap()
            + counts["sync"]["OutOfSync"].as_u64().unwrap()
            + counts["sync"]["Unknown"].as_u64().unwrap(),
        100
    );

    // Pages: disjoint, complete, in order, for two sorts.
    for sort in ["name", "-health"] {
        let mut seen = Vec::new();
        let mut next: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/api/v1/applications?namespace=fleet&sort={sort}&limit=30");
            if let Some(t) = &next {
                path.push_str(&format!("&continue={t}"));
            }
            let page = http.get(&path, &viewer).json();
            assert_eq!(page["metadata"]["total"], 200);
            seen.extend(keys(&page));
            pages += 1;
            match page["metadata"]["continue"].as_str() {
                Some(t) => next = Some(t.to_string()),
                None => break,
            }
        }
        assert_eq!(pages, 7, "{sort}");
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), 200, "{sort}: pages overlap or miss");
        assert_eq!(seen.len(), 200, "{sort}");
    }

    // Bad query values: 400 saying what is accepted.
    for (query, hint) in [
        ("sync=Green", "OutOfSync"),
        ("health=fine", "Degraded"),
        ("limit=0", "1 to 1000"),
        ("limit=abc", "1 to 1000"),
        ("sort=colour", "lastSync"),
        ("drift=maybe", "drift=true"),
        ("label=a%20in%20(b", "selector"),
        ("continue=%%%", "continue token"),
        ("bogus=1", "accepts"),
    ] {
        let r = http.get(&format!("/api/v1/applications?{query}"), &viewer);
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        let e = r.json();
        assert_eq!(e["code"], "BadRequest");
        assert!(
            e["message"].as_str().unwrap().contains(hint),
            "{query}: {e}"
        );
    }

    // ---- one app, its tree and its managed resources ----
    let app = http.get("/api/v1/applications/tether/web", &viewer).json();
    assert_eq!(app["metadata"]["name"], "web");
    assert_eq!(app["status"]["sync"]["status"], "Synced");
    let missing = http.get("/api/v1/applications/tether/nope", &viewer);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["object"], "tether/nope");

    let tree = eventually(
        "the tree shows the Deployment's Pods",
        Duration::from_secs(20),
        || {
            let tree = http
                .get("/api/v1/applications/tether/web/resource-tree", &viewer)
                .json();
            let nodes = tree["nodes"].as_array().cloned().unwrap_or_default();
            let pod = nodes
                .iter()
                .any(|n| n["kind"] == "Pod" && n["parentRefs"][0]["kind"] == "ReplicaSet");
            pod.then_some(tree)
        },
    );
    let nodes = tree["nodes"].as_array().unwrap();
    let rs = nodes
        .iter()
        .find(|n| n["kind"] == "ReplicaSet")
        .expect("a ReplicaSet");
    assert_eq!(rs["parentRefs"][0]["kind"], "Deployment");
    assert_eq!(rs["managed"], false);
    let deploy = nodes.iter().find(|n| n["kind"] == "Deployment").unwrap();
    assert_eq!(
        (deploy["managed"].clone(), deploy["sync"].clone()),
        (json!(true), json!("Synced"))
    );
    let pod = nodes.iter().find(|n| n["kind"] == "Pod").unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();

    let managed = http.get("/api/v1/applications/tether/web/managed-resources", &viewer);
    assert_eq!(managed.status, 200, "{}", managed.body);
    assert!(
        !managed.body.contains("hunter2"),
        "a Secret value leaked: {}",
        managed.body
    );
    assert!(
        !managed.body.contains(&b64("hunter2-first")),
        "a Secret value leaked"
    );
    let managed = managed.json();
    let sec = managed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "Secret")
        .expect("the Secret");
    assert_eq!(sec["live"]["data"]["password"], "<redacted>");
    assert_eq!(sec["desired"]["stringData"]["password"], "<redacted>");
    assert_eq!(sec["action"], "unchanged");

    // Logs of the app's Pod; another Pod is refused.
    let logs = http.get(
        &format!("/api/v1/applications/tether/web/logs?pod={pod}&tailLines=5"),
        &viewer,
    );
    assert_eq!(logs.status, 200, "{}", logs.body);
    assert!(!logs.body.is_empty());
    let foreign = http.get("/api/v1/applications/tether/web/logs?pod=not-ours", &viewer);
    assert_eq!(foreign.status, 404, "{}", foreign.body);
    assert_eq!(
        http.get("/api/v1/applications/tether/web/logs", &viewer)
            .status,
        400
    );
    assert_eq!(
        http.get(
            "/api/v1/applications/tether/web/logs?pod=x&tailLines=-1",
            &viewer
        )
        .status,
        400
    );

    let events = http.get("/api/v1/applications/tether/web/events", &viewer);
    assert_eq!(events.status, 200, "{}", events.body);
    assert!(
        !events.json()["items"].as_array().unwrap().is_empty(),
        "{}",
        events.body
    );

    // ---- a readonly token may not act ----
    let denied = http.post("/api/v1/applications/tether/web/sync", &viewer, &json!({}));
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert_eq!(denied.json()["code"], "Forbidden");
    assert_eq!(
        http.get("/api/v1/applications/tether/web?refresh=normal", &viewer)
            .status,
        403
    );

    // ---- sync through the API reaches the cluster and names the token ----
    repo.write("web/cm.yaml", &configmap("settings", "two"));
    let second = repo.commit("second");
    let dry = http.post(
        "/api/v1/applications/tether/web/sync",
        &admin,
        &json!({"dryRun": true}),
    );
    assert_eq!(dry.status, 200, "{}", dry.body);
    let accepted = http.post(
        "/api/v1/applications/tether/web/sync",
        &admin,
        &json!({"prune": true}),
    );
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    assert_eq!(accepted.json()["initiator"], "token:ci");
    eventually(
        "the sync applied the second commit",
        Duration::from_secs(30),
        || {
            let cm = env.get("configmap", "web", "settings")?;
            (cm["data"]["value"] == "two").then_some(())
        },
    );
    let app = env.wait_app(
        "web",
        "the API sync in history",
        Duration::from_secs(30),
        |a| {
            a["status"]["history"].as_array().is_some_and(|h| {
                h.iter()
                    .any(|e| e["revision"] == second && e["initiator"] == "token:ci")
            })
        },
    );
    let history = http
        .get("/api/v1/applications/tether/web/history", &viewer)
        .json();
    let first_id = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["revision"] == first)
        .expect("first in history")["id"]
        .clone();
    drop(app);

    // ---- the Notifiers that apply to the app ----
    // The agent installed the CRD; two Notifiers, only one of which takes `web` in.
    env.apply_yaml(
        "apiVersion: tether.dev/v1alpha1\nkind: Notifier\nmetadata:\n  name: web-alerts\n  namespace: tether\nspec:\n  type: slack\n  address: http://127.0.0.1:9/hook\n  apps: [\"we*\"]\n---\napiVersion: tether.dev/v1alpha1\nkind: Notifier\nmetadata:\n  name: others\n  namespace: tether\nspec:\n  type: webhook\n  address: http://127.0.0.1:9/hook\n  apps: [\"other-*\"]\n",
    );
    let notifiers = http
        .get("/api/v1/applications/tether/web/notifiers", &viewer)
        .json();
    let names: Vec<&str> = notifiers["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(names, ["web-alerts"], "{notifiers}");
    assert_eq!(notifiers["items"][0]["target"], "slack");
    assert!(
        !notifiers.to_string().contains("127.0.0.1:9"),
        "addresses are never shown: {notifiers}"
    );

    // ---- rollback through the API ----
    // A dry run first: what going back would change, nothing applied.
    let dry = http.post(
        "/api/v1/applications/tether/web/rollback",
        &admin,
        &json!({"id": first_id, "dryRun": true}),
    );
    assert_eq!(dry.status, 200, "{}", dry.body);
    let dry = dry.json();
    assert_eq!(dry["revision"], first);
    assert!(
        dry["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "settings" && c["action"] == "update"),
        "{dry}"
    );
    assert_eq!(
        env.get("configmap", "web", "settings").unwrap()["data"]["value"],
        "two"
    );
    let rolled = http.post(
        "/api/v1/applications/tether/web/rollback",
        &admin,
        &json!({"id": first_id}),
    );
    assert_eq!(rolled.status, 202, "{}", rolled.body);
    assert_eq!(rolled.json()["revision"], first);
    eventually(
        "the rollback reached the cluster",
        Duration::from_secs(30),
        || {
            let cm = env.get("configmap", "web", "settings")?;
            (cm["data"]["value"] == "one").then_some(())
        },
    );
    let bad_id = http.post(
        "/api/v1/applications/tether/web/rollback",
        &admin,
        &json!({"id": 999}),
    );
    assert_eq!(bad_id.status, 400, "{}", bad_id.body);

    // The audit log names the token, readable through the API.
    let audit = eventually(
        "the audit log names the token",
        Duration::from_secs(20),
        || {
            let r = http
                .get(
                    "/api/v1/applications/tether/web/audit?actor=token:*",
                    &viewer,
                )
                .json();
            let items = r["items"].as_array().cloned().unwrap_or_default();
            let requests = items.iter().filter(|i| i["kind"] == "api-request").count();
            let syncs = items
                .iter()
                .filter(|i| i["kind"] == "sync" || i["kind"] == "rollback")
                .count();
            (requests >= 2 && syncs >= 1).then_some(items)
        },
    );
    assert!(audit.iter().all(|i| i["actor"] == "token:ci"), "{audit:?}");
    assert_eq!(
        http.get("/api/v1/applications/tether/web/audit?kind=nope", &viewer)
            .status,
        400
    );
    assert_eq!(
        http.get(
            "/api/v1/applications/tether/web/audit?since=yesterday-ish",
            &viewer
        )
        .status,
        400
    );

    // ---- bad bodies, methods and routes ----
    let sync_path = "/api/v1/applications/tether/web/sync";
    let malformed = http.call(
        "POST",
        sync_path,
        Some(&admin),
        &[
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "{not json",
        ],
    );
    assert_eq!(
        (malformed.status, malformed.json()["code"].clone()),
        (400, json!("BadRequest")),
        "{}",
        malformed.body
    );
    let wrong_field = http.post(sync_path, &admin, &json!({"prnue": true}));
    assert_eq!(wrong_field.status, 400, "{}", wrong_field.body);
    let form = http.call(
        "POST",
        sync_path,
        Some(&admin),
        &[
            "-H",
            "Content-Type: application/x-www-form-urlencoded",
            "--data-binary",
            "a=b",
        ],
    );
    assert_eq!(form.status, 415, "{}", form.body);
    let big = format!("{{\"revision\": \"{}\"}}", "x".repeat(200_000));
    let big_path = env.path("big.json");
    std::fs::write(&big_path, big).unwrap();
    let oversized = http.call(
        "POST",
        sync_path,
        Some(&admin),
        &[
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &format!("@{}", big_path.display()),
        ],
    );
    assert_eq!(oversized.status, 413, "{}", oversized.body);
    let selected = http.post(
        sync_path,
        &admin,
        &json!({"resources": [{"kind": "ConfigMap", "name": "settings"}]}),
    );
    // An object the app has not (a ConfigMap named so, but in no namespace): 400, named.
    assert_eq!(selected.status, 400, "{}", selected.body);
    assert!(
        selected.json()["message"]
            .as_str()
            .unwrap()
            .contains("ConfigMap settings"),
        "{}",
        selected.body
    );
    let other_rev = http.post(sync_path, &admin, &json!({"revision": "v9"}));
    assert_eq!(other_rev.status, 501, "{}", other_rev.body);
    let unknown = http.get("/api/v1/nothing-here", &admin);
    assert_eq!(
        (unknown.status, unknown.json()["code"].clone()),
        (404, json!("NotFound"))
    );
    let wrong_method = http.call("PUT", sync_path, Some(&admin), &[]);
    assert_eq!(wrong_method.status, 405, "{}", wrong_method.body);
    assert_eq!(
        http.get("/api/v1/applications/tether/web?refresh=soft", &admin)
            .status,
        400
    );
    assert_eq!(
        http.call(
            "DELETE",
            "/api/v1/applications/tether/web?cascade=perhaps",
            Some(&admin),
            &[]
        )
        .status,
        400
    );

    // The OpenAPI document is served and lists the routes.
    assert_eq!(
        http.call("GET", "/api/v1/openapi.json", None, &[]).status,
        401
    );
    let doc = http.get("/api/v1/openapi.json", &viewer).json();
    assert!(doc["paths"]["/api/v1/applications/{ns}/{name}/sync"]["post"].is_object());

    // ---- delete without cascade keeps the objects ----
    let deleted = http.call(
        "DELETE",
        "/api/v1/applications/tether/web?cascade=false",
        Some(&admin),
        &[],
    );
    assert_eq!(deleted.status, 202, "{}", deleted.body);
    eventually("the app is gone", Duration::from_secs(30), || {
        env.app_in("tether", "web").is_none().then_some(())
    });
    assert!(
        env.exists("configmap", "web", "settings"),
        "cascade=false kept the objects"
    );

    // ---- a revoked token stops working within 5 s ----
    assert_eq!(http.get("/api/v1/version", &doomed).status, 200);
    let revoked = env.run_tether(&["token", "revoke", "doomed"]);
    assert_eq!(revoked.code, 0, "{revoked:?}");
    let t0 = std::time::Instant::now();
    eventually(
        "the revoked token is refused",
        Duration::from_secs(5),
        || (http.get("/api/v1/version", &doomed).status == 401).then_some(()),
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(env.run_tether(&["token", "revoke", "doomed"]).code, 2);
}

fn b64(text: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = text.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
