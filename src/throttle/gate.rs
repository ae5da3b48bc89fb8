//! The queue in front of the overall ceiling. Only the head of each endpoint's own queue ever
//! stands here, so there are at most five waiters; of them, actions (stop, start, destroy) go
//! first and the rest in arrival order.
//!
//! Why priority rather than reserved capacity: reserving part of the ceiling for actions would
//! waste it whenever no action is due (almost always), while a priority lane costs nothing until
//! an action arrives. Reads cannot starve in practice, because actions are themselves spaced by
//! their endpoint gaps.
//!
//! An action still waiting out its own gap *announces* when it will be due, and reads leave the
//! last ceiling interval before then alone, so the permit is there when the gap ends. Without it
//! a read took that permit, and every action of a queue of stops waited its gap plus most of an
//! interval: at a full ceiling of 2 calls/s, stops went every 1.5 s instead of every 1 s
//! (issue 18's benchmark, 400 jobs ending).

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

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
    /// When announced actions will be due, with a sequence number each.
    announced: BTreeSet<(Instant, u64)>,
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
    /// `try_take` either claims the call or names the instant to try again. A normal caller
    /// leaves alone the `interval` before an announced action is due (see the module docs).
    /// Dropping the future leaves the queue cleanly.
    pub(super) async fn admit(
        &self,
        lane: Lane,
        interval: Duration,
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
            let held_from = match lane {
                Lane::Urgent => None,
                Lane::Normal => self
                    .next_announced()
                    .map(|due| due.checked_sub(interval).unwrap_or(due)),
            };
            let now = Instant::now();
            if let Some(from) = held_from.filter(|from| *from <= now) {
                // The action joins at its due time; an announcement outliving that by an
                // interval (a late timer) holds nothing any longer.
                let release = from + interval + interval;
                if now < release {
                    tokio::select! {
                        () = sleep_until(release) => {}
                        () = &mut changed => {}
                    }
                    continue;
                }
            }
            let hold_ahead = held_from.filter(|from| *from > now);
            match try_take() {
                Ok(()) => return,
                // An urgent newcomer or a new rate interrupts the wait.
                Err(at) => tokio::select! {
                    () = sleep_until(hold_ahead.map_or(at, |from| at.min(from))) => {}
                    () = &mut changed => {}
                },
            }
        }
    }

    /// Says an action will want a permit at `due`; the notice is withdrawn when dropped.
    pub(super) fn announce(&self, due: Instant) -> Notice<'_> {
        let key = {
            let mut queue = self.lock();
            let key = (due, queue.next_seq);
            queue.next_seq += 1;
            queue.announced.insert(key);
            key
        };
        self.nudge();
        Notice { gate: self, key }
    }

    fn next_announced(&self) -> Option<Instant> {
        self.lock().announced.first().map(|(due, _)| *due)
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

/// An action's announced due time (see [`Gate::announce`]).
pub(super) struct Notice<'a> {
    gate: &'a Gate,
    key: (Instant, u64),
}

impl Notice<'_> {
    /// The action is due at another time (its endpoint was paused, or its gap moved).
    pub(super) fn move_to(&mut self, due: Instant) {
        if due == self.key.0 {
            return;
        }
        {
            let mut queue = self.gate.lock();
            queue.announced.remove(&self.key);
            self.key.0 = due;
            queue.announced.insert(self.key);
        }
        self.gate.nudge();
    }
}

impl Drop for Notice<'_> {
    fn drop(&mut self) {
        self.gate.lock().announced.remove(&self.key);
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
        every(start, Duration::from_secs(1))
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
                gate.admit(lane, Duration::from_secs(1), || (limiter.lock().unwrap())())
                    .await;
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

    /// A "limiter" that grants one call per `every` from `start`.
    fn every(start: Instant, every: Duration) -> impl FnMut() -> Result<(), Instant> {
        let mut next = start;
        move || {
            let now = Instant::now();
            if now >= next {
                next = now + every;
                Ok(())
            } else {
                Err(next)
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reads_leave_the_interval_before_an_announced_action_alone() {
        let gate = Arc::new(Gate::default());
        let start = Instant::now();
        let half = Duration::from_millis(500);
        let limiter = Arc::new(std::sync::Mutex::new(every(start, half)));
        let reads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let reader = {
            let (gate, limiter, reads) = (gate.clone(), limiter.clone(), reads.clone());
            tokio::spawn(async move {
                loop {
                    gate.admit(Lane::Normal, half, || (limiter.lock().unwrap())())
                        .await;
                    reads.lock().unwrap().push(Instant::now() - start);
                }
            })
        };
        let due = start + Duration::from_millis(1200);
        let notice = gate.announce(due);
        sleep_until(due).await;
        gate.admit(Lane::Urgent, half, || (limiter.lock().unwrap())())
            .await;
        assert_eq!(Instant::now(), due, "the permit was kept for the action");
        drop(notice);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        reader.abort();
        let ms = |ms| Duration::from_millis(ms);
        assert_eq!(
            reads.lock().unwrap()[..],
            [ms(0), ms(500), ms(1700), ms(2200)],
            "no read from 0.7 s (the interval before the action) until its permit's interval is over"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_announcement_that_outlives_its_action_holds_reads_for_one_more_interval_only() {
        let gate = Gate::default();
        let start = Instant::now();
        let half = Duration::from_millis(500);
        let _forgotten = gate.announce(start + Duration::from_secs(1));
        gate.admit(Lane::Normal, half, || Ok(())).await;
        assert_eq!(Instant::now(), start, "before the hold");
        tokio::time::sleep(Duration::from_millis(600)).await;
        gate.admit(Lane::Normal, half, || Ok(())).await;
        assert_eq!(Instant::now() - start, Duration::from_millis(1500));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_leaves_the_queue() {
        let gate = Gate::default();
        let blocked = gate.admit(Lane::Normal, Duration::from_secs(1), || {
            Err(Instant::now() + Duration::from_secs(60))
        });
        let _ = tokio::time::timeout(Duration::from_secs(1), blocked).await;
        assert!(gate.lock().waiting.is_empty());
        gate.admit(Lane::Normal, Duration::from_secs(1), || Ok(()))
            .await;
    }
}
