//! Issue 18 on the engine: jobs that end while a fleet larger than its log budget is watched.
//! Sixty running instances share one `request_logs` a second, so a round of logs takes a
//! minute while a status sweep takes three pages. Fifteen jobs at the tail of the first round
//! end at once, printing their completion and then idling their GPU: the log queue reads them
//! within a sweep and their share of turns, where round robin gets to them only in its turn.

use std::time::Duration;

use super::{fleet_file, secs, throttle, Fleet};
use crate::fake::FakeApi;

const N: u64 = 60;
const FIRST_ID: u64 = 37_000_001;
const ENDING: u64 = 15;
const END_AT: f64 = 20.0;

/// The time from the jobs' end to each one's stop, under `log_order`.
async fn stop_latencies(log_order: &str) -> Vec<Duration> {
    let api = FakeApi::new(throttle(2.0, 4));
    let ids: Vec<u64> = (FIRST_ID..FIRST_ID + N).collect();
    for &id in &ids {
        api.add_running(id, &["working"]);
        api.set_gpu(id, 95.0);
    }
    let text = fleet_file("interval = \"5s\"\non_complete = \"stop\"", ids.clone());
    let fleet = Fleet::start(api, &format!("[api]\nlog_order = \"{log_order}\"\n{text}"));
    fleet.run_for(secs(END_AT)).await;
    let ending = &ids[(N - ENDING) as usize..];
    for &id in ending {
        let url = format!("https://results.example/{id}");
        fleet
            .api
            .print(id, &["SUCCESS! NEW processing completed", url.as_str()]);
        fleet.api.set_gpu(id, 0.0);
    }
    fleet.run_for(secs(100.0)).await;
    let calls = fleet.api.calls();
    // A job read between its end and the sweep that saw it counts its completion as old
    // (there is no evidence yet that it ended while watched): it waits to the end of the run.
    let waited = fleet.elapsed() - secs(END_AT);
    let mut latencies: Vec<Duration> = ending
        .iter()
        .map(|id| {
            calls
                .iter()
                .find(|c| c.endpoint == "stop" && c.id == Some(*id))
                .map_or(waited, |stop| stop.at - fleet.origin - secs(END_AT))
        })
        .collect();
    latencies.sort();
    let others = calls
        .iter()
        .filter(|c| c.endpoint == "stop" && !ending.contains(&c.id.unwrap_or(0)))
        .count();
    assert_eq!(others, 0, "only the ended jobs are stopped");
    fleet.stop().await;
    latencies
}

#[tokio::test(start_paused = true)]
async fn the_log_queue_reads_ended_jobs_within_a_sweep_and_their_turns() {
    let queue = stop_latencies("signals").await;
    let round_robin = stop_latencies("round-robin").await;
    // A sweep (the interval plus three pages) sees the idle GPUs; then one fetch a second.
    let bound = secs(5.0 + 3.0 + ENDING as f64 + 2.0);
    assert!(queue.iter().all(|l| *l <= bound), "{queue:?}");
    // Round robin gets to each in its turn, wherever the job sits in the round. Where that is
    // follows the order the monitors joined, which is not fixed (the in-memory API's rows, the
    // wake order), so round robin is compared by what no order changes: some job waits past
    // the bound (fifteen jobs do not all sit in the next fraction of the round), and on
    // average they wait far longer.
    let mean = |l: &[Duration]| l.iter().sum::<Duration>() / l.len() as u32;
    assert!(
        round_robin.iter().any(|l| *l > bound) && mean(&queue) * 4 < mean(&round_robin) * 3,
        "{queue:?} vs round robin {round_robin:?}"
    );
}

/// A sweep of ten pages (one a second): a job on the first page that ends is read and stopped
/// right after that page arrives, not after the nine pages behind it.
#[tokio::test(start_paused = true)]
async fn a_page_hands_its_rows_to_the_monitors_as_it_arrives() {
    const MANY: u64 = 250;
    let api = FakeApi::new(throttle(2.0, 4));
    let ids: Vec<u64> = (FIRST_ID..FIRST_ID + MANY).collect();
    for &id in &ids {
        api.add_running(id, &["working"]);
        api.set_gpu(id, 95.0);
    }
    let text = fleet_file("interval = \"5s\"\non_complete = \"stop\"", ids.clone());
    let fleet = Fleet::start(api, &text);
    fleet.run_for(secs(30.0)).await;
    // The first page holds the lowest ids.
    let ending = FIRST_ID;
    let url = format!("https://results.example/{ending}");
    fleet
        .api
        .print(ending, &["SUCCESS! NEW processing completed", url.as_str()]);
    fleet.api.set_gpu(ending, 0.0);
    let ended = fleet.elapsed();
    fleet.run_for(secs(40.0)).await;
    let calls = fleet.api.calls();
    let since = |c: &&crate::fake::Call| c.at - fleet.origin >= ended;
    let first_page = calls
        .iter()
        .filter(since)
        .find(|c| c.endpoint == "list" && c.arg == 0)
        .expect("a sweep after the end")
        .at;
    let stop = calls
        .iter()
        .filter(since)
        .find(|c| c.endpoint == "stop")
        .expect("the ended job is stopped");
    assert_eq!(stop.id, Some(ending));
    let last_page = calls
        .iter()
        .filter(|c| c.at >= first_page && c.endpoint == "list")
        .map(|c| c.at)
        .nth(9)
        .expect("ten pages");
    // Its page, the next log turn (a second), the read, the stop.
    assert!(
        stop.at - first_page <= secs(3.5),
        "stopped {:?} after its page",
        stop.at - first_page
    );
    assert!(stop.at < last_page, "before the sweep's last page");
    fleet.stop().await;
}
