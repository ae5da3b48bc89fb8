//! A closed stdout ends every command quietly: exit 0, no panic, nothing on stderr; `watch`
//! goes through its usual shutdown (state saved) even when it had nothing more to write.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use vastfleet::sim::SimHandle;

use crate::support::{command, fleet_file, Account, PATIENCE};

const JOB: u64 = 51400001;

/// A stdout whose reader is gone before the command starts: its first write is EPIPE.
fn closed_stdout() -> Stdio {
    let (sender, receiver) = tokio::net::unix::pipe::pipe().expect("pipe");
    drop(receiver);
    Stdio::from(sender.into_blocking_fd().expect("blocking fd"))
}

/// Runs `args` with a closed stdout: (exit code, stderr).
async fn run_closed(
    dir: &std::path::Path,
    sim: Option<&SimHandle>,
    args: &[&str],
) -> (i32, String) {
    // Not `output()`: it would replace the closed stdout with a pipe of its own.
    let child = command(dir, sim, args)
        .stdin(Stdio::null())
        .stdout(closed_stdout())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vastfleet");
    let output = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{args:?} kept running with a closed stdout"))
        .expect("run vastfleet");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn completions_and_the_man_page_into_a_closed_pipe_exit_0_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let (code, stderr) = run_closed(dir.path(), None, &["completions", shell]).await;
        assert_eq!((code, stderr.as_str()), (0, ""), "completions {shell}");
    }
    let (code, stderr) = run_closed(dir.path(), None, &["man"]).await;
    assert_eq!((code, stderr.as_str()), (0, ""), "man");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_commands_into_a_closed_pipe_exit_0_quietly() {
    let sim = Account::running([JOB]).start().await;
    let dir = tempfile::tempdir().unwrap();
    fleet_file(dir.path(), &format!("[[instance]]\nid = {JOB}\n"));
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["check"],
        &["--help"],
    ] {
        let (code, stderr) = run_closed(dir.path(), Some(&sim), args).await;
        assert_eq!((code, stderr.as_str()), (0, ""), "{args:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_into_a_closed_pipe_stops_in_order_and_saves_its_state() {
    let sim = Account::running([JOB]).start().await;
    let dir = tempfile::tempdir().unwrap();
    fleet_file(
        dir.path(),
        &format!("[defaults]\ninterval = \"200ms\"\n[[instance]]\nid = {JOB}\n"),
    );
    let (code, stderr) = run_closed(dir.path(), Some(&sim), &["watch", "--json"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(dir.path().join(".fleet.toml.state.json").exists());
}

/// `watch --json | head -1` on a fleet that then falls silent: nothing more is written, so
/// no EPIPE ever comes; the closed reader alone must end the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_ends_when_its_reader_leaves_even_with_nothing_more_to_write() {
    let sim = Account::running([JOB]).start().await;
    let dir = tempfile::tempdir().unwrap();
    fleet_file(
        dir.path(),
        &format!("[defaults]\ninterval = \"200ms\"\n[[instance]]\nid = {JOB}\n"),
    );
    let mut child = command(dir.path(), Some(&sim), &["watch", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines
        .next_line()
        .await
        .expect("read")
        .expect("a first line");
    assert!(first.starts_with('{'), "{first}");
    drop(lines);
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("watch stops once its reader is gone")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
    assert!(dir.path().join(".fleet.toml.state.json").exists());
}
