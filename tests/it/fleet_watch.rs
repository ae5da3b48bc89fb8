//! Issue 6 through the real binary: guards from the fleet file, discovery and orphans,
//! webhooks to a loopback receiver, and the metrics endpoint scraped mid-run.

use std::time::Duration;

use serde_json::Value;
use vastfleet::sim::{Dur, Fault, InstanceSpec, Lasting};

use crate::notify::harness::Receiver;
use crate::support::{fleet_file, is, run, Account, Watcher};

const QUIET: u64 = 71000001;
const PRICEY: u64 = 71000002;

fn guarded_account() -> Vec<InstanceSpec> {
    vec![
        InstanceSpec {
            label: Some("quiet".into()),
            ..InstanceSpec::new(QUIET)
        },
        InstanceSpec {
            label: Some("pricey".into()),
            dph_total: 1.0,
            age: Dur(Duration::from_secs(10 * 3600)),
            ..InstanceSpec::new(PRICEY)
        },
    ]
}

const GUARDED_FLEET: &str =
    "[defaults]\ninterval = \"300ms\"\nsilent = \"2s\"\non_guard = \"stop\"\n\
     [[instance]]\nid = 71000001\n\
     [[instance]]\nid = 71000002\nsilent = \"none\"\nmax_cost = 5.0\non_guard = \"destroy\"\n";

fn guard(e: &Value, id: u64, name: &str) -> bool {
    is(e, "guard", id) && e["guard"] == name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_fire_once_and_act_once() {
    let sim = Account::of(guarded_account()).start().await;
    let dir = tempfile::tempdir().unwrap();
    fleet_file(dir.path(), GUARDED_FLEET);
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    let silent = watcher
        .wait_for("the silent guard", |e| guard(e, QUIET, "silent"))
        .await;
    assert_eq!(silent["action"], "stop");
    assert!(
        silent["detail"]
            .as_str()
            .unwrap()
            .contains("no new log line"),
        "{silent}"
    );
    let cost = watcher
        .wait_for("the cost guard", |e| guard(e, PRICEY, "max_cost"))
        .await;
    assert_eq!(cost["action"], "destroy");
    watcher
        .wait_for("the destroy", |e| {
            is(e, "action", PRICEY) && e["ok"] == true
        })
        .await;
    watcher
        .wait_for("the stop", |e| is(e, "action", QUIET) && e["ok"] == true)
        .await;
    crate::support::wait_for_sweeps(&sim, 5).await;
    let finished = watcher.terminate().await;
    assert_eq!(sim.stats().actions_on(QUIET).state_changes, 1);
    assert_eq!(sim.stats().actions_on(PRICEY).destroys, 1);
    let firings = |id, name| {
        finished
            .events
            .iter()
            .filter(|e| guard(e, id, name))
            .count()
    };
    assert_eq!(firings(QUIET, "silent"), 1, "once per episode");
    assert_eq!(firings(PRICEY, "max_cost"), 1, "once per episode");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_respect_dry_run() {
    let sim = Account::of(guarded_account()).start().await;
    let dir = tempfile::tempdir().unwrap();
    fleet_file(dir.path(), GUARDED_FLEET);
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json", "--dry-run"]);
    watcher
        .wait_for("the dry-run destroy", |e| {
            is(e, "action", PRICEY) && e["dry_run"] == true && e["action"] == "destroy"
        })
        .await;
    watcher
        .wait_for("the dry-run stop", |e| {
            is(e, "action", QUIET) && e["dry_run"] == true
        })
        .await;
    watcher.terminate().await;
    let stats = sim.stats();
    assert_eq!(stats.actions_on(QUIET).state_changes, 0);
    assert_eq!(stats.actions_on(PRICEY).destroys, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_watches_matching_instances_including_new_ones() {
    let spec = |id, label: &str| InstanceSpec {
        label: Some(label.into()),
        ..InstanceSpec::new(id)
    };
    let sim = Account::of([spec(81000001, "train-a"), spec(81000002, "eval")])
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    fleet_file(
        dir.path(),
        "[defaults]\ninterval = \"300ms\"\n[discover]\nlabel = \"train-*\"\n",
    );
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    watcher
        .wait_for("train-a joined", |e| is(e, "joined", 81000001))
        .await;
    sim.control().add_instance(spec(81000003, "train-b"));
    watcher
        .wait_for("train-b joined", |e| {
            is(e, "joined", 81000003) && e["label"] == "train-b"
        })
        .await;
    let finished = watcher.terminate().await;
    assert!(!finished.events.iter().any(|e| is(e, "joined", 81000002)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlisted_instances_are_reported_as_orphans_when_the_set_changes() {
    let sim = Account::of([InstanceSpec::new(82000001), InstanceSpec::new(82000002)])
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    fleet_file(
        dir.path(),
        "[defaults]\ninterval = \"300ms\"\n[[instance]]\nid = 82000001\n",
    );
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    let first = watcher
        .wait_for("the orphans", |e| e["event"] == "orphans")
        .await;
    assert_eq!(first["ids"], serde_json::json!([82000002]));
    sim.control().add_instance(InstanceSpec::new(82000003));
    watcher
        .wait_for_n("the changed orphans", 2, |e| e["event"] == "orphans")
        .await;
    let finished = watcher.terminate().await;
    let orphans: Vec<&Value> = finished
        .events
        .iter()
        .filter(|e| e["event"] == "orphans")
        .collect();
    assert_eq!(orphans.len(), 2, "only when the set changes: {orphans:?}");
    assert_eq!(orphans[1]["ids"], serde_json::json!([82000002, 82000003]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_leaves_listed_instances_out_without_calling_them_orphans_and_filters_discovery() {
    let spec = |id, label: &str| InstanceSpec {
        label: Some(label.into()),
        ..InstanceSpec::new(id)
    };
    let sim = Account::of([
        spec(83000001, "train-a"),
        spec(83000002, "eval"),
        spec(83000003, "train-x"),
        spec(83000004, "render-x"),
    ])
    .start()
    .await;
    let dir = tempfile::tempdir().unwrap();
    fleet_file(
        dir.path(),
        "[defaults]\ninterval = \"300ms\"\n[[instance]]\nid = 83000001\nlabel = \"train-a\"\n\
         [[instance]]\nid = 83000002\nlabel = \"eval\"\n",
    );
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json", "--only", "train-*"]);
    let orphans = watcher
        .wait_for("the orphans", |e| e["event"] == "orphans")
        .await;
    assert_eq!(orphans["ids"], serde_json::json!([83000003, 83000004]));
    let finished = watcher.terminate().await;
    assert!(!finished.events.iter().any(|e| is(e, "joined", 83000002)));

    // With [discover], --only narrows what joins.
    let dir = tempfile::tempdir().unwrap();
    fleet_file(
        dir.path(),
        "[defaults]\ninterval = \"300ms\"\n[discover]\nall = true\n",
    );
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json", "--only", "*-x"]);
    watcher
        .wait_for("train-x joined", |e| is(e, "joined", 83000003))
        .await;
    watcher
        .wait_for("render-x joined", |e| is(e, "joined", 83000004))
        .await;
    let finished = watcher.terminate().await;
    for left_out in [83000001, 83000002] {
        assert!(!finished.events.iter().any(|e| is(e, "joined", left_out)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_get_completions_and_actions_and_a_dead_one_is_reported_once() {
    let job = InstanceSpec {
        history: vec!["boot".into()],
        ..InstanceSpec::new(91000001)
    };
    let sim = Account::of([job]).start().await;
    let mut receiver = Receiver::start().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/hook", dead.local_addr().unwrap());
    drop(dead);
    let dir = tempfile::tempdir().unwrap();
    fleet_file(
        dir.path(),
        &format!(
            "[api]\napi_down_after = \"1s\"\n[defaults]\ninterval = \"300ms\"\n\
             [[instance]]\nid = 91000001\n\
             [[notify]]\nurl = \"{}\"\n\
             [[notify]]\nurl = \"{}\"\nformat = \"slack\"\nevents = [\"completion\"]\n\
             [[notify]]\nurl = \"{dead_url}\"\n",
            receiver.url("/json"),
            receiver.url("/slack"),
        ),
    );
    let watcher = Watcher::start(dir.path(), &sim, &["watch", "--json"]);
    watcher
        .wait_for("the history", |e| is(e, "log", 91000001))
        .await;
    crate::support::finish_job(&sim, 91000001, "https://results.example/done");
    watcher
        .wait_for("the stop", |e| is(e, "action", 91000001) && e["ok"] == true)
        .await;
    let mut hits = Vec::new();
    while hits.len() < 3 {
        hits.push(receiver.next().await);
    }
    let json: Vec<Value> = hits
        .iter()
        .filter(|h| h.path == "/json")
        .map(|h| h.json())
        .collect();
    assert!(json
        .iter()
        .any(|b| b["event"] == "completion" && b["result_url"] == "https://results.example/done"));
    assert!(json
        .iter()
        .any(|b| b["event"] == "action" && b["action"] == "stop"));
    let slack = hits.iter().find(|h| h.path == "/slack").unwrap().json();
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains("results.example/done"),
        "{slack}"
    );

    // The API goes down for longer than api_down_after, then comes back.
    sim.control()
        .inject(Fault::Status5xx(503), Lasting::For(Duration::from_secs(3)));
    let down = receiver.next().await.json();
    assert_eq!(down["event"], "api_down", "{down}");
    watcher
        .wait_for("recovered", |e| {
            e["event"] == "recovered" && e["instance"].is_null()
        })
        .await;
    // After its retries (about 15 s of backoff) the dead webhook is given up on, loudly.
    let is_complaint = |e: &Value| {
        e["event"] == "notice"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("is failing"))
    };
    watcher
        .wait_for("the dead webhook's notice", is_complaint)
        .await;
    let finished = watcher.terminate().await;
    let complaints = finished.events.iter().filter(|e| is_complaint(e)).count();
    assert_eq!(complaints, 1, "the dead webhook is reported once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_scraped_while_watching() {
    let sim = Account::of(guarded_account()).start().await;
    let dir = tempfile::tempdir().unwrap();
    fleet_file(
        dir.path(),
        "[defaults]\ninterval = \"300ms\"\n[[instance]]\nid = 71000001\nlabel = \"quiet\"\n",
    );
    let watcher = Watcher::start(
        dir.path(),
        &sim,
        &["watch", "--json", "--metrics", "127.0.0.1:0"],
    );
    watcher
        .wait_for("running", |e| is(e, "status", QUIET))
        .await;
    let stderr = watcher.stderr();
    let url = stderr
        .split_whitespace()
        .find(|w| w.starts_with("http://") && w.ends_with("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address in: {stderr}"))
        .to_owned();
    crate::support::wait_for_sweeps(&sim, 2).await;
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    for expected in [
        "vastfleet_instance_up{instance_id=\"71000001\",label=\"quiet\",status=\"running\"} 1",
        "vastfleet_api_calls_total{endpoint=\"list\",status=\"200\"}",
        "vastfleet_instance_dph{",
        "vastfleet_throttle_effective_rate",
    ] {
        assert!(text.contains(expected), "missing {expected}:\n{text}");
    }

    let port = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let other = tempfile::tempdir().unwrap();
    fleet_file(other.path(), "[[instance]]\nid = 1\n");
    let (code, _, err) = run(other.path(), Some(&sim), &["watch", "--metrics", &port]).await;
    assert_eq!(code, 2, "a taken port is bad input: {err}");
    assert!(err.contains("--metrics"), "{err}");
    watcher.terminate().await;
}
