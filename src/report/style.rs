//! The look of the human stream: whether to colour at all, each instance's stable colour, the
//! status glyphs, and painting regex matches in a log line.

use std::fmt::Write as _;
use std::io::IsTerminal;

use anstyle::{AnsiColor, Style};
use regex::Regex;

use crate::status::{Status, UNSEEN_GLYPH};

/// `--color`: when the human output is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless the environment says otherwise.
    #[default]
    Auto,
    Always,
    Never,
}

/// The colour decision, the way the tools people trust make it: a flag wins; then
/// `NO_COLOR` (any non-empty value, <https://no-color.org>) turns colour off, `CLICOLOR_FORCE`
/// (non-empty, not `0`) turns it on even into a pipe, `CLICOLOR=0` turns it off
/// (<https://bixense.com/clicolors/>); otherwise colour exactly when stdout is a terminal.
pub fn color_choice(
    when: ColorWhen,
    stdout_is_terminal: bool,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> bool {
    let set = |name: &str| env(name).filter(|value| !value.is_empty());
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto if set("NO_COLOR").is_some() => false,
        ColorWhen::Auto if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") => true,
        ColorWhen::Auto if set("CLICOLOR").is_some_and(|v| v == "0") => false,
        ColorWhen::Auto => stdout_is_terminal,
    }
}

/// [`color_choice`] for this process's stdout and environment.
pub fn detect_color(when: ColorWhen) -> bool {
    color_choice(when, std::io::stdout().is_terminal(), |name| {
        std::env::var_os(name)
    })
}

/// Instance colours. Red is left out: it means "error" in this stream.
const PALETTE: [AnsiColor; 10] = [
    AnsiColor::Green,
    AnsiColor::Yellow,
    AnsiColor::Blue,
    AnsiColor::Magenta,
    AnsiColor::Cyan,
    AnsiColor::BrightGreen,
    AnsiColor::BrightYellow,
    AnsiColor::BrightBlue,
    AnsiColor::BrightMagenta,
    AnsiColor::BrightCyan,
];

/// The colour of a label: a fixed hash of its text, so an instance keeps its colour across
/// runs and across reloads (std's `RandomState` is seeded per process, so it cannot serve).
pub fn label_color(label: &str) -> AnsiColor {
    // The modulus is < PALETTE.len(), so the cast back to usize cannot truncate.
    PALETTE[(fnv1a64(label.as_bytes()) % PALETTE.len() as u64) as usize]
}

/// 64-bit FNV-1a.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// The glyph shown before a label for its last known status (`None`: not seen yet).
pub fn status_glyph(status: Option<&Status>) -> &'static str {
    status.map_or(UNSEEN_GLYPH, Status::glyph)
}

/// The line with every match of any of `patterns` painted in `mark`, the rest in `base`.
/// Overlapping matches merge, so a character is painted once.
pub(crate) fn highlight(line: &str, patterns: &[Regex], base: Style, mark: Style) -> String {
    let mut spans: Vec<(usize, usize)> = patterns
        .iter()
        .flat_map(|re| re.find_iter(line))
        .filter(|m| !m.is_empty())
        .map(|m| (m.start(), m.end()))
        .collect();
    spans.sort_unstable();
    let mut out = String::with_capacity(line.len() + 16 * spans.len());
    let mut done = 0;
    for (start, end) in spans {
        if end <= done {
            continue;
        }
        let start = start.max(done);
        paint_into(&mut out, base, &line[done..start]);
        paint_into(&mut out, mark, &line[start..end]);
        done = end;
    }
    paint_into(&mut out, base, &line[done..]);
    out
}

/// `text` wrapped in `style` and its reset; plain styles and empty text add nothing.
pub(crate) fn paint_into(out: &mut String, style: Style, text: &str) {
    if text.is_empty() {
        return;
    }
    // Writing into a String cannot fail.
    let _ = write!(out, "{style}{text}{style:#}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_decision() {
        use ColorWhen::{Always, Auto, Never};
        type Env = &'static [(&'static str, &'static str)];
        let cases: [(ColorWhen, bool, Env, bool); 14] = [
            (Auto, true, &[], true),
            (Auto, false, &[], false),
            (Auto, true, &[("NO_COLOR", "")], true),
            (Auto, true, &[("NO_COLOR", "1")], false),
            (Auto, true, &[("NO_COLOR", "0")], false),
            (Auto, false, &[("CLICOLOR_FORCE", "1")], true),
            (Auto, false, &[("CLICOLOR_FORCE", "0")], false),
            (Auto, false, &[("CLICOLOR_FORCE", "")], false),
            (
                Auto,
                false,
                &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
                false,
            ),
            (Auto, true, &[("CLICOLOR", "0")], false),
            (Auto, true, &[("CLICOLOR", "1")], true),
            (Auto, false, &[("CLICOLOR", "1")], false),
            (Always, false, &[("NO_COLOR", "1")], true),
            (Never, true, &[("CLICOLOR_FORCE", "1")], false),
        ];
        for (when, terminal, env, want) in cases {
            let lookup = |name: &str| {
                env.iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| std::ffi::OsString::from(value))
            };
            assert_eq!(
                color_choice(when, terminal, lookup),
                want,
                "{when:?} terminal={terminal} {env:?}"
            );
        }
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn label_colour_is_a_function_of_the_label() {
        let labels = ["gpu-a", "gpu-b", "trainer-01", "12345", ""];
        for label in labels {
            let expected = PALETTE[(fnv1a64(label.as_bytes()) % 10) as usize];
            assert_eq!(label_color(label), expected, "{label}");
        }
        let distinct: std::collections::HashSet<_> =
            (0..40).map(|i| label_color(&format!("node-{i}"))).collect();
        assert!(distinct.len() > 5, "labels spread over the palette");
    }

    #[test]
    fn glyphs_by_status() {
        let cases = [
            (Some("running"), "🔄"),
            (Some("stopped"), "💤"),
            (Some("exited"), "🏁"),
            (Some("frozen"), "🧊"),
            (Some("loading"), "⏳"),
            (Some("created"), "⏳"),
            (Some("provisioning"), "⏳"),
            (Some("scheduling"), "⏳"),
            (Some("gone"), "✖ "),
            (Some("unknown"), "🔌"),
            (Some("offline"), "🔌"),
            (Some("something new"), "❓"),
            (None, "❓"),
        ];
        for (status, glyph) in cases {
            assert_eq!(
                status_glyph(status.map(Status::parse).as_ref()),
                glyph,
                "{status:?}"
            );
        }
    }

    #[test]
    fn highlight_paints_merged_matches() {
        let mark = Style::new().bold();
        let patterns = [
            Regex::new("loss=[0-9.]+").unwrap(),
            Regex::new("0.4").unwrap(),
        ];
        let out = highlight("step 3 loss=0.42 ok", &patterns, Style::new(), mark);
        assert_eq!(out, "step 3 \u{1b}[1mloss=0.42\u{1b}[0m ok");
    }

    #[test]
    fn highlight_restores_the_base_style_after_each_match() {
        let base = Style::new().dimmed();
        let mark = Style::new().bold();
        let patterns = [Regex::new("b").unwrap(), Regex::new("x*").unwrap()];
        let out = highlight("abc", &patterns, base, mark);
        assert_eq!(
            out,
            "\u{1b}[2ma\u{1b}[0m\u{1b}[1mb\u{1b}[0m\u{1b}[2mc\u{1b}[0m"
        );
    }
}
