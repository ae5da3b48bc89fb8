//! The shared throttle on tokio's paused clock, driven through the in-memory fake of the API
//! (`fake.rs`) that, like the real client, awaits the throttle before every call and reports
//! 429s and successes back to it.

use std::time::Duration;

use tokio::time::{sleep, Instant};
use vastfleet::api::Api;
use vastfleet::throttle::{Endpoint, RateLimit, Throttle, ThrottleConfig, GAP_MARGIN};

use crate::fake::FakeApi;

/// The fake API on `throttle`, with instances 0 to 99 running: every call the tests make is
/// about one that exists.
fn fake(throttle: Throttle) -> FakeApi {
    let api = FakeApi::new(throttle);
    for id in 0..100 {
        api.add_running(id, &[]);
    }
    api
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn no_ceiling() -> RateLimit {
    RateLimit {
        per_second: f64::INFINITY,
        burst: 1,
    }
}

/// The documented gaps exactly (no safety margin, for round numbers), the given ceiling, no
/// self-tuning.
fn fixed(ceiling: RateLimit) -> Throttle {
    Throttle::with_config(ThrottleConfig {
        adaptive: false,
        gaps: Endpoint::ALL.map(Endpoint::documented_gap),
        ..ThrottleConfig::new(ceiling)
    })
}

#[tokio::test(start_paused = true)]
async fn calls_to_one_endpoint_are_spaced_by_its_gap() {
    let api = fake(fixed(no_ceiling()));
    let shows = async {
        for id in 0..3 {
            api.show(id).await.unwrap();
        }
    };
    let destroys = async {
        for id in 0..3 {
            api.destroy(id).await.unwrap();
        }
    };
    let lists = async {
        for _ in 0..3 {
            api.list_page(None, None).await.unwrap();
        }
    };
    tokio::join!(shows, destroys, lists);
    assert_eq!(
        api.times(Endpoint::ShowOne),
        [secs(0.0), secs(2.0), secs(4.0)]
    );
    assert_eq!(
        api.times(Endpoint::Destroy),
        [secs(0.0), secs(3.0), secs(6.0)]
    );
    assert_eq!(api.times(Endpoint::List), [secs(0.0), secs(1.0), secs(2.0)]);
}

#[tokio::test(start_paused = true)]
async fn overridden_gaps_are_used() {
    let config = ThrottleConfig::new(no_ceiling()).with_gap(Endpoint::RequestLogs, secs(0.25));
    let api = fake(Throttle::with_config(config));
    for id in 0..3 {
        api.logs(id, 10).await.unwrap();
    }
    assert_eq!(
        api.times(Endpoint::RequestLogs),
        [secs(0.0), secs(0.25), secs(0.5)]
    );
}

#[tokio::test(start_paused = true)]
async fn the_overall_ceiling_holds_across_endpoints() {
    let api = fake(fixed(RateLimit {
        per_second: 2.0,
        burst: 1,
    }));
    let mut tasks = Vec::new();
    for round in 0..3u64 {
        for endpoint in [Endpoint::List, Endpoint::ShowOne, Endpoint::RequestLogs] {
            let api = api.clone();
            tasks.push(tokio::spawn(async move {
                match endpoint {
                    Endpoint::List => api.list_page(None, None).await.map(drop),
                    Endpoint::ShowOne => api.show(round).await.map(drop),
                    _ => api.logs(round, 10).await.map(drop),
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let times = api.all_times();
    assert_eq!(times.len(), 9);
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] >= secs(0.5), "ceiling broken: {times:?}");
    }
    assert_eq!(
        times[1],
        secs(0.5),
        "the ceiling, not a gap, spaced the first calls"
    );
    let shows = api.times(Endpoint::ShowOne);
    assert!(
        shows.windows(2).all(|p| p[1] - p[0] >= secs(2.0)),
        "{shows:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn fifty_concurrent_callers_are_served_in_order() {
    let api = fake(fixed(RateLimit::default()));
    let tasks: Vec<_> = (0..50u64)
        .map(|id| {
            let api = api.clone();
            tokio::spawn(async move { api.show(id).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let calls = api.records();
    let ids: Vec<u64> = calls.iter().map(|c| c.1).collect();
    assert_eq!(
        ids,
        (0..50).collect::<Vec<_>>(),
        "not first come, first served"
    );
    let times: Vec<Duration> = calls.iter().map(|c| c.2).collect();
    let expected: Vec<Duration> = (0..50).map(|i| secs(2.0 * i as f64)).collect();
    assert_eq!(times, expected);
}

#[tokio::test(start_paused = true)]
async fn a_429_pauses_only_its_endpoint_and_the_pause_grows_until_a_success() {
    let api = fake(fixed(no_ceiling()));
    let mut status = api.throttle.subscribe();

    api.answer_429("show", None);
    api.answer_429("show", None);
    assert!(api.show(1).await.unwrap_err().is_rate_limited());
    let show = status.borrow_and_update().endpoints[Endpoint::ShowOne.index()].clone();
    assert!(show.limited);
    assert_eq!(show.paused_until, Some(api.start + secs(2.0)));
    assert!(show.reason.unwrap().contains("pausing it 2s"));

    // The second 429 in a row doubles the pause; the other endpoints do not wait for it.
    assert!(api.show(1).await.unwrap_err().is_rate_limited());
    assert_eq!(api.times(Endpoint::ShowOne), [secs(0.0), secs(2.0)]);
    let (list, logs) = tokio::join!(api.list_page(None, None), api.logs(1, 10));
    assert!(list.is_ok() && logs.is_ok());
    assert_eq!(api.times(Endpoint::List), [secs(2.0)]);
    assert_eq!(api.times(Endpoint::RequestLogs), [secs(2.0)]);
    api.show(2).await.unwrap();
    assert_eq!(api.times(Endpoint::ShowOne)[2], secs(6.0));
    // After that success the backoff starts over at 2 s.
    api.answer_429("show", None);
    assert!(api.show(3).await.is_err());
    assert_eq!(
        status.borrow_and_update().endpoints[Endpoint::ShowOne.index()].paused_until,
        Some(api.start + secs(10.0))
    );
    let stats = api.throttle.stats();
    assert_eq!(stats.rate_limited[&Endpoint::ShowOne], 3);
    assert_eq!(stats.total_rate_limited(), 3);
}

#[tokio::test(start_paused = true)]
async fn several_endpoints_limited_at_once_pause_every_call_but_the_actions() {
    let api = fake(fixed(no_ceiling()));
    api.answer_429("logs", Some(secs(30.0)));
    api.answer_429("list", Some(secs(10.0)));
    assert!(api.logs(1, 10).await.is_err());
    assert!(api.list_page(None, None).await.is_err());
    let status = api.throttle.subscribe().borrow().clone();
    assert_eq!(status.key_limited, [Endpoint::List, Endpoint::RequestLogs]);
    assert_eq!(status.key_paused_until, Some(api.start + secs(10.0)));
    // A stop and a destroy go at once; a show waits for the key's pause, logs for its own.
    tokio::join!(
        async { api.stop(1).await.unwrap() },
        async { api.destroy(2).await.unwrap() },
        async { api.show(3).await.map(drop).unwrap() },
        async { api.logs(4, 10).await.map(drop).unwrap() },
    );
    assert_eq!(api.times(Endpoint::SetState), [secs(0.0)]);
    assert_eq!(api.times(Endpoint::Destroy), [secs(0.0)]);
    assert_eq!(api.times(Endpoint::ShowOne), [secs(10.0)]);
    assert_eq!(api.times(Endpoint::RequestLogs), [secs(0.0), secs(30.0)]);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_for_its_endpoint_up_to_the_cap() {
    let config = ThrottleConfig {
        adaptive: false,
        gaps: Endpoint::ALL.map(Endpoint::documented_gap),
        ..ThrottleConfig::new(no_ceiling())
    }
    .with_max_retry_after(secs(60.0));
    let api = fake(Throttle::with_config(config));
    let mut status = api.throttle.subscribe();
    api.answer_429("list", Some(secs(7.0)));
    let err = api.list_page(None, None).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(secs(7.0)));
    let reason = status.borrow_and_update().endpoints[Endpoint::List.index()]
        .reason
        .clone()
        .unwrap();
    assert!(reason.contains("asked to wait 7s"), "{reason}");
    api.logs(3, 10).await.unwrap();
    api.list_page(None, None).await.unwrap();
    assert_eq!(api.times(Endpoint::RequestLogs), [secs(0.0)]);
    assert_eq!(api.times(Endpoint::List), [secs(0.0), secs(7.0)]);

    // A day (or 2^64 - 1 s) is waited for the cap, and the reason says so.
    for demand in [Duration::from_secs(86_400), Duration::MAX] {
        api.answer_429("show", Some(demand));
        let err = api.show(1).await.unwrap_err();
        assert_eq!(err.retry_after(), Some(secs(60.0)));
        let show = status.borrow_and_update().endpoints[Endpoint::ShowOne.index()].clone();
        assert_eq!(show.paused_until, Some(Instant::now() + secs(60.0)));
        let reason = show.reason.unwrap();
        assert!(reason.contains("waiting 1m (max_retry_after)"), "{reason}");
        sleep(secs(60.0)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_429s_of_one_episode_cut_the_pace_once() {
    let throttle = Throttle::new(RateLimit {
        per_second: 2.0,
        burst: 1,
    });
    let top = 1.0 / (1.0 + GAP_MARGIN.as_secs_f64());
    assert_eq!(throttle.pace(Endpoint::List), top);
    throttle.note_rate_limited(Endpoint::List, None);
    throttle.note_rate_limited(Endpoint::List, None);
    throttle.note_rate_limited(Endpoint::List, Some(secs(1.0)));
    assert_eq!(
        throttle.pace(Endpoint::List),
        top * 0.5,
        "cut once, not three times"
    );
    let status = throttle.subscribe().borrow().clone();
    let list = &status.endpoints[Endpoint::List.index()];
    assert_eq!(list.paused_until, Some(Instant::now() + secs(4.0)));
    assert_eq!(
        throttle.pace(Endpoint::RequestLogs),
        top,
        "other endpoints keep theirs"
    );
    assert_eq!(
        throttle.effective_per_second(),
        2.0,
        "not at the ceiling: no cut of it"
    );
    assert_eq!(throttle.stats().rate_limited[&Endpoint::List], 3);
}

#[tokio::test(start_paused = true)]
async fn at_the_ceiling_a_429_also_cuts_it_and_it_is_back_within_two_minutes() {
    let limit = RateLimit {
        per_second: 2.0,
        burst: 1,
    };
    let config = ThrottleConfig {
        gaps: [Duration::ZERO; 5],
        ..ThrottleConfig::new(limit)
    };
    let api = fake(Throttle::with_config(config));
    for id in 0..12 {
        api.logs(id, 10).await.unwrap();
    }
    assert_eq!(
        api.times(Endpoint::RequestLogs)[11],
        secs(5.5),
        "at the ceiling"
    );
    api.answer_429("logs", None);
    api.logs(12, 10).await.unwrap_err();
    assert_eq!(api.throttle.effective_per_second(), 1.6);
    // The pause (2 s) is this endpoint's: the list goes on, paced by the lowered ceiling.
    api.list_page(None, None).await.unwrap();
    api.list_page(None, None).await.unwrap();
    let lists = api.times(Endpoint::List);
    assert_eq!(lists, [secs(6.625), secs(7.25)]);
    let paused_until = api.start + secs(8.0);
    sleep_until_at(paused_until + secs(7.9)).await;
    assert_eq!(api.throttle.effective_per_second(), 1.6, "quiet");
    sleep_until_at(paused_until + secs(120.0)).await;
    assert_eq!(api.throttle.effective_per_second(), 2.0);
}

async fn sleep_until_at(at: Instant) {
    tokio::time::sleep_until(at).await;
}

#[tokio::test(start_paused = true)]
async fn an_action_does_not_wait_behind_queued_log_calls() {
    // The ceiling (one call per 2 s) is slower than the logs gap (1 s), so a log call is always
    // waiting for the next permit when the stop arrives.
    let api = fake(fixed(RateLimit {
        per_second: 0.5,
        burst: 1,
    }));
    let logs: Vec<_> = (0..20u64)
        .map(|id| {
            let api = api.clone();
            tokio::spawn(async move { api.logs(id, 10).await })
        })
        .collect();
    sleep(secs(1.5)).await;
    api.stop(99).await.unwrap();
    assert_eq!(
        api.times(Endpoint::SetState),
        [secs(2.0)],
        "the stop should take the very next permit"
    );
    for task in logs {
        task.await.unwrap().unwrap();
    }
    let log_times = api.times(Endpoint::RequestLogs);
    assert_eq!(&log_times[..3], [secs(0.0), secs(4.0), secs(6.0)]);
    assert_eq!(log_times.len(), 20);
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_gives_up_frees_its_place() {
    let api = fake(fixed(no_ceiling()));
    api.show(1).await.unwrap();
    let gave_up = tokio::time::timeout(secs(1.0), api.show(2)).await;
    assert!(
        gave_up.is_err(),
        "the second show should still be waiting for its gap"
    );
    api.show(3).await.unwrap();
    let calls = api.records();
    assert_eq!(
        calls,
        [
            (Endpoint::ShowOne, 1, secs(0.0)),
            (Endpoint::ShowOne, 3, secs(2.0))
        ]
    );
    let stats = api.throttle.stats();
    assert_eq!(stats.calls[&Endpoint::ShowOne], 2);
    assert_eq!(stats.calls[&Endpoint::List], 0);
}

#[tokio::test(start_paused = true)]
async fn unlimited_lets_everything_through_at_once() {
    let api = fake(Throttle::unlimited());
    for id in 0..10 {
        api.destroy(id).await.unwrap();
    }
    assert!(api.all_times().iter().all(|t| *t == Duration::ZERO));
    assert_eq!(api.throttle.effective_per_second(), f64::INFINITY);
}

/// The bound the systemd watchdog is built on (`service::Liveness`): through a storm on every
/// endpoint at the longest honoured `Retry-After`, and a 429 that extends the key's pause while
/// the call waits, a list call still goes within `longest_wait`, and so does the next one at
/// the cut pace.
#[tokio::test(start_paused = true)]
async fn a_list_call_waits_no_longer_than_its_longest_wait_through_a_storm() {
    let config = ThrottleConfig::new(RateLimit::default());
    let bound = config.longest_wait(Endpoint::List);
    let throttle = Throttle::with_config(config);
    let refused = Some(Duration::from_secs(3600));
    for endpoint in Endpoint::ALL {
        for _ in 0..3 {
            throttle.note_rate_limited(endpoint, refused);
        }
    }
    let start = Instant::now();
    let extend = {
        let throttle = throttle.clone();
        tokio::spawn(async move {
            sleep(Duration::from_secs(50)).await;
            throttle.note_rate_limited(Endpoint::Destroy, refused);
            throttle.note_rate_limited(Endpoint::RequestLogs, refused);
        })
    };
    throttle.acquire(Endpoint::List).await;
    let waited = start.elapsed();
    extend.await.unwrap();
    assert!(
        waited >= Duration::from_secs(100),
        "the extended pause held it: {waited:?}"
    );
    assert!(waited <= bound, "{waited:?} > {bound:?}");
    let next = Instant::now();
    throttle.acquire(Endpoint::List).await;
    assert!(next.elapsed() <= bound, "{:?} > {bound:?}", next.elapsed());
}

/// A call answered late (it may have reached the server late) spaces the next one from its
/// answer; one answered at once leaves the departure gap as it was (issue 18: the strict
/// model's 429s on a loaded machine).
#[tokio::test(start_paused = true)]
async fn a_late_answer_spaces_the_next_call_from_the_answer() {
    let throttle = Throttle::new(RateLimit {
        per_second: 100.0,
        burst: 10,
    });
    let gap = Endpoint::List.documented_gap();
    let start = Instant::now();
    throttle.acquire(Endpoint::List).await;
    sleep(Duration::from_millis(5)).await;
    throttle.note_answered(Endpoint::List);
    let second = throttle.acquire(Endpoint::List).await - start;
    assert_eq!(second, gap + GAP_MARGIN, "a prompt answer costs nothing");

    sleep(Duration::from_millis(400)).await;
    throttle.note_answered(Endpoint::List);
    let answered = Instant::now() - start;
    let third = throttle.acquire(Endpoint::List).await - start;
    assert_eq!(third, answered + gap, "counted from the late answer");

    // Another endpoint's answers are its own.
    let first_logs = throttle.acquire(Endpoint::RequestLogs).await - start;
    assert_eq!(first_logs, third);
}

#[tokio::test(start_paused = true)]
async fn back_to_back_stops_keep_their_own_gap_while_reads_fill_the_ceiling() {
    // Reads alone would fill the ceiling (2 calls/s: the list and the logs at 1 s each), so a
    // read always waits for the next permit when a stop's gap ends; 1.2 s (a gap counted from
    // an answer, say) ends between two of the ceiling's permits.
    let mut gaps = Endpoint::ALL.map(Endpoint::documented_gap);
    gaps[Endpoint::SetState.index()] = secs(1.2);
    let api = fake(Throttle::with_config(ThrottleConfig {
        adaptive: false,
        gaps,
        ..ThrottleConfig::new(RateLimit {
            per_second: 2.0,
            burst: 1,
        })
    }));
    let reads: Vec<_> = (0..2)
        .map(|lane| {
            let api = api.clone();
            tokio::spawn(async move {
                for id in 0u64.. {
                    if lane == 0 {
                        api.list_page(None, None).await.unwrap();
                    } else {
                        api.logs(id % 100, 10).await.unwrap();
                    }
                }
            })
        })
        .collect();
    sleep(secs(0.25)).await;
    for id in 0..10 {
        api.stop(id).await.unwrap();
    }
    let stops = api.times(Endpoint::SetState);
    let spacing: Vec<Duration> = stops.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(
        spacing,
        [secs(1.2); 9],
        "the set_state gap, not the gap plus the rest of a read's permit: {stops:?}"
    );
    let overall = api.times(Endpoint::List).len() + api.times(Endpoint::RequestLogs).len() + 10;
    let elapsed = stops[9].as_secs_f64();
    assert!(
        overall as f64 <= 2.0 * elapsed + 1.0,
        "the ceiling still holds: {overall} calls in {elapsed} s"
    );
    reads.into_iter().for_each(|task| task.abort());
}
