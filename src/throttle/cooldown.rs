//! The fleet-wide pause after a 429: every endpoint waits until it ends. Its length is the
//! server's `Retry-After` when it sends one, else our own backoff that grows with each episode
//! in a row and starts over after a success. Pure: the time is passed in.

use std::time::Duration;

use tokio::time::Instant;

use crate::backoff::Backoff;

/// Our pause after a 429 without `Retry-After`: 2 s, doubling, at most 60 s (vast-api.md §6).
const BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(2),
    cap: Duration::from_secs(60),
};

/// A server's `Retry-After` is honoured up to this long, so a garbled header cannot freeze the
/// fleet for years.
const MAX_SERVER_WAIT: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Default)]
pub(super) struct Cooldown {
    until: Option<Instant>,
    reason: Option<String>,
    /// Episodes since the last success.
    consecutive: u32,
}

impl Cooldown {
    /// The end of the current pause, if one is on.
    pub(super) fn until(&self) -> Option<Instant> {
        self.until
    }

    pub(super) fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// Records a 429 at `now`; `true` when it starts a new episode. A 429 that lands during a
    /// pause came from a call sent before the pause began, so it is the same episode: it only
    /// extends the pause to honour a longer `Retry-After`.
    pub(super) fn note_429(&mut self, now: Instant, retry_after: Option<Duration>) -> bool {
        self.expire(now);
        let server_wait = retry_after.map(|d| d.min(MAX_SERVER_WAIT));
        let new_episode = self.until.is_none();
        let wait = if new_episode {
            self.consecutive = self.consecutive.saturating_add(1);
            server_wait.unwrap_or_else(|| BACKOFF.nominal(self.consecutive))
        } else {
            match (server_wait, self.until) {
                (Some(wait), Some(until)) if now + wait > until => wait,
                _ => return false,
            }
        };
        self.until = Some(now + wait).filter(|u| *u > now);
        self.reason = self.until.map(|_| {
            let shown = humantime::format_duration(Duration::from_millis(
                wait.as_millis().try_into().unwrap_or(u64::MAX),
            ));
            match server_wait {
                Some(_) => format!("rate limited (HTTP 429); the API asked to wait {shown}"),
                None => format!(
                    "rate limited (HTTP 429), {} in a row; pausing every call for {shown}",
                    self.consecutive
                ),
            }
        });
        new_episode
    }

    /// A call succeeded: the next episode's backoff starts from the beginning.
    pub(super) fn note_success(&mut self) {
        self.consecutive = 0;
    }

    /// Ends the pause if it is over at `now`; `true` when this call ended it.
    pub(super) fn expire(&mut self, now: Instant) -> bool {
        if self.until.is_some_and(|u| u <= now) {
            self.until = None;
            self.reason = None;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_pause_doubles_per_episode_up_to_a_minute_and_resets_on_success() {
        let t0 = Instant::now();
        let mut cd = Cooldown::default();
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..7 {
            assert!(cd.note_429(now, None));
            let until = cd.until().unwrap();
            waits.push((until - now).as_secs());
            now = until;
        }
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60]);
        cd.note_success();
        assert!(cd.note_429(now, None));
        assert_eq!(cd.until(), Some(now + secs(2)));
        assert!(
            cd.reason().unwrap().contains("1 in a row"),
            "{:?}",
            cd.reason()
        );
    }

    #[test]
    fn retry_after_sets_the_pause_and_only_a_longer_one_extends_it() {
        let t0 = Instant::now();
        let mut cd = Cooldown::default();
        assert!(cd.note_429(t0, Some(secs(30))));
        assert_eq!(cd.until(), Some(t0 + secs(30)));
        assert!(cd.reason().unwrap().contains("asked to wait 30s"));
        assert!(!cd.note_429(t0 + secs(1), None));
        assert!(!cd.note_429(t0 + secs(1), Some(secs(5))));
        assert_eq!(cd.until(), Some(t0 + secs(30)));
        assert!(!cd.note_429(t0 + secs(10), Some(secs(40))));
        assert_eq!(cd.until(), Some(t0 + secs(50)));
    }

    #[test]
    fn absurd_retry_after_values_are_capped_and_zero_means_no_pause() {
        let t0 = Instant::now();
        let mut cd = Cooldown::default();
        cd.note_429(t0, Some(Duration::from_secs(u64::MAX / 4)));
        assert_eq!(cd.until(), Some(t0 + MAX_SERVER_WAIT));
        let mut cd = Cooldown::default();
        cd.note_429(t0, Some(Duration::ZERO));
        assert_eq!((cd.until(), cd.reason()), (None, None));
    }

    #[test]
    fn a_finished_pause_expires_once() {
        let t0 = Instant::now();
        let mut cd = Cooldown::default();
        cd.note_429(t0, None);
        assert!(!cd.expire(t0 + secs(1)));
        assert!(cd.expire(t0 + secs(2)));
        assert!(!cd.expire(t0 + secs(3)));
        assert_eq!(cd.until(), None);
    }
}
