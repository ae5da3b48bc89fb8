//! The notifier's test harness: a small axum webhook receiver that records every request, and
//! a running notifier with its input and report channels.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Router;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use vastfleet::backoff::Backoff;
use vastfleet::notify::{spawn, Format, NotifierConfig, Target, Topic};
use vastfleet::report::event::{Event, EventKind};

pub const WAIT: Duration = Duration::from_secs(5);

/// One request a webhook received.
#[derive(Debug)]
pub struct Hit {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Clone)]
struct Hook {
    seen: mpsc::UnboundedSender<Hit>,
    flaky: Arc<AtomicU16>,
}

/// Answers by the path's first segment: `fail` 500, `missing` 404, `hang` never in time,
/// `flaky` whatever the test sets; anything else 200.
async fn hook(State(hook): State<Hook>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    let path = uri.path().to_owned();
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_owned();
    let _ = hook.seen.send(Hit {
        path,
        headers,
        body,
    });
    match first.as_str() {
        "fail" => StatusCode::INTERNAL_SERVER_ERROR,
        "missing" => StatusCode::NOT_FOUND,
        "hang" => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::OK
        }
        "flaky" => StatusCode::from_u16(hook.flaky.load(Ordering::SeqCst)).unwrap(),
        _ => StatusCode::OK,
    }
}

pub struct Receiver {
    pub base: String,
    pub hits: mpsc::UnboundedReceiver<Hit>,
    pub flaky: Arc<AtomicU16>,
}

impl Receiver {
    pub async fn start() -> Self {
        let (seen, hits) = mpsc::unbounded_channel();
        let flaky = Arc::new(AtomicU16::new(200));
        let app = Router::new().fallback(hook).with_state(Hook {
            seen,
            flaky: flaky.clone(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { base, hits, flaky }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn next(&mut self) -> Hit {
        tokio::time::timeout(WAIT, self.hits.recv())
            .await
            .unwrap()
            .unwrap()
    }

    /// Everything received so far, for when the notifier has already ended.
    pub fn received(&mut self) -> Vec<Hit> {
        std::iter::from_fn(|| self.hits.try_recv().ok()).collect()
    }
}

pub fn target(url: String, topics: &[Topic], format: Format) -> Target {
    Target {
        url: url.parse().expect("a test URL"),
        topics: topics.to_vec(),
        format,
    }
}

pub fn config(targets: Vec<Target>) -> NotifierConfig {
    NotifierConfig {
        api_down_after: Duration::from_secs(60),
        timeout: Duration::from_millis(200),
        max_attempts: 3,
        backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(50)),
        ..NotifierConfig::new(targets)
    }
}

pub struct Running {
    pub events: mpsc::Sender<Event>,
    pub reports: mpsc::Receiver<Event>,
    pub cancel: CancellationToken,
    pub task: JoinHandle<()>,
}

pub fn start(config: NotifierConfig) -> Running {
    let (events, events_rx) = mpsc::channel(16);
    let (report, reports) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let task = spawn(
        config,
        events_rx,
        report,
        cancel.clone(),
        &TaskTracker::new(),
    );
    Running {
        events,
        reports,
        cancel,
        task,
    }
}

impl Running {
    pub async fn send(&self, at: SystemTime, kind: EventKind) {
        self.events.send(Event { at, kind }).await.unwrap();
    }

    /// Closes the input and waits for the notifier to deliver what it holds and end.
    pub async fn finish(self) -> Vec<String> {
        drop(self.events);
        tokio::time::timeout(WAIT, self.task)
            .await
            .unwrap()
            .unwrap();
        let mut reports = self.reports;
        std::iter::from_fn(|| reports.try_recv().ok())
            .map(notice_text)
            .collect()
    }
}

pub fn notice_text(event: Event) -> String {
    match event.kind {
        EventKind::Notice { message } => message,
        other => panic!("the notifier reports only notices, got {other:?}"),
    }
}
