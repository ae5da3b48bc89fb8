//! `vastfleet watch` end to end: the binary against the simulator over loopback.

use serde_json::Value;
use vastfleet::sim::{Scenario, Simulator};

use crate::support::{fleet_file, is, log_lines, Watcher};

const JOB: u64 = 31000001;

fn one_job() -> Scenario {
    Scenario::from_toml(
        r#"
        [[instance]]
        id = 31000001
        label = "job"
        history = ["boot", "SUCCESS! NEW processing completed", "https://old.example/r1"]
        complete_at = "2s"
        result_url = "https://results.example/r2"
          [[instance.log]]
          at = "500ms"
          every = "500ms"
          count = 3
          text = "step {n}"
        "#,
        "one_job.toml",
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_completion_destroys_exactly_once_and_the_watch_goes_on() {
    let sim = Simulator::start(one_job()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    fleet_file(
        dir.path(),
        r#"
        [defaults]
        interval = "300ms"
        [[instance]]
        id = 31000001
        on_complete = "destroy"
        "#,
    );
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    let completion = watcher
        .wait_for("the new completion", |e| is(e, "completion", JOB))
        .await;
    assert_eq!(completion["result_url"], "https://results.example/r2");
    watcher
        .wait_for("the destroy", |e: &Value| {
            is(e, "action", JOB) && e["ok"] == true
        })
        .await;
    watcher
        .wait_for("the instance gone", |e: &Value| {
            is(e, "status", JOB) && e["status"] == "gone"
        })
        .await;
    let finished = watcher.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
    let old = finished
        .events
        .iter()
        .find(|e| is(e, "old_completions", JOB))
        .expect("old completions counted");
    assert_eq!(old["count"], 1);
    assert_eq!(sim.stats().actions_on(JOB).destroys, 1);
    let lines = log_lines(&finished.events, JOB);
    let steps: Vec<&String> = lines.iter().filter(|l| l.starts_with("step")).collect();
    assert_eq!(steps, ["step 1", "step 2", "step 3"]);
    assert!(finished.events.last().unwrap()["event"] == "shutdown");
}
