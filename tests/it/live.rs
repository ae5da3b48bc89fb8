//! Issue 15 through the real binary: a running `watch` serves its live view on the socket
//! named in its lock file (and on `--metrics`), read by `top`'s client, with no API call.
//! The full-screen view itself is in [`crate::tui`].

use std::path::Path;

use vastfleet::live::{client, LiveClient};
use vastfleet::sim::{Scenario, SimHandle};

use crate::support::{fleet_file, is, start, Watcher};

pub const ALPHA: u64 = 81000001;
pub const BETA: u64 = 81000002;

/// Two running instances that print a numbered line every 200 ms.
pub async fn two_jobs() -> SimHandle {
    let scenario = Scenario::from_toml(
        r#"
        [[instance]]
        id = 81000001
        gpu_name = "RTX 4090"
        num_gpus = 2
        dph_total = 0.8
          [[instance.log]]
          at = "100ms"
          every = "200ms"
          text = "alpha step {n}"
        [[instance]]
        id = 81000002
        dph_total = 0.25
          [[instance.log]]
          at = "100ms"
          every = "200ms"
          text = "beta step {n}"
        "#,
        "two_jobs.toml",
    )
    .unwrap();
    start(scenario).await
}

pub fn two_job_fleet(dir: &Path) {
    fleet_file(
        dir,
        "[defaults]\ninterval = \"300ms\"\n[[instance]]\nid = 81000001\nlabel = \"alpha\"\n\
         [[instance]]\nid = 81000002\nlabel = \"beta\"\n",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_watch_serves_its_fleet_on_its_socket_and_metrics_listener() {
    let sim = two_jobs().await;
    let dir = tempfile::tempdir().unwrap();
    two_job_fleet(dir.path());
    let watcher = Watcher::start(
        dir.path(),
        &sim,
        &["watch", "--json", "--metrics", "127.0.0.1:0"],
    );
    for id in [ALPHA, BETA] {
        watcher
            .wait_for("a new log line", |e| {
                is(e, "log", id) && e["history"] == false
            })
            .await;
    }
    let state = dir.path().join(".fleet.toml.state.json");
    let socket = client::locate(&state);
    assert_eq!(socket, dir.path().join(".fleet.toml.state.json.sock"));
    let lock = std::fs::read_to_string(dir.path().join(".fleet.toml.state.json.lock")).unwrap();
    assert_eq!(
        lock,
        format!("{}\n{}\n", watcher.pid(), socket.display()),
        "pid, then the socket"
    );

    let calls_before = sim.stats().calls("list");
    let live = LiveClient::new(socket.clone());
    let snapshot = live.fleet().await.unwrap();
    assert_eq!(snapshot.pid, watcher.pid());
    let labels: Vec<&str> = snapshot
        .instances
        .iter()
        .map(|i| i.label.as_str())
        .collect();
    assert_eq!(labels, ["alpha", "beta"]);
    let alpha = &snapshot.instances[0];
    assert_eq!(alpha.status, Some(vastfleet::status::Status::Running));
    assert_eq!(alpha.gpu.as_deref(), Some("2x RTX 4090"));
    assert_eq!(alpha.dph_total, Some(0.8));
    assert!(alpha
        .last_line
        .as_deref()
        .unwrap()
        .starts_with("alpha step"));
    assert!(alpha.log_lines > 0);
    assert_eq!(snapshot.totals.by_status.get("running"), Some(&2));
    assert!((snapshot.totals.dph_running - 1.05).abs() < 1e-9);
    assert!(snapshot.api.calls > 0);
    let log = live.log(BETA).await.unwrap();
    assert!(log.lines.iter().any(|l| l.line.starts_with("beta step")));
    // Reading the view costs the API nothing (a sweep may have gone out meanwhile, no more).
    assert!(sim.stats().calls("list") <= calls_before + 1);

    let stderr = watcher.stderr();
    let metrics = stderr
        .split_whitespace()
        .find(|w| w.starts_with("http://") && w.ends_with("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address in: {stderr}"));
    let fleet_url = metrics.replace("/metrics", "/v1/fleet");
    let over_tcp: vastfleet::live::FleetSnapshot = reqwest::get(&fleet_url)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_tcp.instances.len(), 2);

    let finished = watcher.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(!socket.exists(), "the socket leaves with the watcher");
}

/// `status` of a fleet whose watcher runs is answered by the watcher: no key in the
/// environment, so an API call could not even be made; `--fresh` asks the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_of_a_watched_fleet_comes_from_the_watcher_without_the_api() {
    let sim = two_jobs().await;
    let dir = tempfile::tempdir().unwrap();
    two_job_fleet(dir.path());
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    for id in [ALPHA, BETA] {
        watcher.wait_for("a status", |e| is(e, "status", id)).await;
    }
    let (code, stdout, stderr) = crate::support::run(dir.path(), None, &["status", "--json"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("from the running watcher"), "{stderr}");
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3, "two instances and the totals: {stdout}");
    assert_eq!(rows[0]["label"], "alpha");
    assert_eq!(rows[0]["status"], "running");
    assert_eq!(rows[0]["gpu"], "2x RTX 4090");
    assert_eq!(rows[1]["label"], "beta");
    assert!(rows[2]["totals"].is_object(), "{stdout}");

    let (code, table, stderr) = crate::support::run(dir.path(), None, &["status"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(table.contains("alpha") && table.contains("beta"), "{table}");

    let (code, fresh, stderr) =
        crate::support::run(dir.path(), Some(&sim), &["status", "--fresh", "--json"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("from the running watcher"), "{stderr}");
    assert_eq!(fresh.lines().count(), 3, "{fresh}");

    let finished = watcher.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
}
