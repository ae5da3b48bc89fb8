//! Unit tests of the notification texts and bodies.

use super::*;
use crate::report::event::{ActionKind, JobCost};

const T0: SystemTime = SystemTime::UNIX_EPOCH;

fn src(id: u64, label: &str) -> Source {
    Source {
        id,
        label: label.into(),
    }
}

fn event(topic: Topic, kind: EventKind) -> Notification {
    Notification {
        topic,
        at: T0 + Duration::from_millis(1_700_000_000_123),
        what: What::Event(kind),
    }
}

fn completion() -> Notification {
    event(
        Topic::Completion,
        EventKind::Completion(Completion {
            source: src(28421359, "sdxl-train"),
            count: 1,
            result_url: Some("https://s3/x".to_owned()),
            cost: JobCost {
                gpu: Some("RTX 4090 ×1".to_owned()),
                dph_total: Some(0.4),
                run: None,
            },
        }),
    )
}

fn action(ok: bool, dry_run: bool, error: Option<&str>) -> Notification {
    event(
        Topic::Action,
        EventKind::Action {
            source: src(7, "7"),
            action: ActionKind::Destroy,
            ok,
            dry_run,
            reason: "completion".to_owned(),
            error: error.map(str::to_owned),
        },
    )
}

#[test]
fn human_lines_read_well() {
    let gone = event(
        Topic::Gone,
        EventKind::Status {
            source: src(5, "w"),
            status: Status::Gone,
            previous: Some(Status::Running),
            message: None,
        },
    );
    let guard = event(
        Topic::Guard,
        EventKind::Guard {
            source: src(5, "w"),
            guard: "cost".to_owned(),
            action: Some(ActionKind::Stop),
            detail: "$12.00 spent, limit $10.00".to_owned(),
        },
    );
    let down = Notification {
        topic: Topic::ApiDown,
        at: T0 + Duration::from_secs(312),
        what: What::ApiDown {
            since: T0,
            attempts: 4,
            error: "HTTP 503".to_owned(),
        },
    };
    let up = Notification {
        topic: Topic::ApiDown,
        at: T0 + Duration::from_secs(400),
        what: What::ApiUp { since: T0 },
    };
    let cases = [
        (
            completion(),
            "vastfleet: sdxl-train (28421359) completed job #1 — result: https://s3/x — RTX 4090 ×1 at $0.40/hr",
        ),
        (action(true, false, None), "vastfleet: 7: destroy done — reason: completion"),
        (action(true, true, None), "vastfleet: 7: would destroy (dry run) — reason: completion"),
        (
            action(false, false, Some("HTTP 500")),
            "vastfleet: 7: destroy FAILED — reason: completion — HTTP 500",
        ),
        (guard, "vastfleet: w (5): guard cost fired — $12.00 spent, limit $10.00 → stop"),
        (gone, "vastfleet: w (5) is gone (the API no longer knows it) — was running"),
        (
            down,
            "vastfleet: the Vast.ai API has been failing for 5m 12s (4 failed attempts) — last error: HTTP 503",
        ),
        (up, "vastfleet: the Vast.ai API works again after 6m 40s of failures"),
    ];
    for (note, line) in cases {
        assert_eq!(message(&note), line);
    }
}

fn body(format: Format, note: &Notification) -> Value {
    serde_json::from_slice(&payload(format, note).body).unwrap()
}

#[test]
fn json_carries_the_stream_fields() {
    assert_eq!(
        body(Format::Json, &completion()),
        json!({
            "ts": "2023-11-14T22:13:20.123Z",
            "event": "completion",
            "topic": "completion",
            "instance": 28421359,
            "label": "sdxl-train",
            "text": message(&completion()),
            "count": 1,
            "result_url": "https://s3/x",
            "gpu": "RTX 4090 ×1",
            "dph_total": 0.4,
        })
    );
    let down = Notification {
        topic: Topic::ApiDown,
        at: T0 + Duration::from_secs(90),
        what: What::ApiDown {
            since: T0,
            attempts: 3,
            error: "HTTP 503".to_owned(),
        },
    };
    let value = body(Format::Json, &down);
    assert_eq!(value["event"], "api_down");
    assert_eq!(value["instance"], Value::Null);
    assert_eq!(value["since"], "1970-01-01T00:00:00Z");
    assert_eq!(value["failing_for_s"], 90);
    assert_eq!(value["attempts"], 3);
}

#[test]
fn slack_escapes_its_markup() {
    let note = action(false, false, Some("<html> & more"));
    let text = body(Format::Slack, &note)["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.ends_with("&lt;html&gt; &amp; more"), "{text}");
}

#[test]
fn discord_never_pings_and_stays_under_its_limit() {
    let long = "@everyone ".repeat(400);
    let value = body(Format::Discord, &action(false, false, Some(&long)));
    assert_eq!(value["allowed_mentions"], json!({ "parse": [] }));
    let content = value["content"].as_str().unwrap();
    assert_eq!(content.chars().count(), DISCORD_LIMIT);
    assert!(content.ends_with('…'));
}

#[test]
fn ntfy_is_plain_text_with_title_and_tags() {
    let sent = payload(Format::Ntfy, &completion());
    assert_eq!(sent.content_type, "text/plain; charset=utf-8");
    assert_eq!(
        String::from_utf8(sent.body).unwrap(),
        message(&completion())
    );
    let headers: Vec<(String, &str)> = sent
        .headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap()))
        .collect();
    assert_eq!(
        headers,
        [
            ("title".to_owned(), "vastfleet: sdxl-train completed job #1"),
            ("tags".to_owned(), "white_check_mark"),
        ]
    );
}

#[test]
fn non_ascii_titles_are_rfc2047_encoded_and_control_characters_removed() {
    assert_eq!(header_text("a\nb"), "a b");
    assert_eq!(header_text("café 1"), "=?UTF-8?Q?caf=C3=A9_1?=");
}

#[test]
fn truncation_counts_characters_not_bytes() {
    assert_eq!(truncate("ééé", 3), "ééé");
    assert_eq!(truncate("éééé", 3), "éé…");
}
