//! The words of the human stream: the plain message of every event (no prefix, no colour).

use std::fmt::Write as _;
use std::time::Duration;

use super::event::{ActionKind, BudgetKind, EventKind, FailureReason, RunCost};
use super::words::{duration, plural};
use crate::throttle::{Change, Scope};

/// The message part of an event's line. For `Shutdown`, the header line; the table and the
/// resume text follow it (see [`super::summary::lines`]).
pub(crate) fn describe(kind: &EventKind) -> String {
    match kind {
        EventKind::Joined { source } => format!("watching instance {}", source.id),
        EventKind::Left { source } => format!("no longer watching instance {}", source.id),
        EventKind::Status {
            status,
            previous,
            message,
            ..
        } => {
            let mut text = match previous {
                // The first sweep after a restart, unchanged since the state file was written.
                Some(previous) if previous == status => format!("still {status}"),
                Some(previous) => format!("{previous} → {status}"),
                None => format!("status: {status}"),
            };
            if let Some(message) = message.as_deref().filter(|m| !m.trim().is_empty()) {
                let _ = write!(text, " — {}", message.trim());
            }
            text
        }
        EventKind::Log { line, .. } => line.clone(),
        EventKind::Gap { tail, .. } => {
            format!("── gap: the log outran its {tail}-line tail; lines may be missing here ──")
        }
        EventKind::ApiError {
            attempt,
            retry_in,
            error,
            ..
        } => format!(
            "API error (attempt {attempt}, retrying in {}): {error}",
            duration(*retry_in)
        ),
        EventKind::Recovered {
            failed_attempts, ..
        } => format!(
            "Connection restored after {}",
            plural(u64::from(*failed_attempts), "failed attempt")
        ),
        EventKind::Completion {
            count,
            result_url,
            gpu,
            dph_total,
            run,
            ..
        } => {
            let mut text = completion(*count, result_url.as_deref(), gpu.as_deref(), *dph_total);
            text.push_str(&run_cost(*run));
            text
        }
        EventKind::Failure { .. } => failure(kind),
        EventKind::OldFailures { count, .. } => format!(
            "{} in the log (not acted on)",
            plural(u64::from(*count), "earlier failure")
        ),
        EventKind::Budget { limit, value, max } => budget(*limit, *value, *max),
        EventKind::OldCompletions { count, .. } => format!(
            "{} in the log (not acted on)",
            plural(u64::from(*count), "earlier completion")
        ),
        EventKind::Action {
            action,
            ok,
            dry_run,
            reason,
            error,
            ..
        } => {
            let what = match (dry_run, ok) {
                (true, _) => format!("[dry-run] would {} instance", action.as_str()),
                (false, true) => format!("{} instance", past_tense(*action)),
                (false, false) => format!(
                    "{} failed: {}",
                    action.as_str(),
                    error.as_deref().unwrap_or("no reason given")
                ),
            };
            if reason.is_empty() {
                what
            } else {
                format!("{what} ({reason})")
            }
        }
        EventKind::Guard {
            guard,
            action,
            detail,
            ..
        } => match action {
            Some(action) => format!("guard {guard}: {detail} → {}", action.as_str()),
            None => format!("guard {guard}: {detail}"),
        },
        EventKind::Throttle {
            scope,
            change,
            per_second,
            reason,
        } => throttle(*scope, *change, *per_second, reason),
        EventKind::Reload {
            added,
            removed,
            changed,
        } => {
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
        // The error itself follows on lines of its own (see `human`), as `check` prints it.
        EventKind::ReloadRejected { .. } => {
            "fleet file change rejected, the fleet goes on as it was:".to_string()
        }
        EventKind::Orphans { ids } => format!(
            "{} in the account not in the fleet: {}",
            plural(ids.len() as u64, "instance"),
            id_list(ids)
        ),
        EventKind::StateError { error } => {
            format!("{error} (watching goes on; a restart would remember less)")
        }
        EventKind::Notice { message } | EventKind::Note { message, .. } => message.clone(),
        EventKind::Shutdown { summary, .. } => format!(
            "shutting down — {} watched",
            plural(summary.len() as u64, "instance")
        ),
    }
}

fn failure(kind: &EventKind) -> String {
    let EventKind::Failure {
        reason,
        count,
        line,
        gpu,
        dph_total,
        run,
        ..
    } = kind
    else {
        return String::new();
    };
    let mut text = match (reason, line) {
        (FailureReason::Log, Some(line)) => format!("❌ failure #{count}: {}", line.trim()),
        (FailureReason::Log, None) => format!("❌ failure #{count}"),
        (FailureReason::Exited, _) => {
            "❌ failure: the container exited while it was meant to run".to_string()
        }
    };
    text.push_str(&price_part(gpu.as_deref(), *dph_total));
    text.push_str(&run_cost(*run));
    text
}

fn budget(limit: BudgetKind, value: f64, max: f64) -> String {
    match limit {
        BudgetKind::MaxDph => {
            format!("💸 budget max_dph: the fleet burns ${value:.2}/hr (limit ${max:.2}/hr)")
        }
        BudgetKind::MaxSpend => {
            format!("💸 budget max_spend: the fleet has spent about ${value:.2} (limit ${max:.2})")
        }
    }
}

/// " — ran 2h 5m, about $4.17", or nothing when the row had no start date.
fn run_cost(run: Option<RunCost>) -> String {
    let Some(run) = run else {
        return String::new();
    };
    let ran = humantime::format_duration(Duration::from_secs(run.duration.as_secs()));
    match run.cost_usd.filter(|c| c.is_finite()) {
        Some(cost) => format!(" — ran {ran}, about ${cost:.2}"),
        None => format!(" — ran {ran}"),
    }
}

/// " — 1x RTX 4090 at $0.40/hr", as much of it as is known.
fn price_part(gpu: Option<&str>, dph: Option<f64>) -> String {
    let price = dph.filter(|d| d.is_finite()).map(|d| format!("${d:.2}/hr"));
    match (gpu, price) {
        (Some(gpu), Some(price)) => format!(" — {gpu} at {price}"),
        (Some(gpu), None) => format!(" — {gpu}"),
        (None, Some(price)) => format!(" — {price}"),
        (None, None) => String::new(),
    }
}

fn completion(count: u32, url: Option<&str>, gpu: Option<&str>, dph: Option<f64>) -> String {
    let mut text = format!("✅ completion #{count}");
    if let Some(url) = url {
        let _ = write!(text, " — result: {url}");
    }
    text.push_str(&price_part(gpu, dph));
    text
}

fn past_tense(action: ActionKind) -> &'static str {
    match action {
        ActionKind::Stop => "stopped",
        ActionKind::Destroy => "destroyed",
    }
}

fn id_list(ids: &[u64]) -> String {
    ids.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A `throttle` line: what is limited or back, at what pace, and why.
fn throttle(scope: Scope, change: Change, per_second: f64, reason: &str) -> String {
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
