//! The Prometheus text exposition format 0.0.4, written by hand: a family header (HELP and
//! TYPE, once) followed by its samples, with label values and help text escaped as the format
//! demands. Pulling in a metrics crate for a dozen families would cost more than this file.

use std::borrow::Cow;
use std::fmt::Write as _;

/// The `Content-Type` a scraper expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The kind written on a family's TYPE line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Accumulates one scrape's worth of text.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    pub fn new() -> Self {
        Exposition::default()
    }

    /// Starts a family. Each family is written once, with all its samples right after, because
    /// the format forbids a family's samples from being split around another family.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> Family<'_> {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
        Family {
            out: &mut self.out,
            name: name.to_owned(),
        }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Writes the samples of the family just started.
pub struct Family<'a> {
    out: &'a mut String,
    name: String,
}

impl Family<'_> {
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        self.suffixed("", labels, value);
    }

    /// A sample of the family under `name` + `suffix`: a histogram's `_bucket`, `_sum`, `_count`.
    pub fn suffixed(&mut self, suffix: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(&self.name);
        self.out.push_str(suffix);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (name, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{name}=\"{}\"", escape_label_value(value));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(&format_value(value));
        self.out.push('\n');
    }
}

/// Label values escape backslash, double quote and line feed; nothing else.
pub fn escape_label_value(value: &str) -> Cow<'_, str> {
    escape(value, true)
}

/// HELP text escapes backslash and line feed, but not quotes.
pub fn escape_help(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

fn escape(text: &str, quotes: bool) -> Cow<'_, str> {
    let needs = |c: char| c == '\\' || c == '\n' || (quotes && c == '"');
    if !text.contains(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Go's `ParseFloat` reads Rust's shortest round-trip `Display` output, except for the special
/// values, which the format spells its own way.
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_newline_only() {
        let cases = [
            ("plain", "plain"),
            (r"C:\path", r"C:\\path"),
            (r#"say "hi""#, r#"say \"hi\""#),
            ("two\nlines", r"two\nlines"),
            ("tab\tand ünïcode", "tab\tand ünïcode"),
            ("\\\"\n", r#"\\\"\n"#),
        ];
        for (raw, escaped) in cases {
            assert_eq!(escape_label_value(raw), escaped, "escaping {raw:?}");
        }
    }

    #[test]
    fn help_text_keeps_quotes() {
        assert_eq!(escape_help("a \"b\" \\ c\nd"), r#"a "b" \\ c\nd"#);
    }

    #[test]
    fn values_use_the_formats_spelling() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(0.4), "0.4");
        assert_eq!(format_value(-1.5), "-1.5");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn a_family_is_headed_once_and_labels_are_quoted() {
        let mut text = Exposition::new();
        let mut family = text.family("x_total", Kind::Counter, "Things.\nMore.");
        family.sample(&[("a", "1"), ("b", "q\"")], 2.0);
        family.sample(&[], 0.5);
        let mut gauge = text.family("y", Kind::Gauge, "A gauge.");
        gauge.sample(&[("k", "v")], 1.0);
        assert_eq!(
            text.finish(),
            "# HELP x_total Things.\\nMore.\n# TYPE x_total counter\n\
             x_total{a=\"1\",b=\"q\\\"\"} 2\nx_total 0.5\n\
             # HELP y A gauge.\n# TYPE y gauge\ny{k=\"v\"} 1\n"
        );
    }
}
