//! What sits at the fleet-file, state and lock paths is not trusted either.

use std::time::Instant;

use super::*;

#[cfg(unix)]
#[tokio::test]
async fn a_fifo_or_a_device_as_fleet_file_is_bad_input_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.toml");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let fifo = fifo.to_str().unwrap().to_owned();
    for (file, kind) in [(fifo.as_str(), "a FIFO"), ("/dev/zero", "a device")] {
        for command in ["check", "watch"] {
            let started = Instant::now();
            let (code, _, stderr) = support::run(dir.path(), None, &[command, file]).await;
            assert_eq!(code, 2, "{command} {file}: {stderr}");
            // At once (0.15 s by hand); the bound only leaves room for a loaded CI machine to
            // start the process, a hang would be for ever.
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{command} {file}"
            );
            assert!(stderr.contains(kind), "{stderr}");
            assert!(stderr.contains("not a regular file"), "{stderr}");
        }
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlinked_lock_file_is_refused_and_its_target_kept() {
    let server = Hostile::start(Script::default()).await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path(), "");
    let victim = dir.path().join("passwd");
    std::fs::write(&victim, "root:x:0:0\n").unwrap();
    let lock = dir.path().join(".fleet.toml.state.json.lock");
    std::os::unix::fs::symlink(&victim, &lock).unwrap();
    let output = server
        .command(dir.path(), &["watch", "--json"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("symbolic link"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root:x:0:0\n");
    assert_eq!(
        server.seen(|s| s.list_calls),
        0,
        "watched despite the refused lock"
    );
}
