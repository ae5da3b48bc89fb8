//! The key from systemd's `LoadCredential=`: `$CREDENTIALS_DIRECTORY/vast-api-key`, read by the
//! real binary against the simulator, with no `VAST_API_KEY` and no key file anywhere.

use std::path::Path;

use vastfleet::api::key::{CREDENTIALS_ENV, CREDENTIAL_NAME};

use crate::support::{account_with_history, command, finish, fleet_file};

const JOB: u64 = 64000001;

/// `vastfleet ARGS` as systemd starts it: the key only in the credentials folder.
async fn under_systemd(
    dir: &Path,
    creds: &Path,
    url: &str,
    args: &[&str],
) -> (i32, String, String) {
    finish(
        command(dir, None, args)
            .env("VAST_URL", url)
            .env(CREDENTIALS_ENV, creds),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_read_from_the_credential_and_named_by_it_never_shown() {
    let sim = account_with_history(&[JOB]).await;
    let dir = tempfile::tempdir().unwrap();
    let creds = tempfile::tempdir().unwrap();
    fleet_file(dir.path(), &format!("[[instance]]\nid = {JOB}\n"));
    let credential = creds.path().join(CREDENTIAL_NAME);

    std::fs::write(&credential, format!("{}\n", sim.key())).unwrap();
    let (code, out, err) =
        under_systemd(dir.path(), creds.path(), &sim.url(), &["status", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("\"instance\":{JOB}")), "{out}");
    assert_eq!(sim.stats().calls("list"), 1);
    // `check` finds it where the commands that use it do.
    let (code, out, err) = under_systemd(dir.path(), creds.path(), &sim.url(), &["check"]).await;
    assert_eq!(code, 0, "{err}");
    let named = format!(
        "key        from systemd credential vast-api-key ({})\n",
        credential.display()
    );
    assert!(out.contains(&named), "{out}");
    assert!(
        !out.contains(sim.key()) && !err.contains(sim.key()),
        "{out}{err}"
    );
    assert_eq!(
        sim.stats().calls("list"),
        1,
        "check without --online calls nothing"
    );

    // A wrong key is refused by the API, and the message says which file to fix.
    let wrong = "0123456789abcdef-not-the-key";
    std::fs::write(&credential, wrong).unwrap();
    let (code, out, err) = under_systemd(dir.path(), creds.path(), &sim.url(), &["status"]).await;
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!(
            "systemd credential vast-api-key ({})",
            credential.display()
        )),
        "{err}"
    );
    assert!(!err.contains(wrong) && !out.contains(wrong), "{err}{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_credential_is_exit_2_before_any_call_naming_the_file_and_the_fix() {
    let sim = account_with_history(&[JOB]).await;
    let dir = tempfile::tempdir().unwrap();
    let creds = tempfile::tempdir().unwrap();
    fleet_file(dir.path(), &format!("[[instance]]\nid = {JOB}\n"));
    // A key file in HOME is not fallen back on: the unit asked for the credential.
    std::fs::write(dir.path().join(".vast_api_key"), sim.key()).unwrap();
    let credential = creds.path().join(CREDENTIAL_NAME);
    std::fs::write(&credential, "\n").unwrap();

    for args in [&["watch", "--json"][..], &["status"][..]] {
        let (code, out, err) = under_systemd(dir.path(), creds.path(), &sim.url(), args).await;
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(&credential.display().to_string()), "{err}");
        assert!(err.contains("is empty"), "{err}");
        assert!(err.contains("LoadCredential=vast-api-key:"), "{err}");
        assert!(out.is_empty(), "{out}");
    }
    let (code, out, err) = under_systemd(dir.path(), creds.path(), &sim.url(), &["check"]).await;
    assert_eq!(code, 2, "check: {err}");
    assert!(err.contains(&credential.display().to_string()), "{err}");
    assert!(err.contains("is empty"), "{err}");
    assert!(!out.contains("key        from"), "{out}");
    assert_eq!(sim.stats().total_calls(), 0);
}
