//! The shutdown summary, rendered: the `shutdown` event carries it as data (each instance's
//! summary, the API's counters, how to carry on) and this file turns it into the lines under
//! the human header and the fields of the JSON object.

use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use super::event::{InstanceSummary, Resume};
use crate::cost::Totals;
use crate::status::Status;
use crate::throttle::ThrottleStats;

/// The human lines after the header: the table with its totals, the API's line, then how to
/// carry on.
pub(crate) fn lines(
    summary: &[InstanceSummary],
    api: &ThrottleStats,
    resume: &Resume,
) -> Vec<String> {
    let mut lines = table(summary);
    lines.push(api_line(api));
    match resume {
        Resume::Watch { command } => {
            lines.push(format!("resume watching:  {command}"));
            let billing = resume.billing(summary);
            if !billing.is_empty() {
                lines.push(format!("stop paying:      {}", destroy_command(&billing)));
            }
        }
        Resume::Demo => lines.extend([
            "the demo's account and fleet file are gone now; run `vastfleet demo` to see it again,"
                .to_owned(),
            "or `vastfleet add ID` then `vastfleet watch` for your own fleet".to_owned(),
        ]),
    }
    lines
}

/// The `shutdown` object's fields.
pub(crate) fn json_fields(
    summary: &[InstanceSummary],
    api: &ThrottleStats,
    resume: &Resume,
) -> Value {
    let billing = resume.billing(summary);
    json!({
        "instances": summary.iter().map(instance_json).collect::<Vec<_>>(),
        "totals": totals(summary).json(),
        "api": api_json(api),
        "resume": resume.command(),
        "destroy": (!billing.is_empty()).then(|| destroy_command(&billing)),
    })
}

fn instance_json(s: &InstanceSummary) -> Value {
    json!({
        "instance": s.source.id,
        "label": &*s.source.label,
        "status": s.status,
        "completions": s.completions,
        "failures": s.failures,
        "actions": s.actions.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "dph_total": s.dph_total,
        "spend_usd": s.spend_usd.map(super::json::cents),
    })
}

/// Calls and 429s in all and per endpoint that saw any, and the overall rate at exit (null when
/// unlimited).
fn api_json(api: &ThrottleStats) -> Value {
    let mut by_endpoint = Map::new();
    for (endpoint, calls) in &api.calls {
        let limited = api.rate_limited.get(endpoint).copied().unwrap_or(0);
        if *calls > 0 || limited > 0 {
            let counts = json!({ "calls": calls, "rate_limited": limited });
            by_endpoint.insert(endpoint.as_str().to_owned(), counts);
        }
    }
    json!({
        "calls": api.calls.values().sum::<u64>(),
        "rate_limited": api.total_rate_limited(),
        "by_endpoint": by_endpoint,
        "per_second": super::json::calls_per_second(api.per_second),
    })
}

/// Calls, 429s per endpoint, the overall rate at exit.
fn api_line(api: &ThrottleStats) -> String {
    let rate = if api.per_second.is_finite() {
        format!("{:.2} calls/s", api.per_second)
    } else {
        "unlimited".to_owned()
    };
    let by_endpoint: Vec<String> = api
        .rate_limited
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(endpoint, n)| format!("{} {n}", endpoint.as_str()))
        .collect();
    let limited = match by_endpoint.is_empty() {
        true => String::new(),
        false => format!(" ({})", by_endpoint.join(", ")),
    };
    format!(
        "API: {} calls, {} answered 429{limited}, effective rate at exit {rate}",
        api.calls.values().sum::<u64>(),
        api.total_rate_limited(),
    )
}

fn destroy_command(ids: &[u64]) -> String {
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    format!("vastfleet destroy {}", ids.join(" "))
}

/// The summary table: a header and one row per instance, columns padded to their widest cell.
fn table(summary: &[InstanceSummary]) -> Vec<String> {
    let header = [
        "INSTANCE",
        "LABEL",
        "STATUS",
        "COMPLETIONS",
        "FAILURES",
        "ACTIONS",
    ]
    .map(str::to_string);
    let rows: Vec<[String; 6]> = summary
        .iter()
        .map(|s| {
            let actions: Vec<&str> = s.actions.iter().map(|a| a.as_str()).collect();
            [
                s.source.id.to_string(),
                s.source.label.to_string(),
                s.status.as_ref().unwrap_or(&Status::Unknown).to_string(),
                s.completions.to_string(),
                s.failures.to_string(),
                if actions.is_empty() {
                    "-".to_string()
                } else {
                    actions.join(", ")
                },
            ]
        })
        .collect();
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    std::iter::once(&header)
        .chain(&rows)
        .map(|row| {
            let mut line = String::from(" ");
            for (width, cell) in widths.iter().zip(row) {
                let _ = write!(line, " {cell:<width$} ");
            }
            line.trim_end().to_string()
        })
        .chain(std::iter::once(format!(
            "  total: {}",
            totals(summary).line()
        )))
        .collect()
}

/// The fleet's totals from the shutdown summary.
fn totals(summary: &[InstanceSummary]) -> Totals {
    let mut totals = Totals::default();
    for s in summary {
        let status = s.status.clone().unwrap_or(Status::Unknown);
        totals.add(&status, s.dph_total, s.spend_usd);
    }
    totals
}
