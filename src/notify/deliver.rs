//! One webhook's queue and worker: POST with a per-request timeout, retry with backoff a bounded
//! number of times, and tell the user once when the webhook starts failing and once when it
//! works again. Each target has its own worker, so a dead one delays nobody else.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Client, StatusCode};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::format::{payload, Notification, Payload};
use super::Format;
use crate::backoff::{Backoff, Jitter};
use crate::report::event::{Event, EventKind};

/// A webhook that asks for a longer pause than this is treated as failing instead of stalling
/// its queue for hours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// A bounded queue that drops its oldest entry when full: the newest news matters most.
#[derive(Debug)]
pub struct Queue {
    items: Mutex<VecDeque<Arc<Notification>>>,
    capacity: usize,
    ready: Notify,
    closed: AtomicBool,
    dropped: AtomicU64,
}

impl Queue {
    pub fn new(capacity: usize) -> Self {
        Queue {
            items: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            ready: Notify::new(),
            closed: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Arc<Notification>>> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn push(&self, note: Arc<Notification>) {
        {
            let mut items = self.lock();
            if items.len() >= self.capacity {
                items.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            items.push_back(note);
        }
        self.ready.notify_one();
    }

    /// No more pushes: the worker drains what is left and ends.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ready.notify_one();
    }

    /// The next notification, or `None` once closed and empty.
    pub async fn pop(&self) -> Option<Arc<Notification>> {
        loop {
            if let Some(note) = self.lock().pop_front() {
                return Some(note);
            }
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            // `notify_one` leaves a permit when nobody waits, so a push between the check
            // above and this await is not lost.
            self.ready.notified().await;
        }
    }

    /// Notifications lost so far, to overflow or to failed delivery.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn count_failed(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// How one worker delivers.
pub struct Worker {
    pub url: Url,
    /// Its place in the configuration, shown because several webhooks often share a host.
    pub number: usize,
    pub format: Format,
    pub client: Client,
    pub queue: Arc<Queue>,
    pub report: mpsc::Sender<Event>,
    pub cancel: CancellationToken,
    pub max_attempts: u32,
    pub backoff: Backoff,
    pub jitter: Jitter,
}

enum Outcome {
    Delivered,
    Failed(String),
    Cancelled,
}

/// Why one attempt failed, and whether another could help.
struct Failure {
    reason: String,
    retry: bool,
    retry_after: Option<Duration>,
}

impl Worker {
    pub async fn run(mut self) {
        let host = format!("{} (#{})", redact(&self.url), self.number);
        // `Some(drops so far)` while failing: a failing webhook gets one attempt per
        // notification instead of the full retry budget, so its queue keeps moving.
        let mut failing: Option<u64> = None;
        loop {
            let next = tokio::select! {
                _ = self.cancel.cancelled() => return,
                next = self.queue.pop() => next,
            };
            let Some(note) = next else { return };
            let attempts = if failing.is_some() {
                1
            } else {
                self.max_attempts.max(1)
            };
            match self.deliver(&payload(self.format, &note), attempts).await {
                Outcome::Cancelled => return,
                Outcome::Delivered => {
                    if let Some(since) = failing.take() {
                        let lost = match self.queue.dropped().saturating_sub(since) {
                            1 => "1 notification to it was".to_owned(),
                            n => format!("{n} notifications to it were"),
                        };
                        self.tell(format!("webhook {host} works again; {lost} dropped"))
                            .await;
                    }
                }
                Outcome::Failed(reason) => {
                    if failing.is_none() {
                        failing = Some(self.queue.dropped());
                        self.tell(format!(
                            "webhook {host} is failing: {reason}; notifications to it are being dropped"
                        ))
                        .await;
                    }
                    self.queue.count_failed();
                }
            }
        }
    }

    async fn deliver(&mut self, payload: &Payload, attempts: u32) -> Outcome {
        let mut attempt = 1;
        loop {
            let result = tokio::select! {
                _ = self.cancel.cancelled() => return Outcome::Cancelled,
                result = self.post(payload) => result,
            };
            let failure = match result {
                Ok(()) => return Outcome::Delivered,
                Err(failure) => failure,
            };
            if !failure.retry || attempt >= attempts {
                return Outcome::Failed(failure.reason);
            }
            let demanded = failure.retry_after.map(|d| d.min(MAX_RETRY_AFTER));
            let wait = self
                .backoff
                .delay(attempt, self.jitter.next_unit(), demanded);
            tokio::select! {
                _ = self.cancel.cancelled() => return Outcome::Cancelled,
                _ = tokio::time::sleep(wait) => {}
            }
            attempt += 1;
        }
    }

    async fn post(&self, payload: &Payload) -> Result<(), Failure> {
        let mut request = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, payload.content_type)
            .body(payload.body.clone());
        for (name, value) in &payload.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|error| Failure {
            reason: describe(error),
            retry: true,
            retry_after: None,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Other 4xx answers (a deleted Slack hook is 404) will not change by asking again.
        let retry = status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT;
        Err(Failure {
            reason: format!("HTTP {status}"),
            retry,
            retry_after,
        })
    }

    async fn tell(&self, message: String) {
        tell(&self.report, &self.cancel, message).await;
    }
}

/// Reports a fleet-level notice; gives up only if the program is shutting down.
pub async fn tell(report: &mpsc::Sender<Event>, cancel: &CancellationToken, message: String) {
    let event = Event::now(EventKind::Notice { message });
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = report.send(event) => {}
    }
}

/// Scheme and host (and port) only: webhook paths and queries carry secrets (Slack and
/// Discord tokens live there).
pub fn redact(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// A transport error as a short reason, without the URL reqwest would otherwise print.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    if error.is_timeout() {
        return "request timed out".to_owned();
    }
    let mut chain = vec![error.to_string()];
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        chain.push(inner.to_string());
        cause = inner.source();
    }
    // reqwest's and hyper's outer layers only say "error sending request"; the root cause
    // ("Connection refused", a DNS failure) is what the user can act on.
    match chain.last() {
        Some(root) if error.is_connect() => format!("cannot connect: {root}"),
        _ => chain.join(": "),
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::notify::format::What;
    use crate::notify::Topic;

    fn note(n: u64) -> Arc<Notification> {
        Arc::new(Notification {
            topic: Topic::ApiDown,
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(n),
            what: What::ApiUp {
                since: SystemTime::UNIX_EPOCH,
            },
        })
    }

    #[tokio::test]
    async fn a_full_queue_drops_its_oldest_and_counts_it() {
        let queue = Queue::new(2);
        for n in 1..=4 {
            queue.push(note(n));
        }
        queue.close();
        assert_eq!(queue.dropped(), 2);
        let mut left = Vec::new();
        while let Some(note) = queue.pop().await {
            left.push(note.at);
        }
        assert_eq!(left, [note(3).at, note(4).at]);
    }

    #[test]
    fn redaction_keeps_scheme_host_and_port_only() {
        let cases = [
            (
                "https://hooks.slack.com/services/T0/B0/SECRET",
                "https://hooks.slack.com",
            ),
            (
                "http://user:pw@127.0.0.1:8080/hook?token=SECRET",
                "http://127.0.0.1:8080",
            ),
            ("https://ntfy.sh/my-secret-topic", "https://ntfy.sh"),
        ];
        for (raw, shown) in cases {
            assert_eq!(redact(&Url::parse(raw).unwrap()), shown);
        }
    }
}
