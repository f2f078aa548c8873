//! Timestamps as Kubernetes writes them: RFC 3339, whole seconds, UTC.

use std::time::Duration;

pub fn now() -> String {
    format_ts(jiff::Timestamp::now())
}

pub fn format_ts(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Unix seconds to RFC 3339.
pub fn from_unix(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(format_ts)
        .unwrap_or_default()
}

/// Parse `5s`, `2m`, `1h`, `500ms`, `1m30s` (the retry backoff's durations).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&next) = chars.peek() {
            if next.is_ascii_alphabetic() {
                unit.push(next);
                chars.next();
            } else {
                break;
            }
        }
        let n: f64 = number.parse().ok()?;
        number.clear();
        let secs = match unit.as_str() {
            "ms" => n / 1000.0,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            _ => return None,
        };
        total = total.checked_add(Duration::try_from_secs_f64(secs).ok()?)?;
    }
    if !number.is_empty() {
        // A bare number is seconds.
        total = total.checked_add(Duration::try_from_secs_f64(number.parse().ok()?).ok()?)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("2x"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(
            parse_duration("99999999999999999999999s"),
            None,
            "overflow is no panic"
        );
    }

    #[test]
    fn unix_times() {
        assert_eq!(from_unix(0), "1970-01-01T00:00:00Z");
    }
}
