//! What a valid file turns into: defaults merged, overrides applied, every section parsed.

use std::path::Path;
use std::time::Duration;

use crate::config::settings::DEFAULT_API_URL;
use crate::config::{ContractWarning, Discover, IdleGuard, Overrides, Policy, Settings};
use crate::notify::{Format, Topic};
use crate::report::event::ActionKind;

fn load(text: &str) -> Settings {
    Settings::from_toml(text, Path::new("fleet.toml")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn defaults_merge_into_instances_and_instances_override_them() {
    let settings = load(
        r#"
[defaults]
interval = "10s"
tail = 50
completion = 'DONE'
on_complete = "destroy"
max_runtime = "12h"
idle = { gpu_util_below = 5, for = "20m" }
on_guard = "none"

[[instance]]
id = 1

[[instance]]
id = 2
label = "fast"
interval = "2s"
history = 0
result = 'gs://\S+'
on_complete = "none"
max_runtime = "none"
idle = { gpu_util_below = 1, for = "1h" }
silent = "30m"
on_guard = "stop"
"#,
    );
    let defaults = Policy {
        interval: Duration::from_secs(10),
        tail: 50,
        completion: regex::Regex::new("DONE").unwrap().into(),
        on_complete: Some(ActionKind::Destroy),
        ..Policy::default()
    };
    let mut first = defaults.clone();
    first.guards.max_runtime = Some(Duration::from_secs(12 * 3600));
    first.guards.idle = Some(IdleGuard {
        gpu_util_below: 5.0,
        duration: Duration::from_secs(1200),
    });
    first.guards.on_guard = None;
    assert_eq!(settings.defaults, first);
    assert_eq!(settings.instances[0].policy, first);
    assert_eq!(settings.instances[0].display_label(), "1");

    let mut second = first.clone();
    second.interval = Duration::from_secs(2);
    second.history = Some(0);
    second.result = regex::Regex::new(r"gs://\S+").unwrap().into();
    second.on_complete = None;
    second.guards.max_runtime = None;
    second.guards.idle = Some(IdleGuard {
        gpu_util_below: 1.0,
        duration: Duration::from_secs(3600),
    });
    second.guards.silent = Some(Duration::from_secs(1800));
    second.guards.on_guard = Some(ActionKind::Stop);
    assert_eq!(settings.instances[1].policy, second);
    assert_eq!(settings.instances[1].display_label(), "fast");
    assert_ne!(first, second, "PartialEq sees the guards");
}

#[test]
fn an_empty_file_is_a_valid_empty_fleet_with_every_default() {
    let settings = load("");
    assert!(settings.instances.is_empty());
    assert_eq!(settings.defaults, Policy::default());
    assert_eq!(settings.api.url, None);
    assert_eq!(
        settings.api.rate_limit,
        crate::throttle::RateLimit::default()
    );
    assert_eq!(settings.api_down_after, Duration::from_secs(300));
    assert!(
        settings.discover.is_none() && settings.notify.is_empty() && settings.warnings.is_empty()
    );
}

#[test]
fn an_unset_backoff_cap_grows_with_a_long_interval() {
    let settings = load("[[instance]]\nid = 1\ninterval = \"2m\"\n");
    assert_eq!(
        settings.instances[0].policy.max_backoff,
        Duration::from_secs(120)
    );
}

#[test]
fn api_discover_and_notify_parse() {
    let settings = load(
        r#"
[api]
url = "http://127.0.0.1:8080"
rate_limit = { per_second = 0.5, burst = 1 }
api_down_after = "90s"

[discover]
label = "train-*"

[[notify]]
url = "https://hooks.slack.com/services/T0/B0/SECRET"
events = ["guard", "completion", "guard"]
format = "slack"

[[notify]]
url = "https://ntfy.sh/fleet"
"#,
    );
    assert_eq!(settings.api.url.as_deref(), Some("http://127.0.0.1:8080"));
    assert_eq!(settings.api.rate_limit.per_second, 0.5);
    assert_eq!(settings.api.rate_limit.burst, 1);
    assert_eq!(settings.api_down_after, Duration::from_secs(90));
    let discover = settings.discover.as_ref().unwrap();
    assert!(
        discover.matches(Some("train-7"))
            && !discover.matches(Some("eval"))
            && !discover.matches(None)
    );
    assert_eq!(settings.notify[0].topics, [Topic::Guard, Topic::Completion]);
    assert_eq!(settings.notify[0].format, Format::Slack);
    assert!(settings.notify[0].wants(Topic::Guard) && !settings.notify[0].wants(Topic::Gone));
    assert_eq!(
        settings.notify[1].topics,
        [
            Topic::Completion,
            Topic::Failure,
            Topic::Action,
            Topic::Guard,
            Topic::Budget,
            Topic::Gone,
            Topic::ApiDown
        ]
    );
    assert_eq!(settings.notify[1].format, Format::Json);
    let debug = format!("{settings:?}");
    assert!(
        !debug.contains("SECRET"),
        "webhook secrets stay out of Debug: {debug}"
    );
    assert!(debug.contains("https://hooks.slack.com/…"));
    assert_eq!(
        load("[discover]\nall = true\n").discover,
        Some(Discover::All)
    );
}

#[test]
fn a_label_used_twice_is_a_warning_with_both_lines() {
    let settings =
        load("[[instance]]\nid = 1\nlabel = \"w\"\n\n[[instance]]\nid = 2\nlabel = \"w\"\n");
    assert_eq!(settings.instances.len(), 2);
    let warnings: Vec<String> = settings.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        ["fleet.toml:7:9: label \"w\" is also used by instance 1 (line 2)\n  help: lines of both instances will carry the same prefix; give each its own label"]
    );
}

#[test]
fn overrides_win_over_the_file_for_every_instance() {
    let mut settings = load("[defaults]\non_complete = \"destroy\"\n[[instance]]\nid = 1\n[[instance]]\nid = 2\ninterval = \"1s\"\n");
    settings.apply(&Overrides {
        interval: Some(Duration::from_secs(90)),
        full_history: true,
        on_complete: Some(None),
        api_url: Some("http://localhost:1".into()),
    });
    for policy in
        std::iter::once(&settings.defaults).chain(settings.instances.iter().map(|i| &i.policy))
    {
        assert_eq!(policy.interval, Duration::from_secs(90));
        assert_eq!(
            policy.max_backoff,
            Duration::from_secs(90),
            "the cap follows a longer interval"
        );
        assert_eq!(policy.history, None);
        assert_eq!(policy.on_complete, None);
    }
    assert_eq!(settings.api.url.as_deref(), Some("http://localhost:1"));

    let mut untouched = load("[[instance]]\nid = 1\n");
    untouched.apply(&Overrides::default());
    assert_eq!(
        untouched.instances,
        load("[[instance]]\nid = 1\n").instances
    );
}

#[test]
fn a_fleet_from_ids_has_the_defaults_and_the_overrides() {
    let overrides = Overrides {
        on_complete: Some(Some(ActionKind::Destroy)),
        ..Overrides::default()
    };
    let settings = Settings::from_ids(&[5, 6, 5], &overrides).unwrap();
    let ids: Vec<u64> = settings.instances.iter().map(|i| i.id).collect();
    assert_eq!(ids, [5, 6]);
    assert_eq!(settings.path, None);
    assert_eq!(
        settings.instances[0].policy.on_complete,
        Some(ActionKind::Destroy)
    );
    assert_eq!(
        settings.instances[1].policy.interval,
        Policy::default().interval
    );
    let err = Settings::from_ids(&[0], &overrides)
        .unwrap_err()
        .to_string();
    assert_eq!(err, "--id 0 is not an instance id\n  help: instance ids are the positive numbers `vastai show instances` lists");
}

#[test]
fn the_interval_flag_follows_the_file_rules() {
    use crate::config::settings::parse_interval_flag;
    assert_eq!(parse_interval_flag("2s"), Ok(Duration::from_secs(2)));
    assert_eq!(
        parse_interval_flag("10ms").unwrap_err().to_string(),
        "--interval \"10ms\" is shorter than 100ms\n  help: polling faster only queues calls behind the shared rate limiter"
    );
    assert!(parse_interval_flag("soon")
        .unwrap_err()
        .to_string()
        .starts_with("--interval \"soon\": "));
}

#[test]
fn a_missing_file_says_how_to_create_one() {
    let err = Settings::load(Path::new("/nonexistent/fleet.toml"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "/nonexistent/fleet.toml: cannot read the fleet file: No such file or directory (os error 2)\n  help: create it with `vastfleet add ID` (it starts from a commented template)"
    );
}

#[test]
fn the_template_and_the_example_are_valid() {
    assert!(load(crate::config::edit::TEMPLATE).instances.is_empty());
    let example = load(include_str!("../../../examples/fleet.toml"));
    assert_eq!(example.instances.len(), 2);
    assert_eq!(example.api.url.as_deref(), Some(DEFAULT_API_URL));
    assert!(example.instances.iter().all(|i| i.policy.guards.any()));
    assert_eq!(example.notify.len(), 2);
}

#[test]
fn contract_warning_none_stays_off_where_unset_means_the_default() {
    let settings = load(
        r#"
[defaults]
contract_warning = "none"

[[instance]]
id = 1

[[instance]]
id = 2
contract_warning = "2h"

[[instance]]
id = 3
contract_warning = "none"
"#,
    );
    let warning = |i: usize| settings.instances[i].policy.guards.contract_warning;
    assert_eq!(
        settings.defaults.guards.contract_warning,
        ContractWarning::Off
    );
    assert_eq!(warning(0), ContractWarning::Off);
    assert_eq!(
        warning(1),
        ContractWarning::Within(Duration::from_secs(7200))
    );
    assert_eq!(warning(2), ContractWarning::Off);
    assert_eq!(warning(0).lead(), None);
    let unset = load("[[instance]]\nid = 1\n").instances[0]
        .policy
        .guards
        .contract_warning;
    assert_eq!(unset, ContractWarning::Default);
    assert_eq!(unset.lead(), Some(Duration::from_secs(24 * 3600)));
}
