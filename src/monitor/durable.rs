//! What one instance's machine must remember across a restart of vastfleet: where the log was
//! read up to, what was counted, which actions were intended or done, the last status and the
//! guard episodes under way. Small on purpose — a thousand of these are checkpointed often.

use serde::{Deserialize, Serialize};

use crate::monitor::Lines;
use crate::report::event::ActionKind;
use crate::status::Status;

/// Lines of the last snapshot kept in the state file: enough to find the overlap again after a
/// restart, even among repeated lines, without storing whole tails.
pub const CURSOR_LINES: usize = 32;

/// The durable part of a [`MonitorMachine`](super::MonitorMachine), for the state file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DurableState {
    /// The last [`CURSOR_LINES`] lines of the last snapshot.
    pub cursor: Lines,
    /// Whether `cursor` is the whole log (the snapshot was shorter than its tail, and fit).
    pub cursor_whole: bool,
    /// The history was printed already: the next snapshot continues from `cursor`.
    pub history_shown: bool,
    /// Completion matches that were already in the log when watching started.
    pub old_completions: u32,
    /// New completions so far (numbered from 1).
    pub completions: u32,
    /// Failure-pattern matches already in the log when watching started.
    pub old_failures: u32,
    /// New failure-pattern matches so far (numbered from 1).
    pub failures: u32,
    /// Exits of the container while it was meant to run.
    pub exits: u32,
    /// A failure (log match or exit) was acted on and the instance has not run again since:
    /// further failures of that episode (the Traceback the last log read brings after a
    /// crash) are reported but not acted on again.
    pub failure_episode: bool,
    /// The number of a completion found but not yet reported: its result URL is awaited.
    pub pending_completion: Option<u32>,
    /// Every action asked for, in order.
    pub actions: Vec<ActionRecord>,
    pub last_status: Option<Status>,
    /// Names of the guards whose episode is under way and already fired.
    pub guard_episodes: Vec<String>,
    /// The tail the log follower had grown to: after a restart the first poll must cover the
    /// lines of the downtime plus a turn of the fleet's queue, as the last one did.
    pub tail: Option<u32>,
}

/// One action the machine asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub kind: ActionKind,
    pub trigger: Trigger,
    /// `false` = intended only: after a restart it is checked against the status and re-issued
    /// if its effect is not visible.
    pub done: bool,
}

/// What an action answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The completion with this number.
    Completion(u32),
    /// The failure-pattern match with this number.
    Failure(u32),
    /// The container's exit with this number (counted per instance).
    Exited(u32),
    /// The guard with this name.
    Guard(String),
    /// A done action whose effect did not show within the grace period.
    Verification,
}

impl ActionRecord {
    /// The `reason` of the action's events.
    pub fn reason(&self) -> String {
        match &self.trigger {
            Trigger::Completion(_) => "completion".to_string(),
            Trigger::Failure(_) => "failure".to_string(),
            Trigger::Exited(_) => "exited".to_string(),
            Trigger::Guard(name) => name.clone(),
            Trigger::Verification => format!("retry: still running after {}", self.kind.as_str()),
        }
    }
}

/// The last [`CURSOR_LINES`] of a snapshot, and whether they are still the whole log.
pub fn cursor_of(snapshot: &Lines, whole: bool) -> (Lines, bool) {
    (
        snapshot.last(CURSOR_LINES),
        whole && snapshot.len() <= CURSOR_LINES,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json_and_tolerates_missing_fields() {
        let state = DurableState {
            cursor: Lines::new(["a", "b"]),
            cursor_whole: true,
            history_shown: true,
            old_completions: 1,
            completions: 2,
            old_failures: 1,
            failures: 2,
            exits: 1,
            failure_episode: true,
            pending_completion: Some(2),
            actions: vec![
                ActionRecord {
                    kind: ActionKind::Stop,
                    trigger: Trigger::Completion(1),
                    done: true,
                },
                ActionRecord {
                    kind: ActionKind::Destroy,
                    trigger: Trigger::Guard("idle".into()),
                    done: false,
                },
            ],
            last_status: Some(Status::Running),
            guard_episodes: vec!["idle".into()],
            tail: Some(400),
        };
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<DurableState>(&json).unwrap(), state);
        let sparse: DurableState = serde_json::from_str(r#"{"completions": 3}"#).unwrap();
        assert_eq!(
            sparse,
            DurableState {
                completions: 3,
                ..DurableState::default()
            }
        );
    }

    #[test]
    fn a_long_snapshot_keeps_only_its_end_and_is_no_longer_whole() {
        let numbers: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        let long = Lines::new(numbers.iter().map(String::as_str));
        let (cursor, whole) = cursor_of(&long, true);
        assert_eq!(cursor.as_strs(), numbers[8..]);
        assert!(!whole);
        let (cursor, whole) = cursor_of(&long.last(3), true);
        assert_eq!((cursor.len(), whole), (3, true));
    }

    #[test]
    fn reasons_name_the_trigger() {
        let record = |trigger| ActionRecord {
            kind: ActionKind::Stop,
            trigger,
            done: false,
        };
        assert_eq!(record(Trigger::Completion(4)).reason(), "completion");
        assert_eq!(record(Trigger::Guard("silent".into())).reason(), "silent");
        assert_eq!(
            record(Trigger::Verification).reason(),
            "retry: still running after stop"
        );
    }
}
