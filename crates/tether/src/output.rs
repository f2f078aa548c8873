//! Output helpers shared by the read commands: the `-o` formats, JSON/YAML
//! printing, kubectl-style borderless tables, ages and truncation.

use std::io::IsTerminal;

use comfy_table::{Table, presets};
use serde::Serialize;

/// `-o` / `--output`: how a read command prints what it found.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// A table (or a readable summary for one object), long messages truncated.
    #[default]
    Table,
    /// Like table, with more columns and nothing truncated.
    Wide,
    /// JSON, for scripts (`jq`).
    Json,
    /// YAML.
    Yaml,
    /// Names only, one a line.
    Name,
}

/// A JSON value as pretty JSON, followed by a newline.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    Ok(s)
}

/// A serialisable value as YAML (key order kept).
pub fn yaml<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let value = serde_json::to_value(value)?;
    Ok(tether_model::to_yaml(&value))
}

/// A `-o` parser that accepts only `allowed` (for commands where some formats mean nothing).
pub fn formats(
    allowed: &'static [&'static str],
) -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::ValueEnum;
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(allowed)
        .map(|s| Format::from_str(&s, true).unwrap_or_default())
}

/// Print `value` as JSON or YAML; true when `format` was one of those.
pub fn print_structured<T: Serialize>(format: Format, value: &T) -> anyhow::Result<bool> {
    match format {
        Format::Json => print!("{}", json(value)?),
        Format::Yaml => print!("{}", yaml(value)?),
        _ => return Ok(false),
    }
    Ok(true)
}

/// A table in kubectl's plain style: no borders, upper-case headers, columns
/// three spaces apart.
pub fn table<I, S>(header: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<comfy_table::Cell>,
{
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    t.set_header(header);
    t
}

/// The table as text, trailing spaces trimmed, ending with a newline.
pub fn render(mut t: Table) -> String {
    let n = t.column_count();
    for (i, col) in t.column_iter_mut().enumerate() {
        col.set_padding((0, if i + 1 == n { 0 } else { 3 }));
    }
    let mut out = String::new();
    for line in t.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// How long ago an RFC 3339 time was, kubectl-style: `45s`, `5m`, `2h`, `3d`.
/// Unparseable or missing times give `<unknown>`.
pub fn age(time: Option<&str>) -> String {
    match time.and_then(|t| t.parse::<jiff::Timestamp>().ok()) {
        Some(ts) => {
            let secs = jiff::Timestamp::now().as_second() - ts.as_second();
            duration(secs.max(0) as u64)
        }
        None => "<unknown>".into(),
    }
}

/// Seconds as `45s`, `5m`, `2h`, `3d` (with a second unit below ten of the first, as kubectl does: `2m30s`, `3h5m`).
pub fn duration(secs: u64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        let s = secs % 60;
        if s == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{s}s")
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        let rest = m % 60;
        if rest == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{rest}m")
        }
    } else if d < 2 {
        format!("{h}h")
    } else if d < 8 {
        let rest = h % 24;
        if rest == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{rest}h")
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else {
        format!("{}y", d / 365)
    }
}

/// The first line of `text`, at most `max` characters, with `...` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    let cut = first.len() < text.trim_end().len();
    let count = first.chars().count();
    if count <= max && !cut {
        return first.to_string();
    }
    if count <= max {
        return format!("{first}...");
    }
    let keep: String = first.chars().take(max.saturating_sub(3)).collect();
    format!("{keep}...")
}

/// A commit id shortened to 8 characters, as `git log --oneline` (roughly) shows it.
pub fn short(commit: &str) -> &str {
    &commit[..commit.len().min(8)]
}

/// `text`, or `-` when it is empty (a table cell must not look missing).
pub fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".into()
    } else {
        text.into()
    }
}

/// Whether stderr is a terminal (spinners only then).
pub fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(119), "119s");
        assert_eq!(duration(150), "2m30s");
        assert_eq!(duration(300), "5m");
        assert_eq!(duration(7200), "120m");
        assert_eq!(duration(3 * 3600 + 300), "3h5m");
        assert_eq!(duration(10 * 3600), "10h");
        assert_eq!(duration(3 * 86_400), "3d");
        assert_eq!(duration(100 * 86_400), "100d");
        assert_eq!(duration(1000 * 86_400), "2y");
    }

    #[test]
    fn truncation_keeps_the_first_line() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("a rather long message", 10), "a rathe...");
        assert_eq!(truncate("one\ntwo", 10), "one...");
        assert_eq!(truncate("one\n", 10), "one");
        assert_eq!(truncate("ééééééé", 5), "éé...");
    }

    #[test]
    fn tables_are_plain() {
        let mut t = table(["NAME", "SYNC"]);
        t.add_row(["demo", "Synced"]);
        t.add_row(["a-longer-name", "OutOfSync"]);
        let text = render(t);
        assert_eq!(
            text,
            "NAME            SYNC\ndemo            Synced\na-longer-name   OutOfSync\n"
        );
    }

    #[test]
    fn ages() {
        assert_eq!(age(None), "<unknown>");
        assert_eq!(age(Some("nonsense")), "<unknown>");
        let t = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(300);
        assert_eq!(age(Some(&t.to_string())), "5m");
    }
}
