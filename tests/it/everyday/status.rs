//! `status`: the totals row and `totals` object, `--wide`'s SSH address, and `--all` showing
//! the whole account (orphans included) with or without a fleet file.

use serde_json::Value;
use vastfleet::sim::{InitialState, InstanceSpec, SimHandle};

use crate::support::{fleet_file, run, Account};

const TRAIN: u64 = 43000001;
const PARKED: u64 = 43000002;
const ORPHAN: u64 = 43000003;

async fn account() -> SimHandle {
    Account::of([
        InstanceSpec {
            label: Some("train".into()),
            dph_total: 1.5,
            ..InstanceSpec::new(TRAIN)
        },
        InstanceSpec {
            state: InitialState::Stopped,
            dph_total: 0.75,
            ..InstanceSpec::new(PARKED)
        },
        InstanceSpec {
            label: Some("forgotten".into()),
            dph_total: 2.0,
            ..InstanceSpec::new(ORPHAN)
        },
    ])
    .start()
    .await
}

fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_totals_what_burns_now_and_what_was_spent() {
    let sim = account().await;
    let dir = tempfile::tempdir().unwrap();
    fleet_file(
        dir.path(),
        &format!("[[instance]]\nid = {TRAIN}\nlabel = \"train\"\n[[instance]]\nid = {PARKED}\n"),
    );

    let (code, out, err) = run(dir.path(), Some(&sim), &["status", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "two instances, then the totals: {out}");
    let totals = &lines[2]["totals"];
    assert_eq!(totals["instances"], 2);
    assert_eq!(totals["by_status"]["running"], 1);
    assert_eq!(totals["by_status"]["stopped"], 1);
    assert_eq!(totals["dph_now"], 1.5, "the stopped one burns no GPU");
    let spent: f64 = lines[..2]
        .iter()
        .map(|l| l["spend_usd"].as_f64().unwrap())
        .sum();
    assert!((totals["spent_usd"].as_f64().unwrap() - spent).abs() < 0.011);
    assert!(lines
        .iter()
        .all(|l| l.get("in_fleet") != Some(&Value::Bool(false))));

    let (code, table, _) = run(dir.path(), Some(&sim), &["status"]).await;
    assert_eq!(code, 0);
    let last = table.lines().last().unwrap();
    assert!(
        last.starts_with("total: 2 instances (1 running, 1 stopped) · $1.50/hr now · about $"),
        "{table}"
    );
    assert!(!table.contains("SSH"), "{table}");

    let (code, wide, _) = run(dir.path(), Some(&sim), &["status", "--wide"]).await;
    assert_eq!(code, 0);
    assert!(wide.lines().next().unwrap().contains("SSH"), "{wide}");
    let train = wide.lines().find(|l| l.contains("train")).unwrap();
    assert!(train.contains(".vast.ai:"), "the proxy's host:port: {wide}");
    assert_eq!(sim.stats().calls("list"), 3, "one list call per status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_all_shows_the_whole_account_with_or_without_a_file() {
    let sim = account().await;
    let dir = tempfile::tempdir().unwrap();

    // No fleet file at all: the account alone.
    let (code, out, err) = run(dir.path(), Some(&sim), &["status", "--all", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    let ids: Vec<u64> = lines
        .iter()
        .filter_map(|l| l["instance"].as_u64())
        .collect();
    assert_eq!(ids, [TRAIN, PARKED, ORPHAN]);
    assert!(lines[..3].iter().all(|l| l["in_fleet"] == false));
    assert_eq!(lines[0]["label"], "train", "the API's label");
    assert_eq!(lines[3]["totals"]["instances"], 3);
    assert_eq!(lines[3]["totals"]["dph_now"], 3.5);

    // Without --all, a missing file is still bad input.
    let (code, _, err) = run(dir.path(), Some(&sim), &["status"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("fleet.toml"), "{err}");

    // With a file: its instances first, in its order, then the orphans, marked.
    fleet_file(
        dir.path(),
        &format!("[[instance]]\nid = {PARKED}\nlabel = \"parked\"\n"),
    );
    let (code, table, err) = run(dir.path(), Some(&sim), &["status", "--all"]).await;
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = table.lines().collect();
    assert!(
        rows[1].starts_with(&format!("{PARKED}   parked")),
        "{table}"
    );
    assert!(rows[2].starts_with(&format!("{TRAIN}*  train")), "{table}");
    assert!(
        rows[3].starts_with(&format!("{ORPHAN}*  forgotten")),
        "{table}"
    );
    assert!(table.contains("* not in the fleet file"), "{table}");
    assert!(
        rows.last().unwrap().starts_with("total: 3 instances"),
        "{table}"
    );

    // A named file that does not exist is bad input even with --all.
    let (code, _, err) = run(
        dir.path(),
        Some(&sim),
        &["status", "--all", "-f", "nope.toml"],
    )
    .await;
    assert_eq!(code, 2, "{err}");
}
