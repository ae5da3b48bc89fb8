//! The log follower: turns successive tail snapshots into history, new lines, gaps and numbered
//! completions (with their result URL), and sizes the next tail so gaps stay rare.

use std::time::Duration;

use regex::Regex;

use crate::config::settings::Policy;
use crate::monitor::durable::{cursor_of, DurableState, CURSOR_LINES};
use crate::monitor::tail::{self, Alignment};
use crate::monitor::Lines;
use crate::report::event::{EventKind, Source};

/// The largest tail ever asked for: a chatty log is followed closely, not unboundedly.
pub(crate) const MAX_TAIL: u32 = 10_000;
/// Quiet polls (new lines within a quarter of the raised tail) before the tail halves again.
/// A quarter, not a half: after halving, the same rate fills at most half of the new tail, so
/// the proactive raise does not undo the decay at once.
const QUIET_POLLS_BEFORE_DECAY: u32 = 5;

/// A tail that missed lines is asked for again this many times larger (up to [`MAX_TAIL`]).
pub(crate) const WIDEN: u32 = 4;

/// How close to the end of the first snapshot a completion must be to count as new when the
/// sweeps saw the job end while watching (issue 18's "old or new" rule): a job's last words
/// (the completion, a result URL, a summary) and nothing much after them.
pub const NEWEST_LINES: usize = 50;

/// Rows after the first read that may still show the end it came just before: the sweep
/// already under way at the read and the next one. A GPU that goes idle later says nothing
/// about that completion (the job went on, silently, after printing it).
pub const CONFIRM_ROWS: u8 = 2;

/// See [`LogFollower::row_seen`].
#[derive(Debug, Clone, PartialEq)]
struct Unconfirmed {
    lines: Vec<String>,
    rows_left: u8,
}

/// A younger instance's log is mostly its boot output, too fast a pace to size a tail by.
const MIN_AGE_FOR_PACE: Duration = Duration::from_secs(20);

/// A completion ready to be reported.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Found {
    pub number: u32,
    pub result_url: Option<String>,
}

/// A new match of the failure pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FoundFailure {
    pub number: u32,
    pub line: String,
    /// Up to [`CONTEXT_LINES`] lines before it, oldest first.
    pub context: Vec<String>,
}

/// Lines before a failure kept with it: a traceback's last frames, or what the job printed
/// before CUDA ran out of memory.
pub(crate) const CONTEXT_LINES: usize = 3;

/// Lines of the previous snapshot kept to align the next one against. Twice the durable
/// cursor: enough to place a new tail even in a log that repeats itself, while a fleet of a
/// thousand instances with 200-line tails keeps a few MB, not tens.
const MEMORY_LINES: usize = 2 * CURSOR_LINES;

fn log_event(source: &Source, line: String, history: bool) -> EventKind {
    EventKind::Log {
        source: source.clone(),
        line,
        history,
    }
}

/// The last [`MEMORY_LINES`] of a snapshot; a cut snapshot no longer starts the log.
fn keep_end(lines: &[String], whole: bool) -> (Lines, bool) {
    let start = lines.len().saturating_sub(MEMORY_LINES);
    let kept = Lines::new(lines[start..].iter().map(String::as_str));
    (kept, whole && start == 0)
}

/// What one snapshot brought.
#[derive(Debug, Default)]
pub(crate) struct SnapshotReport {
    /// `Log`, `Gap` and `OldCompletions` events, in order.
    pub events: Vec<EventKind>,
    /// Completions to report now, in order.
    pub completions: Vec<Found>,
    /// New failure matches, in order.
    pub failures: Vec<FoundFailure>,
    pub new_lines: usize,
    /// The durable part of the follower changed (cursor, counts, pending completion).
    pub durable_changed: bool,
    /// The snapshot did not reach back to the previous one while a larger tail could: it was
    /// not taken (nothing above is set), and the tail was widened for a second look at once.
    /// The lines are still in the log, only further back; a gap is reported only when even the
    /// largest tail cannot reach them.
    pub look_again: bool,
    /// This was the history snapshot, of this many lines.
    pub history: Option<usize>,
}

/// Follows one instance's log across snapshots.
#[derive(Debug, Clone)]
pub(crate) struct LogFollower {
    /// The end of the previous snapshot ([`MEMORY_LINES`]; only the last [`CURSOR_LINES`] of
    /// it are durable).
    snapshot: Lines,
    whole: bool,
    history_shown: bool,
    old_completions: u32,
    completions: u32,
    old_failures: u32,
    failures: u32,
    /// A completion whose result URL did not show up yet: it waits one more snapshot.
    pending: Option<u32>,
    /// The first snapshot's newest completion and the lines after it, counted old for want of
    /// evidence: the read may have come between the job's end and the sweep that saw it end.
    /// Counted new if one of the next [`CONFIRM_ROWS`] rows shows the end before the log
    /// prints anything more ([`LogFollower::row_seen`]).
    unconfirmed: Option<Unconfirmed>,
    tail: AdaptiveTail,
}

impl LogFollower {
    pub fn new(policy_tail: u32) -> Self {
        LogFollower {
            snapshot: Lines::default(),
            whole: false,
            history_shown: false,
            old_completions: 0,
            completions: 0,
            old_failures: 0,
            failures: 0,
            pending: None,
            unconfirmed: None,
            tail: AdaptiveTail {
                current: policy_tail,
                quiet: 0,
            },
        }
    }

    pub fn resume(policy_tail: u32, state: &DurableState) -> Self {
        LogFollower {
            snapshot: state.cursor.clone(),
            whole: state.cursor_whole,
            history_shown: state.history_shown,
            old_completions: state.old_completions,
            completions: state.completions,
            old_failures: state.old_failures,
            failures: state.failures,
            pending: state.pending_completion,
            ..LogFollower::new(state.tail.map_or(policy_tail, |tail| {
                tail.clamp(policy_tail, MAX_TAIL.max(policy_tail))
            }))
        }
    }

    pub fn write_durable(&self, state: &mut DurableState) {
        let (cursor, whole) = cursor_of(&self.snapshot, self.whole);
        state.cursor = cursor;
        state.cursor_whole = whole;
        state.history_shown = self.history_shown;
        state.old_completions = self.old_completions;
        state.completions = self.completions;
        state.old_failures = self.old_failures;
        state.failures = self.failures;
        state.pending_completion = self.pending;
        state.tail = Some(self.tail.current);
    }

    /// The tail to ask for next.
    pub fn tail(&self) -> u32 {
        self.tail.current.max(1)
    }

    pub fn completions(&self) -> u32 {
        self.completions
    }

    /// Whether the first snapshot was taken (and its history shown).
    pub fn history_shown(&self) -> bool {
        self.history_shown
    }

    /// New failure-pattern matches so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn policy_changed(&mut self, old_tail: u32, new_tail: u32) {
        self.tail.policy_changed(old_tail, new_tail);
    }

    /// Takes a snapshot of the last `requested` lines. `ended_while_watched`: the status sweeps
    /// saw this job end since watching started (see [`NEWEST_LINES`]).
    pub fn process(
        &mut self,
        source: &Source,
        policy: &Policy,
        lines: Vec<String>,
        requested: u32,
        ended_while_watched: bool,
    ) -> SnapshotReport {
        let whole = lines.len() < requested as usize;
        let mut report = SnapshotReport::default();
        // The lines move into their `Log` events; what must outlive them (the end kept to
        // align the next snapshot) is copied once, into one buffer, just before.
        let (kept, kept_whole) = if !self.history_shown {
            self.first_snapshot(
                source,
                policy,
                lines,
                whole,
                ended_while_watched,
                &mut report,
            )
        } else {
            match self.next_snapshot(source, policy, lines, requested, whole, &mut report) {
                Some(kept) => kept,
                None => return report,
            }
        };
        let previous = std::mem::replace(&mut self.snapshot, kept);
        let previous_whole = std::mem::replace(&mut self.whole, kept_whole);
        report.durable_changed |=
            cursor_of(&previous, previous_whole) != cursor_of(&self.snapshot, kept_whole);
        report
    }

    /// The first snapshot: its history shown, its completions and failures counted old (but
    /// for the newest completion of a job seen ending); returns the end to keep.
    fn first_snapshot(
        &mut self,
        source: &Source,
        policy: &Policy,
        mut lines: Vec<String>,
        whole: bool,
        ended_while_watched: bool,
        report: &mut SnapshotReport,
    ) -> (Lines, bool) {
        self.history_shown = true;
        report.history = Some(lines.len());
        report.durable_changed = true;
        let shown = policy
            .history
            .map_or(lines.len(), |h| lines.len().min(h as usize));
        let positions = completion_positions(&policy.completion, &lines);
        // The job ended while we watched: its last completion, if it is among the newest
        // lines, is its ending, printed after watching began.
        let recent = positions
            .last()
            .map(|p| p.line)
            .filter(|line| lines.len() - line <= NEWEST_LINES);
        let newest = recent.filter(|_| ended_while_watched);
        self.unconfirmed = recent
            .filter(|_| !ended_while_watched)
            .map(|from| Unconfirmed {
                lines: lines[from..].to_vec(),
                rows_left: CONFIRM_ROWS,
            });
        let old = count(match newest {
            Some(from) => positions.iter().filter(|p| p.line < from).count(),
            None => positions.len(),
        });
        if let Some(from) = newest {
            report.completions = self.completions_in(policy, &lines[from..]);
        }
        let old_failures = count(failure_lines(policy.failure.as_deref(), &lines).count());
        let from = lines.len() - shown;
        let kept = keep_end(&lines, whole);
        report.events.extend(
            lines
                .drain(from..)
                .map(|line| log_event(source, line, true)),
        );
        if old > 0 {
            self.old_completions = old;
            report.events.push(EventKind::OldCompletions {
                source: source.clone(),
                count: old,
            });
        }
        if old_failures > 0 {
            self.old_failures = old_failures;
            report.events.push(EventKind::OldFailures {
                source: source.clone(),
                count: old_failures,
            });
        }
        kept
    }

    /// A later snapshot, aligned with the kept end: its new lines shown and searched. `None`
    /// when it missed lines and a wider tail is to be asked for first.
    fn next_snapshot(
        &mut self,
        source: &Source,
        policy: &Policy,
        mut lines: Vec<String>,
        requested: u32,
        whole: bool,
        report: &mut SnapshotReport,
    ) -> Option<(Lines, bool)> {
        let current: Vec<&str> = lines.iter().map(String::as_str).collect();
        let alignment = tail::align(&self.snapshot.as_strs(), &current, self.whole, whole);
        drop(current);
        if alignment == Alignment::Gap && requested < MAX_TAIL {
            let wider = requested.saturating_mul(WIDEN).min(MAX_TAIL);
            self.tail.current = self.tail.current.max(wider);
            self.tail.quiet = 0;
            report.look_again = true;
            return None;
        }
        if alignment == Alignment::Gap {
            report.events.push(EventKind::Gap {
                source: source.clone(),
                tail: requested,
            });
        }
        let start = alignment.new_lines_start().unwrap_or(0);
        let new = &lines[start..];
        report.new_lines = new.len();
        if !new.is_empty() {
            // The job printed on after that completion: it was not its ending.
            self.unconfirmed = None;
        }
        let pending_before = self.pending;
        report.completions = self.completions_in(policy, new);
        report.failures = self.failures_in(policy, new);
        report.durable_changed = !report.completions.is_empty()
            || !report.failures.is_empty()
            || self.pending != pending_before;
        self.tail.after(
            policy.tail,
            requested,
            report.new_lines,
            alignment == Alignment::Gap,
        );
        let kept = keep_end(&lines, whole);
        report.events.extend(
            lines
                .drain(start..)
                .map(|line| log_event(source, line, false)),
        );
        Some(kept)
    }

    /// A status row after the first read; `ended`: it shows the job running at the start
    /// ended while watched (busy at the first sweep, the GPU idle now while still running).
    /// If it is one of the first [`CONFIRM_ROWS`] after that read and the read's newest
    /// completion is still the log's last word, that completion is this ending: counted new
    /// after all. Once; nothing when there is no such completion.
    pub fn row_seen(&mut self, policy: &Policy, ended: bool) -> Vec<Found> {
        let Some(waiting) = self.unconfirmed.as_mut() else {
            return Vec::new();
        };
        waiting.rows_left = waiting.rows_left.saturating_sub(1);
        if !ended {
            if waiting.rows_left == 0 {
                self.unconfirmed = None;
            }
            return Vec::new();
        }
        let Some(Unconfirmed { lines, .. }) = self.unconfirmed.take() else {
            return Vec::new();
        };
        self.old_completions = self.old_completions.saturating_sub(1);
        self.completions_in(policy, &lines)
    }

    /// After a history snapshot of `lines`, sizes the next tail for the lines due by the next
    /// snapshot, `expected_gap` away: the history's lines over the instance's `age` give the pace
    /// (a lower bound when the history filled its tail). Twice that, as the adaptive tail keeps
    /// it. In a fleet whose turns come round slowly (a thousand instances, one fetch a second),
    /// the policy's tail otherwise missed every instance's first round of lines.
    pub fn size_after_history(
        &mut self,
        floor: u32,
        lines: usize,
        expected_gap: Duration,
        age: Option<Duration>,
    ) {
        let Some(age) = age.filter(|age| *age >= MIN_AGE_FOR_PACE) else {
            return;
        };
        let due = lines as f64 * expected_gap.as_secs_f64() / age.as_secs_f64();
        let wanted = (2.0 * due).ceil().min(f64::from(MAX_TAIL)) as u32;
        self.tail.current = self.tail.current.max(wanted).max(floor);
    }

    /// Numbers the completion matches among `new` lines and finds their result URLs. A URL is
    /// searched from the match onwards, up to the next match (whose URL it would be); a match
    /// with nothing after it waits for the next snapshot, once.
    fn completions_in(&mut self, policy: &Policy, new: &[String]) -> Vec<Found> {
        let positions = completion_positions(&policy.completion, new);
        let mut found = Vec::new();
        if let Some(number) = self.pending.take() {
            let start = Pos { line: 0, at: 0 };
            let result_url = find_url(&policy.result, new, start, positions.first().copied());
            found.push(Found { number, result_url });
        }
        for (k, &at) in positions.iter().enumerate() {
            self.completions = self.completions.saturating_add(1);
            let next = positions.get(k + 1).copied();
            match find_url(&policy.result, new, at, next) {
                None if next.is_none() => self.pending = Some(self.completions),
                result_url => found.push(Found {
                    number: self.completions,
                    result_url,
                }),
            }
        }
        found
    }
}

impl LogFollower {
    /// Numbers the failure matches among `new` lines (one per line) with the lines before
    /// each, reaching back into the previous snapshot when the match opens the new lines.
    fn failures_in(&mut self, policy: &Policy, new: &[String]) -> Vec<FoundFailure> {
        let matches: Vec<usize> = failure_lines(policy.failure.as_deref(), new).collect();
        let mut found = Vec::with_capacity(matches.len());
        for index in matches {
            self.failures = self.failures.saturating_add(1);
            let from_new = index.min(CONTEXT_LINES);
            let from_previous = CONTEXT_LINES - from_new;
            let previous = self.snapshot.last(from_previous);
            let context = previous
                .iter()
                .map(str::to_string)
                .chain(new[index - from_new..index].iter().cloned())
                .collect();
            found.push(FoundFailure {
                number: self.failures,
                line: new[index].clone(),
                context,
            });
        }
        found
    }
}

/// The indexes of the lines matching the failure pattern (none without one).
fn failure_lines<'a>(
    pattern: Option<&'a Regex>,
    lines: &'a [String],
) -> impl Iterator<Item = usize> + 'a {
    lines
        .iter()
        .enumerate()
        .filter(move |(_, line)| pattern.is_some_and(|p| p.is_match(line)))
        .map(|(index, _)| index)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Where a completion match starts: line index and byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    line: usize,
    at: usize,
}

/// Every match of the completion pattern, in order (several per line count separately).
fn completion_positions(completion: &Regex, lines: &[String]) -> Vec<Pos> {
    lines
        .iter()
        .enumerate()
        .flat_map(|(line, text)| {
            completion.find_iter(text).map(move |m| Pos {
                line,
                at: m.start(),
            })
        })
        .collect()
}

/// The first match of `result` at or after `from` and before `until`.
fn find_url(result: &Regex, lines: &[String], from: Pos, until: Option<Pos>) -> Option<String> {
    let last_line = until.map_or(lines.len().saturating_sub(1), |u| u.line);
    for (index, text) in lines
        .iter()
        .enumerate()
        .skip(from.line)
        .take_while(|(i, _)| *i <= last_line)
    {
        let start = if index == from.line { from.at } else { 0 };
        let end = match until {
            Some(u) if u.line == index => u.at,
            _ => text.len(),
        };
        if start > end {
            continue;
        }
        let haystack = text.get(..end)?;
        if let Some(m) = result.find_at(haystack, start) {
            return Some(m.as_str().to_string());
        }
    }
    None
}

/// The tail size: the policy's, raised when new lines crowd it or a gap shows, and decayed
/// back after quiet polls.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AdaptiveTail {
    current: u32,
    quiet: u32,
}

impl AdaptiveTail {
    fn after(&mut self, floor: u32, requested: u32, new_lines: usize, gap: bool) {
        if gap || new_lines.saturating_mul(2) > requested as usize {
            self.current = self
                .current
                .max(requested)
                .saturating_mul(2)
                .min(MAX_TAIL)
                .max(floor);
            self.quiet = 0;
        } else if self.current > floor {
            if new_lines.saturating_mul(4) <= self.current as usize {
                self.quiet += 1;
                if self.quiet >= QUIET_POLLS_BEFORE_DECAY {
                    self.current = (self.current / 2).max(floor);
                    self.quiet = 0;
                }
            } else {
                self.quiet = 0;
            }
        } else {
            self.current = floor;
        }
    }

    /// A raised tail stays raised (at least the new policy's); otherwise it follows the policy.
    fn policy_changed(&mut self, old_floor: u32, new_floor: u32) {
        self.current = if self.current > old_floor {
            self.current.max(new_floor)
        } else {
            new_floor
        };
        self.quiet = 0;
    }
}

#[cfg(test)]
mod tests;
