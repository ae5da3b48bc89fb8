//! A log's pace, from its last snapshots (issue 18's "pace from history"): the log queue reads a
//! quiet log later and a fast one sooner.

use crate::schedule::Pace;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PaceMeter {
    /// Snapshots in a row that brought nothing new.
    quiet: u32,
    pace: Pace,
}

/// Snapshots in a row without a new line before a log counts as quiet.
const QUIET_SNAPSHOTS: u32 = 2;

impl PaceMeter {
    /// A snapshot brought `new_lines` of the `requested` tail; `crowded` when it could not even
    /// reach back to the previous one.
    pub fn after(&mut self, new_lines: usize, requested: u32, crowded: bool) {
        self.quiet = if new_lines == 0 {
            self.quiet.saturating_add(1)
        } else {
            0
        };
        // Three quarters, not a half: the adaptive tail doubles past a half, so a log that
        // stays above three quarters is outrunning its tail, not just filling it.
        self.pace = if crowded || new_lines.saturating_mul(4) > 3 * requested as usize {
            Pace::Fast
        } else if self.quiet >= QUIET_SNAPSHOTS {
            Pace::Quiet
        } else {
            Pace::Normal
        };
    }

    pub fn pace(&self) -> Pace {
        self.pace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_after_two_empty_snapshots_fast_when_the_tail_is_crowded() {
        let mut meter = PaceMeter::default();
        assert_eq!(meter.pace(), Pace::Normal);
        meter.after(0, 200, false);
        assert_eq!(
            meter.pace(),
            Pace::Normal,
            "one empty snapshot is no pattern"
        );
        meter.after(0, 200, false);
        assert_eq!(meter.pace(), Pace::Quiet);
        meter.after(3, 200, false);
        assert_eq!(meter.pace(), Pace::Normal, "a new line ends the quiet");
        meter.after(120, 200, false);
        assert_eq!(
            meter.pace(),
            Pace::Normal,
            "half the tail is what the tail is for"
        );
        meter.after(151, 200, false);
        assert_eq!(meter.pace(), Pace::Fast);
        meter.after(10, 200, true);
        assert_eq!(
            meter.pace(),
            Pace::Fast,
            "a snapshot that missed the previous one"
        );
        meter.after(100, 200, false);
        assert_eq!(meter.pace(), Pace::Normal);
    }
}
