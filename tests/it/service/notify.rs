//! systemd's `Type=notify` protocol as the real binary speaks it: a Unix datagram socket bound
//! here stands for the service manager (`NOTIFY_SOCKET`), with a watchdog of two seconds
//! (`WATCHDOG_USEC`), against the simulator over loopback.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UnixDatagram;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::support::{account_with_history, command, finish, fleet_file, is, Watcher, PATIENCE};

const JOB: u64 = 64000301;

/// The manager's side: every datagram the watch sent, with when it arrived.
pub struct Manager {
    path: PathBuf,
    got: Arc<Mutex<Vec<(Instant, String)>>>,
    arrived: Arc<Notify>,
    _dir: tempfile::TempDir,
}

impl Manager {
    pub fn bind() -> Manager {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (sink, wake) = (Arc::clone(&got), Arc::clone(&arrived));
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf).await {
                let message = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().unwrap().push((Instant::now(), message));
                wake.notify_waiters();
            }
        });
        Manager {
            path,
            got,
            arrived,
            _dir: dir,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn messages(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// Waits until `n` messages after the first `from` satisfy `matches`; panics with every
    /// message after [`PATIENCE`].
    pub async fn wait_for(
        &self,
        what: &str,
        from: usize,
        n: usize,
        matches: impl Fn(&str) -> bool,
    ) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let wake = self.arrived.notified();
            let seen = self.messages()[from.min(self.messages().len())..]
                .iter()
                .filter(|m| matches(m))
                .count();
            if seen >= n {
                return;
            }
            if tokio::time::timeout_at(deadline, wake).await.is_err() {
                panic!(
                    "timed out waiting for {what}; the manager got {:?}",
                    self.messages()
                );
            }
        }
    }

    /// When each message equal to `message` arrived.
    fn arrivals(&self, message: &str) -> Vec<Instant> {
        let got = self.got.lock().unwrap();
        got.iter()
            .filter(|(_, m)| m == message)
            .map(|(at, _)| *at)
            .collect()
    }
}

const READY: &str = "READY=1\n";
const PING: &str = "WATCHDOG=1\n";
const STOPPING: &str = "STOPPING=1\n";

fn position(messages: &[String], from: usize, wanted: impl Fn(&str) -> bool) -> Option<usize> {
    messages
        .iter()
        .skip(from)
        .position(|m| wanted(m))
        .map(|i| i + from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manager_hears_ready_pings_a_reload_and_the_stop() {
    let sim = account_with_history(&[JOB]).await;
    let dir = tempfile::tempdir().unwrap();
    fleet_file(
        dir.path(),
        &format!("[defaults]\ninterval = \"300ms\"\n[[instance]]\nid = {JOB}\n"),
    );
    let manager = Manager::bind();
    let mut watch = command(dir.path(), Some(&sim), &["watch", "--json"]);
    watch
        .env("NOTIFY_SOCKET", manager.path())
        .env("WATCHDOG_USEC", "2000000");
    let watcher = Watcher::spawn(watch);

    manager.wait_for("READY=1", 0, 1, |m| m == READY).await;
    watcher.wait_for("the history", |e| is(e, "log", JOB)).await;
    // The watchdog's period is 2 s: a ping every second, for as long as the feed sweeps.
    let after_ready = manager.messages().len();
    manager
        .wait_for("four pings", after_ready, 4, |m| m == PING)
        .await;
    let pings = manager.arrivals(PING);
    let gaps: Vec<Duration> = pings.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|gap| *gap < Duration::from_millis(1800)),
        "a ping at least every period: {gaps:?}"
    );
    assert_eq!(manager.arrivals(READY).len(), 1, "{:?}", manager.messages());

    // `systemctl reload`: RELOADING=1 with the monotonic clock, then READY=1 once answered.
    let before = manager.messages().len();
    watcher.signal("-HUP").await;
    manager
        .wait_for("RELOADING=1", before, 1, |m| m.starts_with("RELOADING=1\n"))
        .await;
    let messages = manager.messages();
    let reloading = position(&messages, before, |m| m.starts_with("RELOADING=1\n")).unwrap();
    let usec = messages[reloading]
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(usec.is_some_and(|u| u > 0), "{:?}", messages[reloading]);
    manager
        .wait_for("READY=1 after the reload", reloading + 1, 1, |m| m == READY)
        .await;
    watcher
        .wait_for("the SIGHUP's answer", |e| {
            e["event"] == "notice"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("it is unchanged, nothing to apply"))
        })
        .await;

    // `systemctl stop`: STOPPING=1 before the process is gone, and nothing after it.
    let finished = watcher.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
    let messages = manager.messages();
    assert_eq!(
        messages.last().map(String::as_str),
        Some(STOPPING),
        "{messages:?}"
    );
    assert_eq!(messages.iter().filter(|m| *m == STOPPING).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_fleet_file_exits_2_without_telling_the_manager_it_is_ready() {
    let sim = account_with_history(&[JOB]).await;
    let dir = tempfile::tempdir().unwrap();
    fleet_file(dir.path(), "[[instance]]\nid = \"not a number\"\n");
    let manager = Manager::bind();
    let mut watch = command(dir.path(), Some(&sim), &["watch", "--json"]);
    watch
        .env("NOTIFY_SOCKET", manager.path())
        .env("WATCHDOG_USEC", "2000000");
    let (code, _, stderr) = finish(&mut watch).await;
    assert_eq!(code, 2, "{stderr}");
    // Anything it had sent would be queued on the socket by the time it exited.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(manager.messages(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watchdog_variable_for_another_process_or_no_socket_changes_nothing() {
    let sim = account_with_history(&[JOB]).await;
    let dir = tempfile::tempdir().unwrap();
    fleet_file(
        dir.path(),
        &format!("[defaults]\ninterval = \"300ms\"\n[[instance]]\nid = {JOB}\n"),
    );
    // WATCHDOG_USEC without NOTIFY_SOCKET (a shell that inherited it): a plain watch.
    let mut watch = command(dir.path(), Some(&sim), &["watch", "--json"]);
    watch.env("WATCHDOG_USEC", "2000000");
    let watcher = Watcher::spawn(watch);
    watcher.wait_for("the history", |e| is(e, "log", JOB)).await;
    let finished = watcher.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(
        !finished.stderr.contains("service manager"),
        "{}",
        finished.stderr
    );

    // WATCHDOG_PID names another process: READY and STOPPING, but no pings of ours.
    let manager = Manager::bind();
    let mut watch = command(dir.path(), Some(&sim), &["watch", "--json"]);
    watch
        .env("NOTIFY_SOCKET", manager.path())
        .env("WATCHDOG_USEC", "200000")
        .env("WATCHDOG_PID", "1");
    let watcher = Watcher::spawn(watch);
    manager.wait_for("READY=1", 0, 1, |m| m == READY).await;
    // Several of its periods.
    crate::support::wait_for_sweeps(&sim, 6).await;
    let finished = watcher.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
    assert_eq!(manager.messages(), [READY, STOPPING]);
}
