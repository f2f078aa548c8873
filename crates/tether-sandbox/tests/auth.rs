//! HTTPS, authentication, RBAC and impersonation, driven the way users meet
//! them: real kubectl (every version on the machine) with the written
//! kubeconfig and with kubeconfigs holding ServiceAccount tokens from
//! `kubectl create token`, kube-rs, and raw HTTP where the exact Status body
//! matters.

mod common;

use std::time::Duration;

use common::{TestSandbox, stderr, stdout};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};
use tether_sandbox::Config;

async fn start() -> TestSandbox {
    TestSandbox::with_config(Config {
        rollout_delay: Duration::ZERO,
        ..Config::default()
    })
    .await
}

fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut s = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    if let Some(d) = details {
        s["details"] = d;
    }
    s
}

async fn get_as(ts: &TestSandbox, token: Option<&str>, path: &str) -> (u16, Value) {
    let resp = common::within(path, ts.http_as(token).get(ts.url(path)).send())
        .await
        .expect("request");
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap_or(Value::Null))
}

/// Namespaces `team` and `other`, ServiceAccount `team/app` with a Role that
/// lets it work with ConfigMaps in `team` only, and a token for it from
/// `kubectl create token`; returns the token.
async fn team_with_app(ts: &TestSandbox) -> String {
    ts.kubectl_ok(&["create", "namespace", "team"]).await;
    ts.kubectl_ok(&["create", "namespace", "other"]).await;
    ts.kubectl_ok(&["create", "serviceaccount", "app", "-n", "team"])
        .await;
    ts.kubectl_ok(&[
        "create",
        "role",
        "cm-editor",
        "-n",
        "team",
        "--verb=get,list,watch,create,delete",
        "--resource=configmaps",
    ])
    .await;
    ts.kubectl_ok(&[
        "create",
        "rolebinding",
        "app-cm",
        "-n",
        "team",
        "--role=cm-editor",
        "--serviceaccount=team:app",
    ])
    .await;
    ts.kubectl_ok(&[
        "create",
        "configmap",
        "x",
        "-n",
        "other",
        "--from-literal=a=1",
    ])
    .await;
    let token = ts
        .kubectl_ok(&["create", "token", "app", "-n", "team", "--duration=1h"])
        .await;
    token.trim().to_string()
}

const APP: &str = "system:serviceaccount:team:app";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_acts_in_its_namespace_and_gets_the_real_403_elsewhere() {
    let ts = start().await;
    let token = team_with_app(&ts).await;
    let kc = ts.kubeconfig_with_token("app.kubeconfig", &token);

    let out = ts
        .kubectl_config(&kc, &["create", "configmap", "mine", "-n", "team"])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ts
        .kubectl_config(&kc, &["get", "configmaps", "-n", "team", "-o", "name"])
        .await;
    assert!(stdout(&out).contains("configmap/mine"), "{}", stderr(&out));

    let out = ts
        .kubectl_config(&kc, &["get", "configmaps", "-n", "other"])
        .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            r#"Error from server (Forbidden): configmaps is forbidden: User "{APP}" cannot list resource "configmaps" in API group "" in the namespace "other""#
        )),
        "{}",
        stderr(&out)
    );

    // The Status bodies, as the real server writes them.
    let (code, body) = get_as(&ts, Some(&token), "/api/v1/namespaces/other/configmaps").await;
    assert_eq!(code, 403);
    assert_eq!(
        body,
        status(
            403,
            "Forbidden",
            &format!(
                r#"configmaps is forbidden: User "{APP}" cannot list resource "configmaps" in API group "" in the namespace "other""#
            ),
            Some(json!({"kind": "configmaps"}))
        )
    );
    let (code, body) = get_as(&ts, Some(&token), "/api/v1/namespaces/other/configmaps/x").await;
    assert_eq!(code, 403);
    assert_eq!(
        body,
        status(
            403,
            "Forbidden",
            &format!(
                r#"configmaps "x" is forbidden: User "{APP}" cannot get resource "configmaps" in API group "" in the namespace "other""#
            ),
            Some(json!({"name": "x", "kind": "configmaps"}))
        )
    );
    let (code, body) = get_as(&ts, Some(&token), "/apis/apps/v1/deployments").await;
    assert_eq!(code, 403);
    assert_eq!(
        body["message"],
        format!(
            r#"deployments.apps is forbidden: User "{APP}" cannot list resource "deployments" in API group "apps" at the cluster scope"#
        )
    );
    assert_eq!(
        body["details"],
        json!({"group": "apps", "kind": "deployments"})
    );
    // Discovery is open to every authenticated user; test controls are not.
    assert_eq!(get_as(&ts, Some(&token), "/api").await.0, 200);
    assert_eq!(get_as(&ts, Some(&token), "/apis/apps/v1").await.0, 200);
    let (code, body) = get_as(&ts, Some(&token), "/_sandbox/stats").await;
    assert_eq!(code, 403);
    assert_eq!(
        body,
        status(
            403,
            "Forbidden",
            &format!(r#"forbidden: User "{APP}" cannot get path "/_sandbox/stats""#),
            Some(json!({}))
        )
    );

    // kube-rs with the same kubeconfig.
    let kubeconfig = Kubeconfig::read_from(&kc).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    let client = kube::Client::try_from(config).expect("client");
    let team: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "from-kube-rs"}})).unwrap();
    team.create(&PostParams::default(), &cm)
        .await
        .expect("create in team");
    let other: Api<ConfigMap> = Api::namespaced(client, "other");
    match other.list(&Default::default()).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 403);
            assert_eq!(s.reason, "Forbidden");
            assert!(
                s.message.starts_with(
                    "configmaps is forbidden: User \"system:serviceaccount:team:app\""
                ),
                "{}",
                s.message
            );
        }
        other => panic!("expected 403, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_expired_forged_and_foreign_tokens_get_401() {
    let ts = start().await;
    let token = team_with_app(&ts).await;
    let unauthorized = status(401, "Unauthorized", "Unauthorized", None);
    for path in [
        "/api/v1/namespaces",
        "/api",
        "/apis",
        "/openapi/v2",
        "/_sandbox/stats",
    ] {
        assert_eq!(
            get_as(&ts, None, path).await,
            (401, unauthorized.clone()),
            "{path}"
        );
    }
    // What a real server leaves open.
    for path in ["/version", "/healthz", "/livez", "/readyz"] {
        assert_eq!(get_as(&ts, None, path).await.0, 200, "{path}");
    }
    // Expired an hour ago (10 minutes of life, issued 70 minutes ago).
    let now = jiff::Timestamp::now().as_second();
    let expired = ts
        .sandbox
        .service_account_token_at("team", "app", now - 4200, 600)
        .expect("token");
    assert_eq!(
        get_as(&ts, Some(&expired), "/api").await,
        (401, unauthorized.clone())
    );
    // The same claims, signed by a key of another sandbox.
    let other = start().await;
    other.kubectl_ok(&["create", "namespace", "team"]).await;
    other
        .kubectl_ok(&["create", "serviceaccount", "app", "-n", "team"])
        .await;
    let forged = other
        .sandbox
        .service_account_token_at("team", "app", now, 3600)
        .expect("token");
    assert_eq!(
        get_as(&ts, Some(&forged), "/api").await,
        (401, unauthorized.clone())
    );
    assert_eq!(
        get_as(&ts, Some("not-a-token"), "/version").await,
        (401, unauthorized.clone())
    );
    // A token for another audience is not for the API server.
    let foreign = ts
        .kubectl_ok(&["create", "token", "app", "-n", "team", "--audience=vault"])
        .await;
    assert_eq!(get_as(&ts, Some(foreign.trim()), "/api").await.0, 401);
    // A token outlives its ServiceAccount only until the account is gone.
    assert_eq!(get_as(&ts, Some(&token), "/api").await.0, 200);
    ts.kubectl_ok(&["delete", "serviceaccount", "app", "-n", "team"])
        .await;
    assert_eq!(get_as(&ts, Some(&token), "/api").await.0, 401);
    ts.kubectl_ok(&["create", "serviceaccount", "app", "-n", "team"])
        .await;
    assert_eq!(
        get_as(&ts, Some(&token), "/api").await.0,
        401,
        "a new account has a new uid"
    );

    // TokenReview tells why.
    let review = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": expired}});
    let (code, body) =
        common::post(&ts, "/apis/authentication.k8s.io/v1/tokenreviews", &review).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["status"]["authenticated"], Value::Null);
    assert_eq!(body["status"]["error"], "token has expired");
    // Too short a duration is refused as the real server refuses it.
    let out = ts
        .kubectl_with(
            &common::kubectl(),
            &["create", "token", "app", "-n", "team", "--duration=1m"],
        )
        .await;
    assert!(stderr(&out).contains("spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_i_list_and_whoami_show_a_service_accounts_rules() {
    let ts = start().await;
    let token = team_with_app(&ts).await;
    let kc = ts.kubeconfig_with_token("app.kubeconfig", &token);
    let can = |args: &'static [&'static str]| {
        let kc = kc.clone();
        let ts = &ts;
        async move {
            let mut a = vec!["auth", "can-i"];
            a.extend_from_slice(args);
            let out = ts.kubectl_config(&kc, &a).await;
            stdout(&out).trim().to_string()
        }
    };
    assert_eq!(can(&["create", "configmaps", "-n", "team"]).await, "yes");
    assert_eq!(can(&["delete", "configmaps/x", "-n", "team"]).await, "yes");
    assert_eq!(can(&["update", "configmaps", "-n", "team"]).await, "no");
    assert_eq!(can(&["list", "configmaps", "-n", "other"]).await, "no");
    assert_eq!(can(&["list", "pods", "-n", "team"]).await, "no");
    assert_eq!(can(&["get", "/api"]).await, "yes");

    let out = ts
        .kubectl_config(&kc, &["auth", "can-i", "--list", "-n", "team"])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let list = stdout(&out);
    let row = list
        .lines()
        .find(|l| l.starts_with("configmaps "))
        .unwrap_or_else(|| panic!("no configmaps row:\n{list}"));
    assert!(row.contains("[get list watch create delete]"), "{row}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("selfsubjectaccessreviews.authorization.k8s.io")),
        "{list}"
    );
    assert!(list.contains("[/api/*]"), "{list}");
    let out = ts
        .kubectl_config(&kc, &["auth", "can-i", "--list", "-n", "other"])
        .await;
    assert!(
        !stdout(&out).lines().any(|l| l.starts_with("configmaps ")),
        "{}",
        stdout(&out)
    );

    // The admin asks on the account's behalf.
    let out = ts
        .kubectl_with(
            &common::kubectl(),
            &[
                "auth",
                "can-i",
                "create",
                "configmaps",
                "-n",
                "team",
                &format!("--as={APP}"),
            ],
        )
        .await;
    assert_eq!(stdout(&out).trim(), "yes");
    let out = ts
        .kubectl_with(
            &common::kubectl(),
            &[
                "auth",
                "can-i",
                "create",
                "configmaps",
                "-n",
                "other",
                &format!("--as={APP}"),
            ],
        )
        .await;
    assert_eq!(stdout(&out).trim(), "no");

    let out = ts
        .kubectl_config(&kc, &["auth", "whoami", "-o", "json"])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let me: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(me["status"]["userInfo"]["username"], APP);
    assert_eq!(
        me["status"]["userInfo"]["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:team",
            "system:authenticated"
        ])
    );
    let admin = ts.kubectl_ok(&["auth", "whoami", "-o", "json"]).await;
    let admin: Value = serde_json::from_str(&admin).expect("json");
    assert_eq!(admin["status"]["userInfo"]["username"], "kubernetes-admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonation_needs_the_impersonate_verb() {
    let ts = start().await;
    team_with_app(&ts).await;
    ts.kubectl_ok(&["create", "serviceaccount", "deployer", "-n", "team"])
        .await;
    ts.kubectl_ok(&["create", "serviceaccount", "plain", "-n", "team"])
        .await;
    ts.kubectl_ok(&[
        "create",
        "role",
        "impersonate-app",
        "-n",
        "team",
        "--verb=impersonate",
        "--resource=serviceaccounts",
        "--resource-name=app",
    ])
    .await;
    ts.kubectl_ok(&[
        "create",
        "rolebinding",
        "deployer-impersonates",
        "-n",
        "team",
        "--role=impersonate-app",
        "--serviceaccount=team:deployer",
    ])
    .await;
    let deployer = ts
        .kubectl_ok(&["create", "token", "deployer", "-n", "team"])
        .await;
    let plain = ts
        .kubectl_ok(&["create", "token", "plain", "-n", "team"])
        .await;
    let deployer_kc = ts.kubeconfig_with_token("deployer.kubeconfig", deployer.trim());
    let plain_kc = ts.kubeconfig_with_token("plain.kubeconfig", plain.trim());
    let as_app = format!("--as={APP}");

    // Allowed: the request then has the app's rights, no more.
    let out = ts
        .kubectl_config(
            &deployer_kc,
            &["get", "configmaps", "-n", "team", &as_app, "-o", "name"],
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("configmap/kube-root-ca.crt"));
    let out = ts
        .kubectl_config(&deployer_kc, &["get", "configmaps", "-n", "other", &as_app])
        .await;
    assert!(
        stderr(&out).contains(&format!(
            r#"User "{APP}" cannot list resource "configmaps""#
        )),
        "{}",
        stderr(&out)
    );
    // Without the verb, or for another account: refused, worded as the real server.
    let out = ts
        .kubectl_config(&plain_kc, &["get", "configmaps", "-n", "team", &as_app])
        .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(r#"Error from server (Forbidden): serviceaccounts "app" is forbidden: User "system:serviceaccount:team:plain" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "team""#),
        "{}",
        stderr(&out)
    );
    let out = ts
        .kubectl_config(
            &deployer_kc,
            &[
                "get",
                "configmaps",
                "-n",
                "team",
                "--as=system:serviceaccount:team:plain",
            ],
        )
        .await;
    assert!(
        stderr(&out).contains(r#"serviceaccounts "plain" is forbidden"#),
        "{}",
        stderr(&out)
    );
    let out = ts
        .kubectl_config(
            &deployer_kc,
            &["get", "configmaps", "-n", "team", "--as=jane"],
        )
        .await;
    assert!(
        stderr(&out).contains(r#"users "jane" is forbidden: User "system:serviceaccount:team:deployer" cannot impersonate resource "users" in API group "" at the cluster scope"#),
        "{}",
        stderr(&out)
    );

    // The admin may impersonate anyone; --as-group gives a user a group's bindings.
    ts.kubectl_ok(&[
        "create",
        "rolebinding",
        "viewers",
        "-n",
        "team",
        "--clusterrole=view",
        "--group=viewers",
    ])
    .await;
    let out = ts
        .kubectl_with(
            &common::kubectl(),
            &[
                "get",
                "configmaps",
                "-n",
                "team",
                "--as=jane",
                "--as-group=viewers",
                "-o",
                "name",
            ],
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ts
        .kubectl_with(
            &common::kubectl(),
            &["get", "configmaps", "-n", "team", "--as=jane"],
        )
        .await;
    assert!(stderr(&out).contains(r#"User "jane" cannot list resource "configmaps" in API group "" in the namespace "team""#), "{}", stderr(&out));
    // The raw 403 of an impersonation.
    let resp = ts
        .http_as(Some(plain.trim()))
        .get(ts.url("/api/v1/namespaces/team/configmaps"))
        .header("Impersonate-User", APP)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 403);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body["details"],
        json!({"name": "app", "kind": "serviceaccounts"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelled_cluster_roles_are_aggregated_into_view() {
    let ts = start().await;
    let token = team_with_app(&ts).await;
    let role = ts.file(
        "widgets-view.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: widgets-view\n  labels:\n    rbac.authorization.k8s.io/aggregate-to-view: \"true\"\nrules:\n- apiGroups: [example.com]\n  resources: [widgets]\n  verbs: [get, list, watch]\n",
    );
    ts.kubectl_ok(&["apply", "-f", role.to_str().unwrap()])
        .await;
    let has_widgets = |role: &str| {
        let role = role.to_string();
        let ts = &ts;
        async move {
            let out = ts
                .kubectl_ok(&["get", "clusterrole", &role, "-o", "json"])
                .await;
            let v: Value = serde_json::from_str(&out).expect("json");
            v["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["resources"] == json!(["widgets"]))
        }
    };
    for role in ["view", "edit", "admin"] {
        assert!(has_widgets(role).await, "{role} aggregates widgets-view");
    }
    // Bound to view, the account may now read widgets.
    ts.kubectl_ok(&[
        "create",
        "rolebinding",
        "app-view",
        "-n",
        "team",
        "--clusterrole=view",
        "--serviceaccount=team:app",
    ])
    .await;
    let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"namespace": "team", "verb": "list", "group": "example.com", "resource": "widgets"}}});
    let resp = ts
        .http_as(Some(&token))
        .post(ts.url("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"))
        .json(&review)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 201);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["status"]["allowed"], true, "{body}");
    assert_eq!(
        body["status"]["reason"],
        r#"RBAC: allowed by RoleBinding "app-view/team" of ClusterRole "view" to ServiceAccount "team/app""#
    );
    // Removing the label takes the rules out again.
    ts.kubectl_ok(&[
        "label",
        "clusterrole",
        "widgets-view",
        "rbac.authorization.k8s.io/aggregate-to-view-",
    ])
    .await;
    assert!(!has_widgets("view").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_namespace_has_a_default_service_account_and_the_root_ca() {
    let ts = start().await;
    for ns in ["default", "kube-system", "kube-public"] {
        ts.kubectl_ok(&["get", "serviceaccount", "default", "-n", ns])
            .await;
    }
    ts.kubectl_ok(&["create", "namespace", "fresh"]).await;
    ts.kubectl_ok(&["get", "serviceaccount", "default", "-n", "fresh"])
        .await;
    let ca = ts
        .kubectl_ok(&[
            "get",
            "configmap",
            "kube-root-ca.crt",
            "-n",
            "fresh",
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ])
        .await;
    assert_eq!(ca, ts.sandbox.ca_pem());
    // Deleted, they come back, as the cluster's controllers bring them back.
    ts.kubectl_ok(&["delete", "serviceaccount", "default", "-n", "fresh"])
        .await;
    ts.kubectl_ok(&["delete", "configmap", "kube-root-ca.crt", "-n", "fresh"])
        .await;
    ts.eventually(
        "the defaults to be back",
        Duration::from_secs(5),
        || async {
            let sa = ts
                .kubectl_with(
                    &common::kubectl(),
                    &["get", "serviceaccount", "default", "-n", "fresh"],
                )
                .await;
            let cm = ts
                .kubectl_with(
                    &common::kubectl(),
                    &["get", "configmap", "kube-root-ca.crt", "-n", "fresh"],
                )
                .await;
            (sa.status.success() && cm.status.success()).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kubectl_version_works_with_the_written_kubeconfig() {
    let ts = start().await;
    let mut tried = Vec::new();
    for v in ["1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33"] {
        let Some(bin) = common::versioned_kubectl(v) else {
            continue;
        };
        let out = ts
            .kubectl_with(&bin, &["get", "namespaces", "-o", "name"])
            .await;
        assert!(
            stdout(&out).contains("namespace/kube-system"),
            "kubectl {v}: {}",
            stderr(&out)
        );
        let out = ts
            .kubectl_with(&bin, &["auth", "can-i", "delete", "nodes"])
            .await;
        assert_eq!(stdout(&out).trim(), "yes", "kubectl {v}: {}", stderr(&out));
        tried.push(v);
    }
    assert!(
        tried.contains(&"1.28"),
        "kubectl 1.28 is installed: {tried:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ca_and_admin_token_are_kept_in_the_data_dir() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = || Config {
        rollout_delay: Duration::ZERO,
        data_dir: Some(dir.path().join("state")),
        ..Config::default()
    };
    let first = TestSandbox::with_config(config()).await;
    first.kubectl_ok(&["create", "namespace", "kept"]).await;
    let saved = dir.path().join("first.kubeconfig");
    std::fs::copy(&first.kubeconfig, &saved).expect("copy");
    let (ca, admin, port) = (
        first.sandbox.ca_pem().to_string(),
        first.sandbox.admin_token().to_string(),
        first.sandbox.addr().port(),
    );
    first.sandbox.shutdown().await;
    let again = TestSandbox::with_config(Config { port, ..config() }).await;
    assert_eq!(again.sandbox.ca_pem(), ca);
    assert_eq!(again.sandbox.admin_token(), admin);
    // The kubeconfig written before the restart still works, unchanged.
    let out = again
        .kubectl_config(&saved, &["get", "namespace", "kept", "-o", "name"])
        .await;
    assert_eq!(stdout(&out).trim(), "namespace/kept", "{}", stderr(&out));
    let mode = std::fs::metadata(dir.path().join("state/pki/ca.key"))
        .expect("ca.key")
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o077,
        0,
        "private keys are private"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_http_and_anonymous_admin_keep_the_old_ways() {
    let ts = TestSandbox::with_config(Config {
        rollout_delay: Duration::ZERO,
        https: false,
        anonymous_admin: true,
        ..Config::default()
    })
    .await;
    assert!(ts.sandbox.url().starts_with("http://"));
    let text = std::fs::read_to_string(&ts.kubeconfig).expect("kubeconfig");
    assert!(!text.contains("certificate-authority-data"));
    assert_eq!(get_as(&ts, None, "/api/v1/namespaces").await.0, 200);
    ts.kubectl_ok(&["create", "configmap", "c"]).await;
    // Impersonation still narrows what a request may do.
    let out = ts
        .kubectl_with(&common::kubectl(), &["get", "configmaps", "--as=jane"])
        .await;
    assert!(stderr(&out).contains("(Forbidden)"), "{}", stderr(&out));

    // HTTPS with anonymous admin: any token, or none, is the admin.
    let open = TestSandbox::with_config(Config {
        rollout_delay: Duration::ZERO,
        anonymous_admin: true,
        ..Config::default()
    })
    .await;
    assert!(open.sandbox.url().starts_with("https://"));
    assert_eq!(get_as(&open, None, "/api/v1/namespaces").await.0, 200);
    assert_eq!(
        get_as(&open, Some("anything"), "/_sandbox/stats").await.0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_and_issuer_documents() {
    let ts = start().await;
    let token = team_with_app(&ts).await;
    // SubjectAccessReview and LocalSubjectAccessReview, as the admin.
    let sar = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": APP, "groups": ["system:serviceaccounts"], "resourceAttributes": {"namespace": "team", "verb": "create", "resource": "configmaps"}}});
    let (code, body) = common::post(
        &ts,
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        &sar,
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["status"]["allowed"], true);
    assert_eq!(body["spec"]["user"], APP);
    let lsar = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
        "spec": {"user": APP, "resourceAttributes": {"verb": "create", "resource": "configmaps"}}});
    let (code, body) = common::post(
        &ts,
        "/apis/authorization.k8s.io/v1/namespaces/other/localsubjectaccessreviews",
        &lsar,
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["status"]["allowed"], false);
    assert_eq!(body["spec"]["resourceAttributes"]["namespace"], "other");
    // The account may not ask about others.
    let resp = ts
        .http_as(Some(&token))
        .post(ts.url("/apis/authorization.k8s.io/v1/subjectaccessreviews"))
        .json(&sar)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 403);
    // SelfSubjectRulesReview.
    let resp = ts
        .http_as(Some(&token))
        .post(ts.url("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"))
        .json(&json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {"namespace": "team"}}))
        .send()
        .await
        .expect("request");
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["status"]["resourceRules"].as_array().expect("rules").contains(&json!({
            "verbs": ["get", "list", "watch", "create", "delete"], "apiGroups": [""], "resources": ["configmaps"]
        })),
        "{body}"
    );
    assert_eq!(body["status"]["incomplete"], false);
    // The issuer's documents, for ServiceAccounts (system:service-account-issuer-discovery).
    let (code, jwks) = get_as(&ts, Some(&token), "/openid/v1/jwks").await;
    assert_eq!(code, 200);
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    let (code, oidc) = get_as(&ts, Some(&token), "/.well-known/openid-configuration").await;
    assert_eq!(code, 200);
    assert_eq!(
        oidc["issuer"],
        "https://kubernetes.default.svc.cluster.local"
    );
    assert_eq!(get_as(&ts, None, "/openid/v1/jwks").await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_that_creates_needs_create_as_well_as_patch() {
    let ts = start().await;
    ts.kubectl_ok(&["create", "namespace", "team"]).await;
    ts.kubectl_ok(&["create", "serviceaccount", "patcher", "-n", "team"])
        .await;
    ts.kubectl_ok(&[
        "create",
        "role",
        "patch-only",
        "-n",
        "team",
        "--verb=get,patch",
        "--resource=configmaps",
    ])
    .await;
    ts.kubectl_ok(&[
        "create",
        "rolebinding",
        "patcher",
        "-n",
        "team",
        "--role=patch-only",
        "--serviceaccount=team:patcher",
    ])
    .await;
    ts.kubectl_ok(&["create", "configmap", "there", "-n", "team"])
        .await;
    let token = ts
        .kubectl_ok(&["create", "token", "patcher", "-n", "team"])
        .await;
    let client = ts.http_as(Some(token.trim()));
    let apply = |name: &str| {
        client
            .patch(ts.url(&format!("/api/v1/namespaces/team/configmaps/{name}?fieldManager=t")))
            .header("content-type", "application/apply-patch+yaml")
            .body(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}}).to_string())
            .send()
    };
    let resp = apply("there").await.expect("request");
    assert_eq!(resp.status().as_u16(), 200, "an existing object is patched");
    let resp = apply("new").await.expect("request");
    assert_eq!(resp.status().as_u16(), 403);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body,
        status(
            403,
            "Forbidden",
            r#"configmaps "new" is forbidden: "#,
            Some(json!({"name": "new", "kind": "configmaps"}))
        )
    );
}
