//! Running as a systemd `Type=notify` service (issue 14, Operations): what the service manager
//! is told (`READY=1` once the fleet is watched, `RELOADING=1` … `READY=1` around a SIGHUP,
//! `STOPPING=1` when the orderly stop begins) and the watchdog, whose pings follow the status
//! feed: a feed loop that stops moving stops the pings, so systemd restarts the process.
//!
//! The environment (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`) is read once, when the
//! watch starts; without `NOTIFY_SOCKET` every call here does nothing.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Where the service manager listens, and how often it wants a ping. Cheap to clone; the
/// disabled one (not under a service manager) is `Handle::default()`.
#[derive(Clone, Default)]
pub struct Handle {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    socket: PathBuf,
    /// `WATCHDOG_USEC`, when the manager asked for pings of this process.
    watchdog: Option<Duration>,
    liveness: Mutex<Liveness>,
    /// A failed send is said once: a manager that went away would otherwise be named at
    /// every ping.
    send_failed: std::sync::atomic::AtomicBool,
}

/// A reload the service manager was told of, until it is answered.
#[must_use = "the service manager waits for the reload's end"]
pub struct Reloading(Handle);

impl Reloading {
    /// `READY=1`: the reload was applied or rejected; the fleet in force is settled.
    pub fn done(self) {
        self.0.ready();
    }
}

/// What the status feed has just done (see [`Liveness`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// One page of a sweep was answered (or failed, which ends the attempt).
    Page,
    /// A sweep attempt ended, well or not; the next starts after `wait`.
    Attempt { wait: Duration },
}

/// Whether the process may tell the watchdog it is alive: only while the status feed, the
/// loop every instance's status comes from, is within the time its own work can take. An API
/// outage is not a hang (the feed retries it, and a restart would only lose the stream), so
/// every attempt counts, failed or not; a feed that goes silent past its bound is stuck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Liveness {
    /// The longest one page may take, throttle waits and request timeout included.
    page_within: Duration,
    /// By when the next beat is due.
    due: Instant,
}

/// What the watchdog tick decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ping,
    /// The feed's next beat is this late: no ping.
    Overdue(Duration),
}

impl Liveness {
    /// At start-up: the first page is due within `page_within`.
    pub fn new(now: Instant, page_within: Duration) -> Liveness {
        Liveness {
            page_within,
            due: now + page_within,
        }
    }

    pub fn beat(&mut self, now: Instant, beat: Beat) {
        let wait = match beat {
            Beat::Page => Duration::ZERO,
            Beat::Attempt { wait } => wait,
        };
        // The next beat is the first page of the next attempt (or the next page).
        self.due = now + wait + self.page_within;
    }

    pub fn check(&self, now: Instant) -> Verdict {
        match now.checked_duration_since(self.due) {
            Some(late) if !late.is_zero() => Verdict::Overdue(late),
            _ => Verdict::Ping,
        }
    }
}

impl Handle {
    /// The service manager named by the environment, if any; `page_within` is the longest one
    /// status page may legitimately take ([`crate::throttle::ThrottleConfig::longest_wait`]
    /// plus the request timeout).
    pub fn from_env(page_within: Duration) -> Handle {
        #[cfg(unix)]
        {
            let Some(socket) = std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty()) else {
                return Handle::default();
            };
            // Checks WATCHDOG_PID too: a variable inherited from a parent is not ours.
            let watchdog = sd_notify::watchdog_enabled().filter(|period| !period.is_zero());
            Handle::new(PathBuf::from(socket), watchdog, page_within)
        }
        #[cfg(not(unix))]
        {
            let _ = page_within;
            Handle::default()
        }
    }

    /// A handle on `socket` (tests bind their own).
    pub fn new(socket: PathBuf, watchdog: Option<Duration>, page_within: Duration) -> Handle {
        Handle {
            inner: Some(Arc::new(Inner {
                socket,
                watchdog,
                liveness: Mutex::new(Liveness::new(Instant::now(), page_within)),
                send_failed: Default::default(),
            })),
        }
    }

    /// Start-up is over: the fleet is being watched.
    pub fn ready(&self) {
        self.send("READY=1\n".to_owned());
    }

    /// `STOPPING=1`: the orderly stop has begun.
    pub fn stopping(&self) {
        self.send("STOPPING=1\n".to_owned());
    }

    /// `RELOADING=1` with the `MONOTONIC_USEC` systemd 253+ requires beside it (without it a
    /// `Type=notify-reload` unit fails the reload); [`Reloading::done`] ends the reload.
    pub fn reloading(&self) -> Reloading {
        #[cfg(unix)]
        {
            use sd_notify::NotifyState;
            let mut message = format!("{}\n", NotifyState::Reloading);
            if let Ok(now) = NotifyState::monotonic_usec_now() {
                message.push_str(&format!("{now}\n"));
            }
            self.send(message);
        }
        Reloading(self.clone())
    }

    /// The status feed moved (see [`Liveness`]).
    pub fn beat(&self, beat: Beat) {
        if let Some(inner) = &self.inner {
            let mut liveness = inner
                .liveness
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            liveness.beat(Instant::now(), beat);
        }
    }

    /// Pings the watchdog at half its period while the feed is alive, until `shutdown`; then
    /// says `STOPPING=1`. Runs on `tasks`; await it before exiting so that line is sent.
    pub fn spawn(
        &self,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> tokio::task::JoinHandle<()> {
        let handle = self.clone();
        tasks.spawn(async move {
            let period = handle.inner.as_ref().and_then(|inner| inner.watchdog);
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = handle.ping(period), if period.is_some() => {}
            }
            handle.stopping();
        })
    }

    async fn ping(&self, period: Option<Duration>) {
        let (Some(inner), Some(period)) = (&self.inner, period) else {
            return std::future::pending().await;
        };
        // Half the period, as sd_watchdog_enabled(3) advises: one late tick is not a restart.
        let mut ticks = tokio::time::interval(period / 2);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut was_overdue = false;
        loop {
            let now = ticks.tick().await;
            let verdict = inner
                .liveness
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .check(now);
            match verdict {
                Verdict::Ping => {
                    was_overdue = false;
                    self.send("WATCHDOG=1\n".to_owned());
                }
                Verdict::Overdue(late) => {
                    if !was_overdue {
                        eprintln!(
                            "vastfleet: the status feed is {} past its longest legitimate \
                             pause; no more watchdog pings, so the service manager restarts \
                             the watch",
                            crate::report::words::duration(late)
                        );
                    }
                    was_overdue = true;
                }
            }
        }
    }

    fn send(&self, message: String) {
        let Some(inner) = &self.inner else { return };
        if let Err(err) = send_to(&inner.socket, &message) {
            if !inner
                .send_failed
                .swap(true, std::sync::atomic::Ordering::Relaxed)
            {
                eprintln!(
                    "vastfleet: cannot notify the service manager at {} ({err}); going on \
                     without it",
                    inner.socket.display()
                );
            }
        }
    }
}

/// One datagram to the manager's socket (`@name` is Linux's abstract namespace, as
/// sd_notify(3) reads it). Sent on a socket of our own rather than through `sd_notify::notify`,
/// which reads `NOTIFY_SOCKET` again at every call.
#[cfg(unix)]
fn send_to(socket: &std::path::Path, message: &str) -> std::io::Result<()> {
    use std::os::unix::net::UnixDatagram;
    let sender = UnixDatagram::unbound()?;
    // A manager whose queue is full (a few datagrams deep) must not block the runtime thread.
    sender.set_nonblocking(true)?;
    #[cfg(target_os = "linux")]
    {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::ffi::OsStrExt;
        if let Some(name) = socket.as_os_str().as_bytes().strip_prefix(b"@") {
            let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sender.send_to_addr(message.as_bytes(), &address)?;
            return Ok(());
        }
    }
    sender.send_to(message.as_bytes(), socket)?;
    Ok(())
}

#[cfg(not(unix))]
fn send_to(_socket: &std::path::Path, _message: &str) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: Duration = Duration::from_secs(60);

    #[test]
    fn the_first_page_is_due_within_the_page_bound_of_the_start() {
        let start = Instant::now();
        let liveness = Liveness::new(start, PAGE);
        assert_eq!(liveness.check(start), Verdict::Ping);
        assert_eq!(liveness.check(start + PAGE), Verdict::Ping);
        assert_eq!(
            liveness.check(start + PAGE + Duration::from_millis(1)),
            Verdict::Overdue(Duration::from_millis(1))
        );
    }

    #[test]
    fn an_attempt_allows_its_wait_then_one_page() {
        let start = Instant::now();
        let mut liveness = Liveness::new(start, PAGE);
        // A failed attempt backing off for ten minutes is not a hang, however long the
        // watchdog's own period.
        let backoff = Duration::from_secs(600);
        let at = start + Duration::from_secs(5);
        liveness.beat(at, Beat::Attempt { wait: backoff });
        assert_eq!(liveness.check(at + backoff + PAGE), Verdict::Ping);
        assert_eq!(
            liveness.check(at + backoff + PAGE + Duration::from_secs(1)),
            Verdict::Overdue(Duration::from_secs(1))
        );
    }

    #[test]
    fn each_page_moves_the_deadline_and_a_frozen_feed_becomes_overdue() {
        let start = Instant::now();
        let mut liveness = Liveness::new(start, PAGE);
        let mut now = start;
        // A sweep of forty pages takes far longer than one page's bound, and stays alive.
        for _ in 0..40 {
            now += PAGE - Duration::from_secs(1);
            assert_eq!(liveness.check(now), Verdict::Ping);
            liveness.beat(now, Beat::Page);
        }
        assert!(now - start > 30 * PAGE);
        // Then nothing: overdue as soon as one page's bound has passed.
        assert_eq!(liveness.check(now + PAGE), Verdict::Ping);
        assert_eq!(
            liveness.check(now + 2 * PAGE),
            Verdict::Overdue(PAGE),
            "no beat for two page bounds"
        );
        // A beat that comes late (a feed that was stuck and moved again) revives the pings.
        liveness.beat(now + 2 * PAGE, Beat::Attempt { wait: PAGE });
        assert_eq!(liveness.check(now + 3 * PAGE), Verdict::Ping);
    }

    #[test]
    fn a_short_wait_after_a_slow_attempt_does_not_shorten_below_one_page() {
        let start = Instant::now();
        let mut liveness = Liveness::new(start, PAGE);
        liveness.beat(
            start,
            Beat::Attempt {
                wait: Duration::ZERO,
            },
        );
        assert_eq!(liveness.check(start + PAGE), Verdict::Ping);
        assert!(matches!(
            liveness.check(start + PAGE + Duration::from_secs(1)),
            Verdict::Overdue(_)
        ));
    }

    /// The pings on tokio's paused clock against a socket bound here: every half period
    /// while the feed beats, none once it stops, `STOPPING=1` at shutdown.
    #[tokio::test(start_paused = true)]
    async fn pings_follow_the_feed_and_stop_when_it_freezes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        socket.set_nonblocking(true).unwrap();
        let received = || {
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            while let Ok(n) = socket.recv(&mut buf) {
                got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
            got
        };
        let page = Duration::from_secs(10);
        let handle = Handle::new(path.clone(), Some(Duration::from_secs(2)), page);
        let shutdown = CancellationToken::new();
        let task = handle.spawn(shutdown.clone(), &TaskTracker::new());
        // The feed beats every 3 s for 30 s: a ping every second throughout.
        let mut alive = Vec::new();
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_secs(3)).await;
            handle.beat(Beat::Attempt {
                wait: Duration::from_secs(2),
            });
            alive.extend(received());
        }
        assert!(alive.iter().all(|m| m == "WATCHDOG=1\n"), "{alive:?}");
        assert!((29..=31).contains(&alive.len()), "{}", alive.len());
        // Frozen: the last beat allowed 2 s + one page, 12 s; after that no ping. Read in
        // steps, as a manager does: its queue holds only a few datagrams.
        let mut until_due = Vec::new();
        tokio::time::sleep(Duration::from_millis(500)).await;
        for _ in 0..12 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            until_due.extend(received());
        }
        assert!((11..=13).contains(&until_due.len()), "{}", until_due.len());
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert_eq!(
                received(),
                Vec::<String>::new(),
                "a frozen feed gets no pings"
            );
        }
        shutdown.cancel();
        task.await.unwrap();
        assert_eq!(received(), ["STOPPING=1\n"]);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_service_manager_nothing_is_sent_and_shutdown_still_ends_the_task() {
        let handle = Handle::default();
        handle.ready();
        handle.beat(Beat::Page);
        let shutdown = CancellationToken::new();
        let task = handle.spawn(shutdown.clone(), &TaskTracker::new());
        tokio::time::sleep(Duration::from_secs(5)).await;
        shutdown.cancel();
        task.await.unwrap();
    }

    #[test]
    fn reloading_carries_the_monotonic_clock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let handle = Handle::new(path, None, PAGE);
        handle.reloading().done();
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).unwrap();
        let reloading = String::from_utf8_lossy(&buf[..n]).into_owned();
        let mut lines = reloading.lines();
        assert_eq!(lines.next(), Some("RELOADING=1"));
        let usec: u64 = lines
            .next()
            .and_then(|l| l.strip_prefix("MONOTONIC_USEC="))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{reloading:?}"));
        assert!(usec > 0);
        let n = socket.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\n");
    }
}
