//! The pure retry schedule: `min(interval · 2^(n-1), cap)` plus a little jitter, with the
//! server's `Retry-After` winning when it is longer. Never gives up: every attempt number has
//! a wait.

use std::time::Duration;

use crate::api::ApiError;

/// How retries are spaced for one caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait before the first retry.
    pub base: Duration,
    /// No wait is longer than this (except a longer `Retry-After`).
    pub cap: Duration,
}

/// Jitter spreads retries of many monitors that failed together, so they do not return as one
/// burst. ±10 % is enough to de-synchronise without making the schedule unpredictable.
const JITTER: f64 = 0.10;

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff { base, cap }
    }

    /// The wait before retry number `attempt` (1 for the first failure) without jitter.
    pub fn nominal(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(32);
        let factor = 2u64.saturating_pow(doublings);
        let cap = self.cap.max(self.base);
        self.base
            .checked_mul(u32::try_from(factor).unwrap_or(u32::MAX))
            .map_or(cap, |d| d.min(cap))
    }

    /// The wait before retry `attempt`. `unit` is a uniform random number in [0, 1) supplied by
    /// the caller (so this stays pure and testable); `retry_after` is the server's demand.
    pub fn delay(&self, attempt: u32, unit: f64, retry_after: Option<Duration>) -> Duration {
        let nominal = self.nominal(attempt);
        let spread = (unit.clamp(0.0, 1.0) * 2.0 - 1.0) * JITTER;
        let jittered = nominal.mul_f64(1.0 + spread).min(self.cap.max(self.base));
        match retry_after {
            Some(server) if server > jittered => server,
            _ => jittered,
        }
    }

    /// The wait before retrying a call whose `attempt`th failure in a row was `error`. A 429
    /// is retried at the first attempt's wait: the throttle already holds the next call for
    /// its endpoint's pause, which grows while calls are refused, so doubling here as well
    /// left the status sweep 30 s behind a storm that had ended, and a log poll minutes behind
    /// (issue 11).
    pub fn retry_delay(&self, attempt: u32, unit: f64, error: &ApiError) -> Duration {
        let attempt = if error.is_rate_limited() { 1 } else { attempt };
        self.delay(attempt, unit, error.retry_after())
    }
}

/// A tiny deterministic PRNG (splitmix64) for jitter: seeded per caller, so tests are exact and
/// no global RNG state is shared between monitors.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn seeded(seed: u64) -> Self {
        Jitter(seed)
    }

    /// A uniform number in [0, 1).
    pub fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn doubles_from_the_interval_up_to_the_cap() {
        let b = Backoff::new(S(5), S(60));
        let waits: Vec<u64> = (1..=7).map(|n| b.nominal(n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 60, 60, 60]);
    }

    #[test]
    fn huge_attempt_numbers_stay_at_the_cap() {
        let b = Backoff::new(S(5), S(60));
        assert_eq!(b.nominal(u32::MAX), S(60));
        assert_eq!(b.nominal(0), S(5));
    }

    #[test]
    fn jitter_stays_within_ten_percent_and_under_the_cap() {
        let b = Backoff::new(S(10), S(60));
        assert_eq!(b.delay(1, 0.0, None), Duration::from_secs(9));
        assert_eq!(b.delay(1, 0.5, None), S(10));
        assert!(b.delay(1, 0.999_999, None) < Duration::from_millis(11_000));
        assert_eq!(b.delay(9, 0.999, None), S(60), "the cap is never exceeded");
    }

    #[test]
    fn retry_after_wins_only_when_longer() {
        let b = Backoff::new(S(5), S(60));
        assert_eq!(b.delay(1, 0.5, Some(S(30))), S(30));
        assert_eq!(b.delay(3, 0.5, Some(S(1))), S(20));
        assert_eq!(
            b.delay(1, 0.5, Some(S(600))),
            S(600),
            "the server's wait beats the cap"
        );
    }

    #[test]
    fn a_429_is_retried_at_the_first_wait_and_other_failures_double() {
        let b = Backoff::new(S(5), S(60));
        let limited = |retry_after| ApiError::RateLimited {
            retry_after,
            message: "API requests too frequent".into(),
        };
        assert_eq!(b.retry_delay(4, 0.5, &limited(None)), S(5));
        assert_eq!(b.retry_delay(4, 0.5, &limited(Some(S(30)))), S(30));
        let down = ApiError::Transient("HTTP 503".into());
        assert_eq!(b.retry_delay(4, 0.5, &down), S(40));
    }

    #[test]
    fn jitter_is_deterministic_per_seed_and_in_range() {
        let mut a = Jitter::seeded(7);
        let mut b = Jitter::seeded(7);
        for _ in 0..1000 {
            let x = a.next_unit();
            assert_eq!(x, b.next_unit());
            assert!((0.0..1.0).contains(&x));
        }
    }
}
