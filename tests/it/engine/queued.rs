//! A monitor waiting its turn for logs still follows the status sweeps: with sixty running
//! instances and one request_logs call per second, a fetch can queue for a minute, and a stop
//! seen meanwhile must be reported at the next sweep, not when the fetch finally goes out.

use std::time::Duration;

use vastfleet::report::event::EventKind;
use vastfleet::status::Status;

use super::{fleet_file, secs, throttle, Fleet};
use crate::fake::FakeApi;

const N: u64 = 60;
const FIRST_ID: u64 = 36_000_001;

#[tokio::test(start_paused = true)]
async fn a_stop_is_reported_at_the_next_sweep_while_the_log_fetch_is_still_queued() {
    let api = FakeApi::new(throttle(2.0, 4));
    let ids: Vec<u64> = (FIRST_ID..FIRST_ID + N).collect();
    for &id in &ids {
        api.add_running(id, &["working"]);
    }
    let fleet = Fleet::start(api, &fleet_file("interval = \"5s\"", ids.clone()));
    fleet.run_for(secs(20.0)).await;

    // An instance whose first fetch has not gone out yet: it is queued behind the others.
    let polled = |id: u64| {
        fleet
            .api
            .calls()
            .iter()
            .any(|c| c.endpoint == "logs" && c.id == Some(id))
    };
    let queued = *ids
        .iter()
        .rev()
        .find(|id| !polled(**id))
        .expect("sixty fetches take a minute");
    fleet.api.set_status(queued, "stopped");
    let stopped_at = fleet.elapsed();
    fleet.run_for(secs(90.0)).await;

    let reported = fleet.picked(|k| match k {
        EventKind::Status { source, status, .. }
            if source.id == queued && *status == Status::Stopped =>
        {
            Some(())
        }
        _ => None,
    });
    assert_eq!(reported.len(), 1, "{reported:?}");
    let delay = reported[0].0 - stopped_at;
    // One interval until the next sweep, plus its three list pages one second apart.
    assert!(
        delay <= secs(5.0 + 3.0 + 0.5),
        "reported {delay:?} after the stop"
    );
    // The queued fetch still went out (it is the last look at the log), after the report.
    let fetched: Vec<Duration> = fleet
        .api
        .calls()
        .iter()
        .filter(|c| c.endpoint == "logs" && c.id == Some(queued))
        .map(|c| c.at - fleet.origin)
        .collect();
    // Its turn may come between the stop and the sweep that sees it (the queue's order is the
    // order the monitors joined in); then the last look is one more fetch, moved forward by the
    // stop's signal. Either way a fetch follows the report, and no more than that.
    assert!(fetched.len() <= 2, "{fetched:?}");
    assert!(
        fetched.iter().any(|at| *at > reported[0].0),
        "{fetched:?} vs {reported:?}"
    );
    fleet.stop().await;
}
