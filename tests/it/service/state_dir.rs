//! systemd's `StateDirectory=`: with `$STATE_DIRECTORY` set and no `--state`, the watcher keeps
//! its state there, so the fleet file may sit in a folder the service cannot write.

use crate::support::{account_with_history, command, fleet_file, is, Watcher};

const JOB: u64 = 64000101;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_file_goes_into_the_state_directory_and_a_restart_resumes_from_it() {
    let sim = account_with_history(&[JOB]).await;
    let dir = tempfile::tempdir().unwrap();
    let state_dir = tempfile::tempdir().unwrap();
    fleet_file(
        dir.path(),
        &format!("[defaults]\ninterval = \"300ms\"\n[[instance]]\nid = {JOB}\n"),
    );
    let start = || {
        let mut watch = command(dir.path(), Some(&sim), &["watch", "--json"]);
        watch.env("STATE_DIRECTORY", state_dir.path());
        Watcher::spawn(watch)
    };

    let watcher = start();
    watcher.wait_for("the history", |e| is(e, "log", JOB)).await;
    let finished = watcher.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
    let state = state_dir.path().join("fleet.toml.state.json");
    assert!(state.exists(), "no state in $STATE_DIRECTORY");
    assert!(!dir.path().join(".fleet.toml.state.json").exists());

    let again = start();
    let resumed = again
        .wait_for("the resume notice", |e| e["event"] == "notice")
        .await;
    assert!(
        resumed["message"]
            .as_str()
            .is_some_and(|m| m.contains(&state.display().to_string())),
        "{resumed}"
    );
    again
        .wait_for("the status at start", |e| is(e, "status", JOB))
        .await;
    // Two log fetches after the restart: the history would be in the first had it been lost.
    let fetched = sim.stats().calls("request_logs");
    let deadline = tokio::time::Instant::now() + crate::support::PATIENCE;
    while sim.stats().calls("request_logs") < fetched + 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no log fetch after the restart"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let finished = again.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
    assert_eq!(
        finished.events.iter().filter(|e| is(e, "log", JOB)).count(),
        0,
        "the history was printed again: the state was not read back"
    );
}
