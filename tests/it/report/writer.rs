//! The writer: filters apply to log lines only, and the task writes everything in order, ends
//! with the channel, and survives a reader that went away.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use regex::Regex;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use vastfleet::report::clock::TimeZone;
use vastfleet::report::event::{Event, EventKind};
use vastfleet::report::{spawn_into, Format, HumanOptions, LineFilter, Writer};

use super::{ev, log, src};

fn human() -> Format {
    Format::Human(HumanOptions::new(false, TimeZone::UTC))
}

fn numbered(n: usize) -> Event {
    log(&src(1, "a"), &format!("line {n}"))
}

#[test]
fn filter_hides_log_lines_only() {
    let filter = LineFilter::new(
        vec![Regex::new("^epoch").unwrap()],
        vec![Regex::new("nan").unwrap()],
    );
    let a = src(1, "a");
    for format in [human(), Format::Json] {
        let mut w = Writer::new(format, filter.clone());
        assert!(w.render(&log(&a, "epoch 1 loss=0.3")).is_some());
        assert!(w.render(&log(&a, "epoch 2 loss=nan")).is_none());
        assert!(w.render(&log(&a, "step 3")).is_none());
        // Filters see what is shown: a colour code before the text does not defeat `^epoch`.
        assert!(w.render(&log(&a, "\u{1b}[1mepoch 3")).is_some());
        // Other events pass even when their text would match an exclude pattern.
        let notice = ev(EventKind::Notice {
            message: "nan everywhere".into(),
        });
        assert!(w.render(&notice).is_some());
    }
}

#[tokio::test]
async fn writes_every_line_in_order_and_ends_when_the_channel_closes() {
    let (tx, rx) = mpsc::channel(16);
    let filter = LineFilter::new(vec![], vec![Regex::new("7$").unwrap()]);
    let task = spawn_into(Writer::new(human(), filter), rx, Vec::new());
    for n in 0..1000 {
        tx.send(numbered(n)).await.unwrap();
    }
    drop(tx);
    let out = String::from_utf8(task.await.unwrap()).unwrap();
    let want: String = (0..1000)
        .filter(|n| n % 10 != 7)
        .map(|n| format!("12:03:07 ❓ a     │ line {n}\n"))
        .collect();
    assert_eq!(out, want);
}

#[tokio::test]
async fn json_lines_are_newline_terminated_objects() {
    let (tx, rx) = mpsc::channel(4);
    let task = spawn_into(
        Writer::new(Format::Json, LineFilter::default()),
        rx,
        Vec::new(),
    );
    for n in 0..3 {
        tx.send(numbered(n)).await.unwrap();
    }
    drop(tx);
    let out = String::from_utf8(task.await.unwrap()).unwrap();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(out.ends_with('\n'));
    let texts: Vec<&str> = lines.iter().map(|v| v["line"].as_str().unwrap()).collect();
    assert_eq!(texts, ["line 0", "line 1", "line 2"]);
}

/// Sends far more events than the channel holds: if the writer stopped draining after the
/// write failed, the senders would wait forever and the (paused-clock) timeout would fire.
async fn survives(out: impl AsyncWrite + Unpin + Send + 'static) {
    let (tx, rx) = mpsc::channel(8);
    let task = spawn_into(Writer::new(human(), LineFilter::default()), rx, out);
    let sending = async {
        for n in 0..500 {
            tx.send(numbered(n)).await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(5), sending)
        .await
        .expect("the writer keeps draining after its output failed");
    drop(tx);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the writer ends with the channel")
        .expect("the writer does not panic");
}

#[tokio::test(start_paused = true)]
async fn a_closed_pipe_ends_the_output_quietly() {
    let (reader, writer) = tokio::io::duplex(64);
    drop(reader);
    survives(writer).await;
}

/// A sink that fails every write with `kind` and counts the attempts.
struct Failing {
    kind: io::ErrorKind,
    attempts: Arc<AtomicUsize>,
}

impl AsyncWrite for Failing {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Err(io::Error::from(self.kind)))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test(start_paused = true)]
async fn after_a_failed_write_nothing_more_is_attempted() {
    for kind in [io::ErrorKind::BrokenPipe, io::ErrorKind::Other] {
        let attempts = Arc::new(AtomicUsize::new(0));
        survives(Failing {
            kind,
            attempts: attempts.clone(),
        })
        .await;
        assert_eq!(attempts.load(Ordering::SeqCst), 1, "{kind:?}");
    }
}
