//! The overall ceiling: a `governor` limiter whose clock is tokio's, so that tokio's paused
//! clock in tests drives it exactly like it drives every other wait of the program.
//!
//! governor's own `until_ready` sleeps on a real-time timer that the paused clock cannot move;
//! callers therefore use [`Ceiling::try_take`] and sleep with `tokio::time` themselves.
//!
//! governor before 0.8 handed out one cell more than its burst once a limiter had been idle;
//! 0.10 does not (`an_idle_limiter_allows_exactly_its_burst` below guards it), so the limiter
//! is used as it is.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// governor time as nanoseconds since an origin taken from `tokio::time::Instant`.
#[derive(Debug, Clone, Copy)]
pub(super) struct TokioClock {
    origin: Instant,
}

impl TokioClock {
    pub(super) fn new() -> Self {
        TokioClock {
            origin: Instant::now(),
        }
    }

    fn instant_at(&self, at: Nanos) -> Instant {
        self.origin + Duration::from(at)
    }
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(Instant::now().saturating_duration_since(self.origin))
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>;

/// A limiter of `per_second` calls with bursts of up to `burst`.
pub(super) struct Ceiling {
    limiter: Limiter,
    clock: TokioClock,
    quota: Quota,
    period: Duration,
    /// The burst counts as used up at this instant until the first take after it, one period
    /// later. governor cannot start a limiter in the past, so that first take is granted here
    /// and the limiter is emptied at that moment instead.
    held_since: Option<Instant>,
    /// When the burst was last known to be used: the last take, or `held_since`.
    used_at: Option<Instant>,
}

impl std::fmt::Debug for Ceiling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ceiling").finish_non_exhaustive()
    }
}

impl Ceiling {
    /// `per_second` must be positive and finite (the throttle sanitizes it). With `used_at`,
    /// the burst counts as used up at that instant: the first call waits one period from it.
    /// A limiter rebuilt after the API complained must not hand out a fresh burst, and one
    /// rebuilt for a new rate must not make the next call wait longer than the new rate asks.
    pub(super) fn new(
        per_second: f64,
        burst: u32,
        clock: TokioClock,
        used_at: Option<Instant>,
    ) -> Self {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let period = Duration::try_from_secs_f64(per_second.recip()).unwrap_or(Duration::ZERO);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst);
        Ceiling {
            limiter: limiter(quota, clock),
            clock,
            quota,
            period,
            held_since: used_at,
            used_at,
        }
    }

    /// When the burst was last known to be used up, to carry over into a rebuilt limiter.
    pub(super) fn used_at(&self) -> Option<Instant> {
        self.used_at
    }

    /// Claims one call, or says when the next one may be claimed.
    pub(super) fn try_take(&mut self) -> Result<(), Instant> {
        let now = Instant::now();
        if let Some(since) = self.held_since {
            let first = since + self.period;
            if now < first {
                return Err(first);
            }
            // A limiter built now has room for exactly its burst: this empties it, as this call
            // used the burst up.
            self.limiter = limiter(self.quota, self.clock);
            let _ = self.limiter.check_n(self.quota.burst_size());
            self.held_since = None;
            self.used_at = Some(now);
            return Ok(());
        }
        self.limiter
            .check()
            .map_err(|not_until| self.clock.instant_at(not_until.earliest_possible()))?;
        self.used_at = Some(now);
        Ok(())
    }
}

fn limiter(quota: Quota, clock: TokioClock) -> Limiter {
    RateLimiter::direct_with_clock(quota, clock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_then_spaces_calls_on_tokio_time() {
        let start = Instant::now();
        let mut ceiling = Ceiling::new(2.0, 2, TokioClock::new(), None);
        assert!(ceiling.try_take().is_ok());
        assert!(ceiling.try_take().is_ok());
        let next = ceiling.try_take().unwrap_err();
        assert_eq!(next - start, Duration::from_millis(500));
        tokio::time::sleep_until(next).await;
        assert!(ceiling.try_take().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_limiter_allows_exactly_its_burst() {
        for burst in [1, 3] {
            let mut ceiling = Ceiling::new(0.5, burst, TokioClock::new(), None);
            for _ in 0..3 {
                let granted = (0..burst + 2)
                    .filter(|_| ceiling.try_take().is_ok())
                    .count();
                assert_eq!(granted, burst as usize, "burst {burst}");
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_partly_refilled_limiter_is_not_touched() {
        let start = Instant::now();
        let mut ceiling = Ceiling::new(1.0, 3, TokioClock::new(), None);
        assert_eq!((0..3).filter(|_| ceiling.try_take().is_ok()).count(), 3);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!((0..3).filter(|_| ceiling.try_take().is_ok()).count(), 2);
        assert_eq!(
            ceiling.try_take().unwrap_err() - start,
            Duration::from_secs(3)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_limiter_rebuilt_for_a_new_rate_keeps_the_pace_of_the_old_one() {
        let start = Instant::now();
        let mut old = Ceiling::new(1.0, 2, TokioClock::new(), None);
        assert!(old.try_take().is_ok() && old.try_take().is_ok());
        tokio::time::sleep(Duration::from_millis(700)).await;
        // Rebuilt at 2/s, 0.7 s after the last call: the next call is due 0.5 s after it, not
        // 0.5 s after the rebuild, and the burst is not handed out again.
        let mut rebuilt = Ceiling::new(2.0, 2, TokioClock::new(), old.used_at());
        assert!(rebuilt.try_take().is_ok());
        assert_eq!(
            rebuilt.try_take().unwrap_err() - start,
            Duration::from_millis(1200)
        );
        let mut early = Ceiling::new(0.5, 2, TokioClock::new(), rebuilt.used_at());
        assert_eq!(
            early.try_take().unwrap_err() - start,
            Duration::from_millis(2700)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_limiter_waits_one_period_first() {
        let start = Instant::now();
        let mut ceiling = Ceiling::new(0.5, 4, TokioClock::new(), Some(start));
        let next = ceiling.try_take().unwrap_err();
        assert_eq!(next - start, Duration::from_secs(2));
    }
}
