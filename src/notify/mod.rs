//! Webhook notifications: a consumer of the event stream that picks out what a person wants to
//! hear about (completions, actions, guards, instances gone, the API down) and POSTs it to each
//! configured target in its format (JSON, Slack, Discord, ntfy).
//!
//! The watch must never wait on a webhook: the caller `try_send`s into a bounded channel, one
//! dispatcher task sorts events into a bounded drop-oldest queue per target, and each target has
//! its own worker with its own retries, so one dead webhook delays no other.

mod deliver;
mod format;
mod outage;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::Client;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::Url;

use crate::backoff::{Backoff, Jitter};
use crate::report::event::{Event, EventKind};
use crate::status::Status;
use deliver::{redact, tell, Queue, Worker};
use format::{Notification, What};
use outage::OutageTracker;

/// How a target wants its body (`format` of a `[[notify]]` table).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One event as the `--json` stream writes it.
    #[default]
    Json,
    Slack,
    Discord,
    Ntfy,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Slack => "slack",
            Format::Discord => "discord",
            Format::Ntfy => "ntfy",
        }
    }
}

/// What a target subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// A new match of the completion pattern.
    Completion,
    /// A failed job: a new match of the failure pattern, or an exit while meant to run.
    Failure,
    /// A stop/destroy was carried out, failed, or was only reported (dry run).
    Action,
    /// A guard fired.
    Guard,
    /// The fleet went over a `[budget]` limit.
    Budget,
    /// The API no longer knows an instance.
    Gone,
    /// The status sweep has been failing for `api_down_after`; and again when it recovers.
    ApiDown,
}

impl Topic {
    pub const ALL: [Topic; 7] = [
        Topic::Completion,
        Topic::Failure,
        Topic::Action,
        Topic::Guard,
        Topic::Budget,
        Topic::Gone,
        Topic::ApiDown,
    ];

    pub fn from_name(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|topic| topic.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Completion => "completion",
            Topic::Failure => "failure",
            Topic::Budget => "budget",
            Topic::Action => "action",
            Topic::Guard => "guard",
            Topic::Gone => "gone",
            Topic::ApiDown => "api_down",
        }
    }

    /// The topic an event of the stream belongs to; `api_down` is derived, never direct.
    pub fn of(kind: &EventKind) -> Option<Topic> {
        match kind {
            EventKind::Completion(_) => Some(Topic::Completion),
            EventKind::Failure(_) => Some(Topic::Failure),
            EventKind::Budget { .. } => Some(Topic::Budget),
            EventKind::Action { .. } => Some(Topic::Action),
            EventKind::Guard { .. } => Some(Topic::Guard),
            // The restart snapshot repeats a saved "gone": that was told already.
            EventKind::Status {
                status: Status::Gone,
                previous,
                ..
            } if previous != &Some(Status::Gone) => Some(Topic::Gone),
            _ => None,
        }
    }
}

/// One webhook, as a `[[notify]]` table configures it. Its URL often embeds a token, so
/// `Debug` shows scheme and host only.
#[derive(Clone, PartialEq)]
pub struct Target {
    pub url: Url,
    /// In the order the file names them, without duplicates.
    pub topics: Vec<Topic>,
    pub format: Format,
}

impl Target {
    pub fn wants(&self, topic: Topic) -> bool {
        self.topics.contains(&topic)
    }

    /// Scheme, host and port only, safe to print.
    pub fn redacted_url(&self) -> String {
        format!("{}/…", redact(&self.url))
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.redacted_url())
            .field("topics", &self.topics)
            .field("format", &self.format)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct NotifierConfig {
    pub targets: Vec<Target>,
    /// How long the status sweep must keep failing before `api_down` fires.
    pub api_down_after: Duration,
    /// Per request, connecting included.
    pub timeout: Duration,
    /// Attempts per notification while a target is healthy (a failing one gets one).
    pub max_attempts: u32,
    /// Spacing of those attempts.
    pub backoff: Backoff,
    /// Notifications waiting per target; the oldest is dropped beyond this.
    pub queue_capacity: usize,
}

impl NotifierConfig {
    /// The defaults: api_down after 5 min, 10 s timeout, 5 attempts 1 s → 30 s apart, 100 queued.
    pub fn new(targets: Vec<Target>) -> Self {
        NotifierConfig {
            targets,
            api_down_after: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            max_attempts: 5,
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(30)),
            queue_capacity: 100,
        }
    }
}

/// Starts the notifier on `tasks`. It ends when `cancel` fires (abandoning what is queued) or
/// when every sender of `events` is gone (after delivering what is queued). Problems with a
/// target are reported on `report` as `Notice` events, never with the target's full URL.
pub fn spawn(
    config: NotifierConfig,
    events: mpsc::Receiver<Event>,
    report: mpsc::Sender<Event>,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) -> JoinHandle<()> {
    tasks.spawn(run(config, events, report, cancel))
}

struct Route {
    topics: Vec<Topic>,
    queue: Arc<Queue>,
}

async fn run(
    config: NotifierConfig,
    mut events: mpsc::Receiver<Event>,
    report: mpsc::Sender<Event>,
    cancel: CancellationToken,
) {
    let client = match Client::builder()
        .use_rustls_tls()
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            let message = format!("notifications are off: no HTTP client ({error})");
            tell(&report, &cancel, message).await;
            return;
        }
    };

    let workers = TaskTracker::new();
    let mut routes = Vec::new();
    for (index, target) in config.targets.into_iter().enumerate() {
        let Target {
            url,
            topics,
            format,
        } = target;
        if !matches!(url.scheme(), "http" | "https") {
            // The URL itself is never echoed: it may hold a token.
            let message = format!(
                "notification target #{} has no valid http(s) URL; it is skipped",
                index + 1
            );
            tell(&report, &cancel, message).await;
            continue;
        }
        let queue = Arc::new(Queue::new(config.queue_capacity));
        workers.spawn(
            Worker {
                url,
                number: index + 1,
                format,
                client: client.clone(),
                queue: Arc::clone(&queue),
                report: report.clone(),
                cancel: cancel.clone(),
                max_attempts: config.max_attempts,
                backoff: config.backoff,
                jitter: Jitter::seeded(index as u64),
            }
            .run(),
        );
        routes.push(Route { topics, queue });
    }
    workers.close();

    let mut outage = OutageTracker::new(config.api_down_after);
    loop {
        // Until the window of an outage under way passes (the moment itself, once the sleep
        // ends, is the time of the notification: no second clock to disagree with).
        let due = outage.due();
        let until_due = due.map(|due| due.duration_since(SystemTime::now()).unwrap_or_default());
        let event = tokio::select! {
            _ = cancel.cancelled() => break,
            event = events.recv() => event,
            _ = tokio::time::sleep(until_due.unwrap_or_default()), if until_due.is_some() => {
                let derived = due.and_then(|due| outage.at(due));
                route(&routes, derived);
                continue;
            }
        };
        let Some(event) = event else { break };
        let derived = outage.observe(&event);
        let direct = Topic::of(&event.kind).map(|topic| Notification {
            topic,
            at: event.at,
            what: What::Event(event.kind),
        });
        route(&routes, direct.into_iter().chain(derived));
    }
    for route in &routes {
        route.queue.close();
    }
    workers.wait().await;
}

/// Queues each notification for every target that takes its topic.
fn route(routes: &[Route], notes: impl IntoIterator<Item = Notification>) {
    for note in notes {
        let note = Arc::new(note);
        for route in routes.iter().filter(|r| r.topics.contains(&note.topic)) {
            route.queue.push(Arc::clone(&note));
        }
    }
}
