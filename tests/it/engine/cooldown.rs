//! The fleet-wide cooldown (issue 5, "Fleet-wide throttle"): a 429 on one instance's logs call
//! pauses every caller — other monitors and the status feed — for the server's `Retry-After`,
//! or our own backoff without one. The fleet hears it once (a throttle line and a notice), hears
//! when it ends, and the fleet then gets back to normal.

use std::time::Duration;

use vastfleet::api::ApiError;
use vastfleet::report::event::EventKind;

use super::{fleet_file, secs, throttle, Fleet};
use crate::fake::{Answer, FakeApi};

const IDS: [u64; 5] = [33_000_001, 33_000_002, 33_000_003, 33_000_004, 33_000_005];
const CEILING: f64 = 2.0;
/// What one rate-limit episode multiplies the rate by.
const CUT: f64 = 0.8;

#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_pauses_every_caller_for_exactly_that_long() {
    let text = cooldown_after_one_429(Some(secs(30.0)), secs(30.0)).await;
    assert!(text.contains("asked to wait 30s"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_429_without_retry_after_pauses_every_caller_for_the_backoff() {
    // The first episode after a success: 2 s (vast-api.md §6 advice, doubling per episode).
    let text = cooldown_after_one_429(None, secs(2.0)).await;
    assert!(text.contains("pausing every call for 2s"), "{text}");
}

/// Runs five printing instances, answers one logs call with a 429, and checks the pause of
/// length `window`. Returns the reason of the fleet-level throttle line.
async fn cooldown_after_one_429(retry_after: Option<Duration>, window: Duration) -> String {
    let api = FakeApi::new(throttle(CEILING, 4));
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
    let rate_after = fleet.api.throttle().effective_per_second();

    let limited: Vec<_> = calls
        .iter()
        .filter(|c| c.answer == Answer::RateLimited)
        .collect();
    assert_eq!(limited.len(), 1);
    let hit = limited[0];
    let culprit = hit.id.unwrap();
    let at = hit.at - fleet.origin;

    // Nobody calls during the window. The first call comes as soon as the lowered rate allows
    // after it: the queue leaves paced, not as one burst, since the API just complained.
    let next = calls.iter().find(|c| c.at > hit.at).unwrap();
    let paced = secs(1.0 / (CEILING * CUT));
    let after = next.at - hit.at;
    assert!(
        after >= window && after <= window + paced + secs(0.001),
        "first call {after:?} after the 429"
    );
    for id in IDS {
        assert!(
            calls.iter().any(|c| c.id == Some(id)
                && c.at > hit.at
                && c.answer == Answer::Ok
                && c.endpoint == "logs"),
            "instance {id} was not polled after the cooldown"
        );
    }
    assert!(calls.iter().any(|c| c.endpoint == "list" && c.at > hit.at));

    // Fleet-level: one lowering of the rate with the reason (the pause is said there), and
    // one notice when calls resume.
    let notices = fleet.picked(|k| match k {
        EventKind::Notice { message } => Some(message.clone()),
        _ => None,
    });
    let [(resumed_at, resumed)] = notices.as_slice() else {
        panic!("expected one notice: {notices:?}");
    };
    assert!(resumed.contains("cooldown over"), "{resumed}");
    assert_eq!(*resumed_at, at + window);
    let rates = fleet.picked(|k| match k {
        EventKind::Throttle { per_second, reason } => Some((*per_second, reason.clone())),
        _ => None,
    });
    let (cut_at, (cut_to, reason)) = rates.first().cloned().unwrap();
    assert_eq!((cut_at, cut_to), (at, CEILING * CUT));
    assert!(
        rates[1..].iter().all(|(_, (r, _))| *r > cut_to),
        "only one cut: {rates:?}"
    );

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

    // And the rate crept back up to the ceiling once things were quiet.
    assert_eq!(rate_after, CEILING);
    assert_eq!(rates.last().unwrap().1 .0, CEILING);
    fleet.stop().await;
    reason
}
