//! Issue 11, proof 6: notifications, end to end. The real agent syncs real
//! commits on the sandbox; local HTTP receivers stand in for Slack, Teams, a
//! generic webhook and the GitHub and GitLab commit-status APIs, each refusing
//! what the real API refuses (from their published request shapes: paths,
//! auth headers, JSON fields and values).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use hmac::{Hmac, Mac};
use serde_json::Value;

// ---------------------------------------------------------------- receivers

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Got {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    json: Value,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// The answer: accepted (status, body) or refused (status, why).
type Check = Arc<dyn Fn(&Got) -> Result<(u16, String), (u16, String)> + Send + Sync>;

/// A local HTTP server on a fixed port that checks and records each request.
struct Receiver {
    port: u16,
    accepted: Arc<Mutex<Vec<Got>>>,
    refused: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Receiver {
    fn start(check: Check) -> Receiver {
        let mut r = Receiver {
            port: free_port(),
            accepted: Default::default(),
            refused: Default::default(),
            stop: None,
        };
        r.listen(check);
        r
    }

    /// A receiver that is down: its port is reserved but nothing listens.
    fn down() -> Receiver {
        Receiver {
            port: free_port(),
            accepted: Default::default(),
            refused: Default::default(),
            stop: None,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Start (or start again) listening on this receiver's port.
    fn listen(&mut self, check: Check) {
        let listener = std::net::TcpListener::bind(("127.0.0.1", self.port)).expect("bind");
        listener.set_nonblocking(true).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (accepted, refused) = (self.accepted.clone(), self.refused.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(
                    move |method: axum::http::Method,
                          uri: axum::http::Uri,
                          headers: axum::http::HeaderMap,
                          body: axum::body::Bytes| {
                        let (check, accepted, refused) =
                            (check.clone(), accepted.clone(), refused.clone());
                        async move {
                            let got = Got {
                                path: uri.path().to_string(),
                                headers: headers
                                    .iter()
                                    .map(|(k, v)| {
                                        (k.as_str().to_string(), v.to_str().unwrap_or("").into())
                                    })
                                    .collect(),
                                json: serde_json::from_slice(&body).unwrap_or(Value::Null),
                                body: body.to_vec(),
                            };
                            let answer = if method != axum::http::Method::POST {
                                Err((405, format!("{method} instead of POST")))
                            } else if got.header("content-type") != Some("application/json") {
                                Err((415, "not application/json".to_string()))
                            } else {
                                check(&got)
                            };
                            let (code, text) = match answer {
                                Ok(ok) => {
                                    accepted.lock().unwrap().push(got);
                                    ok
                                }
                                Err((code, why)) => {
                                    refused.lock().unwrap().push(format!("{} {why}", got.path));
                                    (code, why)
                                }
                            };
                            (axum::http::StatusCode::from_u16(code).unwrap(), text)
                        }
                    },
                );
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = rx => {}
                }
            });
            // Dropping the runtime closes the listener and every connection.
        });
        self.stop = Some(tx);
    }

    fn accepted(&self) -> Vec<Got> {
        self.accepted.lock().unwrap().clone()
    }

    fn refused(&self) -> Vec<String> {
        self.refused.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

fn is_sha(s: &str) -> bool {
    s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// Slack incoming webhooks: a JSON message with `text` (or blocks); 200 "ok".
fn slack(hook_path: &'static str) -> Check {
    Arc::new(move |g| {
        if g.path != hook_path {
            return Err((404, "no_service".into()));
        }
        match g.json["text"].as_str() {
            Some(t) if !t.is_empty() => Ok((200, "ok".into())),
            _ => Err((400, "no_text".into())),
        }
    })
}

/// Teams (Workflows / incoming webhook): a message whose attachment is an Adaptive Card; 202.
fn teams(path: &'static str) -> Check {
    Arc::new(move |g| {
        if g.path != path {
            return Err((404, "not found".into()));
        }
        let a = &g.json["attachments"][0];
        let ok = g.json["type"] == "message"
            && a["contentType"] == "application/vnd.microsoft.card.adaptive"
            && a["content"]["type"] == "AdaptiveCard"
            && a["content"]["version"].is_string()
            && a["content"]["body"]
                .as_array()
                .is_some_and(|b| !b.is_empty());
        if ok {
            Ok((202, String::new()))
        } else {
            Err((400, "not an Adaptive Card message".into()))
        }
    })
}

/// tether's generic webhook: the signature must verify over the raw body.
fn webhook(key: &'static str) -> Check {
    Arc::new(move |g| {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(&g.body);
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        if g.header("x-tether-signature") != Some(want.as_str()) {
            return Err((401, "bad signature".into()));
        }
        if g.header("x-tether-event") != g.json["event"].as_str() || g.json["id"].as_str().is_none()
        {
            return Err((400, "event header and body disagree".into()));
        }
        Ok((200, String::new()))
    })
}

/// GitHub: `POST /repos/{owner}/{repo}/statuses/{sha}`, `Authorization: Bearer`,
/// a User-Agent, state in error|failure|pending|success; 201.
fn github(token: &'static str, repo: &'static str) -> Check {
    Arc::new(move |g| {
        if g.header("user-agent").is_none_or(str::is_empty) {
            return Err((
                403,
                "Request forbidden by administrative rules (no User-Agent)".into(),
            ));
        }
        if g.header("authorization") != Some(&format!("Bearer {token}")) {
            return Err((401, "Bad credentials".into()));
        }
        let prefix = format!("/repos/{repo}/statuses/");
        let Some(sha) = g.path.strip_prefix(&prefix) else {
            return Err((404, "Not Found".into()));
        };
        if !is_sha(sha) {
            return Err((422, "No commit found for SHA".into()));
        }
        let state = g.json["state"].as_str().unwrap_or("");
        if !["error", "failure", "pending", "success"].contains(&state) {
            return Err((422, "Validation Failed: state".into()));
        }
        if g.json["description"]
            .as_str()
            .is_some_and(|d| d.chars().count() > 140)
        {
            return Err((422, "Validation Failed: description is too long".into()));
        }
        Ok((201, format!(r#"{{"state":"{state}"}}"#)))
    })
}

/// GitLab: `POST /api/v4/projects/{id}/statuses/{sha}`, `PRIVATE-TOKEN`,
/// state in pending|running|success|failed|canceled|skipped; 201.
fn gitlab(token: &'static str, project: &'static str) -> Check {
    Arc::new(move |g| {
        if g.header("private-token") != Some(token) {
            return Err((401, "401 Unauthorized".into()));
        }
        let prefix = format!("/api/v4/projects/{project}/statuses/");
        let Some(sha) = g.path.strip_prefix(&prefix) else {
            return Err((404, "404 Project Not Found".into()));
        };
        if !is_sha(sha) {
            return Err((404, "404 Commit Not Found".into()));
        }
        let state = g.json["state"].as_str().unwrap_or("");
        if ![
            "pending", "running", "success", "failed", "canceled", "skipped",
        ]
        .contains(&state)
        {
            return Err((400, "state does not have a valid value".into()));
        }
        Ok((201, format!(r#"{{"status":"{state}"}}"#)))
    })
}

/// A GitHub that answers 500 and echoes the credentials in its error body: the
/// token must still never reach the log, the status or the audit log.
fn leaky() -> Check {
    Arc::new(|g| {
        Err((
            500,
            format!(
                "internal error for {}",
                g.header("authorization").unwrap_or("")
            ),
        ))
    })
}

// ---------------------------------------------------------------- helpers

/// A plain HTTP/1.1 GET; the body.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

const SLACK_PATH: &str = "/services/T000/B000/slackhooksecret0001";
const TEAMS_PATH: &str = "/workflows/teamshooksecret0002/triggers/manual/paths/invoke";
const WEBHOOK_KEY: &str = "whsec-signingkey-0003";
const GITHUB_TOKEN: &str = "ghp_githubtokensecret0004";
const GITLAB_TOKEN: &str = "glpat-gitlabtokensecret0005";
const LEAKY_TOKEN: &str = "ghp_leakytokensecret0006";

fn secret(name: &str, data: &[(&str, &str)]) -> String {
    let data: String = data
        .iter()
        .map(|(k, v)| format!("  {k}: \"{v}\"\n"))
        .collect();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: tether\nstringData:\n{data}---\n"
    )
}

fn notifier(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: tether.dev/v1alpha1\nkind: Notifier\nmetadata:\n  name: {name}\n  namespace: tether\nspec:\n{spec}---\n"
    )
}

fn wait_for_notifier_crd(env: &Env) {
    eventually("the Notifier CRD", Duration::from_secs(30), || {
        env.kubectl(&["get", "crd", "notifiers.tether.dev"])
            .status
            .success()
            .then_some(())
    });
}

/// (event, revision) of what a receiver accepted, read with `read`.
fn events(r: &Receiver, read: impl Fn(&Got) -> (String, String)) -> Vec<(String, String)> {
    r.accepted().iter().map(read).collect()
}

fn assert_no_repeats(what: &str, got: &[(String, String)]) {
    let mut seen = std::collections::HashSet::new();
    for g in got {
        assert!(seen.insert(g.clone()), "{what} got {g:?} twice: {got:?}");
    }
}

fn count(got: &[(String, String)], event: &str, rev: &str) -> usize {
    got.iter().filter(|(e, r)| e == event && r == rev).count()
}

fn notifier_status(env: &Env, name: &str) -> Value {
    env.get("notifiers.tether.dev", "tether", name)
        .map(|n| n["status"].clone())
        .unwrap_or(Value::Null)
}

fn ready(status: &Value) -> &Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .unwrap_or(&Value::Null)
}

const BROKEN: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\nspec:\n  replicas: three\n  selector: {matchLabels: {app: bad}}\n  template:\n    metadata: {labels: {app: bad}}\n    spec: {containers: [{name: c, image: nginx}]}\n";

// ---------------------------------------------------------------- tests

/// Every target gets exactly one message per event: a commit syncs, a broken
/// commit fails and is retried (one failure message, however many retries),
/// the fix recovers. Filters hold; no secret leaks anywhere.
#[test]
fn each_target_gets_one_message_per_event_across_success_failure_and_recovery() {
    let slack_rx = Receiver::start(slack(SLACK_PATH));
    let teams_rx = Receiver::start(teams(TEAMS_PATH));
    let hook_rx = Receiver::start(webhook(WEBHOOK_KEY));
    let other_rx = Receiver::start(webhook(WEBHOOK_KEY));
    let github_rx = Receiver::start(github(GITHUB_TOKEN, "acme/deploy"));
    let gitlab_rx = Receiver::start(gitlab(GITLAB_TOKEN, "platform%2Fdeploy"));
    let leaky_rx = Receiver::start(leaky());

    let mut env = Env::start();
    let listen = format!("127.0.0.1:{}", free_port());
    env.agent(&[
        "--notify-retry-base",
        "0.2",
        "--notify-retry-max",
        "1",
        "--notify-timeout",
        "5",
        "--listen",
        &listen,
    ]);
    wait_for_notifier_crd(&env);

    let mut yaml = String::new();
    yaml += &secret(
        "slack",
        &[("address", &format!("{}{SLACK_PATH}", slack_rx.url()))],
    );
    yaml += &secret(
        "teams",
        &[("address", &format!("{}{TEAMS_PATH}", teams_rx.url()))],
    );
    yaml += &secret("hook", &[("token", WEBHOOK_KEY)]);
    yaml += &secret("github", &[("token", GITHUB_TOKEN)]);
    yaml += &secret("gitlab", &[("token", GITLAB_TOKEN)]);
    yaml += &secret("leaky", &[("token", LEAKY_TOKEN)]);
    yaml += &notifier(
        "slack",
        "  type: slack\n  secretRef: slack\n  apps: [\"sh*p\"]\n",
    );
    yaml += &notifier(
        "teams",
        "  type: teams\n  secretRef: teams\n  severity: error\n",
    );
    yaml += &notifier(
        "hook",
        &format!(
            "  type: webhook\n  address: {}/hook\n  secretRef: hook\n",
            hook_rx.url()
        ),
    );
    // Filters that exclude the app: another name, a label it lacks.
    yaml += &notifier(
        "blog-only",
        &format!(
            "  type: webhook\n  address: {}/hook\n  secretRef: hook\n  apps: [\"blog-*\"]\n",
            other_rx.url()
        ),
    );
    yaml += &notifier(
        "team-blue",
        &format!(
            "  type: webhook\n  address: {}/hook\n  secretRef: hook\n  selector: {{matchLabels: {{team: blue}}}}\n",
            other_rx.url()
        ),
    );
    yaml += &notifier(
        "github",
        &format!(
            "  type: github\n  address: {}\n  secretRef: github\n  repository: acme/deploy\n",
            github_rx.url()
        ),
    );
    yaml += &notifier(
        "gitlab",
        &format!(
            "  type: gitlab\n  address: {}/api/v4\n  secretRef: gitlab\n  repository: platform/deploy\n",
            gitlab_rx.url()
        ),
    );
    yaml += &notifier(
        "leaky",
        &format!(
            "  type: github\n  address: {}\n  secretRef: leaky\n  repository: acme/deploy\n  events: [SyncSucceeded]\n",
            leaky_rx.url()
        ),
    );
    // Invalid: a Slack Notifier with nowhere to send.
    yaml += &notifier("nowhere", "  type: slack\n");
    env.apply_yaml(&yaml);

    let nowhere = eventually(
        "the invalid Notifier's status",
        Duration::from_secs(15),
        || {
            let s = notifier_status(&env, "nowhere");
            (ready(&s)["reason"] == "InvalidSpec").then_some(s)
        },
    );
    assert_eq!(ready(&nowhere)["status"], "False");
    assert!(
        ready(&nowhere)["message"]
            .as_str()
            .unwrap()
            .contains("address")
    );

    // 1. A commit syncs.
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("app/cm.yaml", &configmap("cm", "1"));
    let a = repo.commit("first");
    // Failed syncs are retried every second, as Argo CD's retry policy does.
    let policy =
        "    automated: {prune: true}\n    retry: {limit: 20, backoff: {duration: 1s, factor: 1}}";
    env.apply_yaml(
        &app_yaml("shop", &repo.url(), "app", "shop", policy, "").replace(
            "  namespace: tether\n",
            "  namespace: tether\n  labels: {team: red}\n",
        ),
    );
    env.wait_synced_healthy("shop");
    let hook_events = |r: &Receiver| {
        events(r, |g| {
            (
                g.json["event"].as_str().unwrap_or("").to_string(),
                g.json["revision"].as_str().unwrap_or("").to_string(),
            )
        })
    };
    eventually(
        "SyncSucceeded at the webhook",
        Duration::from_secs(15),
        || (count(&hook_events(&hook_rx), "SyncSucceeded", &a) == 1).then_some(()),
    );

    // 2. A broken commit: the sync fails and is retried; one message.
    repo.write("app/bad.yaml", BROKEN);
    let b = repo.commit("broken");
    let failed_syncs = || {
        env.audit(&["--app", "tether/shop", "--kind", "sync"])
            .iter()
            .filter(|r| r["revision"] == b.as_str() && r["outcome"] == "failed")
            .count()
    };
    eventually(
        "three failed attempts at the broken commit",
        Duration::from_secs(60),
        || (failed_syncs() >= 3).then_some(()),
    );

    // 3. The fix recovers.
    repo.remove("app/bad.yaml");
    let c = repo.commit("fixed");
    env.wait_app(
        "shop",
        "synced to the fix",
        Duration::from_secs(30),
        |app| app["status"]["sync"]["revision"] == c.as_str() && sync(app) == "Synced",
    );
    eventually(
        "SyncSucceeded for the fix everywhere",
        Duration::from_secs(15),
        || {
            let done = count(&hook_events(&hook_rx), "SyncSucceeded", &c) == 1
                && github_rx
                    .accepted()
                    .iter()
                    .any(|g| g.path.ends_with(&c) && g.json["state"] == "success")
                && gitlab_rx
                    .accepted()
                    .iter()
                    .any(|g| g.path.ends_with(&c) && g.json["state"] == "success")
                && slack_rx.accepted().iter().any(|g| {
                    g.json["text"]
                        .as_str()
                        .unwrap()
                        .contains("sync succeeded at")
                })
                && slack_rx.accepted().len() >= 6;
            done.then_some(())
        },
    );
    // Let any duplicate that would come arrive before counting.
    std::thread::sleep(Duration::from_secs(2));
    let retries = failed_syncs();
    assert!(retries >= 3, "the broken commit was retried ({retries})");

    // Nothing any receiver refused: every request had the documented shape.
    for (name, r) in [
        ("slack", &slack_rx),
        ("teams", &teams_rx),
        ("webhook", &hook_rx),
        ("github", &github_rx),
        ("gitlab", &gitlab_rx),
    ] {
        assert!(r.refused().is_empty(), "{name} refused: {:?}", r.refused());
    }

    // The generic webhook: every event once; the sequence of the story.
    let hook = hook_events(&hook_rx);
    assert_no_repeats("webhook", &hook);
    for (event, rev, n) in [
        ("SyncStarted", &a, 1),
        ("SyncSucceeded", &a, 1),
        ("SyncStarted", &b, 1),
        ("SyncFailed", &b, 1),
        ("SyncSucceeded", &b, 0),
        ("SyncStarted", &c, 1),
        ("SyncSucceeded", &c, 1),
    ] {
        assert_eq!(count(&hook, event, rev), n, "{event} at {rev}: {hook:?}");
    }
    let failed = hook_rx
        .accepted()
        .into_iter()
        .find(|g| g.json["event"] == "SyncFailed")
        .unwrap();
    assert_eq!(failed.json["app"]["name"], "shop");
    assert_eq!(failed.json["severity"], "error");
    assert!(
        failed.json["message"].as_str().unwrap().contains("bad"),
        "{}",
        failed.json
    );
    assert_eq!(failed.header("x-tether-event"), Some("SyncFailed"));

    // Slack (by name glob): the same events, as Slack messages.
    let slack_got = events(&slack_rx, |g| {
        let text = g.json["text"].as_str().unwrap_or("").to_string();
        let (what, at) = text
            .split_once(": ")
            .map(|(_, w)| w)
            .unwrap_or("")
            .split_once(" at ")
            .unwrap_or(("", ""));
        (what.to_string(), at.to_string())
    });
    assert_no_repeats("slack", &slack_got);
    assert_eq!(
        count(&slack_got, "sync failed", &b[..7]),
        1,
        "{slack_got:?}"
    );
    assert_eq!(
        count(&slack_got, "sync succeeded", &c[..7]),
        1,
        "{slack_got:?}"
    );

    // Teams (severity error): the failure only.
    let teams_got: Vec<String> = teams_rx
        .accepted()
        .iter()
        .map(|g| {
            g.json["attachments"][0]["content"]["body"][0]["text"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(
        teams_got
            .iter()
            .filter(|t| t.contains("sync failed"))
            .count()
            == 1
            && !teams_got
                .iter()
                .any(|t| t.contains("succeeded") || t.contains("started")),
        "{teams_got:?}"
    );

    // Commit statuses: pending, then success or failure, once per commit, the app as context.
    for (name, r, failure, pending) in [
        ("github", &github_rx, "failure", "pending"),
        ("gitlab", &gitlab_rx, "failed", "running"),
    ] {
        let got = events(r, |g| {
            (
                g.json["state"].as_str().unwrap_or("").to_string(),
                g.path.rsplit('/').next().unwrap_or("").to_string(),
            )
        });
        assert_no_repeats(name, &got);
        for (state, rev) in [
            (pending, &a),
            ("success", &a),
            (pending, &b),
            (failure, &b),
            (pending, &c),
            ("success", &c),
        ] {
            assert_eq!(
                count(&got, state, rev),
                1,
                "{name}: {state} at {rev}: {got:?}"
            );
        }
        let context = if name == "github" { "context" } else { "name" };
        assert!(
            r.accepted()
                .iter()
                .all(|g| g.json[context] == "tether/tether/shop")
        );
    }

    // Filters that exclude the app: nothing.
    assert!(other_rx.accepted().is_empty() && other_rx.refused().is_empty());

    // Statuses: Ready with the last delivery; the failing one says why, without the token.
    let hook_status = notifier_status(&env, "hook");
    assert_eq!(ready(&hook_status)["status"], "True", "{hook_status}");
    assert_eq!(hook_status["lastSuccess"]["app"], "tether/shop");
    let leaky_status = eventually(
        "the failing Notifier's status",
        Duration::from_secs(15),
        || {
            let s = notifier_status(&env, "leaky");
            (ready(&s)["status"] == "False").then_some(s)
        },
    );
    let why = leaky_status["lastFailure"]["message"].as_str().unwrap();
    assert!(
        why.contains("HTTP 500") && why.contains("[redacted]"),
        "{why}"
    );

    // The audit log has the deliveries and the failures.
    let notes = env.audit(&["--app", "tether/shop", "--kind", "notification"]);
    assert!(
        notes
            .iter()
            .any(|r| r["outcome"] == "succeeded" && r["actor"] == "notifier:tether/github")
    );
    assert!(
        notes
            .iter()
            .any(|r| r["outcome"] == "failed" && r["actor"] == "notifier:tether/leaky")
    );

    // The metrics count deliveries and retries per Notifier.
    let metrics = http_get(&listen, "/metrics");
    let value = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let delivered =
        value(r#"tether_notifications_total{notifier="tether/hook",result="delivered"}"#);
    assert_eq!(delivered as usize, hook_rx.accepted().len(), "{metrics}");
    assert!(value(r#"tether_notifications_total{notifier="tether/leaky",result="retry"}"#) >= 1.0);

    // `tether app get` lists the Notifiers that apply, not the ones that do not.
    let out = env.run_tether(&["app", "get", "shop"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("Notifiers:"), "{out:?}");
    for name in [
        "tether/slack",
        "tether/teams",
        "tether/hook",
        "tether/github",
        "tether/gitlab",
        "tether/leaky",
    ] {
        assert!(out.stdout.contains(name), "{name} missing: {}", out.stdout);
    }
    assert!(
        !out.stdout.contains("blog-only") && !out.stdout.contains("team-blue"),
        "{}",
        out.stdout
    );

    // No secret anywhere: the agent's log, the Notifiers' status, Events, the audit log.
    let statuses = env.kubectl_ok(&["get", "notifiers.tether.dev", "-A", "-o", "json"]);
    let events_json = env.kubectl_ok(&["get", "events", "-A", "-o", "json"]);
    let audit_all = serde_json::to_string(&env.audit(&[])).unwrap();
    let log = env.agent_log();
    for s in [
        SLACK_PATH,
        TEAMS_PATH,
        WEBHOOK_KEY,
        GITHUB_TOKEN,
        GITLAB_TOKEN,
        LEAKY_TOKEN,
    ] {
        let needle = s
            .trim_start_matches('/')
            .split('/')
            .find(|p| p.contains("secret"))
            .unwrap_or(s);
        for (place, text) in [
            ("log", &log),
            ("status", &statuses),
            ("events", &events_json),
            ("audit", &audit_all),
        ] {
            assert!(!text.contains(needle), "{needle} leaked into the {place}");
        }
    }
}

/// A receiver that is down gets the message once it is back; a receiver that
/// never answers does not slow a sync.
#[test]
fn a_down_receiver_gets_the_message_later_and_a_hung_one_slows_no_sync() {
    let mut down = Receiver::down();
    // Accepts connections and never answers.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_addr: SocketAddr = hung.local_addr().unwrap();
    let hung_conns = Arc::new(Mutex::new(Vec::new()));
    {
        let conns = hung_conns.clone();
        std::thread::spawn(move || {
            for c in hung.incoming().flatten() {
                conns.lock().unwrap().push(c);
            }
        });
    }

    let mut env = Env::start();
    env.agent(&[
        "--notify-retry-base",
        "0.2",
        "--notify-retry-max",
        "1",
        "--notify-timeout",
        "60",
    ]);
    wait_for_notifier_crd(&env);
    let mut yaml = secret("hook", &[("token", WEBHOOK_KEY)]);
    yaml += &notifier(
        "later",
        &format!(
            "  type: webhook\n  address: {}/hook\n  secretRef: hook\n  events: [SyncSucceeded]\n",
            down.url()
        ),
    );
    yaml += &notifier(
        "hung",
        &format!("  type: slack\n  address: http://{hung_addr}/hook\n"),
    );
    env.apply_yaml(&yaml);

    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("app/cm.yaml", &configmap("cm", "1"));
    let first = repo.commit("first");
    env.apply_yaml(&app_yaml("web", &repo.url(), "app", "web", AUTO_PRUNE, ""));
    env.wait_synced_healthy("web");

    // The down receiver: attempts fail, the status says so.
    let status = eventually(
        "the status to show the failure",
        Duration::from_secs(15),
        || {
            let s = notifier_status(&env, "later");
            (ready(&s)["status"] == "False").then_some(s)
        },
    );
    assert!(
        status["lastFailure"]["message"]
            .as_str()
            .unwrap()
            .contains("connect"),
        "{status}"
    );
    assert!(
        !hung_conns.lock().unwrap().is_empty(),
        "the hung receiver was called"
    );

    // Syncs go on at full speed while one target hangs (each attempt would hold
    // for 60 s) and the other is down: each commit is Synced within a bound far
    // below one delivery attempt.
    for i in 2..5 {
        repo.write("app/cm.yaml", &configmap("cm", &i.to_string()));
        let rev = repo.commit(&format!("change {i}"));
        let started = Instant::now();
        env.wait_app("web", "synced", Duration::from_secs(20), |app| {
            app["status"]["sync"]["revision"] == rev.as_str() && sync(app) == "Synced"
        });
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a sync took {:?} with a hung receiver",
            started.elapsed()
        );
    }

    // Back after a while: every message waiting arrives, each once.
    std::thread::sleep(Duration::from_secs(3));
    down.listen(webhook(WEBHOOK_KEY));
    let got = eventually(
        "the messages after the receiver returned",
        Duration::from_secs(20),
        || {
            let got = events(&down, |g| {
                (
                    g.json["event"].as_str().unwrap_or("").to_string(),
                    g.json["revision"].as_str().unwrap_or("").to_string(),
                )
            });
            (got.len() >= 4).then_some(got)
        },
    );
    std::thread::sleep(Duration::from_secs(1));
    let got_now = down.accepted().len();
    assert_eq!(got_now, 4, "one per sync, no more: {got:?}");
    assert_no_repeats("webhook", &got);
    assert_eq!(count(&got, "SyncSucceeded", &first), 1, "{got:?}");
    assert!(down.refused().is_empty(), "{:?}", down.refused());
    let status = eventually("Ready again", Duration::from_secs(10), || {
        let s = notifier_status(&env, "later");
        (ready(&s)["status"] == "True").then_some(s)
    });
    assert!(status["counts"]["retry"].as_u64().unwrap() >= 1, "{status}");
    let notes = env.audit(&["--kind", "notification"]);
    assert!(
        notes
            .iter()
            .any(|r| r["outcome"] == "failed" && r["actor"] == "notifier:tether/later")
    );
    assert!(
        notes
            .iter()
            .any(|r| r["outcome"] == "succeeded" && r["actor"] == "notifier:tether/later")
    );
}
