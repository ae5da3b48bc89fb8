//! Start-up history, new lines, repeats, gaps, tail sizing, fetch errors and policy changes.

use super::*;

/// A growing log read through tails, like the API serves it.
struct FakeLog(Vec<String>);

impl FakeLog {
    fn push(&mut self, lines: &[&str]) {
        self.0.extend(lines.iter().map(|l| l.to_string()));
    }

    fn push_numbered(&mut self, prefix: &str, count: usize) {
        self.0.extend((0..count).map(|i| format!("{prefix}{i}")));
    }

    fn tail(&self, tail: u32) -> Vec<String> {
        self.0[self.0.len().saturating_sub(tail as usize)..].to_vec()
    }
}

#[test]
fn startup_prints_the_history_and_counts_old_completions_without_acting() {
    let mut h = Harness::new();
    assert_eq!(
        h.status(0, Some("running")),
        [status("running", None), Output::Checkpoint, fetch(10)]
    );
    assert_eq!(h.m.next_wake(), None, "one fetch in flight at a time");
    assert_eq!(h.tick(1), []);
    let out = h.logs(1, &["a", "DONE 1", "b", "DONE 2 http://x", "c"]);
    assert_eq!(
        out,
        [
            log("b", true),
            log("DONE 2 http://x", true),
            log("c", true),
            ev(EventKind::OldCompletions {
                source: source(),
                count: 2
            }),
            Output::Checkpoint,
        ]
    );
    assert_eq!(h.m.next_wake(), Some(secs(6)));
    assert_eq!(h.tick(5), [], "not due yet");
    assert_eq!(h.tick(6), [fetch(10)]);
    assert_eq!(
        h.logs(6, &["a", "DONE 1", "b", "DONE 2 http://x", "c", "d"]),
        [log("d", false), Output::Checkpoint]
    );
    assert_eq!(h.m.summary().completions, 0);
    assert_eq!(h.m.summary().actions, []);
}

#[test]
fn full_history_shows_every_line() {
    let mut h = Harness::with(
        Policy {
            history: None,
            ..policy()
        },
        MachineOptions::default(),
    );
    h.status(0, Some("running"));
    let out = h.logs(0, &["a", "b", "c", "d"]);
    assert_eq!(
        out,
        [
            log("a", true),
            log("b", true),
            log("c", true),
            log("d", true),
            Output::Checkpoint
        ]
    );
}

#[test]
fn an_unchanged_log_prints_nothing_and_persists_nothing() {
    let mut h = Harness::started(&["a", "b"]);
    assert_eq!(h.tick(5), [fetch(10)]);
    assert_eq!(h.logs(5, &["a", "b"]), []);
}

/// A due tick, then the fetch it asks for answered from `fake` with the tail it asked for.
fn poll(h: &mut Harness, t: u64, fake: &FakeLog) -> Vec<Output> {
    let tick = h.tick(t);
    let [Output::FetchLogs { tail }] = tick[..] else {
        panic!("no fetch at {t}: {tick:?}")
    };
    h.observe(at(t), Observation::Logs(Ok(fake.tail(tail))))
}

#[test]
fn repeated_lines_are_printed_once_each() {
    let mut fake = FakeLog(Vec::new());
    fake.push(&["tick"]);
    let mut h = Harness::started(&["tick"]);
    // While the log is shorter than the tail, snapshots are whole and align by position.
    fake.push(&["tick", "tick"]);
    assert_eq!(
        poll(&mut h, 5, &fake),
        [log("tick", false), log("tick", false), Output::Checkpoint]
    );
    fake.push(&["tick"]);
    assert_eq!(
        poll(&mut h, 10, &fake),
        [log("tick", false), Output::Checkpoint]
    );
    // Ten lines fill the tail of ten: the snapshot is no longer whole, but the previous one
    // was, so it still sits at the start.
    fake.push(&["tick"; 6]);
    assert_eq!(
        poll(&mut h, 15, &fake),
        [new_logs(&["tick"; 6]), vec![Output::Checkpoint]].concat()
    );
    // The appended "tick" is indistinguishable from the ticks already seen (the previous
    // snapshot could have started one line later): only the "." is provably new.
    fake.push(&["tick", "."]);
    assert_eq!(
        poll(&mut h, 20, &fake),
        [log(".", false), Output::Checkpoint]
    );
    // Whole snapshots again (the tail grew to 20): exact.
    fake.push(&["tick", "tick", "."]);
    assert_eq!(
        poll(&mut h, 25, &fake),
        [new_logs(&["tick", "tick", "."]), vec![Output::Checkpoint]].concat()
    );
    // Past the tail, the run ending in the distinct line is found among the repeats.
    fake.push(&["tick"; 7]);
    fake.push(&["."]);
    let out = poll(&mut h, 30, &fake);
    assert_eq!(
        out,
        [
            new_logs(&["tick"; 7]),
            vec![log(".", false), Output::Checkpoint]
        ]
        .concat()
    );
}

#[test]
fn a_snapshot_that_misses_lines_is_taken_again_wider_then_the_tail_decays() {
    let mut fake = FakeLog(Vec::new());
    fake.push_numbered("x", 10);
    let mut h = Harness::new();
    h.status(0, Some("running"));
    h.observe(at(0), Observation::Logs(Ok(fake.tail(10))));
    fake.push_numbered("y", 15);
    assert_eq!(h.tick(5), [fetch(10)]);
    // y5..y14 does not reach back to x9: nothing is printed, a four times wider tail is asked
    // for at once, and every missed line comes with it.
    let out = h.observe(at(5), Observation::Logs(Ok(fake.tail(10))));
    assert_eq!(out, [fetch(40)]);
    let out = h.observe(at(5), Observation::Logs(Ok(fake.tail(40))));
    let expected: Vec<Output> = (0..15)
        .map(|i| log(&format!("y{i}"), false))
        .chain([Output::Checkpoint])
        .collect();
    assert_eq!(out, expected);
    let mut t = 5;
    for poll in 0..5 {
        t += 5;
        assert_eq!(h.tick(t), [fetch(40)], "poll {poll}");
        fake.push(&["z"]);
        let out = h.observe(at(t), Observation::Logs(Ok(fake.tail(40))));
        assert_eq!(out, [log("z", false), Output::Checkpoint], "poll {poll}");
    }
    assert_eq!(
        h.tick(t + 5),
        [fetch(20)],
        "five quiet polls halve the tail"
    );
}

#[test]
fn the_tail_grows_before_a_gap_when_new_lines_crowd_it() {
    let mut fake = FakeLog(Vec::new());
    fake.push_numbered("a", 10);
    let mut h = Harness::new();
    h.status(0, Some("running"));
    h.observe(at(0), Observation::Logs(Ok(fake.tail(10))));
    h.tick(5);
    fake.push_numbered("b", 6);
    let out = h.observe(at(5), Observation::Logs(Ok(fake.tail(10))));
    assert_eq!(out.len(), 7, "six new lines and a checkpoint, no gap");
    assert_eq!(h.tick(10), [fetch(20)]);
}

#[test]
fn fetch_errors_back_off_once_per_attempt_then_recover() {
    let mut h = Harness::started(&["a"]);
    assert_eq!(h.tick(5), [fetch(10)]);
    let limited = ApiError::RateLimited {
        retry_after: Some(secs(45)),
        message: "slow down".into(),
    };
    let waits = expected_waits(&[(1, None), (2, Some(secs(45))), (3, None)]);
    assert_eq!(waits[1], secs(45), "Retry-After wins when longer");
    let mut now = secs(5);
    for (attempt, (error, wait)) in [transient(), limited, transient()]
        .into_iter()
        .zip(&waits)
        .enumerate()
    {
        let attempt = attempt as u32 + 1;
        let text = format!("logs failed: {error}");
        let out = h.observe(
            Now {
                mono: now,
                wall: WALL0,
            },
            Observation::Logs(Err(error)),
        );
        assert_eq!(out, [api_error(attempt, *wait, &text)]);
        assert_eq!(h.m.next_wake(), Some(now + *wait));
        // Nothing is said or fetched between attempts.
        assert_eq!(h.status(now.as_secs() + 1, Some("running")), []);
        let early = Now {
            mono: now + *wait - Duration::from_millis(1),
            wall: WALL0,
        };
        assert_eq!(h.observe(early, Observation::Tick), []);
        now += *wait;
        assert_eq!(
            h.observe(
                Now {
                    mono: now,
                    wall: WALL0
                },
                Observation::Tick
            ),
            [fetch(10)]
        );
    }
    let out = h.observe(
        Now {
            mono: now,
            wall: WALL0,
        },
        Observation::Logs(Ok(strings(&["a", "b"]))),
    );
    assert_eq!(
        out,
        [
            ev(EventKind::Recovered {
                source: Some(source()),
                failed_attempts: 3
            }),
            log("b", false),
            Output::Checkpoint
        ]
    );
    assert_eq!(
        h.m.next_wake(),
        Some(now + secs(5)),
        "the schedule is back to the interval"
    );
}

#[test]
fn not_found_from_logs_waits_for_the_status_sweep() {
    let mut h = Harness::started(&["a"]);
    h.tick(5);
    let out = h.logs_err(5, ApiError::NotFound("no such instance".into()));
    assert_eq!(
        out,
        [],
        "the first may be a destroy in flight: not worth a line"
    );
    assert_eq!(
        h.m.next_wake(),
        None,
        "no retry before the status sweep decides"
    );
    assert_eq!(h.tick(30), []);
    // Still listed: try again, at the base pace.
    assert_eq!(h.status(31, Some("running")), [fetch(10)]);
    let out = h.logs_err(31, ApiError::NotFound("no such instance".into()));
    let wait = expected_waits(&[(1, None), (1, None)])[1];
    assert_eq!(
        out,
        [api_error(
            2,
            wait,
            "logs failed: not found: no such instance"
        )]
    );
    assert_eq!(
        h.gone(32),
        [status("gone", Some("running")), Output::Checkpoint]
    );
    assert_eq!(h.tick(100), []);
}

#[test]
fn a_policy_change_applies_from_the_next_poll_without_reprinting_history() {
    let mut h = Harness::started(&["a"]);
    let changed = Policy {
        interval: secs(20),
        tail: 30,
        history: Some(50),
        completion: std::sync::Arc::new(Regex::new("FINISHED").unwrap()),
        on_complete: None,
        ..policy()
    };
    assert_eq!(h.observe(at(1), Observation::PolicyChanged(changed)), []);
    assert_eq!(
        h.m.next_wake(),
        Some(secs(5)),
        "the poll already scheduled stays"
    );
    assert_eq!(h.tick(5), [fetch(30)]);
    let out = h.logs(5, &["a", "DONE", "FINISHED http://r"]);
    let expected = [
        new_logs(&["DONE", "FINISHED http://r"]),
        vec![completion(5, 1, Some("http://r")), Output::Checkpoint],
    ];
    assert_eq!(
        out,
        expected.concat(),
        "the new pattern counts, the old one does not; nothing acts"
    );
    assert_eq!(h.m.next_wake(), Some(secs(25)));
}

#[test]
fn a_steady_flood_loses_nothing_and_stops_needing_second_looks_once_the_tail_has_grown() {
    let mut fake = FakeLog(Vec::new());
    fake.push_numbered("boot", 3);
    let mut h = Harness::started(&["boot0", "boot1", "boot2"]);
    let mut second_looks = Vec::new();
    for n in 1..=20 {
        let before = fake.0.len();
        fake.push_numbered(&format!("poll{n}-"), 25);
        let mut out = poll(&mut h, n * 5, &fake);
        if let [Output::FetchLogs { tail }] = out[..] {
            second_looks.push(n);
            out = h.observe(at(n * 5), Observation::Logs(Ok(fake.tail(tail))));
        }
        let lines: Vec<&str> = out
            .iter()
            .filter_map(|o| match o {
                Output::Event(EventKind::Log { line, .. }) => Some(line.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            lines,
            fake.0[before..],
            "poll {n}: exactly the appended lines"
        );
    }
    // 10 → 40 at the first poll; 80 once 25 lines fill more than half of it.
    assert_eq!(second_looks, [1]);
    assert_eq!(h.tick(105), [fetch(80)]);
}

#[test]
fn a_log_that_started_over_is_all_new_without_a_gap() {
    let mut h = Harness::started(&["a", "b"]);
    h.tick(5);
    assert_eq!(h.logs(5, &["x"]), [log("x", false), Output::Checkpoint]);
}

#[test]
fn after_the_history_the_tail_covers_the_lines_due_before_the_next_turn_in_a_busy_fleet() {
    let options = MachineOptions {
        fetch_spacing: secs(1),
        ..MachineOptions::default()
    };
    let mut h = Harness::with(policy(), options);
    // A thousand running instances fetch one a second: the next turn is ~1005 s away.
    h.m.set_fleet_running(1000);
    // Started 100 s before t = 0: its history at t = 100 is the pace of 200 s.
    let started = Instance {
        start_date: Some(WALL0 - 100.0),
        ..row(Some("running"))
    };
    assert_eq!(h.row(0, started)[2], fetch(10));
    let history: Vec<String> = (0..20).map(|i| format!("line {i}")).collect();
    let history: Vec<&str> = history.iter().map(String::as_str).collect();
    h.logs(100, &history[10..]);
    // 10 lines in 200 s, 1005 s until the next snapshot: 50.25 lines due, a tail twice that.
    assert_eq!(h.tick(105), [fetch(101)]);

    // A quiet fleet, or an instance too young to tell its pace from its boot output: the
    // policy's tail stays.
    let mut young = Harness::with(policy(), options);
    young.m.set_fleet_running(1000);
    young.status(0, Some("running"));
    young.logs(10, &history[10..]);
    assert_eq!(young.tick(15), [fetch(10)]);
}

#[test]
fn a_refused_key_is_ridden_out_with_backoff_without_a_word_from_the_instance() {
    let mut h = Harness::started(&["a"]);
    h.tick(5);
    let refused = || ApiError::Unauthorized {
        key_source: "environment variable VAST_API_KEY".into(),
        message: "HTTP 404: Invalid user key".into(),
    };
    let waits = expected_waits(&[(1, None), (2, None), (3, None)]);
    let mut t = secs(5);
    for wait in &waits {
        let out = h.observe(
            Now {
                mono: t,
                wall: WALL0,
            },
            Observation::Logs(Err(refused())),
        );
        assert_eq!(
            out,
            [],
            "the status sweep says a refused key, once for the fleet"
        );
        assert_eq!(h.m.next_wake(), Some(t + *wait), "backing off all the same");
        t += *wait;
        assert_eq!(
            h.observe(
                Now {
                    mono: t,
                    wall: WALL0
                },
                Observation::Tick
            ),
            [fetch(10)]
        );
    }
    let out = h.observe(
        Now {
            mono: t,
            wall: WALL0,
        },
        Observation::Logs(Ok(strings(&["a", "b"]))),
    );
    assert_eq!(
        out,
        [log("b", false), Output::Checkpoint],
        "no recovery line for failures that were never said"
    );
}
