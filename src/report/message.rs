//! The words of the human stream: the plain message of every event (no prefix, no colour).
//! One function maps each event to its words; the words of a job's outcome (`job.rs`) and of
//! the fleet's own events (`fleet.rs`) are files of their own.

mod fleet;
mod job;

use super::event::{ActionKind, EventKind};
use super::words::{duration, plural};

pub(crate) use fleet::rate;

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
        } => status_change(status, previous.as_ref(), message.as_deref()),
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
        EventKind::Completion(completion) => job::completion(completion),
        EventKind::Failure(failure) => job::failure(failure),
        EventKind::OldCompletions { count, .. } => job::earlier(*count, "earlier completion"),
        EventKind::OldFailures { count, .. } => job::earlier(*count, "earlier failure"),
        EventKind::Action {
            action,
            ok,
            dry_run,
            reason,
            error,
            ..
        } => action_taken(*action, *ok, *dry_run, reason, error.as_deref()),
        EventKind::Guard {
            guard,
            action,
            detail,
            ..
        } => match action {
            Some(action) => format!("guard {guard}: {detail} → {}", action.as_str()),
            None => format!("guard {guard}: {detail}"),
        },
        EventKind::Budget { limit, value, max } => fleet::budget(*limit, *value, *max),
        EventKind::Throttle {
            scope,
            change,
            per_second,
            reason,
        } => fleet::throttle(*scope, *change, *per_second, reason),
        EventKind::Reload {
            added,
            removed,
            changed,
        } => fleet::reload(added, removed, changed),
        // The error itself follows on lines of its own (see `human`), as `check` prints it.
        EventKind::ReloadRejected { .. } => {
            "fleet file change rejected, the fleet goes on as it was:".to_string()
        }
        EventKind::Orphans { ids } => fleet::orphans(ids),
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

/// "stopped → running — reason", or the first status seen.
fn status_change(
    status: &crate::status::Status,
    previous: Option<&crate::status::Status>,
    message: Option<&str>,
) -> String {
    let mut text = match previous {
        // The first sweep after a restart, unchanged since the state file was written.
        Some(previous) if previous == status => format!("still {status}"),
        Some(previous) => format!("{previous} → {status}"),
        None => format!("status: {status}"),
    };
    if let Some(message) = message.filter(|m| !m.trim().is_empty()) {
        text.push_str(" — ");
        text.push_str(message.trim());
    }
    text
}

fn action_taken(
    action: ActionKind,
    ok: bool,
    dry_run: bool,
    reason: &str,
    error: Option<&str>,
) -> String {
    let what = match (dry_run, ok) {
        (true, _) => format!("[dry-run] would {} instance", action.as_str()),
        (false, true) => format!("{} instance", past_tense(action)),
        (false, false) => format!(
            "{} failed: {}",
            action.as_str(),
            error.unwrap_or("no reason given")
        ),
    };
    if reason.is_empty() {
        what
    } else {
        format!("{what} ({reason})")
    }
}

fn past_tense(action: ActionKind) -> &'static str {
    match action {
        ActionKind::Stop => "stopped",
        ActionKind::Destroy => "destroyed",
    }
}
