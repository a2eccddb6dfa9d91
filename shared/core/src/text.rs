//! Text from outside (reasons, commit subjects, build failure summaries) printed where a
//! person reads it. A terminal obeys escape codes and line breaks, and bidirectional
//! overrides reorder what a reader sees, so such text could forge a line of the audit
//! trail or clear the screen. Reasons refuse these characters at input
//! ([`crate::Reason`]); everything else is passed through [`printable`] where it is shown.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Unicode's bidirectional formatting characters (embeddings, overrides, isolates and the
/// marks), which can make text display in another order than it is stored.
const BIDI: [char; 12] = [
    '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

/// A character that must not reach a terminal or page as it is: a control character
/// (C0, DEL, C1: line breaks, tabs, escapes) or a bidirectional formatting character.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || BIDI.contains(&c)
}

/// How a message names `c`, e.g. "a line break (U+000A)".
pub fn name(c: char) -> String {
    let what = match c {
        '\n' | '\r' => "a line break",
        '\t' => "a tab",
        '\u{1b}' => "a terminal escape",
        c if BIDI.contains(&c) => "a bidirectional override",
        _ => "a control character",
    };
    format!("{what} (U+{:04X})", u32::from(c))
}

/// `s` with every unsafe character written as a visible escape (`\n`, `\t`, `\u{1b}`), so
/// it prints as one line that shows what it holds. Borrows when there is nothing to escape.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The first line of `s`, made printable, with a marker when lines were left out: for a
/// table cell that holds a multi-line build failure summary.
pub fn one_line(s: &str) -> Cow<'_, str> {
    let mut lines = s.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or("");
    let more = lines.count();
    if more == 0 {
        return if first.len() == s.len() {
            printable(s)
        } else {
            Cow::Owned(printable(first.trim_end()).into_owned())
        };
    }
    Cow::Owned(format!(
        "{} (+{more} more line{})",
        printable(first.trim_end()),
        if more == 1 { "" } else { "s" }
    ))
}

/// A time as every screen shows it: in the train's zone, with the zone's abbreviation, e.g.
/// `Mon 2026-11-23 09:00 CET` (summaries, timelines, history, schedule and status alike).
pub fn when(t: chrono::DateTime<chrono::Utc>, zone: chrono_tz::Tz) -> String {
    t.with_timezone(&zone)
        .format("%a %Y-%m-%d %H:%M %Z")
        .to_string()
}

/// How long something has run, for a person: `45s`, `3m12s`, `2h05m`.
pub fn elapsed(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_as_it_is() {
        assert!(matches!(
            printable("fix: retry the checkout — naïve ✓"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn escapes_line_breaks_terminal_codes_and_bidi_overrides() {
        assert_eq!(
            printable("ok\nFAKE LINE: cancel\u{1b}[2J\u{202e}txt.exe"),
            "ok\\nFAKE LINE: cancel\\u{1b}[2J\\u{202e}txt.exe"
        );
        assert_eq!(printable("a\tb\rc\u{7f}"), "a\\tb\\rc\\u{7f}");
    }

    #[test]
    fn a_multi_line_summary_is_one_line_in_a_table() {
        assert_eq!(
            one_line("exit status 3; log x:\nline 1\nline 2"),
            "exit status 3; log x: (+2 more lines)"
        );
        assert_eq!(one_line("one\n"), "one");
        assert_eq!(one_line("a\u{1b}b"), "a\\u{1b}b");
    }

    #[test]
    fn names_say_what_the_character_is() {
        assert_eq!(name('\n'), "a line break (U+000A)");
        assert_eq!(name('\u{202e}'), "a bidirectional override (U+202E)");
        assert_eq!(name('\u{1b}'), "a terminal escape (U+001B)");
    }
}
