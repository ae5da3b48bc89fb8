//! A whole watch session (`watch::run`) on tokio's paused clock: the in-memory fake API for the
//! fleet, real loopback webhooks for the notifier, the stream written into a buffer. The stop
//! is ordered: whatever the notifier still says comes before the `shutdown` line, which is the
//! stream's last, and the whole stop stays bounded even when a webhook never answers.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWrite;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use vastfleet::monitor::machine::MachineOptions;
use vastfleet::notify::{Format, Topic};
use vastfleet::report::event::Resume;
use vastfleet::report::{LineFilter, Sink, Writer};
use vastfleet::watch::{self, Session};

use crate::engine::{fleet_file, settings, throttle};
use crate::fake::FakeApi;
use crate::notify::harness::{config, target, Receiver};

const ID: u64 = 4242;

/// The stream's bytes, shared with the test.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl AsyncWrite for Buffer {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn is_completion(event: &Value) -> bool {
    event["event"] == "completion"
}

#[tokio::test(start_paused = true)]
async fn the_shutdown_line_is_last_even_with_a_failing_and_a_hanging_webhook() {
    let hooks = Receiver::start().await;
    let api = FakeApi::new(throttle(10.0, 10));
    api.add_running(ID, &["warming up"]);
    let completions = [Topic::Completion];
    let mut notify = config(vec![
        target(hooks.url("/fail"), &completions, Format::Json),
        target(hooks.url("/hang"), &completions, Format::Json),
    ]);
    // A hanging webhook outlasts the notifier's last moment (400 ms) by far.
    notify.timeout = Duration::from_secs(30);
    let out = Buffer::default();
    let shutdown = CancellationToken::new();
    let plan = watch::Plan {
        settings: settings(&fleet_file("interval = \"1s\"", [ID])),
        file: None,
        state_path: None,
        writer: Writer::new(vastfleet::report::Format::Json, LineFilter::default()),
        options: MachineOptions::default(),
        resume: Resume::Watch {
            command: "vastfleet watch --id 4242".to_owned(),
        },
        tui: false,
    };
    let session = Session {
        plan,
        prepare: None,
        lock: None,
        sink: Sink::Into(Box::new(out.clone())),
        metrics: None,
        notify: Some(notify),
        live: None,
        tasks: TaskTracker::new(),
        service: Default::default(),
    };
    let throttle = api.throttle().clone();
    let fleet = api.clone();
    let run = tokio::spawn(watch::run(
        Arc::new(api),
        throttle,
        session,
        shutdown.clone(),
    ));

    tokio::time::sleep(Duration::from_secs(3)).await;
    fleet.print(ID, &["SUCCESS! NEW processing completed"]);
    while !out.lines().iter().any(is_completion) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Ctrl+C while both webhooks are still being tried.
    let stopping = Instant::now();
    shutdown.cancel();
    run.await.unwrap().unwrap();
    let stop = stopping.elapsed();

    let lines = out.lines();
    let last = lines.last().unwrap();
    assert_eq!(last["event"], "shutdown", "{lines:#?}");
    assert_eq!(
        lines.iter().filter(|e| e["event"] == "shutdown").count(),
        1,
        "{lines:#?}"
    );
    let failing = lines
        .iter()
        .filter(|e| e["event"] == "notice")
        .filter_map(|e| e["message"].as_str())
        .find(|m| m.contains("(#1) is failing"));
    assert!(
        failing.is_some(),
        "the failure is told, before the summary: {lines:#?}"
    );
    assert!(stop < Duration::from_secs(1), "the stop took {stop:?}");
}
