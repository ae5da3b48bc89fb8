//! The JSON rendering: one object per line, a contract for scripts. Every object has `ts`
//! (RFC 3339, UTC, milliseconds) and `event` (`EventKind::name`); events about one instance
//! add `instance` (its id) and `label`. The other fields depend on the event (see `fields`).
//!
//! Log lines go out as the container wrote them (minus the line end): JSON escapes every
//! control character, so raw escape sequences cannot reach a terminal through this stream, and
//! a machine reader gets the exact text.

use serde_json::{json, Map, Value};

use super::clock;
use super::event::{ActionKind, Event, EventKind};
use super::sanitize::without_line_end;

mod job;

/// The JSON line of one event, without a trailing newline.
pub fn render(event: &Event) -> String {
    let mut object = Map::new();
    object.insert("ts".into(), clock::rfc3339_utc(event.at).into());
    object.insert("event".into(), event.kind.name().into());
    if let Some(source) = event.kind.source() {
        object.insert("instance".into(), source.id.into());
        object.insert("label".into(), (&*source.label).into());
    }
    if let Value::Object(fields) = fields(&event.kind) {
        object.extend(fields);
    }
    Value::Object(object).to_string()
}

/// The event-specific fields, as an object (webhooks reuse them, so a `json` webhook body and
/// the `--json` stream name every field alike).
pub fn fields(kind: &EventKind) -> Value {
    match kind {
        EventKind::Joined { .. } | EventKind::Left { .. } => json!({}),
        EventKind::Status {
            status,
            previous,
            message,
            ..
        } => json!({ "status": status, "previous": previous, "message": message }),
        EventKind::Log { line, history, .. } => json!({
            "line": without_line_end(line),
            "history": history,
        }),
        EventKind::Gap { tail, .. } => json!({ "tail": tail }),
        EventKind::ApiError {
            attempt,
            retry_in,
            error,
            ..
        } => json!({
            "attempt": attempt,
            "retry_in_ms": u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
            "error": error,
        }),
        EventKind::Recovered {
            failed_attempts, ..
        } => json!({ "failed_attempts": failed_attempts }),
        EventKind::Completion(completion) => job::completion(completion),
        EventKind::Failure(failure) => job::failure(failure),
        EventKind::OldCompletions { count, .. } | EventKind::OldFailures { count, .. } => {
            json!({ "count": count })
        }
        EventKind::Budget { limit, value, max } => json!({
            "limit": limit.as_str(),
            "value": cents(*value),
            "max": max,
        }),
        EventKind::Action {
            action,
            ok,
            dry_run,
            reason,
            error,
            ..
        } => json!({
            "action": action.as_str(),
            "ok": ok,
            "dry_run": dry_run,
            "reason": reason,
            "error": error,
        }),
        EventKind::Guard {
            guard,
            action,
            detail,
            ..
        } => json!({
            "guard": guard,
            "action": action.map(ActionKind::as_str),
            "detail": detail,
        }),
        EventKind::Throttle {
            scope,
            change,
            per_second,
            reason,
        } => json!({
            "endpoint": scope.endpoint().map(|e| e.as_str()),
            "scope": scope.as_str(),
            "change": change.as_str(),
            "per_second": calls_per_second(*per_second),
            "reason": reason,
        }),
        EventKind::Reload {
            added,
            removed,
            changed,
        } => json!({ "added": added, "removed": removed, "changed": changed }),
        EventKind::ReloadRejected { error } => json!({ "error": error }),
        EventKind::Orphans { ids } => json!({ "ids": ids }),
        EventKind::StateError { error } => json!({ "error": error }),
        EventKind::Notice { message } | EventKind::Note { message, .. } => {
            json!({ "message": message })
        }
        EventKind::Shutdown {
            summary,
            api,
            resume,
        } => super::summary::json_fields(summary, api, resume),
    }
}

/// A rate at milli-call precision: the tuner's products (0.8 × 1.6 …) would otherwise print as
/// 1.2800000000000002. No pace at all (unlimited, or an endpoint without one of its own) is null.
pub(crate) fn calls_per_second(per_second: f64) -> Option<f64> {
    per_second
        .is_finite()
        .then(|| (per_second * 1000.0).round() / 1000.0)
}

/// Dollars to the cent.
pub(crate) fn cents(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::throttle::{Change, Endpoint, Scope};

    #[test]
    fn a_tuned_rate_prints_without_float_noise() {
        let kind = EventKind::Throttle {
            scope: Scope::Endpoint(Endpoint::RequestLogs),
            change: Change::Step,
            per_second: 0.8 * 1.6,
            reason: "quiet period".into(),
        };
        let fields = fields(&kind);
        assert_eq!(fields["per_second"], json!(1.28));
        assert_eq!(fields["endpoint"], json!("request_logs"));
        assert_eq!(fields["change"], json!("step"));
        let unpaced = EventKind::Throttle {
            scope: Scope::Key,
            change: Change::Limited,
            per_second: f64::INFINITY,
            reason: "several".into(),
        };
        let unpaced = super::fields(&unpaced);
        assert_eq!(unpaced["per_second"], json!(null));
        assert_eq!(unpaced["endpoint"], json!(null));
    }
}
