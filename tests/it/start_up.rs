//! Day one on a real account (issue 12): a key the API refuses is bad input before anything is
//! watched, a wrong API address is said quickly and names the setting it came from, and
//! `check --online` checks the file against the account in one sweep.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use vastfleet::sim::{Fault, Lasting, SimHandle};

use crate::notify::harness::Receiver;
use crate::support::{command, finish, fleet_file, is, run, Account, Watcher};

const WRONG: &str = "revoked-key-9c1e";

async fn account(auth_error_status: u16) -> SimHandle {
    Account::running([41000001, 41000002, 41000003])
        .auth_error_status(auth_error_status)
        .start()
        .await
}

fn fleet(dir: &std::path::Path, ids: &[u64]) {
    let mut text = String::from("[defaults]\ninterval = \"300ms\"\n");
    for id in ids {
        text.push_str(&format!("[[instance]]\nid = {id}\n"));
    }
    fleet_file(dir, &text);
}

/// `vastfleet ARGS` against `sim` with the wrong key: (exit code, stdout, stderr).
async fn with_wrong_key(
    dir: &std::path::Path,
    sim: &SimHandle,
    args: &[&str],
) -> (i32, String, String) {
    let out = command(dir, Some(sim), args)
        .env("VAST_API_KEY", WRONG)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_is_exit_2_before_watching_in_both_auth_modes() {
    for status in [404, 401] {
        let sim = account(status).await;
        let dir = tempfile::tempdir().unwrap();
        fleet(dir.path(), &[41000001]);
        let commands: [&[&str]; 3] = [
            &["watch", "--json"],
            &["status"],
            &["add", "41000002", "--check"],
        ];
        for args in commands {
            let (code, stdout, stderr) = with_wrong_key(dir.path(), &sim, args).await;
            assert_eq!(code, 2, "{args:?} with HTTP {status}: {stdout}\n{stderr}");
            assert!(
                stderr.contains("refused the key read from environment variable VAST_API_KEY"),
                "{args:?} with HTTP {status}: {stderr}"
            );
            assert!(
                !stderr.contains(WRONG) && !stdout.contains(WRONG),
                "the key leaked"
            );
            assert!(
                !stdout.contains("\"event\":\"joined\""),
                "{args:?}: nothing is watched: {stdout}"
            );
        }
        let text = std::fs::read_to_string(dir.path().join("fleet.toml")).unwrap();
        assert!(!text.contains("41000002"), "add --check wrote nothing");
        assert!(!sim.stats().any_url_contains(WRONG));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_commands_name_a_wrong_api_and_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path(), &[41000001]);
    // Nothing listens on port 1.
    let nothing = "http://127.0.0.1:1";
    let (code, _, stderr) = run(dir.path(), None, &["status", "--api-url", nothing]).await;
    assert_eq!(code, 2, "no key at all is bad input first: {stderr}");
    let (code, _, stderr) = finish(
        command(dir.path(), None, &["status", "--api-url", nothing]).env("VAST_API_KEY", "k"),
    )
    .await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("no working API at http://127.0.0.1:1 (from --api-url)")
            && stderr.contains("could not connect"),
        "{stderr}"
    );
    let (code, _, stderr) = finish(
        command(dir.path(), None, &["stop", "41000001"])
            .env("VAST_API_KEY", "k")
            .env("VAST_URL", nothing),
    )
    .await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("(from VAST_URL)"), "{stderr}");

    // A name that does not resolve (RFC 6761 reserves `.invalid`), from the fleet file. The
    // tries are in the message, so what the test checks is the count, not a stopwatch: the
    // paused-clock test in `commands::connect` shows they take 1.75 s.
    let dns = "http://vastfleet-test.invalid";
    fleet_file(
        dir.path(),
        &format!("[api]\nurl = \"{dns}\"\n[[instance]]\nid = 41000001\n"),
    );
    let (code, _, stderr) =
        finish(command(dir.path(), None, &["status"]).env("VAST_API_KEY", "k")).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "no working API at {dns} (from [api] url in the fleet file)"
        )) && stderr.contains("could not connect")
            && stderr.contains("; 4 tries in "),
        "{stderr}"
    );
    fleet(dir.path(), &[41000001]);

    // Something answers, but with a web page: a proxy, or the wrong host.
    let sim = account(404).await;
    sim.control()
        .inject_on(&["list"], Fault::ProxyNotFound, Lasting::Forever);
    let (code, _, stderr) = run(dir.path(), Some(&sim), &["status"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("no working API at {} (from VAST_URL)", sim.url()))
            && stderr.contains("an HTML page"),
        "{stderr}"
    );
    // A few quick retries, not one, not many.
    let tries = sim.stats().calls("list");
    assert!((2..=5).contains(&tries), "{tries} tries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_online_sweeps_the_account_once() {
    let sim = account(404).await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path(), &[41000001, 41000002]);
    let (code, stdout, stderr) = run(dir.path(), Some(&sim), &["check", "--online"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("accepted the key"), "{stdout}");
    assert!(stdout.contains("all 2 present"), "{stdout}");
    assert!(stdout.contains("orphans    41000003"), "{stdout}");
    assert_eq!(sim.stats().calls("list"), 1);

    fleet(dir.path(), &[41000001, 41009999]);
    let (code, _, stderr) = run(dir.path(), Some(&sim), &["check", "--online"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no instance 41009999 in this account"),
        "{stderr}"
    );

    let (code, _, stderr) = with_wrong_key(dir.path(), &sim, &["check", "--online"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("refused the key"), "{stderr}");
    // Offline, the same file is fine: the API was never asked.
    let (code, _, _) = with_wrong_key(dir.path(), &sim, &["check"]).await;
    assert_eq!(code, 0);
}

/// A key revoked while watching is not bad input: the watcher rides it out with backoff, says
/// so once (not once per instance per retry), pages `api_down`, and carries on when the key
/// works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_while_watching_is_said_once_and_ridden_out() {
    let sim = account(404).await;
    let mut pager = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    fleet_file(
        dir.path(),
        &format!(
            "[api]\napi_down_after = \"1s\"\n\
             [defaults]\ninterval = \"300ms\"\nmax_backoff = \"600ms\"\n\
             [[instance]]\nid = 41000001\n[[instance]]\nid = 41000002\n\
             [[notify]]\nurl = \"{}\"\nevents = [\"api_down\"]\n",
            pager.url("/pager")
        ),
    );
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    for id in [41000001, 41000002] {
        watcher
            .wait_for("running", |e| {
                is(e, "status", id) && e["status"] == "running"
            })
            .await;
    }
    let key = sim.key().to_owned();
    sim.control().set_key(WRONG);
    let down = pager.next().await.json();
    assert_eq!(down["event"], "api_down", "{down}");
    // Several sweeps and log polls are refused while nothing more is said.
    let refused = sim.stats().requests.len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(sim.stats().requests.len() >= refused + 3, "still trying");
    sim.control().set_key(key);
    let up = pager.next().await.json();
    assert_eq!(up["event"], "api_up", "{up}");
    sim.control().append_log(41000001, "after the new key");
    watcher
        .wait_for("a line after the key works again", |e| {
            is(e, "log", 41000001) && e["line"] == "after the new key"
        })
        .await;
    let finished = watcher.terminate().await;
    let errors: Vec<&Value> = finished
        .events
        .iter()
        .filter(|e| e["event"] == "api_error")
        .collect();
    assert_eq!(errors.len(), 1, "said once per episode: {errors:?}");
    assert!(
        errors[0]["instance"].is_null(),
        "the fleet's, not an instance's"
    );
    let error = errors[0]["error"].as_str().unwrap();
    assert!(
        error.contains("refused the key read from environment variable VAST_API_KEY")
            && error.contains("said once"),
        "{error}"
    );
    assert!(!error.contains(WRONG) && !error.contains(&sim.key().to_owned()));
    let recovered = finished
        .events
        .iter()
        .filter(|e| e["event"] == "recovered")
        .collect::<Vec<_>>();
    assert_eq!(recovered.len(), 1, "one end of the episode: {recovered:?}");
    assert!(recovered[0]["failed_attempts"].as_u64().unwrap() >= 2);
}
