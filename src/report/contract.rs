//! README's `--json` event table against the emitter (issue 14: README said `retry_in` and
//! `summary` while the stream wrote `retry_in_ms` and `instances`). Every event kind is rendered
//! from a sample and compared with its README row: the same kinds, the same keys, the same keys
//! inside objects, and `instance`/`label` exactly when the row says the event is about one.
//! A new `EventKind` variant does not compile here until it has a sample (see `variant`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use super::event::{
    ActionKind, BudgetKind, Completion, Event, EventKind, Failure, FailureReason, InstanceSummary,
    JobCost, Resume, RunCost, Source,
};
use super::json;
use crate::status::Status;
use crate::throttle::{Change, Endpoint, Scope};

const README: &str = include_str!("../../README.md");
const MARKER: &str = "<!-- json-events:";
/// Every object has these; the table lists only the rest.
const COMMON: [&str; 2] = ["ts", "event"];
const ABOUT_ONE: [&str; 2] = ["instance", "label"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum About {
    Instance,
    Fleet,
    Either,
}

/// One README row: the event's documented fields, each with the keys of its object (if listed).
#[derive(Debug)]
struct Row {
    about: About,
    fields: BTreeMap<String, BTreeSet<String>>,
}

fn readme_rows() -> BTreeMap<String, Row> {
    let table = README
        .split_once(MARKER)
        .expect("README has the json-events marker")
        .1;
    let mut rows = BTreeMap::new();
    for line in table.lines().skip(1) {
        let line = line.trim();
        if line.is_empty() {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 3 || cells[0] == "`event`" || cells[0].starts_with("---") {
            continue;
        }
        let name = cells[0].trim_matches('`').to_string();
        let about = match cells[1] {
            "instance" => About::Instance,
            "fleet" => About::Fleet,
            "either" => About::Either,
            other => panic!("README row {name}: about {other:?}"),
        };
        let fields = parse_fields(cells[2]);
        assert!(
            rows.insert(name.clone(), Row { about, fields }).is_none(),
            "{name} twice"
        );
    }
    rows
}

/// "`a`, `b` (`x`, `y`), `c`" → {a: {}, b: {x, y}, c: {}}.
fn parse_fields(cell: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut fields: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let (mut depth, mut last) = (0, None::<String>);
    let mut rest = cell;
    while let Some(at) = rest.find(['`', '(', ')']) {
        let c = rest.as_bytes()[at];
        rest = &rest[at + 1..];
        match c {
            b'(' => depth += 1,
            b')' => depth -= 1,
            _ => {
                let (name, after) = rest.split_once('`').expect("closed backtick");
                rest = after;
                match (depth, &last) {
                    (0, _) => {
                        fields.entry(name.to_string()).or_default();
                        last = Some(name.to_string());
                    }
                    (_, Some(parent)) => {
                        fields.get_mut(parent).unwrap().insert(name.to_string());
                    }
                    _ => panic!("nested field {name} without a parent in {cell:?}"),
                }
            }
        }
    }
    fields
}

fn source(id: u64) -> Source {
    Source {
        id,
        label: format!("job-{id}").into(),
    }
}

fn run() -> Option<RunCost> {
    Some(RunCost {
        duration: Duration::from_secs(90),
        cost_usd: Some(0.01),
    })
}

/// One sample per variant, and a second where a field or the instance may be absent.
fn samples() -> Vec<EventKind> {
    let s = source(1);
    let summary = InstanceSummary {
        source: s.clone(),
        status: Some(Status::Running),
        completions: 1,
        failures: 0,
        actions: vec![ActionKind::Stop],
        dph_total: Some(0.4),
        spend_usd: Some(1.5),
    };
    let failure = |run| {
        EventKind::Failure(Failure {
            source: s.clone(),
            reason: FailureReason::Log,
            count: 1,
            line: Some("Traceback".into()),
            context: vec!["before".into()],
            cost: JobCost {
                gpu: Some("RTX 4090".into()),
                dph_total: Some(0.4),
                run,
            },
        })
    };
    let completion = |run| {
        EventKind::Completion(Completion {
            source: s.clone(),
            count: 1,
            result_url: Some("https://r.example/1".into()),
            cost: JobCost {
                gpu: None,
                dph_total: None,
                run,
            },
        })
    };
    let api_error = |source| EventKind::ApiError {
        source,
        attempt: 2,
        retry_in: Duration::from_millis(1800),
        error: "rate limited".into(),
    };
    let recovered = |source| EventKind::Recovered {
        source,
        failed_attempts: 2,
    };
    vec![
        EventKind::Joined { source: s.clone() },
        EventKind::Left { source: s.clone() },
        EventKind::Status {
            source: s.clone(),
            status: Status::Running,
            previous: Some(Status::Loading),
            message: None,
        },
        EventKind::Log {
            source: s.clone(),
            line: "epoch 1\n".into(),
            history: false,
        },
        EventKind::Gap {
            source: s.clone(),
            tail: 2000,
        },
        api_error(Some(s.clone())),
        api_error(None),
        recovered(Some(s.clone())),
        recovered(None),
        completion(run()),
        completion(None),
        EventKind::OldCompletions {
            source: s.clone(),
            count: 3,
        },
        failure(run()),
        failure(None),
        EventKind::OldFailures {
            source: s.clone(),
            count: 1,
        },
        EventKind::Budget {
            limit: BudgetKind::MaxDph,
            value: 2.5,
            max: 2.0,
        },
        EventKind::Action {
            source: s.clone(),
            action: ActionKind::Destroy,
            ok: true,
            dry_run: false,
            reason: "completion".into(),
            error: None,
        },
        EventKind::Guard {
            source: s.clone(),
            guard: "max_runtime".into(),
            action: Some(ActionKind::Stop),
            detail: "ran 2h".into(),
        },
        EventKind::Throttle {
            scope: Scope::Endpoint(Endpoint::RequestLogs),
            change: Change::Limited,
            per_second: 0.5,
            reason: "429".into(),
        },
        EventKind::Reload {
            added: vec![2],
            removed: vec![],
            changed: vec![1],
        },
        EventKind::ReloadRejected {
            error: "fleet.toml:3:6: bad".into(),
        },
        EventKind::Orphans { ids: vec![9] },
        EventKind::StateError {
            error: "disk full".into(),
        },
        EventKind::Note {
            source: s.clone(),
            message: "log body cut".into(),
        },
        EventKind::Notice {
            message: "watching 1 instance".into(),
        },
        EventKind::Shutdown {
            summary: vec![summary],
            api: crate::throttle::ThrottleStats {
                calls: [(Endpoint::RequestLogs, 12), (Endpoint::List, 30)].into(),
                rate_limited: [(Endpoint::RequestLogs, 2)].into(),
                per_second: 1.25,
            },
            resume: Resume::Watch {
                command: "vastfleet watch fleet.toml".into(),
            },
        },
    ]
}

/// The variant's position: exhaustive on purpose, so a new variant needs a sample above.
fn variant(kind: &EventKind) -> usize {
    match kind {
        EventKind::Joined { .. } => 0,
        EventKind::Left { .. } => 1,
        EventKind::Status { .. } => 2,
        EventKind::Log { .. } => 3,
        EventKind::Gap { .. } => 4,
        EventKind::ApiError { .. } => 5,
        EventKind::Recovered { .. } => 6,
        EventKind::Completion(_) => 7,
        EventKind::OldCompletions { .. } => 8,
        EventKind::Failure(_) => 9,
        EventKind::OldFailures { .. } => 10,
        EventKind::Budget { .. } => 11,
        EventKind::Action { .. } => 12,
        EventKind::Guard { .. } => 13,
        EventKind::Throttle { .. } => 14,
        EventKind::Reload { .. } => 15,
        EventKind::ReloadRejected { .. } => 16,
        EventKind::Orphans { .. } => 17,
        EventKind::StateError { .. } => 18,
        EventKind::Note { .. } => 19,
        EventKind::Notice { .. } => 20,
        EventKind::Shutdown { .. } => 21,
    }
}
const VARIANTS: usize = 22;

fn rendered(kind: EventKind) -> Map<String, Value> {
    let line = json::render(&Event {
        at: SystemTime::UNIX_EPOCH,
        kind,
    });
    match serde_json::from_str(&line) {
        Ok(Value::Object(object)) => object,
        other => panic!("not a JSON object: {line} ({other:?})"),
    }
}

/// The keys of an object, or of the objects in a list; `None` for anything else.
fn inner_keys(value: &Value) -> Option<BTreeSet<String>> {
    match value {
        Value::Object(object) => Some(object.keys().cloned().collect()),
        Value::Array(items) => items.iter().find_map(inner_keys),
        _ => None,
    }
}

/// What a sample of `name` wrote: its keys (beyond the common ones) and whether it named an
/// instance. Checks nested keys against the row as it goes.
fn check_sample(name: &str, row: &Row, object: &Map<String, Value>) -> (BTreeSet<String>, bool) {
    for key in COMMON {
        assert!(object.contains_key(key), "{name}: no {key}");
    }
    let has_instance = ABOUT_ONE.iter().all(|k| object.contains_key(*k));
    assert_eq!(
        has_instance,
        ABOUT_ONE.iter().any(|k| object.contains_key(*k)),
        "{name}: instance and label go together"
    );
    let mut keys = BTreeSet::new();
    for (key, value) in object {
        if COMMON.contains(&key.as_str()) || (has_instance && ABOUT_ONE.contains(&key.as_str())) {
            continue;
        }
        let documented = row
            .fields
            .get(key)
            .unwrap_or_else(|| panic!("{name}: writes `{key}`, README does not list it"));
        match (inner_keys(value), documented.is_empty()) {
            (Some(inner), false) => assert_eq!(&inner, documented, "{name}: keys inside `{key}`"),
            (Some(_), true) => panic!("{name}: README does not list the keys inside `{key}`"),
            (None, false) => panic!("{name}: README lists keys inside `{key}`, a plain value"),
            (None, true) => {}
        }
        keys.insert(key.clone());
    }
    (keys, has_instance)
}

#[test]
fn readme_lists_every_event_and_field_the_json_stream_writes() {
    let rows = readme_rows();
    let samples = samples();
    let covered: BTreeSet<usize> = samples.iter().map(variant).collect();
    assert_eq!(
        covered.len(),
        VARIANTS,
        "every EventKind variant has a sample"
    );

    let mut seen: BTreeMap<String, (BTreeSet<String>, BTreeSet<bool>)> = BTreeMap::new();
    for kind in samples {
        let name = kind.name();
        let row = rows
            .get(name)
            .unwrap_or_else(|| panic!("README's --json table has no row for `{name}`"));
        let (keys, has_instance) = check_sample(name, row, &rendered(kind));
        let entry = seen.entry(name.to_string()).or_default();
        entry.0.extend(keys);
        entry.1.insert(has_instance);
    }
    let documented: BTreeSet<&String> = rows.keys().collect();
    assert_eq!(
        seen.keys().collect::<BTreeSet<_>>(),
        documented,
        "README's event kinds are the emitter's"
    );
    for (name, (keys, instance)) in seen {
        let row = &rows[&name];
        let listed: BTreeSet<String> = row.fields.keys().cloned().collect();
        assert_eq!(keys, listed, "{name}: README's fields are the ones written");
        let expected: BTreeSet<bool> = match row.about {
            About::Instance => [true].into(),
            About::Fleet => [false].into(),
            About::Either => [true, false].into(),
        };
        assert_eq!(instance, expected, "{name}: README's about column");
    }
}

#[test]
fn field_cells_parse_nested_keys() {
    let fields = parse_fields("`a`, `b` (`x`, `y`), `c`");
    assert_eq!(fields.len(), 3);
    assert_eq!(fields["b"], ["x", "y"].map(String::from).into());
    assert!(fields["a"].is_empty() && fields["c"].is_empty());
}
