//! Round-robin under a binding quota (issue 5, "Fairness"): a hundred running instances that
//! all print, polled every 5 s in principle, while request_logs' 1 s gap allows one poll per
//! second for the whole fleet. Every instance must be polled about every N × 1 s, none
//! starved, every line shown once, and status must stay one list sweep per tick.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;
use vastfleet::api::ApiError;
use vastfleet::report::event::EventKind;
use vastfleet::throttle::Endpoint;

use super::{fleet_file, secs, throttle, Fleet};
use crate::fake::{Answer, Call, FakeApi};

const N: u64 = 100;
const FIRST_ID: u64 = 32_000_001;
/// Long enough for thirty-odd rounds of the whole fleet.
const RUN: Duration = Duration::from_secs(3600);
/// The bound on max staleness ÷ fair share.
const MAX_RATIO: f64 = 1.25;

#[tokio::test(start_paused = true)]
async fn a_hundred_printing_instances_are_polled_round_robin_within_their_fair_share() {
    let api = FakeApi::new(throttle(2.0, 4));
    let started = Instant::now();
    let ids: Vec<u64> = (FIRST_ID..FIRST_ID + N).collect();
    // Different paces, so no two instances' logs look alike.
    let every: BTreeMap<u64, Duration> = ids
        .iter()
        .map(|&id| (id, secs(3.0 + (id % 7) as f64)))
        .collect();
    for (&id, &pace) in &every {
        api.add_chatty(id, pace);
    }
    let fleet = Fleet::start(
        api,
        &fleet_file("interval = \"5s\"\nhistory = 10000", ids.clone()),
    );
    fleet.run_for(RUN).await;
    let end = Instant::now();
    let api = fleet.api.clone();
    let calls = api.calls();
    let events = fleet.events();
    fleet.stop().await;

    // One request_logs call per poll, one call per gap: the quota is 1 call/s.
    let quota = 1.0 / Endpoint::RequestLogs.documented_gap().as_secs_f64();
    let fair_share = secs(N as f64 * 1.0 / quota);
    let mut worst = (0.0_f64, 0);
    let mut ratios = Vec::new();
    for &id in &ids {
        let polls: Vec<Instant> = calls
            .iter()
            .filter(|c| c.endpoint == "logs" && c.id == Some(id))
            .map(|c| c.at)
            .collect();
        // The wait for the first poll and after the last one count as staleness too.
        let bounds: Vec<Instant> = std::iter::once(started)
            .chain(polls.iter().copied())
            .chain(std::iter::once(end))
            .collect();
        let stalest = bounds.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        let ratio = stalest.as_secs_f64() / fair_share.as_secs_f64();
        ratios.push(ratio);
        if ratio > worst.0 {
            worst = (ratio, id);
        }
        assert!(
            polls.len() as f64 >= RUN.as_secs_f64() / fair_share.as_secs_f64() / MAX_RATIO,
            "instance {id} polled {} times",
            polls.len()
        );
        assert_lines_shown_once(id, &events, &api.log(id), every[&id], started, &polls);
    }
    let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
    println!(
        "fairness: {N} instances, fair share {fair_share:?}, max staleness / fair share: worst {:.3} \
         (instance {}), mean of per-instance max {mean:.3}, {} log polls in {RUN:?}",
        worst.0,
        worst.1,
        api.count("logs"),
    );
    assert!(
        worst.0 <= MAX_RATIO,
        "instance {} waited {:.2} fair shares",
        worst.1,
        worst.0
    );

    assert_round_robin(&calls, &ids, fair_share);
    assert_status_is_one_sweep_per_tick(&calls, N);
}

#[tokio::test(start_paused = true)]
async fn a_monitor_whose_fetch_fails_goes_to_the_back_of_the_queue() {
    let api = FakeApi::new(throttle(2.0, 4));
    let ids: Vec<u64> = (FIRST_ID..FIRST_ID + N).collect();
    for &id in &ids {
        api.add_chatty(id, secs(4.0));
    }
    let fleet = Fleet::start(api, &fleet_file("interval = \"5s\"", ids.clone()));
    fleet.run_for(secs(300.0)).await;
    // The next logs calls fail, whoever makes them: 5xx answers, then a 429 whose short
    // Retry-After pauses the fleet without outlasting the monitor's own backoff.
    fleet.api.fail(
        "logs",
        (0..5).map(|k| ApiError::Transient(format!("HTTP 502 #{k}"))),
    );
    fleet.api.fail(
        "logs",
        [ApiError::RateLimited {
            retry_after: Some(secs(3.0)),
            message: "API requests too frequent".into(),
        }],
    );
    fleet.run_for(secs(900.0)).await;
    let api = fleet.api.clone();
    fleet.stop().await;
    let calls = api.calls();

    let failed: Vec<&Call> = calls
        .iter()
        .filter(|c| c.endpoint == "logs" && c.answer != Answer::Ok)
        .collect();
    assert_eq!(failed.len(), 6);
    for call in &failed {
        let id = call.id.unwrap();
        let retried = calls
            .iter()
            .any(|c| c.id == Some(id) && c.at > call.at && c.answer == Answer::Ok);
        assert!(
            retried,
            "instance {id} was not polled again after its failure"
        );
    }
    assert_round_robin(&calls, &ids, secs(N as f64));
}

/// Between two polls of one instance, every other instance is polled: nobody jumps the queue,
/// not even a monitor coming back from a failed fetch. The first round is left out (the order
/// in which a hundred monitors first queue up is the spawn order, not a round).
fn assert_round_robin(calls: &[Call], ids: &[u64], first_round: Duration) {
    let start = calls[0].at + first_round;
    let polls: Vec<u64> = calls
        .iter()
        .filter(|c| c.endpoint == "logs" && c.at >= start)
        .map(|c| c.id.unwrap())
        .collect();
    let mut last: BTreeMap<u64, usize> = BTreeMap::new();
    let mut pairs = 0;
    for (index, &id) in polls.iter().enumerate() {
        if let Some(previous) = last.insert(id, index) {
            let between: BTreeSet<u64> = polls[previous + 1..index].iter().copied().collect();
            let skipped: Vec<u64> = ids
                .iter()
                .filter(|other| **other != id && !between.contains(other))
                .copied()
                .collect();
            assert!(
                skipped.is_empty(),
                "instance {id} was polled twice while {skipped:?} waited"
            );
            pairs += 1;
        }
    }
    assert!(
        pairs as f64 >= polls.len() as f64 * 0.5,
        "too few rounds to judge"
    );
}

/// Every line the instance printed up to its last poll came out exactly once, in order.
fn assert_lines_shown_once(
    id: u64,
    events: &[super::Seen],
    log: &[String],
    pace: Duration,
    started: Instant,
    polls: &[Instant],
) {
    let shown: Vec<&String> = events
        .iter()
        .filter_map(|seen| match &seen.kind {
            EventKind::Log { source, line, .. } if source.id == id => Some(line),
            EventKind::Gap { source, .. } if source.id == id => {
                panic!("instance {id}: a gap at {:?}", seen.at)
            }
            _ => None,
        })
        .collect();
    let last_poll = *polls.last().unwrap();
    let printed_by_last_poll = ((last_poll - started).as_nanos() / pace.as_nanos()) as usize;
    assert_eq!(shown.len(), printed_by_last_poll, "instance {id}");
    assert!(
        shown.iter().zip(log).all(|(a, b)| *a == b),
        "instance {id}: lines out of order or repeated"
    );
}

/// Status costs ⌈N/25⌉ list calls per tick, one sweep per 5 s interval, and no show-one.
fn assert_status_is_one_sweep_per_tick(calls: &[Call], n: u64) {
    let pages = n.div_ceil(25) as usize;
    let mut sweeps: Vec<Vec<&Call>> = Vec::new();
    for call in calls.iter().filter(|c| c.endpoint == "list") {
        match sweeps.last_mut() {
            Some(sweep) if call.arg != 0 => sweep.push(call),
            _ => sweeps.push(vec![call]),
        }
    }
    // The run may have ended in the middle of the last sweep.
    sweeps.pop();
    for sweep in &sweeps {
        let order: Vec<usize> = sweep.iter().map(|c| c.arg).collect();
        assert_eq!(order, (0..pages).collect::<Vec<_>>());
    }
    let starts: Vec<Instant> = sweeps.iter().map(|s| s[0].at).collect();
    for pair in starts.windows(2) {
        let tick = pair[1] - pair[0];
        assert!(
            tick >= secs(5.0) && tick < secs(6.0),
            "sweeps {tick:?} apart"
        );
    }
    assert!(sweeps.len() as f64 >= RUN.as_secs_f64() / 6.0);
    assert_eq!(calls.iter().filter(|c| c.endpoint == "show").count(), 0);
    println!(
        "status: {} sweeps of {pages} list calls, no show calls",
        sweeps.len()
    );
}
