//! Issue 15's full-screen view through the real binary in a pseudo-terminal (util-linux
//! `script`, 120×20): `top` beside a running watch, `watch --tui` on its own, and the plain
//! refusals when there is no watcher or no terminal.

use std::path::Path;
use std::process::{ExitStatus, Stdio};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::live::{two_job_fleet, two_jobs, ALPHA, BETA};
use crate::support::{self, is, Watcher, PATIENCE};

/// Entering and leaving the alternate screen: the terminal was taken, and given back.
const ENTER_ALTERNATE: &str = "\u{1b}[?1049h";
const LEAVE_ALTERNATE: &str = "\u{1b}[?1049l";
/// Set for the child half of the panic test only, so a plain `--ignored` run skips it.
const PANIC_CHILD: &str = "VASTFLEET_TEST_PANIC_CHILD";

/// A vastfleet command in a pseudo-terminal, its screen output read as text.
struct Pty {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    seen: String,
}

impl Pty {
    fn start(dir: &Path, sim: Option<&vastfleet::sim::SimHandle>, args: &str) -> Pty {
        Pty::start_after(dir, sim, "", args)
    }

    /// As [`Pty::start`], with `before` run by the shell first (in the same terminal).
    fn start_after(
        dir: &Path,
        sim: Option<&vastfleet::sim::SimHandle>,
        before: &str,
        args: &str,
    ) -> Pty {
        let command = format!("{before} exec {} {args}", support::bin());
        Pty::run(dir, sim, &command, &[])
    }

    /// `command` run by the shell in a 120×20 pseudo-terminal, with `env` added to a clean
    /// environment.
    fn run(
        dir: &Path,
        sim: Option<&vastfleet::sim::SimHandle>,
        command: &str,
        env: &[(&str, &str)],
    ) -> Pty {
        let command = format!("stty cols 120 rows 20; {command}");
        let mut script = tokio::process::Command::new("script");
        script
            .args(["-qec", &command, "/dev/null"])
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir)
            .env("TERM", "xterm-256color")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .envs(env.iter().copied())
            .kill_on_drop(true);
        if let Some(sim) = sim {
            script
                .env("VAST_API_KEY", sim.key())
                .env("VAST_URL", sim.url());
        }
        let mut child = script
            .spawn()
            .expect("util-linux `script` runs vastfleet in a pseudo-terminal");
        Pty {
            stdin: child.stdin.take().unwrap(),
            stdout: child.stdout.take().unwrap(),
            child,
            seen: String::new(),
        }
    }

    /// Reads the screen until every one of `texts` has been drawn (words: a redraw moves the
    /// cursor over the blanks between them).
    async fn wait_for(&mut self, texts: &[&str]) {
        let mut buf = [0u8; 8192];
        let read = async {
            while !texts.iter().all(|t| self.seen.contains(t)) {
                let n = self.stdout.read(&mut buf).await.unwrap();
                assert!(n > 0, "the view ended early: {}", self.seen);
                self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        };
        if tokio::time::timeout(PATIENCE, read).await.is_err() {
            panic!("never drawn {texts:?}: {:?}", self.seen);
        }
    }

    /// Types `keys`, then reads to the end: the exit status and everything after the keys.
    async fn type_and_finish(mut self, keys: &[u8]) -> (ExitStatus, String) {
        self.stdin.write_all(keys).await.unwrap();
        self.stdin.flush().await.unwrap();
        let mut rest = Vec::new();
        let status = tokio::time::timeout(PATIENCE, async {
            let _ = self.stdout.read_to_end(&mut rest).await;
            self.child.wait().await.unwrap()
        })
        .await
        .expect("the keys end the view");
        (status, String::from_utf8_lossy(&rest).into_owned())
    }
}

/// `top` beside a running watch: every label is drawn, `q` quits with status 0 and the
/// terminal is given back (alternate screen left); top itself calls nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_in_a_terminal_shows_every_label_and_quits_cleanly() {
    let sim = two_jobs().await;
    let dir = tempfile::tempdir().unwrap();
    two_job_fleet(dir.path());
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    for id in [ALPHA, BETA] {
        watcher
            .wait_for("a new log line", |e| {
                is(e, "log", id) && e["history"] == false
            })
            .await;
    }
    // No key and no API URL: `top` needs neither.
    let mut top = Pty::start(dir.path(), None, "top");
    top.wait_for(&["vastfleet top", "alpha", "beta", "alpha step"])
        .await;
    let calls = sim.stats().calls("list");
    let (status, rest) = top.type_and_finish(b"q").await;
    assert!(status.success(), "{status:?}");
    assert!(
        rest.contains(LEAVE_ALTERNATE),
        "the alternate screen is left"
    );
    assert!(
        sim.stats().calls("list") <= calls + 2,
        "top itself calls nothing"
    );
    let finished = watcher.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
}

/// `watch --tui`: the same view on the watcher's own board; Ctrl+C (a key in raw mode) is
/// still the orderly stop: terminal given back first, then the summary on it, status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_tui_draws_the_fleet_and_ctrl_c_stops_in_order() {
    let sim = two_jobs().await;
    let dir = tempfile::tempdir().unwrap();
    two_job_fleet(dir.path());
    let mut view = Pty::start(dir.path(), Some(&sim), "watch --tui");
    view.wait_for(&["vastfleet watch", "alpha", "beta", "step"])
        .await;
    assert!(
        !view.seen.contains("alpha │"),
        "the stream is not printed under the view"
    );
    let (status, rest) = view.type_and_finish(b"\x03").await;
    assert!(status.success(), "{status:?}: {rest}");
    let restored = rest
        .find(LEAVE_ALTERNATE)
        .unwrap_or_else(|| panic!("the alternate screen is left: {rest:?}"));
    let summary = rest
        .find("shutting down")
        .unwrap_or_else(|| panic!("the summary is printed: {rest:?}"));
    assert!(
        restored < summary,
        "the summary comes after the view is gone"
    );
    assert!(rest.contains("resume watching:"), "{rest}");
    assert!(
        !dir.path().join(".fleet.toml.state.json.sock").exists(),
        "the watcher left in order"
    );
}

#[tokio::test]
async fn without_a_watcher_or_a_terminal_the_view_says_why_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    two_job_fleet(dir.path());
    let (code, _, stderr) = support::run(dir.path(), None, &["top"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no watcher is running for fleet.toml"),
        "{stderr}"
    );
    assert!(stderr.contains("`vastfleet watch fleet.toml`"), "{stderr}");

    let sim = two_jobs().await;
    let (code, _, stderr) = support::run(dir.path(), Some(&sim), &["watch", "--tui"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--tui draws on a terminal"), "{stderr}");
    assert_eq!(sim.stats().calls("list"), 0, "refused before watching");
}

/// SIGTERM ends `watch --tui` as Ctrl+C does: the view goes, the terminal comes back, the
/// summary follows on it, status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_watch_tui_in_order_too() {
    let sim = two_jobs().await;
    let dir = tempfile::tempdir().unwrap();
    two_job_fleet(dir.path());
    let mut view = Pty::start(dir.path(), Some(&sim), "watch --tui");
    view.wait_for(&["vastfleet watch", "alpha", "beta"]).await;
    // The watcher's pid is the lock file's first line (the pty's own child is `script`).
    let lock = std::fs::read_to_string(dir.path().join(".fleet.toml.state.json.lock")).unwrap();
    let pid = lock.lines().next().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let (status, rest) = view.type_and_finish(b"").await;
    assert!(status.success(), "{status:?}: {rest}");
    let restored = rest
        .find(LEAVE_ALTERNATE)
        .unwrap_or_else(|| panic!("the alternate screen is left: {rest:?}"));
    let summary = rest
        .find("shutting down")
        .unwrap_or_else(|| panic!("the summary is printed: {rest:?}"));
    assert!(
        restored < summary,
        "the summary comes after the view is gone"
    );
}

/// A terminal resized under `top` (the kernel's SIGWINCH, as a window manager sends it) gets a
/// clean redraw at the new size, and the view goes on and quits as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_redraws_cleanly_when_the_terminal_is_resized() {
    let sim = two_jobs().await;
    let dir = tempfile::tempdir().unwrap();
    two_job_fleet(dir.path());
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    watcher
        .wait_for("alpha's status", |e| is(e, "status", ALPHA))
        .await;
    // A shell beside `top` resizes the terminal when the test says so.
    let resizer =
        "(while [ ! -e resize-now ]; do sleep 0.05; done; stty cols 60 rows 12 </dev/tty) &";
    let mut top = Pty::start_after(dir.path(), None, resizer, "top");
    top.wait_for(&["vastfleet top", "alpha", "beta"]).await;
    let before = top.seen.len();
    std::fs::write(dir.path().join("resize-now"), "").unwrap();
    // A resize clears the screen and draws everything again at the new width.
    let clear = "\u{1b}[2J";
    let redrawn = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 8192];
        loop {
            let after = &top.seen[before..];
            if let Some(at) = after.find(clear) {
                let drawn = &after[at..];
                if ["vastfleet top", "alpha", "beta"]
                    .iter()
                    .all(|t| drawn.contains(t))
                {
                    return drawn.to_owned();
                }
            }
            let n = top.stdout.read(&mut buf).await.unwrap();
            assert!(n > 0, "the view ended at the resize: {}", top.seen);
            top.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no clean redraw after the resize: {:?}",
            &top.seen[before..]
        )
    });
    // Nothing is drawn past column 60 after it: no cursor move beyond the new width.
    assert!(
        !(61..=120).any(|col| redrawn.contains(&format!(";{col}H"))),
        "drawn past the new width: {redrawn:?}"
    );
    let (status, rest) = top.type_and_finish(b"q").await;
    assert!(status.success(), "{status:?}");
    assert!(
        rest.contains(LEAVE_ALTERNATE),
        "the alternate screen is left"
    );
    let _ = watcher.terminate().await;
}

/// A panic inside the view gives the terminal back before its message is printed: the message
/// is readable on the user's own screen and the shell after it is not left in raw mode. The
/// child is this test binary, re-run in the pseudo-terminal, taking the screen as `top` does.
#[tokio::test]
async fn a_panic_in_the_view_gives_the_terminal_back() {
    let dir = tempfile::tempdir().unwrap();
    let me = std::env::current_exe().unwrap();
    let command = format!(
        "exec {} tui::panicking_view_child --exact --ignored --nocapture --test-threads=1",
        me.display()
    );
    let child = Pty::run(dir.path(), None, &command, &[(PANIC_CHILD, "1")]);
    let (status, seen) = child.type_and_finish(b"").await;
    assert!(status.success(), "{status:?}: {seen}");
    let taken = seen
        .find(ENTER_ALTERNATE)
        .unwrap_or_else(|| panic!("the screen was taken: {seen:?}"));
    let given_back = seen[taken..]
        .find(LEAVE_ALTERNATE)
        .map(|at| taken + at)
        .unwrap_or_else(|| panic!("the alternate screen is left: {seen:?}"));
    let message = seen
        .find("a bug in the view")
        .unwrap_or_else(|| panic!("the panic's message is printed: {seen:?}"));
    assert!(
        given_back < message,
        "the message comes after the screen is back: {seen:?}"
    );
    assert!(
        seen.contains("terminal after the panic: cooked"),
        "raw mode is undone: {seen:?}"
    );
}

/// The child half of [`a_panic_in_the_view_gives_the_terminal_back`].
#[test]
#[ignore = "run by a_panic_in_the_view_gives_the_terminal_back inside its pseudo-terminal"]
fn panicking_view_child() {
    if std::env::var_os(PANIC_CHILD).is_none() {
        return;
    }
    let unwound = std::panic::catch_unwind(|| {
        let _screen = vastfleet::top::Screen::take();
        panic!("a bug in the view");
    });
    assert!(unwound.is_err());
    let modes = rustix::termios::tcgetattr(std::io::stdin()).expect("stdin is the terminal");
    let cooked = modes
        .local_modes
        .contains(rustix::termios::LocalModes::ICANON | rustix::termios::LocalModes::ECHO);
    println!(
        "terminal after the panic: {}",
        if cooked { "cooked" } else { "raw" }
    );
}
