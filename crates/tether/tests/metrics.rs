//! `/metrics` end to end (issue 11, proof 5): the real agent serves it on `--listen` and
//! on `--metrics-listen`; `promtool check metrics` accepts the text; a real Prometheus
//! (Debian's `prometheus` package, installed by scripts/install-tools.sh) scrapes the
//! agent, and a PromQL query over its HTTP API returns the app's sync status.

mod common;
#[path = "support/http_client.rs"]
mod http_client;

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tool(name: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    assert!(
        !found.is_empty(),
        "{name} is not installed: run scripts/install-tools.sh (Debian's prometheus package)"
    );
    found
}

/// Percent-encode a PromQL query for a URL.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn prometheus_scrapes_the_agent_and_promql_answers_the_sync_status() {
    let promtool = tool("promtool");
    let prometheus = tool("prometheus");
    let mut env = Env::start();
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("app/web.yaml", &deployment("web", "nginx:1.27", 2));
    repo.write("app/cm.yaml", &configmap("settings", "1"));
    repo.commit("web");
    let api = http_client::free_addr();
    let only_metrics = http_client::free_addr();
    env.agent(&[
        "--listen",
        &api.to_string(),
        "--metrics-listen",
        &only_metrics.to_string(),
    ]);
    env.apply_yaml(&app_yaml("web", &repo.url(), "app", "web", AUTO_PRUNE, ""));
    env.wait_synced_healthy("web");

    // The families, with the app's status, on both listeners.
    let scraped = eventually(
        "tether_app_info says Synced",
        Duration::from_secs(10),
        || {
            let r = http_client::get(api, "/metrics");
            assert_eq!(r.status, 200);
            r.body
                .contains(r#"tether_app_info{namespace="tether",name="web","#)
                .then_some(r)
        },
    );
    assert!(
        scraped
            .header("content-type")
            .unwrap_or("")
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        scraped.headers
    );
    // Prometheus asks for OpenMetrics and gets it.
    let om = http_client::request(
        api,
        "GET",
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
        b"",
    );
    assert!(
        om.header("content-type")
            .unwrap_or("")
            .starts_with("application/openmetrics-text"),
        "{:?}",
        om.headers
    );
    assert!(
        om.body.ends_with("# EOF\n") && om.body.contains("# TYPE tether_sync counter"),
        "{}",
        om.body
    );
    let text = scraped.body;
    let info = text
        .lines()
        .find(|l| l.starts_with("tether_app_info{"))
        .unwrap();
    assert!(
        info.contains(r#"sync="Synced""#)
            && info.contains(r#"health="Healthy""#)
            && info.contains(r#"path="app""#),
        "{info}"
    );
    for family in [
        r#"tether_sync_total{namespace="tether",name="web",phase="Succeeded"}"#,
        r#"tether_reconcile_duration_seconds_bucket{le="#,
        r#"tether_reconcile_duration_seconds_count{stage="apply"}"#,
        "tether_git_requests_total{",
        "tether_render_cache_misses_total ",
        "tether_render_cache_hits_total ",
        "tether_live_cache_objects ",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(text.contains(family), "{family} missing from\n{text}");
    }
    // No commit ids in any label.
    let commit = repo.git(&["rev-parse", "HEAD"]);
    assert!(
        !text.contains(&commit[..12]),
        "a commit id reached a label:\n{text}"
    );
    let objects: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("tether_live_cache_objects "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        objects >= 2.0,
        "the Deployment and ConfigMap are cached: {objects}"
    );
    let separate = http_client::get(only_metrics, "/metrics");
    assert_eq!(separate.status, 200);
    assert!(
        separate.body.contains("tether_app_info{"),
        "{}",
        separate.body
    );
    assert_eq!(
        http_client::get(only_metrics, "/api/webhook/github").status,
        404,
        "only /metrics there"
    );

    // promtool accepts the exposition.
    let mut check = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A real Prometheus scrapes it; PromQL answers the app's sync status.
    let dir = env.dir.path().join("prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: tether\n    static_configs:\n      - targets: ['{only_metrics}']\n"
        ),
    )
    .unwrap();
    let web = http_client::free_addr();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let _prom = Killed(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts"),
    );
    let query = encode(r#"tether_app_info{namespace="tether",name="web"}"#);
    let result = eventually(
        "Prometheus has scraped the agent",
        Duration::from_secs(60),
        || {
            let r = std::panic::catch_unwind(|| {
                http_client::get(web, &format!("/api/v1/query?query={query}"))
            })
            .ok()?;
            if r.status != 200 {
                return None;
            }
            let v: Value = serde_json::from_str(&r.body).ok()?;
            let first = v["data"]["result"].as_array()?.first()?.clone();
            Some(first)
        },
    );
    assert_eq!(result["metric"]["sync"], "Synced", "{result}");
    assert_eq!(result["metric"]["health"], "Healthy", "{result}");
    assert_eq!(result["metric"]["job"], "tether", "{result}");
    assert_eq!(result["value"][1], "1", "{result}");

    // A counter through PromQL too: the sync that brought the app up.
    let query = encode(r#"sum(tether_sync_total{name="web",phase="Succeeded"})"#);
    let syncs = http_client::get(web, &format!("/api/v1/query?query={query}")).json();
    let n: f64 = syncs["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap_or("0")
        .parse()
        .unwrap();
    assert!(n >= 1.0, "{syncs}");
}
