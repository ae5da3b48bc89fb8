//! `logs`: the last lines once, by label; `--follow` printing every new line exactly once
//! while the job keeps printing (bursts larger than the tail included), and ending quietly on
//! SIGTERM; bad input exit 2.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::ChildStdout;
use vastfleet::sim::{InstanceSpec, SimHandle};

use crate::support::{command, fleet_file, run, Account, PATIENCE};

const JOB: u64 = 44000001;

async fn sim() -> SimHandle {
    let history: Vec<String> = (1..=30).map(|n| format!("old {n}")).collect();
    Account::of([InstanceSpec {
        label: Some("train".into()),
        history,
        ..InstanceSpec::new(JOB)
    }])
    .start()
    .await
}

fn fleet(dir: &std::path::Path) {
    fleet_file(
        dir,
        &format!("[defaults]\ninterval = \"200ms\"\n[[instance]]\nid = {JOB}\nlabel = \"train\"\n"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_prints_the_last_lines_of_one_instance_by_label_or_id() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path());
    sim.control()
        .append_log(JOB, "\u{1b}]0;pwned\u{7}colour \u{1b}[31mred\u{1b}[0m");

    let (code, out, err) = run(dir.path(), Some(&sim), &["logs", "train", "--tail", "3"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out, "old 29\nold 30\ncolour red\n",
        "escape sequences removed"
    );
    let (code, out, _) = run(dir.path(), Some(&sim), &["logs", &JOB.to_string()]).await;
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().count(),
        31,
        "the default tail covers the whole log"
    );

    for (args, says) in [
        (&["logs", "trian"][..], "matches no instance"),
        (&["logs", "train", "--tail", "0"], "--tail"),
        (&["logs", "train", "--tail", "20000"], "--tail"),
        (&["logs"], "ID|LABEL"),
    ] {
        let (code, _, err) = run(dir.path(), Some(&sim), args).await;
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_prints_each_new_line_once_and_ends_quietly() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path());
    let mut child = command(
        dir.path(),
        Some(&sim),
        &["logs", "train", "--tail", "5", "--follow"],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(next_line(&mut lines).await);
    }
    // Repeats, then a burst far larger than the 5-line tail.
    let control = sim.control();
    control.append_lines(JOB, ["tick", "tick", "tick"]);
    for _ in 0..3 {
        seen.push(next_line(&mut lines).await);
    }
    let burst: Vec<String> = (1..=60).map(|n| format!("new {n}")).collect();
    control.append_lines(JOB, burst.clone());
    for _ in 0..60 {
        seen.push(next_line(&mut lines).await);
    }
    let mut expected: Vec<String> = (26..=30).map(|n| format!("old {n}")).collect();
    expected.extend(["tick"; 3].map(String::from));
    expected.extend(burst);
    assert_eq!(seen, expected);

    let pid = child.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let mut rest = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut rest)
        .await
        .unwrap();
    assert_eq!(rest, "", "quiet on SIGTERM");
    assert!(sim.stats().calls("request_logs") >= 3);
}

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("a line in time")
        .unwrap()
        .expect("still open")
}
