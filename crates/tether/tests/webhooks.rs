//! Git webhooks end to end (issue 11, proof 4): the real agent, with its poll interval
//! set to an hour, serving `--listen`; a repository served by `git http-backend`; pushes
//! announced by requests shaped and signed as GitHub, GitLab, Gitea, Bitbucket (Cloud and
//! Data Center) and the generic receiver send them. Unsigned, forged, SHA-1-only,
//! oversized and malformed requests and pushes for unknown repositories change nothing.

mod common;
#[path = "../../tether-source/tests/support/git_http.rs"]
mod git_http;
#[path = "support/http_client.rs"]
mod http_client;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tether_server::webhook::sign;

const SECRETS: [(&str, &str); 5] = [
    ("github", "gh-secret"),
    ("gitlab", "gl-token"),
    ("gitea", "gitea-secret"),
    ("bitbucket", "bb-secret"),
    ("generic", "generic-secret"),
];

fn secret(host: &str) -> &'static str {
    SECRETS.iter().find(|(h, _)| *h == host).unwrap().1
}

/// A push as `host` sends it: the headers its documentation lists and its JSON body.
fn push(
    host: &str,
    url: &str,
    git_ref: &str,
    before: &str,
    after: &str,
) -> (Vec<(String, String)>, Vec<u8>) {
    let branch = git_ref.trim_start_matches("refs/heads/");
    let commit = json!({"id": after, "message": "update", "timestamp": "2026-12-07T20:00:00Z",
        "author": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "added": [], "modified": ["app/cm.yaml"], "removed": []});
    let hostport = url.split("://").nth(1).unwrap().split('/').next().unwrap();
    let host_only = hostport.split(':').next().unwrap();
    let (body, mut headers): (Value, Vec<(String, String)>) = match host {
        "github" => (
            json!({"ref": git_ref, "before": before, "after": after, "created": false, "deleted": false,
                "repository": {"id": 1, "name": "deploy", "full_name": "org/deploy", "private": true,
                    "html_url": url, "clone_url": format!("{url}.git"),
                    "ssh_url": format!("git@{host_only}:deploy.git"), "default_branch": "main"},
                "pusher": {"name": "ada", "email": "ada@example.com"},
                "commits": [commit.clone()], "head_commit": commit}),
            vec![
                ("X-GitHub-Event".into(), "push".into()),
                (
                    "X-GitHub-Delivery".into(),
                    "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
                ),
                ("User-Agent".into(), "GitHub-Hookshot/044aadd".into()),
            ],
        ),
        "gitlab" => (
            json!({"object_kind": "push", "event_name": "push", "before": before, "after": after,
                "ref": git_ref, "checkout_sha": after, "user_username": "ada",
                "project": {"id": 15, "name": "deploy", "web_url": url,
                    "git_ssh_url": format!("git@{host_only}:deploy.git"),
                    "git_http_url": format!("{url}.git"), "default_branch": "main",
                    "path_with_namespace": "org/deploy"},
                "commits": [commit], "total_commits_count": 1,
                "repository": {"name": "deploy", "url": format!("git@{host_only}:deploy.git"),
                    "homepage": url, "git_http_url": format!("{url}.git")}}),
            vec![
                ("X-Gitlab-Event".into(), "Push Hook".into()),
                ("X-Gitlab-Token".into(), secret("gitlab").into()),
                ("User-Agent".into(), "GitLab/17.0.0".into()),
            ],
        ),
        // Only the scp-style ssh URL: it must match the app's http URL.
        "gitea" => (
            json!({"ref": git_ref, "before": before, "after": after, "compare_url": "",
                "commits": [commit], "total_commits": 1,
                "repository": {"id": 1, "name": "deploy", "full_name": "org/deploy",
                    "ssh_url": format!("git@{host_only}:deploy.git"), "default_branch": "main"},
                "pusher": {"login": "ada"}}),
            vec![
                ("X-Gitea-Event".into(), "push".into()),
                ("X-Gitea-Delivery".into(), "d-1".into()),
            ],
        ),
        "bitbucket" => (
            json!({"actor": {"display_name": "Ada"},
                "repository": {"type": "repository", "name": "deploy", "full_name": "org/deploy",
                    "links": {"html": {"href": url}}, "mainbranch": {"name": "main"}},
                "push": {"changes": [{"new": {"type": "branch", "name": branch, "target": {"type": "commit", "hash": after}},
                    "old": {"type": "branch", "name": branch, "target": {"type": "commit", "hash": before}},
                    "created": false, "closed": false, "forced": false}]}}),
            vec![
                ("X-Event-Key".into(), "repo:push".into()),
                (
                    "X-Request-UUID".into(),
                    "afe0b5ba-1111-4bbc-8c4c-e0bb7f1cc1b9".into(),
                ),
            ],
        ),
        "bitbucket-dc" => (
            json!({"eventKey": "repo:refs_changed", "date": "2026-12-07T20:00:00+0000",
                "actor": {"name": "ada"},
                "repository": {"slug": "deploy", "name": "deploy", "project": {"key": "ORG"},
                    "links": {"clone": [{"href": format!("ssh://git@{host_only}:7999/deploy.git"), "name": "ssh"},
                                        {"href": format!("{url}.git"), "name": "http"}]}},
                "changes": [{"ref": {"id": git_ref, "displayId": branch, "type": "BRANCH"},
                    "refId": git_ref, "fromHash": before, "toHash": after, "type": "UPDATE"}]}),
            vec![
                ("X-Event-Key".into(), "repo:refs_changed".into()),
                ("X-Request-Id".into(), "r-1".into()),
            ],
        ),
        "generic" => (json!({"repository": url, "ref": git_ref}), vec![]),
        other => panic!("no such host {other}"),
    };
    let body = serde_json::to_vec(&body).unwrap();
    headers.push(("Content-Type".into(), "application/json".into()));
    let key = match host {
        "bitbucket-dc" => secret("bitbucket"),
        "gitlab" => "",
        h => secret(h),
    };
    let sig = sign(&body, key.as_bytes());
    match host {
        "github" => headers.push(("X-Hub-Signature-256".into(), sig)),
        "gitea" => {
            headers.push((
                "X-Gitea-Signature".into(),
                sig.trim_start_matches("sha256=").into(),
            ));
            headers.push(("X-Hub-Signature-256".into(), sig));
        }
        "bitbucket" | "bitbucket-dc" => headers.push(("X-Hub-Signature".into(), sig)),
        "generic" => headers.push(("X-Signature".into(), sig)),
        _ => {}
    }
    (headers, body)
}

fn post(
    addr: SocketAddr,
    route: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> http_client::Response {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    http_client::request(addr, "POST", &format!("/api/webhook/{route}"), &h, body)
}

fn cm_value(env: &Env, ns: &str) -> Option<String> {
    env.get("configmap", ns, "pushed")
        .and_then(|c| c["data"]["value"].as_str().map(str::to_owned))
}

#[test]
fn signed_pushes_reach_the_cluster_and_forgeries_change_nothing() {
    let mut env = Env::start();
    let root = env.dir.path().join("served");
    let repo = Repo::init(&root.join("deploy"));
    repo.write("app/cm.yaml", &configmap("pushed", "v0"));
    let mut head = repo.commit("v0");
    repo.git(&["branch", "dev"]);
    let server = git_http::GitHttpServer::start(&root, None);
    let url = server.url("deploy");
    let addr = http_client::free_addr();
    let listen = addr.to_string();
    env.agent(&["--poll-interval", "3600", "--listen", &listen]);
    let mut secret_args = vec![
        "create",
        "secret",
        "generic",
        "tether-webhook",
        "-n",
        "tether",
    ];
    let literals: Vec<String> = SECRETS
        .iter()
        .map(|(k, v)| format!("--from-literal={k}={v}"))
        .collect();
    secret_args.extend(literals.iter().map(String::as_str));
    env.kubectl_ok(&secret_args);
    env.apply_yaml(&app_yaml(
        "main-app",
        &url,
        "app",
        "hooks",
        AUTO_PRUNE,
        "    revision: main",
    ));
    env.apply_yaml(&app_yaml(
        "dev-app",
        &url,
        "app",
        "hooks-dev",
        AUTO_PRUNE,
        "    revision: dev",
    ));
    env.wait_synced_healthy("main-app");
    env.wait_synced_healthy("dev-app");
    assert_eq!(cm_value(&env, "hooks").as_deref(), Some("v0"));

    // Each host's signed push reaches the cluster: the poll interval is an hour, so only
    // the webhook can have made the agent look.
    for host in [
        "github",
        "gitlab",
        "gitea",
        "bitbucket",
        "bitbucket-dc",
        "generic",
    ] {
        let value = format!("from-{host}");
        repo.write("app/cm.yaml", &configmap("pushed", &value));
        let before = head.clone();
        head = repo.commit(&value);
        let (headers, body) = push(host, &url, "refs/heads/main", &before, &head);
        let route = host.trim_end_matches("-dc");
        let r = post(addr, route, &headers, &body);
        assert_eq!(r.status, 200, "{host}: {}", r.body);
        let answer = r.json();
        assert_eq!(
            answer["apps"],
            json!(["tether/main-app"]),
            "{host}: the dev app stays asleep: {answer}"
        );
        assert_eq!(answer["via"], "agent", "{answer}");
        eventually(
            &format!("{host}'s push applied"),
            Duration::from_secs(20),
            || (cm_value(&env, "hooks").as_deref() == Some(value.as_str())).then_some(()),
        );
    }
    assert_eq!(
        cm_value(&env, "hooks-dev").as_deref(),
        Some("v0"),
        "dev did not move"
    );

    // A commit nobody announces properly stays undeployed through every refusal.
    repo.write("app/cm.yaml", &configmap("pushed", "forged"));
    let before = head.clone();
    head = repo.commit("forged");
    let (headers, body) = push("github", &url, "refs/heads/main", &before, &head);
    let without = |name: &str| -> Vec<(String, String)> {
        headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case(name))
            .cloned()
            .collect()
    };
    // Unsigned.
    let r = post(addr, "github", &without("X-Hub-Signature-256"), &body);
    assert_eq!(r.status, 401, "{}", r.body);
    // Signed with another secret.
    let mut forged = without("X-Hub-Signature-256");
    forged.push(("X-Hub-Signature-256".into(), sign(&body, b"guessed")));
    let r = post(addr, "github", &forged, &body);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{}",
        r.body
    );
    // The right signature over another body.
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let r = post(addr, "github", &headers, &tampered);
    assert_eq!(r.status, 401, "{}", r.body);
    // SHA-1 only.
    let mut sha1 = without("X-Hub-Signature-256");
    sha1.push((
        "X-Hub-Signature".into(),
        "sha1=0000000000000000000000000000000000000000".into(),
    ));
    let r = post(addr, "github", &sha1, &body);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("SHA-1"), "{}", r.body);
    // GitLab with a wrong token.
    let (mut gl_headers, gl_body) = push("gitlab", &url, "refs/heads/main", &before, &head);
    gl_headers.retain(|(k, _)| k != "X-Gitlab-Token");
    gl_headers.push(("X-Gitlab-Token".into(), "wrong".into()));
    assert_eq!(post(addr, "gitlab", &gl_headers, &gl_body).status, 401);
    // Oversized: refused before it is read whole, signed or not.
    let big = vec![b' '; (1 << 20) + 1];
    let mut big_headers = without("X-Hub-Signature-256");
    big_headers.push((
        "X-Hub-Signature-256".into(),
        sign(&big, secret("github").as_bytes()),
    ));
    let r = post(addr, "github", &big_headers, &big);
    assert_eq!(r.status, 413, "{}", r.body);
    // Malformed, though correctly signed.
    for junk in [
        &b"{not json"[..],
        b"[]",
        br#"{"ref":"refs/heads/main"}"#,
        br#"{"ref":7,"repository":{}}"#,
    ] {
        let mut h = without("X-Hub-Signature-256");
        h.push((
            "X-Hub-Signature-256".into(),
            sign(junk, secret("github").as_bytes()),
        ));
        let r = post(addr, "github", &h, junk);
        assert_eq!(
            r.status,
            400,
            "{}: {}",
            String::from_utf8_lossy(junk),
            r.body
        );
        assert_eq!(r.json()["code"], "MalformedPayload");
    }
    // A correctly signed push for a repository no Application reads.
    let (h, b) = push(
        "github",
        "http://git.example.com/elsewhere",
        "refs/heads/main",
        &before,
        &head,
    );
    let r = post(addr, "github", &h, &b);
    assert_eq!(r.status, 202, "{}", r.body);
    // A push to a branch no app follows.
    let (h, b) = push("github", &url, "refs/heads/feature", &before, &head);
    let r = post(addr, "github", &h, &b);
    assert_eq!(r.status, 202, "{}", r.body);
    // An unknown host.
    assert_eq!(post(addr, "svn", &headers, &body).status, 404);

    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        cm_value(&env, "hooks").as_deref(),
        Some("from-generic"),
        "no refused request deployed anything"
    );

    // Every refusal of a signature is in the audit log, naming the host.
    let refused = env.audit(&["--kind", "error", "--actor", "webhook:*"]);
    assert!(refused.len() >= 5, "{refused:#?}");
    assert!(
        refused.iter().any(|r| r["actor"] == "webhook:github"
            && r["message"]
                .as_str()
                .unwrap_or("")
                .contains("does not match")),
        "{refused:#?}"
    );
    assert!(
        refused.iter().any(|r| r["actor"] == "webhook:gitlab"),
        "{refused:#?}"
    );

    // The real push still works after all that, and the metrics counted each result.
    let r = post(addr, "github", &headers, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    eventually(
        "the announced commit applied",
        Duration::from_secs(20),
        || (cm_value(&env, "hooks").as_deref() == Some("forged")).then_some(()),
    );
    let metrics = http_client::get(addr, "/metrics").body;
    for line in [
        r#"tether_webhook_requests_total{host="github",result="accepted"} 2"#,
        r#"tether_webhook_requests_total{host="github",result="unauthorized"} 4"#,
        r#"tether_webhook_requests_total{host="github",result="too_large"} 1"#,
        r#"tether_webhook_requests_total{host="github",result="malformed"} 4"#,
        r#"tether_webhook_requests_total{host="github",result="unknown_repo"} 1"#,
        r#"tether_webhook_requests_total{host="gitlab",result="unauthorized"} 1"#,
        r#"tether_webhook_requests_total{host="bitbucket",result="accepted"} 2"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }
}

/// Without the Secret, every request is refused: an unconfigured receiver never
/// accepts unsigned pushes.
#[test]
fn without_a_secret_nothing_is_accepted() {
    let mut env = Env::start();
    let addr = http_client::free_addr();
    env.agent(&["--poll-interval", "3600", "--listen", &addr.to_string()]);
    let body = br#"{"repository":"http://h/r","ref":"refs/heads/main"}"#;
    let sig = sign(body, b"anything");
    let r = http_client::request(
        addr,
        "POST",
        "/api/webhook/generic",
        &[("X-Signature", &sig)],
        body,
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.body.contains("tether-webhook"),
        "says which Secret to create: {}",
        r.body
    );
}

/// A standby replica runs no agent: it answers the webhook by writing the refresh
/// annotation on the matched automated app, and the leader (polling once an hour) applies
/// the commit.
#[test]
fn a_standby_replica_hands_the_push_to_the_leader() {
    let mut env = Env::start();
    env.kubectl_ok(&["create", "namespace", "tether"]);
    let root = env.dir.path().join("served");
    let repo = Repo::init(&root.join("deploy"));
    repo.write("app/cm.yaml", &configmap("pushed", "v0"));
    let first = repo.commit("v0");
    let server = git_http::GitHttpServer::start(&root, None);
    let url = server.url("deploy");
    let leader_addr = http_client::free_addr();
    let election = [
        "--leader-elect",
        "--lease-duration",
        "3",
        "--renew-deadline",
        "2",
        "--retry-period",
        "0.5",
    ];
    let mut leader_args = vec!["--poll-interval", "3600", "--identity", "leader"];
    leader_args.extend(election);
    let leader_listen = leader_addr.to_string();
    leader_args.extend(["--listen", leader_listen.as_str()]);
    env.agent(&leader_args);
    eventually("the first replica leads", Duration::from_secs(20), || {
        let lease = env.get("lease", "tether", "tether-agent-in-cluster")?;
        (lease["spec"]["holderIdentity"] == "leader").then_some(())
    });
    let standby_addr = http_client::free_addr();
    let standby_listen = standby_addr.to_string();
    let mut standby_args = vec!["--identity", "standby", "--listen", standby_listen.as_str()];
    standby_args.extend(election);
    let mut standby = env.spawn_agent("standby", &standby_args);
    env.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "tether-webhook",
        "-n",
        "tether",
        "--from-literal=github=gh-secret",
    ]);
    env.apply_yaml(&app_yaml(
        "main-app",
        &url,
        "app",
        "hooks",
        AUTO_PRUNE,
        "    revision: main",
    ));
    env.wait_synced_healthy("main-app");

    repo.write("app/cm.yaml", &configmap("pushed", "via-standby"));
    let second = repo.commit("v1");
    let (headers, body) = push("github", &url, "refs/heads/main", &first, &second);
    let answer = eventually("the standby serves", Duration::from_secs(10), || {
        std::net::TcpStream::connect(standby_addr).ok()?;
        Some(post(standby_addr, "github", &headers, &body))
    });
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["via"], "annotation", "{}", answer.body);
    let app = env.app("main-app");
    assert_eq!(
        app["metadata"]["annotations"]["tether.dev/refresh-by"], "webhook:github",
        "{app}"
    );
    eventually(
        "the leader applied the push",
        Duration::from_secs(20),
        || (cm_value(&env, "hooks").as_deref() == Some("via-standby")).then_some(()),
    );
    let _ = standby.kill();
    let _ = standby.wait();
}
