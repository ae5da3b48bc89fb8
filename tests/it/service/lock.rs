//! The lock file beside the state file: gone after SIGTERM, left by `kill -9` and taken over
//! by the next start.

use crate::support::{account_with_history, fleet_file, is, Watcher};

const JOB: u64 = 63000001;

fn lock_file(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join(".fleet.toml.state.json.lock")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_removes_the_lock_file_and_kill_9_leaves_one_the_next_start_takes_over() {
    let sim = account_with_history(&[JOB]).await;
    let dir = tempfile::tempdir().unwrap();
    fleet_file(
        dir.path(),
        &format!("[defaults]\ninterval = \"300ms\"\n[[instance]]\nid = {JOB}\n"),
    );

    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    watcher.wait_for("the history", |e| is(e, "log", JOB)).await;
    let pid = watcher.pid();
    let held = std::fs::read_to_string(lock_file(dir.path())).unwrap();
    assert_eq!(held.lines().next(), Some(pid.to_string().as_str()));
    let finished = watcher.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(
        !lock_file(dir.path()).exists(),
        "a clean exit left its lock file"
    );
    assert!(dir.path().join(".fleet.toml.state.json").exists());

    let killed = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    killed
        .wait_for("the status at start", |e| is(e, "status", JOB))
        .await;
    let killed_pid = killed.pid();
    killed.kill9().await;
    let left = std::fs::read_to_string(lock_file(dir.path())).unwrap();
    assert_eq!(left.lines().next(), Some(killed_pid.to_string().as_str()));

    let next = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    next.wait_for("the status at start", |e| is(e, "status", JOB))
        .await;
    let taken = std::fs::read_to_string(lock_file(dir.path())).unwrap();
    assert_eq!(taken.lines().next(), Some(next.pid().to_string().as_str()));
    let finished = next.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(!lock_file(dir.path()).exists());
}
