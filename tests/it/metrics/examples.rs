//! examples/grafana/vastfleet.json and examples/prometheus/alerts.yml may only name metrics a
//! real watcher exports: a renamed family would otherwise leave an empty panel or an alert
//! that can never fire, silently. The names come from a scrape of a watcher on the simulator;
//! the queries are read with a few regexes (enough PromQL to find metric names, no parser).

use std::collections::BTreeSet;
use std::path::Path;

use regex::Regex;
use serde_json::Value;

use super::watcher::watching;

/// Series Prometheus and its exporters make, not vastfleet: the scrape's own `up` and the
/// blackbox exporter's probe of `/healthz`.
const EXTERNAL: &[&str] = &["up", "probe_success"];

/// PromQL words that look like names.
const KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset"];

/// The metric names in one PromQL expression.
fn names_in(expr: &str) -> BTreeSet<String> {
    let strip = |text: &str, pattern: &str| {
        Regex::new(pattern)
            .unwrap()
            .replace_all(text, " ")
            .into_owned()
    };
    // Strings first (they may hold braces), then label matchers, ranges and grouping lists.
    let mut text = strip(expr, r#""(?:[^"\\]|\\.)*""#);
    text = strip(&text, r"\{[^}]*\}");
    text = strip(&text, r"\[[^\]]*\]");
    text = strip(
        &text,
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
    );
    let word = Regex::new(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?").unwrap();
    word.captures_iter(&text)
        // A word before `(` is a function; digits glued to a name's front were a number.
        .filter(|c| c.get(2).is_none())
        .filter(|c| {
            c.get(0).unwrap().start() == 0
                || !text.as_bytes()[c.get(0).unwrap().start() - 1].is_ascii_digit()
        })
        .map(|c| c[1].to_owned())
        .filter(|w| !KEYWORDS.contains(&w.as_str()))
        .collect()
}

fn json_exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", Value::String(expr)) => out.push(expr.clone()),
                    _ => json_exprs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| json_exprs(v, out)),
        _ => {}
    }
}

/// Every `expr:` of a rules file: on its line, or the indented block after `expr: |`.
fn yaml_exprs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let rest = rest.trim();
        if rest != "|" && rest != ">" {
            out.push(rest.to_owned());
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let mut block = String::new();
        while let Some(next) = lines.peek() {
            if !next.trim().is_empty() && next.len() - next.trim_start().len() <= indent {
                break;
            }
            block.push_str(next);
            block.push('\n');
            lines.next();
        }
        out.push(block);
    }
    out
}

fn example(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_name_finder_reads_promql() {
    let expr = r#"sum by (endpoint) (rate(vastfleet_api_calls_total{status="429",x=~"a|b{c}"}[5m])) > 0.05
        and on(instance, instance_id) up == 0 unless process_open_fds offset 1h"#;
    assert_eq!(
        names_in(expr),
        ["process_open_fds", "up", "vastfleet_api_calls_total"]
            .map(str::to_owned)
            .into()
    );
    let rules = "  - alert: A\n    expr: a_total > 1\n  - alert: B\n    expr: |\n      b\n        and c\n    for: 5m\n";
    assert_eq!(
        yaml_exprs(rules),
        ["a_total > 1", "      b\n        and c\n"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_the_alerts_name_only_exported_metrics() {
    let sim = crate::support::account_with_history(&[super::watcher::ID]).await;
    let dir = tempfile::tempdir().unwrap();
    let (watcher, base) = watching(&sim, dir.path(), "[defaults]\ninterval = \"300ms\"\n").await;
    crate::support::wait_for_sweeps(&sim, 1).await;
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    watcher.terminate().await;
    // Every family is declared at each scrape, even with no samples yet.
    let mut exported: BTreeSet<String> = BTreeSet::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let (name, kind) = line.split_once(' ').unwrap();
        exported.insert(name.to_owned());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                exported.insert(format!("{name}{suffix}"));
            }
        }
    }
    assert!(exported.contains("process_resident_memory_bytes"), "{text}");

    let dashboard: Value = serde_json::from_str(&example("examples/grafana/vastfleet.json"))
        .expect("the dashboard is JSON");
    let mut dashboard_exprs = Vec::new();
    json_exprs(&dashboard, &mut dashboard_exprs);
    let alert_exprs = yaml_exprs(&example("examples/prometheus/alerts.yml"));
    for (file, exprs, at_least) in [
        ("vastfleet.json", dashboard_exprs, 15),
        ("alerts.yml", alert_exprs, 7),
    ] {
        assert!(
            exprs.len() >= at_least,
            "{file}: only {} queries",
            exprs.len()
        );
        let mut named = BTreeSet::new();
        for expr in &exprs {
            let names = names_in(expr);
            assert!(!names.is_empty(), "{file}: no metric in {expr:?}");
            for name in names {
                assert!(
                    exported.contains(&name) || EXTERNAL.contains(&name.as_str()),
                    "{file} queries {name}, which the watcher does not export (in {expr:?})\n\
                     exported: {exported:?}"
                );
                named.insert(name);
            }
        }
        assert!(named.len() >= 5, "{file} names {named:?}");
    }
}
