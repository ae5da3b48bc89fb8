//! Completions: numbering, result URLs (same line, next line, next poll, never), the action
//! asked for each, dry runs, and completions after a restart of the instance.

use super::*;

use ActionKind::Stop;

/// Running, with the history ["boot"] taken and the next poll due at 5 s.
fn running() -> Harness {
    let mut h = Harness::started(&["boot"]);
    assert_eq!(h.tick(5), [fetch(10)]);
    h
}

#[test]
fn url_on_the_completion_line() {
    let mut h = running();
    let out = h.logs(5, &["boot", "DONE, saved to http://r/1 ok"]);
    assert_eq!(
        out,
        [
            log("DONE, saved to http://r/1 ok", false),
            completion(5, 1, Some("http://r/1")),
            Output::Checkpoint,
            Output::Act(Stop),
        ]
    );
    assert_eq!(
        h.m.durable().actions[0],
        ActionRecord {
            kind: Stop,
            trigger: Trigger::Completion(1),
            done: false
        }
    );
}

#[test]
fn url_on_a_following_line() {
    let mut h = running();
    let out = h.logs(
        5,
        &["boot", "DONE", "uploading", "result: https://r/2", "bye"],
    );
    let lines = new_logs(&["DONE", "uploading", "result: https://r/2", "bye"]);
    let rest = vec![
        completion(5, 1, Some("https://r/2")),
        Output::Checkpoint,
        Output::Act(Stop),
    ];
    assert_eq!(out, [lines, rest].concat());
}

#[test]
fn url_in_the_next_poll_holds_the_completion_once() {
    let mut h = running();
    assert_eq!(
        h.logs(5, &["boot", "DONE"]),
        [log("DONE", false), Output::Checkpoint]
    );
    assert_eq!(h.m.durable().pending_completion, Some(1));
    assert_eq!(h.tick(10), [fetch(10)]);
    let out = h.logs(10, &["boot", "DONE", "http://r/3"]);
    assert_eq!(
        out,
        [
            log("http://r/3", false),
            completion(10, 1, Some("http://r/3")),
            Output::Checkpoint,
            Output::Act(Stop)
        ]
    );
}

#[test]
fn no_url_by_the_next_poll_reports_none() {
    let mut h = running();
    h.logs(5, &["boot", "DONE"]);
    h.tick(10);
    assert_eq!(
        h.logs(10, &["boot", "DONE"]),
        [
            completion(10, 1, None),
            Output::Checkpoint,
            Output::Act(Stop)
        ]
    );
    assert_eq!(h.m.durable().pending_completion, None);
}

#[test]
fn a_url_before_the_completion_is_not_its_result() {
    let mut h = running();
    assert_eq!(
        h.logs(5, &["boot", "http://old", "DONE"]),
        [
            log("http://old", false),
            log("DONE", false),
            Output::Checkpoint
        ]
    );
}

#[test]
fn several_completions_in_one_poll_make_one_stop() {
    let mut h = running();
    let out = h.logs(5, &["boot", "DONE http://a", "DONE", "DONE http://c"]);
    let lines = new_logs(&["DONE http://a", "DONE", "DONE http://c"]);
    let rest = vec![
        completion(5, 1, Some("http://a")),
        completion(5, 2, None),
        completion(5, 3, Some("http://c")),
        Output::Checkpoint,
        Output::Act(Stop),
    ];
    assert_eq!(out, [lines, rest].concat());
    assert_eq!(
        h.done(6, Stop, Ok(())),
        [action(Stop, "completion", false), Output::Checkpoint]
    );
    let summary = h.m.summary();
    assert_eq!((summary.completions, summary.actions), (3, vec![Stop]));
}

#[test]
fn a_pending_completion_is_reported_before_the_next_one() {
    let mut h = running();
    h.logs(5, &["boot", "DONE"]);
    h.tick(10);
    let out = h.logs(10, &["boot", "DONE", "DONE http://b"]);
    assert_eq!(
        out,
        [
            log("DONE http://b", false),
            completion(10, 1, None),
            completion(10, 2, Some("http://b")),
            Output::Checkpoint,
            Output::Act(Stop),
        ]
    );
}

#[test]
fn without_on_complete_a_completion_is_only_reported() {
    let quiet = Policy {
        on_complete: None,
        ..policy()
    };
    let (_, out) = Harness::first_new_line(quiet, MachineOptions::default(), "DONE http://r");
    assert_eq!(
        out,
        [
            log("DONE http://r", false),
            completion(5, 1, Some("http://r")),
            Output::Checkpoint
        ]
    );
}

#[test]
fn dry_run_reports_the_action_instead_of_taking_it() {
    let (h, out) = Harness::first_new_line(policy(), dry_run(), "DONE http://r");
    assert_eq!(
        out,
        [
            log("DONE http://r", false),
            completion(5, 1, Some("http://r")),
            action(Stop, "completion", true),
            Output::Checkpoint,
        ]
    );
    assert!(h.m.durable().actions.is_empty());
    assert_eq!(h.m.summary().actions, []);
}

#[test]
fn a_completion_after_a_user_restart_is_a_new_completion() {
    let mut h = running();
    h.logs(5, &["boot", "DONE http://1"]);
    h.done(6, Stop, Ok(()));
    assert_eq!(
        h.status(8, Some("stopped")),
        [
            status("stopped", Some("running")),
            Output::Checkpoint,
            fetch(10)
        ]
    );
    assert_eq!(h.logs(8, &["boot", "DONE http://1"]), []);
    assert_eq!(
        h.m.next_wake(),
        None,
        "stopped: no polling, the stop is confirmed"
    );
    assert_eq!(
        h.status(60, Some("running")),
        [
            status("running", Some("stopped")),
            Output::Checkpoint,
            fetch(10)
        ]
    );
    let out = h.logs(60, &["boot", "DONE http://1", "restarted", "DONE http://2"]);
    let lines = new_logs(&["restarted", "DONE http://2"]);
    let rest = vec![
        completion(60, 2, Some("http://2")),
        Output::Checkpoint,
        Output::Act(Stop),
    ];
    assert_eq!(out, [lines, rest].concat());
}

#[test]
fn a_completion_printed_just_before_the_exit_is_still_seen() {
    let mut h = running();
    h.logs(5, &["boot"]);
    assert_eq!(
        h.status(8, Some("exited")),
        [
            status("exited", Some("running")),
            exit_failure(8, 1),
            Output::Checkpoint,
            fetch(10)
        ]
    );
    let out = h.logs(9, &["boot", "DONE http://last"]);
    assert!(
        out.contains(&completion(9, 1, Some("http://last"))),
        "the final fetch found the completion: {out:?}"
    );
    assert_eq!(h.m.summary().completions, 1);
    let later = h.tick(60);
    assert!(
        !later
            .iter()
            .any(|output| matches!(output, Output::FetchLogs { .. })),
        "no polling after the final fetch: {later:?}"
    );
}
