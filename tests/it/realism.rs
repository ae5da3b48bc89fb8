//! `vastfleet watch` against the simulator's less forgiving faces of the real API (issue 12):
//! log objects that take seconds, a stable log URL that serves the previous snapshot, and a
//! proxy's HTML 404 in front of a destroy.

use std::collections::BTreeSet;

use serde_json::Value;
use vastfleet::sim::{Fault, Lasting, Scenario};

use crate::support::{finish_job, fleet_file, is, log_lines, start, Watcher};

const ID: u64 = 32000001;

fn watch_file(dir: &std::path::Path, extra: &str) {
    fleet_file(
        dir,
        &format!(
            "[defaults]\ninterval = \"300ms\"\nmax_backoff = \"1s\"\n{extra}\n[[instance]]\nid = {ID}\n"
        ),
    );
}

fn scenario(logs: &str, instance: &str) -> Scenario {
    let text = format!("[logs]\n{logs}\n[[instance]]\nid = {ID}\nlabel = \"job\"\n{instance}\n");
    Scenario::from_toml(&text, "realism.toml").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stale_copy_mode_keeps_every_line_exactly_once() {
    let sim = start(scenario(
        "stale_copy = true\nnot_ready_polls = 2",
        "history = [\"boot\"]\n[[instance.log]]\nat = \"200ms\"\nevery = \"150ms\"\ncount = 20\ntext = \"tick {n}\"",
    )).await;
    let dir = tempfile::tempdir().unwrap();
    watch_file(dir.path(), "");
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    watcher
        .wait_for("the last line", |e| {
            is(e, "log", ID) && e["line"] == "tick 20"
        })
        .await;
    let finished = watcher.terminate().await;
    let mut want = vec!["boot".to_owned()];
    want.extend((1..=20).map(|n| format!("tick {n}")));
    assert_eq!(log_lines(&finished.events, ID), want);
    assert!(!finished.events.iter().any(|e| e["event"] == "gap"));
    // One stable URL, polled many times: the watcher was served stale copies and coped.
    let stats = sim.stats();
    let urls: BTreeSet<&str> = stats
        .requests
        .iter()
        .filter(|r| r.endpoint == "log_result")
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(urls.len(), 1, "{urls:?}");
    assert!(stats.calls("request_logs") >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_object_slower_than_the_official_clients_nine_seconds_is_waited_out() {
    let sim = start(scenario(
        "ready_after = \"10s\"",
        "history = [\"first\", \"second\"]",
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    watch_file(dir.path(), "");
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    watcher
        .wait_for("the history", |e| is(e, "log", ID) && e["line"] == "second")
        .await;
    let finished = watcher.terminate().await;
    assert_eq!(log_lines(&finished.events, ID), ["first", "second"]);
    let stats = sim.stats();
    // The first snapshot was waited for, not given up on and asked for again.
    assert_eq!(stats.count("log_result", 200), 1, "{:?}", stats.counts);
    assert!(stats.count("log_result", 403) >= 5, "{:?}", stats.counts);
    assert!(
        !finished
            .events
            .iter()
            .any(|e| e["event"] == "api_error" && e["instance"] == ID),
        "a slow object is not an error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_404_on_destroy_is_retried_until_the_real_destroy() {
    let sim = start(scenario("", "history = [\"boot\"]")).await;
    sim.control()
        .inject_on(&["destroy"], Fault::ProxyNotFound, Lasting::Requests(2));
    let dir = tempfile::tempdir().unwrap();
    watch_file(dir.path(), "on_complete = \"destroy\"");
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    watcher
        .wait_for("the history", |e| is(e, "log", ID) && e["line"] == "boot")
        .await;
    finish_job(&sim, ID, "https://results.example/r");
    watcher
        .wait_for("the destroy", |e: &Value| {
            is(e, "action", ID) && e["action"] == "destroy" && e["ok"] == true
        })
        .await;
    watcher
        .wait_for("the instance gone", |e: &Value| {
            is(e, "status", ID) && e["status"] == "gone"
        })
        .await;
    let finished = watcher.terminate().await;
    let refusals: Vec<&Value> = finished
        .events
        .iter()
        .filter(|e| is(e, "api_error", ID))
        .collect();
    assert_eq!(refusals.len(), 2, "each HTML 404 is said: {refusals:?}");
    for refusal in &refusals {
        let error = refusal["error"].as_str().unwrap();
        assert!(
            error.contains("destroy failed") && error.contains("not taken as proof"),
            "{error}"
        );
    }
    let action = finished
        .events
        .iter()
        .find(|e| is(e, "action", ID))
        .unwrap();
    assert!(
        !action["reason"].as_str().unwrap().contains("already gone"),
        "the destroy was carried out, not written off: {action}"
    );
    let stats = sim.stats();
    assert_eq!(stats.count("destroy", 404), 2);
    assert_eq!(stats.count("destroy", 200), 1);
    assert_eq!(stats.actions_on(ID).destroys, 1);
}
