//! One 429 on one instance's logs call (issue 11, "Budgets per endpoint"): only request_logs
//! pauses — for the server's `Retry-After`, or our own backoff without one — while the status
//! sweeps go on; the pace is cut once and is back when the episode ends. The human stream
//! hears it twice: when request_logs starts being limited and when it is back.

use std::time::Duration;

use vastfleet::api::ApiError;
use vastfleet::report::event::EventKind;
use vastfleet::throttle::{Change, Endpoint, Scope, GAP_MARGIN};

use super::{fleet_file, secs, throttle, Fleet};
use crate::fake::{Answer, FakeApi};

const IDS: [u64; 5] = [33_000_001, 33_000_002, 33_000_003, 33_000_004, 33_000_005];
/// An episode ends this long after its pause (`throttle/budget.rs`).
const QUIET: Duration = Duration::from_secs(8);

#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_pauses_request_logs_for_exactly_that_long() {
    let reason = pause_after_one_429(Some(secs(30.0)), secs(30.0)).await;
    assert!(reason.contains("asked to wait 30s"), "{reason}");
}

#[tokio::test(start_paused = true)]
async fn a_429_without_retry_after_pauses_request_logs_for_the_backoff() {
    // The first 429 after a success: 2 s (vast-api.md §6 advice, doubling per 429 in a row).
    let reason = pause_after_one_429(None, secs(2.0)).await;
    assert!(reason.contains("pausing it 2s"), "{reason}");
}

/// Runs five printing instances, answers one logs call with a 429, and checks the pause of
/// length `window`. Returns the reason of the `limited` line.
async fn pause_after_one_429(retry_after: Option<Duration>, window: Duration) -> String {
    let api = FakeApi::new(throttle(2.0, 4));
    for id in IDS {
        api.add_chatty(id, secs(1.5));
    }
    let fleet = Fleet::start(api, &fleet_file("interval = \"5s\"", IDS));
    fleet.run_for(secs(60.0)).await;
    fleet.api.fail(
        "logs",
        [ApiError::RateLimited {
            retry_after,
            message: "API requests too frequent".into(),
        }],
    );
    fleet.run_for(secs(180.0)).await;
    let calls = fleet.api.calls();
    let top = 1.0 / (Endpoint::RequestLogs.documented_gap() + GAP_MARGIN).as_secs_f64();

    let limited: Vec<_> = calls
        .iter()
        .filter(|c| c.answer == Answer::RateLimited)
        .collect();
    assert_eq!(limited.len(), 1);
    let hit = limited[0];
    let culprit = hit.id.unwrap();
    let at = hit.at - fleet.origin;

    // No logs call during the window, then one at its end exactly; the list goes on.
    let next_logs = calls
        .iter()
        .find(|c| c.at > hit.at && c.endpoint == "logs")
        .unwrap();
    // (The halved pace may be the longer wait.)
    assert_eq!(next_logs.at - hit.at, window.max(secs(2.0 / top)));
    let sweeps_during = calls
        .iter()
        .filter(|c| c.endpoint == "list" && c.at > hit.at && c.at < hit.at + window)
        .count();
    // One sweep per 5 s interval goes on as if nothing happened.
    assert_eq!(sweeps_during, (window.as_secs_f64() / 5.0).floor() as usize);
    // During the episode logs go at half the pace (one call every 2.1 s).
    let during: Vec<_> = calls
        .iter()
        .filter(|c| c.endpoint == "logs" && c.at >= next_logs.at)
        .take(3)
        .collect();
    assert_eq!(during[1].at - during[0].at, secs(2.0 / top));
    for id in IDS {
        assert!(
            calls.iter().any(|c| c.id == Some(id)
                && c.at > hit.at
                && c.answer == Answer::Ok
                && c.endpoint == "logs"),
            "instance {id} was not polled after the pause"
        );
    }

    // Said twice: request_logs limited (at the 429, with the new pace) and back (the pause
    // plus the quiet period later, at the documented pace). No key-wide pause, no ceiling cut.
    let lines = fleet.picked(|k| match k {
        EventKind::Throttle {
            scope,
            change,
            per_second,
            reason,
        } if *change != Change::Step => Some((*scope, *change, *per_second, reason.clone())),
        _ => None,
    });
    let logs = Scope::Endpoint(Endpoint::RequestLogs);
    let [(limited_at, limited), (back_at, back)] = lines.as_slice() else {
        panic!("expected two lines: {lines:?}");
    };
    assert_eq!(
        (*limited_at, limited.0, limited.1, limited.2),
        (at, logs, Change::Limited, top / 2.0)
    );
    assert_eq!(
        (*back_at, back.0, back.1, back.2),
        (at + window + QUIET, logs, Change::Back, top)
    );
    assert!(limited.3.contains("then 0.48 calls/s"), "{}", limited.3);
    let notices = fleet.picked(|k| matches!(k, EventKind::Notice { .. }).then_some(()));
    assert!(notices.is_empty(), "{notices:?}");

    // Instance-level: only the culprit saw an error, and it recovered.
    let errors = fleet.picked(|k| match k {
        EventKind::ApiError {
            source, retry_in, ..
        } => Some((source.as_ref().map(|s| s.id), *retry_in)),
        _ => None,
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (_, (source, retry_in)) = errors[0];
    assert_eq!(source, Some(culprit));
    assert!(retry_in >= window);
    let recovered = fleet.picked(|k| match k {
        EventKind::Recovered { source, .. } => source.as_ref().map(|s| s.id),
        _ => None,
    });
    assert_eq!(
        recovered.iter().map(|(_, id)| *id).collect::<Vec<_>>(),
        [culprit]
    );
    assert_eq!(fleet.api.throttle().effective_per_second(), 2.0);
    assert_eq!(fleet.api.throttle().pace(Endpoint::RequestLogs), top);
    fleet.stop().await;
    limited.3.clone()
}
