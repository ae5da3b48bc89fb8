//! The key never shows: not in an echoed reply, not in a URL given back.

use super::*;

#[tokio::test]
async fn a_request_logs_reply_echoing_the_key_leaks_no_piece_of_it() {
    let server = Hostile::start(Script {
        logs_reply: LogsReply::EchoAuth,
        ..Script::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path(), "");
    let watcher = support::Watcher::spawn(server.command(dir.path(), &["watch", "--json"]));
    let error = watcher
        .wait_for("an api_error for the logs", |e| {
            support::is(e, "api_error", 1)
        })
        .await;
    let text = error["error"].as_str().unwrap();
    // Scrubbed before the quote was cut: the cut falls inside the marker, not the key.
    assert!(text.ends_with("Authorization: Bearer <reda…"), "{text}");
    let done = watcher.terminate().await;
    let stdout = done.events.iter().map(Value::to_string).collect::<String>();
    assert_no_key(&stdout, "stdout");
    assert_no_key(&done.stderr, "stderr");
}

#[tokio::test]
async fn an_invalid_api_url_is_shown_without_its_credentials() {
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path(), "");
    for url in [
        format!("http://user:{KEY}@127.0.0.1:1/?x=1"),
        format!("http://127.0.0.1:1/?api_key={KEY}"),
        format!("ftp://127.0.0.1:1/?api_key={KEY}"),
    ] {
        let server = Hostile::start(Script::default()).await;
        let output = server
            .command(dir.path(), &["watch", "--api-url", &url, "--json"])
            .output()
            .await
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        assert_eq!(output.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains("invalid API base URL"), "{stderr}");
        assert_no_key(&stdout, "stdout");
        assert_no_key(&stderr, "stderr");
    }
}

#[tokio::test]
async fn a_key_pasted_into_the_fleet_file_is_not_quoted_back() {
    let server = Hostile::start(Script::default()).await;
    let dir = tempfile::tempdir().unwrap();
    // A type error names the key and an example, never the value; an unknown value is quoted,
    // and the last-net scrub takes the key out of it.
    let cases = [
        (
            format!("[[instance]]\nid = 1\nmax_cost = \"{KEY}\"\n"),
            "fleet.toml:3:12: `max_cost` must be a number, like max_cost = 5.0",
            false,
        ),
        (
            format!("[[instance]]\nid = 1\non_complete = \"{KEY}\"\n"),
            "fleet.toml:3:15: unknown value",
            true,
        ),
    ];
    for (text, expected, redacted) in cases {
        support::fleet_file(dir.path(), &text);
        for args in [&["check"][..], &["watch"], &["status"]] {
            let output = server.command(dir.path(), args).output().await.unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains(expected), "{stderr}");
            assert_eq!(stderr.contains("<redacted>"), redacted, "{stderr}");
            assert_no_key(&stderr, "stderr");
        }
    }
}
