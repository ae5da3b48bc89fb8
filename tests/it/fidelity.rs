//! Keeps the simulator honest: the official `vastai` CLI and SDK (pinned in
//! tests/fidelity/requirements.txt, installed into .venv by scripts/test) run against an
//! in-process simulator, with the real rate gaps, and must succeed and make sense.
//!
//! Without .venv the test says it skips; with VASTFLEET_REQUIRE_FIDELITY=1 (set by
//! scripts/test) a missing .venv is a failure instead.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use vastfleet::sim::{InitialState, InstanceSpec, Scenario, SimHandle};

use crate::support::start;

fn venv_bin(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(name);
    if path.exists() {
        return Some(path);
    }
    let required = std::env::var("VASTFLEET_REQUIRE_FIDELITY").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "VASTFLEET_REQUIRE_FIDELITY=1 but {} is missing: run ./scripts/test, which creates .venv",
        path.display()
    );
    // Straight to the process's stderr: the test harness would swallow `eprintln!`.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED fidelity test: {} not found (./scripts/test installs the official client into .venv)",
        path.display()
    );
    None
}

fn scenario() -> Scenario {
    let mut scenario = Scenario::empty();
    scenario.instances = vec![
        InstanceSpec {
            label: Some("alpha".into()),
            history: (1..=20).map(|n| format!("history line {n}")).collect(),
            ..InstanceSpec::new(501)
        },
        InstanceSpec {
            label: Some("bravo".into()),
            num_gpus: 2,
            gpu_name: "A100 SXM4".into(),
            lines_per_second: 2.0,
            ..InstanceSpec::new(502)
        },
        InstanceSpec {
            state: InitialState::Stopped,
            ..InstanceSpec::new(503)
        },
    ];
    scenario
}

/// More than two pages of the v1 list (25 a page): the official client fetches them back to
/// back, which a strict minimum gap would refuse on page 2.
const BIG_ACCOUNT: u64 = 60;

/// [`scenario`] grown to [`BIG_ACCOUNT`] instances.
fn big_scenario() -> Scenario {
    let mut scenario = scenario();
    let extra = BIG_ACCOUNT - scenario.instances.len() as u64;
    scenario.instances.extend((0..extra).map(|n| InstanceSpec {
        label: Some(format!("worker-{n:02}")),
        ..InstanceSpec::new(601 + n)
    }));
    scenario
}

/// Runs a program with a clean environment: no key or URL of the user's, no config files,
/// no update check (it would go to the network).
fn run(program: &Path, args: &[&str], home: &Path) -> Output {
    Command::new(program)
        .args(args)
        .env_remove("VAST_API_KEY")
        .env_remove("VAST_URL")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("VASTAI_NO_UPDATE_CHECK", "1")
        .env("COLUMNS", "200")
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", program.display()))
}

/// One CLI call; panics with its output unless it exits 0. Returns stdout.
async fn vastai(cli: &Path, sim: &SimHandle, home: &Path, args: &[&str]) -> String {
    let url = sim.url();
    let mut full = vec!["--url", url.as_str(), "--api-key", sim.key()];
    full.extend_from_slice(args);
    let (cli, home) = (cli.to_owned(), home.to_owned());
    let owned: Vec<String> = full.iter().map(|s| (*s).to_owned()).collect();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = owned.iter().map(String::as_str).collect();
        run(&cli, &args, &home)
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "vastai {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_cli_works_against_the_simulator() {
    let Some(cli) = venv_bin("vastai") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    // The default rate model: per-endpoint buckets with a small burst and Retry-After.
    let sim = start(big_scenario()).await;

    let listed: Value =
        serde_json::from_str(&vastai(&cli, &sim, home, &["show", "instances", "--raw"]).await)
            .unwrap();
    let ids: Vec<u64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    let mut want: Vec<u64> = vec![501, 502, 503];
    want.extend(601..601 + BIG_ACCOUNT - 3);
    assert_eq!(ids, want, "every instance once, in id order");
    assert_eq!(listed[2]["actual_status"], "stopped");
    assert_eq!(sim.stats().count("list", 200), 3, "three pages");
    let one: Value = serde_json::from_str(
        &vastai(&cli, &sim, home, &["show", "instance", "501", "--raw"]).await,
    )
    .unwrap();
    assert_eq!(
        (one["id"].as_u64(), one["label"].as_str()),
        (Some(501), Some("alpha"))
    );

    let logs = vastai(&cli, &sim, home, &["logs", "501", "--tail", "3"]).await;
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines,
        ["history line 18", "history line 19", "history line 20"]
    );

    let table = vastai(&cli, &sim, home, &["show", "instances", "--no-color"]).await;
    for expected in ["alpha", "bravo", "502", "stopped"] {
        assert!(
            table.contains(expected),
            "{expected} not in the table:\n{table}"
        );
    }

    let stopped = vastai(&cli, &sim, home, &["stop", "instance", "501"]).await;
    assert_eq!(stopped.trim(), "stopping instance 501.");
    let destroyed = vastai(&cli, &sim, home, &["destroy", "instance", "502", "-y"]).await;
    assert_eq!(destroyed.trim(), "destroying instance 502.");

    let gone: Value = serde_json::from_str(
        &vastai(&cli, &sim, home, &["show", "instance", "502", "--raw"]).await,
    )
    .unwrap();
    assert_eq!(gone, serde_json::json!({"instances": null}));
    let after: Value =
        serde_json::from_str(&vastai(&cli, &sim, home, &["show", "instances", "--raw"]).await)
            .unwrap();
    assert_eq!(after[0]["intended_status"], "stopped");
    assert_eq!(after.as_array().unwrap().len() as u64, BIG_ACCOUNT - 1);

    let stats = sim.stats();
    // Three sweeps of three pages. A page that met an empty bucket was retried after the
    // server's Retry-After, so each command still succeeded above.
    assert_eq!(stats.count("list", 200), 9, "{:?}", stats.counts);
    assert!(stats.total_429 <= 2, "{:?}", stats.counts);
    assert_eq!(stats.count("show", 200), 2);
    assert_eq!(stats.count("request_logs", 200), 1);
    assert_eq!(
        (
            stats.count("log_result", 403),
            stats.count("log_result", 200)
        ),
        (1, 1)
    );
    assert_eq!(stats.count("set_state", 200), 1);
    assert_eq!(stats.count("destroy", 200), 1);
    assert_eq!(stats.actions_on(501).state_changes, 1);
    assert_eq!(stats.actions_on(502).destroys, 1);
    assert!(
        !stats.any_url_contains(sim.key()),
        "the CLI put the key in a URL"
    );
    let agents = stats.header_values("list", "user-agent");
    assert!(
        agents
            .iter()
            .all(|a| a.as_deref().is_some_and(|a| a.starts_with("vastai-cli/"))),
        "{agents:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdk_works_against_the_simulator() {
    let Some(python) = venv_bin("python") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let sim = start(scenario()).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fidelity/sdk_roundtrip.py");
    let args = [
        script.to_string_lossy().into_owned(),
        sim.url(),
        sim.key().to_owned(),
        "501".into(),
    ];
    let home_path = home.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&python, &args, &home_path)
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sdk_roundtrip.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(seen["ids"], serde_json::json!([501, 502, 503]));
    assert_eq!(seen["status"], "running");
    assert_eq!(
        seen["log_tail"],
        serde_json::json!(["history line 19", "history line 20"])
    );
    let stats = sim.stats();
    assert_eq!(
        (stats.calls("execute"), stats.count("set_state", 200)),
        (1, 1)
    );
    assert_eq!(stats.total_429, 0, "{:?}", stats.counts);
}
