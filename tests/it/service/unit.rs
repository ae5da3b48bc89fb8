//! The example unit and the code agree: the credential it loads is the one the key lookup
//! reads, the folder it asks for is where the state goes, and its command line starts a watch.

use std::path::Path;

use vastfleet::api::key::{CREDENTIALS_ENV, CREDENTIAL_NAME};
use vastfleet::state::STATE_DIRECTORY_ENV;

use super::notify::Manager;
use crate::support::{account_with_history, command, fleet_file, is, Watcher};

const UNIT: &str = include_str!("../../../examples/systemd/vastfleet.service");
const JOB: u64 = 64000201;

/// Every value of `key=` in the unit's `[Service]` section, in order.
fn service(key: &str) -> Vec<&'static str> {
    let section = UNIT
        .split("\n[")
        .find(|s| s.starts_with("Service]"))
        .expect("a [Service] section");
    section
        .lines()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

fn one(key: &str) -> &'static str {
    match service(key).as_slice() {
        [value] => value,
        other => panic!("{key}= should be set once in the unit, is {other:?}"),
    }
}

#[test]
fn the_unit_loads_the_credential_the_key_lookup_reads() {
    let (name, source) = one("LoadCredential")
        .split_once(':')
        .expect("LoadCredential=NAME:PATH");
    assert_eq!(name, CREDENTIAL_NAME);
    assert!(Path::new(source).is_absolute(), "{source}");
    let readme = include_str!("../../../README.md");
    assert!(
        readme.contains(&format!("LoadCredential={name}:{source}")),
        "README's systemd section names another credential"
    );
    assert!(
        readme.contains(&format!("${CREDENTIALS_ENV}/{CREDENTIAL_NAME}")),
        "README does not say where the credential is read"
    );
}

#[test]
fn the_unit_asks_for_a_state_directory_and_reloads_with_sighup() {
    assert_eq!(one("StateDirectory"), "vastfleet");
    assert_eq!(one("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(one("Restart"), "on-failure");
    assert_eq!(one("RestartPreventExitStatus"), "2");
    assert_eq!(one("NoNewPrivileges"), "true");
    assert_eq!(one("ProtectSystem"), "strict");
    assert!(
        !exec_start().iter().any(|a| a == "--state"),
        "the state's place is StateDirectory="
    );
}

#[test]
fn the_unit_is_told_when_the_watch_is_ready_and_keeps_a_watchdog() {
    assert_eq!(one("Type"), "notify");
    assert_eq!(
        one("NotifyAccess"),
        "main",
        "only vastfleet itself speaks for the unit"
    );
    let watchdog = humantime::parse_duration(one("WatchdogSec")).expect("WatchdogSec=");
    let start = humantime::parse_duration(one("TimeoutStartSec")).expect("TimeoutStartSec=");
    // Pings go at half the period; a period of seconds would restart a watch on a busy host.
    assert!(
        watchdog >= std::time::Duration::from_secs(30),
        "{watchdog:?}"
    );
    assert!(start >= std::time::Duration::from_secs(30), "{start:?}");
    let readme = include_str!("../../../README.md");
    for key in ["Type=notify", "WatchdogSec=", "TimeoutStartSec="] {
        assert!(
            readme.contains(key),
            "README's systemd section does not say {key}"
        );
    }
}

/// `ExecStart=`'s words after the program.
fn exec_start() -> Vec<String> {
    let line = one("ExecStart");
    let mut words = line.split_whitespace().map(str::to_owned);
    let program = words.next().expect("a program");
    assert!(program.ends_with("/vastfleet"), "{program}");
    words.collect()
}

/// The unit's own command line, as systemd would start it: the key only in the credentials
/// folder, `$STATE_DIRECTORY` set, the fleet file in a folder of its own, a notify socket with
/// the unit's watchdog. Only the places
/// change (the fleet file and the metrics port) so the test can run anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_units_command_line_starts_a_watch_that_keeps_state_in_the_state_directory() {
    let sim = account_with_history(&[JOB]).await;
    let etc = tempfile::tempdir().unwrap();
    let creds = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let fleet = fleet_file(
        etc.path(),
        &format!("[defaults]\ninterval = \"300ms\"\n[[instance]]\nid = {JOB}\n"),
    );
    std::fs::write(creds.path().join(CREDENTIAL_NAME), sim.key()).unwrap();
    let args: Vec<String> = exec_start()
        .into_iter()
        .map(|word| match word.as_str() {
            "/etc/vastfleet/fleet.toml" => fleet.display().to_string(),
            "127.0.0.1:9184" => "127.0.0.1:0".to_owned(),
            _ => word,
        })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(
        args.contains(&"--json"),
        "the journal gets one JSON object a line"
    );
    let manager = Manager::bind();
    let watchdog = humantime::parse_duration(one("WatchdogSec")).unwrap();
    let mut watch = command(state.path(), None, &args);
    watch
        .env("VAST_URL", sim.url())
        .env(CREDENTIALS_ENV, creds.path())
        .env(STATE_DIRECTORY_ENV, state.path())
        .env("NOTIFY_SOCKET", manager.path())
        .env("WATCHDOG_USEC", watchdog.as_micros().to_string());
    let watcher = Watcher::spawn(watch);
    watcher.wait_for("the history", |e| is(e, "log", JOB)).await;
    manager
        .wait_for("READY=1", 0, 1, |m| m == "READY=1\n")
        .await;
    let finished = watcher.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(state.path().join("fleet.toml.state.json").exists());
    assert_eq!(
        std::fs::read_dir(etc.path()).unwrap().count(),
        1,
        "only the fleet file"
    );
}
