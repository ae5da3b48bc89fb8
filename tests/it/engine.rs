//! The whole fleet engine (status feed, monitors, shared throttle) against the in-memory API on
//! tokio's paused clock: hours of fleet life in milliseconds, with exact timings.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, Instant};
use tokio_util::sync::CancellationToken;
use vastfleet::config::{Overrides, Settings};
use vastfleet::fleet::{self, FleetContext};
use vastfleet::monitor::MachineOptions;
use vastfleet::report::event::{Event, EventKind};
use vastfleet::state::StateHandle;
use vastfleet::throttle::{Endpoint, RateLimit, Throttle, GAP_MARGIN};

use crate::fake::{Call, FakeApi};

/// Runs `settings` against `api` for `how_long` of simulated time; every event of the stream.
async fn run_fleet(api: &FakeApi, settings: Settings, how_long: Duration) -> Vec<Event> {
    let (events, mut stream) = mpsc::channel(1 << 16);
    let collector = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(event) = stream.recv().await {
            all.push(event);
        }
        all
    });
    let (_settings_tx, settings_rx) = watch::channel(Arc::new(settings));
    let cancel = CancellationToken::new();
    let ctx = FleetContext {
        api: Arc::new(api.clone()),
        events,
        state: StateHandle::disabled(),
        options: MachineOptions::default(),
    };
    let stop = cancel.clone();
    tokio::spawn(async move {
        sleep(how_long).await;
        stop.cancel();
    });
    fleet::supervise(ctx, settings_rx, cancel).await;
    collector.await.unwrap()
}

fn fleet_of(ids: impl IntoIterator<Item = u64>, interval: Duration) -> Settings {
    let ids: Vec<u64> = ids.into_iter().collect();
    let overrides = Overrides {
        interval: Some(interval),
        ..Overrides::default()
    };
    Settings::from_ids(&ids, &overrides).unwrap()
}

fn log_polls(calls: &[Call]) -> BTreeMap<u64, Vec<Instant>> {
    let mut polls: BTreeMap<u64, Vec<Instant>> = BTreeMap::new();
    for call in calls.iter().filter(|c| c.endpoint == "logs") {
        polls.entry(call.id.unwrap()).or_default().push(call.at);
    }
    polls
}

#[tokio::test(start_paused = true)]
async fn a_binding_quota_is_shared_round_robin_without_starvation() {
    const N: u64 = 100;
    let api = FakeApi::new(Throttle::new(RateLimit {
        per_second: 2.0,
        burst: 4,
    }));
    for id in 1..=N {
        api.add_running(id, &["a line"]);
    }
    let run_for = Duration::from_secs(1800);
    run_fleet(&api, fleet_of(1..=N, Duration::from_secs(5)), run_for).await;

    // One request_logs per gap for the whole fleet: each instance's fair share of it.
    let gap = Endpoint::RequestLogs.documented_gap() + GAP_MARGIN;
    let fair_share = gap.as_secs_f64() * N as f64;
    let polls = log_polls(&api.calls());
    assert_eq!(polls.len(), N as usize, "every instance is polled");
    let worst = polls
        .values()
        .flat_map(|times| times.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()))
        .fold(0.0, f64::max);
    eprintln!(
        "fairness: worst staleness {worst:.1} s, fair share {fair_share:.1} s, ratio {:.3}",
        worst / fair_share
    );
    assert!(
        worst / fair_share <= 1.25,
        "worst staleness {worst:.1} s vs fair share {fair_share:.1} s"
    );
    let fewest = polls.values().map(Vec::len).min().unwrap();
    assert!(fewest as f64 >= run_for.as_secs_f64() / fair_share - 2.0);
    let calls = api.calls();
    assert_eq!(api.count("show"), 0, "status comes from the sweep");
    let sweeps = calls.iter().filter(|c| c.endpoint == "list").count();
    assert!(
        sweeps as u64 <= run_for.as_secs() / 5 + 1,
        "one sweep per tick: {sweeps}"
    );
    assert!(calls.iter().all(|c| !c.rate_limited));
}

#[tokio::test(start_paused = true)]
async fn one_instances_429_pauses_every_call_of_the_fleet() {
    let throttle = Throttle::new(RateLimit {
        per_second: 10.0,
        burst: 4,
    });
    let api = FakeApi::new(throttle.clone());
    for id in 1..=5 {
        api.add_running(id, &["a line"]);
    }
    let retry_after = Duration::from_secs(7);
    api.fail(
        "logs",
        [vastfleet::api::ApiError::RateLimited {
            retry_after: Some(retry_after),
            message: "slow down".into(),
        }],
    );
    let events = run_fleet(
        &api,
        fleet_of(1..=5, Duration::from_secs(1)),
        Duration::from_secs(60),
    )
    .await;

    let calls = api.calls();
    let first = calls.iter().find(|c| c.endpoint == "logs").unwrap();
    let quiet_until = first.at + retry_after;
    let during: Vec<&Call> = calls
        .iter()
        .filter(|c| c.at > first.at && c.at < quiet_until)
        .collect();
    assert!(
        during.is_empty(),
        "nobody called during the cooldown: {during:?}"
    );
    assert!(calls.iter().any(|c| c.at >= quiet_until), "calls resume");
    let reported: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ApiError { .. }))
        .collect();
    assert_eq!(reported.len(), 1, "said once: {reported:?}");
    assert_eq!(throttle.stats().rate_limited, 1);
}

#[tokio::test(start_paused = true)]
async fn the_self_tuning_rate_converges_under_a_stricter_server() {
    const SERVER: f64 = 1.0;
    let throttle = Throttle::new(RateLimit {
        per_second: 4.0,
        burst: 1,
    });
    let api = FakeApi::new(throttle.clone());
    api.limit_server(SERVER);
    for id in 1..=10 {
        api.add_running(id, &["a line"]);
    }
    let run_for = Duration::from_secs(30 * 60);
    let started = Instant::now();
    run_fleet(&api, fleet_of(1..=10, Duration::from_secs(2)), run_for).await;

    let calls = api.calls();
    let settled = started + Duration::from_secs(5 * 60);
    let late: Vec<&Call> = calls.iter().filter(|c| c.at >= settled).collect();
    let accepted = late.iter().filter(|c| !c.rate_limited).count() as f64;
    let achieved = accepted / (run_for - Duration::from_secs(5 * 60)).as_secs_f64();
    let refused = calls.iter().filter(|c| c.rate_limited).count() as f64;
    let share_429 = refused / calls.len() as f64;
    eprintln!(
        "self-tuning: {achieved:.3} calls/s accepted vs server limit {SERVER} ({:.1}%), \
         {refused} of {} calls answered 429 ({:.2}%), final rate {:.3}",
        100.0 * achieved / SERVER,
        calls.len(),
        100.0 * share_429,
        throttle.effective_per_second()
    );
    assert!(achieved >= 0.8 * SERVER, "uses the budget: {achieved:.3}/s");
    assert!(achieved <= SERVER * 1.001, "cannot beat the server");
    assert!(share_429 < 0.02, "429s: {:.2}%", 100.0 * share_429);
}

#[tokio::test(start_paused = true)]
async fn a_failing_stop_is_retried_with_backoff_and_taken_exactly_once() {
    let api = FakeApi::new(Throttle::new(RateLimit::default()));
    api.add_running(1, &["working"]);
    api.fail(
        "stop",
        [
            vastfleet::api::ApiError::Transient("502".into()),
            vastfleet::api::ApiError::Transient("503".into()),
        ],
    );
    let printer = api.clone();
    tokio::spawn(async move {
        sleep(Duration::from_secs(10)).await;
        printer.print(
            1,
            &["SUCCESS! NEW processing completed", "https://r.example/1"],
        );
    });
    let events = run_fleet(
        &api,
        fleet_of([1], Duration::from_secs(2)),
        Duration::from_secs(120),
    )
    .await;

    let stops: Vec<Instant> = api
        .calls()
        .iter()
        .filter(|c| c.endpoint == "stop")
        .map(|c| c.at)
        .collect();
    assert_eq!(stops.len(), 3, "two failures, one success, nothing after");
    let waits: Vec<f64> = stops
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    assert!(
        waits[0] >= 1.5 && waits[1] > waits[0],
        "backoff grows: {waits:?}"
    );
    let completions = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Completion { .. }))
        .count();
    assert_eq!(completions, 1);
    let done: Vec<bool> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Action { ok, .. } => Some(*ok),
            _ => None,
        })
        .collect();
    assert_eq!(done.last(), Some(&true), "{done:?}");
}
