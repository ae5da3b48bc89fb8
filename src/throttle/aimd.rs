//! Self-tuning of the overall rate (additive increase, multiplicative decrease): halve on a
//! rate-limit episode, then after a quiet spell climb back to the configured ceiling in small
//! steps. Pure: the time is passed in.

use std::time::Duration;

use tokio::time::Instant;

/// Each rate-limit episode multiplies the rate by this.
const CUT: f64 = 0.5;
/// The rate never drops below this many calls per second (or the ceiling, if lower).
const FLOOR: f64 = 0.05;
/// No increase until this long after the last cut.
const QUIET: Duration = Duration::from_secs(10);
/// Then one step per this much more quiet time…
const STEP: Duration = Duration::from_secs(2);
/// …of this fraction of the ceiling.
const STEP_SHARE: f64 = 1.0 / 20.0;

#[derive(Debug, Clone)]
pub(super) struct Aimd {
    ceiling: f64,
    floor: f64,
    after_cut: f64,
    last_cut: Option<Instant>,
}

impl Aimd {
    pub(super) fn new(ceiling: f64) -> Self {
        Aimd {
            ceiling,
            floor: FLOOR.min(ceiling),
            after_cut: ceiling,
            last_cut: None,
        }
    }

    /// The effective rate at `now`.
    pub(super) fn rate_at(&self, now: Instant) -> f64 {
        let Some(cut_at) = self.last_cut else {
            return self.ceiling;
        };
        let quiet = now.saturating_duration_since(cut_at);
        let steps = quiet
            .checked_sub(QUIET)
            .map_or(0, |extra| extra.as_nanos() / STEP.as_nanos());
        (self.after_cut + steps as f64 * self.ceiling * STEP_SHARE).min(self.ceiling)
    }

    /// One rate-limit episode at `now`.
    pub(super) fn cut(&mut self, now: Instant) {
        self.after_cut = (self.rate_at(now) * CUT).max(self.floor);
        self.last_cut = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn starts_at_the_ceiling_and_halves_per_cut_down_to_the_floor() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(2.0);
        assert_eq!(aimd.rate_at(t0), 2.0);
        let rates: Vec<f64> = (0..8)
            .map(|_| {
                aimd.cut(t0);
                aimd.rate_at(t0)
            })
            .collect();
        assert_eq!(rates, [1.0, 0.5, 0.25, 0.125, 0.0625, 0.05, 0.05, 0.05]);
    }

    #[test]
    fn climbs_back_additively_after_the_quiet_period() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(2.0);
        aimd.cut(t0);
        let at = |s: u64| aimd.rate_at(t0 + secs(s));
        assert_eq!(at(9), 1.0);
        assert_eq!(at(11), 1.0, "no step before quiet + one step");
        assert_eq!(at(12), 1.1);
        assert!((at(20) - 1.5).abs() < 1e-9);
        assert_eq!(at(30), 2.0);
        assert_eq!(at(3600), 2.0, "never above the ceiling");
    }

    #[test]
    fn a_cut_during_recovery_halves_the_current_rate() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(2.0);
        aimd.cut(t0);
        aimd.cut(t0 + secs(20));
        assert!((aimd.rate_at(t0 + secs(20)) - 0.75).abs() < 1e-9);
    }

    #[test]
    fn a_ceiling_below_the_floor_stays_put() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(0.01);
        aimd.cut(t0);
        assert_eq!(aimd.rate_at(t0), 0.01);
    }
}
