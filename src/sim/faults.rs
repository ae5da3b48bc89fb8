//! Fault injection: what can go wrong with a call (429 storms, gateway errors, slow or dropped
//! responses, bodies that are not JSON, `success: false`, instances that vanish from reads),
//! for a time window or a number of calls, on all endpoints or some.

use std::time::Duration;

use tokio::time::Instant;

use super::scenario::{FaultKind, FaultSpec};

/// The stats names of every endpoint; faults and gaps are keyed by them.
pub const ENDPOINT_NAMES: &[&str] = &[
    "list",
    "list_v0",
    "show",
    "request_logs",
    "set_state",
    "reboot",
    "recycle",
    "destroy",
    "bulk",
    "execute",
    "filters",
    "user",
    "log_result",
];

/// One way a response can go wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 before the endpoint is reached; `Retry-After` in whole seconds when given.
    Status429 {
        retry_after: Option<Duration>,
        json_body: bool,
    },
    /// A gateway error (502, 503, 504, ...) with an HTML body.
    Status5xx(u16),
    /// A proxy's HTML 404 page: the request never reached the API, so it proves nothing
    /// about the instance.
    ProxyNotFound,
    /// The response is held back this long (then served normally).
    Slow(Duration),
    /// The connection is closed without any response.
    DropConnection,
    /// 200 with a JSON content type and a truncated body.
    MalformedJson,
    /// 200 `{"success": false, ...}` (for request_logs: `error: "not_ready"`).
    SuccessFalse,
    /// These instances (all when empty) are missing from every read.
    Vanish(Vec<u64>),
}

/// How long an injected fault lasts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lasting {
    For(Duration),
    /// The next `n` matching calls.
    Requests(u32),
    Forever,
}

#[derive(Debug, Clone)]
struct Active {
    fault: Fault,
    endpoints: Vec<String>,
    from: Instant,
    until: Option<Instant>,
    requests_left: Option<u32>,
}

impl Active {
    fn covers(&self, endpoint: &str, now: Instant) -> bool {
        let scoped = if self.endpoints.is_empty() {
            endpoint != "log_result"
        } else {
            self.endpoints.iter().any(|e| e == endpoint)
        };
        scoped
            && now >= self.from
            && self.until.is_none_or(|u| now < u)
            && self.requests_left != Some(0)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    active: Vec<Active>,
}

impl Faults {
    /// The windows of a scenario, relative to `start`.
    pub fn from_specs(specs: &[FaultSpec], start: Instant) -> Faults {
        let active = specs
            .iter()
            .map(|spec| Active {
                fault: fault_of(spec),
                endpoints: spec.endpoints.clone(),
                from: start + spec.from.0,
                until: spec.until.map(|u| start + u.0),
                requests_left: None,
            })
            .collect();
        Faults { active }
    }

    pub fn inject(&mut self, fault: Fault, endpoints: &[&str], lasting: Lasting, now: Instant) {
        let (until, requests_left) = match lasting {
            Lasting::For(d) => (Some(now + d), None),
            Lasting::Requests(n) => (None, Some(n)),
            Lasting::Forever => (None, None),
        };
        self.active.push(Active {
            fault,
            endpoints: endpoints.iter().map(|e| (*e).to_owned()).collect(),
            from: now,
            until,
            requests_left,
        });
    }

    pub fn clear(&mut self) {
        self.active.clear();
    }

    /// The faults that hit this call (consuming their request budgets), in injection order.
    /// `Vanish` is not among them: reads ask [`Faults::hidden`] instead.
    pub fn take(&mut self, endpoint: &str, now: Instant) -> Vec<Fault> {
        self.active
            .retain(|a| a.until.is_none_or(|u| now < u) && a.requests_left != Some(0));
        let mut hits = Vec::new();
        for active in &mut self.active {
            if matches!(active.fault, Fault::Vanish(_)) || !active.covers(endpoint, now) {
                continue;
            }
            if let Some(left) = active.requests_left.as_mut() {
                *left -= 1;
            }
            hits.push(active.fault.clone());
        }
        hits
    }

    /// Whether a read through `endpoint` must leave instance `id` out.
    pub fn hidden(&self, endpoint: &str, id: u64, now: Instant) -> bool {
        self.active.iter().any(|a| match &a.fault {
            Fault::Vanish(ids) => a.covers(endpoint, now) && (ids.is_empty() || ids.contains(&id)),
            _ => false,
        })
    }
}

fn fault_of(spec: &FaultSpec) -> Fault {
    match spec.kind {
        FaultKind::TooManyRequests => Fault::Status429 {
            retry_after: spec.retry_after.map(|d| d.0),
            json_body: spec.json_body,
        },
        FaultKind::BadGateway => Fault::Status5xx(502),
        FaultKind::Unavailable => Fault::Status5xx(503),
        FaultKind::GatewayTimeout => Fault::Status5xx(504),
        FaultKind::ProxyNotFound => Fault::ProxyNotFound,
        FaultKind::Slow => Fault::Slow(spec.delay.map(|d| d.0).unwrap_or_default()),
        FaultKind::Drop => Fault::DropConnection,
        FaultKind::MalformedJson => Fault::MalformedJson,
        FaultKind::SuccessFalse => Fault::SuccessFalse,
        FaultKind::Vanish => Fault::Vanish(spec.ids.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::Dur;

    #[test]
    fn windows_open_and_close_on_time_and_scope() {
        let t0 = Instant::now();
        let spec = FaultSpec {
            kind: FaultKind::BadGateway,
            from: Dur::secs(2),
            until: Some(Dur::secs(4)),
            endpoints: vec!["list".into()],
            retry_after: None,
            json_body: false,
            delay: None,
            ids: vec![],
        };
        let mut faults = Faults::from_specs(&[spec], t0);
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(faults.take("list", at(1)).is_empty());
        assert_eq!(faults.take("list", at(3)), [Fault::Status5xx(502)]);
        assert!(faults.take("show", at(3)).is_empty());
        assert!(faults.take("list", at(4)).is_empty());
    }

    #[test]
    fn request_budgets_run_out_and_vanish_only_hides() {
        let t0 = Instant::now();
        let mut faults = Faults::default();
        faults.inject(Fault::SuccessFalse, &[], Lasting::Requests(2), t0);
        faults.inject(Fault::Vanish(vec![7]), &[], Lasting::Forever, t0);
        assert_eq!(faults.take("show", t0).len(), 1);
        assert!(faults.take("log_result", t0).is_empty());
        assert_eq!(faults.take("list", t0).len(), 1);
        assert!(faults.take("list", t0).is_empty());
        assert!(faults.hidden("list", 7, t0));
        assert!(!faults.hidden("list", 8, t0));
        faults.clear();
        assert!(!faults.hidden("list", 7, t0));
    }
}
