//! Rate limiting as the real API does it, per key, endpoint and method, in one of two models
//! (vast-api.md §6, "What newer evidence adds"):
//! - `bucket` (the default): a token bucket per endpoint whose sustained rate is the documented
//!   threshold, with a small burst, so a client that fetches list pages back to back (the
//!   official one does) gets through, and a 429 says when the next token is due.
//! - `strict`: a hard minimum gap between two calls — the stress case, and the floor the
//!   benchmark measures against.
//!
//! Either way there is an optional overall token bucket per key on top (a server whose real
//! limit sits below what a client believes it may send).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use serde::{Deserialize, Serialize};

use super::scenario::Dur;

/// Why a call was refused and how long until it would pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Refusal {
    /// The endpoint's threshold, when that is what refused it (`None`: the overall bucket).
    pub threshold: Option<Duration>,
    pub wait: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(capacity: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: capacity,
            updated: now,
        }
    }

    /// Takes a token, or says how long until one is there. `per_second` > 0.
    fn take(&mut self, capacity: f64, per_second: f64, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(capacity);
        self.updated = now;
        if self.tokens < 1.0 {
            return Err(Duration::from_secs_f64((1.0 - self.tokens) / per_second));
        }
        self.tokens -= 1.0;
        Ok(())
    }
}

type Slot = (String, &'static str, String);

#[derive(Debug)]
pub(crate) struct Limiter {
    pub config: Limits,
    /// Strict model: when each slot last let a call through.
    last: HashMap<Slot, Instant>,
    /// Bucket model: each slot's bucket.
    endpoint_buckets: HashMap<Slot, Bucket>,
    overall: HashMap<String, Bucket>,
}

impl Limiter {
    pub fn new(config: Limits) -> Limiter {
        Limiter {
            config,
            last: HashMap::new(),
            endpoint_buckets: HashMap::new(),
            overall: HashMap::new(),
        }
    }

    /// Claims a call, or says why not. A refused call claims nothing, so a client that waits
    /// out the named wait after a 429 gets through.
    pub fn check(
        &mut self,
        key: &str,
        endpoint: &'static str,
        method: &str,
        now: Instant,
    ) -> Result<(), Refusal> {
        if !self.config.enabled {
            return Ok(());
        }
        let Some(gap) = self.config.gaps.get(endpoint) else {
            return Ok(());
        };
        let slot = (key.to_owned(), endpoint, method.to_owned());
        let refused = |wait| Refusal {
            threshold: Some(gap),
            wait,
        };
        // The endpoint's own limit is only looked at here, and claimed once the overall bucket
        // (if any) agreed, so a refusal never spends anything.
        let endpoint_bucket = match self.config.model {
            _ if gap.is_zero() => None,
            RateModel::Strict => {
                if let Some(last) = self.last.get(&slot) {
                    let since = now.saturating_duration_since(*last);
                    if since < gap {
                        return Err(refused(gap - since));
                    }
                }
                None
            }
            RateModel::Bucket => {
                let capacity = f64::from(self.config.burst.max(1));
                let per_second = gap.as_secs_f64().recip();
                let mut bucket = *self
                    .endpoint_buckets
                    .entry(slot.clone())
                    .or_insert_with(|| Bucket::full(capacity, now));
                bucket.take(capacity, per_second, now).map_err(refused)?;
                Some(bucket)
            }
        };
        if let Some(rate) = self.config.overall_per_second {
            let capacity = f64::from(self.config.overall_burst.unwrap_or(1).max(1));
            let bucket = self
                .overall
                .entry(key.to_owned())
                .or_insert_with(|| Bucket::full(capacity, now));
            bucket.take(capacity, rate, now).map_err(|wait| Refusal {
                threshold: None,
                wait,
            })?;
        }
        match endpoint_bucket {
            Some(bucket) => {
                self.endpoint_buckets.insert(slot, bucket);
            }
            None => {
                self.last.insert(slot, now);
            }
        }
        Ok(())
    }
}

/// How an endpoint's threshold is enforced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateModel {
    /// A token bucket per endpoint: the threshold is the sustained rate, `burst` calls may come
    /// back to back, and a 429 carries `Retry-After` (what the official client 1.9.1 expects).
    #[default]
    Bucket,
    /// A hard minimum gap between two calls, no `Retry-After` (the documented reading: the
    /// stress case, and the benchmark's floor).
    Strict,
}

/// Per-key rate limiting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub enabled: bool,
    pub model: RateModel,
    /// `bucket`: the calls one endpoint takes back to back before its threshold applies.
    pub burst: u32,
    /// 429 body as `{"detail": ...}` instead of plain text.
    pub json_body: bool,
    /// Send `Retry-After` (whole seconds until the call would pass). Unset: the model's
    /// default ([`Limits::sends_retry_after`]).
    pub retry_after: Option<bool>,
    /// An overall token bucket per key on top of the endpoints' limits: refill rate ...
    pub overall_per_second: Option<f64>,
    /// ... and capacity (default: 1).
    pub overall_burst: Option<u32>,
    pub gaps: Gaps,
}

/// A small burst: the three list pages of a 60-instance account, fetched back to back.
const DEFAULT_BURST: u32 = 3;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            enabled: true,
            model: RateModel::default(),
            burst: DEFAULT_BURST,
            json_body: false,
            retry_after: None,
            overall_per_second: None,
            overall_burst: None,
            gaps: Gaps::default(),
        }
    }
}

impl Limits {
    /// Whether a 429 carries `Retry-After`: as set, else with buckets (a refill time to name)
    /// and not with strict gaps (the documented API sends none).
    pub fn sends_retry_after(&self) -> bool {
        self.retry_after.unwrap_or(self.model == RateModel::Bucket)
    }
}

/// Per endpoint: the minimum gap between two calls of one key (`strict`), or the time one
/// token takes to refill (`bucket`), from vast-api.md §6.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Gaps {
    pub show: Dur,
    pub list: Dur,
    pub list_v0: Dur,
    pub set_state: Dur,
    pub reboot: Dur,
    pub recycle: Dur,
    pub destroy: Dur,
    pub bulk: Dur,
    pub execute: Dur,
    pub request_logs: Dur,
}

impl Default for Gaps {
    fn default() -> Self {
        Gaps {
            show: Dur::secs(2),
            list: Dur::secs(1),
            list_v0: Dur::secs(2),
            set_state: Dur::secs(1),
            reboot: Dur::secs(1),
            recycle: Dur::secs(1),
            destroy: Dur::secs(3),
            bulk: Dur::secs(1),
            execute: Dur::millis(1500),
            request_logs: Dur::secs(1),
        }
    }
}

impl Gaps {
    /// The gap of an endpoint by its stats name; `None` for endpoints that are not limited.
    pub fn get(&self, endpoint: &str) -> Option<Duration> {
        let gap = match endpoint {
            "show" => self.show,
            "list" => self.list,
            "list_v0" => self.list_v0,
            "set_state" => self.set_state,
            "reboot" => self.reboot,
            "recycle" => self.recycle,
            "destroy" => self.destroy,
            "bulk" => self.bulk,
            "execute" => self.execute,
            "request_logs" => self.request_logs,
            _ => return None,
        };
        Some(gap.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn strict() -> Limits {
        Limits {
            model: RateModel::Strict,
            ..Limits::default()
        }
    }

    #[test]
    fn strict_gaps_are_per_endpoint_and_method_and_refusals_claim_nothing() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(strict());
        assert!(limiter.check("k", "show", "GET", t0).is_ok());
        let refused = limiter.check("k", "show", "GET", t0 + ms(500)).unwrap_err();
        assert_eq!(refused.threshold, Some(Duration::from_secs(2)));
        assert_eq!(refused.wait, ms(1500));
        assert!(limiter.check("k", "list", "GET", t0 + ms(500)).is_ok());
        assert!(limiter.check("other", "show", "GET", t0 + ms(500)).is_ok());
        assert!(limiter.check("k", "show", "GET", t0 + ms(2000)).is_ok());
        assert!(limiter.check("k", "log_result", "GET", t0).is_ok());
    }

    #[test]
    fn buckets_allow_a_burst_then_the_sustained_rate() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(Limits::default());
        let burst = Limits::default().burst;
        assert!(burst >= 2, "a burst of {burst} is no burst");
        // Back to back, as the official client fetches list pages.
        for _ in 0..burst {
            assert!(limiter.check("k", "list", "GET", t0 + ms(8)).is_ok());
        }
        let refused = limiter.check("k", "list", "GET", t0 + ms(8)).unwrap_err();
        assert_eq!(refused.threshold, Some(Duration::from_secs(1)));
        assert_eq!(refused.wait, ms(1000));
        // A refusal spends nothing: after the named wait the call passes, and the next one
        // waits a whole threshold (the sustained rate).
        assert!(limiter.check("k", "list", "GET", t0 + ms(1008)).is_ok());
        let refused = limiter
            .check("k", "list", "GET", t0 + ms(1508))
            .unwrap_err();
        assert_eq!(refused.wait, ms(500));
        // Other endpoints, methods and keys have their own buckets.
        assert!(limiter.check("k", "show", "GET", t0).is_ok());
        assert!(limiter.check("other", "list", "GET", t0).is_ok());
    }

    #[test]
    fn the_overall_bucket_refills_at_its_rate() {
        let t0 = Instant::now();
        for model in [RateModel::Strict, RateModel::Bucket] {
            let mut config = Limits {
                model,
                overall_per_second: Some(2.0),
                overall_burst: Some(2),
                ..Limits::default()
            };
            config.gaps.request_logs = Dur(Duration::ZERO);
            let mut limiter = Limiter::new(config);
            assert!(limiter.check("k", "request_logs", "PUT", t0).is_ok());
            assert!(limiter.check("k", "request_logs", "PUT", t0).is_ok());
            let refused = limiter.check("k", "request_logs", "PUT", t0).unwrap_err();
            assert_eq!((refused.threshold, refused.wait), (None, ms(500)));
            assert!(limiter
                .check("k", "request_logs", "PUT", t0 + ms(500))
                .is_ok());
        }
    }

    #[test]
    fn an_overall_refusal_spends_no_endpoint_token() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(Limits {
            burst: 1,
            overall_per_second: Some(1.0),
            ..Limits::default()
        });
        assert!(limiter.check("k", "list", "GET", t0).is_ok());
        // The overall bucket is empty; the show bucket must stay full meanwhile.
        assert!(limiter.check("k", "show", "GET", t0).is_err());
        assert!(limiter.check("k", "show", "GET", t0 + ms(1000)).is_ok());
    }

    #[test]
    fn switched_off_lets_everything_through() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(Limits {
            enabled: false,
            ..Limits::default()
        });
        for _ in 0..5 {
            assert!(limiter.check("k", "destroy", "DELETE", t0).is_ok());
        }
    }
}
