//! What a notification says, in each of the four formats: a stable JSON object, Slack's and
//! Discord's `{"text"}`/`{"content"}`, and ntfy's plain body with `Title`/`Tags` headers. The
//! text formats share one human line per notification.

use crate::report::words::truncate;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use jiff::tz::Offset;
use jiff::{RoundMode, Timestamp, TimestampRound, Unit};
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{json, Map, Value};

use super::{Format, Topic};
use crate::report::event::{BudgetKind, Completion, EventKind, Failure, FailureReason, Source};
use crate::report::json;
use crate::status::Status;

/// One thing to tell the webhooks: an event of the stream, or the derived API outage.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub topic: Topic,
    pub at: SystemTime,
    pub what: What,
}

#[derive(Debug, Clone, PartialEq)]
pub enum What {
    Event(EventKind),
    /// The status sweep has been failing since `since`.
    ApiDown {
        since: SystemTime,
        attempts: u32,
        error: String,
    },
    /// The outage that began at `since` ended at the notification's `at`.
    ApiUp {
        since: SystemTime,
    },
}

/// A ready-to-send request body.
#[derive(Debug, Clone)]
pub struct Payload {
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// Discord rejects `content` longer than this.
const DISCORD_LIMIT: usize = 2000;

pub fn payload(format: Format, note: &Notification) -> Payload {
    let json_body = |value: Value| Payload {
        content_type: "application/json",
        body: value.to_string().into_bytes(),
        headers: Vec::new(),
    };
    match format {
        Format::Json => json_body(json_object(note)),
        Format::Slack => json_body(json!({ "text": slack_escape(&message(note)) })),
        // Labels and errors are not ours to trust: never let them ping @everyone.
        Format::Discord => json_body(json!({
            "content": truncate(&message(note), DISCORD_LIMIT),
            "allowed_mentions": { "parse": [] },
        })),
        Format::Ntfy => Payload {
            content_type: "text/plain; charset=utf-8",
            body: message(note).into_bytes(),
            headers: ntfy_headers(note),
        },
    }
}

/// The human one-liner, e.g. "vastfleet: sdxl-train (28421359) completed job #1 — result: URL".
pub fn message(note: &Notification) -> String {
    let text = match &note.what {
        What::ApiDown { since, attempts, error } => format!(
            "the Vast.ai API has been failing for {} ({attempts} failed attempts) — last error: {error}",
            span(*since, note.at)
        ),
        What::ApiUp { since } => {
            format!("the Vast.ai API works again after {} of failures", span(*since, note.at))
        }
        What::Event(kind) => event_message(kind),
    };
    format!("vastfleet: {text}")
}

fn event_message(kind: &EventKind) -> String {
    if let EventKind::Budget { limit, value, max } = kind {
        return match limit {
            BudgetKind::MaxDph => {
                format!("the fleet burns ${value:.2}/hr, over its budget of ${max:.2}/hr")
            }
            BudgetKind::MaxSpend => {
                format!("the fleet has spent about ${value:.2}, over its budget of ${max:.2}")
            }
        };
    }
    let Some(source) = kind.source() else {
        return kind.name().to_owned();
    };
    let who = who(source);
    match kind {
        EventKind::Completion(completion) => completion_message(&who, completion),
        EventKind::Failure(failure) => failure_message(&who, failure),
        EventKind::Action {
            action,
            ok,
            dry_run,
            reason,
            error,
            ..
        } => {
            let verb = action.as_str();
            let outcome = match (dry_run, ok) {
                (true, _) => format!("would {verb} (dry run)"),
                (false, true) => format!("{verb} done"),
                (false, false) => format!("{verb} FAILED"),
            };
            let error = error
                .as_deref()
                .map(|e| format!(" — {e}"))
                .unwrap_or_default();
            format!("{who}: {outcome} — reason: {reason}{error}")
        }
        EventKind::Guard {
            guard,
            action,
            detail,
            ..
        } => {
            let then = action
                .map(|a| format!(" → {}", a.as_str()))
                .unwrap_or_default();
            format!("{who}: guard {guard} fired — {detail}{then}")
        }
        EventKind::Status {
            status: Status::Gone,
            previous,
            ..
        } => {
            let was = previous
                .as_ref()
                .map(|p| format!(" — was {p}"))
                .unwrap_or_default();
            format!("{who} is gone (the API no longer knows it){was}")
        }
        EventKind::Status { status, .. } => format!("{who} is {status}"),
        other => format!("{who}: {}", other.name()),
    }
}

/// A job's end, with its result and the machine it ran on.
fn completion_message(who: &str, completion: &Completion) -> String {
    let mut text = format!("{who} completed job #{}", completion.count);
    if let Some(url) = &completion.result_url {
        text.push_str(&format!(" — result: {url}"));
    }
    match (&completion.cost.gpu, completion.cost.dph_total) {
        (Some(gpu), Some(dph)) => text.push_str(&format!(" — {gpu} at ${dph:.2}/hr")),
        (Some(gpu), None) => text.push_str(&format!(" — {gpu}")),
        (None, Some(dph)) => text.push_str(&format!(" — ${dph:.2}/hr")),
        (None, None) => {}
    }
    text
}

/// A job's failure: the log line that said so, or the exit, and what it was costing.
fn failure_message(who: &str, failure: &Failure) -> String {
    let mut text = match (failure.reason, &failure.line) {
        (FailureReason::Log, Some(line)) => {
            format!("{who} FAILED (#{}): {}", failure.count, line.trim())
        }
        _ => format!("{who} FAILED: the container exited while it was meant to run"),
    };
    match (&failure.cost.gpu, failure.cost.dph_total) {
        (Some(gpu), Some(dph)) => text.push_str(&format!(" — {gpu} at ${dph:.2}/hr")),
        (None, Some(dph)) => text.push_str(&format!(" — ${dph:.2}/hr")),
        _ => {}
    }
    text
}

/// "label (id)", or just the id when the instance has no label of its own.
fn who(source: &Source) -> String {
    if *source.label == source.id.to_string() {
        source.label.to_string()
    } else {
        format!("{} ({})", source.label, source.id)
    }
}

/// The stable JSON object: `ts`, `event`, `topic`, `instance`, `label`, `text`, then the
/// event's own fields under the names the `--json` stream uses.
pub fn json_object(note: &Notification) -> Value {
    let mut object = Map::new();
    object.insert("ts".into(), rfc3339(note.at).into());
    let (event, source, fields) = match &note.what {
        What::ApiDown {
            since,
            attempts,
            error,
        } => (
            "api_down",
            None,
            json!({
                "since": rfc3339(*since),
                "failing_for_s": elapsed(*since, note.at).as_secs(),
                "attempts": attempts,
                "error": error,
            }),
        ),
        What::ApiUp { since } => (
            "api_up",
            None,
            json!({ "since": rfc3339(*since), "down_for_s": elapsed(*since, note.at).as_secs() }),
        ),
        What::Event(kind) => (kind.name(), kind.source(), json::fields(kind)),
    };
    object.insert("event".into(), event.into());
    object.insert("topic".into(), note.topic.as_str().into());
    object.insert("instance".into(), source.map(|s| s.id).into());
    object.insert("label".into(), source.map(|s| &*s.label).into());
    object.insert("text".into(), message(note).into());
    if let Value::Object(fields) = fields {
        object.extend(fields);
    }
    Value::Object(object)
}

fn ntfy_headers(note: &Notification) -> Vec<(HeaderName, HeaderValue)> {
    let (title, tags, urgent) = match &note.what {
        What::ApiDown { .. } => (
            "the Vast.ai API is failing".to_owned(),
            "rotating_light",
            true,
        ),
        What::ApiUp { .. } => (
            "the Vast.ai API works again".to_owned(),
            "white_check_mark",
            false,
        ),
        What::Event(kind) => {
            let label = kind.source().map_or("", |s| &*s.label);
            match kind {
                EventKind::Completion(Completion { count, .. }) => (
                    format!("{label} completed job #{count}"),
                    "white_check_mark",
                    false,
                ),
                EventKind::Action {
                    action,
                    ok: false,
                    dry_run: false,
                    ..
                } => (format!("{label}: {} failed", action.as_str()), "x", true),
                EventKind::Action { action, .. } => (
                    format!("{label}: {}", action.as_str()),
                    "stop_button",
                    false,
                ),
                EventKind::Guard { guard, .. } => {
                    (format!("{label}: guard {guard}"), "warning", false)
                }
                EventKind::Failure(_) => (format!("{label}: job failed"), "x", true),
                EventKind::Budget { limit, .. } => (
                    format!("fleet over budget ({})", limit.as_str()),
                    "money_with_wings",
                    true,
                ),
                EventKind::Status { status, .. } => (format!("{label} is {status}"), "skull", true),
                other => (
                    format!("{label}: {}", other.name()),
                    "information_source",
                    false,
                ),
            }
        }
    };
    let mut headers = vec![
        (
            HeaderName::from_static("title"),
            header_text(&format!("vastfleet: {title}")),
        ),
        (
            HeaderName::from_static("tags"),
            HeaderValue::from_static(tags),
        ),
    ];
    if urgent {
        headers.push((
            HeaderName::from_static("priority"),
            HeaderValue::from_static("high"),
        ));
    }
    headers
}

/// A header value from free text: control characters become spaces, and non-ASCII text is sent
/// as an RFC 2047 encoded word, which ntfy decodes (raw UTF-8 in headers is not portable).
fn header_text(text: &str) -> HeaderValue {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let encoded = if clean.is_ascii() {
        clean
    } else {
        let mut word = String::from("=?UTF-8?Q?");
        for byte in clean.bytes() {
            match byte {
                b' ' => word.push('_'),
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'!' | b'*' | b'+' | b'-' | b'/' => {
                    word.push(char::from(byte))
                }
                _ => {
                    let _ = write!(word, "={byte:02X}");
                }
            }
        }
        word.push_str("?=");
        word
    };
    HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static("vastfleet"))
}

/// Slack reads `&`, `<` and `>` as markup; everything else is literal.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn elapsed(since: SystemTime, until: SystemTime) -> Duration {
    until.duration_since(since).unwrap_or_default()
}

/// A duration to whole seconds, e.g. "5m 12s".
fn span(since: SystemTime, until: SystemTime) -> String {
    let secs = elapsed(since, until).as_secs();
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

/// RFC 3339 in UTC to the millisecond (trailing zeros of the fraction dropped), as the `--json`
/// stream writes `ts`; empty outside years 0 to 9999, which RFC 3339 cannot write.
pub fn rfc3339(at: SystemTime) -> String {
    let round = TimestampRound::new()
        .smallest(Unit::Millisecond)
        .mode(RoundMode::Floor);
    match Timestamp::try_from(at).and_then(|ts| ts.round(round)) {
        Ok(ts) if (0..=9999).contains(&Offset::UTC.to_datetime(ts).year()) => ts.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
