//! Self-tuning against a server whose real limit sits below the configured ceiling (issue 5,
//! "Self-tuning"): over a sustained run the effective rate settles within 20 % of the server's
//! limit and fewer than 2 % of calls are answered 429.

use std::time::Duration;

use vastfleet::throttle::{Endpoint, RateLimit, Throttle, ThrottleConfig};

use super::{fleet_file, secs, Fleet};
use crate::fake::{Answer, FakeApi, ServerLimit};

const N: u64 = 100;
const FIRST_ID: u64 = 34_000_001;
const CEILING: f64 = 8.0;
const RUN: Duration = Duration::from_secs(30 * 60);
/// The first part of the run is the approach; the figures are taken after it.
const SETTLE: Duration = Duration::from_secs(5 * 60);

/// What one sustained run measured.
#[derive(Debug)]
struct Figures {
    /// Effective rate sampled once a second after `SETTLE`.
    mean_rate: f64,
    min_rate: f64,
    max_rate: f64,
    /// Share of samples within 20 % of the server's limit.
    within: f64,
    /// Share of all calls answered 429.
    limited: f64,
    /// Calls answered 200 per second after `SETTLE`.
    goodput: f64,
}

#[tokio::test(start_paused = true)]
async fn the_rate_settles_near_a_server_limit_below_the_ceiling() {
    for server in [
        ServerLimit {
            per_second: 3.0,
            burst: 3.0,
            retry_after: None,
        },
        ServerLimit {
            per_second: 1.5,
            burst: 2.0,
            retry_after: None,
        },
        ServerLimit {
            per_second: 5.0,
            burst: 1.0,
            retry_after: Some(secs(1.0)),
        },
    ] {
        let figures = sustained_run(server).await;
        println!(
            "aimd: ceiling {CEILING}/s, server {:.1}/s (burst {}, retry-after {:?}): effective \
             rate mean {:.2} (min {:.2}, max {:.2}, {:.0}% of samples within 20%), 429s {:.2}% \
             of calls, goodput {:.2} calls/s",
            server.per_second,
            server.burst,
            server.retry_after,
            figures.mean_rate,
            figures.min_rate,
            figures.max_rate,
            figures.within * 100.0,
            figures.limited * 100.0,
            figures.goodput,
        );
        let limit = server.per_second;
        assert!(
            (figures.mean_rate - limit).abs() <= 0.2 * limit,
            "{figures:?}"
        );
        assert!(figures.within >= 0.9, "{figures:?}");
        assert!(figures.limited < 0.02, "{figures:?}");
    }
}

/// A fleet that wants far more than the server gives: a hundred instances every 5 s, with
/// request_logs' gap out of the way so only the overall ceiling (and the server) limit it.
/// The list keeps its documented gap, as the status sweep has it in production.
async fn sustained_run(server: ServerLimit) -> Figures {
    let config = ThrottleConfig::new(RateLimit {
        per_second: CEILING,
        burst: 4,
    })
    .with_gap(Endpoint::RequestLogs, Duration::ZERO);
    let throttle = Throttle::with_config(config);
    let api = FakeApi::new(throttle.clone());
    let ids: Vec<u64> = (FIRST_ID..FIRST_ID + N).collect();
    for &id in &ids {
        api.add_chatty(id, secs(2.0));
    }
    api.limit(server);
    let fleet = Fleet::start(api, &fleet_file("interval = \"5s\"", ids));
    fleet.run_for(SETTLE).await;
    let mut samples = Vec::new();
    while fleet.elapsed() < RUN {
        fleet.run_for(secs(1.0)).await;
        samples.push(throttle.effective_per_second());
    }
    let calls = fleet.api.calls();
    fleet.stop().await;

    let late = |c: &&crate::fake::Call| c.at - calls[0].at >= SETTLE;
    let ok_late = calls
        .iter()
        .filter(late)
        .filter(|c| c.answer == Answer::Ok)
        .count();
    let limited = calls
        .iter()
        .filter(|c| c.answer == Answer::RateLimited)
        .count();
    let near = |r: &&f64| (**r - server.per_second).abs() <= 0.2 * server.per_second;
    Figures {
        mean_rate: samples.iter().sum::<f64>() / samples.len() as f64,
        min_rate: samples.iter().copied().fold(f64::INFINITY, f64::min),
        max_rate: samples.iter().copied().fold(0.0, f64::max),
        within: samples.iter().filter(near).count() as f64 / samples.len() as f64,
        limited: limited as f64 / calls.len() as f64,
        goodput: ok_late as f64 / (RUN - SETTLE).as_secs_f64(),
    }
}

/// The benchmark's self-tuning run on paused time: a key-wide limit of one call a second
/// (burst 1) below a ceiling of 4/s, ten instances every 2 s, and request_logs keeping its
/// documented gap. The list then spends the key's one token every sweep; request_logs, well
/// under its own pace, is refused right after it. A pause that is a whole number of sweeps
/// lands every retry just after a list again, so request_logs starved (50 % of the limit used,
/// 9 % of calls refused, no log read) until such 429s were read as the key's budget.
///
/// Once settled the ceiling holds one step (a fortieth of the probe's rate) below the rate that
/// held, 0.974/s, and probes about every 107 s, one 429 each: 7 of 701 calls (1.00 %), 0.964
/// calls/s accepted (was 0.954 and 1.72 % with a 40 s hold, a dip to 0.82/s after each probe
/// and a hold at 1.000/s, the limit's very edge). The descent from 4/s is one cut from the
/// rate actually sent, four 429s.
#[tokio::test(start_paused = true)]
async fn a_key_wide_limit_below_the_ceiling_is_shared_not_starved() {
    let config = ThrottleConfig::new(RateLimit {
        per_second: 4.0,
        burst: 1,
    });
    let throttle = Throttle::with_config(config);
    let api = FakeApi::new(throttle.clone());
    let ids: Vec<u64> = (FIRST_ID..FIRST_ID + 10).collect();
    for &id in &ids {
        api.add_chatty(id, secs(2.0));
    }
    api.limit(ServerLimit {
        per_second: 1.0,
        burst: 1.0,
        retry_after: None,
    });
    let run = Duration::from_secs(15 * 60);
    let settle = Duration::from_secs(3 * 60);
    let fleet = Fleet::start(api, &fleet_file("interval = \"2s\"", ids));
    fleet.run_for(settle).await;
    let mut rates = Vec::new();
    while fleet.elapsed() < run {
        fleet.run_for(secs(1.0)).await;
        rates.push(throttle.effective_per_second());
    }
    let calls = fleet.api.calls();
    fleet.stop().await;

    let late: Vec<&crate::fake::Call> = calls
        .iter()
        .filter(|c| c.at - calls[0].at >= settle)
        .collect();
    let ok = |c: &&&crate::fake::Call| c.answer == Answer::Ok;
    let goodput = late.iter().filter(ok).count() as f64 / (run - settle).as_secs_f64();
    let whole = calls.iter().filter(|c| c.answer == Answer::Ok).count() as f64 / run.as_secs_f64();
    let logs_ok = late
        .iter()
        .filter(ok)
        .filter(|c| c.endpoint == "logs")
        .count();
    let refused = |c: &&&crate::fake::Call| c.answer == Answer::RateLimited;
    let probes: Vec<Duration> = late
        .iter()
        .filter(refused)
        .map(|c| c.at - calls[0].at)
        .collect();
    let limited = probes.len() as f64 / late.len() as f64;
    let approach = calls.iter().filter(|c| c.at - calls[0].at < settle);
    let approach_429s = approach.filter(|c| c.answer == Answer::RateLimited).count();
    let held = 1.0 - 1.0256 / 40.0;
    let at_held = rates.iter().filter(|r| (**r - held).abs() < 1e-3).count();
    println!(
        "key-wide 1/s: goodput {goodput:.3} calls/s after the approach ({whole:.3} over the \
         whole run), request_logs accepted {logs_ok}, 429s {:.2}% of {} calls after the \
         approach at {probes:?}, {approach_429s} in it; the ceiling at {held:.3}/s {at_held} of \
         {} s",
        limited * 100.0,
        late.len(),
        rates.len(),
    );
    assert!(
        approach_429s <= 4,
        "the descent from 4/s took {approach_429s} refusals"
    );
    assert!(goodput >= 0.96, "goodput {goodput:.3} of the key's 1/s");
    assert!(whole >= 0.94, "goodput {whole:.3} over the whole run");
    assert_eq!(probes.len(), 7, "one 429 per probe: {probes:?}");
    assert!(limited <= 0.01, "{:.2}% of calls refused", limited * 100.0);
    assert!(
        probes
            .windows(2)
            .all(|w| (secs(105.0)..secs(108.0)).contains(&(w[1] - w[0]))),
        "a probe every 107 s: {probes:?}"
    );
    // Never lower once settled (no dip after a probe), and at the held rate but for the probes'
    // two steps.
    assert!(rates.iter().all(|r| *r >= held - 1e-3), "{rates:?}");
    assert!(at_held >= rates.len() - 3 * probes.len(), "{at_held}");
    assert!(
        logs_ok as f64 >= 0.3 * (run - settle).as_secs_f64(),
        "logs read: {logs_ok}"
    );
}
