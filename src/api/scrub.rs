//! Keeping the API key and URL credentials out of every text the program prints.
//!
//! [`scrub`] is the one function that removes a secret from text. It runs where outside text
//! comes in (a reply body, before it is parsed or quoted), so every later cut — a quote limit,
//! a display cap — works on text that no longer holds the secret: cutting first could leave
//! the key's first half behind, which no later replace would recognise (issue 17).
//! [`display_url`] is how any URL is shown: scheme, host, port and path, never the userinfo,
//! query or fragment, even when the URL cannot be parsed.

use std::borrow::Cow;

use serde_json::Value;

/// What a secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// `text` with every occurrence of `secret` replaced by [`REDACTED`]. Borrows when there is
/// nothing to replace (the common case). An empty secret matches nothing.
pub fn scrub<'a>(text: &'a str, secret: &str) -> Cow<'a, str> {
    if secret.is_empty() || !text.contains(secret) {
        return Cow::Borrowed(text);
    }
    if secret.chars().count() >= WHOLE_WORD_BELOW {
        return Cow::Owned(text.replace(secret, REDACTED));
    }
    scrub_whole_words(text, secret)
}

/// A secret shorter than this is scrubbed only where it stands as a word of its own: a key
/// like "k" (a test key, a placeholder) would otherwise turn every "working" into
/// "wor<redacted>ing". Real keys are 64 characters and are scrubbed wherever they appear.
const WHOLE_WORD_BELOW: usize = 8;

fn scrub_whole_words<'a>(text: &'a str, secret: &str) -> Cow<'a, str> {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-');
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in text.match_indices(secret) {
        if at < copied {
            continue;
        }
        let end = at + secret.len();
        let before = text[..at].chars().next_back();
        let after = text[end..].chars().next();
        if !is_word(before) && !is_word(after) {
            out.push_str(&text[copied..at]);
            out.push_str(REDACTED);
            copied = end;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// A reply body with the secret gone from its raw text and from every string it decodes to.
/// JSON may spell the key with escapes (`\u0061…`, `\/`) that the raw text does not show, so
/// a body with escapes is decoded and its strings scrubbed too; the result is what the caller
/// parses and quotes from then on.
pub fn scrub_body<'a>(body: &'a str, secret: &str) -> Cow<'a, str> {
    let raw = scrub(body, secret);
    if secret.is_empty() || !raw.contains('\\') || !hides_when_decoded(&raw, secret) {
        return raw;
    }
    let Ok(mut value) = serde_json::from_str::<Value>(raw.trim()) else {
        return raw;
    };
    if !scrub_value(&mut value, secret) {
        return raw;
    }
    Cow::Owned(value.to_string())
}

/// Whether `secret` may be in `text` once its JSON escapes are read. Escapes are common in
/// real bodies (`\n` in a start-up script, `\/` in a URL), and parsing each such body a
/// second time to look was most of a list page's cost; this pass decodes the escapes in
/// place, so every string the body decodes to is a stretch of its result. An escape it cannot
/// read answers "maybe", and the parse decides.
fn hides_when_decoded(text: &str, secret: &str) -> bool {
    let mut decoded = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            decoded.push(c);
            continue;
        }
        let unescaped = match chars.next() {
            Some('u') => match unicode_escape(&mut chars) {
                Some(c) => c,
                None => return true,
            },
            Some(c) => match c {
                '"' | '\\' | '/' => c,
                'b' => '\u{8}',
                'f' => '\u{c}',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                _ => return true,
            },
            None => return true,
        };
        decoded.push(unescaped);
    }
    decoded.contains(secret)
}

/// The character of a `\uXXXX` escape whose `\u` was just read, with the low half of a
/// surrogate pair when it is one; `None` for what JSON does not allow.
fn unicode_escape(chars: &mut std::str::Chars<'_>) -> Option<char> {
    let high = hex4(chars)?;
    if !(0xD800..0xDC00).contains(&high) {
        return char::from_u32(high);
    }
    if chars.next() != Some('\\') || chars.next() != Some('u') {
        return None;
    }
    let low = hex4(chars)?;
    if !(0xDC00..0xE000).contains(&low) {
        return None;
    }
    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    (0..4).try_fold(0, |unit, _| Some(unit * 16 + chars.next()?.to_digit(16)?))
}

/// Scrubs every string (and object key) in `value`; `true` when anything changed.
pub fn scrub_value(value: &mut Value, secret: &str) -> bool {
    match value {
        Value::String(text) => match scrub(text, secret) {
            Cow::Owned(clean) => {
                *text = clean;
                true
            }
            Cow::Borrowed(_) => false,
        },
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, item| scrub_value(item, secret) | changed),
        Value::Object(map) => {
            let mut changed = false;
            let dirty: Vec<String> = map.keys().filter(|k| k.contains(secret)).cloned().collect();
            for key in dirty {
                if let Some(item) = map.remove(&key) {
                    map.insert(key.replace(secret, REDACTED), item);
                    changed = true;
                }
            }
            map.values_mut()
                .fold(changed, |changed, item| scrub_value(item, secret) | changed)
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// A URL as it may be printed: without userinfo (`user:pw@`), query (`?api_key=…`) and
/// fragment. Works on the raw text, so an address that does not parse (the very case an error
/// message quotes) is shown just as safely.
pub fn display_url(raw: &str) -> String {
    let raw = raw.trim();
    let raw = raw.split(['?', '#']).next().unwrap_or("");
    let (scheme, rest) = match raw.find("://") {
        Some(at) => raw.split_at(at + 3),
        None => ("", raw),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let mut shown = format!("{scheme}{host}{path}");
    if let Some((end, _)) = shown.char_indices().nth(DISPLAY_URL_LIMIT) {
        shown.truncate(end);
        shown.push('…');
    }
    shown
}

/// A URL longer than this many characters is shown cut: an address is for recognising, not for copying.
const DISPLAY_URL_LIMIT: usize = 200;

#[cfg(test)]
#[path = "scrub_tests.rs"]
mod tests;
