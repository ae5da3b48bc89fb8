//! Restart safety with the real binary: `kill -9` at the awkward moments, then a second run on
//! the same fleet file, with exact line and action accounting from the simulator's side.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use vastfleet::sim::{Fault, InstanceSpec, Lasting, SimHandle};

use crate::support::{fleet_file, is, log_lines, run, Account, Watcher};

const JOB: u64 = 51000001;

fn fleet(dir: &std::path::Path, extra: &str) {
    fleet_file(
        dir,
        &format!(
            "[defaults]\ninterval = \"300ms\"\nmax_backoff = \"1s\"\ntail = 1000\n{extra}\n\
             [[instance]]\nid = {JOB}\n"
        ),
    );
}

fn new_lines(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| is(e, "log", JOB) && e["history"] == false)
        .map(|e| e["line"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_mid_burst_never_repeats_a_line_and_loses_at_most_the_batch_in_hand() {
    let sim = Account::running([JOB]).start().await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path(), "");
    let first = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    first.wait_for("running", |e| is(e, "status", JOB)).await;

    // A steady stream of lines, written while the watcher dies and comes back.
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (control, writing) = (sim.control(), Arc::clone(&writing));
        tokio::spawn(async move {
            let mut n = 0;
            while writing.load(Ordering::Relaxed) {
                let lines: Vec<String> = (0..7).map(|i| format!("line {}", n + i)).collect();
                n += 7;
                control.append_lines(JOB, lines);
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
    };
    first
        .wait_until("a good part of the stream", |events| {
            new_lines(events).len() >= 150
        })
        .await;
    let before = first.kill9().await;

    let second = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    second
        .wait_until("lines after the restart", |events| {
            new_lines(events).len() >= 100
        })
        .await;
    writing.store(false, Ordering::Relaxed);
    writer.await.unwrap();
    sim.control().append_log(JOB, "the end");
    second
        .wait_for("the last line", |e| {
            is(e, "log", JOB) && e["line"] == "the end"
        })
        .await;
    let after = second.terminate().await;

    assert!(
        !after.events.iter().any(|e| is(e, "gap", JOB)),
        "tail 1000 covers the pause"
    );
    // The log was empty at start: lines the first poll found count too (shown as history).
    let first_run = log_lines(&before.events, JOB);
    let second_run = log_lines(&after.events, JOB);
    let log = sim.control().log_lines(JOB).unwrap();
    // Saved before printed (monitor::protocol::Step): no line is ever shown twice. The one
    // window the contract leaves is a batch saved but still being handed to the writer when
    // the kill lands: those lines are not shown, and the next run goes on after them. So the
    // first run shows the log's beginning, the second its end, each in order, and what lies
    // between them can only be that batch.
    assert_eq!(first_run, log[..first_run.len()], "the first run, in order");
    assert!(
        first_run.len() + second_run.len() <= log.len(),
        "a line shown twice across the kill"
    );
    assert_eq!(
        second_run,
        log[log.len() - second_run.len()..],
        "the second run goes on from the saved cursor, in order"
    );
    let unshown = log.len() - first_run.len() - second_run.len();
    assert!(
        unshown <= IN_HAND,
        "{unshown} lines between the runs: more than a batch in hand at the kill"
    );
}

/// Lines the writer can have been handed, but not yet have written, when the kill lands: one
/// fetch's worth (the writer takes them in batches of 256).
const IN_HAND: usize = 256;

/// Its job finishes when the test says so (`finish`), after the first watcher's first read.
fn finishing_job() -> InstanceSpec {
    InstanceSpec {
        history: vec!["SUCCESS! NEW processing completed".into()],
        ..InstanceSpec::new(JOB)
    }
}

async fn finish(watcher: &Watcher, sim: &SimHandle) {
    watcher
        .wait_for("the first read", |e| is(e, "old_completions", JOB))
        .await;
    crate::support::finish_job(sim, JOB, "https://results.example/out");
}

fn completions(events: &[Value]) -> usize {
    events.iter().filter(|e| is(e, "completion", JOB)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_between_completion_and_action_acts_once_after_the_restart() {
    let sim = Account::of([finishing_job()]).start().await;
    sim.control()
        .inject_on(&["destroy"], Fault::Status5xx(503), Lasting::Forever);
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path(), "on_complete = \"destroy\"");
    let first = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    finish(&first, &sim).await;
    first
        .wait_for("a failed destroy", |e| {
            (is(e, "action", JOB) && e["ok"] == false) || is(e, "api_error", JOB)
        })
        .await;
    let before = first.kill9().await;
    assert_eq!(completions(&before.events), 1);
    assert_eq!(sim.stats().actions_on(JOB).destroys, 0);

    sim.control().clear_faults();
    let second = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    second
        .wait_for("the destroy", |e| is(e, "action", JOB) && e["ok"] == true)
        .await;
    second
        .wait_for("gone", |e| is(e, "status", JOB) && e["status"] == "gone")
        .await;
    let after = second.terminate().await;
    assert_eq!(sim.stats().actions_on(JOB).destroys, 1);
    assert_eq!(
        completions(&after.events),
        0,
        "the completion is not new again"
    );
    assert!(!after.events.iter().any(|e| is(e, "old_completions", JOB)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_right_after_the_action_never_repeats_it() {
    let sim = Account::of([finishing_job()]).start().await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path(), "on_complete = \"destroy\"");
    let first = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    finish(&first, &sim).await;
    first
        .wait_for("the destroy", |e| is(e, "action", JOB) && e["ok"] == true)
        .await;
    let before = first.kill9().await;
    assert_eq!(completions(&before.events), 1);

    let second = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    second
        .wait_for("gone", |e| is(e, "status", JOB) && e["status"] == "gone")
        .await;
    crate::support::wait_for_sweeps(&sim, 3).await;
    let after = second.terminate().await;
    assert_eq!(sim.stats().actions_on(JOB).destroys, 1);
    assert!(!after.events.iter().any(|e| is(e, "action", JOB)));
    assert_eq!(completions(&after.events), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_is_moved_aside_and_a_second_watcher_is_refused() {
    let sim = Account::running([JOB]).start().await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path(), "");
    std::fs::write(dir.path().join(".fleet.toml.state.json"), "{ not json").unwrap();
    let first = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    let notice = first
        .wait_for("the corrupt-state notice", |e| {
            e["event"] == "notice"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("could not be trusted"))
        })
        .await;
    assert!(notice["message"].as_str().unwrap().contains(".bad-"));
    let moved = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .any(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .contains(".state.json.bad-")
        });
    assert!(moved, "the bad file is kept for inspection");
    first.wait_for("running", |e| is(e, "status", JOB)).await;

    let (code, out, err) = run(dir.path(), Some(&sim), &["watch", "--json"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains(&format!("pid {}", first.pid())),
        "names the running one: {err}"
    );
    let finished = first.terminate().await;
    assert!(finished.status.success());
}

fn budget_alerts(events: &[Value]) -> usize {
    events.iter().filter(|e| e["event"] == "budget").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_episode_under_way_is_not_alerted_again_after_a_restart() {
    let sim = Account::of([InstanceSpec {
        dph_total: 2.5,
        ..InstanceSpec::new(JOB)
    }])
    .start()
    .await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path(), "[budget]\nmax_dph = 1.0");
    let first = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    first
        .wait_for("the budget alert", |e| e["event"] == "budget")
        .await;
    let before = first.kill9().await;
    assert_eq!(budget_alerts(&before.events), 1);

    let second = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    second.wait_for("running", |e| is(e, "status", JOB)).await;
    crate::support::wait_for_sweeps(&sim, 3).await;
    let after = second.terminate().await;
    assert_eq!(
        budget_alerts(&after.events),
        0,
        "the episode was under way before the restart"
    );

    // Back under the limit the episode ends, and going over again alerts again.
    fleet(dir.path(), "[budget]\nmax_dph = 10.0");
    let third = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    third.wait_for("running", |e| is(e, "status", JOB)).await;
    crate::support::wait_for_sweeps(&sim, 2).await;
    let _ = third.terminate().await;
    fleet(dir.path(), "[budget]\nmax_dph = 1.0");
    let fourth = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    fourth
        .wait_for("a new episode's alert", |e| e["event"] == "budget")
        .await;
    let _ = fourth.terminate().await;
}
