//! Operations (issue 14): the signals and endpoints a service manager and a monitoring stack
//! use, with the real binary against the simulator over loopback.

use serde_json::Value;
use vastfleet::sim::SimHandle;

use crate::support::{is, Watcher};

const A: u64 = 62000001;
const B: u64 = 62000002;

async fn account() -> SimHandle {
    crate::support::account_with_history(&[A, B]).await
}

const HEAD: &str = "[defaults]\ninterval = \"300ms\"\n";

fn notice(e: &Value, says: &str) -> bool {
    e["event"] == "notice" && e["message"].as_str().is_some_and(|m| m.contains(says))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_fleet_file_and_a_bad_one_is_rejected_while_watching_goes_on() {
    let sim = account().await;
    let dir = tempfile::tempdir().unwrap();
    // The real file sits outside the folder the change watcher follows (fleet.toml is a link
    // to it), so its edits reach the running watch through SIGHUP, not a change notification.
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let target = real.join("fleet.toml");
    std::fs::write(&target, format!("{HEAD}\n[[instance]]\nid = {A}\n")).unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("fleet.toml")).unwrap();
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    watcher.wait_for("A's history", |e| is(e, "log", A)).await;

    let two = format!("{HEAD}\n[[instance]]\nid = {A}\n\n[[instance]]\nid = {B}\n");
    std::fs::write(&target, two).unwrap();
    watcher.signal("-HUP").await;
    watcher
        .wait_for("the SIGHUP notice", |e| notice(e, "SIGHUP: read"))
        .await;
    let reload = watcher
        .wait_for("the reload", |e| e["event"] == "reload")
        .await;
    assert_eq!(reload["added"], serde_json::json!([B]));
    watcher.wait_for("B's history", |e| is(e, "log", B)).await;
    sim.control().append_log(B, "B is monitored");
    watcher
        .wait_for("B's new line", |e| {
            is(e, "log", B) && e["line"] == "B is monitored"
        })
        .await;

    watcher.signal("-HUP").await;
    watcher
        .wait_for("the answer to a SIGHUP with nothing new", |e| {
            notice(e, "it is unchanged, nothing to apply")
        })
        .await;

    std::fs::write(&target, format!("{HEAD}\n[[instance]]\nid = \"{B}\"\n")).unwrap();
    watcher.signal("-HUP").await;
    let rejected = watcher
        .wait_for("the rejection", |e| e["event"] == "reload_rejected")
        .await;
    let error = rejected["error"].as_str().unwrap();
    assert!(error.contains("fleet.toml:5"), "{error}");
    sim.control().append_log(A, "A is still watched");
    watcher
        .wait_for("A's line after the bad file", |e| {
            is(e, "log", A) && e["line"] == "A is still watched"
        })
        .await;

    let finished = watcher.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
    assert_eq!(
        finished
            .events
            .iter()
            .filter(|e| e["event"] == "reload")
            .count(),
        1,
        "only the SIGHUP with a new fleet changed it"
    );
    assert!(!finished
        .events
        .iter()
        .any(|e| is(e, "left", A) || is(e, "left", B)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_without_a_fleet_file_says_so_and_does_not_end_the_watch() {
    let sim = account().await;
    let dir = tempfile::tempdir().unwrap();
    let a = A.to_string();
    let watcher = Watcher::start(
        dir.path(),
        &sim,
        &["watch", "--json", "--id", &a, "--interval", "300ms"],
    );
    watcher.wait_for("A's history", |e| is(e, "log", A)).await;
    watcher.signal("-HUP").await;
    watcher
        .wait_for("the answer", |e| notice(e, "no fleet file to read again"))
        .await;
    sim.control().append_log(A, "still here");
    watcher
        .wait_for("A's line", |e| is(e, "log", A) && e["line"] == "still here")
        .await;
    let finished = watcher.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
}
