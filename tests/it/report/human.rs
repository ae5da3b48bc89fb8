//! The human stream, colour off unless a test is about colour; local offset +02:00.

use std::time::Duration;

use anstyle::{AnsiColor, Color, Style};
use regex::Regex;
use vastfleet::report::clock::TimeZone;
use vastfleet::report::event::{
    ActionKind, BudgetKind, Completion, EventKind, Failure, FailureReason, InstanceSummary,
    JobCost, Resume, RunCost,
};
use vastfleet::report::style::label_color;
use vastfleet::report::{Format, HumanOptions, LineFilter, Writer};
use vastfleet::throttle::{Change, Endpoint, Scope, ThrottleStats};

use super::{ev, log, src, status};

/// A zone at +02:00 all year.
fn plus_two() -> TimeZone {
    TimeZone::fixed(jiff::tz::offset(2))
}

fn options() -> HumanOptions {
    HumanOptions::new(false, plus_two())
}

fn writer(options: HumanOptions) -> Writer {
    Writer::new(Format::Human(options), LineFilter::default())
}

fn render_one(kind: EventKind) -> String {
    writer(options()).render(&ev(kind)).unwrap()
}

fn action(kind: ActionKind, ok: bool, dry_run: bool, error: Option<&str>) -> EventKind {
    EventKind::Action {
        source: src(101, "gpu-a"),
        action: kind,
        ok,
        dry_run,
        reason: "completion".to_string(),
        error: error.map(str::to_string),
    }
}

#[test]
fn every_event_kind_renders_exactly() {
    let a = src(101, "gpu-a");
    let cases: Vec<(EventKind, &str)> = vec![
        (EventKind::Joined { source: a.clone() }, "❓ gpu-a │ watching instance 101"),
        (EventKind::Left { source: a.clone() }, "❓ gpu-a │ no longer watching instance 101"),
        (
            EventKind::Status {
                source: a.clone(),
                status: "loading".into(),
                previous: None,
                message: Some("0d30c18b26f8: Downloading ".into()),
            },
            "⏳ gpu-a │ status: loading — 0d30c18b26f8: Downloading",
        ),
        (status(&a, "stopped", Some("running")).kind, "💤 gpu-a │ running → stopped"),
        (status(&a, "gone", Some("stopped")).kind, "✖  gpu-a │ stopped → gone"),
        (log(&a, "epoch 1/10 loss=0.42\n").kind, "❓ gpu-a │ epoch 1/10 loss=0.42"),
        (
            EventKind::Gap { source: a.clone(), tail: 10_000 },
            "❓ gpu-a │ ── gap: the log outran its 10000-line tail; lines may be missing here ──",
        ),
        (
            EventKind::ApiError {
                source: Some(a.clone()),
                attempt: 3,
                retry_in: Duration::from_secs(20),
                error: "HTTP 502 Bad Gateway".into(),
            },
            "❓ gpu-a │ API error (attempt 3, retrying in 20s): HTTP 502 Bad Gateway",
        ),
        (
            EventKind::ApiError {
                source: None,
                attempt: 1,
                retry_in: Duration::from_micros(1_500_321),
                error: "timed out".into(),
            },
            "   fleet │ API error (attempt 1, retrying in 1.5s): timed out",
        ),
        (
            EventKind::Recovered { source: Some(a.clone()), failed_attempts: 3 },
            "❓ gpu-a │ Connection restored after 3 failed attempts",
        ),
        (
            EventKind::Recovered { source: None, failed_attempts: 1 },
            "   fleet │ Connection restored after 1 failed attempt",
        ),
        (
            EventKind::Completion(Completion { source: a.clone(), count: 2, result_url: Some("https://s3.example/out.tar".into()), cost: JobCost { gpu: Some("RTX 4090 ×2".into()), dph_total: Some(1.234), run: None } }),
            "❓ gpu-a │ ✅ completion #2 — result: https://s3.example/out.tar — RTX 4090 ×2 at $1.23/hr",
        ),
        (
            EventKind::Completion(Completion { source: a.clone(), count: 1, result_url: None, cost: JobCost { gpu: None, dph_total: None, run: None } }),
            "❓ gpu-a │ ✅ completion #1",
        ),
        (
            EventKind::Completion(Completion { source: a.clone(), count: 3, result_url: None, cost: JobCost { gpu: Some("1x RTX 4090".into()), dph_total: Some(0.4), run: Some(RunCost { duration: Duration::from_secs(7_530), cost_usd: Some(0.8367) }) } }),
            "❓ gpu-a │ ✅ completion #3 — 1x RTX 4090 at $0.40/hr — ran 2h 5m 30s, about $0.84",
        ),
        (
            EventKind::Failure(Failure { source: a.clone(), reason: FailureReason::Log, count: 1, line: Some("torch.OutOfMemoryError: CUDA out of memory".into()), context: vec![], cost: JobCost { gpu: Some("8x H100".into()), dph_total: Some(24.0), run: Some(RunCost { duration: Duration::from_secs(600), cost_usd: Some(4.0) }) } }),
            "❓ gpu-a │ ❌ failure #1: torch.OutOfMemoryError: CUDA out of memory — 8x H100 at $24.00/hr — ran 10m, about $4.00",
        ),
        (
            EventKind::Failure(Failure { source: a.clone(), reason: FailureReason::Exited, count: 1, line: None, context: vec![], cost: JobCost { gpu: None, dph_total: Some(24.0), run: None } }),
            "❓ gpu-a │ ❌ failure: the container exited while it was meant to run — $24.00/hr",
        ),
        (
            EventKind::OldFailures { source: a.clone(), count: 1 },
            "❓ gpu-a │ 1 earlier failure in the log (not acted on)",
        ),
        (
            EventKind::Budget { limit: BudgetKind::MaxSpend, value: 512.3, max: 500.0 },
            "   fleet │ 💸 budget max_spend: the fleet has spent about $512.30 (limit $500.00)",
        ),
        (
            EventKind::OldCompletions { source: a.clone(), count: 3 },
            "❓ gpu-a │ 3 earlier completions in the log (not acted on)",
        ),
        (action(ActionKind::Stop, true, false, None), "❓ gpu-a │ stopped instance (completion)"),
        (
            action(ActionKind::Destroy, true, false, None),
            "❓ gpu-a │ destroyed instance (completion)",
        ),
        (
            action(ActionKind::Destroy, true, true, None),
            "❓ gpu-a │ [dry-run] would destroy instance (completion)",
        ),
        (
            action(ActionKind::Stop, false, false, Some("HTTP 500")),
            "❓ gpu-a │ stop failed: HTTP 500 (completion)",
        ),
        (
            EventKind::Guard {
                source: a.clone(),
                guard: "max_runtime".into(),
                action: Some(ActionKind::Stop),
                detail: "running for 12h 5m (limit 12h)".into(),
            },
            "❓ gpu-a │ guard max_runtime: running for 12h 5m (limit 12h) → stop",
        ),
        (
            EventKind::Guard {
                source: a.clone(),
                guard: "idle".into(),
                action: None,
                detail: "no new log line for 30m".into(),
            },
            "❓ gpu-a │ guard idle: no new log line for 30m",
        ),
        (
            EventKind::Throttle {
                scope: Scope::Endpoint(Endpoint::RequestLogs),
                change: Change::Limited,
                per_second: 0.5,
                reason: "HTTP 429; pausing it 2s, then 0.5 calls/s".into(),
            },
            "   fleet │ throttle: request_logs rate limited: HTTP 429; pausing it 2s, then 0.5 \
             calls/s; other endpoints go on",
        ),
        (
            EventKind::Throttle {
                scope: Scope::Endpoint(Endpoint::RequestLogs),
                change: Change::Back,
                per_second: 1.0,
                reason: "no 429 since the pause".into(),
            },
            "   fleet │ throttle: request_logs back at 1 calls/s",
        ),
        (
            EventKind::Throttle {
                scope: Scope::Ceiling,
                change: Change::Limited,
                per_second: 2.5,
                reason: "lowering".into(),
            },
            "   fleet │ throttle: overall rate at 2.5 calls/s (lowering)",
        ),
        (
            EventKind::Reload { added: vec![1, 2], removed: vec![3], changed: vec![] },
            "   fleet │ fleet file reloaded: added 1, 2; removed 3",
        ),
        (
            EventKind::Reload { added: vec![], removed: vec![], changed: vec![] },
            "   fleet │ fleet file reloaded: no changes",
        ),
        (
            EventKind::ReloadRejected {
                error: "fleet.toml:3:1: unknown key `lable`\n  help: did you mean `label`? valid keys here: id, label".into(),
            },
            "   fleet │ fleet file change rejected, the fleet goes on as it was:\nfleet.toml:3:1: unknown key `lable`\n  help: did you mean `label`? valid keys here: id, label",
        ),
        (
            EventKind::Orphans { ids: vec![7, 8] },
            "   fleet │ 2 instances in the account not in the fleet: 7, 8",
        ),
        (
            EventKind::Notice { message: "watching 2 instances".into() },
            "   fleet │ watching 2 instances",
        ),
    ];
    for (kind, want) in cases {
        let name = kind.name();
        assert_eq!(render_one(kind), format!("14:03:07 {want}"), "event {name}");
    }
}

#[test]
fn shutdown_renders_the_summary_table_then_the_resume_text() {
    let summary = vec![
        InstanceSummary {
            source: src(101, "gpu-a"),
            status: Some("stopped".into()),
            completions: 2,
            failures: 1,
            actions: vec![ActionKind::Stop],
            dph_total: Some(0.5),
            spend_usd: Some(3.254),
        },
        InstanceSummary {
            source: src(20202, "a-much-longer-label"),
            status: None,
            completions: 0,
            failures: 0,
            actions: vec![],
            dph_total: None,
            spend_usd: None,
        },
    ];
    let api = ThrottleStats {
        calls: [(Endpoint::List, 40), (Endpoint::RequestLogs, 20)].into(),
        rate_limited: [(Endpoint::List, 0), (Endpoint::RequestLogs, 3)].into(),
        per_second: 0.8333,
    };
    let resume = Resume::Watch {
        command: "vastfleet watch fleet.toml".into(),
    };
    let rendered = render_one(EventKind::Shutdown {
        summary: summary.clone(),
        api: api.clone(),
        resume,
    });
    let want = [
        "14:03:07    fleet │ shutting down — 2 instances watched",
        "  INSTANCE  LABEL                STATUS   COMPLETIONS  FAILURES  ACTIONS",
        "  101       gpu-a                stopped  2            1         stop",
        "  20202     a-much-longer-label  unknown  0            0         -",
        "  total: 2 instances (1 stopped, 1 unknown) · $0.00/hr now · about $3.25 spent",
        "API: 60 calls, 3 answered 429 (request_logs 3), effective rate at exit 0.83 calls/s",
        "resume watching:  vastfleet watch fleet.toml",
        "stop paying:      vastfleet destroy 101 20202",
    ];
    assert_eq!(rendered, want.join("\n"));
    // The demo's account is gone with it: nothing to resume, nothing to destroy.
    let demo = render_one(EventKind::Shutdown {
        summary,
        api,
        resume: Resume::Demo,
    });
    let tail: Vec<&str> = demo.lines().skip(want.len() - 3).collect();
    assert_eq!(
        tail,
        [
            "API: 60 calls, 3 answered 429 (request_logs 3), effective rate at exit 0.83 calls/s",
            "the demo's account and fleet file are gone now; run `vastfleet demo` to see it again,",
            "or `vastfleet add ID` then `vastfleet watch` for your own fleet",
        ]
    );
}

#[test]
fn prefix_width_grows_as_longer_labels_join_and_never_shrinks() {
    let mut w = writer(options());
    let a = src(1, "a");
    let long = src(2, "trainer-long");
    let lines: Vec<String> = [
        log(&a, "one"),
        ev(EventKind::Joined {
            source: long.clone(),
        }),
        log(&a, "two"),
        ev(EventKind::Left { source: long }),
        log(&a, "three"),
        ev(EventKind::Notice {
            message: "note".into(),
        }),
    ]
    .iter()
    .map(|e| w.render(e).unwrap())
    .collect();
    assert_eq!(
        lines,
        [
            "14:03:07 ❓ a     │ one",
            "14:03:07 ❓ trainer-long │ watching instance 2",
            "14:03:07 ❓ a            │ two",
            "14:03:07 ❓ trainer-long │ no longer watching instance 2",
            "14:03:07 ❓ a            │ three",
            "14:03:07    fleet        │ note",
        ]
    );
}

#[test]
fn the_last_status_glyph_carries_over_to_later_lines() {
    let mut w = writer(options());
    let a = src(1, "gpu-a");
    let b = src(2, "gpu-b");
    let lines: Vec<String> = [
        status(&a, "running", None),
        log(&a, "working"),
        status(&a, "stopped", Some("running")),
        log(&a, "late line"),
        log(&b, "other instance"),
    ]
    .iter()
    .map(|e| w.render(e).unwrap())
    .collect();
    assert_eq!(
        lines,
        [
            "14:03:07 🔄 gpu-a │ status: running",
            "14:03:07 🔄 gpu-a │ working",
            "14:03:07 💤 gpu-a │ running → stopped",
            "14:03:07 💤 gpu-a │ late line",
            "14:03:07 ❓ gpu-b │ other instance",
        ]
    );
}

#[test]
fn no_prefix_and_timestamps() {
    let a = src(1, "gpu-a");
    let mut bare = writer(HumanOptions {
        no_prefix: true,
        ..options()
    });
    assert_eq!(
        bare.render(&log(&a, "epoch 1")).unwrap(),
        "14:03:07 epoch 1"
    );
    let mut stamped = writer(HumanOptions {
        timestamps: true,
        ..options()
    });
    assert_eq!(
        stamped.render(&log(&a, "epoch 1")).unwrap(),
        "2024-05-01T14:03:07.250+02:00 ❓ gpu-a │ epoch 1"
    );
}

#[test]
fn escape_sequences_in_log_lines_are_stripped_with_or_without_colour() {
    let a = src(1, "gpu-a");
    let raw = "\u{1b}]0;owned\u{7}\u{1b}[31mred\u{1b}[0m 10%\r20%";
    let plain = writer(options()).render(&log(&a, raw)).unwrap();
    assert_eq!(plain, "14:03:07 ❓ gpu-a │ 20%");
    let coloured = writer(HumanOptions::new(true, plus_two()))
        .render(&log(&a, raw))
        .unwrap();
    assert!(coloured.ends_with("│\u{1b}[0m 20%"), "{coloured:?}");
    assert!(!coloured.contains("owned") && !coloured.contains("[31m"));
}

#[test]
fn colour_on_paints_time_label_separator_and_history() {
    let a = src(1, "gpu-a");
    let mut w = writer(HumanOptions::new(true, plus_two()));
    let history = ev(EventKind::Log {
        source: a.clone(),
        line: "old line".into(),
        history: true,
    });
    let label = label_color("gpu-a").on_default();
    let dim = Style::new().dimmed();
    assert_eq!(
        w.render(&history).unwrap(),
        format!("{dim}14:03:07{dim:#} ❓ {label}gpu-a{label:#} {dim}│{dim:#} {dim}old line{dim:#}")
    );
}

#[test]
fn colour_per_label_is_stable_across_writers_and_order() {
    let target = src(7, "trainer-01");
    let mut first = writer(HumanOptions::new(true, plus_two()));
    let mut second = writer(HumanOptions::new(true, plus_two()));
    for label in ["zeta", "alpha", "trainer-10"] {
        second.render(&log(&src(99, label), "warm-up")).unwrap();
    }
    let one = first.render(&log(&target, "x")).unwrap();
    let two = second.render(&log(&target, "x")).unwrap();
    assert_eq!(one, two);
    let painted = format!("{}trainer-01", label_color("trainer-01").on_default());
    assert!(one.contains(&painted), "{one:?}");
}

#[test]
fn highlight_paints_matches_only_when_colour_is_on() {
    let a = src(1, "gpu-a");
    let highlight = vec![Regex::new(r"loss=[\d.]+").unwrap()];
    let line = log(&a, "step 9 loss=0.31 lr=1e-4");
    let mut off = writer(HumanOptions {
        highlight: highlight.clone(),
        ..options()
    });
    assert_eq!(
        off.render(&line).unwrap(),
        "14:03:07 ❓ gpu-a │ step 9 loss=0.31 lr=1e-4"
    );
    let mut on = writer(HumanOptions {
        highlight,
        ..HumanOptions::new(true, plus_two())
    });
    let mark = Style::new()
        .fg_color(Some(Color::Ansi(AnsiColor::Black)))
        .bg_color(Some(Color::Ansi(AnsiColor::Yellow)))
        .bold();
    let rendered = on.render(&line).unwrap();
    assert!(
        rendered.ends_with(&format!("step 9 {mark}loss=0.31{mark:#} lr=1e-4")),
        "{rendered:?}"
    );
}

#[test]
fn throttle_steps_are_for_json_only() {
    let step = ev(EventKind::Throttle {
        scope: Scope::Endpoint(Endpoint::List),
        change: Change::Step,
        per_second: 0.7,
        reason: "quiet: raising the pace".into(),
    });
    assert_eq!(writer(options()).render(&step), None);
    let mut json = Writer::new(Format::Json, LineFilter::default());
    assert!(json.render(&step).unwrap().contains(r#""change":"step""#));
}
