//! The everyday one-shot commands, as the binary, against the simulator over loopback.

use serde_json::Value;
use vastfleet::sim::SimHandle;

use crate::support::{fleet_file, labelled, run, stopped, Account};

const RUNNING: u64 = 41000001;
const STOPPED: u64 = 41000002;
const NOT_IN_ACCOUNT: u64 = 41000009;

async fn account() -> SimHandle {
    Account::of([labelled(RUNNING, "train"), stopped(STOPPED)])
        .start()
        .await
}

fn fleet(dir: &std::path::Path) {
    fleet_file(
        dir,
        &format!(
            "# my fleet\n[[instance]]\nid = {RUNNING}\nlabel = \"train\"\n\n\
             [[instance]]\nid = {STOPPED}\n\n[[instance]]\nid = {NOT_IN_ACCOUNT}\n"
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_every_instance_of_the_file_from_one_list_call() {
    let sim = account().await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path());

    let (code, out, err) = run(dir.path(), Some(&sim), &["status", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let status = |id: u64| rows.iter().find(|r| r["instance"] == id).unwrap()["status"].clone();
    assert_eq!(status(RUNNING), "running");
    assert_eq!(status(STOPPED), "stopped");
    assert_eq!(status(NOT_IN_ACCOUNT), "gone");
    assert_eq!(rows[0]["gpu"], "1x RTX 4090");
    assert!(rows[0]["spend_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(sim.stats().calls("list"), 1);
    assert_eq!(sim.stats().calls("show"), 0);

    let (code, table, _) = run(dir.path(), Some(&sim), &["status"]).await;
    assert_eq!(code, 0);
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("train") && table.contains("gone"), "{table}");

    // Into a pipe nothing is cut, whatever COLUMNS says (a terminal's width is tested in a pty).
    let mut narrow = crate::support::command(dir.path(), Some(&sim), &["status"]);
    let output = narrow.env("COLUMNS", "50").output().await.unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("success, running pytorch/pytorch:latest/ssh"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_check_asks_the_api_and_writes_nothing_for_a_missing_instance() {
    let sim = account().await;
    let dir = tempfile::tempdir().unwrap();
    let missing = NOT_IN_ACCOUNT.to_string();
    let (code, _, err) = run(dir.path(), Some(&sim), &["add", &missing, "--check"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no instance 41000009"), "{err}");
    assert!(!dir.path().join("fleet.toml").exists());

    let present = RUNNING.to_string();
    let (code, out, err) = run(dir.path(), Some(&sim), &["add", &present, "--check"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("added 41000001"), "{out}");
    let text = std::fs::read_to_string(dir.path().join("fleet.toml")).unwrap();
    assert!(text.contains("id = 41000001"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_start_and_destroy_with_its_confirmation_rules() {
    let sim = account().await;
    let dir = tempfile::tempdir().unwrap();
    let (running, stopped) = (RUNNING.to_string(), STOPPED.to_string());

    let (code, out, err) = run(dir.path(), Some(&sim), &["stop", &running]).await;
    assert_eq!(
        (code, out.trim()),
        (0, "stopped instance 41000001"),
        "{err}"
    );
    let (code, _, err) = run(dir.path(), Some(&sim), &["start", &stopped]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sim.stats().actions_on(RUNNING).state_changes, 1);
    assert_eq!(sim.stats().actions_on(STOPPED).state_changes, 1);

    // stdin is not a terminal here: no -y, no destroy.
    let (code, _, err) = run(dir.path(), Some(&sim), &["destroy", &running]).await;
    assert_eq!(code, 2);
    assert!(err.contains("pass -y"), "{err}");
    assert_eq!(sim.stats().actions_on(RUNNING).destroys, 0);

    let (code, _, err) = run(dir.path(), Some(&sim), &["destroy", "-y", &running]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sim.stats().actions_on(RUNNING).destroys, 1);

    let (code, _, err) = run(dir.path(), Some(&sim), &["stop", "424242"]).await;
    assert_eq!(code, 1, "a failed action is a runtime failure: {err}");
    assert!(err.contains("424242"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_completions_and_the_man_page_need_no_api() {
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path());
    let mut check = crate::support::command(dir.path(), None, &["check"]);
    let output = check.env("VAST_API_KEY", "k").output().await.unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(out.contains("41000001") && out.contains("train"), "{out}");

    std::fs::write(dir.path().join("fleet.toml"), "[[instance]]\nid = \"x\"\n").unwrap();
    let (code, _, err) = run(dir.path(), None, &["check"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("fleet.toml:2"), "{err}");

    let (code, script, _) = run(dir.path(), None, &["completions", "bash"]).await;
    assert_eq!(code, 0);
    assert!(script.contains("vastfleet") && script.contains("complete"));

    let (code, page, err) = run(dir.path(), None, &["man"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        page.starts_with(".ie") && page.contains(".TH vastfleet 1"),
        "{page}"
    );
    for command in ["watch", "status", "destroy", "man"] {
        assert!(
            page.contains(&format!(".SS \"vastfleet {command}\"")),
            "{command}"
        );
    }
}
