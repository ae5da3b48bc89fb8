//! Restart safety: a resumed machine continues the log from its cursor, keeps counting, and
//! settles intended actions against the first status sweep.

use super::*;

use ActionKind::Stop;

/// A state as a machine leaves it: running, history shown, `log` read, `completions` counted.
fn state(log: &[&str], completions: u32, actions: Vec<ActionRecord>) -> DurableState {
    DurableState {
        cursor: Lines::new(log.iter().copied()),
        cursor_whole: true,
        history_shown: true,
        completions,
        actions,
        last_status: Some("running".into()),
        ..DurableState::default()
    }
}

fn intended() -> ActionRecord {
    ActionRecord {
        kind: Stop,
        trigger: Trigger::Completion(1),
        done: false,
    }
}

#[test]
fn the_state_a_machine_writes_resumes_where_it_left_off() {
    let mut h = Harness::started(&["a", "b"]);
    h.tick(5);
    h.logs(5, &["a", "b", "DONE http://1"]);
    h.done(6, Stop, Ok(()));
    let saved = h.m.durable();
    let json = serde_json::to_string(&saved).unwrap();
    let mut r = Harness::resumed(serde_json::from_str(&json).unwrap());
    // The cost figures come with the first status row, which the resumed machine awaits.
    let before = InstanceSummary {
        dph_total: None,
        spend_usd: None,
        ..h.m.summary()
    };
    assert_eq!(r.m.summary(), before);
    assert_eq!(
        r.m.next_wake(),
        None,
        "nothing before the first status sweep"
    );
    assert_eq!(r.tick(100), []);
    assert_eq!(
        r.status(100, Some("running")),
        [status("running", Some("running")), fetch(10)],
        "the first sweep says the unchanged status once, with the saved one as previous"
    );
    let out = r.logs(100, &["a", "b", "DONE http://1", "c", "DONE http://2"]);
    let lines = new_logs(&["c", "DONE http://2"]);
    let rest = vec![
        completion(100, 2, Some("http://2")),
        Output::Checkpoint,
        Output::Act(Stop),
    ];
    assert_eq!(
        out,
        [lines, rest].concat(),
        "no history again; completions go on from 1"
    );
}

#[test]
fn a_changed_status_after_a_restart_is_said_once() {
    let mut r = Harness::resumed(state(&["a"], 0, vec![]));
    assert_eq!(
        r.status(0, Some("stopped")),
        [status("stopped", Some("running")), Output::Checkpoint]
    );
    assert_eq!(r.m.next_wake(), None);
}

#[test]
fn an_intended_action_whose_effect_shows_is_marked_done() {
    let mut r = Harness::resumed(state(&["a"], 1, vec![intended()]));
    let out = r.status(0, Some("stopped"));
    assert_eq!(
        out,
        [
            status("stopped", Some("running")),
            action(Stop, "completion: already stopped", false),
            Output::Checkpoint
        ]
    );
    assert_eq!(
        r.m.durable().actions,
        [ActionRecord {
            done: true,
            ..intended()
        }]
    );
}

#[test]
fn an_intended_action_without_effect_is_issued_exactly_once() {
    let mut r = Harness::resumed(state(&["a"], 1, vec![intended()]));
    assert_eq!(
        r.status(0, Some("running")),
        [
            status("running", Some("running")),
            Output::Act(Stop),
            fetch(10)
        ]
    );
    assert_eq!(
        r.status(5, Some("running")),
        [],
        "in flight: not issued again"
    );
    assert_eq!(
        r.done(6, Stop, Ok(())),
        [action(Stop, "completion", false), Output::Checkpoint]
    );
    assert_eq!(r.m.summary().actions, [Stop]);
}

#[test]
fn a_done_action_is_never_repeated() {
    let done = ActionRecord {
        done: true,
        ..intended()
    };
    let mut r = Harness::resumed(state(&["a"], 1, vec![done.clone()]));
    assert_eq!(
        r.status(0, Some("running")),
        [status("running", Some("running")), fetch(10)]
    );
    assert_eq!(
        r.status(100, Some("running")),
        [],
        "after the first sweep, only changes"
    );
    assert_eq!(r.m.durable().actions, [done]);
}

#[test]
fn a_pending_completion_survives_a_restart() {
    let mut saved = state(&["a", "DONE"], 1, vec![]);
    saved.pending_completion = Some(1);
    let mut r = Harness::resumed(saved);
    r.status(0, Some("running"));
    let out = r.logs(0, &["a", "DONE", "http://late"]);
    assert_eq!(
        out,
        [
            log("http://late", false),
            completion(0, 1, Some("http://late")),
            Output::Checkpoint,
            Output::Act(Stop)
        ]
    );
}

#[test]
fn a_cursor_lost_during_the_downtime_is_looked_for_up_to_the_largest_tail_then_is_a_gap() {
    let mut r = Harness::resumed(DurableState {
        cursor_whole: false,
        ..state(&["a", "b"], 0, vec![])
    });
    let printed: Vec<String> = (0..20_000).map(|i| format!("n{i}")).collect();
    let tail_of = |tail: u32| printed[printed.len() - tail as usize..].to_vec();
    let mut out = r.status(0, Some("running"));
    let mut asked = Vec::new();
    while let Some(&Output::FetchLogs { tail }) = out.last() {
        asked.push(tail);
        out = r.observe(at(0), Observation::Logs(Ok(tail_of(tail))));
    }
    assert_eq!(asked, [10, 40, 160, 640, 2560, 10_000]);
    let gap = ev(EventKind::Gap {
        source: source(),
        tail: 10_000,
    });
    let lines = tail_of(10_000);
    let expected: Vec<Output> = std::iter::once(gap)
        .chain(lines.iter().map(|l| log(l, false)))
        .chain([Output::Checkpoint])
        .collect();
    assert_eq!(out, expected);
}

#[test]
fn guard_episodes_survive_a_restart() {
    let saved = DurableState {
        guard_episodes: vec!["outbid".into()],
        ..state(&["a"], 0, vec![])
    };
    let mut r = Harness::resumed(saved);
    let outbid = Instance {
        intended_status: Some("running".into()),
        ..row(Some("stopped"))
    };
    let out = r.row(0, outbid);
    assert_eq!(
        out,
        [status("stopped", Some("running")), Output::Checkpoint],
        "the alert is not repeated"
    );
}

#[test]
fn a_resumed_follower_asks_for_the_tail_it_had_grown_to() {
    // Never below the policy's tail (10), whatever an older state file says.
    for (saved, asked) in [(400, 400), (3, 10)] {
        let mut h = Harness::resumed(DurableState {
            tail: Some(saved),
            ..state(&["a", "b"], 0, Vec::new())
        });
        let out = h.status(0, Some("running"));
        assert_eq!(out.last(), Some(&fetch(asked)), "saved {saved}: {out:?}");
    }
}
