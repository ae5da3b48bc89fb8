//! What the throttle is doing, as a value that can be compared, and the `throttle` events a
//! change of it is worth: one line when something starts being limited and one when it is
//! back; every step in between only as a `step` (the `--json` stream and the metrics).

use tokio::time::Instant;

use super::Endpoint;
use crate::report::event::EventKind;

/// What a `throttle` event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One endpoint's own pace and pause.
    Endpoint(Endpoint),
    /// The shared `rate_limit` ceiling, self-tuned when the key's budget is below it.
    Ceiling,
    /// Several endpoints limited at once: every call but the actions pauses.
    Key,
}

impl Scope {
    /// The endpoint's name, `None` for what concerns every call.
    pub fn endpoint(self) -> Option<Endpoint> {
        match self {
            Scope::Endpoint(e) => Some(e),
            Scope::Ceiling | Scope::Key => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Endpoint(_) => "endpoint",
            Scope::Ceiling => "ceiling",
            Scope::Key => "key",
        }
    }
}

/// The kind of change a `throttle` event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It starts being limited (a human line).
    Limited,
    /// A step of the pace while limited or recovering (`--json` and metrics only).
    Step,
    /// It is back (a human line).
    Back,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Limited => "limited",
            Change::Step => "step",
            Change::Back => "back",
        }
    }
}

/// One endpoint's budget as it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointStatus {
    /// Calls per second; infinite for an endpoint without a gap of its own.
    pub pace: f64,
    /// In a rate-limit episode.
    pub limited: bool,
    pub paused_until: Option<Instant>,
    /// Why, for the line that says it is limited.
    pub reason: Option<String>,
}

/// What the throttle is doing now.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleStatus {
    /// The overall rate in force; infinite when there is no ceiling.
    pub per_second: f64,
    /// The configured ceiling the tuner returns to.
    pub configured: f64,
    pub endpoints: [EndpointStatus; 5],
    /// The endpoints limited at once when the key counts as spent; empty otherwise.
    pub key_limited: Vec<Endpoint>,
    /// Every call but the actions waits until then.
    pub key_paused_until: Option<Instant>,
}

/// The `throttle` events that lead from `before` to `after`.
pub fn changes(before: &ThrottleStatus, after: &ThrottleStatus) -> Vec<EventKind> {
    let mut out = Vec::new();
    if before.key_limited.is_empty() && !after.key_limited.is_empty() {
        let names: Vec<&str> = after.key_limited.iter().map(|e| e.as_str()).collect();
        out.push(event(
            Scope::Key,
            Change::Limited,
            after.per_second,
            format!(
                "several endpoints rate limited at once ({}): every call but stop, start and \
                 destroy pauses",
                names.join(", ")
            ),
        ));
    }
    for endpoint in Endpoint::ALL {
        let (b, a) = (
            &before.endpoints[endpoint.index()],
            &after.endpoints[endpoint.index()],
        );
        let scope = Scope::Endpoint(endpoint);
        let reason = || a.reason.clone().unwrap_or_default();
        let change = match (b.limited, a.limited) {
            (false, true) => Some((Change::Limited, reason())),
            (true, false) => Some((Change::Back, "no 429 since the pause".to_owned())),
            _ if b.pace != a.pace => Some((Change::Step, step_reason(b.pace, a.pace))),
            (true, true) if b.reason != a.reason => Some((Change::Step, reason())),
            _ => None,
        };
        if let Some((change, reason)) = change {
            out.push(event(scope, change, a.pace, reason));
        }
    }
    if before.per_second != after.per_second {
        let change = if before.per_second == before.configured {
            Change::Limited
        } else if after.per_second == after.configured {
            Change::Back
        } else {
            Change::Step
        };
        let reason = match change {
            Change::Limited => "the key's budget is below rate_limit: lowering the overall rate",
            Change::Back => "back at rate_limit",
            Change::Step => "self-tuning the overall rate",
        };
        out.push(event(
            Scope::Ceiling,
            change,
            after.per_second,
            reason.into(),
        ));
    }
    if !before.key_limited.is_empty() && after.key_limited.is_empty() {
        out.push(event(
            Scope::Key,
            Change::Back,
            after.per_second,
            "calls resume".into(),
        ));
    }
    out
}

fn step_reason(before: f64, after: f64) -> String {
    if after > before {
        "quiet: raising the pace".into()
    } else {
        "rate limited: lowering the pace".into()
    }
}

fn event(scope: Scope, change: Change, per_second: f64, reason: String) -> EventKind {
    EventKind::Throttle {
        scope,
        change,
        per_second,
        reason,
    }
}
