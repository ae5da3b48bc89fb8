//! What the simulator saw: calls per (endpoint, method, status), 429s, the state changes and
//! destroys each instance received through the API, and a log of every request, so tests can
//! count calls and check that the key never travelled in a URL.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// The request log keeps at most this many entries (long benchmark runs); the rest are counted.
const MAX_REQUESTS: usize = 200_000;

/// A snapshot of the counters and the request log (also served at `GET /__sim/stats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SimStats {
    pub counts: Vec<EndpointCount>,
    pub total_429: u64,
    pub instances: BTreeMap<u64, InstanceActions>,
    pub requests: Vec<RequestRecord>,
    /// Requests left out of `requests` because the log was full.
    pub requests_dropped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointCount {
    pub endpoint: String,
    pub method: String,
    /// 0 when the connection was dropped without a response.
    pub status: u16,
    pub count: u64,
}

/// Accepted API calls that changed an instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceActions {
    /// Stop, start, reboot, recycle (single or bulk).
    pub state_changes: u64,
    pub destroys: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Milliseconds since the simulator started.
    pub at_ms: u64,
    pub method: String,
    pub endpoint: String,
    pub path: String,
    pub query: String,
    /// Header names in lower case. An `authorization` value that is not the simulator's own
    /// key is recorded as `<other>`, in case a real key was pointed here by mistake.
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub status: u16,
}

impl SimStats {
    /// Calls to `endpoint` (any method) answered with `status`.
    pub fn count(&self, endpoint: &str, status: u16) -> u64 {
        self.counts
            .iter()
            .filter(|c| c.endpoint == endpoint && c.status == status)
            .map(|c| c.count)
            .sum()
    }

    /// All calls to `endpoint`, whatever the answer.
    pub fn calls(&self, endpoint: &str) -> u64 {
        self.counts
            .iter()
            .filter(|c| c.endpoint == endpoint)
            .map(|c| c.count)
            .sum()
    }

    pub fn total_calls(&self) -> u64 {
        self.counts.iter().map(|c| c.count).sum()
    }

    pub fn actions_on(&self, id: u64) -> InstanceActions {
        self.instances.get(&id).copied().unwrap_or_default()
    }

    /// Whether `needle` (e.g. the key) appears in any request's path or query.
    pub fn any_url_contains(&self, needle: &str) -> bool {
        self.requests
            .iter()
            .any(|r| r.path.contains(needle) || r.query.contains(needle))
    }

    /// The first value of header `name` (lower case) of each request to `endpoint`.
    pub fn header_values(&self, endpoint: &str, name: &str) -> Vec<Option<String>> {
        self.requests
            .iter()
            .filter(|r| r.endpoint == endpoint)
            .map(|r| {
                r.headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            })
            .collect()
    }
}

/// The live counters behind [`SimStats`].
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    counts: HashMap<(String, String, u16), u64>,
    total_429: u64,
    instances: BTreeMap<u64, InstanceActions>,
    requests: Vec<RequestRecord>,
    requests_dropped: u64,
}

impl Recorder {
    pub fn record(&mut self, request: RequestRecord) {
        let slot = (
            request.endpoint.clone(),
            request.method.clone(),
            request.status,
        );
        *self.counts.entry(slot).or_default() += 1;
        if request.status == 429 {
            self.total_429 += 1;
        }
        if self.requests.len() < MAX_REQUESTS {
            self.requests.push(request);
        } else {
            self.requests_dropped += 1;
        }
    }

    pub fn state_change(&mut self, id: u64) {
        self.instances.entry(id).or_default().state_changes += 1;
    }

    pub fn destroy(&mut self, id: u64) {
        self.instances.entry(id).or_default().destroys += 1;
    }

    pub fn snapshot(&self) -> SimStats {
        let mut counts: Vec<EndpointCount> = self
            .counts
            .iter()
            .map(|((endpoint, method, status), count)| EndpointCount {
                endpoint: endpoint.clone(),
                method: method.clone(),
                status: *status,
                count: *count,
            })
            .collect();
        counts.sort_by(|a, b| {
            (&a.endpoint, &a.method, a.status).cmp(&(&b.endpoint, &b.method, b.status))
        });
        SimStats {
            counts,
            total_429: self.total_429,
            instances: self.instances.clone(),
            requests: self.requests.clone(),
            requests_dropped: self.requests_dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(endpoint: &str, status: u16, query: &str) -> RequestRecord {
        RequestRecord {
            at_ms: 0,
            method: "GET".into(),
            endpoint: endpoint.into(),
            path: "/api/v1/instances/".into(),
            query: query.into(),
            headers: vec![("authorization".into(), "Bearer k".into())],
            body: String::new(),
            status,
        }
    }

    #[test]
    fn counters_add_up() {
        let mut rec = Recorder::default();
        rec.record(request("list", 200, ""));
        rec.record(request("list", 429, ""));
        rec.record(request("show", 200, "api_key=secret"));
        rec.state_change(5);
        rec.destroy(5);
        let stats = rec.snapshot();
        assert_eq!(stats.calls("list"), 2);
        assert_eq!(stats.count("list", 429), 1);
        assert_eq!(stats.total_429, 1);
        assert_eq!(stats.total_calls(), 3);
        assert_eq!(
            stats.actions_on(5),
            InstanceActions {
                state_changes: 1,
                destroys: 1
            }
        );
        assert_eq!(stats.actions_on(6), InstanceActions::default());
        assert!(stats.any_url_contains("secret"));
        assert_eq!(
            stats.header_values("list", "authorization")[0].as_deref(),
            Some("Bearer k")
        );
        let json = serde_json::to_string(&stats).unwrap();
        assert_eq!(serde_json::from_str::<SimStats>(&json).unwrap(), stats);
    }
}
