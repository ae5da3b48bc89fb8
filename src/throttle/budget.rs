//! One endpoint's own budget: its self-tuned pace, its pause after a 429 and its rate-limit
//! episodes. Pure: the time is passed in.
//!
//! A 429 means "this endpoint, this moment", often because another client on the same key
//! spent the budget (vast-api.md §6), not that our own pace is too high. Cutting once per 429
//! and climbing back call by call turned a 10 s storm into tens of minutes of a blind fleet
//! (issue 11), so:
//! - a storm is one **episode**: its first 429 halves the pace, later ones only lengthen the
//!   pause (the server's `Retry-After`, else a backoff that doubles while every call is
//!   refused). The episode ends [`QUIET`] after the last 429 or the end of the pause, whichever
//!   is later;
//! - the pace never drops below a quarter of the documented rate ([`FLOOR_SHARE`]);
//! - recovery is bounded in time: when the episode ends the pace is at once back at the last
//!   good pace (the one that had held [`GOOD_SPAN`] without a 429 before the storm), and at the
//!   documented rate at most [`RECOVERY`] later.

use std::time::Duration;

use tokio::time::Instant;

use crate::backoff::Backoff;

/// An episode ends this long after its last 429 (or the end of its pause, if later).
pub const QUIET: Duration = Duration::from_secs(8);
/// After an episode the pace is back at the documented rate within this long.
pub const RECOVERY: Duration = Duration::from_secs(120);
/// A pace below the documented rate is held this long after an episode before climbing.
const HOLD: Duration = Duration::from_secs(30);
/// The climb from the last good pace to the documented rate takes this many equal steps.
const CLIMB_STEPS: u32 = 9;
/// The first 429 of an episode multiplies the pace by this.
const CUT: f64 = 0.5;
/// The pace never drops below this share of the documented rate.
pub const FLOOR_SHARE: f64 = 0.25;
/// A pace that held this long without a 429 is "good": recovery returns straight to it.
const GOOD_SPAN: Duration = Duration::from_secs(30);
/// With no new 429, an endpoint is back at its last good pace within this long of its last
/// 429 (issue 11), whatever the storm's length.
pub const BACK_WITHIN: Duration = Duration::from_secs(30);
/// Our pause after a 429 without `Retry-After`: 2 s, doubling while calls keep being refused.
/// Its cap is what the recovery bound leaves after the quiet period: the pause is also the
/// longest we go without asking, and a storm that ended just after a 429 is only noticed at
/// the next call. The 60 s of vast-api.md §6 let a 40 s outside client keep the fleet slowed
/// 37 s after it stopped. A server's `Retry-After` is honoured beyond it.
pub const BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(2),
    cap: BACK_WITHIN.saturating_sub(QUIET),
};

/// What a 429 did to the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Noted {
    /// The first 429 of an episode: the pace was cut.
    NewEpisode,
    /// A 429 of the episode already open: only the pause may have grown.
    SameEpisode,
}

#[derive(Debug, Clone)]
struct Episode {
    /// The pace during the episode.
    cut_to: f64,
    /// Where the pace returns when the episode ends.
    resume: f64,
    /// The later of the last 429 and the end of the pause: the quiet period counts from here.
    calm_from: Instant,
}

/// How the pace climbs back after the last episode ended.
#[derive(Debug, Clone, Copy)]
struct Recovery {
    ended: Instant,
    from: f64,
}

#[derive(Debug, Clone)]
pub(super) struct Budget {
    /// The documented rate (calls/s), `None` for an endpoint without a gap of its own.
    top: Option<f64>,
    /// Whether a 429 cuts the pace (off: pauses only).
    tuned: bool,
    episode: Option<Episode>,
    recovery: Option<Recovery>,
    /// Calls wait until then (the server's `Retry-After` or our backoff).
    paused_until: Option<Instant>,
    /// 429s since this endpoint's last success, for the backoff.
    refused_in_a_row: u32,
    /// The last pace known to hold [`GOOD_SPAN`] without a 429.
    good: Option<f64>,
    /// Since when no 429 was seen (the end of the last episode), for `good`.
    quiet_since: Option<Instant>,
}

impl Budget {
    /// A budget whose documented gap is `gap` (zero: no pace of its own, only pauses); with
    /// `tuned`, a new episode cuts the pace.
    pub(super) fn new(gap: Duration, tuned: bool) -> Self {
        let top = (!gap.is_zero()).then(|| gap.as_secs_f64().recip());
        Budget {
            top,
            tuned,
            episode: None,
            recovery: None,
            paused_until: None,
            refused_in_a_row: 0,
            good: top,
            quiet_since: None,
        }
    }

    /// The pace in force at `now` (calls/s), `None` when the endpoint has no gap of its own.
    pub(super) fn pace_at(&self, now: Instant) -> Option<f64> {
        let top = self.top?;
        if let Some(episode) = &self.episode {
            return Some(episode.cut_to);
        }
        let Some(recovery) = self.recovery else {
            return Some(top);
        };
        let since = now.saturating_duration_since(recovery.ended);
        let Some(climbing) = since.checked_sub(HOLD) else {
            return Some(recovery.from);
        };
        let step = (RECOVERY - HOLD) / CLIMB_STEPS;
        let steps = (climbing.as_nanos() / step.as_nanos()).min(u128::from(CLIMB_STEPS)) as u32;
        let share = f64::from(steps) / f64::from(CLIMB_STEPS);
        Some(recovery.from + (top - recovery.from) * share)
    }

    /// The least time between two calls at the pace in force.
    pub(super) fn gap_at(&self, now: Instant) -> Duration {
        self.pace_at(now)
            .and_then(|pace| Duration::try_from_secs_f64(pace.recip()).ok())
            .unwrap_or(Duration::ZERO)
    }

    pub(super) fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }

    /// Whether an episode is open (the endpoint is being rate limited).
    pub(super) fn limited(&self) -> bool {
        self.episode.is_some()
    }

    /// A 429 at `now`; `wait` is the server's (already bounded) `Retry-After`.
    pub(super) fn note_429(&mut self, now: Instant, wait: Option<Duration>) -> Noted {
        self.expire(now);
        self.refused_in_a_row = self.refused_in_a_row.saturating_add(1);
        let wait = wait.unwrap_or_else(|| BACKOFF.nominal(self.refused_in_a_row));
        let until = now.checked_add(wait).unwrap_or(now);
        self.paused_until = self.paused_until.max(Some(until)).filter(|u| *u > now);
        let calm_from = self.paused_until.unwrap_or(now);
        if let Some(episode) = &mut self.episode {
            episode.calm_from = episode.calm_from.max(calm_from);
            return Noted::SameEpisode;
        }
        let pace = self.pace_at(now);
        if let (Some(since), Some(pace)) = (self.quiet_since, pace) {
            // What held through the last GOOD_SPAN; otherwise the good pace from before stays.
            if now.saturating_duration_since(since) >= GOOD_SPAN {
                self.good = self.pace_at_past(now, GOOD_SPAN).or(Some(pace));
            }
        }
        let (cut_to, resume) = match (self.top, pace) {
            (Some(top), Some(pace)) if self.tuned => {
                let cut_to = (pace * CUT).max(top * FLOOR_SHARE).min(pace);
                (cut_to, self.good.unwrap_or(top).max(cut_to))
            }
            _ => (pace.unwrap_or(f64::INFINITY), pace.unwrap_or(f64::INFINITY)),
        };
        self.episode = Some(Episode {
            cut_to,
            resume,
            calm_from,
        });
        self.recovery = None;
        Noted::NewEpisode
    }

    /// The key's pause holds this endpoint's calls until `until`: its episode is not over
    /// before a call could have found out, since a quiet period in which no call was allowed
    /// says nothing. (Ending it anyway said `back` while the key was still paused, and the
    /// first call after the key's pause opened a second episode with its own two lines.)
    pub(super) fn held_until(&mut self, until: Instant) {
        if let Some(episode) = &mut self.episode {
            episode.calm_from = episode.calm_from.max(until);
        }
    }

    /// A call succeeded: the next 429's backoff starts from the beginning.
    pub(super) fn note_success(&mut self) {
        self.refused_in_a_row = 0;
    }

    /// Ends a finished pause and a finished episode; `true` when the pause ended now.
    pub(super) fn expire(&mut self, now: Instant) -> bool {
        let pause_ended = self.paused_until.is_some_and(|u| u <= now);
        if pause_ended {
            self.paused_until = None;
        }
        let Some(episode) = &self.episode else {
            return pause_ended;
        };
        let ends = episode.calm_from + QUIET;
        if now < ends {
            return pause_ended;
        }
        self.recovery = Some(Recovery {
            ended: ends,
            from: episode.resume,
        });
        self.quiet_since = Some(ends);
        self.episode = None;
        pause_ended
    }

    /// The next instant after `now` at which the budget changes by itself (a pause or an
    /// episode ends, the recovering pace takes a step), if any.
    pub(super) fn next_change(&self, now: Instant) -> Option<Instant> {
        let episode_end = self.episode.as_ref().map(|e| e.calm_from + QUIET);
        let step = self.recovery.and_then(|r| {
            let step = (RECOVERY - HOLD) / CLIMB_STEPS;
            let first = r.ended + HOLD;
            (0..=CLIMB_STEPS)
                .map(|k| first + step * k)
                .find(|at| *at > now)
                .filter(|_| self.top.is_some_and(|top| r.from < top))
        });
        [self.paused_until, episode_end, step]
            .into_iter()
            .flatten()
            .filter(|at| *at > now)
            .min()
    }

    /// When the open episode will end if no other 429 comes.
    #[cfg(test)]
    pub(super) fn episode_ends(&self) -> Option<Instant> {
        self.episode.as_ref().map(|e| e.calm_from + QUIET)
    }

    /// The pace at `now - ago`, from the recovery schedule in force now.
    fn pace_at_past(&self, now: Instant, ago: Duration) -> Option<f64> {
        let then = now.checked_sub(ago)?;
        let recovery = self.recovery?;
        (then >= recovery.ended)
            .then(|| self.pace_at(then))
            .flatten()
    }
}

#[cfg(test)]
#[path = "budget_tests.rs"]
mod tests;
