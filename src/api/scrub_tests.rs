//! The scrubber on its own, and the client's reply path with the key at every position a quote
//! or a cap could cut it.

use super::*;
use crate::api::body::Capped;
use crate::api::classify::CallSite;
use crate::api::client::answer;

const KEY: &str = "8f2c4e6a0b1d3f5e7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f";

const SITE: CallSite<'static> = CallSite {
    method: "PUT",
    path: "/api/v0/instances/request_logs/7/",
    key_source: "environment variable VAST_API_KEY",
};

/// No run of 6 characters of the key anywhere in `text`: a key cut in half is still a leak.
fn assert_no_key_piece(text: &str, context: &str) {
    for start in 0..=KEY.len() - 6 {
        let piece = &KEY[start..start + 6];
        assert!(
            !text.contains(piece),
            "{context}: key piece {piece:?} in {text:?}"
        );
    }
}

fn reply(body: String) -> Capped {
    Capped {
        bytes: body.into_bytes(),
        over: false,
    }
}

#[test]
fn scrub_replaces_every_occurrence_and_borrows_otherwise() {
    assert_eq!(scrub("a KEY b KEY", "KEY"), "a <redacted> b <redacted>");
    assert!(matches!(scrub("nothing here", "KEY"), Cow::Borrowed(_)));
    assert!(matches!(scrub("anything", ""), Cow::Borrowed(_)));
}

#[test]
fn a_key_spelled_with_json_escapes_is_found_in_the_decoded_strings() {
    let escaped: String = KEY
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    let body = format!(r#"{{"success":false,"msg":"Bearer {escaped}","{escaped}":1}}"#);
    let clean = scrub_body(&body, KEY);
    let value: Value = serde_json::from_str(&clean).unwrap();
    assert_eq!(value["msg"], "Bearer <redacted>");
    assert_eq!(value["<redacted>"], 1);
    assert_no_key_piece(&value.to_string(), "escaped");
}

#[test]
fn a_body_whose_escapes_hide_no_key_is_not_parsed_again() {
    let body = r#"{"instances":[{"onstart":"cd \/work\n./run.sh\t\"go\"","label":"caf\u00e9"}]}"#;
    assert!(matches!(scrub_body(body, KEY), Cow::Borrowed(_)));
    // An escaped backslash before "u0066" is a backslash and text, not an escape of 'f'.
    let body = format!(r#"{{"msg":"{}\\u0066{}"}}"#, &KEY[..1], &KEY[2..]);
    assert!(!hides_when_decoded(&body, KEY));
    let value: Value = serde_json::from_str(&body).unwrap();
    assert!(!value["msg"].as_str().unwrap().contains(KEY));
}

#[test]
fn every_escape_that_can_spell_the_key_is_decoded() {
    let upper: String = KEY
        .chars()
        .map(|c| format!("\\u{:04X}", c as u32))
        .collect();
    let one_char = format!("{}\\u0063{}", &KEY[..3], &KEY[4..]);
    for spelled in [upper, one_char] {
        let body = format!(r#"{{"msg":"Bearer {spelled}\n"}}"#);
        assert!(hides_when_decoded(&body, KEY), "{body}");
        let value: Value = serde_json::from_str(&scrub_body(&body, KEY)).unwrap();
        assert_eq!(value["msg"], "Bearer <redacted>\n");
    }
    let secret = "key/\"\t\u{1F600}é";
    let body = r#"{"msg":"key\/\"\t\ud83d\ude00\u00e9"}"#;
    assert!(hides_when_decoded(body, secret));
    assert_eq!(serde_json::from_str::<Value>(body).unwrap()["msg"], secret);
}

#[test]
fn an_escape_json_does_not_allow_is_left_to_the_parse() {
    for body in [
        r#""\x41""#,
        r#""\ud83d""#,
        r#""\ud83d\u0041""#,
        r#""\u12""#,
        "\"\\",
    ] {
        assert!(hides_when_decoded(body, KEY), "{body}");
    }
}

/// The property of issue 17: wherever a cut falls — before, inside or after the key — no part
/// of the key survives, on every path that quotes a reply (a refusal, a 5xx, a 429, plain
/// text, and request_logs' 200 without a `result_url`).
#[test]
fn no_cut_position_leaves_a_piece_of_the_key() {
    let base = url::Url::parse("http://127.0.0.1:9").unwrap();
    for offset in 0..260 {
        let pad = "x".repeat(offset);
        let echo = format!("{pad}Authorization: Bearer {KEY} end");
        let json_msg = serde_json::json!({ "success": false, "msg": echo }).to_string();
        let cases = [
            (400, json_msg.clone()),
            (503, json_msg.clone()),
            (429, echo.clone()),
            (500, echo.clone()),
            (200, echo.clone()),
        ];
        for (status, body) in cases {
            let err = answer(&SITE, status, None, &reply(body), KEY).unwrap_err();
            assert_no_key_piece(&err.to_string(), &format!("HTTP {status}, offset {offset}"));
        }
        let no_url = serde_json::json!({ "success": true, "msg": echo }).to_string();
        let value = answer(&SITE, 200, None, &reply(no_url), KEY).unwrap();
        let err = crate::api::logs::result_url(&value, &base, "PUT /p").unwrap_err();
        assert_no_key_piece(&err.to_string(), &format!("no result_url, offset {offset}"));
    }
}

#[test]
fn urls_are_shown_without_userinfo_query_or_fragment() {
    let cases = [
        (
            "http://user:pw@host:8080/api?api_key=SECRET#frag",
            "http://host:8080/api",
        ),
        (
            "https://console.vast.ai/?api_key=SECRET",
            "https://console.vast.ai/",
        ),
        ("not a url?api_key=SECRET", "not a url"),
        ("user:pw@host/path", "host/path"),
        ("ftp://a@b@host", "ftp://host"),
        ("  http://host/p  ", "http://host/p"),
    ];
    for (raw, shown) in cases {
        assert_eq!(display_url(raw), shown, "{raw}");
    }
    assert_eq!(
        display_url(&format!("http://h/{}", "é".repeat(300)))
            .chars()
            .count(),
        201
    );
}

#[test]
fn a_very_short_key_is_scrubbed_only_as_a_word_of_its_own() {
    assert_eq!(
        scrub("no working API; key=k, Bearer k", "k"),
        "no working API; key=<redacted>, Bearer <redacted>"
    );
    assert!(matches!(scrub("check the URL", "k"), Cow::Borrowed(_)));
    assert_eq!(scrub("k", "k"), "<redacted>");
    let long = "abcdefgh12";
    assert_eq!(scrub("xx abcdefgh12yy", long), "xx <redacted>yy");
}
