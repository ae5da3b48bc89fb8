//! The words of a job's outcome: completions and failures, with what the GPU cost.

use std::fmt::Write as _;
use std::time::Duration;

use super::plural;
use crate::report::event::{Completion, Failure, FailureReason, JobCost, RunCost};

/// "3 earlier completions in the log (not acted on)".
pub(super) fn earlier(count: u32, what: &str) -> String {
    format!(
        "{} in the log (not acted on)",
        plural(u64::from(count), what)
    )
}

pub(super) fn completion(completion: &Completion) -> String {
    let mut text = format!("✅ completion #{}", completion.count);
    if let Some(url) = &completion.result_url {
        let _ = write!(text, " — result: {url}");
    }
    text.push_str(&cost_part(&completion.cost));
    text
}

pub(super) fn failure(failure: &Failure) -> String {
    let count = failure.count;
    let mut text = match (failure.reason, &failure.line) {
        (FailureReason::Log, Some(line)) => format!("❌ failure #{count}: {}", line.trim()),
        (FailureReason::Log, None) => format!("❌ failure #{count}"),
        (FailureReason::Exited, _) => {
            "❌ failure: the container exited while it was meant to run".to_string()
        }
    };
    text.push_str(&cost_part(&failure.cost));
    text
}

/// The machine, its price and the run, as much of it as is known.
fn cost_part(cost: &JobCost) -> String {
    let mut text = price_part(cost.gpu.as_deref(), cost.dph_total);
    text.push_str(&run_cost(cost.run));
    text
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
