//! Every read is bounded: a body without end, a body that trickles, a paging that never ends.

use std::time::Instant;

use vastfleet::api::client::{ClientConfig, LogPollConfig};
use vastfleet::api::key::{ApiKey, KeySource};
use vastfleet::api::{Api, ApiError, VastClient};
use vastfleet::throttle::Throttle;

use super::*;

fn client(server: &Hostile, timeout: Duration) -> VastClient {
    let mut config = ClientConfig::new(
        &server.url,
        ApiKey::new(KEY, KeySource::Given("test".into())),
    );
    config.timeout = timeout;
    config.log_poll = LogPollConfig {
        attempts: 3,
        delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(100),
    };
    VastClient::new(config, Throttle::unlimited()).unwrap()
}

#[tokio::test]
async fn an_endless_log_body_is_cut_said_once_and_memory_stays_bounded() {
    let server = Hostile::start(Script {
        log_body: LogBody::Endless,
        ..Script::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path(), "");
    let watcher = support::Watcher::spawn(server.command(dir.path(), &["watch", "--json"]));
    let note = watcher
        .wait_for("a notice of the cut body", |e| support::is(e, "notice", 1))
        .await;
    assert!(
        note["message"].as_str().unwrap().contains("read cap"),
        "{note}"
    );
    while server.seen(|s| s.log_requests) < 3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rss = rss_kb(watcher.pid());
    // The cap for the default tail is 12.5 MiB; the process stays far below the unbounded
    // read's gigabytes.
    assert!(rss < 120_000, "resident {rss} kB");
    let lines = support::log_lines(&watcher.events(), 1);
    assert!(
        !lines.is_empty() && lines.iter().all(|l| l.len() == 1023),
        "{}",
        lines.len()
    );
    let done = watcher.terminate().await;
    assert!(done.status.success(), "{}", done.stderr);
    let notes = done
        .events
        .iter()
        .filter(|e| support::is(e, "notice", 1))
        .count();
    assert_eq!(notes, 1, "said once per episode");
}

#[tokio::test]
async fn a_trickling_log_body_is_an_error_by_the_whole_fetch_deadline() {
    let server = Hostile::start(Script {
        log_body: LogBody::Trickle,
        ..Script::default()
    })
    .await;
    let api = client(&server, Duration::from_secs(1));
    let started = Instant::now();
    let err = api.logs(1, 10).await.unwrap_err();
    // 3 polls 100 ms apart plus one poll's 1 s timeout.
    assert!(
        started.elapsed() < Duration::from_millis(2_100),
        "{:?}",
        started.elapsed()
    );
    let ApiError::Transient(text) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        text,
        "log result not complete within 1.3s (a stalled or trickling log store)"
    );
}

#[tokio::test]
async fn paging_that_repeats_cycles_or_never_ends_stops_and_says_so() {
    for (paging, why) in [
        (Paging::Repeat, "its next_token repeated after 2 pages"),
        (Paging::Cycle, "its next_token repeated after 3 pages"),
        (
            Paging::Endless,
            "it offered more than the 2 pages its total_instances can fill",
        ),
    ] {
        let server = Hostile::start(Script {
            paging,
            ..Script::default()
        })
        .await;
        let listing = client(&server, Duration::from_secs(5))
            .list_all(None)
            .await
            .unwrap();
        assert_eq!(
            listing.instances.len() as u64,
            server.seen(|s| s.list_calls)
        );
        assert_eq!(
            listing.stopped.as_deref(),
            Some(
                format!("the instance list was read only in part: {why}; paging stopped there")
                    .as_str()
            )
        );
    }
}

#[tokio::test]
async fn status_and_watch_stay_alive_on_a_paging_that_never_ends() {
    let server = Hostile::start(Script {
        paging: Paging::Endless,
        ..Script::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path(), "");
    let started = Instant::now();
    let output = server
        .command(dir.path(), &["status"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(stderr.contains("paging stopped there"), "{stderr}");

    let watcher = support::Watcher::spawn(server.command(dir.path(), &["watch", "--json"]));
    let notice = watcher
        .wait_for("the paging notice", |e| {
            e["event"] == "notice"
                && e["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("paging stopped")
        })
        .await;
    assert!(notice.get("instance").is_none(), "{notice}");
    watcher
        .wait_for("the instance's row", |e| support::is(e, "status", 1))
        .await;
    let done = watcher.terminate().await;
    let notices = done
        .events
        .iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .unwrap_or("")
                .contains("paging stopped")
        })
        .count();
    assert_eq!(notices, 1, "said once per episode");
}
