//! The key's overall budget. One endpoint answering 429 is that endpoint's business; several
//! endpoints answering 429 at once mean the key itself is spent (another client on the same
//! key, or a server-wide limit), so every call but the actions pauses until the latest of
//! their pauses. Pure: the time is passed in.

use tokio::time::Instant;

use super::Endpoint;

/// This many endpoints limited at once (each in an open episode) pause the whole key.
pub const SEVERAL: usize = 2;

#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Key {
    /// Every call but the actions waits until then.
    paused_until: Option<Instant>,
    /// The endpoints limited when the key was last found spent; empty when it is not.
    limited: Vec<Endpoint>,
}

impl Key {
    pub(super) fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }

    /// Whether the key counts as spent (several endpoints limited at once).
    pub(super) fn limited(&self) -> &[Endpoint] {
        &self.limited
    }

    /// A 429 came while `limited` endpoints have open episodes; `until` is when the endpoint
    /// that got it may call again. `true` when this starts the key's own episode.
    pub(super) fn note_429(&mut self, limited: Vec<Endpoint>, until: Option<Instant>) -> bool {
        if limited.len() < SEVERAL {
            return false;
        }
        let new = self.limited.is_empty();
        self.paused_until = self.paused_until.max(until);
        self.limited = limited;
        new
    }

    /// Ends a finished pause, and the episode once fewer than [`SEVERAL`] endpoints are still
    /// limited.
    pub(super) fn expire(&mut self, now: Instant, still_limited: usize) {
        if self.paused_until.is_some_and(|u| u <= now) {
            self.paused_until = None;
        }
        if self.paused_until.is_none() && still_limited < SEVERAL {
            self.limited.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_endpoint_is_not_the_key_and_two_are() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(4);
        let mut key = Key::default();
        assert!(!key.note_429(vec![Endpoint::RequestLogs], Some(later)));
        assert_eq!(key.paused_until(), None);
        assert!(key.note_429(vec![Endpoint::List, Endpoint::RequestLogs], Some(later)));
        assert_eq!(key.paused_until(), Some(later));
        let earlier = t0 + Duration::from_secs(2);
        let all = vec![Endpoint::List, Endpoint::RequestLogs, Endpoint::ShowOne];
        assert!(!key.note_429(all, Some(earlier)), "the same episode");
        assert_eq!(key.paused_until(), Some(later), "a pause never shrinks");
    }

    #[test]
    fn the_episode_ends_with_its_pause_once_fewer_than_two_are_limited() {
        let t0 = Instant::now();
        let until = t0 + Duration::from_secs(4);
        let mut key = Key::default();
        key.note_429(vec![Endpoint::List, Endpoint::RequestLogs], Some(until));
        key.expire(t0 + Duration::from_secs(3), 0);
        assert_eq!(key.limited().len(), 2, "still paused");
        key.expire(until, 2);
        assert_eq!(key.paused_until(), None);
        assert_eq!(key.limited().len(), 2, "two still limited");
        key.expire(until, 1);
        assert!(key.limited().is_empty());
    }
}
