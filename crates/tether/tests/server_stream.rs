//! The live stream (`GET /api/v1/stream`) and the browser session, driven
//! over HTTP against the real `tether agent --listen` and `tether sandbox`,
//! with real Git repositories.

mod common;
#[path = "support/http.rs"]
mod http;

use std::io::BufReader;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use http::{EventStream, SseEvent};
use serde_json::Value;

/// A port nobody listens on now (the agent binds it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Start the agent serving the API; returns its address once it answers.
fn agent_with_api(env: &mut Env, extra: &[&str]) -> String {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["--listen", addr.as_str()];
    args.extend_from_slice(extra);
    env.agent(&args);
    eventually("the API to be ready", Duration::from_secs(30), || {
        std::net::TcpStream::connect(&addr).ok()?;
        (http::get(&addr, "/readyz", &[]).status == 200).then_some(())
    });
    addr
}

/// A token in the Secret the agent reads, as `tether token create` writes it
/// (hashed, one field manager per token). Waits until the agent accepts it.
fn make_token(env: &Env, addr: &str, name: &str, role: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let token = format!("tether_{name}{nanos:040}");
    let sha = shell(&format!("printf %s '{token}' | sha256sum | cut -d' ' -f1"));
    let record =
        serde_json::json!({"role": role, "sha256": sha, "createdAt": "2026-01-01T00:00:00Z"});
    let b64 = shell(&format!("printf %s '{record}' | base64 -w0"));
    env.apply_yaml_with(
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: tether-api-tokens\n  namespace: tether\ntype: Opaque\ndata:\n  {name}: {b64}\n"
        ),
        &["--field-manager", &format!("tether-token-{name}")],
    );
    let bearer = format!("Bearer {token}");
    eventually(
        "the agent to accept the token",
        Duration::from_secs(10),
        || {
            let r = http::get(addr, "/api/v1/session", &[("Authorization", &bearer)]);
            (r.status == 200).then_some(())
        },
    );
    token
}

fn shell(script: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", script])
        .output()
        .expect("sh");
    assert!(out.status.success(), "{script}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Every version of every Application as an independent watcher (`kubectl get
/// -w`) receives it, with when: the reference the stream's latency is
/// measured against.
struct Watcher {
    child: Child,
    seen: Arc<Mutex<Vec<(Instant, Value)>>>,
}

impl Watcher {
    fn start(env: &Env) -> Watcher {
        let mut child = Command::new("kubectl")
            .args([
                "get",
                "applications.tether.dev",
                "-n",
                "tether",
                "-w",
                "-o",
                "json",
            ])
            .env("KUBECONFIG", &env.kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl watch");
        let stdout = child.stdout.take().expect("stdout");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            let objects =
                serde_json::Deserializer::from_reader(BufReader::new(stdout)).into_iter::<Value>();
            for obj in objects.flatten() {
                sink.lock().unwrap().push((Instant::now(), obj));
            }
        });
        Watcher { child, seen }
    }

    /// When the watcher first saw an Application for which `when` holds.
    fn first(&self, what: &str, when: impl Fn(&Value) -> bool) -> Instant {
        eventually(what, Duration::from_secs(10), || {
            let seen = self.seen.lock().unwrap();
            seen.iter().find(|(_, v)| when(v)).map(|(t, _)| *t)
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read `changes` events until one carries a row for which `want` holds;
/// returns the event, the row and when it arrived.
fn wait_row(
    stream: &mut EventStream,
    what: &str,
    timeout: Duration,
    want: impl Fn(&Value) -> bool,
) -> (SseEvent, Value, Instant) {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    while let Some(e) = stream.next(deadline.saturating_duration_since(Instant::now())) {
        let at = Instant::now();
        if e.event == "changes" || e.event == "snapshot" {
            let body = e.json();
            let rows = body["upserted"].as_array().or(body["items"].as_array());
            if let Some(row) = rows.into_iter().flatten().find(|r| want(r)) {
                return (e.clone(), row.clone(), at);
            }
        }
        got.push(format!("{}: {}", e.event, e.data));
    }
    panic!(
        "no stream event with {what} within {timeout:?}; got:\n{}",
        got.join("\n")
    );
}

fn row_sync(row: &Value) -> &str {
    row["sync"].as_str().unwrap_or("")
}

fn app_revision(app: &Value) -> &str {
    app["status"]["sync"]["revision"].as_str().unwrap_or("")
}

/// The time between the watcher seeing the status and the stream delivering
/// it; the issue asks for under a second.
fn assert_prompt(what: &str, written: Instant, delivered: Instant) {
    let lag = delivered.saturating_duration_since(written);
    eprintln!("{what}: on the stream {lag:?} after the watcher saw it");
    assert!(
        lag < Duration::from_secs(1),
        "{what} reached the stream {lag:?} after the Application had it"
    );
}

/// Issue 11, proof 2: a readonly client subscribed to the list sees a commit's
/// app go OutOfSync → Synced and a `kubectl scale` drift appear with its field
/// and manager, each within a second of the status write; it reconnects with
/// `Last-Event-ID` and gets everything that changed while it was away; the
/// one-app subscription carries the app.
#[test]
fn the_list_stream_follows_commits_syncs_and_drift_and_resumes() {
    let mut env = Env::start();
    let addr = agent_with_api(&mut env, &[]);
    let reader = make_token(&env, &addr, "viewer", "readonly");
    let auth = format!("Bearer {reader}");
    let auth = [("Authorization", auth.as_str())];

    let repo = Repo::init(&env.path("repo"));
    repo.write("web/web.yaml", &deployment("web", "nginx:1.0", 3));
    repo.write("other/cm.yaml", &configmap("other", "v1"));
    repo.write("third/cm.yaml", &configmap("third", "v1"));
    let first = repo.commit("web and friends");
    let watcher = Watcher::start(&env);
    let mut stream = EventStream::open(&addr, "/api/v1/stream?namespace=tether", &auth);
    assert_eq!(stream.header_value("cache-control"), Some("no-store"));
    let snapshot = stream.next(Duration::from_secs(5)).expect("a first event");
    assert_eq!(snapshot.event, "snapshot", "{snapshot:?}");
    let body = snapshot.json();
    assert_eq!(body["counts"]["total"], 0, "{body}");
    assert_eq!(body["items"], serde_json::json!([]), "{body}");

    // `web` syncs only when asked, so its OutOfSync is seen; `other` syncs itself.
    env.apply_yaml(&app_yaml("web", &repo.url(), "web", "web", "", ""));
    let other = app_yaml("other", &repo.url(), "other", "other", AUTO_PRUNE, "");
    env.apply_yaml(&other);

    // The first sync, asked for, goes OutOfSync → Synced.
    wait_row(&mut stream, "web OutOfSync", Duration::from_secs(30), |r| {
        r["name"] == "web" && row_sync(r) == "OutOfSync"
    });
    let o = env.run_tether(&["app", "sync", "web", "--timeout", "60s"]);
    assert_eq!(o.code, 0, "{o:?}");
    wait_row(&mut stream, "web Synced", Duration::from_secs(30), |r| {
        r["name"] == "web" && row_sync(r) == "Synced" && r["revision"] == first
    });
    env.wait_synced_healthy("other");

    // A commit: OutOfSync at the new revision, then Synced when asked.
    repo.write("web/web.yaml", &deployment("web", "nginx:1.1", 3));
    let second = repo.commit("nginx 1.1");
    let (_, row, at) = wait_row(
        &mut stream,
        "web OutOfSync at the new commit",
        Duration::from_secs(30),
        |r| r["name"] == "web" && row_sync(r) == "OutOfSync" && r["revision"] == second,
    );
    assert_eq!(row["namespace"], "tether");
    let written = watcher.first("the watcher to see OutOfSync", |a| {
        a["metadata"]["name"] == "web" && app_revision(a) == second && sync(a) == "OutOfSync"
    });
    assert_prompt("OutOfSync", written, at);
    let o = env.run_tether(&["app", "sync", "web", "--timeout", "60s"]);
    assert_eq!(o.code, 0, "{o:?}");
    let (_, _, at) = wait_row(
        &mut stream,
        "web Synced at the new commit",
        Duration::from_secs(30),
        |r| r["name"] == "web" && row_sync(r) == "Synced" && r["revision"] == second,
    );
    let written = watcher.first("the watcher to see Synced", |a| {
        a["metadata"]["name"] == "web" && app_revision(a) == second && sync(a) == "Synced"
    });
    assert_prompt("Synced", written, at);

    // Drift, with its field and manager.
    env.kubectl_ok(&["scale", "deployment/web", "-n", "web", "--replicas=5"]);
    let drifted = |live: &'static str| {
        move |r: &Value| {
            r["name"] == "web"
                && r["drifted"].as_array().is_some_and(|d| {
                    d.iter().any(|o| {
                        o["kind"] == "Deployment"
                            && o["name"] == "web"
                            && o["drift"]["fields"].as_array().is_some_and(|f| {
                                f.iter()
                                    .any(|f| f["path"] == "spec.replicas" && f["live"] == live)
                            })
                    })
                })
        }
    };
    let (event, row, at) = wait_row(
        &mut stream,
        "the drift",
        Duration::from_secs(10),
        drifted("5"),
    );
    let drift = &row["drifted"][0]["drift"];
    assert!(
        drift["manager"]
            .as_str()
            .unwrap_or("")
            .starts_with("kubectl"),
        "the manager that made the drift: {row}"
    );
    assert_eq!(drift["fields"][0]["git"], "3", "{row}");
    assert_eq!(row["driftCount"], 1, "{row}");
    let written = watcher.first("the watcher to see the drift", |a| {
        a["metadata"]["name"] == "web"
            && a["status"]["resources"]
                .as_array()
                .is_some_and(|rs| rs.iter().any(|r| r["drift"]["fields"][0]["live"] == "5"))
    });
    assert_prompt("the drift", written, at);

    // Away: the drift changes, `other` is deleted, `third` appears.
    let last_id = event.id.clone().expect("events carry ids");
    drop(stream);
    env.kubectl_ok(&["scale", "deployment/web", "-n", "web", "--replicas=6"]);
    env.kubectl_ok(&[
        "delete",
        "applications.tether.dev",
        "other",
        "-n",
        "tether",
        "--wait=false",
    ]);
    env.apply_yaml(&app_yaml(
        "third",
        &repo.url(),
        "third",
        "third",
        AUTO_PRUNE,
        "",
    ));
    env.wait_app("web", "drift 6", Duration::from_secs(10), |a| {
        a["status"]["resources"]
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| r["drift"]["fields"][0]["live"] == "6"))
    });
    env.wait_synced_healthy("third");
    eventually("other to be gone", Duration::from_secs(30), || {
        env.app_in("tether", "other").is_none().then_some(())
    });

    let resumed_with = [auth[0], ("Last-Event-ID", last_id.as_str())];
    let mut stream = EventStream::open(&addr, "/api/v1/stream?namespace=tether", &resumed_with);
    let missed = stream
        .next(Duration::from_secs(5))
        .expect("what was missed");
    assert_eq!(
        missed.event, "changes",
        "a resume, not a snapshot: {missed:?}"
    );
    let body = missed.json();
    let rows = body["upserted"].as_array().expect("rows");
    assert!(rows.iter().any(drifted("6")), "the new drift: {body}");
    assert!(
        rows.iter()
            .any(|r| r["name"] == "third" && row_sync(r) == "Synced"),
        "the new app: {body}"
    );
    assert!(
        body["removed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "tether/other"),
        "the deleted app: {body}"
    );
    assert_eq!(body["counts"]["total"], 2, "web and third: {body}");
    assert!(missed.id.is_some());
    drop(stream);

    // An id this agent never gave (another replica's, an old one): a snapshot.
    let foreign = [auth[0], ("Last-Event-ID", "0badc0de-12")];
    let mut stream = EventStream::open(&addr, "/api/v1/stream?namespace=tether", &foreign);
    let e = stream.next(Duration::from_secs(5)).expect("an event");
    assert_eq!(e.event, "snapshot");
    assert_eq!(e.json()["items"].as_array().unwrap().len(), 2, "{}", e.data);
    drop(stream);

    // One app: its details on every change.
    let mut one = EventStream::open(&addr, "/api/v1/stream?app=tether/web", &auth);
    let e = one.next(Duration::from_secs(5)).expect("the app");
    assert_eq!(e.event, "app", "{e:?}");
    assert_eq!(e.json()["application"]["metadata"]["name"], "web");
    let tree = e.json()["tree"]["nodes"].clone();
    assert!(
        tree.as_array()
            .is_some_and(|n| n.iter().any(|n| n["kind"] == "ReplicaSet")),
        "the resource tree, with what the Deployment owns: {tree}"
    );
    env.kubectl_ok(&["scale", "deployment/web", "-n", "web", "--replicas=7"]);
    let e = one
        .next_named("app", Duration::from_secs(10))
        .expect("the change");
    assert!(e.data.contains("\"live\":\"7\""), "{}", e.data);

    // Refusals are the API's JSON errors.
    let r = http::get(&addr, "/api/v1/stream", &[]);
    assert_eq!(r.status, 401, "{r:?}");
    for bad in [
        "/api/v1/stream?app=web",
        "/api/v1/stream?sync=Sometimes",
        "/api/v1/stream?app=a/b&sync=Synced",
    ] {
        let r = http::get(&addr, bad, &auth);
        assert_eq!(r.status, 400, "{bad}: {r:?}");
        assert_eq!(r.json()["code"], "BadRequest");
    }
}

/// Issue 11, proof 2 (last part): 500 idle streams do not raise the agent's
/// idle CPU noticeably. The agent's own CPU time (from /proc) is compared over
/// an idle window without and with them; they cost only a keepalive comment
/// every 15 s each. The bound (0.5 s of CPU over a 16 s window, 3% of a core,
/// above the window without them) is wide enough for this noisy shared
/// machine and far below what per-stream polling or busy work would cost.
/// BENCHMARKS.md has the measured figures.
#[test]
fn five_hundred_idle_streams_cost_the_agent_no_noticeable_cpu() {
    let mut env = Env::start();
    let addr = agent_with_api(&mut env, &["--poll-interval", "3600"]);
    let token = make_token(&env, &addr, "idle", "readonly");
    let repo = Repo::init(&env.path("repo"));
    repo.write("a/cm.yaml", &configmap("a", "1"));
    repo.commit("one app");
    env.apply_yaml(&app_yaml("a", &repo.url(), "a", "a", AUTO_PRUNE, ""));
    env.wait_synced_healthy("a");
    let pid = env.agent_pid();
    // Longer than the keepalive interval, so every stream sends one in it.
    let window = Duration::from_secs(16);

    std::thread::sleep(Duration::from_secs(1));
    let without = cpu_over(pid, window);

    let bearer = format!("Bearer {token}");
    let mut streams: Vec<EventStream> = (0..500)
        .map(|_| {
            let mut s = EventStream::open(&addr, "/api/v1/stream", &[("Authorization", &bearer)]);
            let e = s.next(Duration::from_secs(10)).expect("snapshot");
            assert_eq!(e.event, "snapshot");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let with = cpu_over(pid, window);
    eprintln!("agent CPU over {window:?}: {without:.3} s without streams, {with:.3} s with 500");
    let mut kept_alive = 0;
    for s in streams.iter_mut() {
        s.next(Duration::from_millis(1));
        kept_alive += usize::from(s.comments > 0);
    }
    assert_eq!(
        kept_alive, 500,
        "every stream sent a keepalive in the window"
    );
    assert!(
        with <= without + 0.5,
        "500 idle streams raised the agent's CPU from {without:.3} s to {with:.3} s over {window:?}"
    );

    // They are all alive: a change reaches every one.
    env.kubectl_ok(&[
        "label",
        "applications.tether.dev",
        "a",
        "-n",
        "tether",
        "touched=yes",
    ]);
    for (i, s) in streams.iter_mut().enumerate() {
        let e = s
            .next_named("changes", Duration::from_secs(10))
            .unwrap_or_else(|| panic!("stream {i} got no change"));
        assert!(e.data.contains("\"touched\":\"yes\""), "{}", e.data);
    }
}

/// The agent's user + system CPU seconds over `window`.
fn cpu_over(pid: u32, window: Duration) -> f64 {
    let before = cpu_seconds(pid);
    std::thread::sleep(window);
    cpu_seconds(pid) - before
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The browser session: a token posted as JSON sets an HttpOnly,
/// SameSite=Strict cookie (Secure behind an HTTPS proxy); the cookie then
/// authenticates reads and the stream; a state-changing request with only the
/// cookie is refused unless it carries JSON or the custom header; signing out
/// clears it; the login page takes the token from the fragment.
#[test]
fn the_browser_session_signs_in_and_out_with_a_cookie() {
    let mut env = Env::start();
    let addr = agent_with_api(&mut env, &["--poll-interval", "3600"]);
    let token = make_token(&env, &addr, "browser", "admin");

    let body = serde_json::json!({"token": token}).to_string();
    let json = [("Content-Type", "application/json")];
    let r = http::request(&addr, "POST", "/api/v1/session", &json, Some(&body));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["username"], "browser");
    assert_eq!(r.json()["role"], "admin");
    let cookie = r.header("set-cookie").expect("a cookie").to_string();
    let attrs: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert_eq!(attrs[0], format!("tether_session={token}"));
    for a in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attrs.contains(&a), "{a} in {cookie}");
    }
    assert!(!attrs.contains(&"Secure"), "plain HTTP: {cookie}");
    assert_eq!(r.header("cache-control"), Some("no-store"));

    // Behind a proxy that terminates HTTPS.
    let proxied = [json[0], ("X-Forwarded-Proto", "https")];
    let r = http::request(&addr, "POST", "/api/v1/session", &proxied, Some(&body));
    assert!(
        r.header("set-cookie").unwrap().contains("; Secure"),
        "{r:?}"
    );

    // Wrong token, wrong content type, malformed body.
    let bad = serde_json::json!({"token": "tether_nope"}).to_string();
    let r = http::request(&addr, "POST", "/api/v1/session", &json, Some(&bad));
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.header("set-cookie").is_none());
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let r = http::request(
        &addr,
        "POST",
        "/api/v1/session",
        &form,
        Some(&format!("token={token}")),
    );
    assert_eq!(r.status, 415, "{r:?}");
    assert_eq!(r.json()["code"], "UnsupportedMediaType");
    let r = http::request(&addr, "POST", "/api/v1/session", &json, Some("{\"token\":"));
    assert_eq!(r.status, 400, "{r:?}");

    // The cookie authenticates reads and the stream.
    let with_cookie = format!("tether_session={token}");
    let c = [("Cookie", with_cookie.as_str())];
    let r = http::get(&addr, "/api/v1/session", &c);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["actor"], "token:browser");
    let mut stream = EventStream::open(&addr, "/api/v1/stream", &c);
    assert_eq!(
        stream.next(Duration::from_secs(5)).unwrap().event,
        "snapshot"
    );
    drop(stream);
    let home = http::get(&addr, "/", &c);
    assert_eq!(home.status, 200, "{home:?}");
    assert!(home.body.contains("data-page=\"apps\""), "{home:?}");

    // A state-changing request with only the cookie, as a cross-site form
    // would send it, is refused; with the header it goes through.
    let r = http::request(&addr, "DELETE", "/api/v1/session", &c, None);
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.header("set-cookie").is_none());
    let sync = "/api/v1/applications/tether/nothing/sync";
    let r = http::request(&addr, "POST", sync, &[c[0], form[0]], Some("dryRun=true"));
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.json()["code"], "Forbidden");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("Content-Type: application/json")
    );
    // A GET that acts (`?refresh=`) is held to the same rule: a link on another
    // page must not refresh with the user's cookie.
    let refresh = "/api/v1/applications/tether/nothing?refresh=normal";
    let r = http::request(&addr, "GET", refresh, &c, None);
    assert_eq!(r.status, 403, "a cookie-only GET that writes: {r:?}");
    let r = http::request(
        &addr,
        "GET",
        refresh,
        &[c[0], ("X-Tether-Request", "1")],
        None,
    );
    assert_eq!(
        r.status, 404,
        "with the header it acts (on an app that is not there): {r:?}"
    );
    let r = http::request(&addr, "POST", sync, &[c[0], json[0]], Some("{}"));
    assert_eq!(
        r.status, 404,
        "with JSON the cookie acts (on an app that is not there): {r:?}"
    );
    let r = http::request(
        &addr,
        "POST",
        sync,
        &[c[0], ("X-Tether-Request", "1")],
        None,
    );
    assert_ne!(r.status, 403, "with the header the cookie acts: {r:?}");

    // Sign out clears the cookie.
    let r = http::request(
        &addr,
        "DELETE",
        "/api/v1/session",
        &[c[0], ("X-Tether-Request", "1")],
        None,
    );
    assert_eq!(r.status, 204, "{r:?}");
    let cleared = r.header("set-cookie").expect("a clearing cookie");
    assert!(
        cleared.starts_with("tether_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );

    // Without a token: 401, and the dashboard's pages send the browser to sign
    // in, to come back where it was.
    assert_eq!(http::get(&addr, "/api/v1/session", &[]).status, 401);
    let home = http::get(&addr, "/audit?actor=token%3Aci", &[]);
    assert_eq!(home.status, 303, "{home:?}");
    assert_eq!(
        home.header("location"),
        Some("/login?next=%2Faudit%3Factor%3Dtoken%253Aci")
    );

    // The login page and its script: our own, from our origin, reading the fragment.
    let page = http::get(&addr, "/login", &[]);
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert!(
        page.body
            .contains("<script type=\"module\" src=\"/assets/login.js?v="),
        "{}",
        page.body
    );
    let js = http::get(&addr, "/assets/login.js", &[]);
    assert_eq!(js.status, 200);
    assert!(
        js.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.body.contains("location.hash") && js.body.contains("/api/v1/session"));
}
