//! Parsing the times a user gives `tether audit --since/--until`.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::AuditError;

/// Turns `--since` text into an instant. Accepts:
/// - an age before `now`: `90s`, `30m`, `1h`, `7d`, `2w`, or several added up
///   (`1h30m`). A day is 24 hours: these are instants, not calendar dates.
/// - a date, `2026-11-17`, meaning its midnight UTC;
/// - a date and time without offset, `2026-11-17T09:30:00`, taken as UTC;
/// - RFC 3339 with an offset, `2026-11-17T09:30:00+01:00`.
///
/// Times without an offset are UTC rather than local because the agent and
/// the CLI may run in different zones, and the log stores UTC.
pub fn parse_since(text: &str, now: Timestamp) -> Result<Timestamp, AuditError> {
    let text = text.trim();
    let fail = |reason: &str| AuditError::ParseTime {
        text: text.to_owned(),
        reason: reason.to_owned(),
    };
    if text.is_empty() {
        return Err(fail("empty"));
    }
    // An age is only digits and unit letters; anything with `-` or `:` is a date.
    if text.chars().all(|c| c.is_ascii_alphanumeric()) {
        let age = parse_age(text).map_err(|reason| fail(&reason))?;
        return now
            .checked_sub(age)
            .map_err(|_| fail("reaches before the earliest time representable"));
    }
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    if let Ok(dt) = text.parse::<DateTime>() {
        return dt
            .to_zoned(TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| fail(&e.to_string()));
    }
    if let Ok(date) = text.parse::<Date>() {
        return date
            .to_zoned(TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| fail(&e.to_string()));
    }
    Err(fail(
        "expected an age like 30m, 1h or 7d, a date like 2026-11-17, or an RFC 3339 time",
    ))
}

/// `1h30m` → 5400 s. Units: s, m, h, d (24 h), w (7 d).
fn parse_age(text: &str) -> Result<SignedDuration, String> {
    let mut total = SignedDuration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("expected a number before {rest:?}"));
        }
        let amount: i64 = rest[..digits]
            .parse()
            .map_err(|_| "number too large".to_owned())?;
        rest = &rest[digits..];
        let unit = rest.chars().next().ok_or_else(|| {
            format!("missing unit after {amount}: use s, m, h, d or w (e.g. 30m, 1h, 7d)")
        })?;
        let seconds_per_unit: i64 = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            other => return Err(format!("unknown unit {other:?}: use s, m, h, d or w")),
        };
        rest = &rest[unit.len_utf8()..];
        let seconds = amount
            .checked_mul(seconds_per_unit)
            .ok_or_else(|| "too long ago".to_owned())?;
        total = total
            .checked_add(SignedDuration::from_secs(seconds))
            .ok_or_else(|| "too long ago".to_owned())?;
    }
    Ok(total)
}
