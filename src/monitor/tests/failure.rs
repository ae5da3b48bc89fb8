//! Failed jobs: old matches counted and never acted on, new ones reported with their context
//! and acted on once; the container's exit while meant to run, once per episode; and the
//! alerts that must tell the truth (down, outbid).

use super::*;

use ActionKind::{Destroy, Stop};

fn failing_policy() -> Policy {
    Policy {
        failure: Some(std::sync::Arc::new(
            Regex::new("Traceback|CUDA out of memory").unwrap(),
        )),
        ..policy()
    }
}

fn failure(t: u64, count: u32, line: &str, context: &[&str]) -> Output {
    ev(EventKind::Failure(Failure {
        source: source(),
        reason: FailureReason::Log,
        count,
        line: Some(line.into()),
        context: strings(context),
        cost: JobCost {
            gpu: Some("2x RTX 4090".into()),
            dph_total: Some(0.5),
            run: run_at(t),
        },
    }))
}

/// Running under `policy`, with the history snapshot `history` taken; the next poll is due.
fn running_with(policy: Policy, history: &[&str]) -> (Harness, Vec<Output>) {
    let mut h = Harness::with(policy, MachineOptions::default());
    h.status(0, Some("running"));
    let out = h.logs(0, history);
    assert_eq!(h.tick(5), [fetch(10)]);
    (h, out)
}

#[test]
fn failures_already_in_the_log_are_counted_and_never_acted_on() {
    let (mut h, out) = running_with(failing_policy(), &["Traceback (old run)", "a", "b"]);
    assert_eq!(
        out,
        [
            log("Traceback (old run)", true),
            log("a", true),
            log("b", true),
            ev(EventKind::OldFailures {
                source: source(),
                count: 1
            }),
            Output::Checkpoint,
        ]
    );
    assert_eq!(
        h.logs(5, &["Traceback (old run)", "a", "b", "c"]),
        [log("c", false), Output::Checkpoint]
    );
    assert!(h.m.durable().actions.is_empty());
    assert_eq!(h.m.summary().failures, 0);
}

#[test]
fn a_new_failure_is_reported_with_its_context_and_acted_on_once() {
    let (mut h, _) = running_with(failing_policy(), &["boot", "epoch 1"]);
    let out = h.logs(
        5,
        &[
            "boot",
            "epoch 1",
            "epoch 2",
            "Traceback (most recent call last):",
            "torch.OutOfMemoryError: CUDA out of memory",
        ],
    );
    let lines = new_logs(&[
        "epoch 2",
        "Traceback (most recent call last):",
        "torch.OutOfMemoryError: CUDA out of memory",
    ]);
    let rest = vec![
        // The context reaches back into the previous snapshot.
        failure(
            5,
            1,
            "Traceback (most recent call last):",
            &["boot", "epoch 1", "epoch 2"],
        ),
        failure(
            5,
            2,
            "torch.OutOfMemoryError: CUDA out of memory",
            &["epoch 1", "epoch 2", "Traceback (most recent call last):"],
        ),
        Output::Checkpoint,
        Output::Act(Stop),
    ];
    assert_eq!(out, [lines, rest].concat());
    assert_eq!(
        h.m.durable().actions,
        [ActionRecord {
            kind: Stop,
            trigger: Trigger::Failure(1),
            done: false
        }],
        "two matches in one burst: one stop"
    );
    assert_eq!(
        h.done(6, Stop, Ok(())),
        [action(Stop, "failure", false), Output::Checkpoint]
    );
    assert_eq!(h.m.summary().failures, 2);
}

#[test]
fn on_failure_none_reports_only_and_dry_run_never_calls() {
    let quiet = Policy {
        on_failure: None,
        ..failing_policy()
    };
    let (mut h, _) = running_with(quiet, &["boot"]);
    let out = h.logs(5, &["boot", "Traceback"]);
    assert_eq!(
        out,
        [
            log("Traceback", false),
            failure(5, 1, "Traceback", &["boot"]),
            Output::Checkpoint
        ]
    );

    let destroy = Policy {
        on_failure: Some(Destroy),
        ..failing_policy()
    };
    let (_, out) = Harness::first_new_line(destroy, dry_run(), "Traceback");
    assert_eq!(
        out,
        [
            log("Traceback", false),
            failure(5, 1, "Traceback", &["boot"]),
            action(Destroy, "failure", true),
            Output::Checkpoint
        ]
    );
}

#[test]
fn a_failure_seen_before_a_restart_is_not_seen_again() {
    let (mut h, _) = running_with(failing_policy(), &["boot"]);
    h.logs(5, &["boot", "Traceback"]);
    h.done(6, Stop, Ok(()));
    let saved = serde_json::to_string(&h.m.durable()).unwrap();
    let mut r = Harness {
        m: MonitorMachine::resume(
            source(),
            failing_policy(),
            MachineOptions::default(),
            serde_json::from_str(&saved).unwrap(),
        ),
    };
    assert_eq!(
        r.status(100, Some("running")),
        [status("running", Some("running")), fetch(10)]
    );
    let out = r.logs(100, &["boot", "Traceback", "retrying", "Traceback again"]);
    let lines = new_logs(&["retrying", "Traceback again"]);
    let rest = vec![
        failure(
            100,
            2,
            "Traceback again",
            &["boot", "Traceback", "retrying"],
        ),
        Output::Checkpoint,
        Output::Act(Stop),
    ];
    assert_eq!(
        out,
        [lines, rest].concat(),
        "numbering goes on; the old one stays done"
    );
}

fn exit_policy(on_exit: Option<ActionKind>) -> Policy {
    Policy {
        on_exit,
        ..policy()
    }
}

#[test]
fn an_exit_while_meant_to_run_is_one_failure_per_episode() {
    let mut h = Harness::with(exit_policy(Some(Stop)), MachineOptions::default());
    h.status(0, Some("running"));
    h.logs(0, &["boot"]);
    assert_eq!(
        h.status(5, Some("exited")),
        [
            status("exited", Some("running")),
            exit_failure(5, 1),
            Output::Checkpoint,
            Output::Act(Stop),
            fetch(10)
        ]
    );
    assert_eq!(
        h.m.durable().actions[0].trigger,
        Trigger::Exited(1),
        "the intent is durable before the call"
    );
    h.done(6, Stop, Ok(()));
    assert_eq!(
        h.status(10, Some("exited")),
        [],
        "the same episode: nothing again"
    );
    // The user restarts it; it crashes again: a new episode, a new stop.
    h.status(20, Some("running"));
    let out = h.status(30, Some("exited"));
    assert_eq!(
        out[..2],
        [status("exited", Some("running")), exit_failure(30, 2)]
    );
    assert!(out.contains(&Output::Act(Stop)));
    assert_eq!(h.m.summary().failures, 2);
}

#[test]
fn an_exit_after_a_stop_on_purpose_or_without_running_is_no_failure() {
    let mut h = Harness::with(exit_policy(Some(Destroy)), MachineOptions::default());
    h.status(0, Some("running"));
    h.logs(0, &["boot"]);
    let on_purpose = Instance {
        intended_status: Some("stopped".into()),
        ..row(Some("exited"))
    };
    let out = h.row(5, on_purpose);
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::Event(EventKind::Failure(_)))));
    assert!(!out.contains(&Output::Act(Destroy)));

    let mut h = Harness::with(exit_policy(Some(Destroy)), MachineOptions::default());
    h.status(0, Some("loading"));
    let out = h.status(5, Some("exited"));
    assert_eq!(
        out,
        [status("exited", Some("loading")), Output::Checkpoint],
        "it never ran"
    );
}

#[test]
fn an_exit_during_a_restart_of_vastfleet_is_seen_once() {
    let resumed = |last: &str| DurableState {
        history_shown: true,
        last_status: Some(last.into()),
        ..DurableState::default()
    };
    let mut r = Harness {
        m: MonitorMachine::resume(
            source(),
            exit_policy(Some(Stop)),
            MachineOptions::default(),
            resumed("running"),
        ),
    };
    let out = r.status(0, Some("exited"));
    assert!(out.contains(&exit_failure(0, 1)) && out.contains(&Output::Act(Stop)));
    let mut r = Harness {
        m: MonitorMachine::resume(
            source(),
            exit_policy(Some(Stop)),
            MachineOptions::default(),
            resumed("exited"),
        ),
    };
    assert_eq!(
        r.status(0, Some("exited")),
        [status("exited", Some("exited"))],
        "the status is said once more at start; the episode was reported before"
    );
}

fn guards_fired(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(EventKind::Guard { guard, .. }) => Some(guard.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn down_is_only_said_of_an_instance_meant_to_run() {
    let mut h = Harness::started(&["a"]);
    let stopped_on_purpose = |t| {
        (
            t,
            Instance {
                intended_status: Some("stopped".into()),
                ..row(Some("exited"))
            },
        )
    };
    for (t, row) in [
        stopped_on_purpose(5),
        stopped_on_purpose(20),
        stopped_on_purpose(60),
    ] {
        assert_eq!(guards_fired(&h.row(t, row)), Vec::<String>::new());
    }
    let mut h = Harness::started(&["a"]);
    h.status(5, Some("exited"));
    assert!(guards_fired(&h.status(15, Some("exited"))).is_empty());
    assert_eq!(guards_fired(&h.status(16, Some("exited"))), ["down"]);
    assert!(
        guards_fired(&h.status(60, Some("exited"))).is_empty(),
        "once per episode"
    );
}

#[test]
fn outbid_needs_a_running_instance_stopped_without_being_asked() {
    // Stopped, then started by the user: still waiting for GPUs (stopped, intended running).
    let mut h = Harness::new();
    h.status(0, Some("stopped"));
    let scheduling = Instance {
        intended_status: Some("running".into()),
        ..row(Some("stopped"))
    };
    for t in [5, 10, 60] {
        assert!(guards_fired(&h.row(t, scheduling.clone())).is_empty());
    }
    // Running, then stopped while meant to run: outbid.
    h.status(70, Some("running"));
    assert_eq!(guards_fired(&h.row(75, scheduling.clone())), ["outbid"]);
    // Stopped on purpose (intended stopped) after running: no alert.
    let mut h = Harness::started(&["a"]);
    assert!(guards_fired(&h.status(5, Some("stopped"))).is_empty());
}

fn acts(out: &[Output]) -> usize {
    out.iter().filter(|o| matches!(o, Output::Act(_))).count()
}

fn failures_in(out: &[Output]) -> usize {
    out.iter()
        .filter(|o| matches!(o, Output::Event(EventKind::Failure(_))))
        .count()
}

#[test]
fn the_traceback_after_a_crash_is_the_same_episode_even_across_a_restart() {
    let both = Policy {
        on_exit: Some(Stop),
        on_failure: Some(Stop),
        ..failing_policy()
    };
    let (mut h, _) = running_with(both.clone(), &["boot"]);
    let out = h.status(7, Some("exited"));
    assert_eq!(acts(&out), 1, "{out:?}");
    h.done(8, Stop, Ok(()));
    // The last look at the log brings the Traceback that caused the exit.
    let out = h.logs(9, &["boot", "Traceback (most recent call last):"]);
    assert_eq!(failures_in(&out), 1, "reported: {out:?}");
    assert_eq!(acts(&out), 0, "but not a second stop: {out:?}");
    assert!(h.m.durable().failure_episode);

    // A watcher restarted meanwhile remembers the episode.
    let saved = serde_json::to_string(&h.m.durable()).unwrap();
    let mut r = Harness {
        m: MonitorMachine::resume(
            source(),
            both,
            MachineOptions::default(),
            serde_json::from_str(&saved).unwrap(),
        ),
    };
    let out = r.status(20, Some("stopped"));
    assert_eq!(acts(&out), 0, "{out:?}");
    // Started again and failing again: a new episode, a new stop.
    r.status(30, Some("running"));
    assert!(!r.m.durable().failure_episode);
    let out = r.status(40, Some("exited"));
    assert_eq!(acts(&out), 1, "{out:?}");
    assert_eq!(
        r.m.durable().actions.len(),
        2,
        "one action per episode: {:?}",
        r.m.durable().actions
    );
}
