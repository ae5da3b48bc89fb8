//! Turning one HTTP exchange (status, `Retry-After`, body) or one transport failure into the
//! caller's decision: a JSON value to read, or an [`ApiError`] of the right class.
//!
//! The API's status codes are not reliable on their own (a bad key often comes back as 404, some
//! failures as 200 with `success: false`), so the body's `error` code is read first. Everything
//! here is pure: the clock is passed in, nothing is sent.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::Value;

use super::lenient_json;
use super::models::Reply;
use super::ApiError;

/// Bodies quoted in messages are cut to about this many characters.
const QUOTE_LIMIT: usize = 200;

/// What an error message may say about the call: the method and the path without its query (a
/// query can hold tokens), and where the key came from. Never the key, never a full URL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallSite<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub key_source: &'a str,
}

impl fmt::Display for CallSite<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// Classifies a response whose body should be JSON. `Ok` holds the parsed body of a success.
pub(crate) fn classify(
    site: &CallSite<'_>,
    status: u16,
    retry_after: Option<&str>,
    body: &str,
    now: SystemTime,
) -> Result<Value, ApiError> {
    let json: Option<Value> = lenient_json::parse(body.trim());
    let reply = json
        .as_ref()
        .filter(|v| v.is_object())
        .and_then(|v| Reply::deserialize(v).ok())
        .unwrap_or_default();
    let code = reply.error.as_deref().unwrap_or("");
    let text = || reply.text().map(quote).unwrap_or_else(|| summarize(body));

    if code == "auth_error" {
        return Err(unauthorized(site, status, reply.text()));
    }
    if status == 429 || code == "rate_limit_exceeded" {
        let message = reply
            .text()
            .map(quote)
            .or_else(|| (json.is_none() && !looks_like_html(body)).then(|| quote(body)))
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "API requests too frequent".to_owned());
        // The header first; a JSON body's `retry_after` (seconds) when it is missing
        // (vast-api.md §6). The throttle caps whatever comes out here.
        let retry_after = retry_after
            .and_then(|v| parse_retry_after(v, now))
            .or_else(|| json.as_ref().and_then(|v| body_retry_after(v, now)));
        return Err(ApiError::RateLimited {
            retry_after,
            message,
        });
    }
    match status {
        200..=299 => match json {
            None => Err(ApiError::Transient(format!(
                "{site}: HTTP {status} with {} instead of JSON",
                summarize(body)
            ))),
            Some(_) if reply.success == Some(false) => Err(refusal(site, status, code, text())),
            Some(value) => Ok(value),
        },
        401 | 403 => Err(unauthorized(site, status, reply.text())),
        404 => Err(not_found(site, code, reply.text(), body)),
        410 => Err(ApiError::Other {
            status: Some(410),
            message: format!(
                "{site}: the API has retired this endpoint (410 Gone); a newer vastfleet is needed: {}",
                text()
            ),
        }),
        408 | 500..=599 => Err(ApiError::Transient(format!(
            "{site}: HTTP {status}{}: {}",
            reason(status),
            text()
        ))),
        _ => Err(ApiError::Other {
            status: Some(status),
            message: format!("{site}: {}", text()),
        }),
    }
}

/// A 2xx with `success: false`: the class comes from its `error` code.
fn refusal(site: &CallSite<'_>, status: u16, code: &str, text: String) -> ApiError {
    match code {
        "no_such_instance" | "invalid_id" => ApiError::NotFound(format!("{site}: {text}")),
        // The logs are still being prepared: asking again shortly is the whole fix.
        "not_ready" => ApiError::Transient(format!("{site}: not ready yet: {text}")),
        "not_running" => ApiError::Other {
            status: Some(status),
            message: format!("{site}: the instance is not running: {text}"),
        },
        _ => ApiError::Other {
            status: Some(status),
            message: format!("{site}: {text}"),
        },
    }
}

/// A 404 is proof that the instance is gone only in the API's own words: `no_such_instance`
/// or `invalid_id`. Anything else — a proxy's HTML page, a 404 without an error code — says
/// nothing about the instance, and taking it as "gone" would write off one that keeps billing,
/// so it is worth retrying. An expired session is the key's problem.
fn not_found(site: &CallSite<'_>, code: &str, text: Option<&str>, body: &str) -> ApiError {
    let shown = || text.map(quote).unwrap_or_else(|| summarize(body));
    match code {
        "no_such_instance" | "invalid_id" => ApiError::NotFound(format!("{site}: {}", shown())),
        _ if text.is_some_and(|t| t.to_ascii_lowercase().contains("session expired")) => {
            unauthorized(site, 404, text)
        }
        _ => ApiError::Transient(format!(
            "{site}: HTTP 404 without the API's own error code ({}), not taken as proof the \
             instance is gone",
            shown()
        )),
    }
}

fn unauthorized(site: &CallSite<'_>, status: u16, text: Option<&str>) -> ApiError {
    ApiError::Unauthorized {
        key_source: site.key_source.to_owned(),
        message: format!(
            "{site}: HTTP {status}: {}",
            text.map(quote)
                .unwrap_or_else(|| "invalid or insufficient API key".to_owned())
        ),
    }
}

/// A request that got no (complete) response. The error's own `Display` names the URL with its
/// query, so only its kind and its innermost cause are used.
pub(crate) fn transport_error(site: &CallSite<'_>, err: reqwest::Error) -> ApiError {
    let err = err.without_url();
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "failed reading the response"
    } else if err.is_builder() {
        return ApiError::Other {
            status: None,
            message: format!("{site}: could not build the request"),
        };
    } else {
        "request failed"
    };
    ApiError::Transient(format!("{site}: {what} ({})", root_cause(&err)))
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    quote(&cause.to_string())
}

/// `Retry-After` as delta-seconds or as an HTTP date (RFC 9110 §10.2.3). A date in the past
/// means "now"; anything unreadable is ignored, since the header is optional anyway. A number
/// too large for a `Duration` saturates (the throttle caps it) instead of being dropped.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(value.parse().map_or(Duration::MAX, Duration::from_secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return seconds(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A JSON body's `retry_after`: seconds as a number, or a string read like the header.
fn body_retry_after(body: &Value, now: SystemTime) -> Option<Duration> {
    match body.get("retry_after")? {
        Value::Number(n) => seconds(n.as_f64()?),
        Value::String(s) => parse_retry_after(s, now),
        _ => None,
    }
}

/// Non-negative seconds as a wait, saturating; negative or not a number is no wait at all.
fn seconds(secs: f64) -> Option<Duration> {
    (secs >= 0.0).then(|| Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

fn reason(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default()
}

fn looks_like_html(body: &str) -> bool {
    body.trim_start().starts_with('<')
}

/// A short description of a body for a message: its text, or what kind of thing it was.
fn summarize(body: &str) -> String {
    if body.trim().is_empty() {
        "an empty body".to_owned()
    } else if looks_like_html(body) {
        "an HTML page".to_owned()
    } else {
        quote(body)
    }
}

/// One line of at most [`QUOTE_LIMIT`] characters.
pub(crate) fn quote(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SITE: CallSite<'static> = CallSite {
        method: "GET",
        path: "/api/v0/instances/7/",
        key_source: "environment variable VAST_API_KEY",
    };

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn run(status: u16, retry_after: Option<&str>, body: &str) -> Result<Value, ApiError> {
        classify(&SITE, status, retry_after, body, now())
    }

    /// The class of an outcome, for the table.
    fn class(r: &Result<Value, ApiError>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(ApiError::RateLimited { .. }) => "rate_limited",
            Err(ApiError::Transient(_)) => "transient",
            Err(ApiError::NotFound(_)) => "not_found",
            Err(ApiError::Unauthorized { .. }) => "unauthorized",
            Err(ApiError::Other { .. }) => "other",
        }
    }

    #[test]
    fn each_response_gets_its_class() {
        let auth = r#"{"success":false,"error":"auth_error","msg":"Invalid user key"}"#;
        let table: &[(u16, &str, &str)] = &[
            (200, r#"{"success":true}"#, "ok"),
            (200, r#"{"instances":null}"#, "ok"),
            (
                200,
                r#"{"success":false,"error":"not_ready","msg":"wait"}"#,
                "transient",
            ),
            (200, r#"{"success":false,"error":"not_running"}"#, "other"),
            (
                200,
                r#"{"success":false,"error":"no_such_instance"}"#,
                "not_found",
            ),
            (200, r#"{"success":false,"msg":"nope"}"#, "other"),
            (200, auth, "unauthorized"),
            (200, "<html>maintenance</html>", "transient"),
            (200, r#"{"success": tru"#, "transient"),
            (200, "", "transient"),
            (401, auth, "unauthorized"),
            (401, "Please log in", "unauthorized"),
            (403, r#"{"error":"not_authorized"}"#, "unauthorized"),
            (404, auth, "unauthorized"),
            (
                404,
                r#"{"error":"no_such_instance","msg":"Instance 7 not found."}"#,
                "not_found",
            ),
            (404, "<html><body>404 Not Found</body></html>", "transient"),
            (404, r#"{"msg":"Not found"}"#, "transient"),
            (404, "", "transient"),
            (404, r#"{"error":"not_found","msg":"nope"}"#, "transient"),
            (
                404,
                r#"{"success":false,"msg":"Session expired. Please log in again."}"#,
                "unauthorized",
            ),
            (
                404,
                r#"{"error":"invalid_id","msg":"Invalid instance id."}"#,
                "not_found",
            ),
            (400, r#"{"error":"invalid_args","msg":"bad"}"#, "other"),
            (
                400,
                r#"{"error":"rate_limit_exceeded","msg":"slow down"}"#,
                "rate_limited",
            ),
            (410, r#"{"error":"deprecated_endpoint"}"#, "other"),
            (429, "API requests too frequent", "rate_limited"),
            (
                429,
                r#"{"detail":"API requests too frequent endpoint threshold=2.0"}"#,
                "rate_limited",
            ),
            (500, "oops", "transient"),
            (502, "<html><body>Bad Gateway</body></html>", "transient"),
            (503, "", "transient"),
            (504, r#"{"msg":"timeout"}"#, "transient"),
            (418, "teapot", "other"),
        ];
        for (status, body, want) in table {
            let got = run(*status, None, body);
            assert_eq!(class(&got), *want, "HTTP {status} {body:?} gave {got:?}");
        }
    }

    #[test]
    fn a_success_hands_back_the_parsed_body() {
        let got = run(200, None, r#" {"instances": {"id": 7}} "#).unwrap();
        assert_eq!(got, json!({"instances": {"id": 7}}));
    }

    #[test]
    fn rate_limit_messages_come_from_text_or_json() {
        let plain = run(
            429,
            None,
            "API requests too frequent: endpoint threshold=1.0\n",
        );
        assert_eq!(
            plain.unwrap_err(),
            ApiError::RateLimited {
                retry_after: None,
                message: "API requests too frequent: endpoint threshold=1.0".into()
            }
        );
        let detail = run(429, None, r#"{"detail": "threshold=2.0"}"#).unwrap_err();
        assert!(detail.to_string().contains("threshold=2.0"), "{detail}");
        let msg = run(
            429,
            None,
            r#"{"success":false,"error":"rate_limit_exceeded","msg":"m"}"#,
        );
        assert!(matches!(msg, Err(ApiError::RateLimited { ref message, .. }) if message == "m"));
        let html = run(429, None, "<html>429</html>").unwrap_err();
        assert!(
            html.to_string().contains("API requests too frequent"),
            "{html}"
        );
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_a_date() {
        let secs = run(429, Some(" 7 "), "x").unwrap_err();
        assert_eq!(secs.retry_after(), Some(Duration::from_secs(7)));
        let date = httpdate::fmt_http_date(now() + Duration::from_secs(90));
        let dated = run(429, Some(&date), "x").unwrap_err();
        assert_eq!(dated.retry_after(), Some(Duration::from_secs(90)));
        let past = httpdate::fmt_http_date(now() - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&past, now()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now()),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(parse_retry_after("-3", now()), None);
        assert_eq!(run(429, Some("soon"), "x").unwrap_err().retry_after(), None);
    }

    #[test]
    fn huge_retry_after_values_saturate_instead_of_vanishing() {
        let max_secs = Some(Duration::from_secs(u64::MAX));
        assert_eq!(parse_retry_after("18446744073709551615", now()), max_secs);
        for huge in [
            "18446744073709551616",
            "99999999999999999999999",
            "1e300",
            "inf",
        ] {
            assert_eq!(
                parse_retry_after(huge, now()),
                Some(Duration::MAX),
                "{huge}"
            );
        }
        assert_eq!(parse_retry_after("NaN", now()), None);
        assert_eq!(parse_retry_after("", now()), None);
        let far = httpdate::fmt_http_date(now() + Duration::from_secs(400 * 86_400));
        assert_eq!(
            parse_retry_after(&far, now()),
            Some(Duration::from_secs(400 * 86_400))
        );
    }

    #[test]
    fn a_json_body_s_retry_after_is_read_when_the_header_is_missing() {
        let body = r#"{"success": false, "error": "rate_limit_exceeded", "retry_after": 12}"#;
        let err = run(429, None, body).unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(12)));
        let text = run(429, None, r#"{"detail": "slow", "retry_after": "2.5"}"#).unwrap_err();
        assert_eq!(text.retry_after(), Some(Duration::from_millis(2500)));
        let header_wins = run(429, Some("3"), body).unwrap_err();
        assert_eq!(header_wins.retry_after(), Some(Duration::from_secs(3)));
        let nonsense = run(429, None, r#"{"retry_after": -4}"#).unwrap_err();
        assert_eq!(nonsense.retry_after(), None);
        let huge = run(429, None, r#"{"retry_after": 1e308}"#).unwrap_err();
        assert_eq!(huge.retry_after(), Some(Duration::MAX));
    }

    #[test]
    fn unauthorized_names_the_key_source_and_the_server_text() {
        let err = run(
            404,
            None,
            r#"{"error":"auth_error","msg":"Invalid user key"}"#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            ApiError::Unauthorized {
                key_source: "environment variable VAST_API_KEY".into(),
                message: "GET /api/v0/instances/7/: HTTP 404: Invalid user key".into(),
            }
        );
    }

    #[test]
    fn messages_are_short_single_lines_without_html() {
        let long = "x".repeat(5000);
        let err = run(500, None, &long).unwrap_err().to_string();
        assert!(err.len() < 300, "{} chars", err.len());
        assert!(err.ends_with('…'), "{err}");
        let multi = run(502, None, "line one\nline two\r\n")
            .unwrap_err()
            .to_string();
        assert!(
            !multi.contains('\n') && multi.contains("line one line two"),
            "{multi}"
        );
        let html = run(502, None, "<html><body>Bad Gateway</body></html>").unwrap_err();
        assert_eq!(
            html,
            ApiError::Transient(
                "GET /api/v0/instances/7/: HTTP 502 Bad Gateway: an HTML page".into()
            )
        );
    }

    #[test]
    fn a_404_without_the_apis_code_says_why_it_is_not_gone() {
        let err = run(404, None, "<html><body>404 Not Found</body></html>").unwrap_err();
        assert_eq!(
            err.to_string(),
            "temporary API failure: GET /api/v0/instances/7/: HTTP 404 without the API's own \
             error code (an HTML page), not taken as proof the instance is gone"
        );
    }

    #[test]
    fn gone_endpoints_say_so() {
        let err = run(
            410,
            None,
            r#"{"error":"deprecated_endpoint","msg":"use v1"}"#,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            ApiError::Other {
                status: Some(410),
                ..
            }
        ));
        assert!(err.to_string().contains("retired this endpoint"), "{err}");
        assert!(err.to_string().contains("use v1"), "{err}");
    }

    #[test]
    fn quoting_cuts_on_character_boundaries() {
        let text = "é".repeat(300);
        let quoted = quote(&text);
        assert_eq!(quoted.chars().count(), QUOTE_LIMIT + 1);
        assert_eq!(quote("  a \n b  "), "a b");
    }
}
