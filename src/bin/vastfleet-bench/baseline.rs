//! The design vastfleet replaces, as a baseline: one poller per instance (a "script per
//! instance"), each with its own client and its own backoff, no shared limiter, asking for
//! show-one + logs every interval.

use std::time::Duration;

use vastfleet::api::client::ClientConfig;
use vastfleet::api::key::{ApiKey, KeySource};
use vastfleet::api::{Api, VastClient};
use vastfleet::backoff::Backoff;
use vastfleet::throttle::Throttle;

/// Polls until the process is killed.
pub async fn run(url: String, key: String, ids: Vec<u64>, interval: Duration) {
    let pollers: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let (url, key) = (url.clone(), key.clone());
            tokio::spawn(async move { poll(url, key, id, interval).await })
        })
        .collect();
    for poller in pollers {
        let _ = poller.await;
    }
}

async fn poll(url: String, key: String, id: u64, interval: Duration) {
    let key = ApiKey::new(key, KeySource::Given("the benchmark".into()));
    let Ok(client) = VastClient::new(ClientConfig::new(url, key), Throttle::unlimited()) else {
        return;
    };
    let backoff = Backoff::new(interval, Duration::from_secs(60));
    let mut failures = 0;
    loop {
        let shown = client.show(id).await.is_ok();
        let logged = client.logs(id, 200).await.is_ok();
        let wait = if shown && logged {
            failures = 0;
            interval
        } else {
            failures += 1;
            backoff.delay(failures, 0.5, None)
        };
        tokio::time::sleep(wait).await;
    }
}
