//! A key-wide budget that our own calls fill. Some limits are per key, not per endpoint: then
//! one endpoint's call, just after another endpoint's accepted one, is refused though neither
//! endpoint is over its own pace, and our overall rate sits far below the ceiling, so neither
//! an endpoint's budget nor the ceiling's "at the ceiling" test sees the cause. Backing off the
//! refused endpoint alone starved it: its pause is a whole number of the other's periods, so
//! every retry came just after the other's call again (the benchmark's self-tuning run: no log
//! read for eight minutes). Refusals that keep following our own accepted calls on another
//! endpoint are read as our overall rate being over the key's budget, so the ceiling is tuned.
//! Pure: the time is passed in.

use tokio::time::Instant;

use super::Endpoint;
use std::time::Duration;

/// A refusal this soon after another endpoint's accepted call may be that call's doing: the
/// key's budget refills at about one call a second (vast-api.md §6, the busiest endpoints).
const WINDOW: Duration = Duration::from_secs(1);
/// One or two such refusals can be chance (another client on the key, or a storm window of a
/// few seconds: with two, the benchmark's storm was read as crowding and the fleet's rate cut
/// for a minute); this many in a row, over at least two backoff pauses, are not.
const IN_A_ROW: u32 = 3;

#[derive(Debug, Default)]
pub(super) struct Crowding {
    last_accepted: Option<(Endpoint, Instant)>,
    /// Per endpoint, refusals in a row that followed another endpoint's accepted call.
    crowded_in_a_row: [u32; 5],
}

impl Crowding {
    pub fn note_success(&mut self, endpoint: Endpoint, now: Instant) {
        self.last_accepted = Some((endpoint, now));
        self.crowded_in_a_row[endpoint.index()] = 0;
    }

    /// Whether this 429 on `endpoint` shows our own calls filling the key's budget.
    pub fn note_429(&mut self, endpoint: Endpoint, now: Instant) -> bool {
        let crowded = self
            .last_accepted
            .is_some_and(|(other, at)| other != endpoint && now.duration_since(at) <= WINDOW);
        let in_a_row = &mut self.crowded_in_a_row[endpoint.index()];
        *in_a_row = if crowded { *in_a_row + 1 } else { 0 };
        *in_a_row >= IN_A_ROW
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: f64) -> Instant {
        thread_local!(static ZERO: Instant = Instant::now());
        ZERO.with(|zero| *zero + Duration::from_secs_f64(secs))
    }

    #[test]
    fn refusals_that_keep_following_our_other_calls_are_the_keys_budget() {
        let mut c = Crowding::default();
        c.note_success(Endpoint::List, at(0.0));
        assert!(
            !c.note_429(Endpoint::RequestLogs, at(0.3)),
            "once can be chance"
        );
        c.note_success(Endpoint::List, at(2.0));
        assert!(
            !c.note_429(Endpoint::RequestLogs, at(2.3)),
            "twice: a storm window"
        );
        c.note_success(Endpoint::List, at(4.0));
        assert!(c.note_429(Endpoint::RequestLogs, at(4.3)));
        c.note_success(Endpoint::List, at(6.0));
        assert!(c.note_429(Endpoint::RequestLogs, at(6.3)), "still crowded");
    }

    #[test]
    fn a_refusal_far_from_our_other_calls_or_after_our_own_call_is_not() {
        let mut c = Crowding::default();
        c.note_success(Endpoint::List, at(0.0));
        assert!(!c.note_429(Endpoint::RequestLogs, at(0.5)));
        assert!(
            !c.note_429(Endpoint::RequestLogs, at(3.0)),
            "3 s after: not the list's"
        );
        assert!(
            !c.note_429(Endpoint::RequestLogs, at(3.2)),
            "the run was broken"
        );
        c.note_success(Endpoint::RequestLogs, at(4.0));
        assert!(
            !c.note_429(Endpoint::RequestLogs, at(4.2)),
            "after its own call"
        );
        assert!(!c.note_429(Endpoint::RequestLogs, at(4.4)));
    }

    #[test]
    fn an_accepted_call_of_the_refused_endpoint_starts_the_count_again() {
        let mut c = Crowding::default();
        c.note_success(Endpoint::List, at(0.0));
        assert!(!c.note_429(Endpoint::RequestLogs, at(0.3)));
        c.note_success(Endpoint::RequestLogs, at(1.0));
        c.note_success(Endpoint::List, at(2.0));
        assert!(!c.note_429(Endpoint::RequestLogs, at(2.3)));
    }
}
