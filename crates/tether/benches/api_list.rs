//! `GET /api/v1/applications` with filters at 10,000 apps, over real HTTP,
//! against listing the same 10,000 Application objects from the Kubernetes
//! API (what a UI that filters in the browser, like Argo CD's, pays).
//!
//! Starts `tether sandbox` and `tether agent --listen` (watching another
//! namespace, so the 10,000 apps are served, not reconciled), creates the apps
//! with varied labels and statuses, then measures p50/p95 latency and
//! requests per second of filtered, sorted, paged lists (two client threads
//! with keep-alive connections), and the size of one page.
//!
//! Run: `cargo bench -p tether --bench api_list` (`TETHER_BENCH_APPS` sets the
//! number of apps, default 10000).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tether");

/// One keep-alive HTTP/1.1 connection; answers are read by Content-Length.
struct Conn {
    stream: BufReader<TcpStream>,
    host: String,
    token: String,
}

impl Conn {
    fn open(addr: &str, token: &str) -> Conn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).ok();
        Conn {
            stream: BufReader::new(s),
            host: addr.to_string(),
            token: token.to_string(),
        }
    }

    fn get(&mut self, path: &str) -> (u16, Vec<u8>) {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\r\n",
            self.host, self.token
        );
        self.stream
            .get_mut()
            .write_all(req.as_bytes())
            .expect("write");
        let mut status = 0;
        let mut len = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).expect("read");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(rest) = l.strip_prefix("HTTP/1.1 ") {
                status = rest[..3].parse().unwrap_or(0);
            } else if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        self.stream.read_exact(&mut body).expect("body");
        (status, body)
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

const QUERIES: &[&str] = &[
    "/api/v1/applications?namespace=fleet&limit=100",
    "/api/v1/applications?sync=OutOfSync&health=Degraded,Missing&limit=100",
    "/api/v1/applications?label=env%3Dprod,team%20in%20(t0,t1)&sort=-lastSync&limit=100",
    "/api/v1/applications?q=svc-01&sort=-health&limit=100",
    "/api/v1/applications?drift=true&sort=name&limit=100",
];

fn main() {
    let n: usize = std::env::var("TETHER_BENCH_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tmp");
    let (_sandbox, kc) = support::sandbox(BIN, dir.path(), &[]);
    let (_agent, addr) = support::api_agent(BIN, &kc, &dir.path().join("agent-state"), &[]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async { support::create_fleet(&support::client(&kc).await, n).await });
    let made = Command::new(BIN)
        .args([
            "token",
            "create",
            "bench",
            "--role",
            "readonly",
            "--kubeconfig",
        ])
        .arg(&kc)
        .output()
        .expect("token");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let token = String::from_utf8_lossy(&made.stdout).trim().to_string();

    // Wait until the API serves every app.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ok = TcpStream::connect(&addr).is_ok() && {
            let mut c = Conn::open(&addr, &token);
            let (s, body) = c.get("/api/v1/applications?namespace=fleet&limit=1");
            s == 200
                && serde_json::from_slice::<serde_json::Value>(&body).unwrap()["metadata"]["total"]
                    == n
        };
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "the API did not serve {n} apps");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Page size of the plain first page.
    let mut c = Conn::open(&addr, &token);
    let (_, page) = c.get(QUERIES[0]);
    // Warm up.
    for q in QUERIES {
        c.get(q);
    }

    let per_thread = 200;
    let started = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let addr = addr.clone();
            let token = token.clone();
            std::thread::spawn(move || {
                let mut c = Conn::open(&addr, &token);
                let mut times = Vec::new();
                for i in 0..per_thread {
                    let q = QUERIES[(i + t) % QUERIES.len()];
                    let t0 = Instant::now();
                    let (s, _) = c.get(q);
                    times.push(t0.elapsed());
                    assert_eq!(s, 200, "{q}");
                }
                times
            })
        })
        .collect();
    let mut times: Vec<Duration> = threads
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let wall = started.elapsed();
    times.sort();

    // The baseline: the same 10,000 objects listed from the Kubernetes API.
    let mut raw = Vec::new();
    let mut raw_size = 0;
    for _ in 0..5 {
        let t0 = Instant::now();
        let out = Command::new("kubectl")
            .args(["--kubeconfig"])
            .arg(&kc)
            .args([
                "get",
                "--raw",
                "/apis/tether.dev/v1alpha1/namespaces/fleet/applications",
            ])
            .output()
            .expect("kubectl");
        raw.push(t0.elapsed());
        raw_size = out.stdout.len();
    }
    raw.sort();

    println!(
        "GET /api/v1/applications with filters, {n} apps, {} requests on 2 client threads:",
        times.len()
    );
    println!(
        "  p50 {}  p95 {}  max {}",
        ms(pct(&times, 0.5)),
        ms(pct(&times, 0.95)),
        ms(*times.last().unwrap())
    );
    println!(
        "  {:.0} requests/s",
        times.len() as f64 / wall.as_secs_f64()
    );
    println!("  one page (limit=100): {} bytes", page.len());
    println!(
        "baseline: kubectl get --raw of the {n} Applications: p50 {} ({} bytes); ratio baseline p50 / API p50: {:.0}x",
        ms(pct(&raw, 0.5)),
        raw_size,
        pct(&raw, 0.5).as_secs_f64() / pct(&times, 0.5).as_secs_f64()
    );
}
