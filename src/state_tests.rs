//! The store's file handling against what a hostile folder may hold: symlinks where the lock
//! or the state should be, a state path that cannot be written.

use super::*;

fn lock_path(state: &Path) -> PathBuf {
    let mut path = state.as_os_str().to_owned();
    path.push(".lock");
    PathBuf::from(path)
}

#[cfg(unix)]
#[test]
fn a_symlinked_lock_file_is_refused_and_its_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("passwd");
    std::fs::write(&victim, "root:x:0:0\n").unwrap();
    let state = dir.path().join("state.json");
    std::os::unix::fs::symlink(&victim, lock_path(&state)).unwrap();
    let err = acquire_lock(&state)
        .err()
        .expect("a symlinked lock was taken");
    assert!(err.contains("symbolic link"), "{err}");
    assert!(err.contains("pass a different --state"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root:x:0:0\n");
}

#[test]
fn the_lock_holds_the_pid_and_keeps_a_second_watcher_out() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let held = acquire_lock(&state).unwrap();
    let pid = std::process::id().to_string();
    assert_eq!(std::fs::read_to_string(lock_path(&state)).unwrap(), pid);
    let err = acquire_lock(&state).err().expect("locked twice");
    assert!(
        err.contains(&format!("(pid {pid}) is already watching")),
        "{err}"
    );
    drop(held);
    assert!(acquire_lock(&state).is_ok());
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlinked_state_file_is_moved_aside_and_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep me").unwrap();
    let state = dir.path().join("state.json");
    std::os::unix::fs::symlink(&victim, &state).unwrap();
    let (events, _rx) = mpsc::channel(8);
    let (handle, opened) = StateHandle::open(&state, events, &TaskTracker::new());
    let Opened::Corrupt { reason, moved_to } = opened else {
        panic!("a symlink was trusted: {opened:?}");
    };
    assert!(reason.contains("symbolic link"), "{reason}");
    assert!(std::fs::symlink_metadata(&moved_to)
        .unwrap()
        .file_type()
        .is_symlink());
    // A link planted after the start is replaced, not followed.
    std::os::unix::fs::symlink(&victim, &state).unwrap();
    handle.save(7, DurableState::default()).await;
    handle.flush().await;
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert!(std::fs::symlink_metadata(&state).unwrap().is_file());
}

#[tokio::test]
async fn a_failing_save_is_one_state_error_then_one_notice_when_it_works_again() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("gone");
    std::fs::create_dir(&folder).unwrap();
    let state = folder.join("state.json");
    let (events, mut rx) = mpsc::channel(8);
    // The writer holds the stream weakly; the program's other senders keep it open.
    let (handle, _) = StateHandle::open(&state, events.clone(), &TaskTracker::new());
    std::fs::remove_dir(&folder).unwrap();
    for id in 0..3 {
        handle.save(id, DurableState::default()).await;
        handle.flush().await;
    }
    let first = rx.recv().await.unwrap();
    let EventKind::StateError { error } = &first.kind else {
        panic!("{first:?}");
    };
    assert!(error.starts_with("cannot write state file "), "{error}");
    assert!(rx.try_recv().is_err(), "said more than once");
    std::fs::create_dir(&folder).unwrap();
    handle.save(9, DurableState::default()).await;
    handle.flush().await;
    let back = rx.recv().await.unwrap();
    assert!(
        matches!(&back.kind, EventKind::Notice { message } if message.ends_with("is written again")),
        "{back:?}"
    );
}

#[tokio::test]
async fn budget_episodes_survive_a_reopen_and_older_files_have_none() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(&state, r#"{"version": 1, "instances": {}}"#).unwrap();
    let (events, _rx) = mpsc::channel(8);
    let (handle, _) = StateHandle::open(&state, events.clone(), &TaskTracker::new());
    assert!(handle.budget_over().is_empty());

    handle.save_budget_over(&BTreeSet::from([BudgetKind::MaxSpend]));
    handle.flush().await;
    let written = std::fs::read_to_string(&state).unwrap();
    assert!(
        written.contains(r#""budget_over":["max_spend"]"#),
        "{written}"
    );
    let (reopened, _) = StateHandle::open(&state, events, &TaskTracker::new());
    assert_eq!(
        reopened.budget_over(),
        BTreeSet::from([BudgetKind::MaxSpend])
    );
}

#[test]
fn the_default_state_file_goes_into_systemds_state_directory_when_there_is_one() {
    let fleet = Path::new("/etc/vastfleet/fleet.toml");
    assert_eq!(
        default_path_in(fleet, None),
        Path::new("/etc/vastfleet/.fleet.toml.state.json")
    );
    assert_eq!(
        default_path_in(Path::new("fleet.toml"), None),
        Path::new(".fleet.toml.state.json")
    );
    assert_eq!(
        default_path_in(fleet, Some(Path::new("/var/lib/vastfleet"))),
        Path::new("/var/lib/vastfleet/fleet.toml.state.json")
    );
    assert_eq!(
        default_path_in(fleet, Some(Path::new("/var/lib/vastfleet:/var/lib/other"))),
        Path::new("/var/lib/vastfleet/fleet.toml.state.json"),
        "StateDirectory= with several folders: the first"
    );
    for not_systemds in ["", "state"] {
        assert_eq!(
            default_path_in(fleet, Some(Path::new(not_systemds))),
            Path::new("/etc/vastfleet/.fleet.toml.state.json"),
            "{not_systemds:?}"
        );
    }
}
