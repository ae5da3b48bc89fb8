//! The words of the fleet's own events: the throttle, reloads, unlisted instances, the budget.

use super::plural;
use crate::report::event::BudgetKind;
use crate::throttle::{Change, Scope};

pub(super) fn budget(limit: BudgetKind, value: f64, max: f64) -> String {
    match limit {
        BudgetKind::MaxDph => {
            format!("💸 budget max_dph: the fleet burns ${value:.2}/hr (limit ${max:.2}/hr)")
        }
        BudgetKind::MaxSpend => {
            format!("💸 budget max_spend: the fleet has spent about ${value:.2} (limit ${max:.2})")
        }
    }
}

/// "fleet file reloaded: added 7; removed 3, 4".
pub(super) fn reload(added: &[u64], removed: &[u64], changed: &[u64]) -> String {
    let parts: Vec<String> = [("added", added), ("removed", removed), ("changed", changed)]
        .into_iter()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(what, ids)| format!("{what} {}", id_list(ids)))
        .collect();
    if parts.is_empty() {
        "fleet file reloaded: no changes".to_string()
    } else {
        format!("fleet file reloaded: {}", parts.join("; "))
    }
}

pub(super) fn orphans(ids: &[u64]) -> String {
    format!(
        "{} in the account not in the fleet: {}",
        plural(ids.len() as u64, "instance"),
        id_list(ids)
    )
}

fn id_list(ids: &[u64]) -> String {
    ids.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A `throttle` line: what is limited or back, at what pace, and why.
pub(super) fn throttle(scope: Scope, change: Change, per_second: f64, reason: &str) -> String {
    let pace = if per_second.is_finite() {
        format!(" at {} calls/s", rate(per_second))
    } else {
        String::new()
    };
    match (scope, change) {
        (Scope::Endpoint(e), Change::Limited) => format!(
            "throttle: {} rate limited: {reason}; other endpoints go on",
            e.as_str()
        ),
        (Scope::Endpoint(e), Change::Back) => format!("throttle: {} back{pace}", e.as_str()),
        (Scope::Endpoint(e), Change::Step) => {
            format!("throttle: {}{pace} ({reason})", e.as_str())
        }
        (Scope::Ceiling, _) => format!("throttle: overall rate{pace} ({reason})"),
        (Scope::Key, _) => format!("throttle: {reason}"),
    }
}

/// A rate for a line: at most two decimals, no trailing zeros: `2`, `2.5`, `0.33`.
pub(crate) fn rate(per_second: f64) -> String {
    let text = format!("{per_second:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}
