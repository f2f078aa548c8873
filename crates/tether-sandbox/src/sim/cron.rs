//! Cron schedules as CronJobs write them: five fields (minute, hour, day of
//! month, month, day of week) with `*`, `?`, lists, ranges, steps and month
//! and weekday names, or a macro (`@hourly`, `@daily`, ...), evaluated in a
//! time zone. As the real controller's parser: when both day fields are
//! restricted a time matches either; when one is `*`, both must match.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// A parsed schedule: the allowed values of each field as bit sets.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Either day field was `*` or `?`: both day fields must match.
    days_and: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn value(s: &str, names: &[&str], offset: u32) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return Ok(i as u32 + offset);
    }
    s.parse::<u32>()
        .map_err(|_| format!("failed to parse int from {s}"))
}

/// One field into a bit set of allowed values in `min..=max`.
fn field(
    text: &str,
    min: u32,
    max: u32,
    names: &[&str],
    offset: u32,
) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let mut star = false;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .map_err(|_| format!("failed to parse int from {s}"))?;
                if step == 0 {
                    return Err(format!("step of range should be a positive number: {part}"));
                }
                (r, Some(step))
            }
            None => (part, None),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            star = step.is_none();
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, offset)?, value(b, names, offset)?)
        } else {
            let v = value(range, names, offset)?;
            // `a/n` runs from a to the end of the range.
            (v, if step.is_some() { max } else { v })
        };
        if lo < min || hi > max {
            return Err(format!("end of range ({hi}) above maximum ({max}): {part}"));
        }
        if lo > hi {
            return Err(format!(
                "beginning of range ({lo}) beyond end of range ({hi}): {part}"
            ));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            // A step past the field's end (`1/4294967295`) ends the range.
            match v.checked_add(step.unwrap_or(1)) {
                Some(next) => v = next,
                None => break,
            }
        }
    }
    Ok((bits, star))
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let text = text.trim();
        let expanded = match text {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => {
                return Err(format!("unrecognized descriptor: {other}"));
            }
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: {text}",
                fields.len()
            ));
        }
        let (minutes, _) = field(fields[0], 0, 59, &[], 0)?;
        let (hours, _) = field(fields[1], 0, 23, &[], 0)?;
        let (days, dom_star) = field(fields[2], 1, 31, &[], 0)?;
        let (months, _) = field(fields[3], 1, 12, &MONTHS, 1)?;
        let (mut weekdays, dow_star) = field(fields[4], 0, 7, &WEEKDAYS, 0)?;
        // 7 is Sunday too.
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        Ok(Schedule {
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_and: dom_star || dow_star,
        })
    }

    fn day_matches(&self, d: Date) -> bool {
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().to_sunday_zero_offset()) != 0;
        if self.days_and {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first scheduled time strictly after `after`, in `tz`; None when the
    /// schedule never fires within five years (`0 0 30 2 *`).
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = after.to_zoned(tz.clone()).datetime();
        // The next whole minute.
        let mut t = DateTime::from_parts(
            start.date(),
            Time::new(start.hour(), start.minute(), 0, 0).ok()?,
        )
        .checked_add(1.minute())
        .ok()?;
        let limit = start.date().checked_add(5.years()).ok()?;
        while t.date() <= limit {
            if self.months & (1 << t.month()) == 0 {
                let first = Date::new(t.year(), t.month(), 1)
                    .ok()?
                    .checked_add(1.month())
                    .ok()?;
                t = first.to_datetime(Time::midnight());
                continue;
            }
            if !self.day_matches(t.date()) {
                t = t
                    .date()
                    .checked_add(1.day())
                    .ok()?
                    .to_datetime(Time::midnight());
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = DateTime::from_parts(t.date(), Time::new(t.hour(), 0, 0, 0).ok()?)
                    .checked_add(1.hour())
                    .ok()?;
                continue;
            }
            if self.minutes & (1 << t.minute()) == 0 {
                t = t.checked_add(1.minute()).ok()?;
                continue;
            }
            let at = t.to_zoned(tz.clone()).ok()?.timestamp();
            // A local time skipped by a clock change maps forward; keep order.
            if at > after {
                return Some(at);
            }
            t = t.checked_add(1.minute()).ok()?;
        }
        None
    }

    /// The latest scheduled time in `(after, now]`, if any, and how many were
    /// missed in between (the controller starts only the latest).
    pub fn latest_between(
        &self,
        after: Timestamp,
        now: Timestamp,
        tz: &TimeZone,
    ) -> Option<(Timestamp, usize)> {
        let mut found = None;
        let mut t = after;
        let mut n = 0;
        while let Some(next) = self.next_after(t, tz) {
            if next > now {
                break;
            }
            found = Some(next);
            n += 1;
            t = next;
            // Many missed times (the real controller stops counting past 100):
            // skip to a day before now rather than walk every one.
            if n > 100 {
                let close = now.checked_sub(jiff::SignedDuration::from_hours(24)).ok()?;
                if t < close {
                    t = close;
                }
            }
        }
        found.map(|f| (f, n))
    }
}

/// The zone a CronJob names (`spec.timeZone`), else the controller's: UTC.
pub fn zone(name: Option<&str>) -> Result<TimeZone, String> {
    match name {
        None | Some("") | Some("UTC") | Some("Etc/UTC") => Ok(TimeZone::UTC),
        Some(n) => TimeZone::get(n).map_err(|_| format!("unknown time zone {n}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("a timestamp")
    }

    fn next(expr: &str, after: &str) -> String {
        Schedule::parse(expr)
            .expect("parses")
            .next_after(ts(after), &TimeZone::UTC)
            .map(|t| t.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn a_step_past_the_fields_end_takes_only_the_start() {
        assert_eq!(
            next("1/4294967295 * * * *", "2026-03-01T10:00:30Z"),
            "2026-03-01T10:01:00Z"
        );
    }

    #[test]
    fn every_minute_and_steps() {
        assert_eq!(
            next("* * * * *", "2026-03-01T10:00:30Z"),
            "2026-03-01T10:01:00Z"
        );
        assert_eq!(
            next("* * * * *", "2026-03-01T10:01:00Z"),
            "2026-03-01T10:02:00Z"
        );
        assert_eq!(
            next("*/15 * * * *", "2026-03-01T10:01:00Z"),
            "2026-03-01T10:15:00Z"
        );
        assert_eq!(
            next("5/20 * * * *", "2026-03-01T10:26:00Z"),
            "2026-03-01T10:45:00Z"
        );
        assert_eq!(
            next("0 9-17/4 * * *", "2026-03-01T10:00:00Z"),
            "2026-03-01T13:00:00Z"
        );
    }

    #[test]
    fn names_lists_and_macros() {
        // 2026-03-01 is a Sunday.
        assert_eq!(
            next("30 8 * * mon,wed", "2026-03-01T00:00:00Z"),
            "2026-03-02T08:30:00Z"
        );
        assert_eq!(
            next("0 0 1 jan *", "2026-03-01T00:00:00Z"),
            "2027-01-01T00:00:00Z"
        );
        assert_eq!(
            next("@hourly", "2026-03-01T10:59:59Z"),
            "2026-03-01T11:00:00Z"
        );
        assert_eq!(
            next("@weekly", "2026-03-01T00:00:00Z"),
            "2026-03-08T00:00:00Z"
        );
        assert_eq!(
            next("0 0 * * 7", "2026-03-02T00:00:00Z"),
            "2026-03-08T00:00:00Z",
            "7 is Sunday"
        );
    }

    #[test]
    fn restricted_day_fields_match_either() {
        // The 15th, or any Friday: Friday 2026-03-06 comes first.
        assert_eq!(
            next("0 0 15 * fri", "2026-03-01T00:00:00Z"),
            "2026-03-06T00:00:00Z"
        );
        // With a star in one, both must match: Fridays only.
        assert_eq!(
            next("0 0 * * fri", "2026-03-01T00:00:00Z"),
            "2026-03-06T00:00:00Z"
        );
        assert_eq!(next("0 0 30 2 *", "2026-03-01T00:00:00Z"), "", "never");
    }

    #[test]
    fn time_zones() {
        let tz = zone(Some("America/New_York")).expect("the zone database");
        let s = Schedule::parse("0 9 * * *").expect("parses");
        // 09:00 in New York in March 2026 (after the DST change on the 8th) is 13:00 UTC.
        assert_eq!(
            s.next_after(ts("2026-03-10T00:00:00Z"), &tz)
                .map(|t| t.to_string()),
            Some("2026-03-10T13:00:00Z".into())
        );
        assert!(zone(Some("Nowhere/Special")).is_err());
    }

    #[test]
    fn latest_missed_time() {
        let s = Schedule::parse("*/10 * * * *").expect("parses");
        let (t, n) = s
            .latest_between(
                ts("2026-03-01T10:00:00Z"),
                ts("2026-03-01T10:35:00Z"),
                &TimeZone::UTC,
            )
            .expect("some");
        assert_eq!((t.to_string().as_str(), n), ("2026-03-01T10:30:00Z", 3));
        assert!(
            s.latest_between(
                ts("2026-03-01T10:00:00Z"),
                ts("2026-03-01T10:05:00Z"),
                &TimeZone::UTC
            )
            .is_none()
        );
    }

    #[test]
    fn a_long_outage_finds_the_latest_time_quickly() {
        let s = Schedule::parse("* * * * *").expect("parses");
        let (t, n) = s
            .latest_between(
                ts("2025-03-01T10:00:00Z"),
                ts("2026-03-01T10:35:30Z"),
                &TimeZone::UTC,
            )
            .expect("some");
        assert_eq!(t.to_string(), "2026-03-01T10:35:00Z");
        assert!(n < 2000, "skipped ahead: {n} steps");
    }

    #[test]
    fn bad_schedules_are_refused() {
        for bad in [
            "* * * *",
            "61 * * * *",
            "*/0 * * * *",
            "5-1 * * * *",
            "@often",
            "x * * * *",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }
}
