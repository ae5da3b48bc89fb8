//! `vastfleet top` (issue 15): the whole fleet at a glance, live, read from the running
//! watcher's socket. [`app`] is the view state and the keys (pure), [`render`] draws it (pure),
//! this file is the thin loop around them: keys, a refresh a second, the terminal.

pub mod app;
pub mod render;

#[cfg(test)]
mod tests;

use std::time::{Duration, SystemTime};

use futures::StreamExt;
use ratatui::crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use ratatui::DefaultTerminal;

use crate::live::snapshot::{epoch_seconds, FleetSnapshot};
use crate::live::LiveClient;
use app::{App, Request};

/// How often the snapshot (and an open log) is fetched again.
const REFRESH: Duration = Duration::from_secs(1);

/// Runs the view until `q`. The first snapshot is read before the terminal is taken, so a
/// missing watcher is a plain message on a plain terminal.
pub async fn run(client: LiveClient, first: FleetSnapshot) -> std::io::Result<()> {
    // `init` puts the terminal in raw mode on the alternate screen and installs a panic hook
    // that restores it first; `restore` does the same on the way out.
    let mut terminal = ratatui::init();
    let result = view(&mut terminal, &client, first).await;
    ratatui::restore();
    result
}

async fn view(
    terminal: &mut DefaultTerminal,
    client: &LiveClient,
    mut snapshot: FleetSnapshot,
) -> std::io::Result<()> {
    let mut app = App::default();
    let mut keys = EventStream::new();
    let mut refresh = tokio::time::interval(REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let now = epoch_seconds(SystemTime::now());
        terminal.draw(|frame| render::draw(frame, &app, &snapshot, now))?;
        tokio::select! {
            event = keys.next() => match event {
                Some(Ok(TermEvent::Key(key))) if key.kind != KeyEventKind::Release => {
                    match app.key(key, &snapshot) {
                        Request::Quit => return Ok(()),
                        Request::Log(id) => follow(&mut app, client, id).await,
                        Request::None => {}
                    }
                }
                // A resize (or anything else) just redraws at the new size.
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err),
                None => return Ok(()),
            },
            _ = refresh.tick() => {
                match client.fleet().await {
                    Ok(fresh) => {
                        snapshot = fresh;
                        app.problem = None;
                    }
                    Err(err) => {
                        app.problem = Some(format!("{err}; showing the last snapshot"));
                    }
                }
                if let Some(id) = app.following() {
                    follow(&mut app, client, id).await;
                }
            }
        }
    }
}

async fn follow(app: &mut App, client: &LiveClient, id: u64) {
    match client.log(id).await {
        Ok(view) => app.merge_log(view),
        Err(err) => app.problem = Some(format!("log of {id}: {err}")),
    }
}
