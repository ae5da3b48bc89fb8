//! Unit tests of the follower's pieces: completion positions, result URLs, the adaptive tail.

use super::*;

fn strings(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| l.to_string()).collect()
}

fn url() -> Regex {
    Regex::new(r"https?://\S+").unwrap()
}

#[test]
fn every_match_counts_even_several_on_one_line() {
    let done = Regex::new("DONE").unwrap();
    let lines = strings(&["DONE DONE", "x", "not done", "DONE"]);
    let positions = completion_positions(&done, &lines);
    assert_eq!(
        positions,
        [
            Pos { line: 0, at: 0 },
            Pos { line: 0, at: 5 },
            Pos { line: 3, at: 0 }
        ]
    );
}

#[test]
fn url_search_starts_at_the_match_and_stops_at_the_next_one() {
    let lines = strings(&[
        "http://before DONE http://a",
        "DONE",
        "see http://b",
        "DONE http://c",
    ]);
    let first = Pos { line: 0, at: 14 };
    let second = Pos { line: 1, at: 0 };
    let third = Pos { line: 3, at: 0 };
    assert_eq!(
        find_url(&url(), &lines, first, Some(second)).as_deref(),
        Some("http://a")
    );
    assert_eq!(
        find_url(&url(), &lines, second, Some(third)).as_deref(),
        Some("http://b")
    );
    assert_eq!(
        find_url(&url(), &lines, third, None).as_deref(),
        Some("http://c")
    );
    // The part of the next completion's line before its match is still searched.
    let lines = strings(&["DONE", "http://x DONE"]);
    let until = Pos { line: 1, at: 9 };
    assert_eq!(
        find_url(&url(), &lines, Pos { line: 0, at: 0 }, Some(until)).as_deref(),
        Some("http://x")
    );
    assert_eq!(
        find_url(
            &url(),
            &lines,
            Pos { line: 0, at: 0 },
            Some(Pos { line: 1, at: 0 })
        ),
        None
    );
    assert_eq!(find_url(&url(), &[], Pos { line: 0, at: 0 }, None), None);
}

#[test]
fn the_tail_doubles_on_gaps_and_crowding_and_halves_after_quiet_polls() {
    let mut tail = AdaptiveTail {
        current: 200,
        quiet: 0,
    };
    tail.after(200, 200, 0, true);
    assert_eq!(tail.current, 400, "a gap doubles");
    tail.after(200, 400, 201, false);
    assert_eq!(tail.current, 800, "more than half of the tail was new");
    for _ in 0..QUIET_POLLS_BEFORE_DECAY - 1 {
        tail.after(200, 800, 200, false);
        assert_eq!(tail.current, 800);
    }
    tail.after(200, 800, 200, false);
    assert_eq!(tail.current, 400, "five polls within a quarter halve it");
    tail.after(200, 400, 101, false);
    assert_eq!(tail.quiet, 0, "a busier poll restarts the count");
    for _ in 0..QUIET_POLLS_BEFORE_DECAY {
        tail.after(200, 400, 3, false);
    }
    assert_eq!(tail.current, 200);
    for _ in 0..20 {
        tail.after(200, 200, 3, false);
    }
    assert_eq!(tail.current, 200, "never below the policy");
    for _ in 0..20 {
        tail.after(200, tail.current, 0, true);
    }
    assert_eq!(tail.current, MAX_TAIL, "capped");
}

#[test]
fn a_policy_change_moves_the_floor() {
    let mut tail = AdaptiveTail {
        current: 200,
        quiet: 0,
    };
    tail.policy_changed(200, 50);
    assert_eq!(tail.current, 50);
    let mut raised = AdaptiveTail {
        current: 800,
        quiet: 3,
    };
    raised.policy_changed(200, 300);
    assert_eq!(
        raised,
        AdaptiveTail {
            current: 800,
            quiet: 0
        }
    );
    raised.policy_changed(300, 1_000);
    assert_eq!(raised.current, 1_000);
}

#[test]
fn only_the_end_of_a_long_snapshot_is_kept_and_alignment_still_holds() {
    let numbered = |range: std::ops::Range<usize>| -> Vec<String> {
        range.map(|n| format!("line {n}")).collect()
    };
    let (kept, whole) = keep_end(&numbered(0..200), true);
    assert_eq!(kept.as_strs(), numbered(136..200));
    assert!(!whole, "a cut snapshot no longer starts the log");
    let (kept, whole) = keep_end(&numbered(0..10), true);
    assert_eq!((kept.len(), whole), (10, true));

    let source = Source {
        id: 1,
        label: "job".into(),
    };
    let policy = Policy {
        tail: 200,
        ..Policy::default()
    };
    let mut follower = LogFollower::new(200);
    follower.process(&source, &policy, numbered(0..200), 200, false);
    let report = follower.process(&source, &policy, numbered(50..250), 200, false);
    assert_eq!(report.new_lines, 50, "aligned on the kept end");
}
