//! Issue 18 in the machine: sweep signals handed to the log queue, the "old or new" rule of the
//! first read (decided with what the sweeps saw), and the log's pace.

use super::*;
use crate::monitor::signals::SignalKind;
use crate::schedule::Pace;

fn gauged(gpu: f64) -> Instance {
    Instance {
        gpu_util: Some(gpu),
        ..row(Some("running"))
    }
}

fn old(count: u32) -> Output {
    ev(EventKind::OldCompletions {
        source: source(),
        count,
    })
}

#[test]
fn a_gpu_going_idle_is_a_signal_and_brings_a_waiting_fetch_forward() {
    let mut h = Harness::new();
    h.row(0, gauged(90.0));
    h.logs(0, &["boot"]);
    assert_eq!(h.m.take_signal(), None);
    // The next fetch is due at 5 s; a sweep at 2 s shows the GPU idle: fetch now.
    assert_eq!(h.row(2, gauged(0.0)), [fetch(10)]);
    assert_eq!(h.m.take_signal(), Some(SignalKind::GpuIdle));
    assert_eq!(h.m.take_signal(), None, "taken once");
    // Idle stays idle: no new signal, and the fetch in flight is not asked for twice.
    assert_eq!(h.row(3, gauged(0.0)), []);
    assert_eq!(h.m.take_signal(), None);
}

#[test]
fn leaving_running_is_the_heaviest_signal() {
    let mut h = Harness::started(&["boot"]);
    let mut stopped = gauged(0.0);
    stopped.actual_status = Some("exited".into());
    stopped.gpu_util = None;
    h.row(2, gauged(95.0));
    h.row(3, stopped);
    assert_eq!(h.m.take_signal(), Some(SignalKind::LeftRunning));
}

#[test]
fn a_job_busy_at_the_first_sweep_and_idle_by_the_first_read_ended_while_watched() {
    let mut h = Harness::new();
    h.row(0, gauged(97.0));
    h.row(40, gauged(2.0));
    let out = h.logs(41, &["epoch 1", "DONE", "DONE", "http://r/new"]);
    // The earlier match is old; the last one, among the newest lines, is the job's ending.
    assert_eq!(
        out,
        [
            log("DONE", true),
            log("DONE", true),
            log("http://r/new", true),
            old(1),
            completion(41, 1, Some("http://r/new")),
            Output::Checkpoint,
            Output::Act(ActionKind::Stop),
        ]
    );
}

#[test]
fn without_that_evidence_the_first_read_keeps_todays_rule() {
    let lines = ["epoch 1", "DONE", "http://r/old"];
    // Idle from the first sweep on (the job ended before watching began).
    let mut idle = Harness::new();
    idle.row(0, gauged(0.0));
    idle.row(40, gauged(0.0));
    assert!(!idle
        .logs(41, &lines)
        .contains(&Output::Act(ActionKind::Stop)));
    // Busy, and still busy at the first read.
    let mut busy = Harness::new();
    busy.row(0, gauged(90.0));
    busy.row(40, gauged(88.0));
    let out = busy.logs(41, &lines);
    assert!(out.contains(&old(1)));
    assert!(!out.contains(&Output::Act(ActionKind::Stop)));
    // No gauge at all (an API without gpu_util).
    let mut blind = Harness::new();
    blind.status(0, Some("running"));
    assert!(blind.logs(1, &lines).contains(&old(1)));
}

#[test]
fn a_completion_far_from_the_end_of_the_first_read_stays_old() {
    let mut h = Harness::with(
        Policy {
            tail: 200,
            ..policy()
        },
        MachineOptions::default(),
    );
    h.row(0, gauged(97.0));
    h.row(40, gauged(0.0));
    let mut lines = vec!["DONE".to_string()];
    lines.extend((0..crate::monitor::logs::NEWEST_LINES).map(|k| format!("after {k}")));
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let out = h.logs(41, &lines);
    assert!(out.contains(&old(1)));
    assert!(!out.contains(&Output::Act(ActionKind::Stop)));
}

#[test]
fn a_resumed_machine_signals_but_its_reads_continue_from_the_cursor() {
    let state = DurableState {
        history_shown: true,
        cursor: Lines::new(["epoch 1", "DONE"]),
        completions: 1,
        ..DurableState::default()
    };
    let mut h = Harness::resumed(state);
    h.row(0, gauged(97.0));
    h.row(40, gauged(0.0));
    assert_eq!(h.m.take_signal(), Some(SignalKind::GpuIdle));
    // The completion seen before the restart is not counted again, evidence or not.
    let out = h.logs(41, &["epoch 1", "DONE", "idle"]);
    assert_eq!(out, [log("idle", false), Output::Checkpoint]);
}

#[test]
fn the_pace_follows_the_snapshots() {
    let mut h = Harness::started(&["boot"]);
    assert_eq!(h.m.pace(), Pace::Normal);
    h.tick(5);
    h.logs(5, &["boot"]);
    h.tick(10);
    h.logs(10, &["boot"]);
    assert_eq!(h.m.pace(), Pace::Quiet);
    h.tick(15);
    let crowded: Vec<String> = std::iter::once("boot".to_string())
        .chain((0..9).map(|k| format!("line {k}")))
        .collect();
    let crowded: Vec<&str> = crowded.iter().map(String::as_str).collect();
    h.logs(15, &crowded);
    assert_eq!(h.m.pace(), Pace::Fast);
}
