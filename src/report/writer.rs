//! The one task that owns stdout: it renders every event (human or JSON), drops the log lines
//! the user filtered out, and writes, so lines of different instances never interleave.

use std::io::Write as _;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::event::{Event, EventKind};
use super::filter::LineFilter;
use super::human::{HumanOptions, HumanRenderer};
use super::json;
use super::sanitize::clean_line;

/// Events rendered per write: output stays timely, and a busy stream costs one write (and
/// one flush) per batch rather than per line.
const BATCH: usize = 256;

pub type EventSender = mpsc::Sender<Event>;
pub type EventReceiver = mpsc::Receiver<Event>;

#[derive(Debug, Clone)]
pub enum Format {
    Human(HumanOptions),
    Json,
}

#[derive(Debug)]
enum Renderer {
    Human(HumanRenderer),
    Json,
}

/// Renders events in one format, keeping the human renderer's memory between lines.
#[derive(Debug)]
pub struct Writer {
    renderer: Renderer,
    filter: LineFilter,
}

impl Writer {
    pub fn new(format: Format, filter: LineFilter) -> Self {
        let renderer = match format {
            Format::Human(options) => Renderer::Human(HumanRenderer::new(options)),
            Format::Json => Renderer::Json,
        };
        Writer { renderer, filter }
    }

    /// The text for one event without a trailing newline, or `None` when the filter hides it.
    /// Filters see a log line as it is shown (escape sequences removed), in both formats, so a
    /// pattern like `^epoch` works on coloured output too.
    pub fn render(&mut self, event: &Event) -> Option<String> {
        // Sanitised once, for the filter and the human line both.
        let clean = match &event.kind {
            EventKind::Log { line, .. } => Some(clean_line(line)),
            _ => None,
        };
        if clean.as_ref().is_some_and(|line| !self.filter.admits(line)) {
            return None;
        }
        Some(match &mut self.renderer {
            Renderer::Human(human) if !human.shows(event) => return None,
            Renderer::Human(human) => human.render(event, clean.as_deref()),
            Renderer::Json => json::render(event),
        })
    }
}

/// Where the stream goes.
pub enum Sink {
    /// The process's stdout, shared with the rest of the program.
    Stdout,
    /// Any async writer: a test's buffer, or an embedding program's.
    Into(Box<dyn AsyncWrite + Unpin + Send>),
}

/// Writes every event to `sink` until the channel closes (every sender dropped). Await it
/// before the process exits so the last lines are out.
pub async fn write(writer: Writer, rx: EventReceiver, sink: Sink) {
    match sink {
        Sink::Stdout => to_stdout(writer, rx).await,
        Sink::Into(out) => drop(into(writer, rx, out).await),
    }
}

/// Each batch is written with std's stdout on the blocking pool: a terminal write is a blocking
/// syscall, and std's stdout is the one the rest of the program shares, locked per batch only.
/// The loop itself stays an ordinary async task, so a runtime shutting down never waits on it.
async fn to_stdout(writer: Writer, mut rx: EventReceiver) {
    let mut output = Output::new(writer);
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        if let Some(text) = output.fill(&mut batch) {
            let text = text.to_owned();
            let written = tokio::task::spawn_blocking(move || write_stdout(&text))
                .await
                .unwrap_or_else(|join| Err(std::io::Error::other(join)));
            output.check(written);
        }
    }
}

fn write_stdout(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// [`write`] into any async writer on a task of its own; the handle gives the writer back at
/// the end.
pub fn spawn_into<W>(writer: Writer, rx: EventReceiver, out: W) -> JoinHandle<W>
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(into(writer, rx, out))
}

async fn into<W: AsyncWrite + Unpin>(writer: Writer, mut rx: EventReceiver, mut out: W) -> W {
    let mut output = Output::new(writer);
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        if let Some(text) = output.fill(&mut batch) {
            let written = match out.write_all(text.as_bytes()).await {
                Ok(()) => out.flush().await,
                Err(error) => Err(error),
            };
            output.check(written);
        }
    }
    out
}

/// The state both write loops share.
///
/// Once a write fails (a closed pipe, as under `| head`, or a full disk) nothing more can be
/// shown, but the loops still drain the channel to its end: the monitors keep supervising and
/// carrying out actions, and must neither block on a full channel nor see it closed.
struct Output {
    writer: Writer,
    text: String,
    writing: bool,
}

impl Output {
    fn new(writer: Writer) -> Self {
        Output {
            writer,
            text: String::new(),
            writing: true,
        }
    }

    /// Renders and empties the batch; the text to write, if there is any.
    fn fill(&mut self, batch: &mut Vec<Event>) -> Option<&str> {
        self.text.clear();
        for event in batch.drain(..) {
            if !self.writing {
                continue;
            }
            if let Some(rendered) = self.writer.render(&event) {
                self.text.push_str(&rendered);
                self.text.push('\n');
            }
        }
        (!self.text.is_empty()).then_some(self.text.as_str())
    }

    fn check(&mut self, written: std::io::Result<()>) {
        if let Err(error) = written {
            // A reader that went away is an ordinary end of the output, not worth a word.
            if error.kind() != std::io::ErrorKind::BrokenPipe {
                tracing::warn!(%error, "cannot write the output stream; it stays silent from now on");
            }
            self.writing = false;
        }
    }
}
