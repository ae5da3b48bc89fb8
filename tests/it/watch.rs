//! `vastfleet watch` end to end: the binary against the simulator over loopback.

use std::time::Duration;

use serde_json::Value;
use vastfleet::sim::{Fault, Lasting, Scenario};

use crate::support::{finish_job, fleet_file, is, labelled, log_lines, start, Account, Watcher};

const JOB: u64 = 31000001;

/// Its job finishes when the test says so (`finish`), after the watcher's first read.
fn one_job() -> Scenario {
    Scenario::from_toml(
        r#"
        [[instance]]
        id = 31000001
        label = "job"
        history = ["boot", "SUCCESS! NEW processing completed", "https://old.example/r1"]
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
    let sim = start(one_job()).await;
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
    finish(&watcher, &sim).await;
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

/// `one_job`'s job prints its completion after its last step, once the watcher has shown that
/// step (so the completion in its history was already counted as old).
async fn finish(watcher: &Watcher, sim: &vastfleet::sim::SimHandle) {
    watcher
        .wait_for("step 3", |e| is(e, "log", JOB) && e["line"] == "step 3")
        .await;
    finish_job(sim, JOB, "https://results.example/r2");
}

/// One running instance with an empty log, for tests that script the log themselves.
async fn quiet_instance(id: u64) -> vastfleet::sim::SimHandle {
    Account::of([labelled(id, "job")]).start().await
}

fn watch_file(dir: &std::path::Path, id: u64, extra: &str) {
    fleet_file(
        dir,
        &format!("[defaults]\ninterval = \"300ms\"\nmax_backoff = \"2s\"\n{extra}\n[[instance]]\nid = {id}\n"),
    );
}

fn fleet_error(e: &Value) -> bool {
    e["event"] == "api_error" && e["instance"].is_null()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_gateway_errors_and_broken_connections_are_ridden_out() {
    let sim = quiet_instance(JOB).await;
    let dir = tempfile::tempdir().unwrap();
    watch_file(dir.path(), JOB, "");
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    watcher
        .wait_for("the first status", |e| is(e, "status", JOB))
        .await;

    // The failures that are not rate limits first: each 429 also slows the fleet down.
    let faults = [
        (Fault::Status5xx(502), 2),
        (Fault::DropConnection, 2),
        (Fault::MalformedJson, 2),
        (
            Fault::Status429 {
                retry_after: None,
                json_body: false,
            },
            1,
        ),
        (
            Fault::Status429 {
                retry_after: Some(Duration::from_secs(1)),
                json_body: true,
            },
            1,
        ),
    ];
    for (round, (fault, times)) in faults.into_iter().enumerate() {
        sim.control()
            .inject_on(&["list"], fault, Lasting::Requests(times));
        watcher
            .wait_for_n("a fleet-level API error", round + 1, |e| {
                fleet_error(e) && e["attempt"] == 1
            })
            .await;
        watcher
            .wait_for_n("the connection restored", round + 1, |e| {
                e["event"] == "recovered" && e["instance"].is_null()
            })
            .await;
        sim.control()
            .append_log(JOB, format!("after fault {round}"));
    }
    watcher
        .wait_for("the last line", |e| {
            is(e, "log", JOB) && e["line"] == "after fault 4"
        })
        .await;
    let throttle = watcher.count(|e| e["event"] == "throttle");
    assert!(throttle >= 1, "the 429s slowed the fleet down");

    let finished = watcher.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
    let errors: Vec<&Value> = finished.events.iter().filter(|e| fleet_error(e)).collect();
    assert!(
        errors.len() <= 10,
        "each failed attempt is said once, no spam: {errors:?}"
    );
    let expected: Vec<String> = (0..5).map(|r| format!("after fault {r}")).collect();
    assert_eq!(log_lines(&finished.events, JOB), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_restarts_and_destruction_by_someone_else_are_said_once() {
    let sim = quiet_instance(JOB).await;
    let dir = tempfile::tempdir().unwrap();
    watch_file(dir.path(), JOB, "");
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    let status =
        |wanted: &'static str| move |e: &Value| is(e, "status", JOB) && e["status"] == wanted;
    watcher.wait_for("running", status("running")).await;

    sim.control().stop(JOB);
    watcher.wait_for("stopped", status("stopped")).await;
    let polls_when_stopped = sim.stats().calls("request_logs");
    sim.control().append_log(JOB, "printed while stopped?");
    // A few sweeps while stopped: no log polls beyond the one last fetch.
    crate::support::wait_for_sweeps(&sim, 4).await;
    assert!(sim.stats().calls("request_logs") <= polls_when_stopped + 1);

    sim.control().start(JOB);
    watcher
        .wait_for_n("running again", 2, status("running"))
        .await;
    sim.control().destroy(JOB);
    watcher.wait_for("gone", status("gone")).await;
    crate::support::wait_for_sweeps(&sim, 4).await;

    let finished = watcher.terminate().await;
    assert!(
        finished.status.success(),
        "still running until SIGTERM: {}",
        finished.stderr
    );
    let statuses: Vec<&str> = finished
        .events
        .iter()
        .filter(|e| is(e, "status", JOB))
        .filter_map(|e| e["status"].as_str())
        .collect();
    assert_eq!(statuses, ["running", "stopped", "running", "gone"]);
    let acted = sim.stats().actions_on(JOB);
    assert_eq!(
        (acted.destroys, acted.state_changes),
        (0, 0),
        "vastfleet itself never acted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_lines_print_once_each_and_a_burst_beyond_the_tail_is_fetched_again_wider() {
    let sim = quiet_instance(JOB).await;
    let dir = tempfile::tempdir().unwrap();
    watch_file(dir.path(), JOB, "tail = 20");
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    watcher.wait_for("running", |e| is(e, "status", JOB)).await;

    for round in 0..3 {
        sim.control().append_lines(JOB, ["tick", "tick", "tick"]);
        watcher
            .wait_for_n("the ticks", 3 * (round + 1), |e| {
                is(e, "log", JOB) && e["line"] == "tick"
            })
            .await;
    }
    sim.control().burst(JOB, 100, "burst {n}");
    sim.control().append_log(JOB, "after the burst");
    watcher
        .wait_for("the line after", |e| {
            is(e, "log", JOB) && e["line"] == "after the burst"
        })
        .await;

    let finished = watcher.terminate().await;
    assert!(
        !finished.events.iter().any(|e| is(e, "gap", JOB)),
        "a wider tail reached back: no gap"
    );
    let printed = log_lines(&finished.events, JOB);
    assert_eq!(printed.iter().filter(|l| *l == "tick").count(), 9);
    let bursts: Vec<&String> = printed.iter().filter(|l| l.starts_with("burst")).collect();
    let expected: Vec<String> = (1..=100).map(|n| format!("burst {n}")).collect();
    assert_eq!(
        bursts,
        expected.iter().collect::<Vec<_>>(),
        "every burst line once, in order"
    );
    // The tail was asked for again, wider (20, then 80, then 320 reaches back over 100 lines).
    let tails: Vec<String> = sim
        .stats()
        .requests
        .iter()
        .filter(|r| r.endpoint == "request_logs")
        .map(|r| r.body.clone())
        .collect();
    assert!(tails.iter().any(|b| b.contains("320")), "{tails:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_reports_the_action_and_changes_nothing() {
    let sim = start(one_job()).await;
    let dir = tempfile::tempdir().unwrap();
    watch_file(dir.path(), JOB, "on_complete = \"destroy\"");
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json", "--dry-run"]);
    finish(&watcher, &sim).await;
    let action = watcher
        .wait_for("the reported action", |e| is(e, "action", JOB))
        .await;
    assert_eq!(action["dry_run"], true);
    assert_eq!(action["action"], "destroy");
    let finished = watcher.terminate().await;
    assert!(finished.status.success());
    assert_eq!(sim.stats().actions_on(JOB).destroys, 0);
    assert_eq!(sim.stats().actions_on(JOB).state_changes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_2_naming_the_place_and_the_fix_before_watching() {
    let sim = quiet_instance(JOB).await;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[[instance]\nid = 1\n", "fleet.toml:1"),
        ("[defaults]\nintervall = \"5s\"\n", "fleet.toml:2"),
        ("[[instance]]\nid = 1\ncompletion = '(('\n", "fleet.toml:3"),
        (
            "[[instance]]\nid = 1\n[[instance]]\nid = 1\n",
            "fleet.toml:4",
        ),
        ("[defaults]\ninterval = \"soon\"\n", "fleet.toml:2"),
    ];
    for (text, place) in cases {
        fleet_file(dir.path(), text);
        let (code, out, err) = crate::support::run(dir.path(), Some(&sim), &["watch"]).await;
        assert_eq!(code, 2, "{text}: {err}");
        assert!(
            err.contains(place) && err.contains("help:"),
            "{text}: {err}"
        );
        assert!(out.is_empty(), "nothing watched: {out}");
    }
    fleet_file(dir.path(), "[[instance]]\nid = 1\n");
    let (code, _, err) = crate::support::run(dir.path(), None, &["watch"]).await;
    assert_eq!(code, 2);
    assert!(
        err.contains("VAST_API_KEY") && err.contains(".vast_api_key"),
        "{err}"
    );
    let (code, _, err) =
        crate::support::run(dir.path(), Some(&sim), &["watch", "missing.toml"]).await;
    assert_eq!(code, 2);
    assert!(
        err.contains("missing.toml") && err.contains("vastfleet add"),
        "{err}"
    );
    assert_eq!(sim.stats().total_calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_costs_one_list_sweep_per_tick_and_causes_no_429() {
    let sim = start(Scenario::steady_fleet(30, 2.0)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("[defaults]\ninterval = \"1s\"\n");
    for id in 20_000_001..20_000_031u64 {
        text.push_str(&format!("[[instance]]\nid = {id}\n"));
    }
    fleet_file(dir.path(), &text);
    sim.control().stop(20_000_030);
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    // The logs gap (1/s) shares out over 29 running instances: a dozen polls take ~12 s.
    watcher
        .wait_until("logs of a dozen instances", |events| {
            let ids: std::collections::HashSet<&Value> = events
                .iter()
                .filter(|e| e["event"] == "log")
                .map(|e| &e["instance"])
                .collect();
            ids.len() >= 12
        })
        .await;
    crate::support::wait_for_sweeps(&sim, 8).await;
    let finished = watcher.terminate().await;
    let stats = sim.stats();
    assert_eq!(
        stats.total_429, 0,
        "a correctly configured vastfleet causes no 429"
    );
    assert_eq!(
        stats.calls("show"),
        0,
        "status comes from the list, never show-one"
    );
    let lists: Vec<&str> = stats
        .requests
        .iter()
        .filter(|r| r.endpoint == "list")
        .map(|r| r.query.as_str())
        .collect();
    let first_pages = lists.iter().filter(|q| !q.contains("after_token")).count();
    let second_pages = lists.len() - first_pages;
    assert!(
        first_pages - second_pages <= 1,
        "⌈30/25⌉ = 2 pages per sweep (the last sweep may be cut short): {lists:?}"
    );
    assert!(stats.calls("request_logs") > 0);
    assert!(
        !finished
            .events
            .iter()
            .any(|e| e["event"] == "log" && e["instance"] == 20_000_030u64),
        "the stopped instance's logs are never requested"
    );
    assert!(!stats.any_url_contains(sim.key()));
    assert!(!finished.stderr.contains(sim.key()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_hide_lines_but_never_the_completion() {
    let sim = start(one_job()).await;
    let dir = tempfile::tempdir().unwrap();
    watch_file(dir.path(), JOB, "on_complete = \"none\"");
    let watcher = Watcher::start(
        dir.path(),
        &sim,
        &[
            "watch",
            "--json",
            "--exclude",
            "SUCCESS",
            "--exclude",
            "^step 2$",
        ],
    );
    finish(&watcher, &sim).await;
    let completion = watcher
        .wait_for("the completion", |e| is(e, "completion", JOB))
        .await;
    assert_eq!(completion["result_url"], "https://results.example/r2");
    watcher
        .wait_for("step 3", |e| is(e, "log", JOB) && e["line"] == "step 3")
        .await;
    let finished = watcher.terminate().await;
    let lines = log_lines(&finished.events, JOB);
    assert!(lines.iter().all(|l| !l.contains("SUCCESS")), "{lines:?}");
    assert!(lines.contains(&"step 1".to_owned()) && !lines.contains(&"step 2".to_owned()));
}
