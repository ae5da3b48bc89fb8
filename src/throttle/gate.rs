//! The queue in front of the overall ceiling. Only the head of each endpoint's own queue ever
//! stands here, so there are at most five waiters; of them, actions (stop, start, destroy) go
//! first and the rest in arrival order.
//!
//! Why priority rather than reserved capacity: reserving part of the ceiling for actions would
//! waste it whenever no action is due (almost always), while a priority lane costs nothing until
//! an action arrives, and then delays it by at most the remainder of one ceiling interval. Reads
//! cannot starve in practice, because actions are themselves spaced by their endpoint gaps.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio::time::{sleep_until, Instant};

/// Which lane a waiter is in; `Urgent` sorts, and is served, first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Lane {
    Urgent,
    Normal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Ticket {
    lane: Lane,
    seq: u64,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: BTreeSet<Ticket>,
    next_seq: u64,
}

#[derive(Debug, Default)]
pub(super) struct Gate {
    queue: Mutex<Queue>,
    /// Rung whenever the head of the queue or the limiter may have changed.
    changed: Notify,
}

impl Gate {
    /// Waits until this caller is at the front of the queue and `try_take` grants it a call.
    /// `try_take` either claims the call or names the instant to try again. Dropping the future
    /// leaves the queue cleanly.
    pub(super) async fn admit(
        &self,
        lane: Lane,
        mut try_take: impl FnMut() -> Result<(), Instant>,
    ) {
        let place = self.join(lane);
        loop {
            // Registered before looking, so a change between the look and the wait still wakes us.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if !place.is_first() {
                changed.await;
                continue;
            }
            match try_take() {
                Ok(()) => return,
                // An urgent newcomer or a new rate interrupts the wait.
                Err(at) => tokio::select! {
                    () = sleep_until(at) => {}
                    () = &mut changed => {}
                },
            }
        }
    }

    /// Makes every waiter look again (the limiter was rebuilt).
    pub(super) fn nudge(&self) {
        self.changed.notify_waiters();
    }

    fn join(&self, lane: Lane) -> Place<'_> {
        let mut queue = self.lock();
        let ticket = Ticket {
            lane,
            seq: queue.next_seq,
        };
        queue.next_seq += 1;
        queue.waiting.insert(ticket);
        if queue.waiting.first() == Some(&ticket) {
            drop(queue);
            self.nudge();
        }
        Place { gate: self, ticket }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A waiter's place in the queue; leaving (by success or by cancellation) lets the next one on.
struct Place<'a> {
    gate: &'a Gate,
    ticket: Ticket,
}

impl Place<'_> {
    fn is_first(&self) -> bool {
        self.gate.lock().waiting.first() == Some(&self.ticket)
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.gate.lock().waiting.remove(&self.ticket);
        self.gate.nudge();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// A "limiter" that grants one call per second from `start`.
    fn every_second(start: Instant) -> impl FnMut() -> Result<(), Instant> {
        let mut next = start;
        move || {
            let now = Instant::now();
            if now >= next {
                next = now + Duration::from_secs(1);
                Ok(())
            } else {
                Err(next)
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_urgent_waiter_overtakes_normal_ones() {
        let gate = Arc::new(Gate::default());
        let start = Instant::now();
        let limiter = Arc::new(std::sync::Mutex::new(every_second(start)));
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, lane) in [
            ("a", Lane::Normal),
            ("b", Lane::Normal),
            ("c", Lane::Normal),
        ]
        .into_iter()
        .chain([("urgent", Lane::Urgent)])
        {
            let (gate, limiter, order) = (gate.clone(), limiter.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                if lane == Lane::Urgent {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                gate.admit(lane, || (limiter.lock().unwrap())()).await;
                order.lock().unwrap().push((name, Instant::now() - start));
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        let secs = |s| Duration::from_secs(s);
        assert_eq!(
            order,
            [
                ("a", secs(0)),
                ("urgent", secs(1)),
                ("b", secs(2)),
                ("c", secs(3))
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_leaves_the_queue() {
        let gate = Gate::default();
        let blocked = gate.admit(Lane::Normal, || {
            Err(Instant::now() + Duration::from_secs(60))
        });
        let _ = tokio::time::timeout(Duration::from_secs(1), blocked).await;
        assert!(gate.lock().waiting.is_empty());
        gate.admit(Lane::Normal, || Ok(())).await;
    }
}
