//! The first sweep after a (re)start says every instance's status once, with the status the
//! state file remembered as `previous`, so no prefix is left at ❓ for an unchanged instance.

use crate::support::{fleet_file, is, Account, Watcher};

const JOB: u64 = 51400101;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_says_the_unchanged_status_once() {
    let sim = Account::running([JOB]).start().await;
    let dir = tempfile::tempdir().unwrap();
    fleet_file(
        dir.path(),
        &format!("[defaults]\ninterval = \"200ms\"\n[[instance]]\nid = {JOB}\n"),
    );
    let first = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    let seen = first
        .wait_for("the first status", |e| is(e, "status", JOB))
        .await;
    assert_eq!(seen["previous"], serde_json::Value::Null);
    assert_eq!(seen["status"], "running");
    assert_eq!(first.terminate().await.status.code(), Some(0));

    let second = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    let again = second
        .wait_for("the restart snapshot", |e| is(e, "status", JOB))
        .await;
    assert_eq!(
        (&again["status"], &again["previous"]),
        (&"running".into(), &"running".into())
    );
    crate::support::wait_for_sweeps(&sim, 3).await;
    let finished = second.terminate().await;
    let statuses = finished
        .events
        .iter()
        .filter(|e| is(e, "status", JOB))
        .count();
    assert_eq!(statuses, 1, "said once, then only changes");
}
