//! What clients other than kubectl and kube-rs expect of an API server, each
//! checked over HTTP against what the real server does: bodies without `kind`,
//! boolean query parameters, the encoder's newline, typed list items, the
//! `managedFields` of value structs (against the recorded replays of a real
//! server), Secret `stringData`, name rules, and Events served by two groups
//! (with real kubectl).

mod common;

use std::time::Duration;

use common::{TestSandbox, get, post, send, shared_k8s_api, within};
use serde_json::{Value, json};

const NS: &str = "default";

async fn raw(ts: &TestSandbox, method: &str, path: &str, ct: &str, body: &str) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let resp = within(
        path,
        ts.http
            .request(method, ts.url(path))
            .header("content-type", ct)
            .body(body.to_string())
            .send(),
    )
    .await
    .expect("request");
    let code = resp.status().as_u16();
    (code, within(path, resp.text()).await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_without_kind_or_api_version_take_the_urls() {
    let ts = TestSandbox::start().await;
    let cms = "/api/v1/namespaces/default/configmaps";
    // JSON without either.
    let (code, body) = post(
        &ts,
        cms,
        &json!({"metadata": {"name": "bare"}, "data": {"a": "1"}}),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(
        (body["kind"].as_str(), body["apiVersion"].as_str()),
        (Some("ConfigMap"), Some("v1"))
    );
    // YAML with only a kind, and a PUT with neither.
    let (code, text) = raw(
        &ts,
        "POST",
        cms,
        "application/yaml",
        "kind: ConfigMap\nmetadata:\n  name: yaml\n",
    )
    .await;
    assert_eq!(code, 201, "{text}");
    let (_, cur) = get(&ts, &format!("{cms}/bare")).await;
    let put = json!({"metadata": {"name": "bare", "resourceVersion": cur["metadata"]["resourceVersion"]}, "data": {"a": "2"}});
    let (code, body) = send(&ts, "PUT", &format!("{cms}/bare"), "application/json", &put).await;
    assert_eq!((code, &body["data"]["a"]), (200, &json!("2")), "{body}");
    let (code, body) = get(&ts, "/apis/apps/v1/namespaces/default/deployments").await;
    assert_eq!(code, 200, "{body}");
    // Protobuf with an empty TypeMeta: a ConfigMap whose metadata.name is "pb".
    let meta = [&[0x0a, 2][..], b"pb"].concat();
    let object = [&[0x0a, meta.len() as u8][..], &meta].concat();
    let envelope = [&b"k8s\0"[..], &[0x12, object.len() as u8], &object].concat();
    let resp = within(
        "protobuf create",
        ts.http
            .post(ts.url(cms))
            .header("content-type", "application/vnd.kubernetes.protobuf")
            .body(envelope)
            .send(),
    )
    .await
    .expect("POST");
    let code = resp.status().as_u16();
    let body: Value = within("body", resp.json()).await.unwrap_or(Value::Null);
    assert_eq!(
        (code, &body["kind"], &body["metadata"]["name"]),
        (201, &json!("ConfigMap"), &json!("pb")),
        "{body}"
    );
    // A kind that contradicts the URL: the real decode error.
    let (code, body) = post(
        &ts,
        cms,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        "Secret in version \"v1\" cannot be handled as a ConfigMap: converting (v1.Secret) to (core.ConfigMap): unknown conversion"
    );
    let (code, body) = post(
        &ts,
        cms,
        &json!({"apiVersion": "v1", "kind": "Nope", "metadata": {"name": "x"}}),
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        body["message"].as_str().unwrap_or("").starts_with("Nope in version \"v1\" cannot be handled as a ConfigMap: no kind \"Nope\" is registered for version \"v1\""),
        "{body}"
    );
    let (code, body) = post(
        &ts,
        cms,
        &json!({"apiVersion": "apps/v1", "metadata": {"name": "x"}}),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        "the API version in the data (apps/v1) does not match the expected API version (v1)"
    );
    // Server-side apply names its version exactly, as the field manager requires.
    let apply = format!("{cms}/applied?fieldManager=t");
    let (code, text) = raw(
        &ts,
        "PATCH",
        &apply,
        "application/apply-patch+yaml",
        "kind: ConfigMap\nmetadata:\n  name: applied\n",
    )
    .await;
    assert_eq!(code, 400, "{text}");
    assert!(
        text.contains(
            "Incorrect version specified in apply patch. Specified patch version: , expected: v1"
        ),
        "{text}"
    );
    let (code, text) = raw(
        &ts,
        "PATCH",
        &apply,
        "application/apply-patch+yaml",
        "apiVersion: v1\nmetadata:\n  name: applied\n",
    )
    .await;
    assert_eq!(
        code, 201,
        "an applied configuration may leave out its kind: {text}"
    );
    // Custom resources decode unstructured: their kind is required, their apiVersion is not.
    let (code, _) = post(
        &ts,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &common::widget_crd(),
    )
    .await;
    assert_eq!(code, 201);
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    ts.eventually("widgets served", Duration::from_secs(5), || async {
        (get(&ts, widgets).await.0 == 200).then_some(())
    })
    .await;
    let (code, body) = post(&ts, widgets, &json!({"metadata": {"name": "w"}})).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("Object 'Kind' is missing in"),
        "{body}"
    );
    let (code, body) = post(
        &ts,
        widgets,
        &json!({"kind": "Widget", "metadata": {"name": "w"}}),
    )
    .await;
    assert_eq!(
        (code, body["apiVersion"].as_str()),
        (201, Some("example.com/v1")),
        "{body}"
    );
    let (code, body) = post(
        &ts,
        widgets,
        &json!({"kind": "Gizmo", "metadata": {"name": "g"}}),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["message"],
        "Gizmo.example.com \"g\" is invalid: kind: Invalid value: \"Gizmo\": must be Widget"
    );
}

/// The first line of a response to GET `path`, or the whole body if it ends first.
async fn first_line(ts: &TestSandbox, path: &str) -> (u16, String) {
    let mut resp = within(path, ts.http.get(ts.url(path)).send())
        .await
        .expect("GET");
    let code = resp.status().as_u16();
    let mut text = Vec::new();
    while let Ok(Some(chunk)) = within(path, resp.chunk()).await {
        text.extend_from_slice(&chunk);
        if text.contains(&b'\n') {
            break;
        }
    }
    (code, String::from_utf8_lossy(&text).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boolean_query_parameters_are_true_unless_false_or_zero() {
    let ts = TestSandbox::start().await;
    let cms = "/api/v1/namespaces/default/configmaps";
    let (code, _) = post(&ts, cms, &json!({"metadata": {"name": "a"}})).await;
    assert_eq!(code, 201);
    for watch in ["watch=True", "watch", "watch=1", "watch=yes", "watch="] {
        let (code, line) = first_line(&ts, &format!("{cms}?{watch}&timeoutSeconds=1")).await;
        assert_eq!(code, 200);
        assert!(
            line.starts_with("{\"type\":\"ADDED\""),
            "?{watch} is a watch: {line}"
        );
    }
    for list in ["watch=False", "watch=0", "watch=FALSE"] {
        let (code, body) = get(&ts, &format!("{cms}?{list}")).await;
        assert_eq!(
            (code, body["kind"].as_str()),
            (200, Some("ConfigMapList")),
            "?{list} is a list"
        );
    }
    // force=True takes a field another manager owns.
    let apply = |manager: &str, value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: \"{value}\"\n# {manager}\n"
        )
    };
    let (code, text) = raw(
        &ts,
        "PATCH",
        &format!("{cms}/a?fieldManager=one"),
        "application/apply-patch+yaml",
        &apply("one", "x"),
    )
    .await;
    assert_eq!(code, 200, "{text}");
    let (code, _) = raw(
        &ts,
        "PATCH",
        &format!("{cms}/a?fieldManager=two"),
        "application/apply-patch+yaml",
        &apply("two", "y"),
    )
    .await;
    assert_eq!(code, 409);
    let (code, text) = raw(
        &ts,
        "PATCH",
        &format!("{cms}/a?fieldManager=two&force=True"),
        "application/apply-patch+yaml",
        &apply("two", "y"),
    )
    .await;
    assert_eq!(code, 200, "force=True forces: {text}");
    let (code, _) = raw(
        &ts,
        "PATCH",
        &format!("{cms}/a?fieldManager=one&force=false"),
        "application/apply-patch+yaml",
        &apply("one", "z"),
    )
    .await;
    assert_eq!(code, 409, "force=false does not");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_end_with_the_encoders_newline() {
    let ts = TestSandbox::start().await;
    let (code, _) = post(
        &ts,
        "/api/v1/namespaces/default/configmaps",
        &json!({"metadata": {"name": "a"}}),
    )
    .await;
    assert_eq!(code, 201);
    for path in [
        "/api/v1/namespaces/default/configmaps/a",
        "/api/v1/namespaces/default/configmaps",
        "/api/v1/namespaces/default/configmaps/missing",
        "/api",
        "/apis",
        "/api/v1",
        "/apis/apps/v1",
        "/apis/apps",
    ] {
        let (_, text) = raw(&ts, "GET", path, "application/json", "").await;
        assert!(
            text.ends_with("}\n") && !text.ends_with("\n\n"),
            "{path}: {text:?}"
        );
    }
    let (code, text) = raw(
        &ts,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        r#"{"metadata":{"name":"b"}}"#,
    )
    .await;
    assert_eq!(code, 201);
    assert!(text.ends_with("}\n"), "create: {text:?}");
    // /version is written indented, without the encoder.
    let (_, text) = raw(&ts, "GET", "/version", "application/json", "").await;
    assert!(
        text.starts_with("{\n  \"major\"") && text.ends_with('}'),
        "{text:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_list_items_carry_no_kind_but_custom_resource_items_do() {
    let ts = TestSandbox::start().await;
    let (code, _) = post(
        &ts,
        "/api/v1/namespaces/default/configmaps",
        &json!({"metadata": {"name": "a"}}),
    )
    .await;
    assert_eq!(code, 201);
    let (_, list) = get(&ts, "/api/v1/namespaces/default/configmaps").await;
    let item = &list["items"][0];
    assert_eq!(item["metadata"]["name"], "a");
    assert!(
        item.get("kind").is_none() && item.get("apiVersion").is_none(),
        "{item}"
    );
    let (_, list) = get(&ts, "/api/v1/configmaps?limit=1").await;
    assert!(list["items"][0].get("kind").is_none(), "{list}");
    let (code, _) = post(
        &ts,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &common::widget_crd(),
    )
    .await;
    assert_eq!(code, 201);
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    ts.eventually("widgets served", Duration::from_secs(5), || async {
        (post(
            &ts,
            widgets,
            &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}),
        )
        .await
        .0 == 201)
            .then_some(())
    })
    .await;
    let (_, list) = get(&ts, widgets).await;
    assert_eq!(list["items"][0]["kind"], "Widget", "{list}");
    assert_eq!(list["items"][0]["apiVersion"], "example.com/v1");
    // A watch's objects carry them either way.
    let (_, line) = first_line(
        &ts,
        "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1",
    )
    .await;
    let event: Value = serde_json::from_str(line.trim()).expect("event");
    assert_eq!(event["object"]["kind"], "ConfigMap");
}

/// The requests of the real server's recorded creates, sent again: the sandbox
/// must record the same `managedFields` field sets (no `.` on value structs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_managed_fields_match_the_real_servers() {
    let Some(shared) = shared_k8s_api() else {
        return;
    };
    let ts = TestSandbox::start().await;
    for file in ["patch-deployment.json", "job-create.json"] {
        let text =
            std::fs::read_to_string(shared.join("replays-v1.36").join(file)).expect("replay");
        let replay: Value = serde_json::from_str(&text).expect("replay JSON");
        let create = replay
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["request_method"] == "POST"))
            .expect("a create in the replay");
        let path = create["request_url"].as_str().expect("url");
        let (code, text) = raw(
            &ts,
            "POST",
            path,
            "application/json",
            create["request_body"].as_str().unwrap_or(""),
        )
        .await;
        assert_eq!(code, 201, "{file}: {text}");
        let ours: Value = serde_json::from_str(&text).expect("JSON");
        let real: Value =
            serde_json::from_str(create["response_body"].as_str().unwrap_or("")).expect("JSON");
        assert_eq!(
            ours["metadata"]["managedFields"][0]["fieldsV1"],
            real["metadata"]["managedFields"][0]["fieldsV1"],
            "{file}: the create's field set"
        );
    }
    // Server-side apply of a Deployment: no "." on spec, template or its spec.
    let apply = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n";
    let (code, text) = raw(
        &ts,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web?fieldManager=tether",
        "application/apply-patch+yaml",
        apply,
    )
    .await;
    assert_eq!(code, 201, "{text}");
    let obj: Value = serde_json::from_str(&text).expect("JSON");
    let fields = &obj["metadata"]["managedFields"][0]["fieldsV1"];
    assert_eq!(
        fields,
        &json!({"f:spec": {"f:selector": {}, "f:template": {"f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}}),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_string_data_is_merged_into_data_on_every_write() {
    let ts = TestSandbox::start().await;
    let secrets = "/api/v1/namespaces/default/secrets";
    let (code, body) = post(&ts, secrets, &json!({"metadata": {"name": "s"}, "data": {"a": "b2xk"}, "stringData": {"a": "new", "u": "admin"}})).await;
    assert_eq!(code, 201);
    assert_eq!(
        body["data"],
        json!({"a": "bmV3", "u": "YWRtaW4="}),
        "stringData wins: {body}"
    );
    assert!(body.get("stringData").is_none());
    let (_, got) = get(&ts, &format!("{secrets}/s")).await;
    assert!(
        got.get("stringData").is_none() && got["data"]["u"] == "YWRtaW4=",
        "{got}"
    );
    // Update, merge patch, strategic patch and apply merge it too.
    let mut put = got.clone();
    put["stringData"] = json!({"p": "1"});
    let (code, body) = send(
        &ts,
        "PUT",
        &format!("{secrets}/s"),
        "application/json",
        &put,
    )
    .await;
    assert_eq!((code, &body["data"]["p"]), (200, &json!("MQ==")), "{body}");
    let (_, body) = send(
        &ts,
        "PATCH",
        &format!("{secrets}/s"),
        "application/merge-patch+json",
        &json!({"stringData": {"q": "2"}}),
    )
    .await;
    assert_eq!(body["data"]["q"], "Mg==", "{body}");
    let (_, body) = send(
        &ts,
        "PATCH",
        &format!("{secrets}/s"),
        "application/strategic-merge-patch+json",
        &json!({"stringData": {"r": "3"}}),
    )
    .await;
    assert_eq!(body["data"]["r"], "Mw==", "{body}");
    let apply = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  t: four\n";
    let (code, text) = raw(
        &ts,
        "PATCH",
        &format!("{secrets}/s?fieldManager=tether"),
        "application/apply-patch+yaml",
        apply,
    )
    .await;
    assert_eq!(code, 200, "{text}");
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body["data"]["t"], "Zm91cg==");
    assert!(body.get("stringData").is_none(), "{body}");
    let (_, got) = get(&ts, &format!("{secrets}/s")).await;
    assert_eq!(got["data"].as_object().map(|d| d.len()), Some(6), "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_follow_each_kinds_rule() {
    let ts = TestSandbox::start().await;
    let long = "a".repeat(100);
    let (code, body) = post(
        &ts,
        "/api/v1/namespaces/default/configmaps",
        &json!({"metadata": {"name": long}}),
    )
    .await;
    assert_eq!(code, 201, "a 100-character subdomain: {body}");
    let (code, body) = post(
        &ts,
        "/api/v1/namespaces/default/configmaps",
        &json!({"metadata": {"name": "a".repeat(254)}}),
    )
    .await;
    assert_eq!(code, 422);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .ends_with("must be no more than 253 characters"),
        "{body}"
    );
    let (code, body) = post(&ts, "/apis/apps/v1/namespaces/default/deployments", &json!({"metadata": {"name": long}, "spec": {
        "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}})).await;
    assert_eq!(code, 201, "{body}");
    for (path, what) in [
        ("/api/v1/namespaces", "Namespace"),
        ("/api/v1/namespaces/default/services", "Service"),
    ] {
        let mut obj = json!({"metadata": {"name": "a".repeat(64)}});
        if what == "Service" {
            obj["spec"] = json!({"ports": [{"port": 80}]});
        }
        let (code, body) = post(&ts, path, &obj).await;
        assert_eq!(code, 422, "{what}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or("")
                .contains("must be no more than 63 characters"),
            "{body}"
        );
    }
    let (code, body) = post(
        &ts,
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        &json!({"metadata": {"name": "system:controller:Tether"}}),
    )
    .await;
    assert_eq!(code, 201, "RBAC names are path segments: {body}");
    let (code, body) = post(
        &ts,
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        &json!({"metadata": {"name": "a%b"}}),
    )
    .await;
    assert_eq!(code, 422);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .ends_with("may not contain '%'"),
        "{body}"
    );
    let (code, body) = post(&ts, "/apis/batch/v1/namespaces/default/cronjobs", &json!({"metadata": {"name": "c".repeat(53)}, "spec": {
        "schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}}}})).await;
    assert_eq!(code, 422);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .ends_with("must be no more than 52 characters"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_both_groups_are_one_resource_for_kubectl_and_watches() {
    let ts = TestSandbox::start().await;
    let (code, pod) = post(&ts, "/api/v1/namespaces/default/pods", &json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})).await;
    assert_eq!(code, 201);
    // A core watch from now sees an events.k8s.io write.
    let rv = get(&ts, "/api/v1/namespaces/default/events").await.1["metadata"]["resourceVersion"]
        .clone();
    let watch_path = format!(
        "/api/v1/namespaces/default/events?watch=1&resourceVersion={}&timeoutSeconds=5",
        rv.as_str().unwrap_or("")
    );
    let watcher = {
        let url = ts.url(&watch_path);
        let http = ts.http.clone();
        tokio::spawn(async move {
            let mut resp = http.get(url).send().await.expect("watch");
            let mut text = Vec::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                text.extend_from_slice(&chunk);
                if text.contains(&b'\n') {
                    break;
                }
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let regarding = json!({"apiVersion": "v1", "kind": "Pod", "name": "web", "namespace": NS, "uid": pod["metadata"]["uid"]});
    let (code, body) = post(&ts, "/apis/events.k8s.io/v1/namespaces/default/events", &json!({
        "metadata": {"name": "web.new"}, "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "example.com/tester", "reportingInstance": "tester-1",
        "action": "Probe", "reason": "Probed", "type": "Warning", "note": "written through events.k8s.io",
        "regarding": regarding,
    })).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["apiVersion"], "events.k8s.io/v1");
    let line = within("core watch", watcher).await.expect("watch task");
    let event: Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(event["type"], "ADDED");
    assert_eq!(event["object"]["apiVersion"], "v1");
    assert_eq!(event["object"]["message"], "written through events.k8s.io");
    assert_eq!(event["object"]["involvedObject"]["name"], "web");
    // The core view, field by field.
    let (_, core) = get(&ts, "/api/v1/namespaces/default/events/web.new").await;
    assert_eq!(core["reportingComponent"], "example.com/tester");
    assert_eq!(core["reportingInstance"], "tester-1");
    assert_eq!(core["eventTime"], "2026-01-01T00:00:00.000000Z");
    assert_eq!(core["source"], json!({}));
    // A core Event reads through events.k8s.io.
    let (code, _) = post(
        &ts,
        "/api/v1/namespaces/default/events",
        &json!({
            "metadata": {"name": "web.old"}, "involvedObject": regarding, "reason": "Pulled",
            "message": "written through core v1", "type": "Normal", "count": 2,
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:09Z",
        }),
    )
    .await;
    assert_eq!(code, 201);
    // An events.k8s.io watch resumed after the first write sees the core one, converted.
    let since = body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let (_, line) = first_line(
        &ts,
        &format!("/apis/events.k8s.io/v1/namespaces/default/events?watch=true&resourceVersion={since}&timeoutSeconds=1"),
    )
    .await;
    let event: Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(event["type"], "ADDED", "{line}");
    assert_eq!(event["object"]["apiVersion"], "events.k8s.io/v1", "{line}");
    assert_eq!(event["object"]["note"], "written through core v1", "{line}");
    let (_, new_style) = get(
        &ts,
        "/apis/events.k8s.io/v1/namespaces/default/events/web.old",
    )
    .await;
    assert_eq!(new_style["note"], "written through core v1");
    assert_eq!(new_style["regarding"]["name"], "web");
    assert_eq!(new_style["deprecatedCount"], 2);
    assert_eq!(
        new_style["deprecatedSource"],
        json!({"component": "kubelet", "host": "node-1"})
    );
    assert_eq!(new_style["deprecatedLastTimestamp"], "2026-01-01T00:00:09Z");
    assert_eq!(
        new_style["eventTime"],
        Value::Null,
        "a real server serves the unset eventTime as null"
    );
    assert!(new_style.get("message").is_none(), "{new_style}");
    // Real kubectl sees the events.k8s.io Event in `get events` and `describe`.
    let out = ts.kubectl_ok(&["get", "events", "-n", NS]).await;
    assert!(
        out.contains("written through events.k8s.io") && out.contains("written through core v1"),
        "{out}"
    );
    let out = ts.kubectl_ok(&["describe", "pod", "web", "-n", NS]).await;
    assert!(
        out.contains("written through events.k8s.io"),
        "kubectl describe shows it:\n{out}"
    );
    assert!(out.contains("Probed"), "{out}");
    // A patch through either group edits the one object.
    let (code, body) = send(
        &ts,
        "PATCH",
        "/apis/events.k8s.io/v1/namespaces/default/events/web.old",
        "application/merge-patch+json",
        &json!({"note": "edited"}),
    )
    .await;
    assert_eq!((code, &body["note"]), (200, &json!("edited")), "{body}");
    let (_, core) = get(&ts, "/api/v1/namespaces/default/events/web.old").await;
    assert_eq!(core["message"], "edited");
    assert!(core.get("note").is_none(), "{core}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reapplying_without_a_field_removes_it_from_a_typed_object() {
    let ts = TestSandbox::start().await;
    let path = "/apis/apps/v1/namespaces/default/deployments/web?fieldManager=tether";
    let deployment = |labels: &str, strategy: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n{labels}spec:\n{strategy}  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n"
        )
    };
    let full = deployment(
        "  labels: {a: p, b: q}\n",
        "  strategy:\n    type: Recreate\n",
    );
    let (code, text) = raw(&ts, "PATCH", path, "application/apply-patch+yaml", &full).await;
    assert_eq!(code, 201, "{text}");
    let (code, text) = raw(
        &ts,
        "PATCH",
        path,
        "application/apply-patch+yaml",
        &deployment("  labels: {a: p}\n", ""),
    )
    .await;
    assert_eq!(code, 200, "{text}");
    let obj: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(obj["metadata"]["labels"], json!({"a": "p"}), "{text}");
    assert_eq!(
        obj["spec"]["strategy"]["type"], "RollingUpdate",
        "the dropped strategy is defaulted again: {text}"
    );
    let (code, text) = raw(
        &ts,
        "PATCH",
        path,
        "application/apply-patch+yaml",
        &deployment("", ""),
    )
    .await;
    assert_eq!(code, 200, "{text}");
    let obj: Value = serde_json::from_str(&text).expect("JSON");
    assert!(
        obj["metadata"]
            .get("labels")
            .is_none_or(|l| l.as_object().is_some_and(|m| m.is_empty())),
        "{text}"
    );
}
