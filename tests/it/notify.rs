//! The notifier over real loopback: a small axum receiver records what each webhook got.
//! Timeouts and backoff are tens of milliseconds, so every test ends within a few seconds.

pub mod harness;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use vastfleet::notify::{Format, NotifierConfig, Topic};
use vastfleet::report::event::{ActionKind, Completion, EventKind, JobCost, Source};

use harness::{config, notice_text, start, target, Hit, Receiver, WAIT};

fn source() -> Source {
    Source {
        id: 28421359,
        label: "sdxl-train".into(),
    }
}

fn completion(count: u32) -> EventKind {
    EventKind::Completion(Completion {
        source: source(),
        count,
        result_url: Some("https://example.com/out.tar".to_owned()),
        cost: JobCost {
            gpu: Some("RTX 4090 ×1".to_owned()),
            dph_total: Some(0.4),
            run: None,
        },
    })
}

fn status(status: &str) -> EventKind {
    EventKind::Status {
        source: source(),
        status: status.into(),
        previous: None,
        message: None,
    }
}

#[tokio::test]
async fn every_format_posts_its_own_body() {
    let mut rx = Receiver::start().await;
    let all = &[Topic::Completion];
    let notifier = start(config(vec![
        target(rx.url("/json"), all, Format::Json),
        target(rx.url("/slack"), all, Format::Slack),
        target(rx.url("/discord"), all, Format::Discord),
        target(rx.url("/ntfy"), all, Format::Ntfy),
    ]));
    notifier.send(SystemTime::now(), completion(1)).await;
    let mut hits = Vec::new();
    for _ in 0..4 {
        hits.push(rx.next().await);
    }
    hits.sort_by(|a, b| a.path.cmp(&b.path));
    let line = "vastfleet: sdxl-train (28421359) completed job #1 — result: \
                https://example.com/out.tar — RTX 4090 ×1 at $0.40/hr";

    let [discord, json, ntfy, slack] = &hits[..] else {
        panic!("{hits:?}")
    };
    assert_eq!(discord.json()["content"], line);
    assert_eq!(slack.json(), serde_json::json!({ "text": line }));
    let json = json.json();
    assert_eq!(json["event"], "completion");
    assert_eq!(json["instance"], 28421359);
    assert_eq!(json["label"], "sdxl-train");
    assert_eq!(json["count"], 1);
    assert!(json["ts"].as_str().unwrap().ends_with('Z'));
    assert_eq!(ntfy.body, line.as_bytes());
    assert_eq!(
        ntfy.headers["title"],
        "vastfleet: sdxl-train completed job #1"
    );
    assert_eq!(ntfy.headers["tags"], "white_check_mark");
    assert!(ntfy.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(notifier.finish().await, Vec::<String>::new());
}

#[tokio::test]
async fn each_target_hears_only_its_topics() {
    let mut rx = Receiver::start().await;
    let notifier = start(config(vec![
        target(rx.url("/done"), &[Topic::Completion], Format::Json),
        target(
            rx.url("/ops"),
            &[Topic::Action, Topic::Gone, Topic::Guard],
            Format::Json,
        ),
    ]));
    let now = SystemTime::now();
    notifier.send(now, status("running")).await;
    notifier.send(now, completion(1)).await;
    notifier
        .send(
            now,
            EventKind::Log {
                source: source(),
                line: "x".to_owned(),
                history: false,
            },
        )
        .await;
    notifier
        .send(
            now,
            EventKind::Action {
                source: source(),
                action: ActionKind::Stop,
                ok: true,
                dry_run: false,
                reason: "completion".to_owned(),
                error: None,
            },
        )
        .await;
    notifier.send(now, status("gone")).await;
    assert_eq!(notifier.finish().await, Vec::<String>::new());

    let got: Vec<(String, String)> = rx
        .received()
        .iter()
        .map(|hit| {
            (
                hit.path.clone(),
                hit.json()["event"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut ops: Vec<&str> = got
        .iter()
        .filter(|(p, _)| p == "/ops")
        .map(|(_, e)| e.as_str())
        .collect();
    let done: Vec<&str> = got
        .iter()
        .filter(|(p, _)| p == "/done")
        .map(|(_, e)| e.as_str())
        .collect();
    assert_eq!(done, ["completion"]);
    ops.sort_unstable();
    assert_eq!(ops, ["action", "status"]);
}

#[tokio::test]
async fn api_down_fires_once_after_the_window_then_api_up() {
    let mut rx = Receiver::start().await;
    let notifier = start(config(vec![target(
        rx.url("/pager"),
        &[Topic::ApiDown],
        Format::Json,
    )]));
    let t0 = SystemTime::now();
    let secs = |s| t0 + Duration::from_secs(s);
    let error = |attempt| EventKind::ApiError {
        source: None,
        attempt,
        retry_in: Duration::from_secs(30),
        error: "HTTP 503".to_owned(),
    };
    notifier.send(secs(0), error(1)).await;
    notifier.send(secs(30), error(2)).await;
    notifier.send(secs(61), status("running")).await;
    notifier.send(secs(90), error(3)).await;
    notifier.send(secs(150), error(4)).await;
    notifier
        .send(
            secs(200),
            EventKind::Recovered {
                source: None,
                failed_attempts: 4,
            },
        )
        .await;
    assert_eq!(notifier.finish().await, Vec::<String>::new());

    let bodies: Vec<Value> = rx.received().iter().map(Hit::json).collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(bodies[0]["event"], "api_down");
    assert_eq!(bodies[0]["topic"], "api_down");
    assert_eq!(bodies[0]["failing_for_s"], 61);
    assert_eq!(bodies[0]["attempts"], 2);
    assert_eq!(bodies[1]["event"], "api_up");
    assert_eq!(bodies[1]["down_for_s"], 200);
}

#[tokio::test]
async fn dead_webhooks_are_retried_a_bounded_number_of_times_reported_once_and_block_nobody() {
    let mut rx = Receiver::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let topic = &[Topic::Completion];
    let notifier = start(config(vec![
        target(
            format!("http://{closed}/refused/SECRET"),
            topic,
            Format::Slack,
        ),
        target(rx.url("/fail/SECRET"), topic, Format::Slack),
        target(rx.url("/hang/SECRET"), topic, Format::Slack),
        target(rx.url("/missing/SECRET"), topic, Format::Slack),
        target(rx.url("/ok"), topic, Format::Slack),
    ]));

    let mut hits = Vec::new();
    for n in 1..=2 {
        let sent = Instant::now();
        notifier.send(SystemTime::now(), completion(n)).await;
        loop {
            let hit = rx.next().await;
            let healthy = hit.path == "/ok";
            hits.push(hit);
            if healthy {
                break;
            }
        }
        // Blocked behind the hanging webhook, it would wait 3 × 200 ms at least.
        assert!(
            sent.elapsed() < Duration::from_millis(400),
            "the healthy webhook waited"
        );
    }
    let notices = notifier.finish().await;
    hits.extend(rx.received());

    let attempts = |path: &str| hits.iter().filter(|hit| hit.path == path).count();
    assert_eq!(attempts("/ok"), 2);
    // Three attempts for the first notification; once failing, one probe per notification.
    assert_eq!(attempts("/fail/SECRET"), 4);
    assert_eq!(attempts("/hang/SECRET"), 4);
    // A 404 will not change by asking again: no retries.
    assert_eq!(attempts("/missing/SECRET"), 2);

    assert_eq!(
        notices.len(),
        4,
        "one notice per dead webhook: {notices:#?}"
    );
    for notice in &notices {
        assert!(notice.contains("is failing"), "{notice}");
        assert!(
            notice.contains("notifications to it are being dropped"),
            "{notice}"
        );
        assert!(!notice.contains("SECRET"), "a webhook URL leaked: {notice}");
    }
    assert!(notices.iter().any(|n| n.starts_with(&format!(
        "webhook http://{closed} (#1) is failing: cannot connect"
    ))));
    assert!(notices.iter().any(|n| n.contains("HTTP 500")));
    assert!(notices.iter().any(|n| n.contains("HTTP 404")));
    assert!(notices.iter().any(|n| n.contains("timed out")));
}

#[tokio::test]
async fn a_webhook_that_works_again_is_reported_once_more() {
    let mut rx = Receiver::start().await;
    rx.flaky.store(503, Ordering::SeqCst);
    let mut notifier = start(config(vec![target(
        rx.url("/flaky"),
        &[Topic::Completion],
        Format::Json,
    )]));
    notifier.send(SystemTime::now(), completion(1)).await;
    let failing = tokio::time::timeout(WAIT, notifier.reports.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        notice_text(failing),
        format!(
            "webhook {} (#1) is failing: HTTP 503 Service Unavailable; \
             notifications to it are being dropped",
            rx.base
        )
    );

    rx.flaky.store(200, Ordering::SeqCst);
    notifier.send(SystemTime::now(), completion(2)).await;
    let back = tokio::time::timeout(WAIT, notifier.reports.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        notice_text(back),
        format!(
            "webhook {} (#1) works again; 1 notification to it was dropped",
            rx.base
        )
    );
    assert_eq!(notifier.finish().await, Vec::<String>::new());
    let counts: Vec<u64> = rx
        .received()
        .iter()
        .map(|hit| hit.json()["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [1, 1, 1, 2]);
}

#[tokio::test]
async fn cancelling_ends_the_notifier_even_mid_request() {
    let mut rx = Receiver::start().await;
    let notifier = start(NotifierConfig {
        timeout: Duration::from_secs(30),
        ..config(vec![target(
            rx.url("/hang"),
            &[Topic::Completion],
            Format::Json,
        )])
    });
    notifier.send(SystemTime::now(), completion(1)).await;
    assert_eq!(rx.next().await.path, "/hang");
    notifier.cancel.cancel();
    tokio::time::timeout(Duration::from_secs(1), notifier.task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_target_without_a_valid_url_is_skipped_without_echoing_it() {
    let mut rx = Receiver::start().await;
    let notifier = start(config(vec![
        target(
            "ftp://files.example/SECRET".to_owned(),
            &[Topic::Completion],
            Format::Json,
        ),
        target(rx.url("/ok"), &[Topic::Completion], Format::Json),
    ]));
    notifier.send(SystemTime::now(), completion(1)).await;
    assert_eq!(rx.next().await.path, "/ok");
    let notices = notifier.finish().await;
    assert_eq!(
        notices,
        ["notification target #1 has no valid http(s) URL; it is skipped"]
    );
}
