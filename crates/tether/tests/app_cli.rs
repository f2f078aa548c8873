//! `tether app …` and `tether render` as a user runs them: the real binary
//! against a real sandbox, a real agent, and a real Git repository (via the
//! `git` CLI, read over `file://`).
//!
//! Each test starts its own sandbox (and agent when it needs one), uses its
//! own namespaces and names, and polls with deadlines instead of sleeping.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const FINALIZER: &str = "tether.dev/resources-finalizer";

fn yaml_docs(text: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).expect("YAML documents");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn by_kind_and_name(mut v: Vec<Value>) -> Vec<Value> {
    v.sort_by_key(|o| {
        (
            o["kind"].as_str().unwrap_or("").to_string(),
            o["metadata"]["name"].as_str().unwrap_or("").to_string(),
        )
    });
    v
}

#[test]
fn create_list_get_and_delete_without_an_agent() {
    let env = Env::start();
    let url = "https://example.invalid/deploy.git";
    let create = [
        "app",
        "create",
        "web",
        "-n",
        "team-a",
        "--repo",
        url,
        "--path",
        "apps/web",
        "--dest-namespace",
        "web",
        "--auto",
        "--prune",
        "--sync-option",
        "CreateNamespace=true",
    ];
    let o = env.run_tether(&create);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("application team-a/web created"), "{o:?}");

    let o = env.run_tether(&create);
    assert_eq!(o.code, 1, "a duplicate is an error: {o:?}");
    assert!(
        o.stderr.starts_with("error: ") && o.stderr.contains("already exists"),
        "{o:?}"
    );

    let mut upsert = create.to_vec();
    upsert.extend(["--revision", "v2", "--upsert"]);
    let o = env.run_tether(&upsert);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("updated"), "{o:?}");

    let app = env.app_in("team-a", "web").expect("created");
    assert!(
        app["metadata"]["finalizers"]
            .as_array()
            .expect("finalizers")
            .iter()
            .any(|f| f == FINALIZER),
        "{app}"
    );
    let spec = &app["spec"];
    assert_eq!(spec["source"]["repoURL"], url);
    assert_eq!(spec["source"]["path"], "apps/web");
    assert_eq!(
        spec["source"]["revision"], "v2",
        "--upsert changed the spec"
    );
    assert_eq!(spec["destination"]["namespace"], "web");
    assert_eq!(spec["syncPolicy"]["automated"]["prune"], true);
    assert_eq!(
        spec["syncPolicy"]["syncOptions"],
        json!(["CreateNamespace=true"])
    );

    // From a manifest, with tool options.
    let file = env.path("api.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: tether.dev/v1alpha1\nkind: Application\nmetadata:\n  name: api\nspec:\n  source:\n    repoURL: {url}\n    path: charts/api\n    helm:\n      releaseName: api-prod\n"
        ),
    )
    .expect("write");
    let o = env.run_tether(&[
        "app",
        "create",
        "-n",
        "team-a",
        "-f",
        file.to_str().expect("utf8"),
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let api = env.app_in("team-a", "api").expect("created from the file");
    assert_eq!(api["spec"]["source"]["helm"]["releaseName"], "api-prod");
    assert!(
        api["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f == FINALIZER))
    );

    let o = env.run_tether(&["app", "list", "-n", "team-a", "-o", "json"]);
    assert_eq!(o.code, 0, "{o:?}");
    let list: Value = serde_json::from_str(&o.stdout).expect("json");
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["api", "web"]);

    let o = env.run_tether(&["app", "list", "-n", "team-a"]);
    assert_eq!(o.code, 0, "{o:?}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    for column in ["NAME", "SYNC", "HEALTH", "REVISION", "AGE", "MESSAGE"] {
        assert!(lines[0].contains(column), "{o:?}");
    }
    let web = lines
        .iter()
        .find(|l| l.starts_with("web "))
        .expect("a row for web");
    assert!(
        web.contains("Unknown") && web.contains("agent"),
        "no status yet: {web}"
    );

    let o = env.run_tether(&["app", "list", "-A", "-o", "name"]);
    assert_eq!(o.stdout, "team-a/api\nteam-a/web\n", "{o:?}");
    let o = env.run_tether(&["app", "list", "-n", "elsewhere"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, ""), "{o:?}");

    let o = env.run_tether(&["app", "get", "web", "-n", "team-a", "-o", "yaml"]);
    assert_eq!(o.code, 0, "{o:?}");
    let got = &yaml_docs(&o.stdout)[0];
    assert_eq!(got["kind"], "Application");
    assert_eq!(got["metadata"]["name"], "web");
    assert_eq!(got["spec"]["source"]["repoURL"], url);
    assert!(
        got["metadata"].get("managedFields").is_none(),
        "managedFields are left out"
    );

    let o = env.run_tether(&["app", "get", "team-a/web"]);
    assert_eq!(o.code, 0, "{o:?}");
    for text in [
        "Name:",
        "team-a/web",
        url,
        "apps/web",
        "Auto (Prune)",
        "CreateNamespace=true",
        "Sync Status:",
        "No status yet",
    ] {
        assert!(o.stdout.contains(text), "`app get` lacks {text:?}: {o:?}");
    }

    let o = env.run_tether(&["app", "get", "nope", "-n", "team-a"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("team-a/nope not found"), "{o:?}");

    // Usage errors are clap's: exit 2.
    let o = env.run_tether(&["app", "create", "x", "--repo", url, "--prune"]);
    assert_eq!(o.code, 2, "--prune needs --auto: {o:?}");

    // Nobody handles a sync request without an agent: a timeout that says so.
    let o = env.run_tether(&["app", "sync", "web", "-n", "team-a", "--timeout", "1s"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.contains("timed out") && o.stderr.contains("agent"),
        "{o:?}"
    );
    let app = env.app_in("team-a", "web").expect("still there");
    assert_eq!(
        app["metadata"]["annotations"]["tether.dev/refresh-by"],
        "user:tester"
    );
    assert!(
        app["metadata"]["annotations"]["tether.dev/refresh"]
            .as_str()
            .is_some_and(|v| v.contains('T'))
    );

    // Without cascade no agent is needed: the finalizer goes first.
    let o = env.run_tether(&[
        "app",
        "delete",
        "api",
        "-n",
        "team-a",
        "--cascade=false",
        "--wait",
        "--timeout",
        "20s",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(env.app_in("team-a", "api").is_none(), "deleted");
}

#[test]
fn render_prints_plain_and_kustomize_directories() {
    let dir = tempfile::tempdir().expect("tmp");
    let repo = Repo::init(&dir.path().join("repo"));
    repo.write("plain/config.yaml", &configmap("settings", "hello"));
    repo.write("plain/web.yaml", &deployment("web", "nginx:1.27", 1));
    repo.write(
        "overlay/kustomization.yaml",
        "resources:\n- config.yaml\nnamePrefix: prod-\nlabels:\n- pairs:\n    env: prod\n",
    );
    repo.write("overlay/config.yaml", &configmap("settings", "hello"));
    repo.write(
        "broken/bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n",
    );
    repo.commit("manifests");
    let render = |args: &[&str]| {
        Out::from(
            Command::new(BIN)
                .arg("render")
                .args(args)
                .env("TETHER_LOG", "warn")
                .output()
                .expect("tether render runs"),
        )
    };
    let plain = repo.path.join("plain");
    let plain = plain.to_str().expect("utf8");

    let expected = by_kind_and_name(vec![
        serde_saphyr::from_str(&configmap("settings", "hello")).expect("yaml"),
        serde_saphyr::from_str(&deployment("web", "nginx:1.27", 1)).expect("yaml"),
    ]);
    let o = render(&[plain]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stdout.contains("\n---\n"),
        "documents are separated by ---: {o:?}"
    );
    assert_eq!(by_kind_and_name(yaml_docs(&o.stdout)), expected, "{o:?}");

    let o = render(&[plain, "-o", "json"]);
    assert_eq!(o.code, 0, "{o:?}");
    let list: Vec<Value> = serde_json::from_str(&o.stdout).expect("a JSON list");
    assert_eq!(by_kind_and_name(list), expected);

    let overlay = repo.path.join("overlay");
    let o = render(&[overlay.to_str().expect("utf8")]);
    assert_eq!(o.code, 0, "{o:?}");
    let docs = yaml_docs(&o.stdout);
    assert_eq!(
        docs,
        vec![json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"labels": {"env": "prod"}, "name": "prod-settings"},
            "data": {"value": "hello"},
        })],
        "{o:?}"
    );

    let broken = repo.path.join("broken");
    let o = render(&[broken.to_str().expect("utf8")]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.starts_with("error: ") && o.stderr.contains("bad.yaml"),
        "{o:?}"
    );

    let o = render(&[dir.path().join("missing").to_str().expect("utf8")]);
    assert_eq!(o.code, 1, "{o:?}");
}

#[test]
fn auto_sync_reaches_healthy_records_history_and_diff_shows_drift() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.path("repo"));
    repo.write("web/deployment.yaml", &deployment("web", "nginx:1.27", 1));
    repo.write("web/config.yaml", &configmap("web-config", "hello"));
    let commit = repo.commit("Add the web app\n\nWith a config map.");
    let o = env.run_tether(&[
        "app",
        "create",
        "shop",
        "-n",
        "t-auto",
        "--repo",
        &repo.url(),
        "--path",
        "web",
        "--dest-namespace",
        "shop",
        "--auto",
        "--sync-option",
        "CreateNamespace=true",
    ]);
    assert_eq!(o.code, 0, "{o:?}");

    let o = env.run_tether(&["app", "wait", "shop", "-n", "t-auto", "--timeout", "90s"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stdout.contains("synced and healthy") && o.stdout.contains(&commit[..8]),
        "{o:?}"
    );
    assert!(env.exists("deployment", "shop", "web"));

    let o = env.run_tether(&["app", "history", "shop", "-n", "t-auto", "-o", "json"]);
    assert_eq!(o.code, 0, "{o:?}");
    let history: Vec<Value> = serde_json::from_str(&o.stdout).expect("json");
    let entry = history
        .iter()
        .find(|h| h["revision"] == commit.as_str())
        .expect("an entry for the commit");
    assert!(
        entry["commit"]["author"]
            .as_str()
            .is_some_and(|a| a.contains("Ada Lovelace")),
        "{entry}"
    );
    assert!(
        entry["commit"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Add the web app")),
        "{entry}"
    );
    assert_eq!(entry["result"], "Succeeded");
    assert_eq!(entry["initiator"], "auto");
    // Issue 4: each entry lists the objects changed, and how long it took.
    assert!(
        entry["changes"]
            .as_array()
            .is_some_and(|c| c.iter().any(|l| l == "created Deployment.apps shop/web")),
        "{entry}"
    );
    assert!(entry["durationMs"].is_u64(), "{entry}");
    let o = env.run_tether(&["app", "history", "shop", "-n", "t-auto", "-o", "wide"]);
    assert!(
        o.stdout.contains("#1 changed:\n")
            && o.stdout.contains("\n  created Deployment.apps shop/web\n"),
        "{o:?}"
    );

    let o = env.run_tether(&["app", "history", "shop", "-n", "t-auto"]);
    assert_eq!(o.code, 0, "{o:?}");
    for text in [
        "ID",
        "REVISION",
        "INITIATOR",
        &commit[..8],
        "Ada Lovelace",
        "Add the web app",
        "Succeeded",
    ] {
        assert!(o.stdout.contains(text), "history lacks {text:?}: {o:?}");
    }
    assert!(
        !o.stdout.contains("With a config map"),
        "only the first line: {o:?}"
    );

    let o = env.run_tether(&["app", "get", "shop", "-n", "t-auto"]);
    assert_eq!(o.code, 0, "{o:?}");
    for text in [
        "Synced to",
        "Healthy",
        "Deployment",
        "web-config",
        "Succeeded",
    ] {
        assert!(o.stdout.contains(text), "`app get` lacks {text:?}: {o:?}");
    }

    let o = env.run_tether(&["app", "diff", "shop", "-n", "t-auto"]);
    assert_eq!(o.code, 0, "in sync: {o:?}");
    assert_eq!(o.stdout, "", "{o:?}");

    // Drift on an app without self-heal stays, and diff shows it.
    let o = Out::from(env.kubectl(&["scale", "deployment", "web", "-n", "shop", "--replicas=5"]));
    assert_eq!(o.code, 0, "{o:?}");
    let o = env.run_tether(&["app", "diff", "shop", "-n", "t-auto"]);
    assert_eq!(o.code, 3, "a diff exits 3: {o:?}");
    assert!(
        o.stdout.contains("===== apps/Deployment shop/web ======"),
        "{o:?}"
    );
    assert!(o.stdout.contains("replicas"), "{o:?}");
    assert!(!o.stdout.contains("web-config"), "only what differs: {o:?}");

    let o = env.run_tether(&["app", "diff", "shop", "-n", "t-auto", "-o", "json"]);
    assert_eq!(o.code, 3, "{o:?}");
    let doc: Value = serde_json::from_str(&o.stdout).expect("json");
    assert_eq!(doc["inSync"], false);
    let changes = doc["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "{doc}");
    assert_eq!(changes[0]["kind"], "Deployment");
    assert_eq!(changes[0]["action"], "update");
    assert!(
        changes[0]["fields"]
            .as_array()
            .is_some_and(|f| f.iter().any(|c| c["path"] == "spec.replicas")),
        "{doc}"
    );

    let o = env.run_tether(&["app", "diff", "shop", "-n", "t-auto", "--exit-code=false"]);
    assert_eq!(o.code, 0, "{o:?}");
}

#[test]
fn manual_app_syncs_on_request() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.path("repo"));
    repo.write("web/deployment.yaml", &deployment("web", "nginx:1.27", 1));
    repo.write("web/config.yaml", &configmap("web-config", "hello"));
    repo.commit("Add web");
    let o = env.run_tether(&[
        "app",
        "create",
        "manual",
        "-n",
        "t-manual",
        "--repo",
        &repo.url(),
        "--path",
        "web",
        "--dest-namespace",
        "manual",
        "--sync-option",
        "CreateNamespace=true",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    eventually(
        "the agent to report OutOfSync",
        Duration::from_secs(60),
        || {
            let app = env.app_in("t-manual", "manual")?;
            (app["status"]["sync"]["status"] == "OutOfSync").then_some(())
        },
    );
    assert!(
        !env.exists("deployment", "manual", "web"),
        "a manual app is not synced on its own"
    );

    let o = env.run_tether(&["app", "diff", "manual", "-n", "t-manual"]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stdout.contains("# to create") && o.stdout.contains("apps/Deployment manual/web"),
        "{o:?}"
    );

    let o = env.run_tether(&[
        "app",
        "sync",
        "manual",
        "-n",
        "t-manual",
        "--as",
        "alice",
        "--timeout",
        "90s",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    for text in [
        "Succeeded",
        "user:alice",
        "created",
        "Deployment",
        "web-config",
    ] {
        assert!(o.stdout.contains(text), "sync output lacks {text:?}: {o:?}");
    }
    assert!(env.exists("deployment", "manual", "web"));
    assert!(env.exists("configmap", "manual", "web-config"));
    let o = env.run_tether(&["app", "history", "manual", "-n", "t-manual", "-o", "json"]);
    let history: Vec<Value> = serde_json::from_str(&o.stdout).expect("json");
    assert_eq!(
        history.last().expect("an entry")["initiator"],
        "user:alice",
        "{o:?}"
    );

    let o = env.run_tether(&[
        "app",
        "wait",
        "manual",
        "-n",
        "t-manual",
        "--timeout",
        "60s",
    ]);
    assert_eq!(o.code, 0, "{o:?}");

    // A sync that cannot run (the path is not in the repo) fails with exit 1.
    let o = env.run_tether(&[
        "app",
        "create",
        "broken",
        "-n",
        "t-manual",
        "--repo",
        &repo.url(),
        "--path",
        "nowhere",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let o = env.run_tether(&[
        "app",
        "sync",
        "broken",
        "-n",
        "t-manual",
        "--timeout",
        "60s",
    ]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.contains("error: sync of t-manual/broken") && o.stderr.contains("nowhere"),
        "{o:?}"
    );
}

#[test]
fn wait_reports_a_degraded_app() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.path("repo"));
    repo.write("bad/deployment.yaml", &deployment("bad", "nginx:fail", 1));
    repo.commit("A deployment that never becomes ready");
    let o = env.run_tether(&[
        "app",
        "create",
        "bad",
        "-n",
        "t-degraded",
        "--repo",
        &repo.url(),
        "--path",
        "bad",
        "--dest-namespace",
        "bad",
        "--auto",
        "--sync-option",
        "CreateNamespace=true",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    eventually("the app to be Degraded", Duration::from_secs(60), || {
        let app = env.app_in("t-degraded", "bad")?;
        (app["status"]["health"]["status"] == "Degraded").then_some(())
    });

    let o = env.run_tether(&["app", "wait", "bad", "-n", "t-degraded", "--timeout", "2s"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.contains("timed out after 2s") && o.stderr.contains("Degraded"),
        "{o:?}"
    );

    // --health gives up early on an app that stays Degraded.
    let started = Instant::now();
    let o = env.run_tether(&[
        "app",
        "wait",
        "bad",
        "-n",
        "t-degraded",
        "--health",
        "--timeout",
        "120s",
    ]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        o.stderr.contains("is Degraded") && !o.stderr.contains("timed out after"),
        "{o:?}"
    );

    // It is synced, though.
    let o = env.run_tether(&[
        "app",
        "wait",
        "bad",
        "-n",
        "t-degraded",
        "--sync",
        "--timeout",
        "60s",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
}

#[test]
fn delete_cascades_unless_told_not_to() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.path("repo"));
    repo.write("a/config.yaml", &configmap("config-a", "hello"));
    repo.write("b/config.yaml", &configmap("config-b", "hello"));
    repo.commit("Two apps");
    for app in ["a", "b"] {
        let dest = format!("dest-{app}");
        let o = env.run_tether(&[
            "app",
            "create",
            app,
            "-n",
            "t-delete",
            "--repo",
            &repo.url(),
            "--path",
            app,
            "--dest-namespace",
            &dest,
            "--auto",
            "--sync-option",
            "CreateNamespace=true",
        ]);
        assert_eq!(o.code, 0, "{o:?}");
        let o = env.run_tether(&["app", "wait", app, "-n", "t-delete", "--timeout", "90s"]);
        assert_eq!(o.code, 0, "{o:?}");
    }
    assert!(env.exists("configmap", "dest-a", "config-a"));
    assert!(env.exists("configmap", "dest-b", "config-b"));

    let o = env.run_tether(&[
        "app",
        "delete",
        "a",
        "-n",
        "t-delete",
        "--wait",
        "--timeout",
        "60s",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(env.app_in("t-delete", "a").is_none(), "the app is gone");
    assert!(
        !env.exists("configmap", "dest-a", "config-a"),
        "its objects went with it"
    );

    let o = env.run_tether(&[
        "app",
        "delete",
        "b",
        "-n",
        "t-delete",
        "--cascade=false",
        "--wait",
        "--timeout",
        "60s",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(env.app_in("t-delete", "b").is_none(), "the app is gone");
    // Give the agent a few polls to (wrongly) prune before checking the object stayed.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        env.exists("configmap", "dest-b", "config-b"),
        "--cascade=false keeps the objects"
    );

    let o = env.run_tether(&["app", "delete", "a", "-n", "t-delete"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("not found"), "{o:?}");
}

/// With a ServiceAccount's kubeconfig that RBAC gives no rights, tether reports
/// the API server's refusal in its words and exits 1.
#[test]
fn a_user_without_rights_gets_the_servers_refusal() {
    let env = Env::start();
    let crd = env.run_tether(&["crd"]);
    assert_eq!(crd.code, 0, "{crd:?}");
    env.apply_yaml(&crd.stdout);
    let kc = env.service_account_kubeconfig("default", "nobody");
    let o: Out = Command::new(BIN)
        .args(["app", "list", "-n", "team-a", "--kubeconfig"])
        .arg(&kc)
        .env("TETHER_LOG", "warn")
        .output()
        .expect("tether runs")
        .into();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.contains(r#"User "system:serviceaccount:default:nobody" cannot list resource "applications" in API group "tether.dev" in the namespace "team-a""#),
        "{o:?}"
    );
}
