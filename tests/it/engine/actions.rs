//! Exactly-once action under a failing action call (issue 3, "Completion"): the stop is retried
//! with `min(interval · 2^(n-1), max_backoff)` (± jitter) until it succeeds, and never called
//! again once it has.

use std::time::Duration;

use vastfleet::api::ApiError;
use vastfleet::report::event::EventKind;
use vastfleet::status::Status;

use super::{fleet_file, secs, throttle, Fleet};
use crate::fake::{Answer, FakeApi};

const JOB: u64 = 35_000_001;
const INTERVAL: f64 = 5.0;

#[tokio::test(start_paused = true)]
async fn a_stop_that_fails_twice_is_retried_with_backoff_and_taken_once() {
    let waits = stop_after_failures(2, "60s").await;
    assert_backoff(&waits, &[5.0, 10.0], 60.0);
}

#[tokio::test(start_paused = true)]
async fn the_retry_backoff_of_an_action_is_capped() {
    let waits = stop_after_failures(4, "12s").await;
    assert_backoff(&waits, &[5.0, 10.0, 12.0, 12.0], 12.0);
}

/// Each wait within the ±10 % jitter of its nominal value, never above the cap.
fn assert_backoff(waits: &[Duration], nominal: &[f64], cap: f64) {
    assert_eq!(waits.len(), nominal.len(), "{waits:?}");
    for (wait, nominal) in waits.iter().zip(nominal) {
        let low = secs(nominal * 0.9);
        let high = secs((nominal * 1.1).min(cap) + 0.001);
        assert!(*wait >= low && *wait <= high, "{waits:?}");
    }
}

/// One instance completes; its stop answers 502 `failures` times, then succeeds. Returns the
/// waits between the attempts.
async fn stop_after_failures(failures: usize, max_backoff: &str) -> Vec<Duration> {
    let api = FakeApi::new(throttle(2.0, 4));
    api.add_running(JOB, &["booting"]);
    api.fail(
        "stop",
        (0..failures).map(|n| ApiError::Transient(format!("HTTP 502 (attempt {n})"))),
    );
    let defaults = format!(
        "interval = \"{INTERVAL}s\"\nmax_backoff = \"{max_backoff}\"\non_complete = \"stop\""
    );
    let fleet = Fleet::start(api, &fleet_file(&defaults, [JOB]));
    fleet.run_for(secs(12.0)).await;
    fleet.api.print(
        JOB,
        &[
            "SUCCESS! NEW processing completed",
            "https://results.example/r1",
        ],
    );
    // Long enough for every retry, the verification by the status sweeps, and then some.
    fleet.run_for(secs(600.0)).await;

    let stops: Vec<_> = fleet
        .api
        .calls()
        .into_iter()
        .filter(|c| c.endpoint == "stop")
        .collect();
    let answers: Vec<Answer> = stops.iter().map(|c| c.answer).collect();
    let mut expected = vec![Answer::Failed; failures];
    expected.push(Answer::Ok);
    assert_eq!(answers, expected, "one successful stop, none after it");
    assert_eq!(fleet.api.status(JOB).as_deref(), Some("stopped"));

    let errors = fleet.picked(|k| match k {
        EventKind::ApiError {
            source: Some(_),
            attempt,
            retry_in,
            ..
        } => Some((*attempt, *retry_in)),
        _ => None,
    });
    let attempts: Vec<u32> = errors.iter().map(|(_, (n, _))| *n).collect();
    assert_eq!(attempts, (1..=failures as u32).collect::<Vec<_>>());
    let actions = fleet.picked(|k| match k {
        EventKind::Action {
            action,
            ok,
            dry_run,
            ..
        } => Some((action.as_str(), *ok, *dry_run)),
        _ => None,
    });
    assert_eq!(
        actions.iter().map(|(_, a)| *a).collect::<Vec<_>>(),
        [("stop", true, false)]
    );
    let completions = fleet.picked(|k| matches!(k, EventKind::Completion(_)).then_some(()));
    assert_eq!(completions.len(), 1);

    // The announced waits are the ones kept (the stop's endpoint gap is shorter).
    let waits: Vec<Duration> = stops.windows(2).map(|w| w[1].at - w[0].at).collect();
    for (wait, (_, (_, announced))) in waits.iter().zip(&errors) {
        assert!(
            *wait >= *announced && *wait - *announced < secs(0.001),
            "{waits:?} vs {errors:?}"
        );
    }
    // Still watching after the action: the stop was seen to take effect.
    let statuses = fleet.picked(|k| match k {
        EventKind::Status { status, .. } => Some(status.clone()),
        _ => None,
    });
    assert_eq!(statuses.last().unwrap().1, Status::Stopped);
    fleet.stop().await;
    waits
}
