//! The advisory lock beside the state file (`STATE.lock`): one watcher per state file, its pid
//! and live-view socket inside for the messages and readers that look for it.
//!
//! A clean exit removes the file (issue 14: it was left behind), while the lock is still held.
//! That makes a race possible: a second watcher may have opened the file just before it was
//! removed and lock it just after, holding a lock on a file nobody else can find any more,
//! while a third creates a new one and locks that. So a lock counts only if, once taken, the
//! path still names the very file that was locked; otherwise the attempt starts over.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::open_no_follow;

/// Held for the life of the process: a second watcher on the same state file is refused.
/// Dropping it (every orderly end of a watch) removes the file, then releases the lock.
pub struct StateLock {
    file: File,
    path: PathBuf,
}

/// The most of a lock file read (a pid and a socket path): the file is anyone's to write.
const LOCK_FILE_CAP: u64 = 4096;

/// How often a lock file that was removed under us is tried again. Each retry means another
/// watcher exited cleanly in between; more than a few in a row is not a race but a fight.
const ATTEMPTS: u32 = 8;

fn lock_path(state_path: &Path) -> PathBuf {
    let mut path = state_path.as_os_str().to_owned();
    path.push(".lock");
    PathBuf::from(path)
}

/// Takes the advisory lock for `state_path`, or says which process holds it. The lock file is
/// opened without following a symlink and must be a regular file: the pid is written into it,
/// and a planted link must not turn that into a write to another file (issue 17: as root,
/// `/etc/passwd`).
pub fn acquire_lock(state_path: &Path) -> Result<StateLock, String> {
    acquire_with(state_path, |_| {})
}

/// [`acquire_lock`] with `between_open_and_lock` run at each attempt in the window the race
/// lives in, so a test can put another watcher's exit there.
fn acquire_with(
    state_path: &Path,
    mut between_open_and_lock: impl FnMut(u32),
) -> Result<StateLock, String> {
    let path = lock_path(state_path);
    let cannot = |err: &dyn std::fmt::Display| {
        format!(
            "cannot use lock file {}: {err}; remove it (no watcher uses a link or a special \
             file there), or pass a different --state",
            path.display()
        )
    };
    for attempt in 0..ATTEMPTS {
        let mut file = open_lock_file(&path).map_err(|err| cannot(&err))?;
        between_open_and_lock(attempt);
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::Error(err)) => return Err(cannot(&err)),
            Err(std::fs::TryLockError::WouldBlock) => return Err(held(&mut file, state_path)),
        }
        if names(&path, &file) {
            // Best effort: the pid only improves the message of a watcher refused later.
            let _ = file.set_len(0);
            let _ = file.seek(SeekFrom::Start(0));
            let _ = write!(file, "{}", std::process::id());
            let _ = file.flush();
            return Ok(StateLock { file, path });
        }
        // Removed (or replaced) after we opened it: that lock guards nothing; start over.
    }
    Err(cannot(&format_args!(
        "it was removed or replaced {ATTEMPTS} times while being locked"
    )))
}

fn open_lock_file(path: &Path) -> std::io::Result<File> {
    let file = open_no_follow(
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
        path,
    )?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    Ok(file)
}

/// Whether `path` (not following a link) is `file` itself.
fn names(path: &Path, file: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::symlink_metadata(path), file.metadata()) {
            (Ok(there), Ok(ours)) => there.dev() == ours.dev() && there.ino() == ours.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, file);
        true
    }
}

/// The refusal when another process holds the lock, naming it by the pid it wrote.
fn held(file: &mut File, state_path: &Path) -> String {
    // The file is anyone's to write: read a pid's worth, show it only if it is one.
    let mut holder = String::new();
    let _ = file.take(LOCK_FILE_CAP).read_to_string(&mut holder);
    let holder = holder.lines().next().unwrap_or("").trim();
    let who = if holder.is_empty() || !holder.bytes().all(|b| b.is_ascii_digit()) {
        "another vastfleet watch".to_string()
    } else {
        format!("vastfleet watch (pid {holder})")
    };
    format!(
        "{who} is already watching with state file {}; two watchers on one key double the \
         API rate and act twice. Stop it first, or pass a different --state",
        state_path.display()
    )
}

impl StateLock {
    /// Adds the live view's socket to the lock file (second line, after the pid), so `top`
    /// and `status` find the running watcher from the fleet file alone.
    pub fn record_socket(&mut self, socket: &Path) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        write!(self.file, "{}\n{}\n", std::process::id(), socket.display())?;
        self.file.flush()
    }
}

impl Drop for StateLock {
    /// Removes the file while the lock is still held (the fields, the file among them, are
    /// dropped after this body), and only if the path still names it: a file someone put
    /// there since is not ours to remove. A kill -9 leaves the file; the next start takes it
    /// over, since the kernel released the lock with the process.
    fn drop(&mut self) {
        if names(&self.path, &self.file) {
            if let Err(err) = std::fs::remove_file(&self.path) {
                tracing::debug!("cannot remove lock file {}: {err}", self.path.display());
            }
        }
    }
}

/// The socket a running watcher of `state_path` recorded in its lock file, if any. Whether it
/// still answers is for the caller to find out.
pub fn recorded_socket(state_path: &Path) -> Option<PathBuf> {
    let file = open_no_follow(OpenOptions::new().read(true), &lock_path(state_path)).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    file.take(LOCK_FILE_CAP).read_to_string(&mut text).ok()?;
    let socket = text.lines().nth(1)?.trim();
    (!socket.is_empty()).then(|| PathBuf::from(socket))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_lock_removes_its_file_and_the_next_watcher_takes_a_fresh_one() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let held = acquire_lock(&state).unwrap();
        assert!(lock_path(&state).exists());
        drop(held);
        assert!(!lock_path(&state).exists(), "left behind by a clean exit");
        let again = acquire_lock(&state).unwrap();
        assert!(names(&lock_path(&state), &again.file));
    }

    #[test]
    fn a_lock_file_left_by_a_killed_watcher_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        // What kill -9 leaves: the file with its pid, no lock on it.
        std::fs::write(lock_path(&state), "999999\n/gone.sock\n").unwrap();
        let held = acquire_lock(&state).unwrap();
        let text = std::fs::read_to_string(lock_path(&state)).unwrap();
        assert_eq!(text, std::process::id().to_string());
        drop(held);
        assert!(!lock_path(&state).exists());
    }

    /// The race: B opens the file, A exits cleanly (removing it, then unlocking), C starts
    /// and creates and locks a new file, then B's lock on the removed file succeeds. B must
    /// notice it locked a file nobody can find, start over, and be refused by C's lock.
    #[test]
    fn a_lock_taken_on_a_file_removed_by_a_clean_exit_is_not_a_lock() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let mut a = Some(acquire_lock(&state).unwrap());
        let mut c = None;
        let b = acquire_with(&state, |attempt| {
            if attempt == 0 {
                drop(a.take());
                c = Some(acquire_lock(&state).unwrap());
            }
        });
        let err = b.err().expect("B and C both believe they hold the lock");
        let pid = std::process::id();
        assert!(
            err.contains(&format!("(pid {pid}) is already watching")),
            "{err}"
        );
        let c = c.expect("C started");
        assert!(names(&lock_path(&state), &c.file), "C's file was touched");
    }

    /// The same race with nobody taking A's place: B starts over on a new file and holds it.
    #[test]
    fn after_the_race_the_retry_holds_a_file_that_is_really_there() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let mut a = Some(acquire_lock(&state).unwrap());
        let mut attempts = 0;
        let b = acquire_with(&state, |attempt| {
            attempts = attempt + 1;
            drop(a.take());
        })
        .unwrap();
        assert_eq!(attempts, 2, "the first lock was on the removed file");
        assert!(names(&lock_path(&state), &b.file));
        // B's lock really excludes: a fourth watcher is refused.
        assert!(acquire_lock(&state).is_err());
    }
}
