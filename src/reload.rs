//! Live reload of the fleet file. Editors save by rename, so the file's folder is watched and
//! events are filtered by name; a content hash makes our own `add` writes that change nothing,
//! and no-op saves, cost nothing. An invalid edit is reported and the running fleet is kept.
//! SIGHUP (systemd's `ExecReload`) reads the file at once, through the same path.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Settings;
use crate::report::event::{Event, EventKind};
use crate::signals::Hangups;

/// Saves often come as several events (truncate, write, rename); one read after they settle.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// A safety net for filesystems whose change notifications never arrive (network mounts).
const REREAD_EVERY: Duration = Duration::from_secs(5);
/// A save in place truncates before it writes, and a slow writer can leave the file empty for
/// longer than the debounce. Empty parses as a valid fleet of nothing, which would stop every
/// monitor, so an empty read waits this long for the text before it is believed.
const EMPTY_SAVE_GRACE: Duration = Duration::from_secs(2);

/// Turns the file's text into the fleet to run (parse, validate, apply command-line overrides).
pub type Prepare = Arc<dyn Fn(&str) -> Result<Settings, String> + Send + Sync>;

/// The fleet file a session follows: where it is, the text it started from, and how a new text
/// becomes the fleet to run.
pub struct FleetFile {
    pub path: PathBuf,
    pub text: String,
    pub prepare: Prepare,
}

/// Follows `file` until cancelled, sending every valid new fleet on `settings`. A SIGHUP
/// (`hangups`) reads the file at once, and always answers: applied, unchanged or rejected.
pub fn spawn(
    file: FleetFile,
    settings: watch::Sender<Arc<Settings>>,
    events: mpsc::Sender<Event>,
    mut hangups: Hangups,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) -> tokio::task::JoinHandle<()> {
    let mut reloader = Reloader {
        last_hash: hash(&file.text),
        path: file.path,
        prepare: file.prepare,
        settings,
        events,
    };
    tasks.spawn(async move {
        let (nudge_tx, mut nudges) = mpsc::channel::<()>(16);
        // Keep the watcher alive for the life of the task; without it, the poll below still works.
        let _watcher = match folder_watcher(&reloader.path, nudge_tx) {
            Ok(watcher) => Some(watcher),
            Err(err) => {
                tracing::warn!(
                    "cannot watch {} for changes ({err}); re-reading it every {}s instead",
                    reloader.path.display(),
                    REREAD_EVERY.as_secs()
                );
                None
            }
        };
        loop {
            let (trigger, asked) = tokio::select! {
                _ = cancel.cancelled() => return,
                Some(()) = nudges.recv() => {
                    tokio::time::sleep(DEBOUNCE).await;
                    while nudges.try_recv().is_ok() {}
                    (Trigger::Changed, None)
                }
                reloading = hangups.recv() => (Trigger::Hangup, Some(reloading)),
                _ = tokio::time::sleep(REREAD_EVERY) => (Trigger::Changed, None),
            };
            // A check can wait out a save in progress; shutdown does not wait for it.
            tokio::select! {
                _ = cancel.cancelled() => return,
                () = reloader.check(trigger) => {}
            }
            // Applied, unchanged or rejected: the fleet in force is settled either way.
            if let Some(reloading) = asked {
                reloading.done();
            }
        }
    })
}

/// Without a fleet file (`watch --id`) there is nothing to read again: a SIGHUP says so instead
/// of ending the watch.
pub fn spawn_without_file(
    events: mpsc::Sender<Event>,
    mut hangups: Hangups,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) -> tokio::task::JoinHandle<()> {
    tasks.spawn(async move {
        loop {
            let reloading = tokio::select! {
                _ = cancel.cancelled() => return,
                reloading = hangups.recv() => reloading,
            };
            let message = "SIGHUP: this watch has no fleet file to read again (it was started \
                           with --id); nothing changes"
                .to_owned();
            let _ = events.send(Event::now(EventKind::Notice { message })).await;
            reloading.done();
        }
    })
}

/// Why the file is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// A change notification or the safety-net poll: quiet unless the text changed.
    Changed,
    /// SIGHUP: the user asked, so the answer is always said.
    Hangup,
}

struct Reloader {
    path: PathBuf,
    prepare: Prepare,
    settings: watch::Sender<Arc<Settings>>,
    events: mpsc::Sender<Event>,
    /// Of the last text (or read error) acted on.
    last_hash: u64,
}

impl Reloader {
    async fn check(&mut self, trigger: Trigger) {
        let asked = trigger == Trigger::Hangup;
        let text = match self.read_settled().await {
            Ok(text) => text,
            // Something that is not a fleet file now sits at the path: say so once per
            // change (and at every SIGHUP), and keep the fleet as it was.
            Err(err)
                if asked
                    || matches!(
                        err.kind(),
                        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData
                    ) =>
            {
                let error = format!("{}: {err}", self.path.display());
                let new_hash = hash(&error);
                if asked || new_hash != self.last_hash {
                    self.last_hash = new_hash;
                    self.reject(error).await;
                }
                return;
            }
            // Mid-rename the file may briefly not exist; the next event or poll catches up.
            Err(_) => return,
        };
        let new_hash = hash(&text);
        let unchanged = new_hash == self.last_hash;
        if unchanged && !asked {
            return;
        }
        self.last_hash = new_hash;
        match (self.prepare)(&text) {
            Ok(next) => {
                if asked {
                    let outcome = match unchanged {
                        true => "it is unchanged, nothing to apply",
                        false => "applying it",
                    };
                    let message = format!("SIGHUP: read {} again; {outcome}", self.path.display());
                    self.notice(message).await;
                }
                if !unchanged {
                    self.settings.send_replace(Arc::new(next));
                }
            }
            Err(error) => self.reject(error).await,
        }
    }

    /// The file's text once a save in progress has had its grace: an empty read is read again
    /// until it has text or has stayed empty for [`EMPTY_SAVE_GRACE`] (then it is meant).
    async fn read_settled(&self) -> std::io::Result<String> {
        let deadline = tokio::time::Instant::now() + EMPTY_SAVE_GRACE;
        loop {
            let text = self.read().await?;
            if !text.trim().is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(text);
            }
            tokio::time::sleep(DEBOUNCE).await;
        }
    }

    async fn read(&self) -> std::io::Result<String> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || crate::config::read::read_fleet_text(&path))
            .await
            .unwrap_or_else(|join| Err(std::io::Error::other(join)))
    }

    async fn reject(&self, error: String) {
        let kind = EventKind::ReloadRejected { error };
        let _ = self.events.send(Event::now(kind)).await;
    }

    async fn notice(&self, message: String) {
        let kind = EventKind::Notice { message };
        let _ = self.events.send(Event::now(kind)).await;
    }
}

fn folder_watcher(
    path: &Path,
    nudge: mpsc::Sender<()>,
) -> notify::Result<notify::RecommendedWatcher> {
    let name = path.file_name().unwrap_or_default().to_os_string();
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|event| changes(&event, &name)) {
            // A full channel already holds a nudge; one is enough.
            let _ = nudge.try_send(());
        }
    })?;
    watcher.watch(&folder, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

/// Whether `event` may have changed the file called `name`. Opening or reading it does not:
/// notify 8 reports those too (6 did not), and our own read of the file after a nudge would
/// otherwise nudge again, re-reading the fleet file once per debounce for ever.
fn changes(event: &notify::Event, name: &std::ffi::OsStr) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    let changing = match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    };
    changing && event.paths.iter().any(|p| p.file_name() == Some(name))
}

fn hash(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
#[path = "reload_tests.rs"]
mod tests;
