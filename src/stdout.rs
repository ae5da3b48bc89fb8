//! Standard output as the tools people trust treat it (issue 14): a reader that goes away
//! (`| head -1`, `| grep -m1`) ends the command quietly with status 0 — never a panic, never
//! a process that keeps running with nobody listening.
//!
//! One-shot commands write through [`print`]; long-running ones add [`closed`] to their
//! shutdown triggers, which notices the close even while nothing is being written.

use std::io::Write as _;

use crate::Fatal;

/// Writes `text` to stdout and flushes. A closed reader comes back as [`Fatal::closed_stdout`]
/// (exit 0, nothing printed); other failures (a full disk) are exit 1.
pub fn print(text: &str) -> Result<(), Fatal> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::BrokenPipe => Fatal::closed_stdout(),
            _ => Fatal::runtime(format!("cannot write to stdout: {err}")),
        })
}

/// [`print`] with a newline, formatted like `println!`.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::stdout::print(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// Completes when stdout's reader has gone away (the pipe's read end closed), whether or not
/// anything is being written; never completes when that cannot be told (a file, /dev/null, a
/// platform without readiness events). The kernel reports the closed reader as an error
/// condition on the write end at once, so a quiet `watch | head -1` ends within a second.
pub async fn closed() {
    #[cfg(unix)]
    unix::closed().await;
    #[cfg(not(unix))]
    std::future::pending::<()>().await;
}

#[cfg(unix)]
mod unix {
    use std::os::fd::AsFd as _;

    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    pub async fn closed() {
        // A duplicate shares fd 1's open file (and its readiness) without being fd 1, so the
        // reactor can own it; registering changes none of its flags (it stays blocking).
        let fd = match std::io::stdout().as_fd().try_clone_to_owned() {
            Ok(fd) => fd,
            Err(_) => return std::future::pending().await,
        };
        // Regular files and /dev/null cannot be registered: they never close on us.
        // SAFETY: the AsyncFd owns the OwnedFd, so the descriptor stays open and names the
        // same open file for the AsyncFd's whole life, as `register_with_interest` requires.
        let registered = unsafe { AsyncFd::register_with_interest(fd, Interest::ERROR) };
        let Ok(fd) = registered else {
            return std::future::pending().await;
        };
        match fd.ready(Interest::ERROR).await {
            Ok(_) => {}
            Err(_) => std::future::pending().await,
        }
    }
}
