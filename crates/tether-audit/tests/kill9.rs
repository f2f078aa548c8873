//! kill -9 safety: a writer process is SIGKILLed at random moments while it
//! appends as fast as it can; after each kill the log must open, pass
//! SQLite's integrity check, and hold every record the writer saw committed,
//! with the one sync it was in the middle of (if any) marked interrupted.
//!
//! The writer is this test binary run again with only the ignored
//! `kill9_writer` test selected and an environment variable naming the
//! directory, so no extra binary has to be built.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::json;
use tether_audit::{AuditLog, EventKind, INTERRUPTED, NewRecord, Query, SUCCEEDED};

const DIR_VAR: &str = "TETHER_AUDIT_KILL9_DIR";
const ROUNDS: usize = 5;

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
        object: (kind == EventKind::ObjectChange).then(|| "apps/Deployment demo/web".into()),
        outcome: outcome.into(),
        message: String::new(),
        details: Some(json!({"fields": [{"path": "spec.replicas", "old": 3, "new": 2}]})),
    }
}

/// Object changes per sync, appended together with `append_many`.
const BATCH: usize = 2;

/// The writer: a sync as the engine will record one (begin, a batch of
/// object changes, finish), forever, printing each step only after the call that
/// committed it returned.
#[test]
#[ignore = "the child process of kill9_leaves_a_sound_log; run by it"]
fn kill9_writer() {
    let Some(dir) = std::env::var_os(DIR_VAR) else {
        return;
    };
    let (log, _) = AuditLog::open(dir.as_ref()).expect("writer opens the log");
    let mut out = std::io::stdout().lock();
    loop {
        let sync = log.append(&record(EventKind::Sync, "in_progress")).unwrap();
        writeln!(out, "B {sync}").unwrap();
        out.flush().unwrap();
        let changes = log
            .append_many(&vec![record(EventKind::ObjectChange, SUCCEEDED); BATCH])
            .unwrap();
        for id in changes {
            writeln!(out, "A {id}").unwrap();
        }
        out.flush().unwrap();
        log.finish(sync, SUCCEEDED, "synced", None).unwrap();
        writeln!(out, "F {sync}").unwrap();
        out.flush().unwrap();
    }
}

fn random_below(n: u64) -> u64 {
    // std's RandomState is seeded randomly per process: enough to vary the
    // kill moment without a rand dependency.
    let mut h = RandomState::new().build_hasher();
    h.write_u64(n);
    h.finish() % n
}

#[test]
fn kill9_leaves_a_sound_log() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    // Ids the writers reported as committed, across all rounds.
    let mut appended: BTreeSet<i64> = BTreeSet::new();
    let mut finished: BTreeSet<i64> = BTreeSet::new();
    let mut interrupted_total = 0;
    let mut rates = Vec::new();

    for round in 0..ROUNDS {
        let stderr_path = dir.path().join(format!("writer-{round}.stderr"));
        let mut child = Command::new(&exe)
            .args([
                "kill9_writer",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });

        // Let it start writing, then kill it at a random moment.
        let mut lines = Vec::new();
        let started = loop {
            match rx.recv_timeout(Duration::from_secs(120)) {
                Ok(line) => {
                    let first = line.starts_with("B ");
                    lines.push(line);
                    if first {
                        break Instant::now();
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "round {round}: writer never wrote ({e}); stderr:\n{}",
                        std::fs::read_to_string(&stderr_path).unwrap_or_default()
                    );
                }
            }
        };
        thread::sleep(Duration::from_millis(50 + random_below(750)));
        // On Unix, Child::kill is SIGKILL: exactly kill -9.
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let ran_for = started.elapsed();
        assert_eq!(
            status.signal(),
            Some(9),
            "round {round}: the writer must die by SIGKILL, not exit ({status}); stderr:\n{}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        reader.join().unwrap();
        lines.extend(rx.try_iter());

        let mut round_appends = 0;
        let mut began_unfinished: Vec<i64> = Vec::new();
        for line in &lines {
            let Some((tag, id)) = line.split_once(' ') else {
                continue;
            };
            let Ok(id) = id.parse::<i64>() else { continue };
            match tag {
                "B" => {
                    appended.insert(id);
                    began_unfinished.push(id);
                    round_appends += 1;
                }
                "A" => {
                    appended.insert(id);
                    round_appends += 1;
                }
                "F" => {
                    finished.insert(id);
                    began_unfinished.retain(|b| *b != id);
                }
                _ => {}
            }
        }
        rates.push(round_appends as f64 / ran_for.as_secs_f64());

        // Restart: the log opens, is sound, and has lost nothing committed.
        let (log, recovered) = AuditLog::open(dir.path()).unwrap();
        assert_eq!(log.integrity_check().unwrap(), Vec::<String>::new());
        let records = log.query(&Query::default()).unwrap();
        let by_id: BTreeMap<i64, _> = records.iter().map(|r| (r.id, r)).collect();
        let max_id = *by_id
            .keys()
            .last()
            .expect("the log is empty: every committed record was lost");
        assert_eq!(
            by_id.keys().copied().collect::<Vec<_>>(),
            (1..=max_id).collect::<Vec<_>>(),
            "round {round}: ids must be contiguous"
        );
        for id in &appended {
            assert!(
                by_id.contains_key(id),
                "round {round}: committed record {id} lost"
            );
        }
        for id in &finished {
            assert_eq!(
                by_id[id].outcome, SUCCEEDED,
                "round {round}: finish of {id} lost"
            );
        }
        // Unreported: at most what one call committed before its ids were
        // printed, and a batch of object changes is there whole or not at all.
        let max_reported = *appended.last().unwrap();
        let unreported: Vec<_> = records.iter().filter(|r| r.id > max_reported).collect();
        let changes = unreported
            .iter()
            .filter(|r| r.kind == EventKind::ObjectChange)
            .count();
        assert!(
            (unreported.len() == 1 && changes == 0)
                || unreported.len() == changes && [0, BATCH].contains(&changes),
            "round {round}: unreported records {:?}",
            unreported
                .iter()
                .map(|r| (r.id, r.kind))
                .collect::<Vec<_>>()
        );
        // Only the sync in flight at the kill can have been interrupted.
        assert!(recovered <= 1, "round {round}: recovered {recovered}");
        assert!(began_unfinished.len() <= 1);
        let interrupted: Vec<i64> = records
            .iter()
            .filter(|r| r.outcome == INTERRUPTED)
            .map(|r| r.id)
            .collect();
        interrupted_total += recovered;
        assert_eq!(interrupted.len(), interrupted_total, "round {round}");
        if recovered == 1 {
            let last = *interrupted.last().unwrap();
            let last_sync = records
                .iter()
                .filter(|r| r.kind == EventKind::Sync)
                .map(|r| r.id)
                .max()
                .unwrap();
            assert_eq!(
                last, last_sync,
                "round {round}: only the last sync may be interrupted"
            );
            assert!(
                !finished.contains(&last),
                "round {round}: a finished sync was interrupted"
            );
        }
        assert!(records.iter().all(|r| r.outcome != "in_progress"));
        // Every sync the writer began is either finished or interrupted.
        for id in &began_unfinished {
            let outcome = &by_id[id].outcome;
            assert!(
                outcome == SUCCEEDED || outcome == INTERRUPTED,
                "round {round}: sync {id} is {outcome}"
            );
        }
        drop(log);
    }
    eprintln!(
        "kill9: {ROUNDS} rounds, {} committed records checked, {interrupted_total} interrupted; \
         writer appends/s per round: {:?}",
        appended.len(),
        rates.iter().map(|r| r.round()).collect::<Vec<_>>()
    );
    assert!(appended.len() >= ROUNDS, "the writers barely wrote");
}
