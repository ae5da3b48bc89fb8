//! `vastfleet top [FILE]`: finds the running watcher of FILE through its lock file and shows
//! its live view. Reads neither the API key nor the API.

use crate::cli::TopArgs;
use crate::live::{client, LiveClient};
use crate::{state, Fatal};

pub async fn run(args: TopArgs) -> Result<(), Fatal> {
    let state_path = args
        .state
        .clone()
        .unwrap_or_else(|| state::default_path(&args.file));
    let live = LiveClient::new(client::locate(&state_path));
    let first = live.fleet().await.map_err(|err| {
        Fatal::input(format!(
            "no watcher is running for {}: {err}\n  help: start one with `vastfleet watch {}` \
             (in another terminal, or as a service), then run `vastfleet top` again",
            args.file.display(),
            args.file.display()
        ))
    })?;
    crate::top::run(live, first)
        .await
        .map_err(|err| Fatal::runtime(format!("the terminal failed: {err}")))
}
