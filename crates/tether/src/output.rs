//! Output helpers shared by the read commands: the `-o` formats, JSON/YAML
//! printing, kubectl-style borderless tables, ages and truncation.
//!
//! Clean text: whatever a repository wrote (file names, commit messages and
//! authors, tool output) reaches the terminal with its control characters
//! escaped (`tether_model::text`). Every table cell is escaped to one line by
//! [`Table`]; other human-readable text goes through [`line`] or [`text`];
//! JSON keeps the exact data but writes the characters a terminal would act
//! on as `\uXXXX` escapes ([`json`]).

use std::borrow::Cow;
use std::io::IsTerminal;

use comfy_table::presets;
use serde::Serialize;
use tether_model::text::{self, Lines};

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

/// A JSON value as pretty JSON, followed by a newline. The same data as
/// `serde_json::to_string_pretty`, but every character that a terminal would
/// act on is a `\uXXXX` escape: serde_json escapes C0 controls itself, and
/// [`SafeJson`] adds DEL, C1 controls and the bidi controls.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut buf,
        SafeJson(serde_json::ser::PrettyFormatter::new()),
    );
    value.serialize(&mut ser)?;
    let mut s = String::from_utf8(buf)?;
    s.push('\n');
    Ok(s)
}

/// serde_json's pretty formatter, writing the characters of
/// [`tether_model::text`]'s escape set inside strings as `\uXXXX`.
struct SafeJson<'a>(serde_json::ser::PrettyFormatter<'a>);

impl serde_json::ser::Formatter for SafeJson<'_> {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if text::needs_escape(c, Lines::Escape) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                // Every character escaped is in the Basic Multilingual Plane.
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Repository text for one line of human output: every control character
/// (newlines and tabs too) escaped.
pub fn line(s: &str) -> Cow<'_, str> {
    text::one_line(s)
}

/// Repository text for multi-line human output (a diff, a long message):
/// newlines and tabs kept, every other control character escaped.
pub fn text(s: &str) -> Cow<'_, str> {
    text::multi_line(s)
}

/// A serialisable value as YAML (key order kept). The YAML emitter escapes
/// control characters itself (`\e`, `\x9B`) but writes bidi controls as they
/// are; a value holding one is printed as JSON instead, which is YAML too and
/// escapes them, so the data stays exact either way.
pub fn yaml<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let value = serde_json::to_value(value)?;
    let yaml = tether_model::to_yaml(&value);
    if yaml.chars().any(|c| text::needs_escape(c, Lines::Keep)) {
        return json(&value);
    }
    Ok(yaml)
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

/// Width of the label column in `tether app get`'s and `sync`'s summaries.
const LABEL_WIDTH: usize = 16;

/// One `Label:   value` line of a summary; the value is escaped to one line.
pub fn field(out: &mut String, label: &str, value: &str) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "{:<LABEL_WIDTH$}{}", format!("{label}:"), line(value));
}

/// A summary field holding multi-line text (a tool's error output): escaped
/// with [`text`], its further lines indented under the value column so that
/// none can pass for a label line of its own.
pub fn field_text(out: &mut String, label: &str, value: &str) {
    let value = text(value.trim_end_matches('\n'));
    let indented = value.replace('\n', &format!("\n{:LABEL_WIDTH$}", ""));
    field_raw(out, label, &indented);
}

fn field_raw(out: &mut String, label: &str, value: &str) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "{:<LABEL_WIDTH$}{value}", format!("{label}:"));
}

/// A table whose every cell is one line of clean text: cells are escaped
/// with [`line`] as they are added, so no caller can forget it (and a newline
/// in a cell cannot break the table into extra rows).
pub struct Table(comfy_table::Table);

impl Table {
    pub fn add_row<I, S>(&mut self, row: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let cells: Vec<String> = row
            .into_iter()
            .map(|c| line(c.as_ref()).into_owned())
            .collect();
        self.0.add_row(cells);
    }
}

/// A table in kubectl's plain style: no borders, upper-case headers, columns
/// three spaces apart.
pub fn table<I, S>(header: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<comfy_table::Cell>,
{
    let mut t = comfy_table::Table::new();
    t.load_preset(presets::NOTHING);
    t.set_header(header);
    Table(t)
}

/// The table as text, trailing spaces trimmed, ending with a newline.
pub fn render(t: Table) -> String {
    let mut t = t.0;
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
    fn table_cells_are_escaped_to_one_line() {
        let mut t = table(["NAME", "MESSAGE"]);
        t.add_row(["evil", "\x1b]0;pwned\x07fix\nINFO forged"]);
        let text = render(t);
        assert_eq!(
            text,
            "NAME   MESSAGE\nevil   \\u{1b}]0;pwned\\u{7}fix\\u{a}INFO forged\n"
        );
    }

    #[test]
    fn summary_fields_stay_in_their_column() {
        let mut out = String::new();
        field(&mut out, "Path", "a\nb\x1b");
        field_text(&mut out, "Message", "helm failed:\n\tError: \x1b[2Jbad\n");
        assert_eq!(
            out,
            "Path:           a\\u{a}b\\u{1b}\n\
             Message:        helm failed:\n                \tError: \\u{1b}[2Jbad\n"
        );
    }

    #[test]
    fn yaml_keeps_the_data_and_escapes_what_a_terminal_acts_on() {
        for v in [
            serde_json::json!({"a": "x\x1b[2Jy\u{9b}z\u{7f}", "b": "l1\nl2\x07\n", "c": ["t\tab"]}),
            serde_json::json!({"m": "access\u{202e} \u{2066}admin\u{2069}", "n": 1}),
        ] {
            let out = yaml(&v).unwrap();
            assert!(
                !out.chars().any(|c| text::needs_escape(c, Lines::Keep)),
                "{out:?}"
            );
            let back: serde_json::Value = serde_saphyr::from_str(&out).unwrap();
            assert_eq!(back, v, "{out}");
        }
        // Ordinary data stays block YAML.
        assert_eq!(yaml(&serde_json::json!({"a": 1})).unwrap(), "a: 1\n");
    }

    #[test]
    fn json_keeps_the_data_and_escapes_what_a_terminal_acts_on() {
        let v =
            serde_json::json!({"m\u{202e}": "\x1b[2J\u{9b}1m\u{2066}ok\u{7f}", "n": [1, "é\\"]});
        let out = json(&v).unwrap();
        assert!(
            !out.chars().any(|c| text::needs_escape(c, Lines::Keep)),
            "{out:?}"
        );
        assert!(out.contains("\\u001b[2J\\u009b1m\\u2066ok\\u007f"), "{out}");
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back, v);
        // Ordinary data prints exactly as serde_json's pretty printer does.
        let plain = serde_json::json!({"a": [1, {"b": "c"}], "d": {}, "e": []});
        assert_eq!(
            json(&plain).unwrap(),
            serde_json::to_string_pretty(&plain).unwrap() + "\n"
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
