//! The log queue of issue 18 end to end: the real `vastfleet watch` against the simulator over
//! loopback, the GPU gauges changed at run time, the priority metrics scraped. A job that ends
//! inside the first round of log reads (its GPU going idle) is acted on, exactly once, and its
//! fetch is counted as a priority one; a job that keeps its GPU busy, and a completion printed
//! before the watch started, are old.
//!
//! The first round is held back by the simulator answering `request_logs` with 503 until the
//! scene is set, so no read can come before the completions whatever order the queue picks
//! and however slow the machine is; the waits are on events, sweeps and scrapes, each bounded.

use std::collections::BTreeMap;

use serde_json::Value;
use vastfleet::sim::{Fault, Gauges, InstanceSpec, Lasting, SimHandle, COMPLETION_LINE};

use crate::metrics::watcher::{metrics_base, scrape};
use crate::support::{finish_job, fleet_file, is, wait_for_sweeps, Account, Watcher, PATIENCE};

/// Its job ends in the first round and its GPU goes idle.
const ENDS: u64 = 52000001;
/// Its job prints the completion in the first round but keeps the GPU busy.
const BUSY: u64 = 52000002;
/// Its completion was printed before the watch started.
const BEFORE: u64 = 52000003;
/// Jobs that run on: they make the first round longer than one turn.
const OTHERS: [u64; 5] = [52000004, 52000005, 52000006, 52000007, 52000008];

fn ids() -> impl Iterator<Item = u64> {
    [ENDS, BUSY, BEFORE].into_iter().chain(OTHERS)
}

async fn account() -> SimHandle {
    let sim = Account::of(ids().map(|id| InstanceSpec {
        history: if id == BEFORE {
            vec![
                "epoch 9".into(),
                COMPLETION_LINE.into(),
                "https://old.example/r".into(),
            ]
        } else {
            vec![format!("epoch 1 of {id}")]
        },
        ..InstanceSpec::new(id)
    }))
    .start()
    .await;
    // No log can be read until the test says so (cleared below).
    sim.control()
        .inject_on(&["request_logs"], Fault::Status5xx(503), Lasting::Forever);
    sim
}

/// Scrapes until `done` holds for the samples; panics with the last scrape after [`PATIENCE`].
async fn scrape_until(
    base: &str,
    what: &str,
    done: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let samples = scrape(base).await;
        if done(&samples) {
            return samples;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; last scrape: {samples:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn sample(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_ending_in_the_first_round_is_stopped_once_and_busy_or_earlier_ones_are_old() {
    let sim = account().await;
    let dir = tempfile::tempdir().unwrap();
    let mut fleet = String::from(
        "[defaults]\ninterval = \"300ms\"\nmax_backoff = \"1s\"\non_complete = \"stop\"\n",
    );
    for id in ids() {
        fleet.push_str(&format!("[[instance]]\nid = {id}\n"));
    }
    fleet_file(dir.path(), &fleet);
    let watcher = Watcher::start(
        dir.path(),
        &sim,
        &["watch", "--json", "--metrics", "127.0.0.1:0"],
    );
    // The first sweep: every GPU busy, as the simulator shows a running job's.
    for id in ids() {
        watcher
            .wait_for("the first status", |e| is(e, "status", id))
            .await;
    }
    let base = metrics_base(&watcher);

    // Inside the first round (no log read yet): two jobs print their completion, one of them
    // lets its GPU go idle.
    let control = sim.control();
    for id in [ENDS, BUSY] {
        finish_job(&sim, id, &format!("https://results.example/{id}"));
    }
    control
        .set_gauges(
            ENDS,
            Gauges {
                gpu_util: Some(0.0),
                cpu_util: Some(0.02),
            },
        )
        .unwrap();
    assert_eq!(
        sim.stats().count("request_logs", 200),
        0,
        "no log was read before the completions"
    );
    // A sweep shows the idle GPU and its signal reaches the log queue; then reads may go.
    scrape_until(&base, "the idle GPU's signal", |s| {
        sample(s, "vastfleet_log_signals_total") >= 1.0
    })
    .await;
    control.clear_faults();

    let completion = watcher
        .wait_for("the ending job's completion", |e| is(e, "completion", ENDS))
        .await;
    assert_eq!(
        completion["result_url"],
        format!("https://results.example/{ENDS}")
    );
    watcher
        .wait_for("its stop", |e: &Value| {
            is(e, "action", ENDS) && e["action"] == "stop" && e["ok"] == true
        })
        .await;
    for id in [BUSY, BEFORE] {
        let old = watcher
            .wait_for("an old completion", |e| is(e, "old_completions", id))
            .await;
        assert_eq!(old["count"], 1, "{old}");
    }
    // Exactly once: more sweeps (past the rows that could still confirm the busy job's
    // completion) bring no second action and no other.
    wait_for_sweeps(&sim, 4).await;
    let samples = scrape_until(&base, "the priority fetch", |s| {
        sample(s, "vastfleet_log_signal_to_fetch_seconds_count") >= 1.0
    })
    .await;
    assert_eq!(
        sample(
            &samples,
            r#"vastfleet_log_priority_fetches_total{signal="gpu_idle"}"#
        ),
        1.0,
        "{samples:#?}"
    );
    let answered = sample(&samples, "vastfleet_log_signal_to_fetch_seconds_count");
    let within = sample(
        &samples,
        r#"vastfleet_log_signal_to_fetch_seconds_bucket{le="+Inf"}"#,
    );
    assert_eq!(
        within, answered,
        "the histogram counts every answered signal"
    );
    assert!(sample(&samples, "vastfleet_log_signal_to_fetch_seconds_sum") > 0.0);

    let stats = sim.stats();
    assert_eq!(stats.actions_on(ENDS).state_changes, 1);
    for id in [BUSY, BEFORE].into_iter().chain(OTHERS) {
        assert_eq!(stats.actions_on(id), Default::default(), "instance {id}");
    }
    let finished = watcher.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
    let completions: Vec<u64> = finished
        .events
        .iter()
        .filter(|e| e["event"] == "completion")
        .filter_map(|e| e["instance"].as_u64())
        .collect();
    assert_eq!(completions, [ENDS]);
    let actions = finished
        .events
        .iter()
        .filter(|e| e["event"] == "action")
        .count();
    assert_eq!(actions, 1);
}
