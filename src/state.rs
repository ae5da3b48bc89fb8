//! The restart-safe store: each instance's durable monitor state in one JSON file beside the
//! fleet file, written atomically, plus the advisory lock that keeps a second `watch` away
//! (`state_lock.rs`).
//!
//! Writes are coalesced: saves within one window (`COALESCE`) become one write of the file,
//! so 1,000 monitors' cursor updates cost one write per window. A monitor waits for the write
//! ([`StateHandle::flush`]) where the persistence contract of [`crate::monitor::Step`] says:
//! before printing what changed its state, and before an action.
//! Beside the instances it keeps the fleet's `[budget]` episodes, so a restart mid-episode does
//! not alert again.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::monitor::DurableState;
use crate::report::event::{BudgetKind, Event, EventKind};

/// How long dirty state may wait to be coalesced with other updates before it is written.
const COALESCE: Duration = Duration::from_millis(100);

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    instances: BTreeMap<u64, DurableState>,
    /// Absent in files written before budgets were kept: no episode under way.
    #[serde(default)]
    budget_over: BTreeSet<BudgetKind>,
}

const VERSION: u32 = 1;

/// Cheap to clone. A disabled handle (no state file) accepts and forgets everything.
#[derive(Clone, Default)]
pub struct StateHandle {
    store: Option<Arc<Store>>,
}

struct Store {
    path: PathBuf,
    inner: Mutex<Inner>,
    dirty: Notify,
    /// The last generation on disk (or failed and reported); closed once the writer ends.
    written: watch::Receiver<u64>,
    /// Fired by [`StateHandle::close`]: the writer writes what is pending and ends.
    closing: CancellationToken,
}

#[derive(Default)]
struct Inner {
    instances: BTreeMap<u64, DurableState>,
    budget_over: BTreeSet<BudgetKind>,
    generation: u64,
}

/// What opening the store found, for the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    Fresh,
    Restored {
        instances: usize,
    },
    /// The file could not be trusted; it was moved aside to `moved_to`.
    Corrupt {
        reason: String,
        moved_to: PathBuf,
    },
}

impl StateHandle {
    pub fn disabled() -> Self {
        StateHandle::default()
    }

    /// Loads `path` (moving a corrupt file aside) and starts the background writer on `tasks`,
    /// which reports a failing save on `events` once per episode and ends at [`Self::close`].
    pub fn open(
        path: &Path,
        events: mpsc::Sender<Event>,
        tasks: &TaskTracker,
    ) -> (StateHandle, Opened) {
        let (saved, opened) = read_state(path);
        let (to_written, written) = watch::channel(0);
        let store = Arc::new(Store {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner {
                instances: saved.instances,
                budget_over: saved.budget_over,
                generation: 0,
            }),
            dirty: Notify::new(),
            written,
            closing: CancellationToken::new(),
        });
        // Weak: the writer must not keep the event stream open after every other sender is
        // gone (the stream's end is the shutdown's).
        tasks.spawn(write_loop(
            Arc::clone(&store),
            events.downgrade(),
            to_written,
        ));
        (StateHandle { store: Some(store) }, opened)
    }

    /// The state saved for `id` by an earlier run.
    pub fn load(&self, id: u64) -> Option<DurableState> {
        let store = self.store.as_ref()?;
        lock(&store.inner).instances.get(&id).cloned()
    }

    /// Records `state` for `id`; it reaches the disk within the coalescing window.
    pub async fn save(&self, id: u64, state: DurableState) {
        if let Some(store) = &self.store {
            let mut inner = lock(&store.inner);
            inner.instances.insert(id, state);
            inner.generation += 1;
            store.dirty.notify_one();
        }
    }

    /// The `[budget]` limits the fleet was over when the state was last saved.
    pub fn budget_over(&self) -> BTreeSet<BudgetKind> {
        self.store
            .as_ref()
            .map(|store| lock(&store.inner).budget_over.clone())
            .unwrap_or_default()
    }

    /// Records the `[budget]` limits the fleet is over now (a change only: the callers keep
    /// the set and call this when it moves).
    pub fn save_budget_over(&self, over: &BTreeSet<BudgetKind>) {
        if let Some(store) = &self.store {
            let mut inner = lock(&store.inner);
            if &inner.budget_over != over {
                inner.budget_over = over.clone();
                inner.generation += 1;
                store.dirty.notify_one();
            }
        }
    }

    /// Forgets an instance that left the fleet.
    pub fn forget(&self, id: u64) {
        if let Some(store) = &self.store {
            let mut inner = lock(&store.inner);
            if inner.instances.remove(&id).is_some() {
                inner.generation += 1;
                store.dirty.notify_one();
            }
        }
    }

    /// Ends the writer once what is saved so far is written: the session's last use of the
    /// store. Saves after it are kept in memory only.
    pub fn close(&self) {
        if let Some(store) = &self.store {
            store.closing.cancel();
        }
    }

    /// Waits until everything saved so far is on disk (or the write failed and was reported).
    pub async fn flush(&self) {
        let Some(store) = &self.store else { return };
        let target = lock(&store.inner).generation;
        store.dirty.notify_one();
        let mut written = store.written.clone();
        // A closed channel: the writer has ended (closed), nothing more will be written.
        let _ = written.wait_for(|done| *done >= target).await;
    }
}

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    // A panic while holding the lock cannot leave the map half-updated (single inserts), so the
    // data is still good after poisoning.
    inner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn write_loop(
    store: Arc<Store>,
    events: mpsc::WeakSender<Event>,
    written: watch::Sender<u64>,
) {
    let mut writes = Writes {
        events,
        written,
        last_written: 0,
        failing: false,
        last_len: 0,
    };
    loop {
        let closing = tokio::select! {
            () = store.dirty.notified() => false,
            () = store.closing.cancelled() => true,
        };
        // Closing is the end of the session: nothing more will come to coalesce with.
        if !closing {
            tokio::time::sleep(COALESCE).await;
        }
        writes.write_pending(&store).await;
        if closing {
            return;
        }
    }
}

/// What the writer remembers between two writes.
struct Writes {
    events: mpsc::WeakSender<Event>,
    written: watch::Sender<u64>,
    last_written: u64,
    failing: bool,
    /// The file is rewritten whole, often, at about the same size: one buffer of the last size
    /// plus room instead of a chain of doublings each time.
    last_len: usize,
}

impl Writes {
    async fn write_pending(&mut self, store: &Store) {
        let (generation, json) = {
            let inner = lock(&store.inner);
            if inner.generation == self.last_written {
                let _ = self.written.send(self.last_written);
                return;
            }
            let file = StateFileRef {
                version: VERSION,
                instances: &inner.instances,
                budget_over: &inner.budget_over,
            };
            let mut bytes = Vec::with_capacity(self.last_len + self.last_len / 8);
            let json = serde_json::to_writer(&mut bytes, &file).map(|()| bytes);
            (inner.generation, json)
        };
        let path = store.path.clone();
        let result = match json {
            Ok(bytes) => {
                self.last_len = bytes.len();
                tokio::task::spawn_blocking(move || crate::atomic::replace_file(&path, &bytes))
                    .await
                    .unwrap_or_else(|join| Err(std::io::Error::other(join.to_string())))
            }
            Err(err) => Err(std::io::Error::other(err)),
        };
        // Watching goes on without persistence rather than stopping; the next change retries.
        // One event when saving starts failing and one when it works again, not one per write.
        let path = store.path.display();
        let news = match (&result, self.failing) {
            (Err(err), false) => Some(EventKind::StateError {
                error: format!("cannot write state file {path}: {err}"),
            }),
            (Ok(()), true) => Some(EventKind::Notice {
                message: format!("state file {path} is written again"),
            }),
            _ => None,
        };
        self.failing = result.is_err();
        if let (Some(kind), Some(events)) = (news, self.events.upgrade()) {
            let _ = events.send(Event::now(kind)).await;
        }
        self.last_written = generation;
        let _ = self.written.send(generation);
    }
}

#[derive(Serialize)]
struct StateFileRef<'a> {
    version: u32,
    instances: &'a BTreeMap<u64, DurableState>,
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    budget_over: &'a BTreeSet<BudgetKind>,
}

fn read_state(path: &Path) -> (StateFile, Opened) {
    let text = match read_no_follow(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return (StateFile::default(), Opened::Fresh)
        }
        Err(err) => return move_aside(path, format!("unreadable: {err}")),
    };
    match serde_json::from_slice::<StateFile>(&text) {
        Ok(file) if file.version == VERSION => {
            let count = file.instances.len();
            (file, Opened::Restored { instances: count })
        }
        Ok(file) => move_aside(path, format!("unknown version {}", file.version)),
        Err(err) => move_aside(path, format!("not valid state JSON: {err}")),
    }
}

/// The largest state file read: 1,000 instances take about 1 MB.
const STATE_FILE_CAP: u64 = 256 << 20;

/// The state file's bytes, refusing a symlink (the state is written in place of the link, so
/// a link planted there could not redirect the write, and is not read either), anything but a
/// regular file, and more than [`STATE_FILE_CAP`].
fn read_no_follow(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = open_no_follow(OpenOptions::new().read(true), path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(STATE_FILE_CAP + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > STATE_FILE_CAP {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB",
            STATE_FILE_CAP >> 20
        )));
    }
    Ok(bytes)
}

/// Opens `path` itself, never what a symlink there points to (`O_NOFOLLOW`; opening a symlink
/// fails with ELOOP), and without blocking on a FIFO.
pub(crate) fn open_no_follow(options: &mut OpenOptions, path: &Path) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    options.open(path).map_err(|err| {
        if err.raw_os_error() == Some(ELOOP) {
            std::io::Error::other("it is a symbolic link, which is never followed")
        } else {
            err
        }
    })
}

#[cfg(unix)]
const ELOOP: i32 = libc::ELOOP;
#[cfg(not(unix))]
const ELOOP: i32 = -1;

fn move_aside(path: &Path, reason: String) -> (StateFile, Opened) {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".bad-{stamp}"));
    let moved_to = PathBuf::from(aside);
    let reason = match std::fs::rename(path, &moved_to) {
        Ok(()) => reason,
        Err(err) => format!("{reason}; could not move it aside: {err}"),
    };
    (StateFile::default(), Opened::Corrupt { reason, moved_to })
}

/// systemd's `StateDirectory=` folder (systemd.exec(5)): where a service's state belongs.
pub const STATE_DIRECTORY_ENV: &str = "STATE_DIRECTORY";

/// The default state file for a fleet file: `.<name>.state.json` beside it, or
/// `<name>.state.json` in `$STATE_DIRECTORY` when systemd gave the service one (the fleet
/// file may then sit in a folder the service cannot write, such as /etc/vastfleet).
pub fn default_path(fleet_file: &Path) -> PathBuf {
    let state_directory = std::env::var_os(STATE_DIRECTORY_ENV).map(PathBuf::from);
    default_path_in(fleet_file, state_directory.as_deref())
}

/// [`default_path`] with `$STATE_DIRECTORY` passed in. systemd separates several folders with
/// `:` and sets them absolute; the first is used, and a relative one is not systemd's.
fn default_path_in(fleet_file: &Path, state_directory: Option<&Path>) -> PathBuf {
    let name = fleet_file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "fleet.toml".into());
    let first = state_directory
        .and_then(|dirs| std::env::split_paths(dirs.as_os_str()).next())
        .filter(|dir| dir.is_absolute());
    match first {
        Some(dir) => dir.join(format!("{name}.state.json")),
        None => {
            let parent = fleet_file.parent().unwrap_or(Path::new(""));
            parent.join(format!(".{name}.state.json"))
        }
    }
}

#[path = "state_lock.rs"]
mod lock;
pub use lock::{acquire_lock, recorded_socket, StateLock};

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
