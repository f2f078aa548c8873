//! The audit log through its public API: appending, querying, finishing,
//! crash recovery, reopening, retention.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use tether_audit::{
    AuditError, AuditLog, EventKind, FILE_NAME, IN_PROGRESS, INTERRUPTED, NewRecord, Query, Record,
    Retention, SUCCEEDED,
};

fn t0() -> Timestamp {
    "2026-11-17T10:00:00Z".parse().unwrap()
}

fn at(minutes: i64) -> Timestamp {
    t0() + SignedDuration::from_mins(minutes)
}

fn rec(
    time: Timestamp,
    app: &str,
    kind: EventKind,
    actor: &str,
    object: Option<&str>,
    outcome: &str,
) -> NewRecord {
    NewRecord {
        time,
        cluster: "prod-eu".into(),
        app: app.into(),
        kind,
        actor: actor.into(),
        revision: Some("0123abcd".into()),
        commit_author: Some("Alice <alice@example.com>".into()),
        commit_message: Some("bump web to v2".into()),
        object: object.map(str::to_owned),
        outcome: outcome.into(),
        message: format!("{kind} {app}"),
        details: None,
    }
}

/// Ids of the records a query returns, in the order returned.
fn ids(log: &AuditLog, q: Query) -> Vec<i64> {
    log.query(&q).unwrap().iter().map(|r| r.id).collect()
}

/// Seven records appended out of time order; ids 1..=7 in append order.
fn fixture(log: &AuditLog) {
    let deploy_web = Some("apps/Deployment demo/web");
    let rows = [
        rec(at(2), "demo/web", EventKind::Sync, "auto", None, SUCCEEDED), // 1
        rec(
            at(1),
            "demo/web",
            EventKind::Drift,
            "kubectl-scale",
            deploy_web,
            "detected",
        ), // 2
        rec(
            at(3),
            "demo/web",
            EventKind::SelfHeal,
            "self-heal",
            deploy_web,
            SUCCEEDED,
        ), // 3
        rec(
            at(1),
            "demo/api",
            EventKind::ObjectChange,
            "user:alice",
            Some("apps/Deployment demo/api"),
            SUCCEEDED,
        ), // 4
        rec(
            at(4),
            "prod/web",
            EventKind::Drift,
            "kubectl-edit",
            Some("/Service prod/web"),
            "detected",
        ), // 5
        rec(
            at(1),
            "demo/web",
            EventKind::ObjectChange,
            "auto",
            deploy_web,
            SUCCEEDED,
        ), // 6
        rec(
            at(5),
            "demo/webapp",
            EventKind::Sync,
            "webhook",
            None,
            "failed",
        ), // 7
    ];
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(log.append(row).unwrap(), i as i64 + 1);
    }
}

fn open_fixture() -> (tempfile::TempDir, AuditLog) {
    let dir = tempfile::tempdir().unwrap();
    let (log, recovered) = AuditLog::open(dir.path()).unwrap();
    assert_eq!(recovered, 0);
    fixture(&log);
    (dir, log)
}

#[test]
fn query_orders_by_time_then_id() {
    let (_dir, log) = open_fixture();
    assert_eq!(ids(&log, Query::default()), [2, 4, 6, 1, 3, 5, 7]);
}

#[test]
fn query_by_app_exact_or_bare_name() {
    let (_dir, log) = open_fixture();
    let app = |a: &str| Query {
        app: Some(a.into()),
        ..Query::default()
    };
    assert_eq!(ids(&log, app("demo/web")), [2, 6, 1, 3]);
    // A bare name matches that name in any namespace, and never a longer name.
    assert_eq!(ids(&log, app("web")), [2, 6, 1, 3, 5]);
    assert_eq!(ids(&log, app("webapp")), [7]);
    assert_eq!(ids(&log, app("eb")), Vec::<i64>::new());
    assert_eq!(ids(&log, app("other/web")), Vec::<i64>::new());
}

#[test]
fn query_by_object_terms() {
    let (_dir, log) = open_fixture();
    let object = |o: &str| Query {
        object: Some(o.into()),
        ..Query::default()
    };
    // Every term must appear, in any case: "deployment web" finds
    // "apps/Deployment demo/web" and not the api Deployment or the web Service.
    assert_eq!(ids(&log, object("deployment web")), [2, 6, 3]);
    assert_eq!(ids(&log, object("Deployment")), [2, 4, 6, 3]);
    assert_eq!(ids(&log, object("service web")), [5]);
    assert_eq!(ids(&log, object("statefulset")), Vec::<i64>::new());
}

#[test]
fn query_by_actor_exact_or_prefix() {
    let (_dir, log) = open_fixture();
    let actor = |a: &str| Query {
        actor: Some(a.into()),
        ..Query::default()
    };
    assert_eq!(ids(&log, actor("auto")), [6, 1]);
    assert_eq!(ids(&log, actor("kubectl")), Vec::<i64>::new());
    assert_eq!(ids(&log, actor("kubectl*")), [2, 5]);
    assert_eq!(ids(&log, actor("user:alice")), [4]);
}

#[test]
fn query_by_kinds() {
    let (_dir, log) = open_fixture();
    let q = Query {
        kinds: vec![EventKind::Drift, EventKind::SelfHeal],
        ..Query::default()
    };
    assert_eq!(ids(&log, q), [2, 3, 5]);
    let q = Query {
        kinds: vec![EventKind::Rollback],
        ..Query::default()
    };
    assert_eq!(ids(&log, q), Vec::<i64>::new());
}

#[test]
fn query_by_time_range_is_half_open() {
    let (_dir, log) = open_fixture();
    let q = Query {
        since: Some(at(2)),
        until: Some(at(4)),
        ..Query::default()
    };
    assert_eq!(ids(&log, q), [1, 3]);
    let q = Query {
        since: Some(at(4)),
        ..Query::default()
    };
    assert_eq!(ids(&log, q), [5, 7]);
    let q = Query {
        until: Some(at(2)),
        ..Query::default()
    };
    assert_eq!(ids(&log, q), [2, 4, 6]);
}

#[test]
fn query_limit_keeps_the_newest_in_ascending_order() {
    let (_dir, log) = open_fixture();
    let q = Query {
        limit: Some(2),
        ..Query::default()
    };
    assert_eq!(ids(&log, q), [5, 7]);
    let q = Query {
        app: Some("web".into()),
        limit: Some(3),
        ..Query::default()
    };
    assert_eq!(ids(&log, q), [1, 3, 5]);
    let q = Query {
        limit: Some(0),
        ..Query::default()
    };
    assert_eq!(ids(&log, q), Vec::<i64>::new());
}

#[test]
fn query_combines_filters() {
    let (_dir, log) = open_fixture();
    let q = Query {
        app: Some("web".into()),
        actor: Some("kubectl*".into()),
        kinds: vec![EventKind::Drift],
        since: Some(at(2)),
        ..Query::default()
    };
    assert_eq!(ids(&log, q), [5]);
}

#[test]
fn records_keep_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = AuditLog::open(dir.path()).unwrap();
    let mut new = rec(
        at(0),
        "demo/web",
        EventKind::Drift,
        "kubectl-scale",
        Some("apps/Deployment demo/web"),
        "detected",
    );
    new.details = Some(json!({
        "fields": [{"path": "spec.replicas", "old": 3, "new": 2}],
        "manager": "kubectl-scale",
    }));
    new.commit_message = Some("multi\nline ‘quoted’ message".into());
    let id = log.append(&new).unwrap();
    let got = log.query(&Query::default()).unwrap();
    assert_eq!(
        got,
        [Record {
            id,
            time: new.time,
            finished: None,
            cluster: new.cluster,
            app: new.app,
            kind: new.kind,
            actor: new.actor,
            revision: new.revision,
            commit_author: new.commit_author,
            commit_message: new.commit_message,
            object: new.object,
            outcome: new.outcome,
            message: new.message,
            details: new.details,
        }]
    );
    // The JSON the CLI prints: kinds in kebab-case, times in RFC 3339.
    let printed = serde_json::to_value(&got[0]).unwrap();
    assert_eq!(printed["kind"], "drift");
    assert_eq!(printed["time"], "2026-11-17T10:00:00Z");
    assert_eq!(printed["details"]["fields"][0]["new"], 2);
}

#[test]
fn finish_closes_an_in_progress_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = AuditLog::open(dir.path()).unwrap();
    let mut sync = rec(
        at(0),
        "demo/web",
        EventKind::Sync,
        "auto",
        None,
        IN_PROGRESS,
    );
    sync.details = Some(json!({"planned": 3}));
    let id = log.append(&sync).unwrap();
    let other = log.append(&sync).unwrap();

    let before = Timestamp::now();
    log.finish(
        id,
        SUCCEEDED,
        "synced 3 objects",
        Some(&json!({"changed": 3})),
    )
    .unwrap();
    // None keeps what append stored.
    log.finish(other, "failed", "apply failed", None).unwrap();

    let got = log.query(&Query::default()).unwrap();
    assert_eq!(got[0].outcome, SUCCEEDED);
    assert_eq!(got[0].message, "synced 3 objects");
    assert_eq!(got[0].details, Some(json!({"changed": 3})));
    assert!(got[0].finished.unwrap() >= before);
    assert_eq!(got[1].outcome, "failed");
    assert_eq!(got[1].details, Some(json!({"planned": 3})));

    match log.finish(id, "failed", "again", None) {
        Err(AuditError::NotInProgress { id: got, outcome }) => {
            assert_eq!((got, outcome.as_str()), (id, SUCCEEDED));
        }
        other => panic!("finishing twice must fail, got {other:?}"),
    }
    assert!(matches!(
        log.finish(999, SUCCEEDED, "", None),
        Err(AuditError::NotFound(999))
    ));
    let third = log.append(&sync).unwrap();
    assert!(matches!(
        log.finish(third, IN_PROGRESS, "", None),
        Err(AuditError::InvalidOutcome(..))
    ));
    // The refused finishes changed nothing.
    assert_eq!(
        log.query(&Query::default()).unwrap()[0].message,
        "synced 3 objects"
    );
}

#[test]
fn append_many_writes_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = AuditLog::open(dir.path()).unwrap();
    let change = |object: &str| {
        rec(
            at(0),
            "demo/web",
            EventKind::ObjectChange,
            "auto",
            Some(object),
            SUCCEEDED,
        )
    };
    let ids = log
        .append_many(&[
            change("v1/Service demo/web"),
            change("apps/Deployment demo/web"),
        ])
        .unwrap();
    assert_eq!(ids, [1, 2]);
    let mut bad = change("v1/ConfigMap demo/web");
    bad.outcome = String::new();
    assert!(matches!(
        log.append_many(&[change("v1/Secret demo/web"), bad]),
        Err(AuditError::InvalidOutcome(..))
    ));
    let objects: Vec<_> = log
        .query(&Query::default())
        .unwrap()
        .into_iter()
        .map(|r| r.object.unwrap())
        .collect();
    assert_eq!(objects, ["v1/Service demo/web", "apps/Deployment demo/web"]);
    assert_eq!(log.append_many(&[]).unwrap(), Vec::<i64>::new());
}

#[test]
fn the_file_itself_refuses_to_rewrite_records() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = AuditLog::open(dir.path()).unwrap();
    let done = log
        .append(&rec(
            at(0),
            "demo/web",
            EventKind::Sync,
            "auto",
            None,
            SUCCEEDED,
        ))
        .unwrap();
    let running = log
        .append(&rec(
            at(1),
            "demo/web",
            EventKind::Sync,
            "auto",
            None,
            IN_PROGRESS,
        ))
        .unwrap();
    drop(log);

    // A writer that bypasses this crate still cannot rewrite history.
    let conn = rusqlite::Connection::open(dir.path().join(FILE_NAME)).unwrap();
    let err = conn
        .execute(
            "UPDATE records SET outcome = 'failed' WHERE id = ?1",
            [done],
        )
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    // Even an in-progress record may only have its result filled in.
    let err = conn
        .execute(
            "UPDATE records SET actor = 'someone-else' WHERE id = ?1",
            [running],
        )
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    conn.execute(
        "UPDATE records SET outcome = 'succeeded' WHERE id = ?1",
        [running],
    )
    .unwrap();
}

#[test]
fn reopen_marks_unfinished_syncs_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let (log, recovered) = AuditLog::open(dir.path()).unwrap();
    assert_eq!(recovered, 0);
    let done = log
        .append(&rec(
            at(0),
            "demo/web",
            EventKind::Sync,
            "auto",
            None,
            IN_PROGRESS,
        ))
        .unwrap();
    log.finish(done, SUCCEEDED, "ok", None).unwrap();
    let drift = log
        .append(&rec(
            at(1),
            "demo/web",
            EventKind::Drift,
            "kubectl-scale",
            None,
            "detected",
        ))
        .unwrap();
    let lost = log
        .append(&rec(
            at(2),
            "demo/web",
            EventKind::Sync,
            "user:alice",
            None,
            IN_PROGRESS,
        ))
        .unwrap();
    drop(log); // the agent dies without finishing `lost`

    let (log, recovered) = AuditLog::open(dir.path()).unwrap();
    assert_eq!(recovered, 1);
    let got = log.query(&Query::default()).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!((got[0].id, got[0].outcome.as_str()), (done, SUCCEEDED));
    assert_eq!((got[1].id, got[1].outcome.as_str()), (drift, "detected"));
    assert_eq!((got[2].id, got[2].outcome.as_str()), (lost, INTERRUPTED));
    assert!(got[2].message.contains("interrupted"), "{}", got[2].message);
    assert_eq!(got[2].actor, "user:alice");
    // Recovered once is recovered for good.
    assert!(matches!(
        log.finish(lost, SUCCEEDED, "", None),
        Err(AuditError::NotInProgress { .. })
    ));
    drop(log);
    let (_log, recovered) = AuditLog::open(dir.path()).unwrap();
    assert_eq!(recovered, 0);
}

#[test]
fn records_survive_reopen_and_ids_continue() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = AuditLog::open(dir.path()).unwrap();
    for i in 0..100 {
        let mut r = rec(
            at(i),
            "demo/web",
            EventKind::ObjectChange,
            "auto",
            None,
            SUCCEEDED,
        );
        r.details = Some(json!({"i": i}));
        log.append(&r).unwrap();
    }
    let before = log.query(&Query::default()).unwrap();
    drop(log);

    let (log, _) = AuditLog::open(dir.path()).unwrap();
    assert_eq!(log.query(&Query::default()).unwrap(), before);
    let next = log
        .append(&rec(
            at(200),
            "demo/web",
            EventKind::Sync,
            "auto",
            None,
            SUCCEEDED,
        ))
        .unwrap();
    assert_eq!(next, 101);
    assert!(log.integrity_check().unwrap().is_empty());
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(AuditLog::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(FILE_NAME)).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, 1);
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    match AuditLog::open(dir.path()) {
        Err(AuditError::SchemaTooNew { found: 99, .. }) => {}
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    assert!(matches!(
        AuditLog::open_read_only(dir.path()),
        Err(AuditError::SchemaTooNew { found: 99, .. })
    ));
}

#[test]
fn something_else_at_the_path_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(FILE_NAME),
        "not a database, just text\n".repeat(100),
    )
    .unwrap();
    let err = AuditLog::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains(FILE_NAME), "{err}");
}

#[test]
fn readers_never_recover_a_running_agents_syncs() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        AuditLog::open_read_only(dir.path()),
        Err(AuditError::Missing { .. })
    ));
    let (agent, _) = AuditLog::open(dir.path()).unwrap();
    let running = agent
        .append(&rec(
            at(0),
            "demo/web",
            EventKind::Sync,
            "auto",
            None,
            IN_PROGRESS,
        ))
        .unwrap();

    let cli = AuditLog::open_read_only(dir.path()).unwrap();
    let seen = cli.query(&Query::default()).unwrap();
    assert_eq!(seen[0].outcome, IN_PROGRESS);
    assert!(
        cli.append(&rec(
            at(1),
            "demo/web",
            EventKind::Sync,
            "auto",
            None,
            SUCCEEDED
        ))
        .is_err()
    );
    // The agent's sync is still its own to finish.
    agent.finish(running, SUCCEEDED, "done", None).unwrap();
    assert_eq!(cli.query(&Query::default()).unwrap()[0].outcome, SUCCEEDED);
    drop(cli);
    drop(agent);

    // And with no agent running (its WAL checkpointed and removed) too.
    let cli = AuditLog::open_read_only(dir.path()).unwrap();
    assert_eq!(cli.query(&Query::default()).unwrap().len(), 1);
}

const DAY: i64 = 24 * 60;

#[test]
fn retention_by_age_summarises_what_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = AuditLog::open(dir.path()).unwrap();
    // Day 0: 2 syncs (1 failed) + 1 drift for web, 1 sync for api.
    // Day 1: 1 sync for web. Day 5: 1 sync for web (kept).
    let rows = [
        rec(at(10), "demo/web", EventKind::Sync, "auto", None, SUCCEEDED),
        rec(at(20), "demo/web", EventKind::Sync, "auto", None, "failed"),
        rec(
            at(30),
            "demo/web",
            EventKind::Drift,
            "kubectl-scale",
            None,
            "detected",
        ),
        rec(at(40), "demo/api", EventKind::Sync, "auto", None, SUCCEEDED),
        rec(
            at(DAY + 5),
            "demo/web",
            EventKind::Sync,
            "auto",
            None,
            SUCCEEDED,
        ),
        rec(
            at(5 * DAY),
            "demo/web",
            EventKind::Sync,
            "auto",
            None,
            SUCCEEDED,
        ),
    ];
    for r in &rows {
        log.append(r).unwrap();
    }
    let now = at(6 * DAY);
    let report = log
        .apply_retention_at(
            &Retention {
                max_age: Some(Duration::from_secs(3 * 24 * 3600)),
                max_records: None,
            },
            now,
        )
        .unwrap();
    assert_eq!(report.dropped, 5);
    assert_eq!(report.kept, 1);
    assert_eq!(report.summaries_touched, 4);
    assert_eq!(ids(&log, Query::default()), [6]);

    let s = log.summaries(None).unwrap();
    let brief: Vec<_> = s
        .iter()
        .map(|s| (s.day.as_str(), s.app.as_str(), s.kind, s.count))
        .collect();
    assert_eq!(
        brief,
        [
            ("2026-11-17", "demo/api", EventKind::Sync, 1),
            ("2026-11-17", "demo/web", EventKind::Drift, 1),
            ("2026-11-17", "demo/web", EventKind::Sync, 2),
            ("2026-11-18", "demo/web", EventKind::Sync, 1),
        ]
    );
    let web_sync = &s[2];
    assert_eq!(web_sync.outcomes.get("succeeded"), Some(&1));
    assert_eq!(web_sync.outcomes.get("failed"), Some(&1));
    assert_eq!((web_sync.first, web_sync.last), (at(10), at(20)));
    assert_eq!(web_sync.cluster, "prod-eu");
    assert_eq!(log.summaries(Some("api")).unwrap().len(), 1);

    // A later pass adds to the same day's row instead of replacing it.
    log.append(&rec(
        at(50),
        "demo/web",
        EventKind::Sync,
        "auto",
        None,
        SUCCEEDED,
    ))
    .unwrap();
    let report = log
        .apply_retention_at(
            &Retention {
                max_age: Some(Duration::from_secs(3 * 24 * 3600)),
                max_records: None,
            },
            now,
        )
        .unwrap();
    assert_eq!((report.dropped, report.summaries_touched), (1, 1));
    let web_sync = log
        .summaries(Some("demo/web"))
        .unwrap()
        .into_iter()
        .find(|s| s.day == "2026-11-17" && s.kind == EventKind::Sync)
        .unwrap();
    assert_eq!(web_sync.count, 3);
    assert_eq!(web_sync.outcomes.get("succeeded"), Some(&2));
    assert_eq!((web_sync.first, web_sync.last), (at(10), at(50)));
}

#[test]
fn retention_by_count_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = AuditLog::open(dir.path()).unwrap();
    // Appended newest-first, so "newest" must mean by time, not by id.
    for minute in (0..10).rev() {
        log.append(&rec(
            at(minute),
            "demo/web",
            EventKind::Sync,
            "auto",
            None,
            SUCCEEDED,
        ))
        .unwrap();
    }
    let report = log
        .apply_retention_at(
            &Retention {
                max_age: None,
                max_records: Some(3),
            },
            at(60),
        )
        .unwrap();
    assert_eq!((report.dropped, report.kept), (7, 3));
    let kept: Vec<_> = log
        .query(&Query::default())
        .unwrap()
        .iter()
        .map(|r| r.time)
        .collect();
    assert_eq!(kept, [at(7), at(8), at(9)]);
    let s = log.summaries(None).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].count, 7);
    assert_eq!((s[0].first, s[0].last), (at(0), at(6)));

    // Nothing more to do: a second pass drops nothing and touches nothing.
    let again = log
        .apply_retention_at(
            &Retention {
                max_age: None,
                max_records: Some(3),
            },
            at(60),
        )
        .unwrap();
    assert_eq!(
        (again.dropped, again.summaries_touched, again.kept),
        (0, 0, 3)
    );
}

#[test]
fn retention_spares_running_syncs_and_never_reuses_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = AuditLog::open(dir.path()).unwrap();
    let running = log
        .append(&rec(
            at(0),
            "demo/web",
            EventKind::Sync,
            "auto",
            None,
            IN_PROGRESS,
        ))
        .unwrap();
    for minute in 1..5 {
        log.append(&rec(
            at(minute),
            "demo/web",
            EventKind::ObjectChange,
            "auto",
            None,
            SUCCEEDED,
        ))
        .unwrap();
    }
    let report = log
        .apply_retention_at(
            &Retention {
                max_age: Some(Duration::from_secs(1)),
                max_records: Some(0),
            },
            at(60),
        )
        .unwrap();
    assert_eq!((report.dropped, report.kept), (4, 1));
    // The running sync was kept and can still be finished.
    log.finish(running, SUCCEEDED, "done", None).unwrap();
    log.apply_retention_at(
        &Retention {
            max_age: None,
            max_records: Some(0),
        },
        at(60),
    )
    .unwrap();
    assert!(log.query(&Query::default()).unwrap().is_empty());
    // Ids keep counting after everything was dropped, so an id quoted
    // anywhere never comes to mean a different event.
    let next = log
        .append(&rec(
            at(61),
            "demo/web",
            EventKind::Sync,
            "auto",
            None,
            SUCCEEDED,
        ))
        .unwrap();
    assert_eq!(next, 6);
}

#[test]
fn pages_newest_first_across_apps_never_repeat_or_skip() {
    let (_dir, log) = open_fixture();
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = log
            .query(&Query {
                limit: Some(3),
                newest_first: true,
                before,
                ..Query::default()
            })
            .unwrap();
        if page.is_empty() {
            break;
        }
        let last = page.last().unwrap();
        before = Some((last.time, last.id));
        seen.extend(page.iter().map(|r| r.id));
    }
    assert_eq!(seen, [7, 5, 3, 1, 6, 4, 2]);
    // Several apps: any of them.
    let q = Query {
        apps: vec!["demo/web".into(), "webapp".into()],
        newest_first: true,
        ..Query::default()
    };
    assert_eq!(ids(&log, q), [7, 3, 1, 6, 2]);
}
