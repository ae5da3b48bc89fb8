//! The pure order of the log queue: who fetches next, with no clock and no IO of its own.
//!
//! Every waiter gets two numbers when it joins, both counted in *turns* (grants of the queue):
//! - its **deadline**: the turn by which it must go, `1.5 ×` its round-robin fair share after
//!   joining. The share is one fetch per turn of every instance sharing the queue (the running
//!   ones, [`Scheduler::set_share`]), or the waiters already queued plus one when more wait;
//!   that is the fairness bound of issue 18, and [`Scheduler::pick`] never lets it pass. Taking
//!   the share, not only the place in the queue, matters at start: a thousand monitors join
//!   at once, and a bound of 1.5× each one's place would leave the first round (17 minutes)
//!   room for one early fetch in three turns, fewer than the jobs that end in it;
//! - its **soft key**: when it would go in plain round robin, scaled by its [`Pace`] (a quiet
//!   log later, a fast one sooner).
//!
//! The next waiter is an instance with a pending signal (heaviest first), else the smallest soft
//! key, *if* every other waiter can still meet its deadline afterwards (earliest-deadline-first
//! on unit jobs: the k-th deadline must lie at least k + 1 turns ahead); otherwise the waiter
//! with the earliest deadline. A newcomer's deadline is never earlier than the turn round robin
//! would give it, so joining cannot break a feasible queue; the bound is an invariant, not a hope.
//!
//! One early fetch per instance per episode: a signal makes the next fetch an early one, and
//! further signals are ignored until the instance has had one fetch in its ordinary turn.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use crate::monitor::signals::SignalKind;

/// A waiter's place: unique for the life of the queue, increasing in order of arrival.
pub type Ticket = u64;

/// How fast an instance's log grows, as its monitor measured it from history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pace {
    /// Nothing new for a while: read later (up to the fairness bound).
    Quiet,
    #[default]
    Normal,
    /// Its new lines crowd the tail: read sooner, so the tail keeps covering the wait.
    Fast,
}

impl Pace {
    /// The factor on the round-robin wait. Quiet stays within the 1.5× bound by construction.
    pub fn factor(self) -> f64 {
        match self {
            Pace::Quiet => FAIRNESS_BOUND,
            Pace::Normal => 1.0,
            Pace::Fast => 0.5,
        }
    }
}

/// How the queue orders its waiters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// Signals first, paced by history, within the fairness bound.
    #[default]
    Signals,
    /// Plain first come, first served: the baseline, and what `log_order = "round-robin"` asks.
    RoundRobin,
}

/// No waiter waits more than this many times its round-robin wait (issue 18).
pub const FAIRNESS_BOUND: f64 = 1.5;

/// Why a waiter went when it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Its ordinary turn (round robin, as paced).
    Turn,
    /// Moved forward by a signal.
    Signal(SignalKind),
    /// Its deadline had come: the bound overrode a signal or the pace.
    Deadline,
}

/// One waiter let through.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grant {
    pub ticket: Ticket,
    pub id: u64,
    pub reason: Reason,
    /// The signal this fetch answers and when it was seen, whatever moved the waiter.
    pub answers: Option<(SignalKind, Duration)>,
}

#[derive(Debug, Clone, Copy)]
struct Waiter {
    id: u64,
    soft: f64,
    deadline: u64,
    /// The turn it joined at.
    joined: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Episode {
    /// A signal was seen at this time; the next fetch answers it.
    Pending { kind: SignalKind, since: Duration },
    /// The early fetch went; further signals wait for a fetch in the ordinary turn.
    Spent,
}

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct Scheduler {
    order: Order,
    waiting: BTreeMap<Ticket, Waiter>,
    by_deadline: BTreeSet<(u64, Ticket)>,
    episodes: HashMap<u64, Episode>,
    /// Turns granted so far.
    turns: u64,
    /// Instances sharing the queue: a fetch each per round of round robin.
    share: u64,
}

impl Scheduler {
    pub fn new(order: Order) -> Self {
        Scheduler {
            order,
            ..Scheduler::default()
        }
    }

    pub fn order(&self) -> Order {
        self.order
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// How many instances share the queue (the running ones of the fleet), from the latest
    /// sweep. A larger share also moves the deadlines of those already waiting out to it: the
    /// monitors of the first sweep may join before the fleet has counted them. Deadlines only
    /// ever move later, so a feasible queue stays feasible.
    pub fn set_share(&mut self, instances: usize) {
        let grew = instances as u64 > self.share;
        self.share = instances as u64;
        if !grew {
            return;
        }
        let bound = Self::bound(self.share as f64);
        for (ticket, waiter) in &mut self.waiting {
            let deadline = waiter.joined + bound;
            if deadline > waiter.deadline {
                self.by_deadline.remove(&(waiter.deadline, *ticket));
                waiter.deadline = deadline;
                self.by_deadline.insert((deadline, *ticket));
            }
        }
    }

    /// The turns a fair share of `turns` may stretch to.
    fn bound(turns: f64) -> u64 {
        (turns * FAIRNESS_BOUND).floor() as u64
    }

    /// `id` asks for a fetch; `ticket` must be new and larger than every earlier one.
    pub fn join(&mut self, ticket: Ticket, id: u64, pace: Pace) {
        let ahead = self.waiting.len() as u64;
        let pace = match self.order {
            Order::Signals => pace,
            Order::RoundRobin => Pace::Normal,
        };
        let place = (ahead + 1) as f64;
        let fair = place.max(self.share as f64);
        let waiter = Waiter {
            id,
            soft: self.turns as f64 + place * pace.factor(),
            deadline: self.turns + Self::bound(fair),
            joined: self.turns,
        };
        self.by_deadline.insert((waiter.deadline, ticket));
        self.waiting.insert(ticket, waiter);
    }

    /// A waiter gave up its place (its fetch was cancelled).
    pub fn leave(&mut self, ticket: Ticket) {
        if let Some(waiter) = self.waiting.remove(&ticket) {
            self.by_deadline.remove(&(waiter.deadline, ticket));
        }
    }

    /// A sweep showed `kind` for `id` at `now`: its next fetch goes early, once per episode.
    pub fn signal(&mut self, id: u64, kind: SignalKind, now: Duration) {
        if self.order == Order::RoundRobin {
            return;
        }
        match self.episodes.get(&id).copied() {
            None => {
                self.episodes
                    .insert(id, Episode::Pending { kind, since: now });
            }
            Some(Episode::Pending { kind: had, since }) if kind > had => {
                self.episodes.insert(id, Episode::Pending { kind, since });
            }
            Some(_) => {}
        }
    }

    /// Like [`Scheduler::signal`], for the waiter [`Scheduler::pick`] already let through whose
    /// fetch has not gone yet: it goes next anyway, the soonest any fetch can, so it is the
    /// episode's early fetch. What its grant now answers; `None` when the signal changes
    /// nothing (round robin, or an episode under way).
    pub fn signal_picked(
        &mut self,
        id: u64,
        kind: SignalKind,
        now: Duration,
    ) -> Option<(SignalKind, Duration)> {
        if self.order == Order::RoundRobin || self.episodes.contains_key(&id) {
            return None;
        }
        self.episodes.insert(id, Episode::Spent);
        Some((kind, now))
    }

    /// The instance left the fleet: its episode goes with it.
    pub fn forget(&mut self, id: u64) {
        self.episodes.remove(&id);
    }

    /// Lets the next waiter through, if any (see the module docs).
    pub fn pick(&mut self) -> Option<Grant> {
        let (ticket, reason) = self.choose()?;
        let waiter = self.waiting.remove(&ticket)?;
        self.by_deadline.remove(&(waiter.deadline, ticket));
        self.turns += 1;
        let answers = match self.episodes.get(&waiter.id).copied() {
            Some(Episode::Pending { kind, since }) => {
                self.episodes.insert(waiter.id, Episode::Spent);
                Some((kind, since))
            }
            Some(Episode::Spent) if reason == Reason::Turn => {
                self.episodes.remove(&waiter.id);
                None
            }
            _ => None,
        };
        Some(Grant {
            ticket,
            id: waiter.id,
            reason,
            answers,
        })
    }

    fn choose(&self) -> Option<(Ticket, Reason)> {
        let (_, earliest) = *self.by_deadline.first()?;
        if self.order == Order::RoundRobin {
            return self.waiting.keys().next().map(|t| (*t, Reason::Turn));
        }
        let (preferred, reason) = self
            .signalled()
            .map(|(ticket, kind)| (ticket, Reason::Signal(kind)))
            .or_else(|| self.softest().map(|ticket| (ticket, Reason::Turn)))?;
        if preferred == earliest || self.feasible_without(preferred) {
            Some((preferred, reason))
        } else {
            Some((earliest, Reason::Deadline))
        }
    }

    /// The waiting instance with the heaviest pending signal (the oldest among equals).
    fn signalled(&self) -> Option<(Ticket, SignalKind)> {
        self.waiting
            .iter()
            .filter_map(|(ticket, w)| match self.episodes.get(&w.id) {
                Some(Episode::Pending { kind, since }) => Some((*ticket, *kind, *since)),
                _ => None,
            })
            .max_by(|a, b| {
                a.1.weight()
                    .cmp(&b.1.weight())
                    .then(b.2.cmp(&a.2))
                    .then(b.0.cmp(&a.0))
            })
            .map(|(ticket, kind, _)| (ticket, kind))
    }

    fn softest(&self) -> Option<Ticket> {
        self.waiting
            .iter()
            .min_by(|a, b| a.1.soft.total_cmp(&b.1.soft).then(a.0.cmp(b.0)))
            .map(|(ticket, _)| *ticket)
    }

    /// Whether, after `ticket` goes now, every other waiter can still meet its deadline when
    /// served earliest-deadline-first.
    fn feasible_without(&self, ticket: Ticket) -> bool {
        self.by_deadline
            .iter()
            .filter(|(_, t)| *t != ticket)
            .enumerate()
            .all(|(k, (deadline, _))| *deadline >= self.turns + k as u64 + 2)
    }
}

#[cfg(test)]
#[path = "order_tests.rs"]
mod tests;
