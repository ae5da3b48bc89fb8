//! The async shell of the log queue: monitors wait here for their turn, one at a time goes on
//! into the throttle's `request_logs` lane, and the next is chosen (by [`Scheduler`]) the moment
//! the previous one is let through. The throttle still spaces and limits every call: the queue
//! only decides who is next, so priorities never cost the endpoint's budget.
//!
//! Choosing as late as possible matters: a signal that arrives while a thousand monitors wait
//! is honoured at the very next turn. Only the one already chosen (at most one call gap ahead)
//! is not overtaken.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::order::{Grant, Order, Pace, Reason, Scheduler, Ticket};
use super::stats::QueueStats;
use crate::monitor::signals::SignalKind;

/// Cheap to clone; every clone is the same queue.
#[derive(Debug, Clone)]
pub struct LogQueue {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    origin: Instant,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    order: Scheduler,
    next_ticket: Ticket,
    /// The waiter chosen to go next, until the throttle lets it through (or it gives up).
    holder: Option<Grant>,
    wakers: HashMap<Ticket, Arc<Notify>>,
    pace: HashMap<u64, Pace>,
    stats: QueueStats,
}

impl Default for LogQueue {
    fn default() -> Self {
        LogQueue::new(Order::default())
    }
}

impl LogQueue {
    pub fn new(order: Order) -> Self {
        LogQueue {
            shared: Arc::new(Shared {
                origin: Instant::now(),
                inner: Mutex::new(Inner {
                    order: Scheduler::new(order),
                    ..Inner::default()
                }),
            }),
        }
    }

    /// Switches the order (at start, from the fleet file); waiters already queued keep their
    /// places.
    pub fn set_order(&self, order: Order) {
        let mut inner = self.lock();
        if inner.order.order() != order && inner.order.is_empty() {
            inner.order = Scheduler::new(order);
        }
    }

    /// A sweep showed `kind` for `id`: its next fetch goes early (once per episode). When `id`
    /// is the one already chosen, that fetch is it: left pending, the signal would move the
    /// fetch after it forward too.
    pub fn signal(&self, id: u64, kind: SignalKind) {
        let now = self.now();
        let mut inner = self.lock();
        inner.stats.signals += 1;
        match inner.holder.filter(|g| g.id == id && g.answers.is_none()) {
            Some(_) => {
                if let Some(answers) = inner.order.signal_picked(id, kind, now) {
                    if let Some(grant) = inner.holder.as_mut() {
                        grant.reason = Reason::Signal(kind);
                        grant.answers = Some(answers);
                    }
                }
            }
            None => inner.order.signal(id, kind, now),
        }
    }

    /// How many watched instances are running (each sweep): the round-robin share the
    /// fairness bound is taken against.
    pub fn set_share(&self, running: usize) {
        self.lock().order.set_share(running);
    }

    /// The pace `id`'s monitor measured; applies from its next fetch.
    pub fn set_pace(&self, id: u64, pace: Pace) {
        let mut inner = self.lock();
        if pace == Pace::Normal {
            inner.pace.remove(&id);
        } else {
            inner.pace.insert(id, pace);
        }
    }

    /// The instance left the fleet.
    pub fn forget(&self, id: u64) {
        let mut inner = self.lock();
        inner.order.forget(id);
        inner.pace.remove(&id);
    }

    pub fn stats(&self) -> QueueStats {
        self.lock().stats.clone()
    }

    /// Waits until `id` is the one to go next. Dropping the future, or the [`Turn`] before
    /// [`Turn::passed`], gives the place up cleanly.
    pub async fn turn(&self, id: u64) -> Turn<'_> {
        let (ticket, woken) = {
            let mut inner = self.lock();
            let ticket = inner.next_ticket;
            inner.next_ticket += 1;
            let pace = inner.pace.get(&id).copied().unwrap_or_default();
            inner.order.join(ticket, id, pace);
            let woken = Arc::new(Notify::new());
            inner.wakers.insert(ticket, Arc::clone(&woken));
            inner.dispatch();
            (ticket, woken)
        };
        let turn = Turn {
            queue: self,
            ticket,
            done: false,
        };
        loop {
            if turn.is_holder() {
                return turn;
            }
            woken.notified().await;
        }
    }

    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.shared.origin)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// Chooses the next one when nobody is chosen, and wakes it.
    fn dispatch(&mut self) {
        if self.holder.is_some() {
            return;
        }
        if let Some(grant) = self.order.pick() {
            if let Some(woken) = self.wakers.get(&grant.ticket) {
                woken.notify_one();
            }
            self.holder = Some(grant);
        }
    }
}

/// A place in the queue that has come to the front.
#[derive(Debug)]
pub struct Turn<'a> {
    queue: &'a LogQueue,
    ticket: Ticket,
    done: bool,
}

impl Turn<'_> {
    /// The throttle let the call through: count it and choose the next one.
    pub fn passed(mut self) {
        let now = self.queue.now();
        let mut inner = self.queue.lock();
        if let Some(grant) = inner.holder.take_if(|g| g.ticket == self.ticket) {
            let early = match grant.reason {
                Reason::Signal(kind) => Some(kind),
                Reason::Turn | Reason::Deadline => None,
            };
            inner.stats.fetched(early, grant.answers, now);
        }
        inner.wakers.remove(&self.ticket);
        inner.dispatch();
        self.done = true;
    }

    fn is_holder(&self) -> bool {
        self.queue
            .lock()
            .holder
            .is_some_and(|g| g.ticket == self.ticket)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut inner = self.queue.lock();
        inner.wakers.remove(&self.ticket);
        if inner.holder.is_some_and(|g| g.ticket == self.ticket) {
            inner.holder = None;
        } else {
            inner.order.leave(self.ticket);
        }
        inner.dispatch();
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
