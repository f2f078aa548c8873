//! Workloads that make objects, driven with real kubectl as a user would: a
//! Deployment makes a ReplicaSet and Pods that `kubectl get` shows as a real
//! cluster shows them; rollouts replace Pods within maxSurge/maxUnavailable;
//! `rollout status`, `scale`, `rollout undo`, `logs -f`; StatefulSets,
//! DaemonSets, Jobs, CronJobs and ReplicationControllers; Nodes.

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use common::{TestSandbox, get, kubectl, post, stderr, stdout, within};
use serde_json::{Value, json};
use tether_sandbox::Config;
use tokio::io::AsyncBufReadExt;

const SETTLE: Duration = Duration::from_secs(30);

async fn with_delay(ms: u64) -> TestSandbox {
    TestSandbox::with_config(Config {
        rollout_delay: Duration::from_millis(ms),
        ..Config::default()
    })
    .await
}

async fn kubectl_ok(ts: &TestSandbox, args: &[&str]) -> String {
    within(&format!("kubectl {args:?}"), ts.kubectl_ok(args)).await
}

async fn kubectl_json(ts: &TestSandbox, args: &[&str]) -> Value {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-o", "json"]);
    let out = kubectl_ok(ts, &all).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl {args:?} -o json: {e}: {out}"))
}

fn apply_file(ts: &TestSandbox, name: &str, yaml: &str) -> String {
    ts.file(name, yaml).display().to_string()
}

fn deployment_yaml(name: &str, image: &str, replicas: u32, strategy: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  strategy: {strategy}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: app
        image: {image}
"
    )
}

const ROLLING_1_1: &str = "{type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 1}}";

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

fn tokens(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Polls kubectl's JSON for `args` until `ok` holds.
async fn eventually_json(
    ts: &TestSandbox,
    what: &str,
    args: &[&str],
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let ok = &ok;
    ts.eventually(what, SETTLE, || async move {
        let v = kubectl_json(ts, args).await;
        ok(&v).then_some(v)
    })
    .await
}

fn controller_of(o: &Value) -> (String, String, bool) {
    let r = &o["metadata"]["ownerReferences"][0];
    (
        r["kind"].as_str().unwrap_or("").to_string(),
        r["name"].as_str().unwrap_or("").to_string(),
        r["controller"] == json!(true) && r["blockOwnerDeletion"] == json!(true),
    )
}

fn condition<'a>(o: &'a Value, type_: &str) -> Option<&'a Value> {
    o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

// ---------------------------------------------------------------------------------------
// Deployments, ReplicaSets, Pods

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_makes_a_replicaset_and_pods_as_a_real_cluster() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let f = apply_file(
        ts,
        "web.yaml",
        &deployment_yaml("web", "nginx:1.25", 3, ROLLING_1_1),
    );
    kubectl_ok(ts, &["apply", "-f", &f]).await;
    let out = kubectl_ok(
        ts,
        &["rollout", "status", "deployment/web", "--timeout=30s"],
    )
    .await;
    assert!(
        out.ends_with("deployment \"web\" successfully rolled out\n"),
        "{out}"
    );

    let d = kubectl_json(ts, &["get", "deployment", "web"]).await;
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    let rss = items(&kubectl_json(ts, &["get", "rs", "-l", "app=web"]).await);
    assert_eq!(rss.len(), 1, "{rss:?}");
    let rs = &rss[0];
    let hash = rs["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .expect("a pod-template-hash label")
        .to_string();
    assert_eq!(name(rs), format!("web-{hash}"));
    assert_eq!(
        rs["spec"]["selector"]["matchLabels"]["pod-template-hash"],
        hash
    );
    assert_eq!(controller_of(rs), ("Deployment".into(), "web".into(), true));
    assert_eq!(
        rs["metadata"]["ownerReferences"][0]["uid"],
        d["metadata"]["uid"]
    );
    assert_eq!(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    assert_eq!(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"],
        "3"
    );
    assert_eq!(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"],
        "4"
    );

    let pods = items(&kubectl_json(ts, &["get", "pods", "-l", "app=web"]).await);
    assert_eq!(pods.len(), 3);
    for p in &pods {
        let n = name(p);
        let suffix = n
            .strip_prefix(&format!("web-{hash}-"))
            .unwrap_or_else(|| panic!("{n} is named after its ReplicaSet"));
        assert_eq!(suffix.len(), 5, "{n}");
        assert_eq!(
            controller_of(p),
            ("ReplicaSet".into(), name(rs).into(), true)
        );
        assert_eq!(p["metadata"]["labels"]["pod-template-hash"], hash);
        assert_eq!(p["status"]["phase"], "Running");
        assert_eq!(p["spec"]["nodeName"], "sandbox-node");
        assert_eq!(
            p["metadata"]["generation"], 1,
            "binding is not a spec update"
        );
        assert_eq!(p["status"]["hostIP"], "172.18.0.2");
        assert!(
            p["status"]["podIP"]
                .as_str()
                .is_some_and(|ip| ip.starts_with("10.244.")),
            "{}",
            p["status"]
        );
        assert!(p["status"]["startTime"].is_string());
        for c in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
            assert_eq!(
                condition(p, c).map(|c| c["status"].clone()),
                Some(json!("True")),
                "{c}: {}",
                p["status"]
            );
        }
        let cs = &p["status"]["containerStatuses"][0];
        assert_eq!(cs["ready"], true);
        assert!(cs["state"]["running"]["startedAt"].is_string(), "{cs}");
    }

    // What kubectl prints: the ReplicaSet's DESIRED/CURRENT/READY and the pods' READY/STATUS.
    let table = kubectl_ok(ts, &["get", "rs,pods", "-l", "app=web"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        tokens(lines[0]),
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        "{table}"
    );
    assert_eq!(
        tokens(lines[1])[..4],
        [
            format!("replicaset.apps/web-{hash}").as_str(),
            "3",
            "3",
            "3"
        ],
        "{table}"
    );
    let pod_header = lines
        .iter()
        .position(|l| l.starts_with("NAME") && l.contains("STATUS"))
        .expect("a pod table");
    assert_eq!(
        tokens(lines[pod_header]),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    let pod_rows: Vec<Vec<&str>> = lines[pod_header + 1..].iter().map(|l| tokens(l)).collect();
    assert_eq!(pod_rows.len(), 3, "{table}");
    for row in pod_rows {
        assert!(row[0].starts_with(&format!("pod/web-{hash}-")), "{table}");
        assert_eq!(row[1..4], ["1/1", "Running", "0"], "{table}");
    }
    // describe finds the ReplicaSet and the Pod's Node as on a real cluster.
    let described = kubectl_ok(ts, &["describe", "deployment", "web"]).await;
    assert!(
        described.contains(&format!(
            "NewReplicaSet:   web-{hash} (3/3 replicas created)"
        )),
        "{described}"
    );
    let described = kubectl_ok(ts, &["describe", "pod", name(&pods[0])]).await;
    assert!(
        described.contains("Node:             sandbox-node/172.18.0.2"),
        "{described}"
    );
    assert!(
        described.contains(&format!("Controlled By:  ReplicaSet/web-{hash}")),
        "{described}"
    );

    // A Deployment of N replicas costs N + 2 objects.
    let (_, stats) = get(ts, "/_sandbox/stats").await;
    let before = stats["objects"].as_i64().unwrap_or(0);
    kubectl_ok(ts, &["scale", "deployment/web", "--replicas=10"]).await;
    eventually_json(ts, "10 pods", &["get", "pods", "-l", "app=web"], |l| {
        items(l).len() == 10
    })
    .await;
    let (_, stats) = get(ts, "/_sandbox/stats").await;
    assert_eq!(stats["objects"].as_i64().unwrap_or(0) - before, 7);

    // Deleting the Deployment deletes its ReplicaSet and Pods.
    kubectl_ok(ts, &["delete", "deployment", "web", "--wait=true"]).await;
    eventually_json(
        ts,
        "the ReplicaSet and Pods to go",
        &["get", "rs,pods", "-l", "app=web"],
        |l| items(l).is_empty(),
    )
    .await;
}

/// Follows every Pod event of a namespace and checks, after each, that the
/// Pods of the Deployment never exceed `max_total` and never drop under
/// `min_ready` ready ones.
async fn watch_pods(ts: &TestSandbox, rv: &str) -> reqwest::Response {
    ts.http
        .get(ts.url(&format!("/api/v1/namespaces/default/pods?watch=true&labelSelector=app%3Dweb&resourceVersion={rv}")))
        .send()
        .await
        .expect("watch")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_update_replaces_pods_within_surge_and_unavailability() {
    let ts = with_delay(60).await;
    let ts = &ts;
    let f = apply_file(
        ts,
        "web.yaml",
        &deployment_yaml("web", "nginx:1.25", 4, ROLLING_1_1),
    );
    kubectl_ok(ts, &["apply", "-f", &f]).await;
    kubectl_ok(
        ts,
        &["rollout", "status", "deployment/web", "--timeout=30s"],
    )
    .await;
    let list = kubectl_json(ts, &["get", "pods", "-l", "app=web"]).await;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let mut pods: HashMap<String, (bool, String)> = items(&list)
        .iter()
        .map(|p| {
            (
                name(p).to_string(),
                (
                    condition(p, "Ready").is_some_and(|c| c["status"] == "True"),
                    p["spec"]["containers"][0]["image"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                ),
            )
        })
        .collect();
    assert_eq!(pods.len(), 4);
    let mut watch = watch_pods(ts, &rv).await;

    kubectl_ok(ts, &["set", "image", "deployment/web", "app=nginx:1.26"]).await;
    let mut buf = Vec::new();
    let (mut max_total, mut min_ready, mut events) = (4, 4, 0);
    let deadline = tokio::time::Instant::now() + SETTLE;
    // Until every pod runs the new image and is ready.
    while !(pods.len() == 4
        && pods
            .values()
            .all(|(ready, image)| *ready && image == "nginx:1.26"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rollout did not finish: {pods:?}"
        );
        let chunk = tokio::time::timeout(SETTLE, watch.chunk())
            .await
            .expect("a watch event")
            .expect("watch body")
            .expect("open watch");
        buf.extend_from_slice(&chunk);
        while let Some(end) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            let e: Value = serde_json::from_slice(&line).expect("a watch event");
            let p = &e["object"];
            let n = name(p).to_string();
            if e["type"] == "DELETED" || p["metadata"]["deletionTimestamp"].is_string() {
                pods.remove(&n);
            } else {
                let ready = condition(p, "Ready").is_some_and(|c| c["status"] == "True");
                pods.insert(
                    n,
                    (
                        ready,
                        p["spec"]["containers"][0]["image"]
                            .as_str()
                            .unwrap_or("")
                            .to_string(),
                    ),
                );
            }
            events += 1;
            max_total = max_total.max(pods.len());
            min_ready = min_ready.min(pods.values().filter(|(r, _)| *r).count());
        }
    }
    assert!(max_total <= 5, "maxSurge 1 exceeded: {max_total} pods");
    assert!(
        min_ready >= 3,
        "maxUnavailable 1 exceeded: {min_ready} ready"
    );
    assert!(
        events >= 12,
        "four pods created, run and deleted one by one: {events} events"
    );
    assert_eq!(max_total, 5, "the surge is used");
    let out = kubectl_ok(
        ts,
        &["rollout", "status", "deployment/web", "--timeout=30s"],
    )
    .await;
    assert!(out.ends_with("successfully rolled out\n"), "{out}");
    // Two ReplicaSets: the old one scaled to zero and kept for history.
    let rss = items(&kubectl_json(ts, &["get", "rs", "-l", "app=web"]).await);
    let mut sizes: Vec<i64> = rss
        .iter()
        .map(|r| r["spec"]["replicas"].as_i64().unwrap_or(-1))
        .collect();
    sizes.sort();
    assert_eq!(sizes, vec![0, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_history_and_undo() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let f = apply_file(
        ts,
        "web.yaml",
        &deployment_yaml("web", "nginx:1.25", 2, ROLLING_1_1),
    );
    kubectl_ok(ts, &["apply", "-f", &f]).await;
    kubectl_ok(
        ts,
        &["rollout", "status", "deployment/web", "--timeout=30s"],
    )
    .await;

    let out = kubectl_ok(ts, &["scale", "deployment/web", "--replicas=4"]).await;
    assert_eq!(out, "deployment.apps/web scaled\n");
    eventually_json(
        ts,
        "4 running pods",
        &["get", "pods", "-l", "app=web"],
        |l| items(l).len() == 4 && items(l).iter().all(|p| p["status"]["phase"] == "Running"),
    )
    .await;
    kubectl_ok(ts, &["scale", "deployment/web", "--replicas=1"]).await;
    eventually_json(ts, "1 pod", &["get", "pods", "-l", "app=web"], |l| {
        items(l).len() == 1
    })
    .await;

    kubectl_ok(ts, &["set", "image", "deployment/web", "app=nginx:1.26"]).await;
    kubectl_ok(
        ts,
        &[
            "annotate",
            "deployment/web",
            "kubernetes.io/change-cause=upgrade to 1.26",
        ],
    )
    .await;
    kubectl_ok(
        ts,
        &["rollout", "status", "deployment/web", "--timeout=30s"],
    )
    .await;
    let history = kubectl_ok(ts, &["rollout", "history", "deployment/web"]).await;
    let revisions: Vec<&str> = history
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{history}");
    let rev2 = kubectl_ok(
        ts,
        &["rollout", "history", "deployment/web", "--revision=2"],
    )
    .await;
    assert!(rev2.contains("nginx:1.26"), "{rev2}");

    let out = kubectl_ok(ts, &["rollout", "undo", "deployment/web"]).await;
    assert_eq!(out, "deployment.apps/web rolled back\n");
    kubectl_ok(
        ts,
        &["rollout", "status", "deployment/web", "--timeout=30s"],
    )
    .await;
    let d = kubectl_json(ts, &["get", "deployment", "web"]).await;
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    let pods = eventually_json(
        ts,
        "the old template's pod",
        &["get", "pods", "-l", "app=web"],
        |l| items(l).len() == 1 && items(l)[0]["spec"]["containers"][0]["image"] == "nginx:1.25",
    )
    .await;
    // The first ReplicaSet came back (as revision 3) rather than a new one.
    let rss = items(&kubectl_json(ts, &["get", "rs", "-l", "app=web"]).await);
    assert_eq!(rss.len(), 2);
    let owner = controller_of(&items(&pods)[0]).1;
    let back = rss
        .iter()
        .find(|r| name(r) == owner)
        .expect("the pod's ReplicaSet");
    assert_eq!(
        back["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    let history = kubectl_ok(ts, &["rollout", "history", "deployment/web"]).await;
    let revisions: Vec<&str> = history
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(revisions, ["2", "3"], "{history}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_and_a_failing_image() {
    let ts = with_delay(100).await;
    let ts = &ts;
    let f = apply_file(
        ts,
        "web.yaml",
        &deployment_yaml("web", "nginx:1.25", 2, "{type: Recreate}"),
    );
    kubectl_ok(ts, &["apply", "-f", &f]).await;
    kubectl_ok(
        ts,
        &["rollout", "status", "deployment/web", "--timeout=30s"],
    )
    .await;
    kubectl_ok(ts, &["set", "image", "deployment/web", "app=nginx:fail"]).await;
    let out = within(
        "rollout status",
        ts.kubectl_with(
            &kubectl(),
            &["rollout", "status", "deployment/web", "--timeout=20s"],
        ),
    )
    .await;
    assert!(!out.status.success());
    assert_eq!(
        stderr(&out),
        "error: deployment \"web\" exceeded its progress deadline\n",
        "{}",
        stdout(&out)
    );
    // Recreate took the old pods down; the new ones cannot pull their image.
    let pods = eventually_json(
        ts,
        "pods backing off",
        &["get", "pods", "-l", "app=web"],
        |l| {
            items(l).len() == 2
                && items(l).iter().all(|p| {
                    p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                        == "ImagePullBackOff"
                })
        },
    )
    .await;
    for p in items(&pods) {
        assert_eq!(p["status"]["phase"], "Pending");
        assert_eq!(p["spec"]["containers"][0]["image"], "nginx:fail");
    }
    let table = kubectl_ok(ts, &["get", "pods", "-l", "app=web", "--no-headers"]).await;
    for line in table.lines() {
        assert_eq!(tokens(line)[1..3], ["0/1", "ImagePullBackOff"], "{table}");
    }
}

// ---------------------------------------------------------------------------------------
// Logs

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_follow() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    kubectl_ok(ts, &["run", "logger", "--image=nginx:1.25"]).await;
    kubectl_ok(
        ts,
        &[
            "wait",
            "--for=condition=Ready",
            "pod/logger",
            "--timeout=30s",
        ],
    )
    .await;
    let out = kubectl_ok(ts, &["logs", "logger"]).await;
    let first = out.lines().next().unwrap_or("");
    assert!(
        first.contains("msg=\"starting\"") && first.contains("image=nginx:1.25"),
        "{out}"
    );
    let again = kubectl_ok(ts, &["logs", "logger"]).await;
    assert!(
        again.starts_with(&out),
        "logs are deterministic: {out} then {again}"
    );
    let stamped = kubectl_ok(ts, &["logs", "logger", "--timestamps", "--tail=1"]).await;
    assert_eq!(stamped.lines().count(), 1, "{stamped}");
    let stamp = stamped.split_whitespace().next().unwrap_or("");
    assert!(
        stamp.parse::<jiff::Timestamp>().is_ok() && stamp.ends_with('Z'),
        "{stamped}"
    );
    let recent = kubectl_ok(ts, &["logs", "logger", "--since=1h"]).await;
    assert!(recent.contains("starting"), "{recent}");
    let prev = within(
        "logs --previous",
        ts.kubectl_with(&kubectl(), &["logs", "logger", "--previous"]),
    )
    .await;
    assert!(!prev.status.success());
    assert_eq!(
        stderr(&prev),
        "Error from server (BadRequest): previous terminated container \"logger\" in pod \"logger\" not found\n"
    );

    // -f keeps the stream open and prints new lines as they come.
    let mut follow = tokio::process::Command::new(kubectl())
        .args(["logs", "-f", "logger"])
        .env("KUBECONFIG", &ts.kubeconfig)
        .env("HOME", ts.dir.path())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl logs -f");
    let mut lines = tokio::io::BufReader::new(follow.stdout.take().expect("stdout")).lines();
    let before = out.lines().count();
    let mut seen = Vec::new();
    while seen.len() < before + 2 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("a new line within 10 s")
            .expect("read")
            .expect("the stream stays open");
        seen.push(line);
    }
    assert!(
        seen.last().is_some_and(|l| l.contains("msg=\"serving\"")),
        "{seen:?}"
    );
    follow.kill().await.expect("kill kubectl logs -f");

    // A pod that cannot start has no logs yet.
    kubectl_ok(ts, &["run", "broken", "--image=nginx:fail"]).await;
    let out = ts
        .eventually("the pull to fail", SETTLE, || async {
            let o = ts.kubectl_with(&kubectl(), &["logs", "broken"]).await;
            stderr(&o).contains("ImagePullBackOff").then_some(o)
        })
        .await;
    assert_eq!(
        stderr(&out),
        "Error from server (BadRequest): container \"broken\" in pod \"broken\" is waiting to start: ImagePullBackOff\n"
    );
}

// ---------------------------------------------------------------------------------------
// StatefulSets, DaemonSets, Jobs, CronJobs, ReplicationControllers, Nodes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statefulset_makes_ordinal_pods_and_claims() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let f = apply_file(
        ts,
        "db.yaml",
        "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: postgres:16}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
",
    );
    kubectl_ok(ts, &["apply", "-f", &f]).await;
    let out = kubectl_ok(
        ts,
        &["rollout", "status", "statefulset/db", "--timeout=30s"],
    )
    .await;
    assert!(
        out.contains("partitioned roll out complete") || out.contains("roll out complete"),
        "{out}"
    );
    let pods = items(&kubectl_json(ts, &["get", "pods", "-l", "app=db"]).await);
    let mut names: Vec<&str> = pods.iter().map(name).collect();
    names.sort();
    assert_eq!(names, ["db-0", "db-1", "db-2"]);
    // In order: each pod was created once the one before it was ready.
    let created = |n: &str| {
        pods.iter().find(|p| name(p) == n).map(|p| {
            p["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .parse::<u64>()
                .unwrap_or(0)
        })
    };
    let uid_order: Vec<u64> = ["db-0", "db-1", "db-2"]
        .iter()
        .filter_map(|n| created(n))
        .collect();
    assert!(uid_order.windows(2).all(|w| w[0] < w[1]), "{uid_order:?}");
    for p in &pods {
        assert_eq!(controller_of(p).0, "StatefulSet");
        assert_eq!(p["spec"]["hostname"], name(p));
        assert_eq!(p["spec"]["subdomain"], "db");
        assert_eq!(
            p["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
            format!("data-{}", name(p))
        );
    }
    let claims = eventually_json(ts, "bound claims", &["get", "pvc", "-l", "app=db"], |l| {
        items(l).len() == 3 && items(l).iter().all(|c| c["status"]["phase"] == "Bound")
    })
    .await;
    let claim_list = items(&claims);
    let mut cn: Vec<&str> = claim_list.iter().map(name).collect();
    cn.sort();
    assert_eq!(cn, ["data-db-0", "data-db-1", "data-db-2"]);
    let sts = kubectl_json(ts, &["get", "sts", "db"]).await;
    assert_eq!(sts["status"]["readyReplicas"], 3);
    assert_eq!(
        sts["status"]["currentRevision"],
        sts["status"]["updateRevision"]
    );

    // A new template rolls out from the highest ordinal; history and undo go
    // through ControllerRevisions, as on a real cluster.
    kubectl_ok(ts, &["set", "image", "statefulset/db", "db=postgres:17"]).await;
    kubectl_ok(
        ts,
        &["rollout", "status", "statefulset/db", "--timeout=30s"],
    )
    .await;
    let history = kubectl_ok(ts, &["rollout", "history", "statefulset/db"]).await;
    let revisions: Vec<&str> = history
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{history}");
    let crs = items(&kubectl_json(ts, &["get", "controllerrevisions", "-l", "app=db"]).await);
    assert_eq!(crs.len(), 2);
    assert!(
        crs.iter()
            .all(|r| controller_of(r) == ("StatefulSet".into(), "db".into(), true))
    );
    let out = kubectl_ok(ts, &["rollout", "undo", "statefulset/db"]).await;
    assert_eq!(out, "statefulset.apps/db rolled back\n");
    kubectl_ok(
        ts,
        &["rollout", "status", "statefulset/db", "--timeout=30s"],
    )
    .await;
    eventually_json(
        ts,
        "the old image back on every pod",
        &["get", "pods", "-l", "app=db"],
        |l| {
            items(l).len() == 3
                && items(l).iter().all(|p| {
                    p["spec"]["containers"][0]["image"] == "postgres:16"
                        && p["status"]["phase"] == "Running"
                })
        },
    )
    .await;

    // Scaling down removes the highest ordinal; its claim stays, as in a real cluster.
    kubectl_ok(ts, &["scale", "statefulset/db", "--replicas=2"]).await;
    eventually_json(ts, "db-2 to go", &["get", "pods", "-l", "app=db"], |l| {
        items(l).len() == 2 && items(l).iter().all(|p| name(p) != "db-2")
    })
    .await;
    kubectl_ok(ts, &["delete", "statefulset", "db"]).await;
    eventually_json(
        ts,
        "the pods to go",
        &["get", "pods", "-l", "app=db"],
        |l| items(l).is_empty(),
    )
    .await;
    assert_eq!(
        items(&kubectl_json(ts, &["get", "pvc", "-l", "app=db"]).await).len(),
        3,
        "claims outlive their pods"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_and_a_daemonset_pod_per_node() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let nodes = kubectl_ok(ts, &["get", "nodes"]).await;
    let rows: Vec<Vec<&str>> = nodes.lines().map(tokens).collect();
    assert_eq!(
        rows[0],
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        "{nodes}"
    );
    assert_eq!(
        rows[1][..3],
        ["sandbox-node", "Ready", "control-plane"],
        "{nodes}"
    );
    assert!(rows[1][4].starts_with("v1.35"), "{nodes}");

    let f = apply_file(
        ts,
        "agent.yaml",
        "apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: fluent-bit:3}]}
",
    );
    kubectl_ok(ts, &["apply", "-f", &f]).await;
    kubectl_ok(
        ts,
        &["rollout", "status", "daemonset/agent", "--timeout=30s"],
    )
    .await;
    let history = kubectl_ok(ts, &["rollout", "history", "daemonset/agent"]).await;
    assert_eq!(
        history
            .lines()
            .skip(2)
            .filter_map(|l| l.split_whitespace().next())
            .collect::<Vec<_>>(),
        ["1"],
        "{history}"
    );
    let ds = kubectl_json(ts, &["get", "ds", "agent"]).await;
    assert_eq!(ds["status"]["desiredNumberScheduled"], 1);
    assert_eq!(ds["status"]["numberReady"], 1);
    let describe = kubectl_ok(ts, &["describe", "node", "sandbox-node"]).await;
    assert!(
        describe
            .lines()
            .any(|l| tokens(l).starts_with(&["Ready", "True"])),
        "a Ready condition in:\n{describe}"
    );
    for want in [
        "InternalIP:",
        "172.18.0.2",
        "Non-terminated Pods:",
        "agent-",
    ] {
        assert!(describe.contains(want), "{want:?} in:\n{describe}");
    }

    // A second Node gets its own pod.
    let f = apply_file(
        ts,
        "node.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: worker-2}\n",
    );
    kubectl_ok(ts, &["apply", "-f", &f]).await;
    let pods = eventually_json(
        ts,
        "a pod on each node",
        &["get", "pods", "-l", "app=agent"],
        |l| items(l).len() == 2 && items(l).iter().all(|p| p["status"]["phase"] == "Running"),
    )
    .await;
    let mut on: Vec<String> = items(&pods)
        .iter()
        .map(|p| p["spec"]["nodeName"].as_str().unwrap_or("").to_string())
        .collect();
    on.sort();
    assert_eq!(on, ["sandbox-node", "worker-2"]);
    eventually_json(ts, "the count per node", &["get", "ds", "agent"], |d| {
        d["status"]["numberReady"] == 2 && d["status"]["desiredNumberScheduled"] == 2
    })
    .await;
    // A Node that goes takes its pod with it.
    kubectl_ok(ts, &["delete", "node", "worker-2"]).await;
    eventually_json(
        ts,
        "one pod again",
        &["get", "pods", "-l", "app=agent"],
        |l| items(l).len() == 1,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_pods_to_completion() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let f = apply_file(
        ts,
        "batch.yaml",
        "apiVersion: batch/v1
kind: Job
metadata: {name: batch}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: work, image: busybox:1.36}]
",
    );
    kubectl_ok(ts, &["apply", "-f", &f]).await;
    kubectl_ok(
        ts,
        &[
            "wait",
            "--for=condition=complete",
            "job/batch",
            "--timeout=30s",
        ],
    )
    .await;
    let job = kubectl_json(ts, &["get", "job", "batch"]).await;
    assert_eq!(job["status"]["succeeded"], 3);
    assert!(job["status"]["completionTime"].is_string());
    let pods = items(&kubectl_json(ts, &["get", "pods", "-l", "job-name=batch"]).await);
    assert_eq!(pods.len(), 3);
    for p in &pods {
        assert_eq!(p["status"]["phase"], "Succeeded");
        assert_eq!(controller_of(p).0, "Job");
        assert!(name(p).starts_with("batch-"));
    }
    let log = kubectl_ok(ts, &["logs", name(&pods[0])]).await;
    assert!(
        log.lines().last().is_some_and(|l| l.contains("exitCode=0")),
        "{log}"
    );

    let f = apply_file(
        ts,
        "bad.yaml",
        "apiVersion: batch/v1
kind: Job
metadata: {name: bad}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: work, image: busybox:fail}]
",
    );
    kubectl_ok(ts, &["apply", "-f", &f]).await;
    kubectl_ok(
        ts,
        &["wait", "--for=condition=failed", "job/bad", "--timeout=30s"],
    )
    .await;
    let job = kubectl_json(ts, &["get", "job", "bad"]).await;
    assert_eq!(
        condition(&job, "Failed").map(|c| c["reason"].clone()),
        Some(json!("BackoffLimitExceeded"))
    );
    assert_eq!(
        job["status"]["failed"], 3,
        "backoffLimit 2: the third failure ends it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cronjobs_make_jobs_on_their_schedule() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    kubectl_ok(
        ts,
        &[
            "create",
            "cronjob",
            "tick",
            "--image=busybox:1.36",
            "--schedule=* * * * *",
        ],
    )
    .await;
    // By hand, as users do, before the schedule fires.
    kubectl_ok(ts, &["create", "job", "by-hand", "--from=cronjob/tick"]).await;
    kubectl_ok(
        ts,
        &[
            "wait",
            "--for=condition=complete",
            "job/by-hand",
            "--timeout=30s",
        ],
    )
    .await;

    // Move the controllers' clock past the next minute (a test control).
    let (code, body) = post(ts, "/_sandbox/clock", &json!({"advanceSeconds": 61})).await;
    assert_eq!(code, 200, "{body}");
    // (`create job --from` made its job the CronJob's too, as kubectl does.)
    let by_schedule = |j: &Value| controller_of(j).0 == "CronJob" && name(j).starts_with("tick-");
    let jobs = eventually_json(ts, "a scheduled job", &["get", "jobs"], |l| {
        items(l).iter().any(by_schedule)
    })
    .await;
    let scheduled = items(&jobs).into_iter().find(by_schedule).expect("a job");
    let minutes: i64 = name(&scheduled)
        .strip_prefix("tick-")
        .and_then(|m| m.parse().ok())
        .expect("named tick-<minutes>");
    let at = jiff::Timestamp::from_second(minutes * 60).expect("a time");
    assert_eq!(
        scheduled["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"],
        json!(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
    );
    kubectl_ok(
        ts,
        &[
            "wait",
            "--for=condition=complete",
            &format!("job/{}", name(&scheduled)),
            "--timeout=30s",
        ],
    )
    .await;
    let cj = eventually_json(
        ts,
        "the cronjob's status",
        &["get", "cronjob", "tick"],
        |c| c["status"]["lastSuccessfulTime"].is_string(),
    )
    .await;
    assert_eq!(
        cj["status"]["lastScheduleTime"],
        json!(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
    );
    let table = kubectl_ok(ts, &["get", "cronjob", "tick", "--no-headers"]).await;
    assert_eq!(tokens(&table)[1..6], ["*", "*", "*", "*", "*"], "{table}");

    // Suspended: no more jobs however far the clock moves.
    kubectl_ok(
        ts,
        &[
            "patch",
            "cronjob",
            "tick",
            "-p",
            "{\"spec\":{\"suspend\":true}}",
        ],
    )
    .await;
    let count = |l: &Value| items(l).iter().filter(|j| by_schedule(j)).count();
    let before = count(&kubectl_json(ts, &["get", "jobs"]).await);
    post(ts, "/_sandbox/clock", &json!({"advanceSeconds": 120})).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(count(&kubectl_json(ts, &["get", "jobs"]).await), before);
    let (code, _) = post(ts, "/_sandbox/clock", &json!({"advanceSeconds": -5})).await;
    assert_eq!(code, 400, "the clock only moves on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_controllers_are_reconciled() {
    let ts = TestSandbox::start().await;
    let ts = &ts;
    let f = apply_file(
        ts,
        "rc.yaml",
        "apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  replicas: 2
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
    spec: {containers: [{name: app, image: nginx:1.25}]}
",
    );
    kubectl_ok(ts, &["apply", "-f", &f]).await;
    let rc = eventually_json(ts, "ready replicas", &["get", "rc", "legacy"], |r| {
        r["status"]["readyReplicas"] == 2
    })
    .await;
    assert_eq!(rc["status"]["replicas"], 2);
    let pods = items(&kubectl_json(ts, &["get", "pods", "-l", "app=legacy"]).await);
    assert_eq!(pods.len(), 2);
    assert!(
        pods.iter()
            .all(|p| controller_of(p) == ("ReplicationController".into(), "legacy".into(), true))
    );
    // A deleted pod is replaced.
    kubectl_ok(ts, &["delete", "pod", name(&pods[0])]).await;
    eventually_json(
        ts,
        "a replacement",
        &["get", "pods", "-l", "app=legacy"],
        |l| items(l).len() == 2 && items(l).iter().all(|p| name(p) != name(&pods[0])),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_counts_out_of_range_are_refused_before_a_controller_sees_them() {
    let ts = with_delay(0).await;
    let deployment = |replicas: Value| {
        json!({"metadata": {"name": "huge"}, "spec": {"replicas": replicas,
            "selector": {"matchLabels": {"app": "huge"}},
            "template": {"metadata": {"labels": {"app": "huge"}},
                         "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    };
    let (code, status) = common::post(
        &ts,
        "/apis/apps/v1/namespaces/default/deployments",
        &deployment(json!(-1)),
    )
    .await;
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        status["details"]["causes"][0]["field"], "spec.replicas",
        "{status}"
    );
    assert_eq!(
        status["details"]["causes"][0]["message"],
        "Invalid value: -1: must be greater than or equal to 0",
        "{status}"
    );
    // Beyond an int32: refused while decoding, as the real server refuses it.
    let (code, status) = common::post(
        &ts,
        "/apis/apps/v1/namespaces/default/deployments",
        &deployment(json!(2_147_483_648_i64)),
    )
    .await;
    assert_eq!(code, 400, "{status}");
    let job = json!({"metadata": {"name": "j"}, "spec": {"completions": -3,
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}});
    let (code, status) = common::post(&ts, "/apis/batch/v1/namespaces/default/jobs", &job).await;
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        status["details"]["causes"][0]["field"], "spec.completions",
        "{status}"
    );
    // The controllers are still working: a sane Deployment rolls out.
    let (code, _) = common::post(
        &ts,
        "/apis/apps/v1/namespaces/default/deployments",
        &deployment(json!(1)),
    )
    .await;
    assert_eq!(code, 201);
    kubectl_ok(&ts, &["rollout", "status", "deploy/huge", "--timeout=20s"]).await;
}
