//! Self-tuning of the overall rate (additive increase, multiplicative decrease): cut on a
//! rate-limit episode, then after a quiet spell climb back in small steps. Pure: the time is
//! passed in.
//!
//! Tuned against a server whose real limit sits below the ceiling (`tests/it/engine/aimd.rs`
//! and the benchmark's self-tuning run): the rate must settle within 20 % of that limit with
//! under 2 % of calls answered 429. Halving and steps sized by the ceiling missed both: the
//! sawtooth averaged ⅔ of the limit, and with a ceiling well above the limit each climb
//! overshot within seconds. So the cut is gentler, and the climb remembers the rate at which
//! the API complained (the "peak"): steps are sized by the peak and spaced by a number of calls
//! rather than seconds (so an episode costs about the same share of calls at any rate), and
//! past the peak they double, so a server that raised its limit, or a storm that drove the rate
//! to the floor, is left behind in minutes.
//!
//! Against a steady limit the sawtooth is the cost: a creep from the cut back to the peak
//! averaged 0.8 of the limit in real time. So when the rate that held for a whole step before
//! the complaint is known ("good"), the climb goes straight back to it and holds it for a while
//! before probing again; the rate then spends most of its time one step below the limit.
//! A complaint before the rate rose again means the last cut was not enough (typically the
//! first ones, far above the limit): that cut halves and forgets "good", so a ceiling four
//! times the limit costs three episodes rather than seven.
//!
//! Recovery is bounded in time, not in calls (issue 11): the good rate is back [`QUIET`] after
//! the pause, held at most [`MAX_HOLD`], and the configured ceiling is reached at most
//! [`RECOVERY`] after the pause whatever the steps say, so a storm someone else caused costs
//! minutes at most. The rate never drops below [`FLOOR`].
//!
//! This tunes the one shared ceiling, and only from 429s on calls the ceiling itself held back
//! (see `throttle.rs`): then our overall rate is what the key's budget refused. A 429 on a call
//! its own endpoint's pace sent is that endpoint's business (`budget.rs`).

use std::time::Duration;

use tokio::time::Instant;

/// Each rate-limit episode multiplies the rate by this…
const CUT: f64 = 0.8;
/// …or by this when it came before the rate rose again after the previous cut.
const CUT_AGAIN: f64 = 0.5;
/// The rate never drops below this many calls per second (or the ceiling, if lower): a quarter
/// of the one call per second the API documents for its busiest endpoints.
pub(super) const FLOOR: f64 = 0.25;
/// At the ceiling again at most this long after the pause of the last cut.
const RECOVERY: Duration = super::budget::RECOVERY;
/// No increase until this long after the last cut (or the end of its pause, if later): the
/// same quiet spell that ends an endpoint's episode, so the ceiling and the endpoints agree on
/// when a storm is over.
const QUIET: Duration = super::budget::QUIET;
/// A step is this fraction of the peak…
const STEP_SHARE: f64 = 1.0 / 40.0;
/// …taken after this many calls at the peak rate, but no sooner than `MIN_STEP` and no later
/// than `MAX_STEP`.
const STEP_CALLS: f64 = 10.0;
const MIN_STEP: Duration = Duration::from_secs(2);
const MAX_STEP: Duration = Duration::from_secs(10);
/// The good rate is held for this many calls before the next probe (within the bounds), so
/// that one probe's 429 is about 1 % of the calls.
const HOLD_CALLS: f64 = 80.0;
const MIN_HOLD: Duration = Duration::from_secs(10);
const MAX_HOLD: Duration = Duration::from_secs(40);

#[derive(Debug, Clone)]
pub(super) struct Aimd {
    ceiling: f64,
    floor: f64,
    /// The rate during the quiet period.
    after_cut: f64,
    /// Where the climb starts after the quiet period: `after_cut`, or the good rate.
    resume: f64,
    /// How long `resume` is held before the steps start (zero when it is `after_cut`).
    hold: Duration,
    /// Added per `every` once the quiet period and the hold are over, until the peak.
    step: f64,
    every: Duration,
    /// Steps from `resume` back to the peak; past them the steps double.
    to_peak: u32,
    /// The quiet period counts from here: the last cut, or the end of its pause.
    quiet_from: Option<Instant>,
}

impl Aimd {
    pub(super) fn new(ceiling: f64) -> Self {
        Aimd {
            ceiling,
            floor: FLOOR.min(ceiling),
            after_cut: ceiling,
            resume: ceiling,
            hold: Duration::ZERO,
            step: 0.0,
            every: MIN_STEP,
            to_peak: 0,
            quiet_from: None,
        }
    }

    /// The effective rate at `now`.
    pub(super) fn rate_at(&self, now: Instant) -> f64 {
        let Some(from) = self.quiet_from else {
            return self.ceiling;
        };
        if now.saturating_duration_since(from) >= RECOVERY {
            return self.ceiling;
        }
        let Some(climbing) = now.saturating_duration_since(from).checked_sub(QUIET) else {
            return self.after_cut;
        };
        let steps =
            u32::try_from(climbing.saturating_sub(self.hold).as_nanos() / self.every.as_nanos())
                .unwrap_or(u32::MAX);
        let creep = f64::from(steps.min(self.to_peak)) * self.step;
        let past_peak = steps.saturating_sub(self.to_peak).min(62);
        let probe = self.step * (2f64.powi(past_peak as i32) - 1.0);
        (self.resume + creep + probe).min(self.ceiling)
    }

    /// One rate-limit episode at `now`, whose fleet-wide pause ends at `paused_until`. Nothing
    /// is learnt while every call waits, so the quiet period only starts after the pause;
    /// otherwise a long `Retry-After` would undo the cut before a single call went out.
    pub(super) fn cut(&mut self, now: Instant, paused_until: Option<Instant>) {
        let peak = self.rate_at(now);
        let climb_began = self.quiet_from.map(|from| from + QUIET);
        let not_raised_yet = climb_began.is_some_and(|began| now < began);
        let cut = if not_raised_yet { CUT_AGAIN } else { CUT };
        self.after_cut = (peak * cut).max(self.floor);
        // The rate in force a whole step ago, if the climb had begun by then: it went that long
        // without a complaint.
        let good = now
            .checked_sub(self.every)
            .filter(|before| climb_began.is_some_and(|began| *before >= began))
            .map(|before| self.rate_at(before))
            .filter(|good| *good > self.after_cut && *good < peak);
        self.resume = good.unwrap_or(self.after_cut);
        self.hold = good.map_or(Duration::ZERO, |good| {
            Duration::try_from_secs_f64(HOLD_CALLS / good)
                .unwrap_or(MAX_HOLD)
                .clamp(MIN_HOLD, MAX_HOLD)
        });
        self.step = peak * STEP_SHARE;
        // Less a hair, so that rounding cannot add a step.
        self.to_peak = if self.step > 0.0 {
            ((peak - self.resume) / self.step - 1e-6).ceil().max(0.0) as u32
        } else {
            0
        };
        // Spaced by calls, but close enough that the doubling steps past the peak reach the
        // ceiling before the deadline: no jump from a low rate straight to the ceiling.
        let doublings = if self.step > 0.0 {
            ((self.ceiling - peak).max(0.0) / self.step + 1.0)
                .log2()
                .ceil()
        } else {
            0.0
        };
        let climb = RECOVERY.saturating_sub(QUIET + self.hold);
        let steps = f64::from(self.to_peak) + doublings + 1.0;
        let by_deadline = climb.div_f64(steps.max(1.0));
        self.every = Duration::try_from_secs_f64(STEP_CALLS / peak)
            .unwrap_or(MAX_STEP)
            .min(by_deadline)
            .clamp(MIN_STEP, MAX_STEP);
        self.quiet_from = Some(paused_until.map_or(now, |until| until.max(now)));
    }

    /// The pause of the current episode was extended (a longer `Retry-After`).
    pub(super) fn paused_until(&mut self, until: Instant) {
        if let Some(from) = &mut self.quiet_from {
            *from = (*from).max(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn starts_at_the_ceiling_and_cuts_by_a_fifth_then_by_half_before_any_rise() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(2.0);
        assert_eq!(aimd.rate_at(t0), 2.0);
        let rates: Vec<f64> = (0..20)
            .map(|_| {
                aimd.cut(t0, None);
                aimd.rate_at(t0)
            })
            .collect();
        assert!(close(rates[0], 1.6) && close(rates[1], 0.8), "{rates:?}");
        assert_eq!(rates[19], FLOOR);
    }

    #[test]
    fn a_cut_after_the_quiet_period_is_a_fifth_again() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(2.0);
        aimd.cut(t0, None);
        aimd.cut(t0 + QUIET, None);
        assert!(close(aimd.rate_at(t0 + QUIET), 1.28));
    }

    #[test]
    fn creeps_back_to_the_peak_then_probes_past_it_with_doubling_steps() {
        let start = Instant::now();
        let mut aimd = Aimd::new(8.0);
        aimd.cut(start, None);
        // Complaints at 6.4/s: steps of 0.16 every 2 s (10 calls at 6.4/s is less), 8 of them.
        let t0 = start + QUIET;
        aimd.cut(t0, None);
        let at = |s: f64| aimd.rate_at(t0 + secs(s));
        assert_eq!((aimd.to_peak, aimd.every), (8, MIN_STEP));
        assert!(close(at(7.9), 5.12), "quiet: {}", at(7.9));
        assert!(close(at(10.0), 5.28));
        assert!(close(at(24.0), 6.4), "back at the peak: {}", at(24.0));
        assert!(close(at(26.0), 6.56));
        assert!(close(at(28.0), 6.88));
        assert!(close(at(30.0), 7.52));
        assert_eq!(at(32.0), 8.0, "never above the ceiling");
    }

    #[test]
    fn after_a_climb_it_returns_to_the_last_good_rate_and_holds_it_before_probing() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(2.0);
        aimd.cut(t0, None);
        // 1.6, then steps of 0.05 every 5 s from t0 + 13 s: 1.65 held from 13 s to 18 s.
        let t1 = t0 + secs(20.0);
        assert!(close(aimd.rate_at(t1), 1.7));
        aimd.cut(t1, None);
        let at = |s: f64| aimd.rate_at(t1 + secs(s));
        assert!(close(at(7.9), 1.36), "quiet at 0.8 × 1.7: {}", at(7.9));
        assert!(
            close(at(8.0), 1.65),
            "straight back to the good rate: {}",
            at(8.0)
        );
        // Held for 80 calls at 1.65/s (48.5 s) but at most 40 s, then one step (10 calls at
        // 1.7/s) later a probe.
        assert!(close(at(8.0 + 40.0 + 5.8), 1.65));
        assert!(at(8.0 + 40.0 + 5.9) > 1.65);
    }

    #[test]
    fn a_complaint_at_the_good_rate_forgets_it() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(2.0);
        aimd.cut(t0, None);
        let t1 = t0 + secs(20.0);
        aimd.cut(t1, None);
        let t2 = t1 + secs(30.0);
        assert!(close(aimd.rate_at(t2), 1.65));
        aimd.cut(t2, None);
        assert_eq!(
            aimd.resume, aimd.after_cut,
            "no good rate below 1.65 is known"
        );
        assert!(close(aimd.rate_at(t2 + QUIET), 1.65 * CUT));
    }

    #[test]
    fn steps_are_spaced_by_calls_so_a_slow_peak_climbs_slowly() {
        let t0 = Instant::now();
        let mut slow = Aimd::new(1.0);
        slow.cut(t0, None);
        assert_eq!(slow.every, secs(10.0), "10 calls at 1/s");
        let mut tiny = Aimd::new(0.2);
        tiny.cut(t0, None);
        assert_eq!(tiny.every, MAX_STEP);
    }

    #[test]
    fn the_quiet_period_starts_when_the_pause_ends() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(2.0);
        aimd.cut(t0, Some(t0 + secs(30.0)));
        assert!(close(aimd.rate_at(t0 + secs(37.9)), 1.6));
        assert!(aimd.rate_at(t0 + secs(43.0)) > 1.6);
        aimd.paused_until(t0 + secs(60.0));
        assert!(close(aimd.rate_at(t0 + secs(67.9)), 1.6));
        aimd.paused_until(t0 + secs(10.0));
        assert!(
            close(aimd.rate_at(t0 + secs(67.9)), 1.6),
            "a pause never shrinks"
        );
    }

    #[test]
    fn a_cut_during_recovery_cuts_the_current_rate() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(2.0);
        aimd.cut(t0, None);
        let climbed = aimd.rate_at(t0 + secs(20.0));
        assert!(climbed > 1.6);
        aimd.cut(t0 + secs(20.0), None);
        assert!(close(aimd.rate_at(t0 + secs(20.0)), climbed * CUT));
    }

    #[test]
    fn the_ceiling_is_back_within_two_minutes_of_the_pause_whatever_the_steps() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(100.0);
        for _ in 0..20 {
            aimd.cut(t0, Some(t0 + secs(30.0)));
        }
        assert_eq!(
            aimd.rate_at(t0 + secs(37.9)),
            FLOOR,
            "quiet after the pause"
        );
        let climb: Vec<f64> = (38..150)
            .map(|s| aimd.rate_at(t0 + secs(f64::from(s))))
            .collect();
        assert!(climb.windows(2).all(|w| w[1] >= w[0]), "{climb:?}");
        assert!(
            climb.windows(2).all(|w| w[1] <= w[0] * 2.0 + 0.1),
            "no jump to the ceiling: {climb:?}"
        );
        assert_eq!(aimd.rate_at(t0 + secs(150.0)), 100.0);
    }

    #[test]
    fn a_ceiling_below_the_floor_stays_put() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(0.01);
        aimd.cut(t0, None);
        assert_eq!(aimd.rate_at(t0), 0.01);
    }
}
