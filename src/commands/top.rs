//! `vastfleet top [FILE]`: finds the running watcher of FILE through its lock file and shows
//! its live view. Reads neither the API key nor the API.

use crate::cli::TopArgs;
use crate::live::{client, LiveClient};
use crate::top::{app::App, Feed};
use crate::{signals, state, Fatal};

pub async fn run(args: TopArgs) -> Result<(), Fatal> {
    let file = args.fleet.path();
    let state_path = args
        .state
        .clone()
        .unwrap_or_else(|| state::default_path(&file));
    let live = LiveClient::new(client::locate(&state_path));
    let first = live.fleet().await.map_err(|err| {
        Fatal::input(format!(
            "no watcher is running for {}: {err}\n  help: start one with `vastfleet watch {}` \
             (in another terminal, or as a service), then run `vastfleet top` again",
            file.display(),
            file.display()
        ))
    })?;
    if !crate::top::has_terminal() {
        return Err(Fatal::input(
            "top draws on a terminal, and stdin or stdout is not one\n  help: for a script, \
             `vastfleet status --json` answers from the running watcher too",
        ));
    }
    // SIGTERM or SIGHUP end the view as `q` does, with the terminal restored.
    let stop = signals::shutdown_on_signals();
    crate::top::run(Feed::Watcher(live), App::default(), first, stop)
        .await
        .map_err(|err| Fatal::runtime(format!("the terminal failed: {err}")))
}
