//! Clean text end to end (issue 9): what a repository writes (file names,
//! commit messages and authors) reaches the CLI, the Application status,
//! Kubernetes Events and the agent's log with its control characters escaped;
//! a log line stays one line; and an object whose name the API server would
//! refuse fails its app as `InvalidObject`, naming the file and the object,
//! while a neighbouring app keeps syncing.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// A terminal escape that sets the window title, and one that clears the screen.
const TITLE: &str = "\x1b]0;pwned\x07";
const CLEAR: &str = "\x1b[2J";
/// What a file name tries to forge as a log line of its own.
const FORGED: &str = "2026-01-01T00:00:00.000000Z  INFO tether: forged by the repository";
const FORGED_BY_TOOL: &str = "2026-01-01T00:00:01.000000Z ERROR tether: forged by jsonnet";

/// Any character a terminal or a log reader would act on (newlines and tabs
/// aside, which end and indent lines of output legitimately).
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            c != '\n' && c != '\t' && (c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c))
        })
        .collect()
}

fn assert_clean(what: &str, out: &Out) {
    assert_eq!(out.code, 0, "{what}: {out:?}");
    let raw = raw_controls(&format!("{}{}", out.stdout, out.stderr));
    assert!(
        raw.is_empty(),
        "{what} printed raw control characters {raw:?}: {out:?}"
    );
}

/// Commit everything as an author whose name carries a title escape, with a
/// message that clears the screen and sets the title.
fn hostile_commit(repo: &Repo) -> String {
    repo.git(&["add", "--all"]);
    let author = format!("Eve{TITLE} Hacker");
    let message = format!("Fix{CLEAR} things{TITLE}\n\nbody\x1b[31m red");
    let out = Command::new("git")
        .args(["-c", &format!("user.name={author}")])
        .args(["-c", "user.email=eve@example.com"])
        .args(["commit", "--quiet", "-m", &message])
        .current_dir(&repo.path)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    repo.git(&["rev-parse", "HEAD"])
}

/// Whether a line of the agent's log is a normal tracing line: a timestamp,
/// a level, then the rest.
fn is_log_line(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let stamp = words.next().unwrap_or("");
    let level = words.next().unwrap_or("");
    stamp.len() >= 20
        && stamp.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && stamp.contains('T')
        && stamp.ends_with('Z')
        && ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level)
}

#[test]
fn repository_text_is_escaped_in_the_cli_status_events_and_log() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.path("repo"));
    // A good app whose file name holds a newline and an escape, and a broken
    // one whose bad YAML sits in a file named to forge a log line.
    repo.write(
        &format!("ok/odd\n{CLEAR}name.yaml"),
        // A bidi override in a value: YAML keeps it as it is, so the diff must escape it.
        &configmap("settings", "a\\u202Eb"),
    );
    let bad_file = format!("bad/x\n{FORGED}{CLEAR}.yaml");
    repo.write(
        &bad_file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n",
    );
    // Tool output is multi-line text from the repository too: a Jsonnet
    // error whose message forges a log line.
    repo.write(
        "jsonnet/main.jsonnet",
        &format!("error 'boom\\n{FORGED_BY_TOOL}\\u001b[2J'\n"),
    );
    let commit = hostile_commit(&repo);
    env.apply_yaml(&app_yaml(
        "text-ok",
        &repo.url(),
        "ok",
        "text-ok",
        AUTO_PRUNE,
        "",
    ));
    env.apply_yaml(&app_yaml(
        "text-bad",
        &repo.url(),
        "bad",
        "text-bad",
        AUTO_PRUNE,
        "",
    ));

    env.apply_yaml(&app_yaml(
        "text-jsonnet",
        &repo.url(),
        "jsonnet",
        "text-jsonnet",
        AUTO_PRUNE,
        "",
    ));

    let ok = env.wait_synced_healthy("text-ok");
    assert!(env.exists("configmap", "text-ok", "settings"));
    let bad = env.wait_app("text-bad", "render failed", Duration::from_secs(30), |a| {
        condition(a, "Ready")["reason"] == "RenderFailed"
    });

    // Status: escaped where Record builds it, so every reader is safe.
    let entry = &ok["status"]["history"][0];
    assert_eq!(entry["revision"], commit);
    assert_eq!(
        entry["commit"]["author"],
        "Eve\\u{1b}]0;pwned\\u{7} Hacker <eve@example.com>"
    );
    let message = entry["commit"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Fix\\u{1b}[2J things\\u{1b}]0;pwned\\u{7}\n\nbody\\u{1b}[31m red"),
        "{message:?}"
    );
    let ready = condition(&bad, "Ready")["message"].as_str().unwrap();
    assert!(
        ready.contains("x\\u{a}2026-01-01T00:00:00.000000Z  INFO tether: forged by the repository\\u{1b}[2J.yaml"),
        "the condition names the file, escaped: {ready}"
    );
    for app in [&ok, &bad] {
        let status = serde_json::to_string(&app["status"]).unwrap();
        assert!(
            !status.contains("\\u001b") && !status.contains("\\u0007"),
            "raw controls in the status: {status}"
        );
    }
    let describe = env.kubectl(&[
        "describe",
        "applications.tether.dev",
        "text-bad",
        "-n",
        "tether",
    ]);
    assert!(raw_controls(&String::from_utf8_lossy(&describe.stdout)).is_empty());

    // The CLI: tables, summaries and history show the escaped form, never raw.
    let list = env.run_tether(&["app", "list", "-o", "wide"]);
    assert_clean("app list -o wide", &list);
    assert!(
        list.stdout
            .contains("x\\u{a}2026-01-01T00:00:00.000000Z  INFO tether: forged"),
        "{list:?}"
    );
    assert_eq!(list.stdout.lines().count(), 4, "one line per app: {list:?}");
    assert_clean("app list", &env.run_tether(&["app", "list"]));
    for args in [
        &["app", "get", "text-bad"][..],
        &["app", "get", "text-bad", "-o", "wide"],
        &["app", "get", "text-ok", "-o", "wide"],
    ] {
        let out = env.run_tether(args);
        assert_clean(&format!("{args:?}"), &out);
        if args[2] == "text-bad" {
            assert!(out.stdout.contains("x\\u{a}2026-01-01T00:00:00"), "{out:?}");
        }
    }
    for args in [
        &["app", "history", "text-ok"][..],
        &["app", "history", "text-ok", "-o", "wide"],
    ] {
        let out = env.run_tether(args);
        assert_clean(&format!("{args:?}"), &out);
        assert!(
            out.stdout.contains("Eve\\u{1b}]0;pwned\\u{7} Hacker"),
            "{out:?}"
        );
        assert!(out.stdout.contains("Fix\\u{1b}[2J things"), "{out:?}");
    }
    // `tether render` prints each object's file: a newline in its name must
    // not end the comment and start YAML of its own.
    let render = env.run_tether(&["render", repo.path.join("ok").to_str().unwrap()]);
    assert_clean("render", &render);
    assert!(
        render
            .stdout
            .contains("# Source: ok/odd\\u{a}\\u{1b}[2Jname.yaml"),
        "{render:?}"
    );

    // `tether app diff` shows the YAML diff with the override escaped.
    env.kubectl_ok(&[
        "patch",
        "configmap",
        "settings",
        "-n",
        "text-ok",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"value":"changed"}}"#,
    ]);
    let diff = env.run_tether(&["app", "diff", "text-ok"]);
    assert_eq!(diff.code, 3, "{diff:?}");
    assert!(raw_controls(&diff.stdout).is_empty(), "{diff:?}");
    assert!(diff.stdout.contains("a\\u{202e}b"), "{diff:?}");

    // -o json and -o yaml: the exact data (what the status holds), every
    // control character as an escape of the encoder's.
    let json = env.run_tether(&["app", "history", "text-ok", "-o", "json"]);
    assert_clean("history -o json", &json);
    let parsed: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(parsed, ok["status"]["history"]);
    let listed = env.run_tether(&["app", "list", "-o", "json"]);
    assert_clean("list -o json", &listed);
    let listed: Value = serde_json::from_str(&listed.stdout).expect("JSON");
    let bad_now = env.app("text-bad");
    let item = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["metadata"]["name"] == "text-bad")
        .expect("listed");
    assert_eq!(
        condition(item, "Ready")["message"],
        condition(&bad_now, "Ready")["message"]
    );
    let yaml = env.run_tether(&["app", "get", "text-ok", "-o", "yaml"]);
    assert_clean("get -o yaml", &yaml);
    let parsed: Value = serde_saphyr::from_str(&yaml.stdout).expect("YAML");
    assert_eq!(parsed["status"]["history"][0]["commit"], entry["commit"]);
    // The audit log keeps the raw commit; its JSON is exact (with \u001b
    // escapes) and its table escapes it.
    let audit = env.audit(&["--app", "text-ok", "--kind", "sync"]);
    let raw_subject = format!("Fix{CLEAR} things{TITLE}");
    assert!(
        audit
            .iter()
            .any(|r| r["commit_message"] == raw_subject.as_str()),
        "the audit log keeps the exact commit message: {audit:?}"
    );
    let table = env.run_tether(&[
        "audit",
        "--state-dir",
        env.path("agent-state").to_str().unwrap(),
        "--app",
        "text-ok",
        "-o",
        "wide",
    ]);
    assert_clean("audit -o wide", &table);
    assert!(table.stdout.contains("Fix\\u{1b}[2J things"), "{table:?}");

    // Events: the failure's note names the file, escaped to one line.
    let events = eventually("a RenderFailed event", Duration::from_secs(15), || {
        let evs = env.app_events("text-bad");
        evs.into_iter().find(|e| e["reason"] == "RenderFailed")
    });
    let note = events["note"].as_str().unwrap();
    assert!(
        raw_controls(note).is_empty() && !note.contains('\n'),
        "{note:?}"
    );
    assert!(note.contains("x\\u{a}2026-01-01T00:00:00"), "{note}");

    // The agent's log: every line a normal log line; the file name did not
    // split one, so the forged line exists only escaped inside another.
    let log = env.agent_log();
    assert!(
        log.contains("\\u{a}2026-01-01T00:00:00.000000Z  INFO tether: forged by the repository"),
        "the render failure with the file name is logged: {log}"
    );
    let jsonnet = env.wait_app(
        "text-jsonnet",
        "render failed",
        Duration::from_secs(30),
        |a| condition(a, "Ready")["reason"] == "RenderFailed",
    );
    let failed = condition(&jsonnet, "Ready")["message"].as_str().unwrap();
    assert!(
        failed.contains(
            "boom\\u{a}2026-01-01T00:00:01.000000Z ERROR tether: forged by jsonnet\\u{1b}[2J"
        ),
        "a condition message is one line: {failed}"
    );
    // So `kubectl get -o wide`, whose Message column is the Ready message,
    // shows one row per app.
    let rows = env.kubectl_ok(&[
        "get",
        "applications.tether.dev",
        "-n",
        "tether",
        "-o",
        "wide",
    ]);
    assert_eq!(rows.lines().count(), 4, "{rows}");
    assert!(raw_controls(&rows).is_empty(), "{rows:?}");
    let log = env.agent_log();
    assert!(
        log.contains("\\u{a}2026-01-01T00:00:01.000000Z ERROR tether: forged by jsonnet"),
        "the Jsonnet error is logged on one line: {log}"
    );
    for line in log.lines() {
        assert!(is_log_line(line), "not a log line: {line:?}\nlog:\n{log}");
        assert!(
            !line.starts_with("2026-01-01T00:00:0"),
            "a forged log line: {line:?}"
        );
    }
    assert!(raw_controls(&log).is_empty(), "raw controls in the log");
}

#[test]
fn an_invalid_object_name_fails_its_app_alone_naming_the_file_and_object() {
    let mut env = Env::start();
    env.agent(&[]);
    let repo = Repo::init(&env.path("repo"));
    repo.write("good/cm.yaml", &configmap("settings", "1"));
    repo.write("names/cm.yaml", &configmap("settings", "a"));
    repo.write("names/space.yaml", &configmap("Bad Name", "b"));
    repo.commit("Add apps, one with an invalid name");
    env.apply_yaml(&app_yaml(
        "names-good",
        &repo.url(),
        "good",
        "names-good",
        AUTO_PRUNE,
        "",
    ));
    env.apply_yaml(&app_yaml(
        "names-bad",
        &repo.url(),
        "names",
        "names-bad",
        AUTO_PRUNE,
        "",
    ));

    env.wait_synced_healthy("names-good");
    let bad = env.wait_app("names-bad", "InvalidObject", Duration::from_secs(30), |a| {
        condition(a, "Ready")["reason"] == "InvalidObject"
    });
    let message = condition(&bad, "Ready")["message"].as_str().unwrap();
    assert!(
        message.contains("names/space.yaml")
            && message.contains("ConfigMap \"Bad Name\"")
            && message.contains("metadata.name")
            && message.contains("nothing was applied"),
        "names the file and the object: {message}"
    );
    assert_eq!(condition(&bad, "Stalled")["status"], "True");
    // Nothing of the app was applied, the valid object included, and the
    // error is the commit's, not the cluster's: no sync was attempted.
    assert!(!env.exists("configmap", "names-bad", "settings"));
    assert!(bad["status"]["operationState"].is_null(), "{bad}");

    // Meanwhile the neighbour syncs a new commit.
    repo.write("good/cm.yaml", &configmap("settings", "2"));
    let second = repo.commit("Bump the good app");
    env.wait_app(
        "names-good",
        "second commit synced",
        Duration::from_secs(20),
        |a| a["status"]["sync"]["revision"] == second && sync(a) == "Synced",
    );
    let cm = env.get("configmap", "names-good", "settings").unwrap();
    assert_eq!(cm["data"]["value"], "2");
    // Still the same error on the bad app, never blamed on the cluster.
    let bad = env.app("names-bad");
    assert_eq!(condition(&bad, "Ready")["reason"], "InvalidObject", "{bad}");
    assert!(!env.agent_log().contains("invalid uri character"));

    // Fixed in Git: the app syncs.
    repo.write("names/space.yaml", &configmap("good-name", "b"));
    let fixed = repo.commit("Fix the name");
    env.wait_app(
        "names-bad",
        "fixed commit synced",
        Duration::from_secs(20),
        |a| a["status"]["sync"]["revision"] == fixed && sync(a) == "Synced",
    );
    assert!(env.exists("configmap", "names-bad", "good-name"));

    // An invalid namespace (with a control character) is caught the same way,
    // and what is deployed stays.
    repo.write(
        "names/ns.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n  namespace: \"Team\\e[2J\"\ndata: {}\n",
    );
    repo.commit("Add an object in an invalid namespace");
    let bad = env.wait_app(
        "names-bad",
        "InvalidObject for the namespace",
        Duration::from_secs(20),
        |a| condition(a, "Ready")["reason"] == "InvalidObject",
    );
    let message = condition(&bad, "Ready")["message"].as_str().unwrap();
    assert!(
        message.contains("names/ns.yaml")
            && message.contains("ConfigMap \"other\"")
            && message.contains("metadata.namespace \"Team\\u{1b}[2J\""),
        "{message}"
    );
    assert!(raw_controls(message).is_empty());
    assert!(env.exists("configmap", "names-bad", "settings"));
    assert!(env.exists("configmap", "names-bad", "good-name"));
}
