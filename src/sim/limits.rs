//! Rate limiting as the real API does it: a minimum gap between two calls of one key to one
//! endpoint with one method, plus an optional overall token bucket per key (a server whose
//! real limit sits below what a client believes it may send).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::scenario::Limits;

/// Why a call was refused and how long until it would pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Refusal {
    /// The endpoint's gap, when that is what refused it (`None`: the overall bucket).
    pub threshold: Option<Duration>,
    pub wait: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Debug)]
pub(crate) struct Limiter {
    pub config: Limits,
    last: HashMap<(String, &'static str, String), Instant>,
    buckets: HashMap<String, Bucket>,
}

impl Limiter {
    pub fn new(config: Limits) -> Limiter {
        Limiter {
            config,
            last: HashMap::new(),
            buckets: HashMap::new(),
        }
    }

    /// Claims a call, or says why not. A refused call claims nothing, so a client that waits
    /// out the gap after a 429 gets through.
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
        if let Some(last) = self.last.get(&slot) {
            let since = now.saturating_duration_since(*last);
            if since < gap {
                return Err(Refusal {
                    threshold: Some(gap),
                    wait: gap - since,
                });
            }
        }
        if let Some(rate) = self.config.overall_per_second {
            let burst = f64::from(self.config.overall_burst.unwrap_or(1).max(1));
            let bucket = self.buckets.entry(key.to_owned()).or_insert(Bucket {
                tokens: burst,
                updated: now,
            });
            let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
            bucket.updated = now;
            if bucket.tokens < 1.0 {
                return Err(Refusal {
                    threshold: None,
                    wait: Duration::from_secs_f64((1.0 - bucket.tokens) / rate),
                });
            }
            bucket.tokens -= 1.0;
        }
        self.last.insert(slot, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn gaps_are_per_endpoint_and_method_and_refusals_claim_nothing() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(Limits::default());
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
    fn the_overall_bucket_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut config = Limits {
            overall_per_second: Some(2.0),
            overall_burst: Some(2),
            ..Limits::default()
        };
        config.gaps.request_logs = crate::sim::scenario::Dur(Duration::ZERO);
        let mut limiter = Limiter::new(config);
        assert!(limiter.check("k", "request_logs", "PUT", t0).is_ok());
        assert!(limiter.check("k", "request_logs", "PUT", t0).is_ok());
        let refused = limiter.check("k", "request_logs", "PUT", t0).unwrap_err();
        assert_eq!((refused.threshold, refused.wait), (None, ms(500)));
        assert!(limiter
            .check("k", "request_logs", "PUT", t0 + ms(500))
            .is_ok());
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
