//! Status changes said once, polling only while running, stop/restart, gone/back, and guards
//! wired into the machine.

use super::*;

use crate::config::{Guards, IdleGuard};

#[test]
fn each_change_is_said_once_with_the_host_message() {
    let mut h = Harness::new();
    assert_eq!(
        h.status(0, None),
        [status("provisioning", None), Output::Checkpoint]
    );
    assert_eq!(h.status(5, None), [], "never a line per check");
    let loading = Instance {
        status_msg: Some(" 0d30c18b26f8: Downloading ".into()),
        ..row(Some("loading"))
    };
    let out = h.row(10, loading.clone());
    let expected = EventKind::Status {
        source: source(),
        status: "loading".into(),
        previous: Some("provisioning".into()),
        message: Some("0d30c18b26f8: Downloading".into()),
    };
    assert_eq!(out, [ev(expected), Output::Checkpoint]);
    let progress = Instance {
        status_msg: Some("Extracting".into()),
        ..loading
    };
    assert_eq!(
        h.row(15, progress),
        [],
        "a new message alone is not a change"
    );
    assert_eq!(h.m.next_wake(), None, "no log polling before running");
    assert_eq!(
        h.status(20, Some("running")),
        [
            status("running", Some("loading")),
            Output::Checkpoint,
            fetch(10)
        ]
    );
    assert_eq!(h.m.last_status(), Some(&Status::Running));
}

#[test]
fn a_stopped_instance_pauses_polling_and_a_restart_resumes_without_history() {
    let mut h = Harness::started(&["a", "b"]);
    assert_eq!(
        h.status(3, Some("stopped")),
        [
            status("stopped", Some("running")),
            Output::Checkpoint,
            fetch(10)
        ],
        "one last fetch for what it printed before it stopped"
    );
    assert_eq!(h.logs(3, &["a", "b"]), []);
    assert_eq!(h.m.next_wake(), None);
    assert_eq!(h.tick(5), []);
    assert_eq!(h.status(50, Some("stopped")), []);
    assert_eq!(
        h.status(55, Some("running")),
        [
            status("running", Some("stopped")),
            Output::Checkpoint,
            fetch(10)
        ]
    );
    assert_eq!(
        h.logs(55, &["a", "b", "c"]),
        [log("c", false), Output::Checkpoint]
    );
}

#[test]
fn gone_is_said_once_and_a_return_is_noticed() {
    let mut h = Harness::started(&["a"]);
    assert_eq!(
        h.gone(5),
        [status("gone", Some("running")), Output::Checkpoint]
    );
    assert_eq!(h.gone(10), []);
    assert_eq!(h.tick(10), []);
    assert_eq!(h.m.next_wake(), None, "no log polling while gone");
    assert_eq!(
        h.status(15, Some("running")),
        [
            status("running", Some("gone")),
            Output::Checkpoint,
            fetch(10)
        ]
    );
    assert_eq!(
        h.logs(15, &["a", "b"]),
        [log("b", false), Output::Checkpoint]
    );
}

#[test]
fn a_fetch_answered_after_a_stop_still_counts_but_its_errors_do_not() {
    let mut h = Harness::started(&["a"]);
    assert_eq!(h.tick(5), [fetch(10)]);
    h.status(6, Some("exited"));
    // The lines were printed before the exit: they are shown, and a completion among them acts.
    let out = h.logs(7, &["a", "DONE http://r"]);
    assert_eq!(
        out,
        [
            log("DONE http://r", false),
            completion(7, 1, Some("http://r")),
            Output::Checkpoint,
            Output::Act(ActionKind::Stop)
        ]
    );
    assert_eq!(h.m.next_wake(), None, "the next poll waits for running");
    let mut h = Harness::started(&["a"]);
    h.tick(5);
    h.status(6, Some("stopped"));
    assert_eq!(
        h.logs_err(7, transient()),
        [],
        "polling is paused: nothing to retry"
    );
}

#[test]
fn a_guard_fires_once_and_acts_like_a_completion() {
    let mut h = Harness::started(&["a"]);
    h.m.set_guards(Guards {
        idle: Some(IdleGuard {
            gpu_util_below: 5.0,
            duration: secs(60),
        }),
        on_guard: Some(ActionKind::Stop),
        ..Guards::default()
    });
    let idle = |h: &mut Harness, t| {
        h.row(
            t,
            Instance {
                gpu_util: Some(0.0),
                ..row(Some("running"))
            },
        )
    };
    assert_eq!(idle(&mut h, 10), [fetch(10)]);
    assert_eq!(idle(&mut h, 40), []);
    let out = idle(&mut h, 70);
    let guard = EventKind::Guard {
        source: source(),
        guard: "idle".into(),
        action: Some(ActionKind::Stop),
        detail: "GPU utilisation below 5% for 1m".into(),
    };
    assert_eq!(
        out,
        [ev(guard), Output::Checkpoint, Output::Act(ActionKind::Stop)]
    );
    assert_eq!(idle(&mut h, 80), [], "once per episode");
    assert_eq!(
        h.done(81, ActionKind::Stop, Ok(())),
        [action(ActionKind::Stop, "idle", false), Output::Checkpoint]
    );
    assert_eq!(h.m.durable().guard_episodes, ["idle"]);
}

#[test]
fn guards_respect_dry_run_and_alerts_never_act() {
    let mut h = Harness::with(policy(), dry_run());
    h.m.set_guards(Guards {
        stuck: Some(secs(60)),
        on_guard: Some(ActionKind::Destroy),
        ..Guards::default()
    });
    h.status(0, Some("loading"));
    let out = h.status(60, Some("loading"));
    let guard = EventKind::Guard {
        source: source(),
        guard: "stuck".into(),
        action: Some(ActionKind::Destroy),
        detail: "still loading after 1m".into(),
    };
    assert_eq!(
        out,
        [
            ev(guard),
            action(ActionKind::Destroy, "stuck", true),
            Output::Checkpoint
        ]
    );
    // Outbid: was running, now stopped while intended to run. An alert, whatever on_guard says.
    h.status(65, Some("running"));
    let outbid = Instance {
        intended_status: Some("running".into()),
        ..row(Some("stopped"))
    };
    let out = h.row(70, outbid);
    let alert = EventKind::Guard {
        source: source(),
        guard: "outbid".into(),
        action: None,
        detail: "intended to run but stopped: outbid, or interrupted by the host".into(),
    };
    assert_eq!(
        out,
        [
            status("stopped", Some("running")),
            ev(alert),
            Output::Checkpoint
        ]
    );
}
