//! One command-line grammar: `-f/--file` (or `VASTFLEET_FILE`) wherever a fleet file is read,
//! and messages in the user's words for what they typed wrong.

use crate::support::{command, run};

/// `check` with a key in the environment: (exit code, stdout, stderr).
async fn check(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut command = command(dir, None, args);
    command.env("VAST_API_KEY", "k");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().await.unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn every_fleet_file_command_takes_dash_f_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mine.toml"), "[[instance]]\nid = 1002\n").unwrap();
    for args in [
        &["check", "-f", "mine.toml"][..],
        &["check", "--file", "mine.toml"],
        &["check", "mine.toml"],
    ] {
        let (code, out, err) = check(dir.path(), args, &[]).await;
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(
            out.contains("mine.toml is valid: 1 instance\n"),
            "{args:?}: {out}"
        );
    }
    let (_, out, _) = check(dir.path(), &["check"], &[("VASTFLEET_FILE", "mine.toml")]).await;
    assert!(out.contains("mine.toml is valid"), "{out}");
    // `status` and `watch` accept the flag too (they then stop at the missing key).
    for args in [
        &["status", "-f", "mine.toml"][..],
        &["watch", "-f", "mine.toml"],
    ] {
        let (code, _, err) = run(dir.path(), None, args).await;
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains("API key"), "{args:?}: {err}");
    }
}

#[tokio::test]
async fn a_bad_id_is_explained_not_parsed_at() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["stop", "abc"][..],
        &["start", "12x"],
        &["destroy", "-y", "abc"],
        &["watch", "--id", "abc"],
    ] {
        let (code, _, err) = run(dir.path(), None, args).await;
        assert_eq!(code, 2, "{args:?}");
        assert!(
            err.contains("not an instance id: ids are whole numbers, like 1002"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("invalid digit"), "{args:?}: {err}");
    }
}
