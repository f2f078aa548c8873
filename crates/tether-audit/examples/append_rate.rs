//! How fast the audit log writes and reads on this machine, with the
//! durability settings it ships with. Rerun with
//! `cargo run --release -p tether-audit --example append_rate`.

use std::time::Instant;

use jiff::Timestamp;
use tether_audit::{AuditLog, EventKind, NewRecord, Query, SUCCEEDED};

fn record(kind: EventKind, outcome: &str) -> NewRecord {
    NewRecord {
        time: Timestamp::now(),
        cluster: "sandbox".into(),
        app: "demo/web".into(),
        kind,
        actor: "auto".into(),
        revision: Some("0123abcd".into()),
        commit_author: Some("Alice <alice@example.com>".into()),
        commit_message: Some("bump web".into()),
        object: Some("apps/Deployment demo/web".into()),
        outcome: outcome.into(),
        message: String::new(),
        details: Some(
            serde_json::json!({"fields": [{"path": "spec.replicas", "old": 3, "new": 2}]}),
        ),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (log, _) = AuditLog::open(dir.path())?;

    let n = 500;
    let start = Instant::now();
    for _ in 0..n {
        log.append(&record(EventKind::Drift, "detected"))?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "append, one commit each:        {:>8.0} records/s",
        n as f64 / secs
    );

    let syncs = 200;
    let changes = vec![record(EventKind::ObjectChange, SUCCEEDED); 10];
    let start = Instant::now();
    for _ in 0..syncs {
        let id = log.append(&record(EventKind::Sync, "in_progress"))?;
        log.append_many(&changes)?;
        log.finish(id, SUCCEEDED, "synced", None)?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sync = begin + 10 changes + finish: {:>8.0} syncs/s ({:.0} records/s)",
        syncs as f64 / secs,
        (syncs * 11) as f64 / secs
    );

    let start = Instant::now();
    let all = log.query(&Query::default())?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "query all {} records:          {:>8.1} ms",
        all.len(),
        secs * 1000.0
    );
    let start = Instant::now();
    let some = log.query(&Query {
        app: Some("web".into()),
        kinds: vec![EventKind::Sync],
        limit: Some(50),
        ..Query::default()
    })?;
    println!(
        "query newest {} syncs of web:    {:>8.1} ms",
        some.len(),
        start.elapsed().as_secs_f64() * 1000.0
    );

    // The API's audit log across apps (`GET /api/v1/audit`): pages of 500,
    // newest first, over 100,000 records of 100 apps.
    let mut bulk = Vec::with_capacity(1000);
    for i in 0..100_000u32 {
        let mut r = record(EventKind::ObjectChange, SUCCEEDED);
        r.app = format!("team-{}/app-{}", i % 10, i % 100);
        r.object = Some(format!("apps/Deployment prod/web-{}", i % 50));
        bulk.push(r);
        if bulk.len() == 1000 {
            log.append_many(&bulk)?;
            bulk.clear();
        }
    }
    let page = |q: Query| -> Result<(usize, f64), tether_audit::AuditError> {
        let start = Instant::now();
        let got = log.query(&q)?;
        Ok((got.len(), start.elapsed().as_secs_f64() * 1000.0))
    };
    let newest = Query {
        newest_first: true,
        limit: Some(501),
        ..Query::default()
    };
    let (n, ms) = page(newest.clone())?;
    println!("api page 1 ({n} of ~103k, newest first): {ms:>8.1} ms");
    let middle = log.query(&Query {
        newest_first: true,
        limit: Some(50_000),
        ..Query::default()
    })?;
    let cursor = middle.last().map(|r| (r.time, r.id));
    let (n, ms) = page(Query {
        before: cursor,
        ..newest.clone()
    })?;
    println!("api page 101 ({n}, by its cursor):     {ms:>8.1} ms");
    let (n, ms) = page(Query {
        apps: vec!["team-3/app-13".into(), "team-4/app-14".into()],
        object: Some("deployment web-13".into()),
        ..newest
    })?;
    println!("api page, 2 apps and an object ({n}):  {ms:>8.1} ms");
    Ok(())
}
