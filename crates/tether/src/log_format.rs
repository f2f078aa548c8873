//! A log line is always one line. Log fields and messages carry what a
//! repository wrote (file names in render errors, commit messages, tool
//! output); a newline in a file name would otherwise end the line and let the
//! repository write a forged line of its own, and an escape sequence would
//! reach the terminal of whoever tails the log.
//!
//! [`CleanFields`] formats an event's fields as tracing-subscriber's default
//! formatter does, then escapes every control character in them (newlines
//! included) with `tether_model::text`. The formatter's own colours (level,
//! target) are written outside the fields, so they keep working on a terminal.

use std::fmt;

use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};

/// The default field formatter, escaped to one line.
#[derive(Default)]
pub struct CleanFields {
    inner: DefaultFields,
}

impl<'writer> FormatFields<'writer> for CleanFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        // Formatted without colours into a buffer (the default formatter would
        // italicise field names), then escaped as a whole.
        let mut buf = String::new();
        self.inner.format_fields(Writer::new(&mut buf), fields)?;
        writer.write_str(&tether_model::text::one_line(&buf))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn log_with(ansi: bool, f: impl FnOnce()) -> String {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(CleanFields::default())
            .with_writer(move || writer.clone())
            .with_ansi(ansi)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = sink.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_newline_in_a_field_or_message_does_not_split_the_line() {
        let origin = "bad\n2026-12-07T14:00:00.000000Z  INFO tether: forged\x1b[2J.yaml";
        let out = log_with(false, || {
            tracing::warn!(app = %"tether/web", file = %origin, "render failed: {origin}");
            tracing::info!(commit = ?"\x1b]0;pwned\x07", "second");
            let span = tracing::info_span!("reconcile", path = %"a\nb");
            let _g = span.enter();
            tracing::info!("inside");
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(
            !out.chars().any(|c| c != '\n'
                && tether_model::text::needs_escape(c, tether_model::text::Lines::Escape)),
            "{out:?}"
        );
        // (tracing-subscriber writes ESC in a message as `\x1b` itself; the
        // newline is ours to escape.)
        assert!(
            lines[0].contains(
                "render failed: bad\\u{a}2026-12-07T14:00:00.000000Z  INFO tether: forged"
            ),
            "{out}"
        );
        assert!(lines[0].contains("file=bad\\u{a}"), "{out}");
        assert!(lines[2].contains("path=a\\u{a}b"), "{out}");
    }

    #[test]
    fn colours_still_work_on_a_terminal() {
        let out = log_with(true, || tracing::warn!(file = %"x\x1by", "m\x07"));
        // The formatter's own colour codes are there (the level is coloured)...
        assert!(out.contains("\x1b["), "{out:?}");
        // ...but nothing the fields held.
        assert!(out.contains("x\\u{1b}y"), "{out:?}");
        assert!(!out.contains('\x07') && !out.contains("x\x1by"), "{out:?}");
    }
}
