//! Day one on a real account (issue 12): a key the API refuses is bad input before anything is
//! watched, a wrong API address is said quickly and names the setting it came from, and
//! `check --online` checks the file against the account in one sweep.

use std::process::Stdio;

use vastfleet::sim::{Fault, InstanceSpec, Lasting, Scenario, SimHandle, Simulator};

use crate::support::{command, fleet_file, run};

const WRONG: &str = "revoked-key-9c1e";

async fn account(auth_error_status: u16) -> SimHandle {
    let mut scenario = Scenario::empty();
    scenario.switches.auth_error_status = auth_error_status;
    scenario.instances = [41000001, 41000002, 41000003]
        .into_iter()
        .map(InstanceSpec::new)
        .collect();
    Simulator::start(scenario).await.unwrap()
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
    let out = command(dir.path(), None, &["status", "--api-url", nothing])
        .env("VAST_API_KEY", "k")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no working API at http://127.0.0.1:1 (from --api-url)")
            && stderr.contains("could not connect"),
        "{stderr}"
    );
    let out = command(dir.path(), None, &["stop", "41000001"])
        .env("VAST_API_KEY", "k")
        .env("VAST_URL", nothing)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("(from VAST_URL)"), "{stderr}");

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
