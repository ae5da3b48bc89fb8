//! The JSON contract: every event parsed back and compared field for field, types included.

use std::time::Duration;

use serde_json::{json, Value};
use vastfleet::report::event::{
    ActionKind, BudgetKind, Completion, EventKind, Failure, FailureReason, InstanceSummary,
    JobCost, Resume, RunCost,
};
use vastfleet::report::{Format, LineFilter, Writer};
use vastfleet::throttle::{Change, Endpoint, Scope, ThrottleStats};

use super::{ev, log, src, status};

const TS: &str = "2024-05-01T12:03:07.250Z";

fn parse(kind: EventKind) -> Value {
    let line = Writer::new(Format::Json, LineFilter::default())
        .render(&ev(kind))
        .unwrap();
    assert!(!line.contains('\n'), "one line: {line:?}");
    serde_json::from_str(&line).unwrap()
}

/// The common fields of an instance event plus `extra`.
fn instance(event: &str, extra: Value) -> Value {
    let mut object = json!({ "ts": TS, "event": event, "instance": 101, "label": "gpu-a" });
    object
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    object
}

fn fleet(event: &str, extra: Value) -> Value {
    let mut object = json!({ "ts": TS, "event": event });
    object
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    object
}

#[test]
fn instance_events_follow_the_contract() {
    let a = src(101, "gpu-a");
    let cases: Vec<(EventKind, Value)> = vec![
        (
            EventKind::Joined { source: a.clone() },
            instance("joined", json!({})),
        ),
        (
            EventKind::Left { source: a.clone() },
            instance("left", json!({})),
        ),
        (
            status(&a, "stopped", Some("running")).kind,
            instance(
                "status",
                json!({ "status": "stopped", "previous": "running", "message": null }),
            ),
        ),
        (
            EventKind::Status {
                source: a.clone(),
                status: "loading".into(),
                previous: None,
                message: Some("pulling".into()),
            },
            instance(
                "status",
                json!({ "status": "loading", "previous": null, "message": "pulling" }),
            ),
        ),
        (
            status(&a, "gone", Some("stopped")).kind,
            instance(
                "status",
                json!({ "status": "gone", "previous": "stopped", "message": null }),
            ),
        ),
        (
            log(&a, "epoch 1\u{1b}[0m\r\n").kind,
            instance(
                "log",
                json!({ "line": "epoch 1\u{1b}[0m", "history": false }),
            ),
        ),
        (
            EventKind::Log {
                source: a.clone(),
                line: "old".into(),
                history: true,
            },
            instance("log", json!({ "line": "old", "history": true })),
        ),
        (
            EventKind::Gap {
                source: a.clone(),
                tail: 10_000,
            },
            instance("gap", json!({ "tail": 10_000 })),
        ),
        (
            EventKind::ApiError {
                source: Some(a.clone()),
                attempt: 3,
                retry_in: Duration::from_millis(20_250),
                error: "HTTP 502".into(),
            },
            instance(
                "api_error",
                json!({ "attempt": 3, "retry_in_ms": 20_250, "error": "HTTP 502" }),
            ),
        ),
        (
            EventKind::Recovered {
                source: Some(a.clone()),
                failed_attempts: 3,
            },
            instance("recovered", json!({ "failed_attempts": 3 })),
        ),
        (
            EventKind::Completion(Completion {
                source: a.clone(),
                count: 2,
                result_url: Some("https://s3.example/out".into()),
                cost: JobCost {
                    gpu: Some("RTX 4090 ×2".into()),
                    dph_total: Some(1.23),
                    run: None,
                },
            }),
            instance(
                "completion",
                json!({ "count": 2, "result_url": "https://s3.example/out", "gpu": "RTX 4090 ×2", "dph_total": 1.23 }),
            ),
        ),
        (
            EventKind::Completion(Completion {
                source: a.clone(),
                count: 1,
                result_url: None,
                cost: JobCost {
                    gpu: None,
                    dph_total: Some(f64::NAN),
                    run: None,
                },
            }),
            instance(
                "completion",
                json!({ "count": 1, "result_url": null, "gpu": null, "dph_total": null }),
            ),
        ),
        (
            EventKind::Failure(Failure {
                source: a.clone(),
                reason: FailureReason::Log,
                count: 1,
                line: Some("torch.OutOfMemoryError: CUDA out of memory\n".into()),
                context: vec!["Traceback (most recent call last):".into()],
                cost: JobCost {
                    gpu: Some("8x H100".into()),
                    dph_total: Some(24.0),
                    run: Some(RunCost {
                        duration: Duration::from_secs(5400),
                        cost_usd: Some(36.004),
                    }),
                },
            }),
            instance(
                "failure",
                json!({
                    "reason": "log",
                    "count": 1,
                    "line": "torch.OutOfMemoryError: CUDA out of memory",
                    "context": ["Traceback (most recent call last):"],
                    "gpu": "8x H100",
                    "dph_total": 24.0,
                    "duration_s": 5400,
                    "cost_usd": 36.0,
                }),
            ),
        ),
        (
            EventKind::OldFailures {
                source: a.clone(),
                count: 2,
            },
            instance("old_failures", json!({ "count": 2 })),
        ),
        (
            EventKind::OldCompletions {
                source: a.clone(),
                count: 3,
            },
            instance("old_completions", json!({ "count": 3 })),
        ),
        (
            EventKind::Action {
                source: a.clone(),
                action: ActionKind::Destroy,
                ok: false,
                dry_run: false,
                reason: "completion".into(),
                error: Some("HTTP 500".into()),
            },
            instance(
                "action",
                json!({ "action": "destroy", "ok": false, "dry_run": false, "reason": "completion", "error": "HTTP 500" }),
            ),
        ),
        (
            EventKind::Action {
                source: a.clone(),
                action: ActionKind::Stop,
                ok: true,
                dry_run: true,
                reason: "max_runtime".into(),
                error: None,
            },
            instance(
                "action",
                json!({ "action": "stop", "ok": true, "dry_run": true, "reason": "max_runtime", "error": null }),
            ),
        ),
        (
            EventKind::Guard {
                source: a.clone(),
                guard: "max_cost".into(),
                action: Some(ActionKind::Stop),
                detail: "spent $12.00".into(),
            },
            instance(
                "guard",
                json!({ "guard": "max_cost", "action": "stop", "detail": "spent $12.00" }),
            ),
        ),
        (
            EventKind::Guard {
                source: a.clone(),
                guard: "idle".into(),
                action: None,
                detail: "quiet".into(),
            },
            instance(
                "guard",
                json!({ "guard": "idle", "action": null, "detail": "quiet" }),
            ),
        ),
    ];
    for (kind, want) in cases {
        let name = kind.name();
        assert_eq!(parse(kind), want, "event {name}");
    }
}

#[test]
fn fleet_events_follow_the_contract() {
    let cases: Vec<(EventKind, Value)> = vec![
        (
            EventKind::ApiError {
                source: None,
                attempt: 1,
                retry_in: Duration::from_secs(5),
                error: "timed out".into(),
            },
            fleet(
                "api_error",
                json!({ "attempt": 1, "retry_in_ms": 5000, "error": "timed out" }),
            ),
        ),
        (
            EventKind::Recovered {
                source: None,
                failed_attempts: 2,
            },
            fleet("recovered", json!({ "failed_attempts": 2 })),
        ),
        (
            EventKind::Throttle {
                scope: Scope::Endpoint(Endpoint::List),
                change: Change::Limited,
                per_second: 2.5,
                reason: "HTTP 429".into(),
            },
            fleet(
                "throttle",
                json!({
                    "endpoint": "list",
                    "scope": "endpoint",
                    "change": "limited",
                    "per_second": 2.5,
                    "reason": "HTTP 429",
                }),
            ),
        ),
        (
            EventKind::Reload {
                added: vec![1, 2],
                removed: vec![],
                changed: vec![3],
            },
            fleet(
                "reload",
                json!({ "added": [1, 2], "removed": [], "changed": [3] }),
            ),
        ),
        (
            EventKind::ReloadRejected {
                error: "bad".into(),
            },
            fleet("reload_rejected", json!({ "error": "bad" })),
        ),
        (
            EventKind::Orphans { ids: vec![7, 8] },
            fleet("orphans", json!({ "ids": [7, 8] })),
        ),
        (
            EventKind::Notice {
                message: "hello".into(),
            },
            fleet("notice", json!({ "message": "hello" })),
        ),
        (
            EventKind::Budget {
                limit: BudgetKind::MaxDph,
                value: 20.456,
                max: 20.0,
            },
            fleet(
                "budget",
                json!({ "limit": "max_dph", "value": 20.46, "max": 20.0 }),
            ),
        ),
        (
            EventKind::Shutdown {
                summary: vec![
                    InstanceSummary {
                        source: src(101, "gpu-a"),
                        status: Some("stopped".into()),
                        completions: 2,
                        failures: 1,
                        actions: vec![ActionKind::Stop, ActionKind::Destroy],
                        dph_total: Some(0.5),
                        spend_usd: Some(3.254),
                    },
                    InstanceSummary {
                        source: src(202, "202"),
                        status: None,
                        completions: 0,
                        failures: 0,
                        actions: vec![],
                        dph_total: None,
                        spend_usd: None,
                    },
                ],
                api: ThrottleStats {
                    calls: [
                        (Endpoint::List, 40),
                        (Endpoint::RequestLogs, 20),
                        (Endpoint::Destroy, 0),
                    ]
                    .into(),
                    rate_limited: [(Endpoint::RequestLogs, 3)].into(),
                    per_second: 0.8333333,
                },
                resume: Resume::Watch {
                    command: "vastfleet watch fleet.toml".into(),
                },
            },
            fleet(
                "shutdown",
                json!({
                    "instances": [
                        { "instance": 101, "label": "gpu-a", "status": "stopped", "completions": 2, "failures": 1, "actions": ["stop", "destroy"], "dph_total": 0.5, "spend_usd": 3.25 },
                        { "instance": 202, "label": "202", "status": null, "completions": 0, "failures": 0, "actions": [], "dph_total": null, "spend_usd": null },
                    ],
                    "api": {
                        "calls": 60,
                        "rate_limited": 3,
                        "by_endpoint": {
                            "list": { "calls": 40, "rate_limited": 0 },
                            "request_logs": { "calls": 20, "rate_limited": 3 },
                        },
                        "per_second": 0.833,
                    },
                    "resume": "vastfleet watch fleet.toml",
                    "destroy": "vastfleet destroy 101 202",
                    "totals": {
                        "instances": 2,
                        "by_status": { "stopped": 1, "unknown": 1 },
                        "dph_now": 0.0,
                        "spent_usd": 3.25,
                    },
                }),
            ),
        ),
    ];
    for (kind, want) in cases {
        let name = kind.name();
        assert_eq!(parse(kind), want, "event {name}");
    }
}

#[test]
fn raw_control_characters_are_escaped_on_one_line() {
    let line = Writer::new(Format::Json, LineFilter::default())
        .render(&log(&src(1, "a"), "a\u{1b}[2Jb\nc"))
        .unwrap();
    assert!(line.contains(r#""line":"a\u001b[2Jb\nc""#), "{line}");
    assert!(!line.contains('\u{1b}') && !line.contains('\n'));
}
