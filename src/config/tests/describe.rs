//! The `check` summary: one row per instance with its effective policy.

use std::path::Path;

use crate::api::base_url::BaseUrl;
use crate::config::Settings;

/// The summary with the file's URL, as `check` shows it without `--api-url` or `VAST_URL`.
fn describe(settings: &Settings) -> String {
    let base = BaseUrl::resolve(None, settings.api.url.as_deref(), None);
    crate::config::describe::describe(settings, &base)
}

#[test]
fn the_summary_shows_each_instances_effective_policy() {
    let settings = Settings::from_toml(
        r#"
[api]
url = "http://127.0.0.1:9"
api_down_after = "2m"

[defaults]
max_runtime = "12h"
max_cost = 5
on_guard = "destroy"

[[instance]]
id = 28421359
label = "sdxl-train"
on_complete = "destroy"

[[instance]]
id = 7
interval = "30s"
history = 0
completion = 'eval done'
max_runtime = "none"
max_cost = 1.5
idle = { gpu_util_below = 5, for = "20m" }
on_guard = "none"
contract_warning = "1day"

[discover]
label = "train-*"

[[notify]]
url = "https://hooks.slack.com/services/T0/B0/SECRET"
format = "slack"
"#,
        Path::new("fleet.toml"),
    )
    .unwrap();
    let expected = "\
api        http://127.0.0.1:9 (fleet file or --api-url) · at most 2 calls/s, burst 4 · down after 2m · server waits up to 1m
discover   instances labelled \"train-*\"
notify     https://hooks.slack.com/… as slack on completion, failure, action, guard, budget, gone, api_down

ID        LABEL       EVERY  BACKOFF  TAIL  HISTORY  ON COMPLETE  ON FAILURE  ON EXIT  GUARDS
28421359  sdxl-train  5s     1m       200   10       destroy      -           none     runtime 12h, cost $5.00 → destroy
7         -           30s    1m       200   0        stop         -           none     cost $1.50, idle <5% 20m → report only; warn 1day before contract end

completion 'SUCCESS! NEW processing completed'
result     'https?://\\S+'
  7 completion 'eval done'
";
    assert_eq!(describe(&settings), expected);
}

#[test]
fn an_empty_fleet_says_how_to_add_one() {
    let settings =
        Settings::from_toml("[api]\nurl = \"https://x.io\"\n", Path::new("f.toml")).unwrap();
    assert!(describe(&settings).ends_with("\nno instances yet: add one with `vastfleet add ID`\n"));
}

#[test]
fn the_summary_shows_failure_rules_and_the_budget() {
    let text = "[defaults]\nfailure = 'Traceback'\non_exit = \"stop\"\n[budget]\nmax_dph = 5\n\
                max_spend = 100\n[[instance]]\nid = 1\n[[instance]]\nid = 2\nfailure = 'OOM'\n\
                on_failure = \"destroy\"\n";
    let settings = Settings::from_toml(text, Path::new("fleet.toml")).unwrap();
    let summary = describe(&settings);
    assert!(
        summary.contains(
            "budget     at most $5.00/hr · at most $100.00 spent (alerts, never actions)\n"
        ),
        "{summary}"
    );
    assert!(summary.contains("ON FAILURE  ON EXIT"), "{summary}");
    assert!(
        summary.contains("\nfailure    'Traceback'\n  2 failure    'OOM'\n"),
        "{summary}"
    );
    let rows: Vec<&str> = summary
        .lines()
        .filter(|l| l.starts_with(['1', '2']))
        .collect();
    assert!(
        rows[0].contains("stop         stop        stop"),
        "{rows:?}"
    );
    assert!(
        rows[1].contains("stop         destroy     stop"),
        "{rows:?}"
    );
}
