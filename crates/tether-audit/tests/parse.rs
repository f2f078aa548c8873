//! The CLI helpers: `--since`/`--until` times and `--kind` names.

use jiff::{SignedDuration, Timestamp};
use tether_audit::{AuditError, EventKind, parse_kind, parse_since};

fn now() -> Timestamp {
    "2026-11-17T12:00:00Z".parse().unwrap()
}

fn since(text: &str) -> Timestamp {
    parse_since(text, now()).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

#[test]
fn ages_count_back_from_now() {
    let ago = |secs: i64| now() - SignedDuration::from_secs(secs);
    assert_eq!(since("1h"), ago(3600));
    assert_eq!(since("30m"), ago(1800));
    assert_eq!(since("90s"), ago(90));
    assert_eq!(since("7d"), ago(7 * 86_400));
    assert_eq!(since("2w"), ago(14 * 86_400));
    assert_eq!(since("1h30m"), ago(5400));
    assert_eq!(since(" 0s "), now());
}

#[test]
fn dates_and_times_are_absolute() {
    let ts = |s: &str| s.parse::<Timestamp>().unwrap();
    assert_eq!(since("2026-11-17"), ts("2026-11-17T00:00:00Z"));
    assert_eq!(since("2026-11-10"), ts("2026-11-10T00:00:00Z"));
    assert_eq!(since("2026-11-17T09:30:00Z"), ts("2026-11-17T09:30:00Z"));
    assert_eq!(
        since("2026-11-17T09:30:00+02:00"),
        ts("2026-11-17T07:30:00Z")
    );
    // Without an offset a time is UTC, whatever zone the CLI runs in.
    assert_eq!(since("2026-11-17T09:30:00"), ts("2026-11-17T09:30:00Z"));
    assert_eq!(since("2026-11-17 09:30"), ts("2026-11-17T09:30:00Z"));
}

#[test]
fn bad_times_are_clear_errors() {
    for bad in [
        "",
        "h",
        "1",
        "10x",
        "1H",
        "1y",
        "yesterday",
        "-1h",
        "2026-13-01",
        "2026-11-17T25:00",
        "99999999999999999999d",
    ] {
        match parse_since(bad, now()) {
            Err(AuditError::ParseTime { text, reason }) => {
                assert_eq!(text, bad.trim());
                assert!(!reason.is_empty());
            }
            other => panic!("{bad:?} should not parse, got {other:?}"),
        }
    }
    let err = parse_since("1y", now()).unwrap_err().to_string();
    assert!(err.contains("1y") && err.contains("unit"), "{err}");
    // Far enough back to leave the representable range.
    assert!(parse_since("9999999w", now()).is_err());
}

#[test]
fn kinds_parse_as_users_type_them() {
    assert_eq!(parse_kind("sync").unwrap(), EventKind::Sync);
    assert_eq!(parse_kind("Drift").unwrap(), EventKind::Drift);
    for text in ["self-heal", "self_heal", "selfheal", "SelfHeal"] {
        assert_eq!(parse_kind(text).unwrap(), EventKind::SelfHeal, "{text}");
    }
    assert_eq!(
        parse_kind("object-change").unwrap(),
        EventKind::ObjectChange
    );
    for kind in EventKind::ALL {
        assert_eq!(parse_kind(&kind.to_string()).unwrap(), kind);
        assert_eq!(kind.as_str().parse::<EventKind>().unwrap(), kind);
    }
    let err = parse_kind("deploy").unwrap_err().to_string();
    assert!(err.contains("deploy") && err.contains("self-heal"), "{err}");
}
