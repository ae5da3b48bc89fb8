//! Live reload of the fleet file. Editors save by rename, so the file's folder is watched and
//! events are filtered by name; a content hash makes our own `add` writes that change nothing,
//! and no-op saves, cost nothing. An invalid edit is reported and the running fleet is kept.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::report::event::{Event, EventKind};

/// Saves often come as several events (truncate, write, rename); one read after they settle.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// A safety net for filesystems whose change notifications never arrive (network mounts).
const REREAD_EVERY: Duration = Duration::from_secs(5);

/// Turns the file's text into the fleet to run (parse, validate, apply command-line overrides).
pub type Prepare = Arc<dyn Fn(&str) -> Result<Settings, String> + Send + Sync>;

/// Follows `path` until cancelled, sending every valid new fleet on `settings`.
pub fn spawn(
    path: PathBuf,
    initial_text: &str,
    prepare: Prepare,
    settings: watch::Sender<Arc<Settings>>,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let mut last_hash = hash(initial_text);
    tokio::spawn(async move {
        let (nudge_tx, mut nudges) = mpsc::channel::<()>(16);
        // Keep the watcher alive for the life of the task; without it, the poll below still works.
        let _watcher = match folder_watcher(&path, nudge_tx) {
            Ok(watcher) => Some(watcher),
            Err(err) => {
                tracing::warn!(
                    "cannot watch {} for changes ({err}); re-reading it every {}s instead",
                    path.display(),
                    REREAD_EVERY.as_secs()
                );
                None
            }
        };
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                Some(()) = nudges.recv() => {
                    tokio::time::sleep(DEBOUNCE).await;
                    while nudges.try_recv().is_ok() {}
                }
                _ = tokio::time::sleep(REREAD_EVERY) => {}
            }
            let read = {
                let path = path.clone();
                tokio::task::spawn_blocking(move || crate::config::read::read_fleet_text(&path))
                    .await
                    .unwrap_or_else(|join| Err(std::io::Error::other(join)))
            };
            let text = match read {
                Ok(text) => text,
                // Something that is not a fleet file now sits at the path: say so once per
                // change, and keep the fleet as it was.
                Err(err)
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData
                    ) =>
                {
                    let error = format!("{}: {err}", path.display());
                    let new_hash = hash(&error);
                    if new_hash != last_hash {
                        last_hash = new_hash;
                        let kind = EventKind::ReloadRejected { error };
                        let _ = events.send(Event::now(kind)).await;
                    }
                    continue;
                }
                // Mid-rename the file may briefly not exist; the next event or poll catches up.
                Err(_) => continue,
            };
            let new_hash = hash(&text);
            if new_hash == last_hash {
                continue;
            }
            last_hash = new_hash;
            match prepare(&text) {
                Ok(next) => {
                    settings.send_replace(Arc::new(next));
                }
                Err(error) => {
                    let kind = EventKind::ReloadRejected { error };
                    let _ = events.send(Event::now(kind)).await;
                }
            }
        }
    })
}

fn folder_watcher(
    path: &Path,
    nudge: mpsc::Sender<()>,
) -> notify::Result<notify::RecommendedWatcher> {
    let name = path.file_name().map(|n| n.to_os_string());
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let ours = event
            .paths
            .iter()
            .any(|p| p.file_name().map(|n| n.to_os_string()) == name);
        if ours {
            // A full channel already holds a nudge; one is enough.
            let _ = nudge.try_send(());
        }
    })?;
    watcher.watch(&folder, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

fn hash(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}
