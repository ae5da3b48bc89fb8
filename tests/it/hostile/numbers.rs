//! Impossible numbers: a row that lies is not acted on, and one bad row never blinds the rest.

use super::*;

/// Waits until the server has answered `more` further list calls (sweeps).
async fn sweeps(server: &Hostile, more: u64) {
    let target = server.seen(|s| s.list_calls) + more;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.seen(|s| s.list_calls) < target {
        assert!(std::time::Instant::now() < deadline, "no sweeps");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn non_finite_numbers_in_another_row_do_not_fail_the_sweep() {
    let rows = format!(
        r#"[{}, {{"id": 2, "actual_status": "running", "dph_total": NaN, "gpu_util": Infinity,
             "start_date": -Infinity, "disk_usage": 1e999}}]"#,
        running(1)
    );
    let server = Hostile::start(Script {
        rows,
        ..Script::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path(), "");
    let output = server
        .command(dir.path(), &["status", "--json"])
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let row: Value = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|row| row["instance"] == 1)
        .unwrap_or_else(|| panic!("no row of instance 1: {stdout}"));
    assert_eq!(row["status"], "running", "{row}");

    let watcher = support::Watcher::spawn(server.command(dir.path(), &["watch", "--json"]));
    let seen = watcher
        .wait_for("instance 1's status", |e| support::is(e, "status", 1))
        .await;
    assert_eq!(seen["status"], "running");
    sweeps(&server, 3).await;
    let done = watcher.terminate().await;
    let errors: Vec<&Value> = done
        .events
        .iter()
        .filter(|e| e["event"] == "api_error")
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[tokio::test]
async fn a_row_with_impossible_start_and_price_fires_no_guard_and_is_said_once() {
    let mut liar = running(1);
    liar["start_date"] = json!(0);
    liar["dph_total"] = json!(1e308);
    let server = Hostile::start(Script {
        rows: json!([liar]).to_string(),
        ..Script::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    fleet(
        dir.path(),
        "max_runtime = \"1m\"\nmax_cost = 1.0\non_guard = \"destroy\"\n[budget]\nmax_dph = 5.0\n",
    );
    let watcher = support::Watcher::spawn(server.command(dir.path(), &["watch", "--json"]));
    let note = watcher
        .wait_for("the impossible-values notice", |e| {
            support::is(e, "notice", 1)
                && e["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("impossible values")
        })
        .await;
    assert_eq!(
        note["message"],
        "the API sent impossible values (start_date, dph_total); guards and the budget ignore \
         them while the rows keep them"
    );
    sweeps(&server, 5).await;
    let done = watcher.terminate().await;
    assert!(done.status.success(), "{}", done.stderr);
    assert_eq!(server.seen(|s| s.actions.clone()), Vec::<String>::new());
    let fired: Vec<&Value> = done
        .events
        .iter()
        .filter(|e| ["guard", "budget", "action"].contains(&e["event"].as_str().unwrap_or("")))
        .collect();
    assert!(fired.is_empty(), "{fired:?}");
    let notes = done
        .events
        .iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .unwrap_or("")
                .contains("impossible values")
        })
        .count();
    assert_eq!(notes, 1, "said once while the row keeps lying");
}
