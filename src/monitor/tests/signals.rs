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
fn a_first_read_between_the_end_and_the_sweep_that_saw_it_is_counted_new_by_that_sweep() {
    // The read came first (the GPU still looked busy), the sweep showing the idle GPU after:
    // the same evidence, in the other order. The completion is the job's ending after all.
    let lines = ["epoch 1", "DONE", "http://r/new"];
    let mut h = Harness::new();
    h.row(0, gauged(97.0));
    h.row(40, gauged(96.0));
    let out = h.logs(41, &lines);
    assert!(out.contains(&old(1)));
    assert!(!out.contains(&Output::Act(ActionKind::Stop)));
    let out = h.row(80, gauged(0.0));
    assert!(
        out.contains(&completion(80, 1, Some("http://r/new"))),
        "{out:?}"
    );
    assert!(out.contains(&Output::Act(ActionKind::Stop)));
    assert!(out.contains(&Output::Checkpoint));
    // Once: the next idle sweeps say nothing more.
    let again = h.row(120, gauged(0.0));
    assert!(!again
        .iter()
        .any(|o| matches!(o, Output::Event(EventKind::Completion(_)))));
}

#[test]
fn a_log_that_printed_on_after_the_first_read_keeps_its_completion_old() {
    let mut h = Harness::new();
    h.row(0, gauged(97.0));
    h.row(40, gauged(96.0));
    assert!(h.logs(41, &["DONE", "http://r/old"]).contains(&old(1)));
    // The job went on: the completion was not its ending, whatever the GPU does next.
    h.logs(60, &["DONE", "http://r/old", "epoch 2"]);
    let out = h.row(80, gauged(0.0));
    assert!(!out.contains(&Output::Act(ActionKind::Stop)), "{out:?}");
    // Nor without evidence at the start (idle from the first sweep on).
    let mut idle = Harness::new();
    idle.row(0, gauged(0.0));
    idle.row(40, gauged(50.0));
    idle.logs(41, &["DONE", "http://r/old"]);
    assert!(!idle
        .row(80, gauged(0.0))
        .contains(&Output::Act(ActionKind::Stop)));
}

#[test]
fn only_the_next_running_rows_confirm_a_first_read_and_a_stop_never_does() {
    let lines = ["epoch 1", "DONE", "http://r/old"];
    // Stopped after the first read (by the user, or a guard): no GPU reading while stopped,
    // and no evidence the completion was new. It stays old, and nothing is done again.
    let mut stopped = Harness::new();
    stopped.row(0, gauged(97.0));
    stopped.row(40, gauged(96.0));
    assert!(stopped.logs(41, &lines).contains(&old(1)));
    let mut row = gauged(0.0);
    row.actual_status = Some("stopped".into());
    row.gpu_util = None;
    let out = stopped.row(80, row);
    assert!(!out.contains(&Output::Act(ActionKind::Stop)), "{out:?}");
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::Event(EventKind::Completion(_)))));
    // Busy for the next two rows, idle only at the third: the job went on after printing.
    let mut late = Harness::new();
    late.row(0, gauged(97.0));
    late.row(40, gauged(96.0));
    assert!(late.logs(41, &lines).contains(&old(1)));
    late.row(80, gauged(95.0));
    late.row(120, gauged(94.0));
    let out = late.row(160, gauged(0.0));
    assert!(!out.contains(&Output::Act(ActionKind::Stop)), "{out:?}");
    // The second row after the read still confirms (the first was under way at the read).
    let mut second = Harness::new();
    second.row(0, gauged(97.0));
    second.row(40, gauged(96.0));
    assert!(second.logs(41, &lines).contains(&old(1)));
    second.row(42, gauged(95.0));
    assert!(second
        .row(80, gauged(2.0))
        .contains(&Output::Act(ActionKind::Stop)));
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
