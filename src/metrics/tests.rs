//! Unit tests of the registry: what each event does to it, and the exact rendered text.

use std::time::{Duration, SystemTime};

use super::*;
use crate::report::event::{ActionKind, JobCost};
use crate::throttle::{Endpoint, Scope};

fn src(id: u64, label: &str) -> Source {
    Source {
        id,
        label: label.into(),
    }
}

fn feed(metrics: &Metrics, kinds: impl IntoIterator<Item = EventKind>) {
    for kind in kinds {
        metrics.observe(&Event {
            at: SystemTime::UNIX_EPOCH,
            kind,
        });
    }
}

fn status(id: u64, label: &str, status: &str) -> EventKind {
    EventKind::Status {
        source: src(id, label),
        status: status.into(),
        previous: None,
        message: None,
    }
}

fn log(id: u64, label: &str, history: bool) -> EventKind {
    EventKind::Log {
        source: src(id, label),
        line: "x".to_owned(),
        history,
    }
}

/// The samples of the rendering, without HELP/TYPE lines and without the families that are
/// not folded from events: the build, the process and the health window (tested on their own).
fn samples(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            ![
                "process_",
                "vastfleet_build_info",
                "vastfleet_sweep_stale_after",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .collect()
}

#[test]
fn an_empty_registry_still_declares_every_family_once() {
    let text = Metrics::new().render();
    let ours = |l: &&str| !l.contains(" process_");
    let types: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("# TYPE"))
        .filter(ours)
        .collect();
    let helps = text
        .lines()
        .filter(|l| l.starts_with("# HELP"))
        .filter(ours)
        .count();
    assert_eq!(types.len(), 21);
    assert_eq!(helps, 21);
    let mut names: Vec<&str> = types
        .iter()
        .map(|l| l.split(' ').nth(2).unwrap_or(""))
        .collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 21, "no family is declared twice");
    assert!(names.iter().all(|n| n.starts_with("vastfleet_")));
    let build = format!(
        r#"vastfleet_build_info{{version="{}",os="{}",arch="{}"}} 1"#,
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    assert!(text.lines().any(|l| l == build), "{text}");
    assert!(
        text.lines()
            .any(|l| l == "vastfleet_sweep_stale_after_seconds 305"),
        "the default window: api_down_after 5m plus a 5s sweep interval\n{text}"
    );
    assert_eq!(
        samples(&text),
        [
            "vastfleet_watched_instances 0",
            "vastfleet_api_rate_limited_total 0",
            "vastfleet_state_errors_total 0"
        ]
    );
}

#[test]
fn events_become_series_in_a_stable_order() {
    let m = Metrics::new();
    feed(
        &m,
        [
            EventKind::Joined {
                source: src(20, "b"),
            },
            EventKind::Joined {
                source: src(3, "a"),
            },
            status(20, "b", "running"),
            status(3, "a", "loading"),
            status(3, "a", "running"),
            log(3, "a", true),
            log(3, "a", false),
            log(3, "a", false),
            EventKind::Completion(Completion {
                source: src(3, "a"),
                count: 1,
                result_url: None,
                cost: JobCost {
                    gpu: None,
                    dph_total: Some(0.4),
                    run: None,
                },
            }),
            EventKind::Failure(Failure {
                source: src(20, "b"),
                reason: crate::report::event::FailureReason::Exited,
                count: 1,
                line: None,
                context: Vec::new(),
                cost: JobCost {
                    gpu: None,
                    dph_total: None,
                    run: None,
                },
            }),
            EventKind::Guard {
                source: src(20, "b"),
                guard: "runtime".to_owned(),
                action: Some(ActionKind::Stop),
                detail: "over 2h".to_owned(),
            },
            EventKind::Action {
                source: src(20, "b"),
                action: ActionKind::Stop,
                ok: false,
                dry_run: false,
                reason: "runtime".to_owned(),
                error: Some("503".to_owned()),
            },
            EventKind::Action {
                source: src(20, "b"),
                action: ActionKind::Stop,
                ok: true,
                dry_run: false,
                reason: "runtime".to_owned(),
                error: None,
            },
            EventKind::Throttle {
                scope: Scope::Ceiling,
                change: Change::Limited,
                per_second: 1.5,
                reason: "429".to_owned(),
            },
            EventKind::Throttle {
                scope: Scope::Endpoint(Endpoint::RequestLogs),
                change: Change::Limited,
                per_second: 0.5,
                reason: "429".to_owned(),
            },
        ],
    );
    m.set_instance_cost(20, Some(1.25), Some(3.5));
    m.record_api_call("list", "200");
    m.record_api_call("list", "429");
    m.record_api_call("destroy", "200");

    assert_eq!(
        samples(&m.render()),
        [
            "vastfleet_watched_instances 2",
            r#"vastfleet_instance_up{instance_id="3",label="a",status="running"} 1"#,
            r#"vastfleet_instance_up{instance_id="20",label="b",status="running"} 1"#,
            r#"vastfleet_instance_dph{instance_id="3",label="a"} 0.4"#,
            r#"vastfleet_instance_dph{instance_id="20",label="b"} 1.25"#,
            r#"vastfleet_instance_spend_usd{instance_id="20",label="b"} 3.5"#,
            r#"vastfleet_last_log_timestamp_seconds{instance_id="3",label="a"} 0"#,
            r#"vastfleet_last_log_timestamp_seconds{instance_id="20",label="b"} 0"#,
            r#"vastfleet_completions_total{instance_id="3",label="a"} 1"#,
            r#"vastfleet_failures_total{instance_id="20",label="b",reason="exited"} 1"#,
            r#"vastfleet_guard_firings_total{instance_id="20",label="b",guard="runtime"} 1"#,
            r#"vastfleet_actions_total{instance_id="20",label="b",action="stop",ok="false"} 1"#,
            r#"vastfleet_actions_total{instance_id="20",label="b",action="stop",ok="true"} 1"#,
            r#"vastfleet_log_lines_total{instance_id="3",label="a"} 2"#,
            r#"vastfleet_api_calls_total{endpoint="destroy",status="200"} 1"#,
            r#"vastfleet_api_calls_total{endpoint="list",status="200"} 1"#,
            r#"vastfleet_api_calls_total{endpoint="list",status="429"} 1"#,
            "vastfleet_api_rate_limited_total 1",
            "vastfleet_throttle_effective_rate 1.5",
            r#"vastfleet_throttle_pace{endpoint="request_logs"} 0.5"#,
            r#"vastfleet_throttle_limited{endpoint="request_logs"} 1"#,
            "vastfleet_state_errors_total 0",
        ]
    );
}

#[test]
fn leaving_removes_gauges_but_keeps_counters() {
    let m = Metrics::new();
    feed(&m, [status(7, "gpu", "running"), log(7, "gpu", false)]);
    m.set_backoff("gpu", 4.0);
    m.set_instance_cost(7, Some(0.5), None);
    feed(
        &m,
        [EventKind::Left {
            source: src(7, "gpu"),
        }],
    );
    m.set_instance_cost(7, Some(0.5), Some(1.0));

    assert_eq!(
        samples(&m.render()),
        [
            "vastfleet_watched_instances 0",
            r#"vastfleet_log_lines_total{instance_id="7",label="gpu"} 1"#,
            "vastfleet_api_rate_limited_total 0",
            "vastfleet_state_errors_total 0",
        ]
    );
}

#[test]
fn api_errors_count_by_scope_and_drive_the_backoff_gauge() {
    let m = Metrics::new();
    let error = |source: Option<Source>, secs| EventKind::ApiError {
        source,
        attempt: 1,
        retry_in: Duration::from_secs(secs),
        error: "503".to_owned(),
    };
    feed(
        &m,
        [
            error(None, 5),
            error(None, 10),
            error(Some(src(1, "w")), 2),
            EventKind::Recovered {
                source: None,
                failed_attempts: 2,
            },
        ],
    );
    let text = m.render();
    let api: Vec<&str> = samples(&text)
        .into_iter()
        .filter(|l| l.contains("errors") || l.contains("backoff"))
        .collect();
    assert_eq!(
        api,
        [
            r#"vastfleet_api_errors_total{scope="fleet"} 2"#,
            r#"vastfleet_api_errors_total{scope="w"} 1"#,
            r#"vastfleet_backoff_seconds{scope="fleet"} 0"#,
            r#"vastfleet_backoff_seconds{scope="w"} 2"#,
            "vastfleet_state_errors_total 0",
        ]
    );
}

#[test]
fn dry_runs_and_awkward_labels_render_safely() {
    let m = Metrics::new();
    let label = "a \"quoted\"\\label\nwith newline";
    feed(
        &m,
        [EventKind::Action {
            source: src(9, label),
            action: ActionKind::Destroy,
            ok: true,
            dry_run: true,
            reason: "completion".to_owned(),
            error: None,
        }],
    );
    let text = m.render();
    assert!(text.contains(
        r#"vastfleet_actions_total{instance_id="9",label="a \"quoted\"\\label\nwith newline",action="destroy",ok="dry_run"} 1"#
    ));
    assert!(
        text.lines().all(|l| !l.is_empty()),
        "no raw newline leaks into a sample"
    );
}

#[test]
fn only_loopback_metrics_addresses_go_without_a_warning() {
    for quiet in ["127.0.0.1:9000", "[::1]:9000", "127.0.0.2:0"] {
        assert_eq!(
            super::exposure_warning(quiet.parse().unwrap()),
            None,
            "{quiet}"
        );
    }
    let warning = super::exposure_warning("0.0.0.0:9184".parse().unwrap()).unwrap();
    assert!(
        warning.starts_with(
            "vastfleet: warning: --metrics 0.0.0.0:9184 is reachable from other machines"
        ),
        "{warning}"
    );
    assert!(warning.contains("--metrics 127.0.0.1:9184"), "{warning}");
    assert!(super::exposure_warning("[::]:9184".parse().unwrap()).is_some());
}

#[test]
fn the_last_log_time_starts_when_watching_does_and_moves_with_new_lines_only() {
    let m = Metrics::new();
    let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    let gauge = |m: &Metrics| {
        m.render()
            .lines()
            .find(|l| l.starts_with("vastfleet_last_log_timestamp_seconds{"))
            .map(str::to_owned)
    };
    m.observe(&Event {
        at: at(100),
        kind: EventKind::Joined {
            source: src(5, "q"),
        },
    });
    let joined = r#"vastfleet_last_log_timestamp_seconds{instance_id="5",label="q"} 100"#;
    assert_eq!(gauge(&m).as_deref(), Some(joined), "silent since it joined");
    for (secs, kind) in [(150, log(5, "q", true)), (160, status(5, "q", "running"))] {
        m.observe(&Event { at: at(secs), kind });
    }
    assert_eq!(
        gauge(&m).as_deref(),
        Some(joined),
        "history and statuses are no new line"
    );
    m.observe(&Event {
        at: at(200),
        kind: log(5, "q", false),
    });
    assert_eq!(
        gauge(&m).as_deref(),
        Some(r#"vastfleet_last_log_timestamp_seconds{instance_id="5",label="q"} 200"#)
    );
}
