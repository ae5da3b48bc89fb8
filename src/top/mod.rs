//! The full-screen view of `vastfleet top` and `vastfleet watch --tui` (issue 15): the whole
//! fleet at a glance, live. [`app`] is the view state and the keys (pure), [`render`] draws it
//! (pure), this file is the thin loop around them: keys, a refresh a second, the terminal.
//! The two commands differ only in their [`Feed`]: `top` reads a watcher's socket, `watch
//! --tui` reads its own board in memory.

pub mod app;
pub mod render;

#[cfg(test)]
mod tests;

use std::time::{Duration, SystemTime};

use futures::StreamExt;
use ratatui::crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use ratatui::DefaultTerminal;
use tokio_util::sync::CancellationToken;

use crate::live::snapshot::{epoch_seconds, FleetSnapshot, LogView};
use crate::live::{Board, LiveClient, LiveError};
use app::{App, Request};

/// How often the snapshot (and an open log) is read again.
pub const REFRESH: Duration = Duration::from_secs(1);

/// The terminal, taken for the view: raw mode on the alternate screen. It is given back when
/// this is dropped, whatever the view returned and also while a panic unwinds, and by the panic
/// hook `ratatui::init` installs before the panic's message is printed, so the message lands
/// on the user's own screen rather than in a raw alternate one.
pub struct Screen(DefaultTerminal);

impl Screen {
    pub fn take() -> Screen {
        Screen(ratatui::init())
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

impl std::ops::Deref for Screen {
    type Target = DefaultTerminal;
    fn deref(&self) -> &DefaultTerminal {
        &self.0
    }
}

impl std::ops::DerefMut for Screen {
    fn deref_mut(&mut self) -> &mut DefaultTerminal {
        &mut self.0
    }
}

/// Where the view reads the fleet.
pub enum Feed {
    /// A running watcher, over its socket (`top`).
    Watcher(LiveClient),
    /// This process's own watcher (`watch --tui`): the same snapshot, without the socket.
    Board(Board),
}

impl Feed {
    /// The fleet now, `last` being the snapshot shown (a watcher sends only what changed).
    pub async fn fleet_after(&self, last: &FleetSnapshot) -> Result<FleetSnapshot, LiveError> {
        match self {
            Feed::Watcher(client) => client.fleet_after(last).await,
            Feed::Board(board) => Ok(board.snapshot(SystemTime::now())),
        }
    }

    pub async fn log(&self, id: u64) -> Result<LogView, LiveError> {
        match self {
            Feed::Watcher(client) => client.log(id).await,
            Feed::Board(board) => board
                .log(id)
                .ok_or(LiveError::Status(hyper::StatusCode::NOT_FOUND)),
        }
    }
}

/// Runs the view until `q` / Ctrl+C (which cancel `stop`) or until `stop` is cancelled from
/// outside (SIGTERM). The first snapshot is read before the terminal is taken, so a missing
/// watcher is a plain message on a plain terminal.
pub async fn run(
    feed: Feed,
    mut app: App,
    first: FleetSnapshot,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let mut screen = Screen::take();
    let result = view(&mut screen, &feed, &mut app, first, &stop).await;
    drop(screen);
    // Raw mode turns Ctrl+C into a key: quitting asks for the same orderly stop the signal does.
    stop.cancel();
    result
}

async fn view(
    terminal: &mut DefaultTerminal,
    feed: &Feed,
    app: &mut App,
    mut snapshot: FleetSnapshot,
    stop: &CancellationToken,
) -> std::io::Result<()> {
    let mut keys = EventStream::new();
    let mut refresh = tokio::time::interval(REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let now = epoch_seconds(SystemTime::now());
        terminal.draw(|frame| render::draw(frame, app, &snapshot, now))?;
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            event = keys.next() => match event {
                Some(Ok(TermEvent::Key(key))) if key.kind != KeyEventKind::Release => {
                    match app.key(key, &snapshot) {
                        Request::Quit => return Ok(()),
                        Request::Log(id) => follow(app, feed, id).await,
                        Request::None => {}
                    }
                }
                // A resize (or anything else) just redraws at the new size.
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err),
                None => return Ok(()),
            },
            _ = refresh.tick() => {
                match feed.fleet_after(&snapshot).await {
                    Ok(fresh) => {
                        snapshot = fresh;
                        app.problem = None;
                    }
                    Err(err) => {
                        app.problem = Some(format!("{err}; showing the last snapshot"));
                    }
                }
                if let Some(id) = app.following() {
                    follow(app, feed, id).await;
                }
            }
        }
    }
}

async fn follow(app: &mut App, feed: &Feed, id: u64) {
    match feed.log(id).await {
        Ok(view) => app.merge_log(view),
        Err(err) => app.problem = Some(format!("log of {id}: {err}")),
    }
}

/// Whether both ends of the terminal are one: the view reads keys from stdin and draws on
/// stdout, and anything else would leave a user with raw escape codes in a file.
pub fn has_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}
