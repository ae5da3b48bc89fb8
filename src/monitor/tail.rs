//! Log-tail alignment: given the previous and the current "last N lines" snapshot of a log,
//! where do the new lines of the current one begin?
//!
//! The API has no cursor, only windows onto the end of a growing log. A hypothesis "`a` lines
//! were appended between the two snapshots" is *consistent* when some log exists whose window
//! was `previous` and, `a` lines later, is `current`. For `a < len(current)` that means the
//! lines of `current` just before index `p = len(current) - a` repeat a run of `previous`: either
//! all of `previous` ends at `p`, or `current` starts inside `previous` and `current[..p]` is a
//! suffix of it. Runs are matched whole, never single lines, so repeated identical lines
//! ("tick", progress dots) cannot fool the matcher into a false position.
//!
//! The fundamental ambiguity: when the log is locally periodic (fifty "tick" lines, then five
//! more), several append counts are consistent and *no* algorithm that only sees the windows can
//! tell them apart. We pick the smallest consistent count — the longest overlap, ties to the
//! largest `p` — so a line is never printed twice; the price is that some appended repeats of
//! a periodic run may go unprinted. Knowing that a snapshot is the *whole* log (the API returned
//! fewer lines than asked) removes much of the ambiguity: two whole snapshots align by position.
//!
//! Cost: two Knuth–Morris–Pratt passes, O(len(previous) + len(current)) line comparisons.

/// Where the new lines of a snapshot begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alignment {
    /// `current[from..]` are new; the lines before them continue the previous snapshot.
    NewFrom(usize),
    /// `current` is the whole log and does not continue `previous`: the log started over (the
    /// container was recreated). Every line is new, and nothing is known to be missing.
    Restarted,
    /// No overlap: at least as many lines arrived as the tail covered. Every line is new, and
    /// lines may have been missed in between.
    Gap,
}

impl Alignment {
    /// The index in `current` where the new lines begin; `None` when continuity is lost.
    pub fn new_lines_start(self) -> Option<usize> {
        match self {
            Alignment::NewFrom(p) => Some(p),
            Alignment::Restarted => Some(0),
            Alignment::Gap => None,
        }
    }
}

/// Aligns `current` against `previous`. A snapshot is *whole* when it returned fewer lines than
/// the tail asked for, so it starts at the first line of the log. Tail sizes may differ between
/// the two snapshots.
pub fn align<T: PartialEq>(
    previous: &[T],
    current: &[T],
    previous_was_whole: bool,
    current_is_whole: bool,
) -> Alignment {
    let n = previous.len();
    if n == 0 {
        // Nothing to align against (an empty log): every line is new.
        return Alignment::NewFrom(0);
    }
    // A whole previous snapshot *is* the earlier log, so it can only sit at the very start of
    // `current`; otherwise all of it may sit anywhere, and the latest occurrence wins.
    let whole_overlap = if previous_was_whole {
        current.starts_with(previous).then_some(n)
    } else {
        last_occurrence_end(previous, current)
    };
    if let Some(p) = whole_overlap {
        return Alignment::NewFrom(p);
    }
    if current_is_whole {
        // The whole log no longer contains what it showed before: it was reset.
        return Alignment::Restarted;
    }
    match longest_suffix_that_prefixes(previous, current) {
        0 => Alignment::Gap,
        p => Alignment::NewFrom(p),
    }
}

/// [`align`] reduced to the index where the new lines begin (`None` = no overlap).
pub fn new_lines_start<T: PartialEq>(
    previous: &[T],
    current: &[T],
    previous_was_whole: bool,
    current_is_whole: bool,
) -> Option<usize> {
    align(previous, current, previous_was_whole, current_is_whole).new_lines_start()
}

/// KMP prefix function: `pi[i]` is the length of the longest proper prefix of `pattern[..=i]`
/// that is also its suffix.
fn prefix_function<T: PartialEq>(pattern: &[T]) -> Vec<usize> {
    let mut pi = vec![0; pattern.len()];
    let mut k = 0;
    for i in 1..pattern.len() {
        while k > 0 && pattern[i] != pattern[k] {
            k = pi[k - 1];
        }
        if pattern[i] == pattern[k] {
            k += 1;
        }
        pi[i] = k;
    }
    pi
}

/// The end index (exclusive) of the last occurrence of `pattern` in `text`.
fn last_occurrence_end<T: PartialEq>(pattern: &[T], text: &[T]) -> Option<usize> {
    if pattern.is_empty() || pattern.len() > text.len() {
        return None;
    }
    let pi = prefix_function(pattern);
    let mut q = 0;
    let mut last = None;
    for (i, item) in text.iter().enumerate() {
        while q > 0 && pattern[q] != *item {
            q = pi[q - 1];
        }
        if pattern[q] == *item {
            q += 1;
        }
        if q == pattern.len() {
            last = Some(i + 1);
            q = pi[q - 1];
        }
    }
    last
}

/// The largest `k` such that `current[..k]` equals the last `k` lines of `previous`.
fn longest_suffix_that_prefixes<T: PartialEq>(previous: &[T], current: &[T]) -> usize {
    let pattern = &current[..current.len().min(previous.len())];
    if pattern.is_empty() {
        return 0;
    }
    let pi = prefix_function(pattern);
    let mut q = 0;
    for item in previous {
        if q == pattern.len() {
            q = pi[q - 1];
        }
        while q > 0 && pattern[q] != *item {
            q = pi[q - 1];
        }
        if pattern[q] == *item {
            q += 1;
        }
    }
    q
}

#[cfg(test)]
mod tests;
