//! Clean text: what a repository writes (file names, commit messages and
//! authors, object names, tool output) must never reach a terminal, a log
//! line or a status field as raw control characters. An escape sequence in a
//! commit message could clear the screen or set the terminal's title; a
//! newline in a file name would split a log line and let a repository forge
//! the next one; bidi overrides can make text read differently from what it
//! is ("Trojan Source").
//!
//! [`escape_control`] writes each such character as a visible Rust-style
//! escape, `\u{1b}`. The rules:
//! - escaped: C0 controls (U+0000–U+001F), DEL (U+007F), C1 controls
//!   (U+0080–U+009F), the bidi embeddings, overrides and isolates
//!   (U+202A–U+202E, U+2066–U+2069), and the line and paragraph separators
//!   (U+2028, U+2029, which some viewers break lines at);
//! - [`Lines::Keep`] keeps `\n` and `\t` for multi-line text (a commit message
//!   body, a diff, a tool's error output); [`Lines::Escape`] escapes them too,
//!   for a field that must stay on one line (a name, a path, a table cell, a
//!   log field). `\r` is escaped either way: it would let text overwrite the
//!   start of its own line;
//! - everything else, backslashes included, is left as it is, so Windows
//!   paths, regular expressions and ordinary Unicode read as written, and text
//!   without anything to escape is borrowed, not copied.
//!
//! Escaping is idempotent: escaped text contains nothing to escape, so a
//! reader (the CLI) can escape again what the agent already escaped without
//! doubling anything. The price is that a literal `\u{1b}` typed into a
//! commit message reads the same as an escaped ESC; both are harmless.

use std::borrow::Cow;

/// Whether line breaks and tabs may stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lines {
    /// Keep `\n` and `\t`: multi-line text.
    Keep,
    /// Escape them too: a field that must stay on one line.
    Escape,
}

/// Whether `c` is written as an escape (under `lines`).
pub fn needs_escape(c: char, lines: Lines) -> bool {
    match c {
        '\n' | '\t' => lines == Lines::Escape,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}' => true,
        _ => false,
    }
}

/// `text` with control characters (and bidi controls) written as `\u{..}`;
/// borrowed when there is nothing to escape. See the module documentation.
pub fn escape_control(text: &str, lines: Lines) -> Cow<'_, str> {
    let Some(first) = text
        .char_indices()
        .find(|&(_, c)| needs_escape(c, lines))
        .map(|(i, _)| i)
    else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if needs_escape(c, lines) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One line: everything escaped, `\n` and `\t` included.
pub fn one_line(text: &str) -> Cow<'_, str> {
    escape_control(text, Lines::Escape)
}

/// Multi-line text: `\n` and `\t` kept, everything else escaped.
pub fn multi_line(text: &str) -> Cow<'_, str> {
    escape_control(text, Lines::Keep)
}

/// Escape `text` in place (no allocation when there is nothing to escape).
pub fn escape_in_place(text: &mut String, lines: Lines) {
    if let Cow::Owned(clean) = escape_control(text, lines) {
        *text = clean;
    }
}

fn push_escape(out: &mut String, c: char) {
    use std::fmt::Write as _;
    let _ = write!(out, "\\u{{{:x}}}", c as u32);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character the rules escape, for the property tests.
    fn escaped_set() -> Vec<char> {
        (0u32..=0x2100)
            .filter_map(char::from_u32)
            .filter(|&c| needs_escape(c, Lines::Escape))
            .collect()
    }

    fn raw_control(s: &str, lines: Lines) -> Option<char> {
        s.chars().find(|&c| needs_escape(c, lines))
    }

    #[test]
    fn terminal_escapes_become_visible() {
        assert_eq!(
            one_line("\x1b]0;pwned\x07fix: typo"),
            "\\u{1b}]0;pwned\\u{7}fix: typo"
        );
        assert_eq!(one_line("\x1b[2J"), "\\u{1b}[2J");
        assert_eq!(one_line("a\u{9b}31m"), "a\\u{9b}31m");
        assert_eq!(one_line("del\x7f"), "del\\u{7f}");
        assert_eq!(one_line("nul\0"), "nul\\u{0}");
    }

    #[test]
    fn one_line_escapes_line_breaks_multi_line_keeps_them() {
        let forged = "app.yaml\n2026-12-07T14:00:00Z  INFO forged line\r";
        assert_eq!(
            one_line(forged),
            "app.yaml\\u{a}2026-12-07T14:00:00Z  INFO forged line\\u{d}"
        );
        assert_eq!(multi_line("a\n\tb\r\n"), "a\n\tb\\u{d}\n");
        assert_eq!(one_line("a\tb"), "a\\u{9}b");
    }

    #[test]
    fn bidi_controls_are_escaped() {
        // Trojan Source: RLO … PDI reorders what the reader sees.
        let s = "access\u{202e} \u{2066}// admin\u{2069}\u{2066}";
        assert_eq!(
            one_line(s),
            "access\\u{202e} \\u{2066}// admin\\u{2069}\\u{2066}"
        );
        for c in [
            '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{2067}', '\u{2068}',
        ] {
            assert!(needs_escape(c, Lines::Keep), "{c:?}");
        }
        assert_eq!(multi_line("a\u{2028}b"), "a\\u{2028}b");
    }

    #[test]
    fn plain_and_ordinary_unicode_text_is_borrowed_untouched() {
        for s in [
            "",
            "web",
            "fix: bump nginx to 1.27 (#42)",
            "Ærøskøbing — naïve café, 日本語, emoji 🚀, Ελληνικά, עברית",
            "C:\\Users\\me\\values.yaml and a regex ^\\d+$",
            "zero\u{200b}width and nbsp\u{a0}",
        ] {
            let out = one_line(s);
            assert!(matches!(out, Cow::Borrowed(_)), "{s:?} was copied");
            assert_eq!(out, s);
        }
        assert!(matches!(multi_line("a\nb\tc\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn backslashes_stay_readable() {
        assert_eq!(one_line("a\\b"), "a\\b");
        assert_eq!(one_line("\\\x1b"), "\\\\u{1b}");
    }

    #[test]
    fn escaping_is_idempotent() {
        for s in ["\x1b[2J\n\t\u{202e}x\u{85}", "plain", "a\\u{1b}b"] {
            for lines in [Lines::Keep, Lines::Escape] {
                let once = escape_control(s, lines).into_owned();
                assert_eq!(escape_control(&once, lines), once, "{s:?}");
            }
        }
    }

    #[test]
    fn in_place() {
        let mut s = String::from("x\x1by");
        escape_in_place(&mut s, Lines::Escape);
        assert_eq!(s, "x\\u{1b}y");
        let mut s = String::from("a\nb");
        escape_in_place(&mut s, Lines::Keep);
        assert_eq!(s, "a\nb");
    }

    /// A small deterministic generator (xorshift), so the property tests need no new dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Random strings mixing ASCII, the escaped set, backslashes and wider Unicode.
    fn random_strings(n: usize) -> Vec<String> {
        let escaped = escaped_set();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        (0..n)
            .map(|_| {
                let len = (rng.next() % 40) as usize;
                (0..len)
                    .map(|_| match rng.next() % 6 {
                        0 => escaped[(rng.next() % escaped.len() as u64) as usize],
                        1 => '\\',
                        2 => char::from_u32((rng.next() % 0x30000) as u32).unwrap_or('?'),
                        3 => ['\n', '\t', '\r', 'u', '{', '}'][(rng.next() % 6) as usize],
                        _ => (b' ' + (rng.next() % 95) as u8) as char,
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn property_output_never_holds_a_control_character() {
        for s in random_strings(5000) {
            let one = one_line(&s);
            assert_eq!(raw_control(&one, Lines::Escape), None, "{s:?} → {one:?}");
            let multi = multi_line(&s);
            assert_eq!(raw_control(&multi, Lines::Keep), None, "{s:?} → {multi:?}");
            // Line breaks survive in multi-line text, and only what is escaped changes.
            assert_eq!(
                multi.matches('\n').count(),
                s.matches('\n').count(),
                "{s:?}"
            );
            // Idempotent on any input.
            assert_eq!(one_line(&one), one);
            assert_eq!(multi_line(&multi), multi);
        }
    }

    #[test]
    fn property_text_without_controls_is_borrowed_and_unchanged() {
        for s in random_strings(5000) {
            let clean: String = s
                .chars()
                .filter(|&c| !needs_escape(c, Lines::Escape))
                .collect();
            let out = one_line(&clean);
            assert!(matches!(out, Cow::Borrowed(_)), "{clean:?}");
            assert_eq!(out, clean);
        }
    }

    #[test]
    fn property_escapes_decode_back_to_the_input() {
        // Decoding `\u{hex}` for exactly the escaped characters gives the input
        // back, whenever the input held no literal `\u{` of its own.
        for s in random_strings(5000)
            .into_iter()
            .filter(|s| !s.contains("\\u{"))
        {
            let out = one_line(&s).into_owned();
            let mut back = String::new();
            let mut rest = out.as_str();
            while let Some(i) = rest.find("\\u{") {
                back.push_str(&rest[..i]);
                let end = rest[i..].find('}').map(|e| i + e).expect("closed escape");
                let code = u32::from_str_radix(&rest[i + 3..end], 16).expect("hex");
                let c = char::from_u32(code).expect("a char");
                assert!(needs_escape(c, Lines::Escape), "{c:?} escaped needlessly");
                back.push(c);
                rest = &rest[end + 1..];
            }
            back.push_str(rest);
            assert_eq!(back, s);
        }
    }
}
