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
//! In real time "held" is not "safe": a rate that held one step at the limit's very edge (a
//! climb in steps of a fortieth of a round-number limit lands on it exactly) is refused
//! whenever one call arrives a few milliseconds late (the benchmark's 429s 994–998 ms after
//! the key's last accepted call, under a one-call-a-second budget). So the climb resumes one
//! step below the good rate and passes it as its first step after the hold. And when the API
//! complains again within a step of where it complained last time, the limit is steady: the
//! good rate is held as long as the recovery bound leaves room for (not [`MAX_HOLD`]), so the
//! probes, one 429 each, come about every 100 s rather than every 60 s.
//!
//! A cut because our own calls fill the key's budget (`crowding.rs`) starts from the rate we
//! actually sent, when that is below the rate the ceiling allowed: a ceiling four times the
//! limit, of which the fleet used a third, otherwise took three crowded episodes (each three
//! refusals over doubling pauses) to come down, and the first minute of the benchmark's strict
//! run used 55 % of the limit.
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
/// The API complaining again within this many steps of the last complaint's rate says the
/// limit is steady (a probe found it where it was).
const STEADY_WITHIN_STEPS: f64 = 1.0;

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
    /// The rate at which the API complained last time.
    last_peak: Option<f64>,
    /// The last cut went straight to `resume` (a steady limit), without the dip.
    no_dip: bool,
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
            last_peak: None,
            no_dip: false,
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
    /// `sent` is the rate our calls actually went at, when the cut is because they fill the
    /// key's budget: the cut then starts from it if it is lower than the rate in force.
    pub(super) fn cut(&mut self, now: Instant, paused_until: Option<Instant>, sent: Option<f64>) {
        let allowed = self.rate_at(now);
        let from_sent = sent.filter(|sent| *sent < allowed);
        let peak = from_sent.map_or(allowed, |sent| sent.max(self.floor));
        let climb_began = self.quiet_from.map(|from| from + QUIET);
        let not_raised_yet = climb_began.is_some_and(|began| now < began);
        // Halving is for a cut that fell short of a limit far below; one measured from what we
        // sent, or one back to a rate just under a steady limit, started near it.
        let cut = if not_raised_yet && from_sent.is_none() && !self.no_dip {
            CUT_AGAIN
        } else {
            CUT
        };
        self.after_cut = (peak * cut).max(self.floor);
        // The rate in force a whole step ago, if the climb had begun by then: it went that long
        // without a complaint.
        let good = now
            .checked_sub(self.every)
            .filter(|before| climb_began.is_some_and(|began| *before >= began))
            .map(|before| self.rate_at(before))
            .filter(|good| *good > self.after_cut && *good < peak);
        let steady = good.is_some()
            && self
                .last_peak
                .is_some_and(|last| (peak - last).abs() <= self.step * STEADY_WITHIN_STEPS + 1e-9);
        self.last_peak = Some(peak);
        self.step = peak * STEP_SHARE;
        // A step below the good rate: that one held, but maybe only just (see the module's
        // comment on arrival jitter).
        self.resume = good.map_or(self.after_cut, |good| {
            (good - self.step).max(self.after_cut)
        });
        // A probe that found a steady limit where it was says nothing of a storm: no dip below
        // the rate that held, the quiet period is spent there.
        if steady {
            self.after_cut = self.resume;
        }
        self.no_dip = steady;
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
        let steps = f64::from(self.to_peak) + doublings + 1.0;
        // A steady limit is held as long as the climb can still reach the ceiling in time at
        // the shortest steps.
        let longest = RECOVERY
            .saturating_sub(QUIET)
            .saturating_sub(MIN_STEP.mul_f64(steps));
        self.hold = match good {
            None => Duration::ZERO,
            Some(_) if steady => longest,
            Some(good) => Duration::try_from_secs_f64(HOLD_CALLS / good)
                .unwrap_or(MAX_HOLD)
                .clamp(MIN_HOLD, MAX_HOLD)
                .min(longest),
        };
        let climb = RECOVERY.saturating_sub(QUIET + self.hold);
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
                aimd.cut(t0, None, None);
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
        aimd.cut(t0, None, None);
        aimd.cut(t0 + QUIET, None, None);
        assert!(close(aimd.rate_at(t0 + QUIET), 1.28));
    }

    #[test]
    fn creeps_back_to_the_peak_then_probes_past_it_with_doubling_steps() {
        let start = Instant::now();
        let mut aimd = Aimd::new(8.0);
        aimd.cut(start, None, None);
        // Complaints at 6.4/s: steps of 0.16 every 2 s (10 calls at 6.4/s is less), 8 of them.
        let t0 = start + QUIET;
        aimd.cut(t0, None, None);
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
        aimd.cut(t0, None, None);
        // 1.6, then steps of 0.05 every 5 s from t0 + 13 s: 1.65 held from 13 s to 18 s.
        let t1 = t0 + secs(20.0);
        assert!(close(aimd.rate_at(t1), 1.7));
        aimd.cut(t1, None, None);
        let at = |s: f64| aimd.rate_at(t1 + secs(s));
        assert!(close(at(7.9), 1.36), "quiet at 0.8 × 1.7: {}", at(7.9));
        // 1.65 held a step; the climb resumes one step (1.7 / 40) below it.
        assert!(
            close(at(8.0), 1.6075),
            "back a step below the good rate: {}",
            at(8.0)
        );
        // Held for 80 calls at 1.65/s (48.5 s) but at most 40 s, then one step (10 calls at
        // 1.7/s) later the good rate again, and a step later a probe at the peak.
        assert!(close(at(8.0 + 40.0 + 5.8), 1.6075));
        assert!(close(at(8.0 + 40.0 + 5.9), 1.65));
        assert!(close(at(8.0 + 40.0 + 11.8), 1.6925));
    }

    /// The steady cycle of the benchmark's self-tuning run: a probe found the limit again.
    fn probe_that_found_the_limit_again(t0: Instant) -> (Aimd, Instant) {
        let mut aimd = Aimd::new(2.0);
        aimd.cut(t0, None, None);
        let t1 = t0 + secs(20.0);
        aimd.cut(t1, None, None);
        let t2 = t1 + secs(8.0 + 40.0 + 11.8);
        assert!(close(aimd.rate_at(t2), 1.6925));
        aimd.cut(t2, None, None);
        (aimd, t2)
    }

    #[test]
    fn a_probe_that_finds_the_limit_where_it_was_holds_longer_and_does_not_dip() {
        let t0 = Instant::now();
        let (aimd, t2) = probe_that_found_the_limit_again(t0);
        let at = |s: f64| aimd.rate_at(t2 + secs(s));
        // 1.6925 is within a step of the last complaint (1.7): the limit is steady. Good: 1.65;
        // a step (1.6925 / 40) below it at once, not 0.8 × 1.6925 for the quiet period.
        let resume = 1.65 - 1.6925 / 40.0;
        assert!(close(at(0.0), resume), "{}", at(0.0));
        assert!(close(at(7.9), resume));
        // Three steps to the peak (the new step is a hair shorter than the one before), four
        // doublings to the ceiling and one more, at 2 s each: the hold is what the two minutes
        // leave, 120 - 8 - 16 = 96 s (not 40).
        assert_eq!((aimd.to_peak, aimd.every), (3, MIN_STEP));
        assert_eq!(aimd.hold, secs(96.0));
        assert!(close(at(8.0 + 96.0 - 0.1), resume));
        assert!(close(at(8.0 + 96.0 + 2.0), 1.65));
        assert!(
            at(115.9) < 2.0,
            "the doubling steps past the peak, 2 s apart"
        );
        assert_eq!(at(120.0), 2.0, "at the ceiling two minutes after the cut");
    }

    #[test]
    fn a_complaint_in_the_quiet_after_a_cut_without_dip_cuts_by_a_fifth() {
        let t0 = Instant::now();
        let (mut aimd, t2) = probe_that_found_the_limit_again(t0);
        let resume = aimd.rate_at(t2);
        aimd.cut(t2 + secs(5.0), None, None);
        assert!(close(aimd.rate_at(t2 + secs(5.0)), resume * CUT));
        assert_eq!(aimd.resume, aimd.after_cut, "no good rate is known now");
    }

    #[test]
    fn a_cut_for_our_own_calls_filling_the_key_starts_from_what_they_sent() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(4.0);
        aimd.cut(t0, None, Some(1.45));
        assert!(
            close(aimd.rate_at(t0), 1.45 * CUT),
            "not 0.8 × the unused 4/s"
        );
        // Still crowded before the climb: a fifth again, not half.
        aimd.cut(t0 + secs(2.0), None, Some(1.0));
        assert!(close(aimd.rate_at(t0 + secs(2.0)), 1.0 * CUT));
        // More than the rate in force was not sent: the rate in force it is.
        let mut busy = Aimd::new(2.0);
        busy.cut(t0, None, Some(3.0));
        assert!(close(busy.rate_at(t0), 1.6));
        let mut idle = Aimd::new(2.0);
        idle.cut(t0, None, Some(0.0));
        assert_eq!(idle.rate_at(t0), FLOOR, "never below the floor");
    }

    #[test]
    fn a_complaint_at_the_good_rate_forgets_it() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(2.0);
        aimd.cut(t0, None, None);
        let t1 = t0 + secs(20.0);
        aimd.cut(t1, None, None);
        let t2 = t1 + secs(30.0);
        assert!(close(aimd.rate_at(t2), 1.6075));
        aimd.cut(t2, None, None);
        assert_eq!(
            aimd.resume, aimd.after_cut,
            "no good rate below 1.6075 is known"
        );
        assert!(close(aimd.rate_at(t2 + QUIET), 1.6075 * CUT));
    }

    #[test]
    fn steps_are_spaced_by_calls_so_a_slow_peak_climbs_slowly() {
        let t0 = Instant::now();
        let mut slow = Aimd::new(1.0);
        slow.cut(t0, None, None);
        assert_eq!(slow.every, secs(10.0), "10 calls at 1/s");
        let mut tiny = Aimd::new(0.2);
        tiny.cut(t0, None, None);
        assert_eq!(tiny.every, MAX_STEP);
    }

    #[test]
    fn the_quiet_period_starts_when_the_pause_ends() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(2.0);
        aimd.cut(t0, Some(t0 + secs(30.0)), None);
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
        aimd.cut(t0, None, None);
        let climbed = aimd.rate_at(t0 + secs(20.0));
        assert!(climbed > 1.6);
        aimd.cut(t0 + secs(20.0), None, None);
        assert!(close(aimd.rate_at(t0 + secs(20.0)), climbed * CUT));
    }

    #[test]
    fn the_ceiling_is_back_within_two_minutes_of_the_pause_whatever_the_steps() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(100.0);
        for _ in 0..20 {
            aimd.cut(t0, Some(t0 + secs(30.0)), None);
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
        aimd.cut(t0, None, None);
        assert_eq!(aimd.rate_at(t0), 0.01);
    }
}
