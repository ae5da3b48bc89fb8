//! The self-tuning run's figures, from the simulator's request log: over the whole run, and
//! after the first descent from the ceiling (4× the key's limit) to the limit, since issue 11's
//! target is about where the rate settles and the descent is a one-off cost of a cold start.
//! Both are printed, each labelled; the whole run stays the headline figure.

use std::collections::BTreeMap;

use vastfleet::sim::RequestRecord;

/// The descent is over by then (the paused-clock test of this scenario measures from 3 min).
pub const SETTLED_AFTER_MS: u64 = 180_000;
/// The timeline's resolution.
const SLICE_MS: u64 = 60_000;

/// Calls to the rate-limited API in one span of the run.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Span {
    pub seconds: f64,
    pub accepted: u64,
    pub refused: u64,
    pub calls: u64,
}

impl Span {
    pub fn accepted_per_second(&self) -> f64 {
        self.accepted as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }

    pub fn refused_share(&self) -> f64 {
        self.refused as f64 / self.calls.max(1) as f64
    }
}

/// One 429 and how soon it came after the last accepted call, of any endpoint (the key's
/// one-call bucket refills in 1 s) and of its own endpoint (the strict model's gap is 1 s).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub at_ms: u64,
    pub endpoint: String,
    pub after_key_ms: Option<u64>,
    pub after_endpoint_ms: Option<u64>,
}

fn limited_api(r: &RequestRecord) -> bool {
    r.endpoint != "log_result" && r.status != 0
}

/// The calls from `from_ms` to `to_ms` after the run's first call.
pub fn span(requests: &[RequestRecord], from_ms: u64, to_ms: u64) -> Span {
    let start = first_ms(requests);
    let mut out = Span {
        seconds: to_ms.saturating_sub(from_ms) as f64 / 1000.0,
        ..Span::default()
    };
    for r in requests.iter().filter(|r| limited_api(r)) {
        let at = r.at_ms - start;
        if !(from_ms..to_ms).contains(&at) {
            continue;
        }
        out.calls += 1;
        match r.status {
            200 => out.accepted += 1,
            429 => out.refused += 1,
            _ => {}
        }
    }
    out
}

/// The run in slices of a minute, up to `run_ms`.
pub fn timeline(requests: &[RequestRecord], run_ms: u64) -> Vec<Span> {
    (0..run_ms.div_ceil(SLICE_MS))
        .map(|k| span(requests, k * SLICE_MS, ((k + 1) * SLICE_MS).min(run_ms)))
        .collect()
}

/// Every 429, in order of arrival, with its times since the accepted calls before it.
pub fn refusals(requests: &[RequestRecord]) -> Vec<Refusal> {
    let start = first_ms(requests);
    let mut sorted: Vec<&RequestRecord> = requests.iter().filter(|r| limited_api(r)).collect();
    sorted.sort_by_key(|r| r.at_ms);
    let mut last_key = None;
    let mut last_endpoint: BTreeMap<&str, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for r in sorted {
        match r.status {
            200 => {
                last_key = Some(r.at_ms);
                last_endpoint.insert(&r.endpoint, r.at_ms);
            }
            429 => out.push(Refusal {
                at_ms: r.at_ms - start,
                endpoint: r.endpoint.clone(),
                after_key_ms: last_key.map(|t| r.at_ms - t),
                after_endpoint_ms: last_endpoint.get(r.endpoint.as_str()).map(|t| r.at_ms - t),
            }),
            _ => {}
        }
    }
    out
}

fn first_ms(requests: &[RequestRecord]) -> u64 {
    requests
        .iter()
        .filter(|r| limited_api(r))
        .map(|r| r.at_ms)
        .min()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(at_ms: u64, endpoint: &str, status: u16) -> RequestRecord {
        RequestRecord {
            at_ms,
            method: "GET".into(),
            endpoint: endpoint.into(),
            path: String::new(),
            query: String::new(),
            headers: Vec::new(),
            body: String::new(),
            status,
        }
    }

    #[test]
    fn spans_count_from_the_first_call_and_leave_out_the_storage_downloads() {
        let requests = [
            call(5_000, "list", 200),
            call(5_400, "logs", 429),
            call(6_000, "log_result", 200),
            call(6_100, "logs", 200),
            call(7_200, "list", 200),
        ];
        let first = span(&requests, 0, 2_000);
        assert_eq!((first.accepted, first.refused, first.calls), (2, 1, 3));
        assert_eq!(first.accepted_per_second(), 1.0);
        assert_eq!(span(&requests, 2_000, 4_000).accepted, 1);
        assert_eq!(timeline(&requests, 61_000).len(), 2);
    }

    #[test]
    fn a_refusal_is_timed_from_the_keys_and_its_endpoints_last_accepted_calls() {
        let requests = [
            call(1_000, "logs", 200),
            call(2_000, "list", 200),
            call(2_300, "logs", 429),
            call(2_500, "list", 429),
        ];
        let got = refusals(&requests);
        assert_eq!(
            got.iter()
                .map(|r| (r.at_ms, r.after_key_ms, r.after_endpoint_ms))
                .collect::<Vec<_>>(),
            [
                (1_300, Some(300), Some(1_300)),
                (1_500, Some(500), Some(500))
            ]
        );
    }
}
