use super::*;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A budget with a 1 s gap (1 call/s documented).
fn one_per_second() -> Budget {
    Budget::new(Duration::from_secs(1), true)
}

#[test]
fn a_storm_is_one_episode_cut_once_with_a_doubling_pause() {
    let t0 = Instant::now();
    let mut b = one_per_second();
    assert_eq!(b.pace_at(t0), Some(1.0));
    let mut now = t0;
    let mut pauses = Vec::new();
    for n in 0..6 {
        let noted = b.note_429(now, None);
        assert_eq!(noted == Noted::NewEpisode, n == 0);
        let until = b.paused_until().unwrap();
        pauses.push((until - now).as_secs());
        assert_eq!(b.pace_at(now), Some(0.5), "cut once, not once per 429");
        now = until;
    }
    assert_eq!(pauses, [2, 4, 8, 16, 22, 22]);
    assert_eq!(
        (BACKOFF.cap + QUIET),
        BACK_WITHIN,
        "the last pause plus the quiet period fit the recovery bound"
    );
    b.note_success();
    b.note_429(now, None);
    assert_eq!(
        b.paused_until(),
        Some(now + secs(2.0)),
        "a success resets it"
    );
}

#[test]
fn the_episode_ends_quietly_and_the_pace_is_back_at_once() {
    let t0 = Instant::now();
    let mut b = one_per_second();
    b.note_429(t0, None);
    assert!(b.limited());
    assert_eq!(b.episode_ends(), Some(t0 + secs(2.0) + QUIET));
    b.expire(t0 + secs(9.9));
    assert!(b.limited());
    assert_eq!(b.gap_at(t0 + secs(9.9)), secs(2.0));
    b.expire(t0 + secs(10.0));
    assert!(!b.limited());
    assert_eq!(b.pace_at(t0 + secs(10.0)), Some(1.0));
    assert_eq!(b.paused_until(), None);
}

#[test]
fn windows_closer_than_the_quiet_period_are_one_storm() {
    let t0 = Instant::now();
    let mut b = one_per_second();
    assert_eq!(b.note_429(t0, None), Noted::NewEpisode);
    b.note_success();
    b.expire(t0 + secs(7.0));
    assert_eq!(b.note_429(t0 + secs(7.0), None), Noted::SameEpisode);
    assert_eq!(b.paused_until(), Some(t0 + secs(9.0)));
    assert_eq!(b.episode_ends(), Some(t0 + secs(17.0)));
}

#[test]
fn a_new_storm_during_recovery_keeps_the_pace_from_before_the_first() {
    let t0 = Instant::now();
    let mut b = one_per_second();
    b.note_429(t0, None);
    b.note_success();
    let ended = t0 + secs(10.0);
    b.expire(ended);
    // Another storm 5 s after the first ended: the pace then had not held GOOD_SPAN, so the
    // good pace is still the one from before the first storm.
    let t1 = ended + secs(5.0);
    assert_eq!(b.note_429(t1, None), Noted::NewEpisode);
    assert_eq!(b.pace_at(t1), Some(0.5));
    b.note_success();
    b.expire(t1 + secs(10.0));
    assert_eq!(b.pace_at(t1 + secs(10.0)), Some(1.0));
}

#[test]
fn the_pace_never_drops_below_a_quarter_and_climbs_back_within_two_minutes() {
    let t0 = Instant::now();
    let mut b = one_per_second();
    // Recovering from a storm at a quarter of the rate: good was not established since.
    b.good = Some(0.25);
    b.recovery = Some(Recovery {
        ended: t0,
        from: 0.25,
    });
    b.note_429(t0, Some(Duration::ZERO));
    assert_eq!(b.pace_at(t0), Some(0.25), "0.5 × 0.25 is below the floor");
    let ended = t0 + QUIET;
    b.expire(ended);
    let at = |s: f64| b.pace_at(ended + secs(s)).unwrap();
    assert_eq!(at(0.0), 0.25);
    assert_eq!(at(29.9), 0.25, "held");
    assert_eq!(at(30.0), 0.25);
    assert!(
        (at(40.0) - (0.25 + 0.75 / 9.0)).abs() < 1e-9,
        "{}",
        at(40.0)
    );
    assert!(at(119.9) < 1.0);
    assert_eq!(at(RECOVERY.as_secs_f64()), 1.0);
}

#[test]
fn retry_after_sets_the_pause_and_only_a_longer_one_extends_it() {
    let t0 = Instant::now();
    let mut b = one_per_second();
    b.note_429(t0, Some(secs(30.0)));
    assert_eq!(b.paused_until(), Some(t0 + secs(30.0)));
    b.note_429(t0 + secs(1.0), Some(secs(5.0)));
    assert_eq!(b.paused_until(), Some(t0 + secs(30.0)));
    b.note_429(t0 + secs(10.0), Some(secs(40.0)));
    assert_eq!(b.paused_until(), Some(t0 + secs(50.0)));
    let mut zero = one_per_second();
    zero.note_429(t0, Some(Duration::ZERO));
    assert_eq!(zero.paused_until(), None);
    assert!(zero.limited(), "still an episode");
}

#[test]
fn an_endpoint_without_a_gap_only_pauses() {
    let t0 = Instant::now();
    let mut b = Budget::new(Duration::ZERO, true);
    assert_eq!((b.pace_at(t0), b.gap_at(t0)), (None, Duration::ZERO));
    b.note_429(t0, None);
    assert_eq!(
        (b.pace_at(t0), b.paused_until()),
        (None, Some(t0 + secs(2.0)))
    );
}

#[test]
fn untuned_budgets_pause_without_cutting() {
    let t0 = Instant::now();
    let mut b = Budget::new(Duration::from_secs(1), false);
    b.note_429(t0, None);
    assert_eq!(b.pace_at(t0), Some(1.0));
    assert_eq!(b.paused_until(), Some(t0 + secs(2.0)));
}

#[test]
fn an_episode_held_by_the_key_ends_a_quiet_period_after_the_key_lets_calls_go() {
    let t0 = Instant::now();
    let mut b = one_per_second();
    b.note_429(t0, None);
    b.held_until(t0 + secs(15.0));
    b.expire(t0 + secs(22.9));
    assert!(b.limited(), "no call could have found out before 15 s");
    assert_eq!(b.episode_ends(), Some(t0 + secs(15.0) + QUIET));
    b.held_until(t0 + secs(1.0));
    assert_eq!(
        b.episode_ends(),
        Some(t0 + secs(15.0) + QUIET),
        "never shortened"
    );
    b.expire(t0 + secs(23.0));
    assert!(!b.limited());
    b.held_until(t0 + secs(40.0));
    assert!(!b.limited(), "no episode, nothing to hold");
}
