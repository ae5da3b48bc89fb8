//! The metrics endpoint over real loopback: feed events, scrape with reqwest, parse the text.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;
use vastfleet::metrics::{serve, Metrics, CONTENT_TYPE};
use vastfleet::report::event::{Completion, Event, EventKind, JobCost, Source};
use vastfleet::status::Status;

fn source(id: u64, label: &str) -> Source {
    Source {
        id,
        label: label.into(),
    }
}

fn event(kind: EventKind) -> Event {
    Event {
        at: SystemTime::now(),
        kind,
    }
}

/// Samples by their full series text (`name{labels}`), values parsed.
pub fn parse(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
            (series.to_owned(), value.parse().expect("a numeric value"))
        })
        .collect()
}

#[tokio::test]
async fn a_scrape_shows_what_the_stream_said() {
    let metrics = Metrics::new();
    let cancel = CancellationToken::new();
    let (addr, server) = serve(
        "127.0.0.1:0".parse().unwrap(),
        metrics.clone(),
        None,
        cancel.clone(),
        &tokio_util::task::TaskTracker::new(),
    )
    .await
    .unwrap();

    for kind in [
        EventKind::Joined {
            source: source(28421359, "sdxl-train"),
        },
        EventKind::Status {
            source: source(28421359, "sdxl-train"),
            status: Status::Running,
            previous: Some(Status::Loading),
            message: None,
        },
        EventKind::Log {
            source: source(28421359, "sdxl-train"),
            line: "a".to_owned(),
            history: false,
        },
        EventKind::Log {
            source: source(28421359, "sdxl-train"),
            line: "b".to_owned(),
            history: false,
        },
        EventKind::Log {
            source: source(28421359, "sdxl-train"),
            line: "c".to_owned(),
            history: false,
        },
        EventKind::Completion(Completion {
            source: source(28421359, "sdxl-train"),
            count: 1,
            result_url: None,
            cost: JobCost {
                gpu: Some("RTX 4090".to_owned()),
                dph_total: Some(0.4),
                run: None,
            },
        }),
        EventKind::ApiError {
            source: None,
            attempt: 1,
            retry_in: Duration::from_millis(2500),
            error: "HTTP 503".to_owned(),
        },
    ] {
        metrics.observe(&event(kind));
    }
    metrics.record_api_call("list", "200");
    metrics.record_api_call("list", "429");
    metrics.record_api_call("list", "429");
    metrics.set_effective_rate(0.75);
    metrics.set_instance_cost(28421359, Some(0.4), Some(12.3));

    let client = reqwest::Client::new();
    let response = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
    let mut samples = parse(&response.text().await.unwrap());
    // The build, the process and the health window are not the stream's (see `watcher`).
    samples.retain(|series, _| {
        ![
            "process_",
            "vastfleet_build_info",
            "vastfleet_sweep_stale_after",
        ]
        .iter()
        .any(|p| series.starts_with(p))
    });
    let last_log = samples
        .remove(
            r#"vastfleet_last_log_timestamp_seconds{instance_id="28421359",label="sdxl-train"}"#,
        )
        .expect("the time of the last line");
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        last_log <= now && last_log > now - 60.0,
        "{last_log} vs {now}"
    );

    let inst = r#"instance_id="28421359",label="sdxl-train""#;
    let expect = [
        ("vastfleet_watched_instances".to_owned(), 1.0),
        (
            format!(r#"vastfleet_instance_up{{{inst},status="running"}}"#),
            1.0,
        ),
        (format!("vastfleet_instance_dph{{{inst}}}"), 0.4),
        (format!("vastfleet_instance_spend_usd{{{inst}}}"), 12.3),
        (format!("vastfleet_completions_total{{{inst}}}"), 1.0),
        (format!("vastfleet_log_lines_total{{{inst}}}"), 3.0),
        (
            r#"vastfleet_api_calls_total{endpoint="list",status="200"}"#.to_owned(),
            1.0,
        ),
        (
            r#"vastfleet_api_calls_total{endpoint="list",status="429"}"#.to_owned(),
            2.0,
        ),
        ("vastfleet_api_rate_limited_total".to_owned(), 2.0),
        (
            r#"vastfleet_api_errors_total{scope="fleet"}"#.to_owned(),
            1.0,
        ),
        (
            r#"vastfleet_backoff_seconds{scope="fleet"}"#.to_owned(),
            2.5,
        ),
        ("vastfleet_throttle_effective_rate".to_owned(), 0.75),
        ("vastfleet_state_errors_total".to_owned(), 0.0),
    ];
    assert_eq!(samples, expect.into_iter().collect::<BTreeMap<_, _>>());

    metrics.observe(&event(EventKind::Left {
        source: source(28421359, "sdxl-train"),
    }));
    let text = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = parse(&text);
    assert_eq!(samples["vastfleet_watched_instances"], 0.0);
    assert!(
        !samples.keys().any(|s| s.starts_with("vastfleet_instance_")),
        "{text}"
    );
    assert_eq!(
        samples[&format!("vastfleet_completions_total{{{inst}}}")],
        1.0
    );

    let hint = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(hint.contains("/metrics"));

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_taken_port_is_an_error_at_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let result = serve(
        addr,
        Metrics::new(),
        None,
        CancellationToken::new(),
        &tokio_util::task::TaskTracker::new(),
    )
    .await;
    assert!(result.is_err());
}

mod examples;
pub mod watcher;
