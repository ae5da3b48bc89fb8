//! The action lifecycle: success and verification, retries with backoff, "already gone",
//! the verification retry, and answers that match nothing.

use super::*;

use ActionKind::{Destroy, Stop};

/// A completion at 5 s has just asked for `on_complete`.
fn acting(on_complete: ActionKind) -> Harness {
    let policy = Policy {
        on_complete: Some(on_complete),
        ..policy()
    };
    let (h, out) = Harness::first_new_line(policy, MachineOptions::default(), "DONE http://r");
    assert_eq!(out[2..], [Output::Checkpoint, Output::Act(on_complete)]);
    h
}

#[test]
fn success_is_reported_and_confirmed_by_the_status_sweeps() {
    let mut h = acting(Stop);
    assert_eq!(
        h.done(6, Stop, Ok(())),
        [action(Stop, "completion", false), Output::Checkpoint]
    );
    assert_eq!(
        h.m.durable().actions,
        [ActionRecord {
            kind: Stop,
            trigger: Trigger::Completion(1),
            done: true
        }]
    );
    assert_eq!(
        h.m.next_wake(),
        Some(secs(10)),
        "the next poll; the verification deadline is 36 s"
    );
    assert_eq!(
        h.status(8, Some("stopped")),
        [
            status("stopped", Some("running")),
            Output::Checkpoint,
            fetch(10)
        ]
    );
    assert_eq!(h.logs(8, &["boot", "DONE http://r"]), []);
    assert_eq!(h.m.next_wake(), None, "confirmed: nothing left to wait for");
    assert_eq!(h.tick(40), []);
}

#[test]
fn failures_retry_with_backoff_until_success() {
    let mut h = acting(Destroy);
    let limited = ApiError::RateLimited {
        retry_after: Some(secs(45)),
        message: "slow down".into(),
    };
    let waits = expected_waits(&[(1, None), (2, Some(secs(45)))]);
    let out = h.done(6, Destroy, Err(transient()));
    assert_eq!(
        out,
        [api_error(
            1,
            waits[0],
            "destroy failed: temporary API failure: HTTP 502"
        )]
    );
    let retry_at = secs(6) + waits[0];
    assert!(
        retry_at > secs(10),
        "the retry comes after the next poll here"
    );
    assert_eq!(
        h.tick(10),
        [fetch(10)],
        "polling goes on while the action waits"
    );
    h.logs(10, &["boot", "DONE http://r"]);
    assert_eq!(h.m.next_wake(), Some(retry_at));
    assert_eq!(
        h.status(10, Some("running")),
        [],
        "no retry before its time"
    );
    assert_eq!(
        h.observe(
            Now {
                mono: retry_at,
                wall: WALL0
            },
            Observation::Tick
        ),
        [Output::Act(Destroy)]
    );
    let out = h.observe(
        Now {
            mono: retry_at,
            wall: WALL0,
        },
        Observation::ActionDone {
            action: Destroy,
            result: Err(limited),
        },
    );
    let text = "destroy failed: rate limited by the API (retry after 45s): slow down";
    assert_eq!(out, [api_error(2, waits[1], text)]);
    assert_eq!(waits[1], secs(45), "Retry-After wins");
    let second = retry_at + waits[1];
    let out = h.observe(
        Now {
            mono: second,
            wall: WALL0,
        },
        Observation::Tick,
    );
    assert_eq!(out, [Output::Act(Destroy), fetch(10)]);
    let out = h.observe(
        Now {
            mono: second,
            wall: WALL0,
        },
        Observation::ActionDone {
            action: Destroy,
            result: Ok(()),
        },
    );
    assert_eq!(
        out,
        [action(Destroy, "completion", false), Output::Checkpoint]
    );
    assert_eq!(h.m.summary().actions, [Destroy]);
}

#[test]
fn not_found_means_already_gone() {
    let mut h = acting(Destroy);
    let out = h.done(
        6,
        Destroy,
        Err(ApiError::NotFound("no_such_instance".into())),
    );
    assert_eq!(
        out,
        [
            action(Destroy, "completion: already gone", false),
            Output::Checkpoint
        ]
    );
    assert_eq!(
        h.m.next_wake(),
        Some(secs(10)),
        "no verification to wait for"
    );
}

#[test]
fn an_instance_gone_while_retrying_ends_the_action() {
    let mut h = acting(Stop);
    h.done(6, Stop, Err(transient()));
    let out = h.gone(7);
    assert_eq!(
        out,
        [
            status("gone", Some("running")),
            action(Stop, "completion: already gone", false),
            Output::Checkpoint
        ]
    );
    assert_eq!(h.m.next_wake(), None);
}

#[test]
fn an_instance_stopped_by_someone_else_while_retrying_needs_no_stop() {
    let mut h = acting(Stop);
    h.done(6, Stop, Err(transient()));
    let wait = expected_waits(&[(1, None)])[0];
    h.status(7, Some("stopped"));
    let out = h.observe(
        Now {
            mono: secs(6) + wait,
            wall: WALL0,
        },
        Observation::Tick,
    );
    assert_eq!(
        out,
        [
            action(Stop, "completion: already stopped", false),
            Output::Checkpoint
        ]
    );
}

#[test]
fn still_running_after_the_grace_period_retries_once_and_says_so() {
    let mut h = acting(Stop);
    h.done(6, Stop, Ok(()));
    // Grace: max(3 × 5 s, 30 s) = 30 s after the success at 6 s.
    for t in [10, 20, 30, 35] {
        let out = h.status(t, Some("running"));
        assert!(!out.contains(&Output::Act(Stop)), "{t}: {out:?}");
    }
    assert_eq!(
        h.m.next_wake(),
        None,
        "the fetch is in flight, and the verification waits for a row, not a tick"
    );
    let out = h.status(36, Some("running"));
    assert_eq!(out[..2], [Output::Checkpoint, Output::Act(Stop)]);
    let out = h.done(37, Stop, Ok(()));
    assert_eq!(
        out,
        [
            action(Stop, "retry: still running after stop", false),
            Output::Checkpoint
        ]
    );
    assert_eq!(
        h.m.durable()
            .actions
            .iter()
            .map(|a| (a.trigger.clone(), a.done))
            .collect::<Vec<_>>(),
        [
            (Trigger::Completion(1), true),
            (Trigger::Verification, true)
        ]
    );
    assert_eq!(
        h.status(40, Some("stopped")),
        [status("stopped", Some("running")), Output::Checkpoint]
    );
    assert_eq!(h.tick(100), [], "confirmed; watching goes on quietly");
}

#[test]
fn a_sweep_slower_than_the_grace_judges_by_the_row_after_the_deadline_not_the_one_before() {
    let mut h = acting(Stop);
    h.done(6, Stop, Ok(()));
    // A thousand instances: the sweep takes 42 s, so the last row (before the stop) still says
    // running at the 36 s deadline. Time alone proves nothing.
    assert!(!h.tick(36).contains(&Output::Act(Stop)));
    assert!(!h.tick(47).contains(&Output::Act(Stop)));
    assert_eq!(
        h.m.next_wake(),
        None,
        "nothing to wake for but the next row"
    );
    assert_eq!(
        h.status(48, Some("stopped")),
        [status("stopped", Some("running")), Output::Checkpoint]
    );
    assert_eq!(h.tick(200), [], "confirmed: one stop call in all");
    assert_eq!(h.m.durable().actions.len(), 1);
}

#[test]
fn a_slow_stop_that_is_on_its_way_is_not_repeated() {
    let mut h = acting(Stop);
    h.done(6, Stop, Ok(()));
    h.status(20, Some("rebooting"));
    assert_eq!(
        h.status(36, Some("rebooting")),
        [],
        "not running: wait another grace period"
    );
    assert_eq!(
        h.status(50, Some("stopped")),
        [status("stopped", Some("rebooting")), Output::Checkpoint]
    );
    assert_eq!(h.tick(70), []);
}

#[test]
fn answers_that_match_nothing_are_ignored() {
    let mut h = acting(Stop);
    assert_eq!(h.done(6, Destroy, Ok(())), [], "not the action in flight");
    h.done(6, Stop, Ok(()));
    assert_eq!(h.done(7, Stop, Ok(())), [], "a duplicate answer");
    assert_eq!(h.m.summary().actions, [Stop]);
}
