//! Every server-given wait is bounded: a Retry-After of eleven days, of 2^64−1 seconds or of the
//! year 9999 waits `[api] max_retry_after`, says so, and the watcher carries on.

use std::time::Instant;

use super::*;

#[tokio::test]
async fn an_absurd_retry_after_waits_the_cap_and_the_watch_goes_on() {
    for retry_after in [
        "999999",
        "18446744073709551615",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ] {
        let server = Hostile::start(Script {
            list_429s: (2..3, retry_after),
            ..Script::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        fleet(dir.path(), "[api]\nmax_retry_after = \"1s\"\n");
        let started = Instant::now();
        let watcher = support::Watcher::spawn(server.command(dir.path(), &["watch", "--json"]));
        // The second sweep is refused; the watch goes on after at most the cap.
        while server.seen(|s| s.list_calls) < 4 {
            assert!(started.elapsed() < Duration::from_secs(10), "{retry_after}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{retry_after}: {:?}",
            started.elapsed()
        );
        let done = watcher.terminate().await;
        assert!(done.status.success(), "{}", done.stderr);
        let waits: Vec<u64> = done
            .events
            .iter()
            .filter_map(|e| e["retry_in_ms"].as_u64())
            .collect();
        assert!(
            !waits.is_empty(),
            "{retry_after}: the wait is an event: {:?}",
            done.events
        );
        assert!(
            waits.iter().all(|&ms| ms <= 1_000),
            "{retry_after}: {waits:?}"
        );
        assert!(server.seen(|s| s.list_calls) >= 2, "{retry_after}");
    }
}
