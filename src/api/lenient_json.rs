//! JSON as servers really write it. Python's `json.dumps` writes `NaN`, `Infinity` and
//! `-Infinity` (not JSON), and a number like `1e999` overflows `f64`; serde refuses either, which
//! failed the whole list page, and with it the status of every instance of the fleet, over one
//! field of one row (issue 17). Such a number is read as `null`, so the lenient models see a
//! missing field and the rest of the reply is used.

use std::borrow::Cow;

use serde_json::Value;

/// `text` as JSON, with non-finite numbers read as `null`; `None` when it is not JSON even so.
pub fn parse(text: &str) -> Option<Value> {
    match serde_json::from_str(text) {
        Ok(value) => Some(value),
        // Only a reply that failed pays for the second pass.
        Err(_) => match without_non_finite(text) {
            Cow::Owned(tamed) => serde_json::from_str(&tamed).ok(),
            Cow::Borrowed(_) => None,
        },
    }
}

/// `text` with every non-finite number outside strings replaced by `null`.
fn without_non_finite(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if byte == b'"' {
            at = string_end(bytes, at);
            continue;
        }
        let starts_number = byte == b'-' || byte == b'+' || byte.is_ascii_alphanumeric();
        if !starts_number {
            at += 1;
            continue;
        }
        let end = token_end(bytes, at);
        let token = &text[at..end];
        if is_non_finite(token) {
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied..at]);
            out.push_str("null");
            copied = end;
        }
        at = end;
    }
    match out {
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(text),
    }
}

/// The index just past the string that opens at `open` (or the end of the text).
fn string_end(bytes: &[u8], open: usize) -> usize {
    let mut at = open + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// The end of a bare token (a number, `true`, `NaN`, …) starting at `start`.
fn token_end(bytes: &[u8], start: usize) -> usize {
    let mut at = start + 1;
    while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || b"+-.".contains(&bytes[at])) {
        at += 1;
    }
    at
}

fn is_non_finite(token: &str) -> bool {
    let unsigned = token.trim_start_matches(['-', '+']);
    match unsigned {
        "NaN" | "Infinity" | "inf" | "nan" => true,
        _ if unsigned.starts_with(|c: char| c.is_ascii_digit()) => {
            token.parse::<f64>().is_ok_and(|number| !number.is_finite())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_non_finite_numbers_and_overflows_read_as_null() {
        let text = r#"{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1e999, "e": -2E+400,
                       "f": 1.5, "g": "NaN and 1e999 inside a string", "h": [true, null, 7]}"#;
        assert_eq!(
            parse(text),
            Some(
                json!({"a": null, "b": null, "c": null, "d": null, "e": null, "f": 1.5,
                        "g": "NaN and 1e999 inside a string", "h": [true, null, 7]})
            )
        );
    }

    #[test]
    fn escaped_quotes_do_not_end_a_string_early() {
        let text = r#"{"msg": "say \"NaN\" \\", "x": NaN}"#;
        assert_eq!(
            parse(text),
            Some(json!({"msg": "say \"NaN\" \\", "x": null}))
        );
    }

    #[test]
    fn what_is_not_json_stays_refused() {
        assert_eq!(parse("<html>404</html>"), None);
        assert_eq!(parse(r#"{"a": NaN"#), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn valid_json_is_parsed_in_one_pass_unchanged() {
        let text = r#"{"id": 1, "dph_total": 0.25, "label": "Infinity"}"#;
        assert!(matches!(without_non_finite(text), Cow::Borrowed(_)));
        assert_eq!(
            parse(text),
            Some(json!({"id": 1, "dph_total": 0.25, "label": "Infinity"}))
        );
    }
}
