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
/// platform without poll(2)). The kernel reports a closed reader as an error condition on the
/// write end at once, so a quiet `watch | head -1` ends within a second.
pub async fn closed() {
    let (tell, told) = tokio::sync::oneshot::channel();
    // A plain thread, not the blocking pool: it may wait for the life of the process, and the
    // runtime would wait for a pooled task at shutdown.
    let spawned = std::thread::Builder::new()
        .name("stdout-reader".into())
        .spawn(move || {
            if reader_left() {
                let _ = tell.send(());
            }
        });
    if spawned.is_err() || told.await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Blocks until poll(2) reports an error or hang-up on stdout (it reports those whatever is
/// asked for, so nothing is asked: a writable pipe never wakes it). `false`: it cannot tell.
#[cfg(unix)]
fn reader_left() -> bool {
    use rustix::event::{poll, PollFd, PollFlags};
    let stdout = std::io::stdout();
    let mut fds = [PollFd::new(&stdout, PollFlags::empty())];
    loop {
        match poll(&mut fds, None) {
            Ok(_) => {
                let events = fds[0].revents();
                if events.contains(PollFlags::NVAL) {
                    return false;
                }
                if events.intersects(PollFlags::ERR | PollFlags::HUP) {
                    return true;
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
}

#[cfg(not(unix))]
fn reader_left() -> bool {
    false
}
