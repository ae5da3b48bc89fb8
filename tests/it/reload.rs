//! Live reload with the real binary: edits of the fleet file (by hand, by rename, by
//! `vastfleet add`/`remove`) apply to a running watch; a broken edit changes nothing. And the
//! demo, run for a bounded time, tells its whole story.

use serde_json::Value;
use vastfleet::sim::SimHandle;

use crate::support::{fleet_file, is, run, Watcher};

const A: u64 = 61000001;
const B: u64 = 61000002;
const C: u64 = 61000003;

async fn account() -> SimHandle {
    crate::support::account_with_history(&[A, B, C]).await
}

const HEAD: &str = "# my fleet: keep this comment\n[defaults]\ninterval = \"300ms\"\n";

fn reload(e: &Value) -> bool {
    e["event"] == "reload"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_add_remove_and_change_instances_and_a_broken_edit_changes_nothing() {
    let sim = account().await;
    let dir = tempfile::tempdir().unwrap();
    let path = fleet_file(dir.path(), &format!("{HEAD}\n[[instance]]\nid = {A}\n"));
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    watcher.wait_for("A's history", |e| is(e, "log", A)).await;

    // An editor that saves by writing a temp file and renaming it over the original.
    let temp = dir.path().join(".fleet.toml.swp");
    std::fs::write(
        &temp,
        format!("{HEAD}\n[[instance]]\nid = {A}\n\n[[instance]]\nid = {B}\nlabel = \"bee\"\n"),
    )
    .unwrap();
    std::fs::rename(&temp, &path).unwrap();
    let added = watcher.wait_for("the reload", reload).await;
    assert_eq!(added["added"], serde_json::json!([B]));
    watcher.wait_for("B joined", |e| is(e, "joined", B)).await;
    watcher.wait_for("B's history", |e| is(e, "log", B)).await;

    std::fs::write(
        &path,
        format!("{HEAD}\n[[instance]]\nid = {B}\nlabel = \"bee\"\nhistory = 0\n"),
    )
    .unwrap();
    watcher.wait_for_n("the second reload", 2, reload).await;
    watcher.wait_for("A left", |e| is(e, "left", A)).await;

    std::fs::write(
        &path,
        format!("{HEAD}\n[[instance]]\nid = {B}\nlabl = \"typo\"\n"),
    )
    .unwrap();
    let rejected = watcher
        .wait_for("the rejection", |e| e["event"] == "reload_rejected")
        .await;
    let error = rejected["error"].as_str().unwrap();
    assert!(
        error.contains("fleet.toml:7") && error.contains("labl"),
        "{error}"
    );
    sim.control()
        .append_log(B, "still watched after the bad edit");
    watcher
        .wait_for("B's new line", |e| {
            is(e, "log", B) && e["line"] == "still watched after the bad edit"
        })
        .await;

    let finished = watcher.terminate().await;
    assert!(finished.status.success());
    let history_of = |id: u64| {
        finished
            .events
            .iter()
            .filter(|e| is(e, "log", id) && e["history"] == true)
            .count()
    };
    assert_eq!(history_of(A), 1, "no history printed twice");
    assert_eq!(history_of(B), 1, "no history printed twice");
    assert!(!finished.events.iter().any(|e| is(e, "left", B)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vastfleet_add_and_remove_while_watching() {
    let sim = account().await;
    let dir = tempfile::tempdir().unwrap();
    let path = fleet_file(dir.path(), &format!("{HEAD}\n[[instance]]\nid = {A}\n"));
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    watcher.wait_for("A's history", |e| is(e, "log", A)).await;

    let c = C.to_string();
    let (code, _, err) = run(dir.path(), None, &["add", &c, "--label", "sea"]).await;
    assert_eq!(code, 0, "{err}");
    watcher
        .wait_for("C joined", |e| is(e, "joined", C) && e["label"] == "sea")
        .await;
    sim.control().append_log(C, "hello from C");
    watcher
        .wait_for("C's line", |e| {
            is(e, "log", C) && e["line"] == "hello from C"
        })
        .await;
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("# my fleet: keep this comment\n"),
        "{text}"
    );

    let a = A.to_string();
    let (code, _, err) = run(dir.path(), None, &["remove", &a]).await;
    assert_eq!(code, 0, "{err}");
    watcher.wait_for("A left", |e| is(e, "left", A)).await;
    let finished = watcher.terminate().await;
    assert!(finished.status.success());
    let summary = finished.events.last().unwrap();
    assert_eq!(summary["event"], "shutdown");
    let resume = summary["resume"].as_str().unwrap();
    assert!(resume.contains("vastfleet watch fleet.toml"), "{resume}");
    let destroy = summary["destroy"].as_str().unwrap();
    assert!(
        destroy.contains(&format!("vastfleet destroy {C}")),
        "{destroy}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_tells_its_story_in_under_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(dir.path(), None, &["demo", "--json", "--duration", "40s"]).await;
    assert_eq!(code, 0, "{err}");
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let any = |what: &dyn Fn(&Value) -> bool| events.iter().any(what);
    let alpha = 31000001u64;
    let bravo = 31000002u64;
    assert!(
        any(&|e| is(e, "old_completions", alpha)),
        "the old completion is counted"
    );
    let completion = events.iter().find(|e| is(e, "completion", alpha)).unwrap();
    assert!(completion["result_url"]
        .as_str()
        .unwrap()
        .contains("run-0042"));
    assert!(any(&|e| is(e, "action", alpha)
        && e["action"] == "destroy"
        && e["ok"] == true));
    assert!(any(&|e| is(e, "status", bravo) && e["status"] == "stopped"));
    assert!(any(&|e| is(e, "status", bravo)
        && e["status"] == "running"
        && e["previous"] == "stopped"));
    assert!(any(&|e| e["event"] == "api_error"), "the 429 storm is felt");
    assert!(any(&|e| e["event"] == "recovered"), "and ridden out");
    assert_eq!(events.last().unwrap()["event"], "shutdown");
}
