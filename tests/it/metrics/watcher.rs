//! A real watcher on the simulator, scraped over loopback: the build, process and sweep
//! families, and `/healthz` through an outage of the status sweep and its end.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vastfleet::sim::{Fault, Lasting, SimHandle};

use super::parse;
use crate::support::{fleet_file, is, wait_for_sweeps, Watcher, PATIENCE};

pub const ID: u64 = 63000001;

/// A watcher of one running instance with `--metrics` on a free loopback port, once its first
/// status is out; also the base URL of the metrics listener.
pub async fn watching(sim: &SimHandle, dir: &std::path::Path, head: &str) -> (Watcher, String) {
    fleet_file(
        dir,
        &format!("{head}[[instance]]\nid = {ID}\nlabel = \"m\"\n"),
    );
    let watcher = Watcher::start(dir, sim, &["watch", "--json", "--metrics", "127.0.0.1:0"]);
    watcher
        .wait_for("the first status", |e| is(e, "status", ID))
        .await;
    let url = metrics_base(&watcher);
    (watcher, url)
}

/// The base URL of a started watcher's metrics listener, from the line it printed on stderr.
pub fn metrics_base(watcher: &Watcher) -> String {
    let stderr = watcher.stderr();
    stderr
        .split_whitespace()
        .find_map(|w| {
            w.strip_suffix("/metrics")
                .filter(|w| w.starts_with("http://"))
        })
        .unwrap_or_else(|| panic!("no metrics address in: {stderr}"))
        .to_owned()
}

pub async fn scrape(base: &str) -> BTreeMap<String, f64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    parse(&text)
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_exports_its_build_its_process_and_its_last_sweep() {
    let before = now();
    let sim = crate::support::account_with_history(&[ID]).await;
    let dir = tempfile::tempdir().unwrap();
    let (watcher, base) = watching(&sim, dir.path(), "[defaults]\ninterval = \"300ms\"\n").await;
    wait_for_sweeps(&sim, 2).await;
    let first = scrape(&base).await;

    let build = format!(
        r#"vastfleet_build_info{{version="{}",os="{}",arch="{}"}}"#,
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    assert_eq!(first.get(&build), Some(&1.0), "{first:#?}");
    assert_eq!(first["vastfleet_sweep_stale_after_seconds"], 300.3);
    let swept = first["vastfleet_last_sweep_timestamp_seconds"];
    assert!(
        swept >= before && swept <= now(),
        "{swept} not within the run"
    );

    if cfg!(target_os = "linux") {
        assert!(first["process_cpu_seconds_total"] > 0.0, "{first:#?}");
        let rss = first["process_resident_memory_bytes"];
        assert!(rss > 1e6 && rss < 1e9, "a watcher's resident memory: {rss}");
        assert!(first["process_virtual_memory_bytes"] >= rss);
        assert!(first["process_open_fds"] >= 3.0);
        assert!(first["process_max_fds"] >= first["process_open_fds"]);
        // btime is whole seconds, so the start may read up to a second early.
        let started = first["process_start_time_seconds"];
        assert!(
            started >= before - 1.5 && started <= swept,
            "started {started}, test began {before}, first sweep {swept}"
        );
    }

    wait_for_sweeps(&sim, 2).await;
    let second = scrape(&base).await;
    assert!(
        second["vastfleet_last_sweep_timestamp_seconds"] > swept,
        "later sweeps move the gauge"
    );
    if cfg!(target_os = "linux") {
        assert!(second["process_cpu_seconds_total"] >= first["process_cpu_seconds_total"]);
    }
    watcher.terminate().await;
}

async fn healthz(base: &str) -> (u16, String) {
    let response = reqwest::get(format!("{base}/healthz")).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Polls `/healthz` until it answers `status`; panics with the last answer after [`PATIENCE`].
async fn healthz_until(base: &str, status: u16) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (got, body) = healthz(base).await;
        if got == status {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/healthz still {got} ({body}), waiting for {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_fails_once_the_sweep_has_failed_for_the_api_down_window() {
    let sim = crate::support::account_with_history(&[ID]).await;
    let dir = tempfile::tempdir().unwrap();
    let head = "[api]\napi_down_after = \"1s\"\n\
                [defaults]\ninterval = \"300ms\"\nmax_backoff = \"500ms\"\n";
    let (watcher, base) = watching(&sim, dir.path(), head).await;
    wait_for_sweeps(&sim, 1).await;
    let (status, body) = healthz(&base).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("ok: last status sweep "), "{body}");

    sim.control()
        .inject_on(&["list"], Fault::Status5xx(503), Lasting::Forever);
    let body = healthz_until(&base, 503).await;
    assert!(
        body.starts_with("unhealthy: the last good status sweep was "),
        "{body}"
    );
    assert!(
        body.contains("longer than api_down_after (1s) plus the sweep interval (300ms)"),
        "{body}"
    );
    let stale = scrape(&base).await;
    assert!(now() - stale["vastfleet_last_sweep_timestamp_seconds"] > 1.3);

    sim.control().clear_faults();
    let body = healthz_until(&base, 200).await;
    assert!(body.starts_with("ok: "), "{body}");
    watcher.terminate().await;
}
