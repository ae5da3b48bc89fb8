//! `GET /v1/fleet?since=SEQ`: only what changed since a reader's last answer, made whole again
//! by the reader (`FleetSnapshot::merged`), so a `top` beside 1,000 instances costs the
//! watcher the instances that moved, not the fleet.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::snapshot::FleetSnapshot;
use super::tests::{alpha_story, at, event, log, source, status, wire};
use super::*;
use crate::api::Instance;
use crate::feed::Sweep;
use crate::report::event::EventKind;

fn row(id: u64, dph: f64) -> Instance {
    Instance {
        id: Some(id),
        actual_status: Some("running".into()),
        gpu_name: Some("RTX 4090".into()),
        num_gpus: Some(1),
        dph_total: Some(dph),
        start_date: Some(1000.0),
        ..Instance::default()
    }
}

fn sweep(prices: &[(u64, f64)]) -> Option<Arc<Sweep>> {
    Some(Arc::new(Sweep {
        rows: prices.iter().map(|&(id, dph)| (id, row(id, dph))).collect(),
        running: prices.len(),
        number: 1,
    }))
}

fn since(board: &Board, now: SystemTime, seq: u64) -> FleetSnapshot {
    serde_json::from_str(&board.snapshot_json(now, Some(seq))).expect("an answer is JSON")
}

fn ids(snapshot: &FleetSnapshot) -> Vec<u64> {
    snapshot.instances.iter().map(|i| i.id).collect()
}

/// What the reader holds after merging, against the whole snapshot at the same moment (the
/// throttle's view and the answer's number are each taken at their own ask).
fn assert_whole(board: &Board, merged: &FleetSnapshot, now: SystemTime) {
    let mut whole = board.snapshot(now);
    whole.api = merged.api.clone();
    whole.seq = merged.seq;
    assert_eq!(merged, &whole);
}

#[test]
fn an_answer_since_a_seq_carries_only_the_changed_instances_and_merges_whole() {
    let (tx, rx) = tokio::sync::watch::channel(sweep(&[(1, 0.5), (2, 1.0), (3, 2.0)]));
    let board = Board::new(Sources {
        sweeps: Some(rx),
        ..Sources::default()
    });
    alpha_story(&board);
    board.observe(&status(130, 2, "beta", "running"));
    board.observe(&status(131, 3, "gamma", "running"));
    let first = wire(&board, at(4600));
    assert_eq!(ids(&first), [1, 2, 3]);

    // Nothing moved but the clock: no instance is sent, every id is listed, and the reader's
    // spend moves forward as the watcher's does.
    let quiet = since(&board, at(8200), first.seq);
    assert!(quiet.instances.is_empty(), "{:?}", ids(&quiet));
    assert_eq!(quiet.ids.as_deref(), Some(&[1, 2, 3][..]));
    assert_eq!(quiet.totals.spend_usd, 0.5 * 2.0 + 1.0 * 2.0 + 2.0 * 2.0);
    let merged = first.merged(quiet).expect("the answer fits");
    assert_eq!(merged.instances[2].spend_usd, Some(4.0));
    assert_whole(&board, &merged, at(8200));

    // One log line moves alpha; a new sweep changes gamma's price and leaves beta's row as it
    // was: alpha and gamma are sent, beta is not.
    board.observe(&log(8300, 1, "epoch 3", false));
    tx.send_replace(sweep(&[(1, 0.5), (2, 1.0), (3, 3.0)]));
    let moved = since(&board, at(8400), merged.seq);
    assert_eq!(ids(&moved), [1, 3]);
    let merged = merged.merged(moved).expect("the answer fits");
    assert_eq!(merged.instances[0].last_line.as_deref(), Some("epoch 3"));
    assert_eq!(merged.instances[2].dph_total, Some(3.0));
    assert_whole(&board, &merged, at(8400));

    // An instance that leaves is dropped from the reader's fleet by the id list.
    board.observe(&event(
        8500,
        EventKind::Left {
            source: source(2, "beta"),
        },
    ));
    let left = since(&board, at(8600), merged.seq);
    assert!(left.instances.is_empty());
    let merged = merged.merged(left).expect("the answer fits");
    assert_eq!(ids(&merged), [1, 3]);
    assert_whole(&board, &merged, at(8600));
}

#[test]
fn every_reader_gets_what_changed_since_its_own_answer() {
    let board = Board::new(Sources::default());
    alpha_story(&board);
    board.observe(&status(130, 2, "beta", "running"));
    let slow = wire(&board, at(200));
    board.observe(&log(210, 1, "epoch 3", false));
    // A second reader's ask encodes alpha afresh; the first reader must still be sent it.
    let fast = wire(&board, at(220));
    let answer = since(&board, at(230), slow.seq);
    assert_eq!(ids(&answer), [1]);
    assert!(since(&board, at(240), fast.seq + 1).instances.is_empty());
}

#[test]
fn an_answer_that_does_not_fit_asks_for_the_whole_fleet() {
    let board = Board::new(Sources::default());
    alpha_story(&board);
    board.observe(&status(130, 2, "beta", "running"));
    let first = wire(&board, at(200));
    let answer = since(&board, at(210), first.seq);

    // Another watcher process (a restart), or an answer to another `since`.
    let restarted = FleetSnapshot {
        pid: first.pid + 1,
        ..answer.clone()
    };
    assert_eq!(first.merged(restarted), None);
    let elsewhere = FleetSnapshot {
        changed_since: Some(first.seq + 7),
        ..answer.clone()
    };
    assert_eq!(first.merged(elsewhere), None);
    // An id the reader never had.
    let unknown = FleetSnapshot {
        ids: Some(vec![1, 2, 99]),
        ..answer.clone()
    };
    assert_eq!(first.merged(unknown), None);
    // A whole answer (an older watcher ignores `since`) replaces what the reader had.
    let whole = wire(&board, at(220));
    assert_eq!(first.merged(whole.clone()), Some(whole));
    assert!(first.merged(answer).is_some());
}

/// The totals are the whole fleet's whatever an answer sends.
#[test]
fn totals_are_over_the_whole_fleet_in_every_answer() {
    let board = Board::new(Sources {
        sweeps: Some(tokio::sync::watch::channel(sweep(&[(1, 0.5), (2, 1.0)])).1),
        ..Sources::default()
    });
    alpha_story(&board);
    board.observe(&status(130, 2, "beta", "stopped"));
    let first = wire(&board, at(4600));
    let answer = since(&board, at(4600), first.seq);
    assert_eq!(answer.totals, first.totals);
    let counts: HashMap<&str, usize> = answer
        .totals
        .by_status
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(counts, HashMap::from([("running", 1), ("stopped", 1)]));
}
