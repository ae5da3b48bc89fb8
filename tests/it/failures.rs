//! Failed jobs end to end (issue 13): the real binary watching the simulator over loopback.
//! A crash line, a container that prints its Traceback as it dies, an instance stopped on
//! purpose and one still scheduling after a start — exact events, and exactly one action each
//! from the simulator's own counters.

use serde_json::Value;
use vastfleet::sim::{Dur, InitialState, InjectedStatus, InstanceSpec, Timing};

use crate::support::{fleet_file, is, wait_for_sweeps, Account, Watcher};

const CRASH: u64 = 47000001;
const DIES: u64 = 47000002;
const PARKED: u64 = 47000003;
const SCHEDULING: u64 = 47000004;

const TRACEBACK: &str = "Traceback (most recent call last):";

fn failures_of(events: &[Value], id: u64) -> Vec<String> {
    events
        .iter()
        .filter(|e| is(e, "failure", id))
        .map(|e| e["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn actions_of(events: &[Value], id: u64) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| is(e, "action", id))
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_gets_one_action_and_alerts_tell_the_truth() {
    let spec = |id| InstanceSpec {
        history: vec!["epoch 1".into()],
        ..InstanceSpec::new(id)
    };
    let scheduling = InstanceSpec {
        state: InitialState::Stopped,
        timing: Timing {
            scheduling: Dur::secs(600),
            ..Timing::default()
        },
        ..spec(SCHEDULING)
    };
    let sim = Account::of([spec(CRASH), spec(DIES), spec(PARKED), scheduling])
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "[defaults]\ninterval = \"200ms\"\nfailure = '^Traceback \\(most recent call last\\)'\n\
         on_failure = \"stop\"\non_exit = \"stop\"\n",
    );
    for id in [CRASH, DIES, PARKED, SCHEDULING] {
        text.push_str(&format!("[[instance]]\nid = {id}\n"));
    }
    fleet_file(dir.path(), &text);
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    for id in [CRASH, DIES, PARKED] {
        watcher
            .wait_for("the first log read", |e| {
                is(e, "log", id) && e["line"] == "epoch 1"
            })
            .await;
    }
    let control = sim.control();
    control.append_lines(CRASH, ["loss nan", TRACEBACK, "  File \"train.py\""]);
    // The job prints its Traceback and the container dies with it.
    control.append_log(DIES, TRACEBACK);
    control.set_status(DIES, InjectedStatus::Exited);
    control.stop(PARKED);
    control.start(SCHEDULING);

    for id in [CRASH, DIES] {
        watcher
            .wait_for("the stop", |e| is(e, "action", id) && e["ok"] == true)
            .await;
    }
    watcher
        .wait_for("parked", |e| {
            is(e, "status", PARKED) && e["status"] == "stopped"
        })
        .await;
    // Time for any second action, and for the Traceback of the dead container to arrive.
    wait_for_sweeps(&sim, 8).await;
    let finished = watcher.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
    let events = &finished.events;

    assert_eq!(failures_of(events, CRASH), ["log"]);
    let crash = events.iter().find(|e| is(e, "failure", CRASH)).unwrap();
    assert_eq!(
        (&crash["line"], &crash["count"]),
        (&Value::from(TRACEBACK), &Value::from(1))
    );
    assert_eq!(crash["context"], serde_json::json!(["epoch 1", "loss nan"]));
    assert_eq!(
        actions_of(events, CRASH),
        [("stop".into(), "failure".into())]
    );

    // The Traceback and the exit happen at once, so which the watcher sees first is a race
    // between the next sweep and DIES's next log turn, and both answers are true: the sweep
    // first gives `exited` (and the last look at the log then the Traceback, `log`, in the
    // same episode); the log first gives `log`, whose stop leaves the exit nothing to report.
    // Either way there is one failure episode and one action (below).
    let died = failures_of(events, DIES);
    let died: Vec<&str> = died.iter().map(String::as_str).collect();
    assert!(
        matches!(died[..], ["exited"] | ["exited", "log"] | ["log"]),
        "{died:?}"
    );
    assert_eq!(
        actions_of(events, DIES).len(),
        1,
        "{:?}",
        actions_of(events, DIES)
    );

    for id in [PARKED, SCHEDULING] {
        assert!(failures_of(events, id).is_empty(), "{id}");
        assert!(actions_of(events, id).is_empty(), "{id}");
        let alerts: Vec<&Value> = events
            .iter()
            .filter(|e| is(e, "guard", id))
            .filter(|e| e["guard"] == "outbid" || e["guard"] == "down")
            .collect();
        assert!(alerts.is_empty(), "{id}: {alerts:?}");
    }
    let stats = sim.stats();
    assert_eq!(stats.actions_on(CRASH).state_changes, 1);
    assert_eq!(
        stats.actions_on(DIES).state_changes,
        1,
        "one stop per episode"
    );
    assert_eq!(stats.actions_on(PARKED).state_changes, 0);
    assert_eq!(stats.actions_on(SCHEDULING).state_changes, 0);
    assert_eq!(stats.instances.values().map(|a| a.destroys).sum::<u64>(), 0);
}
