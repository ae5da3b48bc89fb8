//! `logs --follow` without losing or repeating a line: each new snapshot is aligned against the
//! previous one by the same overlap rule as `watch` ([`crate::monitor::tail`]); a snapshot that
//! does not reach back is taken again, wider, before anything of it is printed. Pure: the
//! command brings the snapshots.

use crate::monitor::logs::{MAX_TAIL, WIDEN};
use crate::monitor::tail::{self, Alignment};

/// What to do with one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Print these new lines (maybe none).
    Print(Vec<String>),
    /// More lines arrived than the tail held: ask again at once with [`Follower::tail`].
    Refetch,
    /// The log started over (a recreated container): say so, then print all of it.
    Restarted(Vec<String>),
    /// Even the widest tail could not reach back: say lines were missed, then print these.
    Gap(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Follower {
    previous: Vec<String>,
    previous_whole: bool,
    /// The tail the user asked for: never ask for less.
    base: u32,
    tail: u32,
}

impl Follower {
    /// Starts after the first snapshot (already printed), which asked for `asked` lines.
    pub fn new(first: Vec<String>, asked: u32, cut: bool) -> Follower {
        Follower {
            previous_whole: is_whole(&first, asked, cut),
            previous: first,
            base: asked,
            tail: asked,
        }
    }

    /// The tail to ask for next.
    pub fn tail(&self) -> u32 {
        self.tail
    }

    /// Takes one snapshot that asked for `asked` lines; `cut` when its body was over the cap.
    pub fn next(&mut self, snapshot: Vec<String>, asked: u32, cut: bool) -> Step {
        if snapshot.is_empty() && !self.previous.is_empty() {
            // An empty answer says nothing about where the log is: keep the old anchor, or
            // the next full snapshot would be printed again.
            return Step::Print(Vec::new());
        }
        let whole = is_whole(&snapshot, asked, cut);
        let alignment = tail::align(&self.previous, &snapshot, self.previous_whole, whole);
        let step = match alignment {
            Alignment::NewFrom(from) => {
                let new = snapshot[from..].to_vec();
                // Size the next tail for twice what just arrived, so a busy log stays covered.
                let due = u32::try_from(new.len())
                    .unwrap_or(u32::MAX)
                    .saturating_mul(2);
                self.tail = due.clamp(self.base, MAX_TAIL.max(self.base));
                Step::Print(new)
            }
            Alignment::Restarted => Step::Restarted(snapshot.clone()),
            Alignment::Gap if asked < MAX_TAIL => {
                self.tail = asked.saturating_mul(WIDEN).min(MAX_TAIL);
                return Step::Refetch;
            }
            Alignment::Gap => Step::Gap(snapshot.clone()),
        };
        self.previous = snapshot;
        self.previous_whole = whole;
        step
    }
}

/// Fewer lines than asked means the snapshot starts at the log's first line.
fn is_whole(lines: &[String], asked: u32, cut: bool) -> bool {
    !cut && lines.len() < asked as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(range: std::ops::Range<u32>) -> Vec<String> {
        range.map(|n| format!("step {n}")).collect()
    }

    /// The last `tail` lines of a log of `len` lines.
    fn window(len: u32, tail: u32) -> Vec<String> {
        lines(len.saturating_sub(tail)..len)
    }

    #[test]
    fn new_lines_come_once_and_repeats_are_not_mistaken_for_old_ones() {
        let mut follow = Follower::new(window(30, 10), 10, false);
        assert_eq!(
            follow.next(window(33, 10), 10, false),
            Step::Print(lines(30..33))
        );
        assert_eq!(
            follow.next(window(33, 10), 10, false),
            Step::Print(Vec::new())
        );
        let ticks = |n: usize| vec!["tick".to_owned(); n];
        let mut follow = Follower::new(ticks(3), 10, false);
        assert_eq!(
            follow.next(ticks(5), 10, false),
            Step::Print(ticks(2)),
            "a whole log aligns by position"
        );
    }

    #[test]
    fn a_snapshot_that_does_not_reach_back_is_taken_again_wider() {
        let mut follow = Follower::new(window(100, 10), 10, false);
        assert_eq!(follow.next(window(150, 10), 10, false), Step::Refetch);
        assert_eq!(follow.tail(), 40);
        assert_eq!(follow.next(window(150, 40), 40, false), Step::Refetch);
        assert_eq!(follow.tail(), 160);
        assert_eq!(
            follow.next(window(150, 160), 160, false),
            Step::Print(lines(100..150)),
            "nothing lost, nothing twice"
        );
        assert_eq!(follow.tail(), 100, "sized for twice the last burst");
        assert_eq!(
            follow.next(window(151, 100), 100, false),
            Step::Print(lines(150..151))
        );
        assert_eq!(follow.tail(), 10, "back to what was asked");
    }

    #[test]
    fn restarts_gaps_and_empty_answers() {
        let mut follow = Follower::new(window(5, 10), 10, false);
        let fresh = vec!["booting".to_owned()];
        assert_eq!(
            follow.next(fresh.clone(), 10, false),
            Step::Restarted(fresh.clone())
        );
        assert_eq!(follow.next(Vec::new(), 10, false), Step::Print(Vec::new()));
        assert_eq!(follow.next(fresh, 10, false), Step::Print(Vec::new()));

        let mut follow = Follower::new(window(50_000, MAX_TAIL), MAX_TAIL, false);
        assert_eq!(
            follow.next(window(70_000, MAX_TAIL), MAX_TAIL, false),
            Step::Gap(window(70_000, MAX_TAIL))
        );
    }
}
