//! Tests of log-tail alignment: a table of hand-picked cases, a cost bound, and a property test
//! over simulated logs full of repeated lines.

use std::cell::Cell;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::*;

fn lines(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

#[test]
fn table() {
    use Alignment::*;
    // (previous, current, previous whole, current whole, expected)
    let cases: &[(&str, &str, bool, bool, Alignment)] = &[
        ("a b c", "b c d e", false, false, NewFrom(2)),
        ("a b c", "a b c", false, false, NewFrom(3)),
        ("a b c", "c d e", false, false, NewFrom(1)),
        ("a b c", "d e f", false, false, Gap),
        // A single shared line at the junction is a whole run: the suffix "c" of previous.
        ("a b c", "c", false, false, NewFrom(1)),
        // The tail shrank and nothing is new.
        ("a b c d", "c d", false, false, NewFrom(2)),
        // The tail grew: all of previous sits inside current.
        ("c d", "a b c d e", false, false, NewFrom(4)),
        // Repeats: the longest overlap wins, then the fewest new lines.
        ("x t t", "t t t", false, false, NewFrom(2)),
        ("t t t", "t t t", false, false, NewFrom(3)),
        ("t t", "t t t", false, false, NewFrom(3)),
        ("a b a b", "a b a b", false, false, NewFrom(4)),
        ("a b a b", "b a b c", false, false, NewFrom(3)),
        ("b a b", "a b a b a b x", false, false, NewFrom(6)),
        // A single matching line inside previous is not an overlap: runs must reach its end.
        ("a b c", "b x y", false, false, Gap),
        // Whole snapshots align by position, even in a sea of repeats.
        ("t", "t t", true, true, NewFrom(1)),
        ("t t", "t t t t", true, true, NewFrom(2)),
        ("a b", "a b", true, true, NewFrom(2)),
        ("a b", "c d", true, true, Restarted),
        ("a b", "a", true, true, Restarted),
        // A whole previous can only sit at the start of the log.
        ("t", "t t", true, false, NewFrom(1)),
        ("a b", "b c", true, false, NewFrom(1)),
        // A whole current must contain all of previous, else the log was reset.
        ("t t", "t t t", false, true, NewFrom(3)),
        ("b c", "a b c d", false, true, NewFrom(3)),
        ("c d", "d e", false, true, Restarted),
        ("", "a b", true, false, NewFrom(0)),
        ("a", "", false, true, Restarted),
        ("a", "", false, false, Gap),
    ];
    for (i, (prev, cur, pw, cw, expected)) in cases.iter().enumerate() {
        let got = align(&lines(prev), &lines(cur), *pw, *cw);
        assert_eq!(got, *expected, "case {i}: {prev:?} -> {cur:?} ({pw}, {cw})");
    }
}

#[test]
fn new_lines_start_maps_alignment() {
    assert_eq!(new_lines_start(&["a"], &["a", "b"], false, false), Some(1));
    assert_eq!(new_lines_start(&["a"], &["b"], false, false), None);
    assert_eq!(new_lines_start(&["a"], &["b"], true, true), Some(0));
}

/// A line that counts how often it is compared, to bound the matcher's work.
struct Counted<'a>(&'a str, &'a Cell<usize>);

impl PartialEq for Counted<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.1.set(self.1.get() + 1);
        self.0 == other.0
    }
}

#[test]
fn cost_is_linear_even_for_identical_lines() {
    let compares = Cell::new(0);
    for (prev, cur) in [
        (vec!["tick"; 200], vec!["tick"; 200]),
        (vec!["tick"; 200], [vec!["tick"; 199], vec!["x"]].concat()),
        ([vec!["x"], vec!["tick"; 199]].concat(), vec!["tick"; 200]),
        (vec!["a"; 10_000], vec!["b"; 10_000]),
    ] {
        compares.set(0);
        let p: Vec<Counted> = prev.iter().map(|l| Counted(l, &compares)).collect();
        let c: Vec<Counted> = cur.iter().map(|l| Counted(l, &compares)).collect();
        align(&p, &c, false, false);
        let bound = 6 * (p.len() + c.len());
        assert!(
            compares.get() <= bound,
            "{} compares > {bound}",
            compares.get()
        );
    }
}

/// Whether a log exists whose window was `prev` and, after `appended` more lines, is `cur`.
/// Written from the log's point of view, independently of the matcher: the last
/// `len(cur) - appended` lines of `cur` were the end of the earlier log.
fn consistent(
    prev: &[&str],
    prev_whole: bool,
    cur: &[&str],
    cur_whole: bool,
    appended: usize,
) -> bool {
    let (n, m) = (prev.len(), cur.len());
    if appended > m {
        // Every line of `cur` is new; only a whole `cur` (the entire log) forbids that.
        return !cur_whole;
    }
    let known = &cur[..m - appended]; // the end of the earlier log
    let r = known.len();
    match (prev_whole, cur_whole) {
        // The earlier log was exactly `prev`, and `known` is all of it.
        (true, true) => known == prev,
        // The earlier log was exactly `prev`; `known` is its end.
        (true, false) => r <= n && prev[n - r..] == *known,
        // The earlier log was exactly `known`; `prev` is its end.
        (false, true) => r >= n && known[r - n..] == *prev,
        // Unknown lines may precede `known`.
        (false, false) if r >= n => known[r - n..] == *prev,
        (false, false) => prev[n - r..] == *known,
    }
}

/// Picks log lines so that repeats dominate: "tick" and "." most of the time, a few distinct
/// markers now and then.
fn next_line(rng: &mut StdRng, counter: &mut usize) -> String {
    match rng.random_range(0..10) {
        0..=4 => "tick".into(),
        5..=6 => ".".into(),
        7 => "epoch".into(),
        _ => {
            *counter += 1;
            format!("step {counter}")
        }
    }
}

/// A simulated log grows by random runs and is read through random tail sizes. For every pair of
/// consecutive snapshots:
/// - the matcher picks exactly the smallest consistent append count (checked against the
///   brute-force oracle above);
/// - what it calls new is always a suffix of what was really appended (never a repeat, never
///   an invented line), and a gap is only reported when the tail really might not have covered
///   the appended run;
/// - when the tail covered the appended run and no smaller count is consistent (the run is not
///   indistinguishable from a shorter one), the new lines are exactly the appended ones.
///
/// Over a whole run, the concatenation of the first snapshot and every step's new lines equals
/// the log whenever every step was covered and unambiguous.
#[test]
fn property_new_lines_are_the_appended_lines_unless_ambiguous() {
    let mut exact_runs = 0;
    let mut unambiguous_steps = 0;
    let mut steps_total = 0;
    for seed in 0..1_000u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut counter = 0;
        let mut log: Vec<String> = Vec::new();
        let take = |log: &Vec<String>, tail: usize| -> (Vec<String>, bool) {
            let start = log.len().saturating_sub(tail);
            (log[start..].to_vec(), log.len() < tail)
        };
        for _ in 0..rng.random_range(0..6) {
            log.push(next_line(&mut rng, &mut counter));
        }
        let (mut prev, mut prev_whole) = take(&log, rng.random_range(1..=16));
        let mut emitted: Vec<String> = log[log.len() - prev.len()..].to_vec();
        let mut run_exact = prev.len() == log.len();
        for _ in 0..rng.random_range(1..=8) {
            let before = log.len();
            for _ in 0..rng.random_range(0..=12) {
                log.push(next_line(&mut rng, &mut counter));
            }
            let appended = &log[before..];
            let (cur, cur_whole) = take(&log, rng.random_range(1..=24));
            let p: Vec<&str> = prev.iter().map(String::as_str).collect();
            let c: Vec<&str> = cur.iter().map(String::as_str).collect();
            let alignment = align(&p, &c, prev_whole, cur_whole);
            let from = match alignment {
                Alignment::NewFrom(from) => from,
                Alignment::Gap => 0,
                Alignment::Restarted => panic!("a growing log never restarts (seed {seed})"),
            };
            let new = &cur[from..];
            let smallest = (0..=c.len() + 1)
                .find(|&a| consistent(&p, prev_whole, &c, cur_whole, a))
                .expect("the true count is always consistent");
            let claimed = if alignment == Alignment::Gap {
                c.len()
            } else {
                c.len() - from
            };
            assert_eq!(
                claimed,
                smallest.min(c.len()),
                "seed {seed}: {p:?} -> {c:?}"
            );
            assert!(
                appended.ends_with(new),
                "seed {seed}: {new:?} is not the end of {appended:?}"
            );
            if alignment == Alignment::Gap {
                assert!(
                    appended.len() >= c.len(),
                    "seed {seed}: false gap {p:?} -> {c:?}"
                );
            }
            steps_total += 1;
            let covered = appended.len() < c.len() || (appended.len() == c.len() && cur_whole);
            let unambiguous = covered && smallest == appended.len();
            if unambiguous {
                unambiguous_steps += 1;
                assert_eq!(new, appended, "seed {seed}: {p:?} -> {c:?}");
            }
            run_exact &= unambiguous;
            emitted.extend_from_slice(new);
            prev = cur;
            prev_whole = cur_whole;
        }
        if run_exact {
            exact_runs += 1;
            assert_eq!(emitted, log, "seed {seed}");
        }
    }
    // The generator must exercise both sides of the ambiguity, or the test proves little.
    assert!(
        unambiguous_steps * 3 > steps_total,
        "{unambiguous_steps}/{steps_total}"
    );
    assert!(
        unambiguous_steps < steps_total,
        "repeats never made a step ambiguous"
    );
    assert!(
        exact_runs > 100,
        "only {exact_runs} runs were unambiguous end to end"
    );
}

/// Runs with a distinct line at the end of every append are never ambiguous: the log is
/// reproduced exactly, across changing tail sizes, as long as the tail covers each append.
#[test]
fn property_distinct_markers_reproduce_the_log() {
    for seed in 0..100u64 {
        let mut rng = StdRng::seed_from_u64(1_000 + seed);
        let mut counter = 0;
        let mut log: Vec<String> = vec!["boot".into()];
        let mut prev = log.clone();
        let mut prev_whole = true;
        let mut emitted = log.clone();
        for _ in 0..30 {
            let count = rng.random_range(0..=6);
            for _ in 0..count {
                log.push(next_line(&mut rng, &mut counter));
            }
            if count > 0 {
                counter += 1;
                log.push(format!("marker {counter}"));
            }
            let tail = rng.random_range(count + 2..=count + 20);
            let start = log.len().saturating_sub(tail);
            let cur = log[start..].to_vec();
            let cur_whole = log.len() < tail;
            let from = align(&prev, &cur, prev_whole, cur_whole)
                .new_lines_start()
                .expect("the tail covers every append");
            emitted.extend_from_slice(&cur[from..]);
            prev = cur;
            prev_whole = cur_whole;
        }
        assert_eq!(emitted, log, "seed {seed}");
    }
}
