//! serde's type errors in the user's words (issue 14: `id = "1002"` said `invalid type: string
//! "1002", expected i64`). The key is read back from the text at the error's place, what it
//! must be is said in TOML's terms, and the example is the user's own value when it converts
//! (`id = "1002"` → `id = 1002`), else the key's line in examples/fleet.toml, the one place that
//! shows every key.

use regex::Regex;

const EXAMPLES: &str = include_str!("../../examples/fleet.toml");

/// What serde wanted, in the file's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Integer,
    Number,
    Text,
    Bool,
    List,
    Table,
}

impl Want {
    fn of(expected: &str) -> Option<Want> {
        Some(match expected {
            "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "isize"
            | "an integer" => Want::Integer,
            "f32" | "f64" | "a float" => Want::Number,
            "a string" => Want::Text,
            "a boolean" => Want::Bool,
            "a sequence" => Want::List,
            "a map" => Want::Table,
            other if other.starts_with("struct ") => Want::Table,
            _ => return None,
        })
    }
}

/// What the file held, as serde describes it: `string "x"`, ``integer `5` ``, …
#[derive(Debug, Clone, PartialEq)]
enum Found {
    Text(String),
    /// A number or boolean, as written.
    Bare(String),
    Other,
}

impl Found {
    fn of(found: &str) -> Found {
        if let Some(quoted) = found.strip_prefix("string ") {
            // serde writes it with Rust's escapes; the plain values worth converting have none.
            let inner = quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"'));
            return Found::Text(inner.unwrap_or(quoted).to_string());
        }
        match found.split('`').nth(1) {
            Some(bare) if !bare.is_empty() => Found::Bare(bare.to_string()),
            _ => Found::Other,
        }
    }
}

/// The message and help for serde's "invalid type: FOUND, expected WANT" at byte `at` of
/// `text`, or `None` when the message is of another kind (it is then shown as it came).
pub(super) fn explain(text: &str, at: usize, message: &str) -> Option<(String, String)> {
    let (found, expected) = message
        .strip_prefix("invalid type: ")?
        .rsplit_once(", expected ")?;
    let want = Want::of(expected)?;
    let key = key_at(text, at)?;
    let found = Found::of(found);
    let example = own_example(&key, want, &found).unwrap_or_else(|| file_example(&key, want));
    let what = match want {
        Want::Integer if key == "id" => "a number",
        Want::Integer => "a whole number",
        Want::Number => "a number",
        Want::Text if is_duration(&key) => "a duration in quotes",
        Want::Text => "text in quotes",
        Want::Bool => "true or false",
        Want::List => "a list",
        Want::Table => "a table",
    };
    let help = match (&found, want) {
        (Found::Text(_), Want::Integer | Want::Number) => "numbers are written without quotes",
        (Found::Text(_), Want::Bool) => "true and false are written without quotes",
        (Found::Bare(_), Want::Text) => "text goes in quotes: \"…\", or '…' for a regex",
        _ => "examples/fleet.toml shows every key with an example",
    };
    Some((
        format!("`{key}` must be {what}, like {example}"),
        help.into(),
    ))
}

/// The key whose value starts at byte `at`: the name before the last `=` on that line, after
/// any `{` or `,` of an inline table (`rate_limit = { burst = "4" }` → `burst`).
fn key_at(text: &str, at: usize) -> Option<String> {
    let before = text.get(..at)?;
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let (left, _) = line.rsplit_once('=')?;
    let name = left.rsplit(['{', ',']).next()?.trim();
    let name = name.rsplit('.').next()?.trim().trim_matches(['"', '\'']);
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    plain.then(|| name.to_string())
}

/// The user's value made right, when it converts: `"1002"` for a number, `5` for a duration.
fn own_example(key: &str, want: Want, found: &Found) -> Option<String> {
    let value = match (want, found) {
        (Want::Integer, Found::Text(s)) => s.trim().parse::<i64>().ok()?.to_string(),
        (Want::Integer, Found::Bare(s)) => {
            let n = s.parse::<f64>().ok().filter(|n| n.fract() == 0.0)?;
            format!("{n:.0}")
        }
        (Want::Number, Found::Text(s)) => {
            let n = s.trim().parse::<f64>().ok().filter(|n| n.is_finite())?;
            s.trim()
                .parse::<i64>()
                .map_or(n.to_string(), |i| i.to_string())
        }
        (Want::Bool, Found::Text(s)) if matches!(s.trim(), "true" | "false") => {
            s.trim().to_string()
        }
        (Want::Text, Found::Bare(s)) if is_duration(key) => {
            s.parse::<u64>().ok()?;
            format!("\"{s}s\"")
        }
        (Want::Text, Found::Bare(s)) => format!("\"{s}\""),
        _ => return None,
    };
    Some(format!("{key} = {value}"))
}

/// `key = value` as examples/fleet.toml writes it (also in a comment or an inline table), else
/// a value of the wanted kind.
fn file_example(key: &str, want: Want) -> String {
    match example_value(key) {
        Some(value) => format!("{key} = {value}"),
        None => {
            let value = match want {
                Want::Integer => "1",
                Want::Number => "1.5",
                Want::Text => "\"…\"",
                Want::Bool => "true",
                Want::List => "[\"…\"]",
                Want::Table => "{ … }",
            };
            format!("{key} = {value}")
        }
    }
}

fn example_value(key: &str) -> Option<&'static str> {
    // Built per key (errors are rare): one pattern for all keys would consume an inline
    // table's value whole and never see the keys inside it.
    let pattern = format!(
        r#"(?m)(?:^#?[ \t]*|[{{,][ \t]*){}[ \t]*=[ \t]*("[^"\n]*"|'[^'\n]*'|\[[^\]\n]*\]|\{{[^}}\n]*\}}|[^\s,}}#]+)"#,
        regex::escape(key)
    );
    let pairs = Regex::new(&pattern).ok()?;
    let value = pairs.captures(EXAMPLES)?.get(1)?;
    Some(value.as_str())
}

/// A key whose example is a duration ("5s", "20m").
fn is_duration(key: &str) -> bool {
    example_value(key)
        .and_then(|v| v.strip_prefix('"')?.strip_suffix('"'))
        .is_some_and(|v| humantime::parse_duration(v).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_back_from_the_text() {
        let text = "id = \"1\"\nrate_limit = { per_second = 2, burst = \"4\" }\n\"for\" = 1\n";
        assert_eq!(key_at(text, 5).as_deref(), Some("id"));
        let burst = text.find("\"4\"").unwrap();
        assert_eq!(key_at(text, burst).as_deref(), Some("burst"));
        let quoted = text.rfind('1').unwrap();
        assert_eq!(key_at(text, quoted).as_deref(), Some("for"));
        assert_eq!(key_at("[[instance]]", 3), None);
    }

    #[test]
    fn examples_come_from_the_example_file() {
        assert_eq!(example_value("interval"), Some("\"5s\""));
        assert_eq!(example_value("burst"), Some("4"));
        assert_eq!(example_value("for"), Some("\"20m\""));
        assert_eq!(example_value("max_dph"), Some("20.0"));
        assert!(is_duration("max_runtime") && !is_duration("label"));
    }

    #[test]
    fn other_serde_messages_are_left_alone() {
        assert_eq!(explain("a = 1", 4, "missing field `id`"), None);
        assert_eq!(
            explain("a = 1", 4, "invalid type: integer `1`, expected enum X"),
            None
        );
    }
}
