//! The API's rules, driven over raw HTTP: resourceVersions, generations,
//! server-set metadata, namespaces, deletion and garbage collection, lists,
//! patches, dry runs, field validation, bad input, the scale subresource and
//! CRDs. Status bodies are compared whole against what the real API server
//! answers.

mod common;

use std::time::Duration;

use common::{TestSandbox, get, post, send, widget_crd, within};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// How long background work (garbage collection, controllers) may take.
const SETTLE: Duration = Duration::from_secs(10);

const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
const APPLY: &str = "application/apply-patch+yaml";

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";
const WIDGETS: &str = "/apis/example.com/v1/namespaces/default/widgets";
const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

/// Any request, with headers in and out and a raw body.
async fn raw(
    ts: &TestSandbox,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, HeaderMap, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = ts.http.request(method, ts.url(path)).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    within(path, async move {
        let resp = req.send().await.expect("request");
        let code = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json().await.unwrap_or(Value::Null);
        (code, headers, body)
    })
    .await
}

/// A failure Status as the real API server writes it.
fn failure(code: u16, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut s = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    if let Some(d) = details {
        s["details"] = d;
    }
    s
}

fn rv(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("no resourceVersion in {obj}"))
        .parse()
        .expect("numeric resourceVersion")
}

fn generation(obj: &Value) -> i64 {
    obj["metadata"]["generation"]
        .as_i64()
        .unwrap_or_else(|| panic!("no generation in {obj}"))
}

fn cm(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

fn deployment(name: &str, replicas: i64, containers: &[(&str, &str)]) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|(n, i)| json!({"name": n, "image": i}))
        .collect();
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}},
        },
    })
}

fn widget(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec})
}

async fn create_widget_crd(ts: &TestSandbox) -> Value {
    let (code, crd) = post(ts, CRDS, &widget_crd()).await;
    assert_eq!(code, 201, "{crd}");
    crd
}

/// Waits until GET `path` answers 404.
async fn gone(ts: &TestSandbox, path: &str) {
    ts.eventually(&format!("{path} to be gone"), SETTLE, || async move {
        (get(ts, path).await.0 == 404).then_some(())
    })
    .await;
}

/// The names in a list, sorted, without the `kube-root-ca.crt` ConfigMap that
/// every namespace holds (as on a real cluster).
fn names(list: &Value) -> Vec<String> {
    let mut n: Vec<String> = list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap_or("").to_string())
        .filter(|n| n != "kube-root-ca.crt")
        .collect();
    n.sort();
    n
}

// ---------------------------------------------------------------------------------------
// resourceVersion

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_versions_grow_and_stale_writes_conflict() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let (code, created) = post(ts, CMS, &cm("x", json!({"a": "1"}))).await;
    assert_eq!(code, 201, "{created}");
    let rv1 = rv(&created);

    let mut changed = created.clone();
    changed["data"]["a"] = json!("2");
    let (code, updated) = send(ts, "PUT", &format!("{CMS}/x"), JSON, &changed).await;
    assert_eq!(code, 200, "{updated}");
    let rv2 = rv(&updated);
    assert!(
        rv2 > rv1,
        "update moved the resourceVersion: {rv1} -> {rv2}"
    );

    let (code, patched) = send(
        ts,
        "PATCH",
        &format!("{CMS}/x"),
        MERGE,
        &json!({"data": {"b": "3"}}),
    )
    .await;
    assert_eq!(code, 200, "{patched}");
    let rv3 = rv(&patched);
    assert!(rv3 > rv2, "patch moved the resourceVersion: {rv2} -> {rv3}");

    // One counter across objects: a write to another object comes later still.
    let (code, other) = post(ts, CMS, &cm("y", json!({}))).await;
    assert_eq!(code, 201, "{other}");
    assert!(rv(&other) > rv3);
    let (_, list) = get(ts, CMS).await;
    assert!(
        rv(&list) >= rv(&other),
        "list rv {} < last write {}",
        rv(&list),
        rv(&other)
    );

    // An update carrying the resourceVersion it read before someone else wrote.
    let mut stale = created.clone();
    stale["data"]["a"] = json!("stale");
    let (code, body) = send(ts, "PUT", &format!("{CMS}/x"), JSON, &stale).await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(
        body,
        failure(
            409,
            "Conflict",
            "Operation cannot be fulfilled on configmaps \"x\": the object has been modified; please apply your changes to the latest version and try again",
            Some(json!({"name": "x", "kind": "configmaps"})),
        )
    );
    let (_, now) = get(ts, &format!("{CMS}/x")).await;
    assert_eq!(
        now["data"],
        json!({"a": "2", "b": "3"}),
        "the stale write changed nothing"
    );
    assert_eq!(rv(&now), rv3);

    // Writes that change nothing keep the resourceVersion.
    let (code, same) = send(ts, "PUT", &format!("{CMS}/x"), JSON, &now).await;
    assert_eq!(code, 200, "{same}");
    assert_eq!(rv(&same), rv3, "a no-op update keeps the resourceVersion");
    let (code, same) = send(
        ts,
        "PATCH",
        &format!("{CMS}/x"),
        MERGE,
        &json!({"data": {"a": "2"}}),
    )
    .await;
    assert_eq!(code, 200, "{same}");
    assert_eq!(rv(&same), rv3, "a no-op patch keeps the resourceVersion");
    let (_, after) = get(ts, &format!("{CMS}/x")).await;
    assert_eq!(rv(&after), rv3);
}

// ---------------------------------------------------------------------------------------
// generation and the status subresource

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generation_follows_spec_only() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let path = format!("{DEPLOYS}/gen");
    let path = path.as_str();
    let (code, d) = post(ts, DEPLOYS, &deployment("gen", 1, &[("app", "nginx:1.0")])).await;
    assert_eq!(code, 201, "{d}");
    assert_eq!(generation(&d), 1);
    // Data kinds carry no generation at all, as on a real server.
    let (code, c) = post(ts, CMS, &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nogen"}, "data": {"a": "1"}})).await;
    assert_eq!(code, 201, "{c}");
    assert_eq!(c["metadata"].get("generation"), None, "{c}");

    let (_, d) = send(
        ts,
        "PATCH",
        path,
        MERGE,
        &json!({"metadata": {"labels": {"team": "a"}}}),
    )
    .await;
    assert_eq!(generation(&d), 1, "labels are not spec");
    let (_, d) = send(
        ts,
        "PATCH",
        path,
        MERGE,
        &json!({"metadata": {"annotations": {"note": "x"}}}),
    )
    .await;
    assert_eq!(generation(&d), 1, "annotations are not spec");
    let (_, d) = send(ts, "PATCH", path, MERGE, &json!({"spec": {"replicas": 2}})).await;
    assert_eq!(generation(&d), 2, "replicas are spec");
    let (_, d) = send(
        ts,
        "PATCH",
        path,
        JSON_PATCH,
        &json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.1"}]),
    )
    .await;
    assert_eq!(generation(&d), 3, "the template is spec");

    // Let the simulated controller settle, so nothing else writes status meanwhile.
    ts.eventually("rollout of generation 3", SETTLE, || async move {
        let (_, d) = get(ts, path).await;
        (d["status"]["observedGeneration"] == json!(3) && d["status"]["readyReplicas"] == json!(2))
            .then_some(())
    })
    .await;

    // Status through /status: status changes, spec and generation do not.
    let (code, d) = send(
        ts,
        "PATCH",
        &format!("{path}/status"),
        MERGE,
        &json!({"spec": {"replicas": 9}, "status": {"collisionCount": 7}}),
    )
    .await;
    assert_eq!(code, 200, "{d}");
    assert_eq!(d["status"]["collisionCount"], json!(7));
    assert_eq!(d["spec"]["replicas"], json!(2), "/status ignores spec");
    assert_eq!(generation(&d), 3, "status writes leave generation alone");

    // Status through the main resource is ignored for kinds with a status subresource.
    // The simulated controllers may still write status between two requests (the
    // collisionCount change above wakes them), so the no-op is judged against the
    // version read just before the write, and tried again if a controller wrote in
    // between; a write that is not a no-op changes the version every time.
    let mut no_op = false;
    for _ in 0..5 {
        let current = get(ts, path).await.1;
        let before = rv(&current);
        let (code, d) = send(
            ts,
            "PATCH",
            path,
            MERGE,
            &json!({"status": {"collisionCount": 99}}),
        )
        .await;
        assert_eq!(code, 200, "{d}");
        // The simulated controller may rewrite status in between; whatever it
        // wrote, the main resource's write never sets it.
        assert_ne!(
            d["status"]["collisionCount"],
            json!(99),
            "main resource ignores status"
        );
        assert_eq!(generation(&d), 3);
        if rv(&d) == before {
            assert_eq!(
                d["status"], current["status"],
                "a no-op leaves status as it was"
            );
            no_op = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(no_op, "a write whose only change is ignored is a no-op");
    let mut full = get(ts, path).await.1;
    full["status"]["collisionCount"] = json!(42);
    let (code, d) = send(ts, "PUT", path, JSON, &full).await;
    assert_eq!(code, 200, "{d}");
    assert_eq!(
        d["status"]["collisionCount"],
        json!(7),
        "PUT ignores status too"
    );
    let (_, d) = get(ts, path).await;
    assert_eq!(d["status"]["collisionCount"], json!(7));
    assert_eq!(generation(&d), 3);
}

// ---------------------------------------------------------------------------------------
// Server-set metadata and names

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sets_uid_timestamps_and_checks_names() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let mut body = cm("meta", json!({}));
    body["metadata"]["uid"] = json!("not-a-real-uid");
    body["metadata"]["creationTimestamp"] = json!("2000-01-01T00:00:00Z");
    let (code, created) = post(ts, CMS, &body).await;
    assert_eq!(code, 201, "{created}");
    let uid = created["metadata"]["uid"].as_str().expect("uid");
    assert_ne!(uid, "not-a-real-uid", "the server sets the uid");
    assert_eq!(uid.len(), 36, "{uid}");
    assert_eq!(uid.matches('-').count(), 4, "{uid}");
    let ts_str = created["metadata"]["creationTimestamp"]
        .as_str()
        .expect("creationTimestamp");
    let t: jiff::Timestamp = ts_str.parse().expect("RFC 3339 creationTimestamp");
    let age = jiff::Timestamp::now().as_second() - t.as_second();
    assert!(
        (0..=60).contains(&age),
        "creationTimestamp {ts_str} is the server's now"
    );
    let (_, again) = get(ts, &format!("{CMS}/meta")).await;
    assert_eq!(again["metadata"]["uid"], json!(uid));

    // generateName: the prefix plus five random characters.
    let body =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}});
    let (code, a) = post(ts, CMS, &body).await;
    assert_eq!(code, 201, "{a}");
    let (_, b) = post(ts, CMS, &body).await;
    let name = a["metadata"]["name"].as_str().expect("name");
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
    assert_ne!(a["metadata"]["name"], b["metadata"]["name"]);
    assert_eq!(a["metadata"]["generateName"], json!("gen-"));
    assert_eq!(get(ts, &format!("{CMS}/{name}")).await.0, 200);

    let (code, body) = post(ts, CMS, &cm("Bad_Name", json!({}))).await;
    let msg = "Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body,
        failure(
            422,
            "Invalid",
            &format!("ConfigMap \"Bad_Name\" is invalid: metadata.name: {msg}"),
            Some(json!({"name": "Bad_Name", "kind": "ConfigMap", "causes": [
                {"reason": "FieldValueInvalid", "message": msg, "field": "metadata.name"}
            ]})),
        )
    );

    let (code, body) = post(
        ts,
        CMS,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body,
        failure(
            422,
            "Invalid",
            "ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName is required",
            Some(json!({"kind": "ConfigMap", "causes": [{
                "reason": "FieldValueRequired",
                "message": "Required value: name or generateName is required",
                "field": "metadata.name",
            }]})),
        )
    );
}

// ---------------------------------------------------------------------------------------
// Namespaces

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_gate_creation_and_empty_on_delete() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let (code, body) = post(
        ts,
        "/api/v1/namespaces/nope/configmaps",
        &cm("x", json!({})),
    )
    .await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(
        body,
        failure(
            404,
            "NotFound",
            "namespaces \"nope\" not found",
            Some(json!({"name": "nope", "kind": "namespaces"}))
        )
    );

    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}});
    let (code, created) = post(ts, "/api/v1/namespaces", &ns).await;
    assert_eq!(code, 201, "{created}");
    let in_ns = "/api/v1/namespaces/doomed/configmaps";
    let mut held = cm("held", json!({}));
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    assert_eq!(post(ts, in_ns, &held).await.0, 201);
    assert_eq!(post(ts, in_ns, &cm("plain", json!({}))).await.0, 201);

    let (code, deleting) = send(ts, "DELETE", "/api/v1/namespaces/doomed", JSON, &json!({})).await;
    assert_eq!(code, 200, "{deleting}");
    assert_eq!(deleting["kind"], json!("Namespace"));
    assert!(
        deleting["metadata"]["deletionTimestamp"].is_string(),
        "{deleting}"
    );
    assert_eq!(deleting["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(deleting["status"]["phase"], json!("Terminating"));
    assert!(
        deleting["metadata"].get("finalizers").is_none(),
        "no metadata.finalizers on a namespace: {deleting}"
    );

    // Contents go; the one with a finalizer stays, deleting, and so does the namespace.
    gone(ts, "/api/v1/namespaces/doomed/configmaps/plain").await;
    ts.eventually("held to be deleting", SETTLE, || async move {
        let (_, o) = get(ts, "/api/v1/namespaces/doomed/configmaps/held").await;
        o["metadata"]["deletionTimestamp"].is_string().then_some(())
    })
    .await;
    let (code, nsobj) = get(ts, "/api/v1/namespaces/doomed").await;
    assert_eq!(code, 200);
    assert_eq!(nsobj["status"]["phase"], json!("Terminating"));

    let (code, body) = post(ts, in_ns, &cm("late", json!({}))).await;
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        body,
        failure(
            403,
            "Forbidden",
            "configmaps \"late\" is forbidden: unable to create new content in namespace doomed because it is being terminated",
            Some(json!({"name": "late", "kind": "configmaps", "causes": [{
                "reason": "NamespaceTerminating",
                "message": "namespace doomed is being terminated",
                "field": "metadata.namespace",
            }]})),
        )
    );

    let (code, body) = send(
        ts,
        "PATCH",
        "/api/v1/namespaces/doomed/configmaps/held",
        MERGE,
        &json!({"metadata": {"finalizers": null}}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    gone(ts, "/api/v1/namespaces/doomed/configmaps/held").await;
    gone(ts, "/api/v1/namespaces/doomed").await;
}

// ---------------------------------------------------------------------------------------
// Deletion: finalizers, propagation, preconditions

fn owned_by(name: &str, owner: &Value, block: bool) -> Value {
    let mut o = cm(name, json!({}));
    o["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "v1", "kind": "ConfigMap",
        "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
        "blockOwnerDeletion": block,
    }]);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalizers_hold_an_object_until_removed() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let mut body = cm("fin", json!({}));
    body["metadata"]["finalizers"] = json!(["example.com/keep"]);
    assert_eq!(post(ts, CMS, &body).await.0, 201);
    let (code, d) = send(ts, "DELETE", &format!("{CMS}/fin"), JSON, &json!({})).await;
    assert_eq!(code, 200, "{d}");
    assert!(d["metadata"]["deletionTimestamp"].is_string(), "{d}");
    assert_eq!(d["metadata"]["finalizers"], json!(["example.com/keep"]));
    let (code, still) = get(ts, &format!("{CMS}/fin")).await;
    assert_eq!(code, 200, "an object with finalizers stays");
    assert_eq!(
        still["metadata"]["deletionTimestamp"],
        d["metadata"]["deletionTimestamp"]
    );

    let (code, last) = send(
        ts,
        "PATCH",
        &format!("{CMS}/fin"),
        MERGE,
        &json!({"metadata": {"finalizers": null}}),
    )
    .await;
    assert_eq!(code, 200, "{last}");
    let (code, body) = get(ts, &format!("{CMS}/fin")).await;
    assert_eq!(
        code, 404,
        "removing the last finalizer completes the delete"
    );
    assert_eq!(
        body,
        failure(
            404,
            "NotFound",
            "configmaps \"fin\" not found",
            Some(json!({"name": "fin", "kind": "configmaps"}))
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_deletion_collects_dependents() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let (_, owner) = post(ts, CMS, &cm("owner-bg", json!({}))).await;
    for d in ["dep-bg-1", "dep-bg-2"] {
        assert_eq!(post(ts, CMS, &owned_by(d, &owner, false)).await.0, 201);
    }
    let (code, body) = send(
        ts,
        "DELETE",
        &format!("{CMS}/owner-bg?propagationPolicy=Background"),
        JSON,
        &json!({}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        get(ts, &format!("{CMS}/owner-bg")).await.0,
        404,
        "the owner goes at once"
    );
    gone(ts, &format!("{CMS}/dep-bg-1")).await;
    gone(ts, &format!("{CMS}/dep-bg-2")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_deletion_waits_for_dependents() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let (_, owner) = post(ts, CMS, &cm("owner-fg", json!({}))).await;
    let mut held = owned_by("dep-fg-held", &owner, true);
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    assert_eq!(post(ts, CMS, &held).await.0, 201);
    assert_eq!(
        post(ts, CMS, &owned_by("dep-fg", &owner, true)).await.0,
        201
    );

    let (code, d) = send(
        ts,
        "DELETE",
        &format!("{CMS}/owner-fg?propagationPolicy=Foreground"),
        JSON,
        &json!({}),
    )
    .await;
    assert_eq!(code, 200, "{d}");
    assert!(d["metadata"]["deletionTimestamp"].is_string(), "{d}");
    assert_eq!(d["metadata"]["finalizers"], json!(["foregroundDeletion"]));

    gone(ts, &format!("{CMS}/dep-fg")).await;
    ts.eventually("the held dependent to be deleting", SETTLE, || async move {
        let (_, o) = get(ts, &format!("{CMS}/dep-fg-held")).await;
        o["metadata"]["deletionTimestamp"].is_string().then_some(())
    })
    .await;
    let (code, o) = get(ts, &format!("{CMS}/owner-fg")).await;
    assert_eq!(code, 200, "the owner waits for its blocking dependents");
    assert_eq!(o["metadata"]["finalizers"], json!(["foregroundDeletion"]));

    let (code, _) = send(
        ts,
        "PATCH",
        &format!("{CMS}/dep-fg-held"),
        MERGE,
        &json!({"metadata": {"finalizers": null}}),
    )
    .await;
    assert_eq!(code, 200);
    gone(ts, &format!("{CMS}/dep-fg-held")).await;
    gone(ts, &format!("{CMS}/owner-fg")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_deletion_leaves_dependents_without_the_reference() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let (_, owner) = post(ts, CMS, &cm("owner-or", json!({}))).await;
    assert_eq!(
        post(ts, CMS, &owned_by("dep-or", &owner, true)).await.0,
        201
    );
    let (code, body) = send(
        ts,
        "DELETE",
        &format!("{CMS}/owner-or?propagationPolicy=Orphan"),
        JSON,
        &json!({}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    gone(ts, &format!("{CMS}/owner-or")).await;
    let (code, dep) = get(ts, &format!("{CMS}/dep-or")).await;
    assert_eq!(code, 200, "the dependent is orphaned, not deleted");
    assert!(dep["metadata"]["deletionTimestamp"].is_null(), "{dep}");
    // The real server omits an empty ownerReferences list.
    assert!(
        dep["metadata"].get("ownerReferences").is_none(),
        "ownerReferences removed: {}",
        dep["metadata"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_preconditions_must_match() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let (_, obj) = post(ts, CMS, &cm("pre", json!({}))).await;
    let uid = obj["metadata"]["uid"].as_str().expect("uid").to_string();
    let have_rv = obj["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let wrong_uid = "00000000-0000-0000-0000-000000000000";
    let path = format!("{CMS}/pre");

    let opts =
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": wrong_uid}});
    let (code, body) = send(ts, "DELETE", &path, JSON, &opts).await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(
        body,
        failure(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on ConfigMap \"pre\": the UID in the precondition ({wrong_uid}) does not match the UID in record ({uid}). The object might have been deleted and then recreated"
            ),
            Some(json!({"name": "pre", "kind": "ConfigMap"})),
        )
    );

    let opts = json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": "1"}});
    let (code, body) = send(ts, "DELETE", &path, JSON, &opts).await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(
        body,
        failure(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on ConfigMap \"pre\": the ResourceVersion in the precondition (1) does not match the ResourceVersion in record ({have_rv}). The object might have been modified"
            ),
            Some(json!({"name": "pre", "kind": "ConfigMap"})),
        )
    );
    assert_eq!(
        get(ts, &path).await.0,
        200,
        "failed preconditions delete nothing"
    );

    let opts = json!({"kind": "DeleteOptions", "apiVersion": "v1",
        "preconditions": {"uid": uid, "resourceVersion": have_rv}});
    let (code, body) = send(ts, "DELETE", &path, JSON, &opts).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(get(ts, &path).await.0, 404);
}

// ---------------------------------------------------------------------------------------
// Lists

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_and_field_selectors() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lists"}});
    assert_eq!(post(ts, "/api/v1/namespaces", &ns).await.0, 201);
    let base = "/api/v1/namespaces/lists/configmaps";
    let labelled = [
        ("a", json!({"app": "web", "tier": "front"})),
        ("b", json!({"app": "web", "tier": "back"})),
        ("c", json!({"app": "db", "tier": "back"})),
        ("d", json!({"app": "cache"})),
        ("e", json!({})),
    ];
    for (name, labels) in &labelled {
        let mut o = cm(name, json!({}));
        o["metadata"]["labels"] = labels.clone();
        assert_eq!(post(ts, base, &o).await.0, 201);
    }
    // Something outside the namespace, to show namespace scoping.
    assert_eq!(post(ts, CMS, &cm("a", json!({}))).await.0, 201);

    let cases: &[(&str, &[&str])] = &[
        ("", &["a", "b", "c", "d", "e"]),
        ("labelSelector=app%3Dweb", &["a", "b"]),
        ("labelSelector=app%3D%3Dweb", &["a", "b"]),
        ("labelSelector=app!%3Dweb", &["c", "d", "e"]),
        ("labelSelector=tier%20in%20(front,back)", &["a", "b", "c"]),
        (
            "labelSelector=tier%20notin%20(front)",
            &["b", "c", "d", "e"],
        ),
        ("labelSelector=tier", &["a", "b", "c"]),
        ("labelSelector=!tier", &["d", "e"]),
        ("labelSelector=app%3Dweb,tier%3Dback", &["b"]),
        ("fieldSelector=metadata.name%3Dc", &["c"]),
        ("fieldSelector=metadata.name!%3Dc", &["a", "b", "d", "e"]),
        (
            "fieldSelector=metadata.namespace%3Dlists",
            &["a", "b", "c", "d", "e"],
        ),
        (
            "labelSelector=app%3Dweb&fieldSelector=metadata.name%3Da",
            &["a"],
        ),
    ];
    for (query, want) in cases {
        let (code, list) = get(ts, &format!("{base}?{query}")).await;
        assert_eq!(code, 200, "{query}: {list}");
        assert_eq!(list["kind"], json!("ConfigMapList"));
        assert_eq!(names(&list), *want, "{query}");
    }
    // Across namespaces, selected by namespace field.
    let (_, all) = get(
        ts,
        "/api/v1/configmaps?fieldSelector=metadata.namespace%3Dlists",
    )
    .await;
    assert_eq!(names(&all), ["a", "b", "c", "d", "e"]);
    let (_, all) = get(ts, "/api/v1/configmaps?fieldSelector=metadata.name%3Da").await;
    let namespaces: Vec<&str> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["metadata"]["namespace"].as_str())
        .collect();
    assert_eq!(namespaces, ["default", "lists"]);

    // Kinds with their own field label conversion say so in their words ...
    let (code, body) = get(
        ts,
        "/api/v1/namespaces/lists/pods?fieldSelector=spec.foo%3Dx",
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        body,
        failure(
            400,
            "BadRequest",
            "field label not supported: spec.foo",
            None
        )
    );
    // ... and the others fall back to the default conversion's message.
    let (code, body) = get(ts, &format!("{base}?fieldSelector=spec.foo%3Dx")).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        body,
        failure(
            400,
            "BadRequest",
            "\"spec.foo\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
            None
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_returns_everything_once() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "pages"}});
    assert_eq!(post(ts, "/api/v1/namespaces", &ns).await.0, 201);
    let base = "/api/v1/namespaces/pages/configmaps";
    let mut want: Vec<String> = (0..25).map(|i| format!("cm-{i:02}")).collect();
    for n in &want {
        assert_eq!(post(ts, base, &cm(n, json!({}))).await.0, 201);
    }
    let mut seen: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let path = match &token {
            None => format!("{base}?limit=10"),
            Some(t) => format!(
                "{base}?limit=10&continue={}",
                t.replace('+', "%2B")
                    .replace('/', "%2F")
                    .replace('=', "%3D")
            ),
        };
        let (code, page) = get(ts, &path).await;
        assert_eq!(code, 200, "{page}");
        let items = page["items"].as_array().expect("items").len();
        seen.extend(names(&page));
        pages.push((items, page["metadata"]["remainingItemCount"].clone()));
        match page["metadata"]["continue"].as_str() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
        assert!(pages.len() < 10, "pagination does not end");
    }
    assert_eq!(
        pages,
        // 25 ConfigMaps and the namespace's kube-root-ca.crt.
        vec![(10, json!(16)), (10, json!(6)), (6, Value::Null)],
        "page sizes and remainingItemCount"
    );
    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(total, 25, "no object twice");
    want.sort();
    assert_eq!(seen, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_output() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    for (n, data) in [
        ("t1", json!({})),
        ("t2", json!({"a": "1"})),
        ("t3", json!({"a": "1", "b": "2"})),
    ] {
        assert_eq!(post(ts, CMS, &cm(n, data)).await.0, 201);
    }
    let (code, _, table) = raw(
        ts,
        "GET",
        CMS,
        &[("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")],
        Vec::new(),
    )
    .await;
    assert_eq!(code, 200, "{table}");
    assert_eq!(table["kind"], json!("Table"));
    assert_eq!(table["apiVersion"], json!("meta.k8s.io/v1"));
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .expect("columnDefinitions")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(cols, ["Name", "Data", "Age"]);
    // Every namespace also holds kube-root-ca.crt, as on a real cluster.
    let rows: Vec<&Value> = table["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["cells"][0] != "kube-root-ca.crt")
        .collect();
    assert_eq!(rows.len(), 3, "one row per object: {table}");
    let cells: Vec<(Value, Value)> = rows
        .iter()
        .map(|r| (r["cells"][0].clone(), r["cells"][1].clone()))
        .collect();
    assert_eq!(
        cells,
        vec![
            (json!("t1"), json!(0)),
            (json!("t2"), json!(1)),
            (json!("t3"), json!(2))
        ]
    );
    for r in rows {
        assert_eq!(r["object"]["kind"], json!("PartialObjectMetadata"), "{r}");
    }
}

// ---------------------------------------------------------------------------------------
// Patches

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_formats() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    assert_eq!(
        post(ts, CMS, &cm("p", json!({"a": "1", "c": "3"}))).await.0,
        201
    );
    let (code, o) = send(
        ts,
        "PATCH",
        &format!("{CMS}/p"),
        JSON_PATCH,
        &json!([
            {"op": "add", "path": "/data/b", "value": "2"},
            {"op": "replace", "path": "/data/a", "value": "10"},
            {"op": "remove", "path": "/data/c"},
        ]),
    )
    .await;
    assert_eq!(code, 200, "{o}");
    assert_eq!(o["data"], json!({"a": "10", "b": "2"}));
    let (code, o) = send(
        ts,
        "PATCH",
        &format!("{CMS}/p"),
        MERGE,
        &json!({"data": {"a": null, "z": "26"}}),
    )
    .await;
    assert_eq!(code, 200, "{o}");
    assert_eq!(o["data"], json!({"b": "2", "z": "26"}));

    // Strategic merge: containers merge by name.
    let d = deployment(
        "smp",
        1,
        &[("app", "nginx:1.0"), ("sidecar", "busybox:1.0")],
    );
    assert_eq!(post(ts, DEPLOYS, &d).await.0, 201);
    let (code, o) = send(
        ts,
        "PATCH",
        &format!("{DEPLOYS}/smp"),
        STRATEGIC,
        &json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2.0"}]}}}}),
    )
    .await;
    assert_eq!(code, 200, "{o}");
    let containers: Vec<(Value, Value)> = o["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .map(|c| (c["name"].clone(), c["image"].clone()))
        .collect();
    assert_eq!(
        containers,
        vec![
            (json!("app"), json!("nginx:2.0")),
            (json!("sidecar"), json!("busybox:1.0"))
        ]
    );

    // Custom resources have no strategic merge.
    create_widget_crd(ts).await;
    assert_eq!(
        post(ts, WIDGETS, &widget("w", json!({"size": 1}))).await.0,
        201
    );
    let (code, body) = send(
        ts,
        "PATCH",
        &format!("{WIDGETS}/w"),
        STRATEGIC,
        &json!({"spec": {"size": 2}}),
    )
    .await;
    assert_eq!(code, 415, "{body}");
    assert_eq!(
        body,
        failure(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            None
        )
    );
    let (code, o) = send(
        ts,
        "PATCH",
        &format!("{WIDGETS}/w"),
        MERGE,
        &json!({"spec": {"size": 2}}),
    )
    .await;
    assert_eq!(code, 200, "{o}");
    assert_eq!(o["spec"]["size"], json!(2));

    // Apply needs a field manager; the real server rejects the PatchOptions with 422.
    let cfg = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  k: v\n";
    let (code, _, body) = raw(
        ts,
        "PATCH",
        &format!("{CMS}/applied"),
        &[("content-type", APPLY)],
        cfg.into(),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body,
        failure(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            Some(
                json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [{
                    "reason": "FieldValueRequired",
                    "message": "Required value: is required for apply patch",
                    "field": "fieldManager",
                }]})
            ),
        )
    );
    assert_eq!(get(ts, &format!("{CMS}/applied")).await.0, 404);
    let (code, _, body) = raw(
        ts,
        "PATCH",
        &format!("{CMS}/applied?fieldManager=test"),
        &[("content-type", APPLY)],
        cfg.into(),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["data"], json!({"k": "v"}));
}

// ---------------------------------------------------------------------------------------
// dryRun

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_changes_nothing() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let (code, o) = post(
        ts,
        &format!("{CMS}?dryRun=All"),
        &cm("dry", json!({"a": "1"})),
    )
    .await;
    assert_eq!(code, 201, "{o}");
    assert_eq!(o["data"], json!({"a": "1"}));
    assert!(o["metadata"]["uid"].is_string(), "{o}");
    assert!(
        o["metadata"].get("resourceVersion").is_none(),
        "not stored: {o}"
    );
    assert_eq!(
        get(ts, &format!("{CMS}/dry")).await.0,
        404,
        "dry-run create stored nothing"
    );

    let (_, real) = post(ts, CMS, &cm("dry", json!({"a": "1"}))).await;
    let path = format!("{CMS}/dry");
    let mut changed = real.clone();
    changed["data"]["a"] = json!("2");
    let (code, o) = send(ts, "PUT", &format!("{path}?dryRun=All"), JSON, &changed).await;
    assert_eq!(code, 200, "{o}");
    assert_eq!(
        o["data"]["a"],
        json!("2"),
        "the answer shows the would-be result"
    );
    let (code, o) = send(
        ts,
        "PATCH",
        &format!("{path}?dryRun=All"),
        MERGE,
        &json!({"data": {"b": "3"}}),
    )
    .await;
    assert_eq!(code, 200, "{o}");
    assert_eq!(o["data"], json!({"a": "1", "b": "3"}));
    let (code, o) = send(
        ts,
        "DELETE",
        &format!("{path}?dryRun=All"),
        JSON,
        &json!({}),
    )
    .await;
    assert_eq!(code, 200, "{o}");

    let (code, now) = get(ts, &path).await;
    assert_eq!(code, 200, "dry-run delete deleted nothing");
    assert_eq!(
        now, real,
        "dry runs changed nothing, resourceVersion included"
    );
}

// ---------------------------------------------------------------------------------------
// fieldValidation

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_validation_modes() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let with_foo = |name: &str| {
        let mut d = deployment(name, 1, &[("app", "nginx:1.0")]);
        d["spec"]["foo"] = json!("bar");
        d
    };
    let (code, body) = post(
        ts,
        &format!("{DEPLOYS}?fieldValidation=Strict"),
        &with_foo("strict"),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        body,
        failure(
            400,
            "BadRequest",
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.foo\"",
            None
        )
    );
    assert_eq!(get(ts, &format!("{DEPLOYS}/strict")).await.0, 404);

    let (code, headers, body) = raw(
        ts,
        "POST",
        &format!("{DEPLOYS}?fieldValidation=Warn"),
        &[("content-type", JSON)],
        with_foo("warn").to_string().into(),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let warnings: Vec<&str> = headers
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(warnings, ["299 - \"unknown field \\\"spec.foo\\\"\""]);
    assert!(
        body["spec"].get("foo").is_none(),
        "pruned: {}",
        body["spec"]
    );
    let (_, stored) = get(ts, &format!("{DEPLOYS}/warn")).await;
    assert!(stored["spec"].get("foo").is_none());

    let (code, headers, body) = raw(
        ts,
        "POST",
        &format!("{DEPLOYS}?fieldValidation=Ignore"),
        &[("content-type", JSON)],
        with_foo("ignore").to_string().into(),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert!(headers.get("warning").is_none(), "Ignore warns of nothing");
    assert!(
        body["spec"].get("foo").is_none(),
        "pruned: {}",
        body["spec"]
    );
}

// ---------------------------------------------------------------------------------------
// Bad input

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_rejected_and_the_server_keeps_serving() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let ct = [("content-type", JSON)];

    let (code, _, body) = raw(
        ts,
        "POST",
        CMS,
        &ct,
        b"{\"apiVersion\": \"v1\", \"kind\": ".to_vec(),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        (
            body["kind"].clone(),
            body["reason"].clone(),
            body["code"].clone()
        ),
        (json!("Status"), json!("BadRequest"), json!(400))
    );

    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}});
    let (code, body) = post(ts, CMS, &secret).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["reason"], json!("BadRequest"));
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("Secret")),
        "{body}"
    );
    assert_eq!(get(ts, "/api/v1/namespaces/default/secrets/s").await.0, 404);

    let (code, body) = get(ts, "/api/v1/namespaces/default/frobnicators").await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(
        body,
        failure(
            404,
            "NotFound",
            "the server could not find the requested resource",
            Some(json!({}))
        )
    );
    let (code, body) = get(ts, "/apis/nosuch.example.com/v1/things").await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(
        body["message"],
        json!("the server could not find the requested resource")
    );

    let big = cm(
        "big",
        json!({"blob": "x".repeat(tether_sandbox::MAX_BODY_BYTES)}),
    );
    let (code, _, body) = raw(ts, "POST", CMS, &ct, big.to_string().into()).await;
    assert_eq!(code, 413, "{body}");
    assert_eq!(
        body,
        failure(
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728",
            None
        )
    );

    let mut d = deployment("three", 1, &[("app", "nginx:1.0")]);
    d["spec"]["replicas"] = json!("three");
    let (code, body) = post(ts, DEPLOYS, &d).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["reason"], json!("BadRequest"));
    let msg = body["message"].as_str().unwrap_or("");
    // The wording after the field is serde's, not Go's; the field path must be there.
    assert!(
        msg.starts_with("Deployment in version \"v1\" cannot be handled as a Deployment: spec.replicas: invalid type: string \"three\""),
        "{msg}"
    );

    create_widget_crd(ts).await;
    let (code, body) = post(ts, WIDGETS, &widget("bad", json!({"size": "string"}))).await;
    assert_eq!(code, 422, "{body}");
    let cause = "Invalid value: \"string\": spec.size in body must be of type integer: \"string\"";
    assert_eq!(
        body,
        failure(
            422,
            "Invalid",
            &format!("Widget.example.com \"bad\" is invalid: spec.size: {cause}"),
            Some(
                json!({"name": "bad", "group": "example.com", "kind": "Widget", "causes": [
                    {"reason": "FieldValueTypeInvalid", "message": cause, "field": "spec.size"}
                ]})
            ),
        )
    );

    // Still serving, and none of the above left anything behind.
    let (code, o) = post(ts, CMS, &cm("after", json!({"ok": "yes"}))).await;
    assert_eq!(code, 201, "{o}");
    let (code, list) = get(ts, CMS).await;
    assert_eq!(code, 200);
    assert_eq!(names(&list), ["after"]);
    let (_, ws) = get(ts, WIDGETS).await;
    assert_eq!(names(&ws), Vec::<String>::new());
    assert_eq!(get(ts, &format!("{DEPLOYS}/three")).await.0, 404);
}

// ---------------------------------------------------------------------------------------
// The scale subresource

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_subresource() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let (code, d) = post(
        ts,
        DEPLOYS,
        &deployment("scaled", 2, &[("app", "nginx:1.0")]),
    )
    .await;
    assert_eq!(code, 201, "{d}");
    let path = format!("{DEPLOYS}/scaled");
    let path = path.as_str();
    ts.eventually("two replicas up", SETTLE, || async move {
        (get(ts, path).await.1["status"]["replicas"] == json!(2)).then_some(())
    })
    .await;
    let (_, d) = get(ts, path).await;
    let (code, scale) = get(ts, &format!("{path}/scale")).await;
    assert_eq!(code, 200, "{scale}");
    assert_eq!(scale["kind"], json!("Scale"));
    assert_eq!(scale["apiVersion"], json!("autoscaling/v1"));
    assert_eq!(scale["metadata"]["name"], json!("scaled"));
    assert_eq!(scale["metadata"]["namespace"], json!("default"));
    assert_eq!(scale["metadata"]["uid"], d["metadata"]["uid"]);
    assert_eq!(
        scale["metadata"]["resourceVersion"],
        d["metadata"]["resourceVersion"]
    );
    assert_eq!(scale["spec"], json!({"replicas": 2}));
    assert_eq!(
        scale["status"],
        json!({"replicas": 2, "selector": "app=scaled"})
    );

    let (code, scale) = send(
        ts,
        "PATCH",
        &format!("{path}/scale"),
        MERGE,
        &json!({"spec": {"replicas": 5}}),
    )
    .await;
    assert_eq!(code, 200, "{scale}");
    assert_eq!(scale["kind"], json!("Scale"));
    assert_eq!(scale["spec"]["replicas"], json!(5));
    let (_, d2) = get(ts, path).await;
    assert_eq!(d2["spec"]["replicas"], json!(5));
    assert_eq!(generation(&d2), generation(&d) + 1);
}

// ---------------------------------------------------------------------------------------
// CRDs

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_lifecycle() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    assert_eq!(
        get(ts, "/apis/example.com/v1").await.0,
        404,
        "not served before the CRD"
    );
    create_widget_crd(ts).await;

    let (code, list) = get(ts, "/apis/example.com/v1").await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["kind"], json!("APIResourceList"));
    assert_eq!(list["groupVersion"], json!("example.com/v1"));
    let served: Vec<(Value, Value, Value)> = list["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| {
            (
                r["name"].clone(),
                r["kind"].clone(),
                r["namespaced"].clone(),
            )
        })
        .collect();
    assert!(
        served.contains(&(json!("widgets"), json!("Widget"), json!(true))),
        "{served:?}"
    );
    assert!(
        served.iter().any(|(n, _, _)| n == "widgets/status"),
        "{served:?}"
    );
    let (_, groups) = get(ts, "/apis").await;
    assert!(
        groups["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .any(|g| g["name"] == "example.com"),
        "{groups}"
    );

    let crd_path = format!("{CRDS}/widgets.example.com");
    let crd_path = crd_path.as_str();
    ts.eventually("Established=True", SETTLE, || async move {
        let (_, crd) = get(ts, crd_path).await;
        crd["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
            .then_some(())
    })
    .await;

    // Unknown fields are pruned per the schema (and warned about, fieldValidation=Warn by default).
    let mut w = widget("w1", json!({"size": 3, "color": "red", "extra": true}));
    w["junk"] = json!(1);
    let (code, headers, o) = raw(
        ts,
        "POST",
        WIDGETS,
        &[("content-type", JSON)],
        w.to_string().into(),
    )
    .await;
    assert_eq!(code, 201, "{o}");
    assert_eq!(o["spec"], json!({"size": 3, "color": "red"}));
    assert!(o.get("junk").is_none(), "{o}");
    let mut warnings: Vec<&str> = headers
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    warnings.sort();
    assert_eq!(
        warnings,
        [
            "299 - \"unknown field \\\"junk\\\"\"",
            "299 - \"unknown field \\\"spec.extra\\\"\""
        ]
    );
    assert_eq!(generation(&o), 1);
    let (_, stored) = get(ts, &format!("{WIDGETS}/w1")).await;
    assert_eq!(stored["spec"], json!({"size": 3, "color": "red"}));

    // The status subresource of a custom resource: generation moves only with spec.
    let (code, o) = send(
        ts,
        "PATCH",
        &format!("{WIDGETS}/w1/status"),
        MERGE,
        &json!({"status": {"ready": true}}),
    )
    .await;
    assert_eq!(code, 200, "{o}");
    assert_eq!(
        (o["status"]["ready"].clone(), generation(&o)),
        (json!(true), 1)
    );
    let (_, o) = send(
        ts,
        "PATCH",
        &format!("{WIDGETS}/w1"),
        MERGE,
        &json!({"spec": {"size": 4}}),
    )
    .await;
    assert_eq!(generation(&o), 2);

    let (code, d) = send(ts, "DELETE", crd_path, JSON, &json!({})).await;
    assert_eq!(code, 200, "{d}");
    gone(ts, crd_path).await;
    gone(ts, "/apis/example.com/v1").await;
    let (_, groups) = get(ts, "/apis").await;
    assert!(
        !groups["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .any(|g| g["name"] == "example.com"),
        "{groups}"
    );

    // Served again, the kind starts empty: its objects went with the CRD.
    create_widget_crd(ts).await;
    let (code, ws) = get(ts, WIDGETS).await;
    assert_eq!(code, 200, "{ws}");
    assert_eq!(names(&ws), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// Regressions found in review

const NAMESPACES: &str = "/api/v1/namespaces";

/// A terminating namespace that waits on someone else's finalizer is left alone,
/// not rewritten by the collector in a loop; and updating it does not delete it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_namespace_is_stable_and_survives_updates() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "held", "finalizers": ["example.com/hold"]}});
    assert_eq!(post(ts, NAMESPACES, &ns).await.0, 201);
    let cms = "/api/v1/namespaces/held/configmaps";
    assert_eq!(post(ts, cms, &cm("inside", json!({}))).await.0, 201);
    assert_eq!(
        send(
            ts,
            "DELETE",
            &format!("{NAMESPACES}/held"),
            JSON,
            &json!({})
        )
        .await
        .0,
        200
    );
    gone(ts, &format!("{cms}/inside")).await;
    let (_, first) = get(ts, &format!("{NAMESPACES}/held")).await;
    // Long enough for several collector passes (they run every 250 ms while work waits).
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (_, later) = get(ts, &format!("{NAMESPACES}/held")).await;
    assert_eq!(
        rv(&first),
        rv(&later),
        "nothing rewrote the namespace: {later}"
    );
    assert_eq!(later["status"]["phase"], json!("Terminating"));

    // A label (or a GitOps re-apply) on the terminating namespace keeps it.
    let (code, labelled) = send(
        ts,
        "PATCH",
        &format!("{NAMESPACES}/held"),
        MERGE,
        &json!({"metadata": {"labels": {"a": "b"}}}),
    )
    .await;
    assert_eq!(code, 200, "{labelled}");
    let (code, still) = get(ts, &format!("{NAMESPACES}/held")).await;
    assert_eq!(code, 200, "{still}");
    assert_eq!(
        still["spec"]["finalizers"], later["spec"]["finalizers"],
        "spec.finalizers change only through /finalize"
    );
    assert_eq!(still["metadata"]["labels"]["a"], json!("b"));

    // Removing the last finalizer finishes the deletion.
    assert_eq!(
        send(
            ts,
            "PATCH",
            &format!("{NAMESPACES}/held"),
            MERGE,
            &json!({"metadata": {"finalizers": null}})
        )
        .await
        .0,
        200
    );
    gone(ts, &format!("{NAMESPACES}/held")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_must_keep_the_name_and_status_writes_check_the_resource_version() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    assert_eq!(post(ts, CMS, &cm("named", json!({"a": "1"}))).await.0, 201);
    let (code, body) = send(
        ts,
        "PUT",
        &format!("{CMS}/named"),
        JSON,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {}}),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        body["message"],
        json!("the name of the object () does not match the name on the URL (named)")
    );

    let (_, d) = post(ts, DEPLOYS, &deployment("st", 1, &[("app", "nginx:1.0")])).await;
    let stale = rv(&d);
    assert_eq!(
        send(
            ts,
            "PATCH",
            &format!("{DEPLOYS}/st"),
            MERGE,
            &json!({"metadata": {"labels": {"x": "y"}}})
        )
        .await
        .0,
        200
    );
    let mut status_write = d.clone();
    status_write["status"] = json!({"replicas": 7});
    let (code, body) = send(
        ts,
        "PUT",
        &format!("{DEPLOYS}/st/status"),
        JSON,
        &status_write,
    )
    .await;
    assert_eq!(code, 409, "a stale status write is a conflict: {body}");
    status_write["metadata"]["resourceVersion"] = json!((stale + 1000).to_string());
    assert_eq!(
        send(
            ts,
            "PUT",
            &format!("{DEPLOYS}/st/status"),
            JSON,
            &status_write
        )
        .await
        .0,
        409
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_crd_serves_nothing_and_only_all_is_a_dry_run() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let (code, _) = send(
        ts,
        "POST",
        &format!("{CRDS}?dryRun=All"),
        JSON,
        &widget_crd(),
    )
    .await;
    assert_eq!(code, 201);
    assert_eq!(
        get(ts, "/apis/example.com/v1").await.0,
        404,
        "a dry-run CRD is not served"
    );
    let (code, body) = send(
        ts,
        "POST",
        &format!("{CMS}?dryRun=true"),
        JSON,
        &cm("dry", json!({})),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(get(ts, &format!("{CMS}/dry")).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_namespaces_urls_only_list_and_watch() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    assert_eq!(post(ts, CMS, &cm("keep", json!({}))).await.0, 201);
    let (code, _) = post(ts, "/api/v1/configmaps", &cm("nowhere", json!({}))).await;
    assert_eq!(code, 405);
    assert_eq!(
        send(ts, "DELETE", "/api/v1/configmaps", JSON, &json!({}))
            .await
            .0,
        405
    );
    assert_eq!(get(ts, "/api/v1/configmaps/keep").await.0, 404);
    let (code, list) = get(ts, "/api/v1/configmaps").await;
    assert_eq!(code, 200);
    assert!(names(&list).contains(&"keep".to_string()));
    assert_eq!(
        get(ts, &format!("{CMS}/keep")).await.0,
        200,
        "nothing was deleted"
    );
}

/// Every page of a paginated list reports the first page's revision, so a client
/// that watches from the last page's resourceVersion misses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_pages_report_the_first_pages_revision() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    for i in 0..4 {
        assert_eq!(post(ts, CMS, &cm(&format!("p{i}"), json!({}))).await.0, 201);
    }
    let (_, page1) = get(ts, &format!("{CMS}?limit=2")).await;
    let first_rv = page1["metadata"]["resourceVersion"].clone();
    // A change between pages, to an object the first page already returned.
    assert_eq!(
        send(
            ts,
            "PATCH",
            &format!("{CMS}/p0"),
            MERGE,
            &json!({"data": {"x": "1"}})
        )
        .await
        .0,
        200
    );
    let token = page1["metadata"]["continue"]
        .as_str()
        .expect("continue")
        .to_string();
    let (code, page2) = get(ts, &format!("{CMS}?limit=2&continue={token}")).await;
    assert_eq!(code, 200);
    assert_eq!(page2["metadata"]["resourceVersion"], first_rv);
    // The first page held kube-root-ca.crt (every namespace has it) and p0.
    assert_eq!(names(&page2), vec!["p1", "p2"]);
}

/// Deleting a CRD deletes its objects the normal way, so their finalizers run first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_deletion_waits_for_custom_object_finalizers() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    create_widget_crd(ts).await;
    ts.eventually("widgets served", SETTLE, || async move {
        (get(ts, WIDGETS).await.0 == 200).then_some(())
    })
    .await;
    let mut w = widget("held", json!({"size": 1}));
    w["metadata"]["finalizers"] = json!(["example.com/cleanup"]);
    assert_eq!(post(ts, WIDGETS, &w).await.0, 201);
    let crd_path = format!("{CRDS}/widgets.example.com");
    assert_eq!(send(ts, "DELETE", &crd_path, JSON, &json!({})).await.0, 200);
    let path = format!("{WIDGETS}/held");
    let path = path.as_str();
    ts.eventually("the widget to start terminating", SETTLE, || async move {
        let (_, o) = get(ts, path).await;
        o["metadata"]["deletionTimestamp"].is_string().then_some(())
    })
    .await;
    assert_eq!(
        get(ts, &crd_path).await.0,
        200,
        "the CRD waits for its objects"
    );
    assert_eq!(
        send(
            ts,
            "PATCH",
            path,
            MERGE,
            &json!({"metadata": {"finalizers": null}})
        )
        .await
        .0,
        200
    );
    gone(ts, &crd_path).await;
    assert_eq!(get(ts, "/apis/example.com/v1").await.0, 404);
}

/// A namespace kept Terminating only by its own `kubernetes` finalizer (its
/// contents are still finalizing) is not deleted by an ordinary update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updating_a_terminating_namespace_does_not_orphan_its_contents() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "busy"}});
    assert_eq!(post(ts, NAMESPACES, &ns).await.0, 201);
    let cms = "/api/v1/namespaces/busy/configmaps";
    let mut held = cm("held", json!({}));
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    assert_eq!(post(ts, cms, &held).await.0, 201);
    assert_eq!(
        send(
            ts,
            "DELETE",
            &format!("{NAMESPACES}/busy"),
            JSON,
            &json!({})
        )
        .await
        .0,
        200
    );
    let (code, body) = send(
        ts,
        "PATCH",
        &format!("{NAMESPACES}/busy"),
        MERGE,
        &json!({"metadata": {"labels": {"a": "b"}}}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (code, ns_now) = get(ts, &format!("{NAMESPACES}/busy")).await;
    assert_eq!(
        code, 200,
        "the namespace must wait for its contents: {ns_now}"
    );
    assert_eq!(ns_now["spec"]["finalizers"], json!(["kubernetes"]));
    // Releasing the content lets the namespace go.
    assert_eq!(
        send(
            ts,
            "PATCH",
            &format!("{cms}/held"),
            MERGE,
            &json!({"metadata": {"finalizers": null}})
        )
        .await
        .0,
        200
    );
    gone(ts, &format!("{NAMESPACES}/busy")).await;
}
