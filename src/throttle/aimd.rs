//! Self-tuning of the overall rate: additive increase, multiplicative decrease, with a memory of
//! where it last hurt. A 429 cuts the rate to a fraction of the rate that failed (the "knee");
//! after a quiet spell the rate climbs back quickly to just under the knee, then probes above it
//! slowly, doubling each probe step while probes go unpunished. Halving and climbing blindly
//! (plain AIMD) would hit the server's limit every few tens of calls; parking just under the
//! knee keeps 429s rare while using almost all of the budget. Pure: the time is passed in.

use std::time::Duration;

use tokio::time::Instant;

/// A 429 at rate r leaves r × CUT.
const CUT: f64 = 0.85;
/// The rate never drops below this many calls per second (or the ceiling, if lower).
const FLOOR: f64 = 0.05;
/// No increase until this long after the last cut.
const QUIET: Duration = Duration::from_secs(10);
/// Then one step per this much more quiet time…
const STEP: Duration = Duration::from_secs(2);
/// …of this fraction of the ceiling, up to [`KNEE_SHARE`] of the knee.
const STEP_SHARE: f64 = 1.0 / 20.0;
/// Where the fast climb stops: just under the rate that failed last.
const KNEE_SHARE: f64 = 0.95;
/// Above that, one probe per this much quiet time…
const PROBE_EVERY: Duration = Duration::from_secs(120);
/// …the first of this fraction of the knee, each next one twice the last.
const PROBE_SHARE: f64 = 0.02;

#[derive(Debug, Clone)]
pub(super) struct Aimd {
    ceiling: f64,
    floor: f64,
    after_cut: f64,
    /// The rate at the last 429.
    knee: f64,
    last_cut: Option<Instant>,
}

impl Aimd {
    pub(super) fn new(ceiling: f64) -> Self {
        Aimd {
            ceiling,
            floor: FLOOR.min(ceiling),
            after_cut: ceiling,
            knee: ceiling,
            last_cut: None,
        }
    }

    /// The effective rate at `now`.
    pub(super) fn rate_at(&self, now: Instant) -> f64 {
        let Some(cut_at) = self.last_cut else {
            return self.ceiling;
        };
        let Some(climbing) = now.saturating_duration_since(cut_at).checked_sub(QUIET) else {
            return self.after_cut;
        };
        let plateau = (self.knee * KNEE_SHARE).max(self.after_cut);
        let step = self.ceiling * STEP_SHARE;
        let steps_to_plateau = ((plateau - self.after_cut) / step).ceil();
        let steps = (climbing.as_secs_f64() / STEP.as_secs_f64()).floor();
        let rate = if steps < steps_to_plateau {
            self.after_cut + steps * step
        } else {
            let probing = climbing.as_secs_f64() - steps_to_plateau * STEP.as_secs_f64();
            let probes = (probing / PROBE_EVERY.as_secs_f64()).floor().min(30.0);
            plateau + self.knee * PROBE_SHARE * (2f64.powf(probes) - 1.0)
        };
        rate.min(self.ceiling)
    }

    /// One rate-limit episode at `now`.
    pub(super) fn cut(&mut self, now: Instant) {
        let rate = self.rate_at(now);
        self.knee = rate;
        self.after_cut = (rate * CUT).max(self.floor);
        self.last_cut = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn starts_at_the_ceiling_and_cuts_multiplicatively_down_to_the_floor() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(2.0);
        assert_eq!(aimd.rate_at(t0), 2.0);
        aimd.cut(t0);
        assert!(close(aimd.rate_at(t0), 1.7));
        aimd.cut(t0);
        assert!(close(aimd.rate_at(t0), 1.445));
        for _ in 0..100 {
            aimd.cut(t0);
        }
        assert_eq!(aimd.rate_at(t0), FLOOR);
    }

    #[test]
    fn climbs_fast_to_just_under_the_knee_then_probes_slowly() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(4.0);
        aimd.cut(t0); // knee 4.0, after the cut 3.4
        aimd.cut(t0); // knee 3.4, after the cut 2.89
        let at = |s: u64| aimd.rate_at(t0 + secs(s));
        assert!(close(at(9), 2.89), "nothing during the quiet period");
        assert!(close(at(10), 2.89));
        assert!(close(at(12), 3.09));
        // The plateau, 0.95 × 3.4 = 3.23, is reached after one more step and held...
        assert!(close(at(14), 3.23));
        assert!(close(at(14 + 119), 3.23));
        // ...then probes add 2% of the knee, then 4% more, then 8% more.
        assert!(close(at(14 + 120), 3.23 + 0.068));
        assert!(close(at(14 + 240), 3.23 + 3.0 * 0.068));
        assert_eq!(at(3600), 4.0, "never above the ceiling");
    }

    #[test]
    fn a_cut_while_probing_remembers_the_new_knee() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(2.0);
        aimd.cut(t0);
        let probing = t0 + secs(200);
        let rate = aimd.rate_at(probing);
        aimd.cut(probing);
        assert!(close(aimd.rate_at(probing), rate * CUT));
        assert!(close(aimd.rate_at(probing + secs(3600)), 2.0));
    }

    #[test]
    fn a_ceiling_below_the_floor_stays_put() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(0.01);
        aimd.cut(t0);
        assert_eq!(aimd.rate_at(t0), 0.01);
    }
}
