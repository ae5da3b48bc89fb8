//! Making text from the outside world (container logs, host messages, API error bodies) safe to
//! print on a terminal line of the human stream.
//!
//! Decision: escape sequences and control characters are stripped **always**, with colour on
//! or off. A container's own ANSI codes would reset our colours and break the column layout;
//! cursor moves and clear-screen would garble the lines of every other instance; and OSC
//! sequences (window title, clipboard, hyperlinks) let whatever runs in a rented container
//! write to the user's terminal, which is a terminal-injection hole. The JSON stream keeps
//! lines raw instead: JSON escapes every control character, so it cannot do harm there and a
//! machine reader gets the exact bytes.

use std::borrow::Cow;
use std::iter::Peekable;
use std::str::Chars;

const ESC: char = '\u{1b}';
const BEL: char = '\u{7}';
/// The 8-bit forms of CSI and of the string introducers (DCS, SOS, OSC, PM, APC) and ST.
const C1_CSI: char = '\u{9b}';
const C1_STRINGS: [char; 5] = ['\u{90}', '\u{98}', '\u{9d}', '\u{9e}', '\u{9f}'];
const C1_ST: char = '\u{9c}';

/// One printable line: the trailing newline removed, a carriage-return overwrite resolved to
/// what a terminal would end up showing (the last non-empty segment, as progress bars write
/// `10%\r20%\r30%`), then every escape sequence and every control character but tab dropped.
/// Borrows when there is nothing to change, which is the common case.
pub fn clean_line(line: &str) -> Cow<'_, str> {
    let line = without_line_end(line)
        .rsplit('\r')
        .find(|segment| !segment.is_empty())
        .unwrap_or("");
    if !line.chars().any(is_unwanted) {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ESC => skip_escape(&mut chars),
            C1_CSI => skip_csi(&mut chars),
            c if C1_STRINGS.contains(&c) => skip_string(&mut chars),
            c if is_unwanted(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The most characters of a label shown in the prefix (and carried in events): a label from the
/// API can be megabytes, and the prefix of every line is padded to the widest one.
pub const LABEL_CAP: usize = 64;

/// The most characters of a log line the human stream prints; `--json` has the whole line (up
/// to the reader's 1 MiB cap), and completion/failure patterns see all of it.
pub const LOG_LINE_CAP: usize = 16 * 1024;

/// The most characters of any other message the human stream prints (a host's status message,
/// an error quoted from a reply).
pub const MESSAGE_CAP: usize = 1024;

/// `text` cut to `max` characters, saying how many more there were.
pub fn capped(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((end, _)) => {
            let more = text[end..].chars().count();
            Cow::Owned(format!("{}… [{more} more characters]", &text[..end]))
        }
    }
}

/// The line without its line end (`\n`, `\r\n` or a lone `\r`).
pub(crate) fn without_line_end(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

fn is_unwanted(c: char) -> bool {
    (c.is_control() && c != '\t') || is_bidi_control(c)
}

/// The bidirectional overrides, embeddings, isolates and marks: a line holding U+202E prints
/// the rest of itself (and can make a label or a number read) backwards (the "Trojan Source"
/// trick), so the human stream drops them.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}'
    )
}

/// A label cut to [`LABEL_CAP`] characters, with `…` where it was cut.
pub fn short_label(label: &str) -> String {
    super::words::truncate(label, LABEL_CAP)
}

/// Skips what follows an ESC, per ECMA-48: CSI, the string commands, or a short sequence of
/// intermediates and one final byte (`ESC ( B`, `ESC 7`, …).
fn skip_escape(chars: &mut Peekable<Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        Some(']' | 'P' | 'X' | '^' | '_') => skip_string(chars),
        Some('\u{20}'..='\u{2f}') => {
            while chars
                .next_if(|c| matches!(c, '\u{20}'..='\u{2f}'))
                .is_some()
            {}
            chars.next_if(|c| matches!(c, '\u{30}'..='\u{7e}'));
        }
        // A two-character escape (or a lone ESC at the end): already consumed.
        _ => {}
    }
}

/// Parameters and intermediates (0x20–0x3F) up to one final byte (0x40–0x7E).
fn skip_csi(chars: &mut Peekable<Chars<'_>>) {
    while chars
        .next_if(|c| matches!(c, '\u{20}'..='\u{3f}'))
        .is_some()
    {}
    chars.next_if(|c| matches!(c, '\u{40}'..='\u{7e}'));
}

/// A control string ends with BEL (the xterm habit), ST as `ESC \`, or the 8-bit ST. An
/// unterminated one swallows the rest of the line, as a terminal would.
fn skip_string(chars: &mut Peekable<Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            BEL | C1_ST => return,
            ESC => {
                chars.next_if_eq(&'\\');
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let line = "epoch 3/10 loss=0.42\twith a tab — ünïcödé";
        assert!(matches!(clean_line(line), Cow::Borrowed(l) if l == line));
    }

    #[test]
    fn strips_escape_sequences_and_controls() {
        let cases = [
            ("\u{1b}[31;1mred\u{1b}[0m text", "red text"),
            ("\u{1b}[2J\u{1b}[Hcleared", "cleared"),
            ("\u{1b}]0;pwned title\u{7}after", "after"),
            (
                "\u{1b}]8;;https://x.io\u{1b}\\link\u{1b}]8;;\u{1b}\\",
                "link",
            ),
            ("\u{1b}Pdevice control\u{1b}\\ok", "ok"),
            ("\u{1b}(Bcharset\u{1b}7saved", "charsetsaved"),
            ("\u{9b}32mc1 csi", "c1 csi"),
            ("\u{9d}c1 osc\u{9c}done", "done"),
            ("bell\u{7} and\u{8} backspace\u{7f}", "bell and backspace"),
            ("unterminated \u{1b}[12", "unterminated "),
            ("unterminated osc \u{1b}]0;title", "unterminated osc "),
            ("lone esc at end\u{1b}", "lone esc at end"),
        ];
        for (raw, want) in cases {
            assert_eq!(clean_line(raw), want, "input {raw:?}");
        }
    }

    #[test]
    fn bidi_controls_are_dropped() {
        assert_eq!(
            clean_line("file\u{202e}txt.exe \u{2066}a\u{2069} \u{200f}b"),
            "filetxt.exe a b"
        );
    }

    #[test]
    fn long_labels_are_cut_to_the_cap() {
        let long = "x".repeat(LABEL_CAP + 10);
        let short = short_label(&long);
        assert_eq!(short.chars().count(), LABEL_CAP);
        assert!(short.ends_with('…'));
        assert_eq!(short_label(&"y".repeat(LABEL_CAP)), "y".repeat(LABEL_CAP));
    }

    #[test]
    fn capped_text_says_how_much_was_left_out() {
        assert!(matches!(capped("short", 5), Cow::Borrowed("short")));
        assert_eq!(capped("ünïcödé", 3), "ünï… [4 more characters]");
    }

    #[test]
    fn resolves_carriage_return_overwrites_and_line_ends() {
        let cases = [
            ("10%\r20%\r30%", "30%"),
            ("\rprogress 50%", "progress 50%"),
            ("windows line\r\n", "windows line"),
            ("unix line\n", "unix line"),
            ("done\r\r", "done"),
            ("\r", ""),
            ("", ""),
        ];
        for (raw, want) in cases {
            assert_eq!(clean_line(raw), want, "input {raw:?}");
        }
    }
}
