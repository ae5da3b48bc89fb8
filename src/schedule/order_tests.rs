use std::collections::BTreeMap;

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A backlogged fleet: every instance rejoins the queue as soon as it was let through, as the
/// monitors of a large fleet do. Records, per grant, who went, why, and how long (in turns) it
/// waited against its round-robin wait.
struct Fleet {
    queue: Scheduler,
    next_ticket: Ticket,
    joined: BTreeMap<Ticket, (u64, u64)>,
    pace: BTreeMap<u64, Pace>,
    log: Vec<(u64, Reason)>,
    worst_ratio: f64,
}

impl Fleet {
    fn new(order: Order, ids: impl IntoIterator<Item = u64>) -> Fleet {
        let mut fleet = Fleet {
            queue: Scheduler::new(order),
            next_ticket: 0,
            joined: BTreeMap::new(),
            pace: BTreeMap::new(),
            log: Vec::new(),
            worst_ratio: 0.0,
        };
        for id in ids {
            fleet.join(id);
        }
        fleet
    }

    fn join(&mut self, id: u64) {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        // The round-robin share it is owed: its place, or one turn of everyone sharing.
        let fair = (self.queue.len() as u64).max(self.queue.share.saturating_sub(1));
        self.joined.insert(ticket, (self.queue.turns, fair));
        let pace = self.pace.get(&id).copied().unwrap_or_default();
        self.queue.join(ticket, id, pace);
    }

    fn step(&mut self) -> Grant {
        let grant = self.queue.pick().expect("a waiter");
        let (joined_at, ahead) = self.joined.remove(&grant.ticket).unwrap();
        let waited = self.queue.turns - joined_at;
        let ratio = waited as f64 / (ahead + 1) as f64;
        self.worst_ratio = self.worst_ratio.max(ratio);
        self.log.push((grant.id, grant.reason));
        self.join(grant.id);
        grant
    }

    fn ids(&self, from: usize) -> Vec<u64> {
        self.log[from..].iter().map(|(id, _)| *id).collect()
    }

    fn count(&self, from: usize, id: u64) -> usize {
        self.log[from..].iter().filter(|(i, _)| *i == id).count()
    }
}

#[test]
fn without_signals_the_queue_is_round_robin_in_both_orders() {
    for order in [Order::Signals, Order::RoundRobin] {
        let mut fleet = Fleet::new(order, 1..=5);
        for _ in 0..15 {
            fleet.step();
        }
        assert_eq!(
            fleet.ids(0),
            [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5],
            "{order:?}"
        );
        assert!(fleet.log.iter().all(|(_, r)| *r == Reason::Turn));
        assert!((fleet.worst_ratio - 1.0).abs() < 1e-9);
    }
}

#[test]
fn a_signal_moves_an_instance_to_the_front_once_then_it_goes_back_to_its_place() {
    let mut fleet = Fleet::new(Order::Signals, 1..=10);
    fleet.step(); // 1 goes; 2..10, 1 wait
    fleet.queue.signal(8, SignalKind::GpuIdle, secs(100));
    let grant = fleet.step();
    assert_eq!(grant.id, 8);
    assert_eq!(grant.reason, Reason::Signal(SignalKind::GpuIdle));
    assert_eq!(grant.answers, Some((SignalKind::GpuIdle, secs(100))));
    // The same episode flaps: no second early fetch.
    fleet.queue.signal(8, SignalKind::GpuIdle, secs(101));
    fleet.queue.signal(8, SignalKind::LeftRunning, secs(102));
    for _ in 0..9 {
        fleet.step();
    }
    // Round robin resumed where it was; 8 went again only in its own (new) place.
    assert_eq!(fleet.ids(2), [2, 3, 4, 5, 6, 7, 9, 10, 1]);
    let next = fleet.step();
    assert_eq!(
        (next.id, next.reason, next.answers),
        (8, Reason::Turn, None)
    );
    // After that ordinary turn the episode is over: a new signal moves it again.
    fleet.queue.signal(8, SignalKind::CpuCollapse, secs(300));
    let again = fleet.step();
    assert_eq!(
        (again.id, again.reason),
        (8, Reason::Signal(SignalKind::CpuCollapse))
    );
}

#[test]
fn the_heaviest_signal_goes_first_then_the_oldest() {
    let mut fleet = Fleet::new(Order::Signals, 1..=10);
    // One round first: then everyone waits in a full queue, with room to be overtaken.
    for _ in 0..10 {
        fleet.step();
    }
    fleet.queue.signal(3, SignalKind::DiskStalled, secs(1));
    fleet.queue.signal(9, SignalKind::LeftRunning, secs(3));
    fleet.queue.signal(6, SignalKind::GpuIdle, secs(2));
    fleet.queue.signal(4, SignalKind::GpuIdle, secs(1));
    let order: Vec<u64> = (0..4).map(|_| fleet.step().id).collect();
    assert_eq!(order, [9, 4, 6, 3]);
    // A heavier signal upgrades a pending one but keeps its time.
    let mut queue = Scheduler::new(Order::Signals);
    queue.join(0, 1, Pace::Normal);
    queue.signal(1, SignalKind::DiskStalled, secs(5));
    queue.signal(1, SignalKind::GpuIdle, secs(9));
    let grant = queue.pick().unwrap();
    assert_eq!(grant.answers, Some((SignalKind::GpuIdle, secs(5))));
}

#[test]
fn round_robin_order_ignores_signals() {
    let mut fleet = Fleet::new(Order::RoundRobin, 1..=4);
    fleet.queue.signal(4, SignalKind::LeftRunning, secs(1));
    let order: Vec<u64> = (0..4).map(|_| fleet.step().id).collect();
    assert_eq!(order, [1, 2, 3, 4]);
    assert!(fleet.log.iter().all(|(_, r)| *r == Reason::Turn));
}

#[test]
fn the_fairness_bound_holds_under_adversarial_signals() {
    // Every turn, every instance but one signals, with ever heavier kinds and flapping: the
    // one that never signals (and every other) still goes within 1.5x its round-robin wait.
    let n = 100;
    let mut fleet = Fleet::new(Order::Signals, 0..n);
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    for turn in 0..5_000u64 {
        for id in 1..n {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let kind = SignalKind::ALL[(rng % 5) as usize];
            fleet.queue.signal(id, kind, secs(turn));
        }
        fleet.step();
    }
    assert!(
        fleet.worst_ratio <= FAIRNESS_BOUND + 1e-9,
        "a waiter waited {:.3}x its round-robin wait",
        fleet.worst_ratio
    );
    assert!(fleet.log.iter().any(|(_, r)| *r == Reason::Deadline));
    let early = fleet
        .log
        .iter()
        .filter(|(_, r)| matches!(r, Reason::Signal(_)))
        .count();
    assert!(
        early > 500,
        "signals still move instances forward ({early})"
    );
    // One early fetch per episode: never two in a row for one instance without a plain turn.
    let mut spent = std::collections::HashSet::new();
    for (id, reason) in &fleet.log {
        match reason {
            Reason::Signal(_) => assert!(spent.insert(*id), "instance {id} jumped twice"),
            Reason::Turn => {
                spent.remove(id);
            }
            Reason::Deadline => {}
        }
    }
    let quiet = fleet.count(0, 0) as f64;
    let fair = 5_000.0 / n as f64;
    assert!(
        quiet >= fair / FAIRNESS_BOUND - 1.0,
        "the silent one went {quiet} times"
    );
}

#[test]
fn the_bound_holds_for_newcomers_and_leavers_too() {
    let mut fleet = Fleet::new(Order::Signals, 0..50);
    for turn in 0..5_000u64 {
        if turn % 7 == 0 {
            fleet
                .queue
                .signal(turn % 50, SignalKind::GpuIdle, secs(turn));
        }
        if turn % 11 == 0 {
            // A monitor cancelled its fetch (the instance left), and a new one joins.
            let (&ticket, _) = fleet.joined.iter().nth((turn % 13) as usize).unwrap();
            fleet.queue.leave(ticket);
            fleet.joined.remove(&ticket);
            fleet.join(1000 + turn);
        }
        fleet.step();
    }
    assert!(
        fleet.worst_ratio <= FAIRNESS_BOUND + 1e-9,
        "{}",
        fleet.worst_ratio
    );
}

#[test]
fn quiet_logs_are_read_less_often_and_fast_ones_more_within_the_bound() {
    let mut fleet = Fleet::new(Order::Signals, []);
    for id in 0..30 {
        let pace = match id % 3 {
            0 => Pace::Quiet,
            1 => Pace::Normal,
            _ => Pace::Fast,
        };
        fleet.pace.insert(id, pace);
        fleet.join(id);
    }
    for _ in 0..12_000 {
        fleet.step();
    }
    let per = |class: u64| -> f64 {
        (0..30)
            .filter(|id| id % 3 == class)
            .map(|id| fleet.count(3000, id))
            .sum::<usize>() as f64
            / 10.0
    };
    let (quiet, normal, fast) = (per(0), per(1), per(2));
    assert!(quiet < normal && normal < fast, "{quiet} {normal} {fast}");
    // The quiet ones still get at least 1/1.5 of a plain round-robin share.
    let fair = 9_000.0 / 30.0;
    assert!(
        quiet >= fair / FAIRNESS_BOUND * 0.98,
        "{quiet} vs fair {fair}"
    );
    assert!(
        fleet.worst_ratio <= FAIRNESS_BOUND + 1e-9,
        "{}",
        fleet.worst_ratio
    );
}

#[test]
fn a_waiter_that_leaves_is_never_picked_and_forget_drops_the_episode() {
    let mut queue = Scheduler::new(Order::Signals);
    queue.join(1, 10, Pace::Normal);
    queue.join(2, 20, Pace::Normal);
    queue.signal(10, SignalKind::GpuIdle, secs(1));
    queue.leave(1);
    queue.forget(10);
    assert_eq!(queue.pick().map(|g| g.id), Some(20));
    assert!(queue.pick().is_none());
    assert!(queue.is_empty());
    queue.join(3, 10, Pace::Normal);
    assert_eq!(queue.pick().map(|g| g.answers), Some(None));
}

#[test]
fn a_first_round_leaves_room_for_every_job_that_ends_in_it() {
    // A thousand monitors join at once (the first sweep), and from turn 60 on a job ends every
    // other turn: each signalled instance is read at once and then stops (leaves the rotation).
    // Bounded by each one's place in that first queue, the head would have had room for one
    // early fetch in three turns; bounded by the fair share, every signal goes within a turn
    // or two, and still nobody waits past 1.5x the share.
    let n = 1000;
    let mut fleet = Fleet::new(Order::Signals, []);
    fleet.queue.set_share(n);
    for id in 0..n as u64 {
        fleet.join(id);
    }
    let mut stopped = std::collections::HashSet::new();
    let mut signalled_at = BTreeMap::new();
    let mut latencies = Vec::new();
    let mut next_ending = 7u64;
    for turn in 0..1500u64 {
        if turn >= 60 && turn % 2 == 0 && next_ending < n as u64 {
            fleet
                .queue
                .signal(next_ending, SignalKind::GpuIdle, secs(turn));
            signalled_at.insert(next_ending, turn);
            next_ending += 3;
        }
        let grant = fleet.queue.pick().expect("a waiter");
        let (joined_at, fair) = fleet.joined.remove(&grant.ticket).unwrap();
        let waited = fleet.queue.turns - joined_at;
        fleet.worst_ratio = fleet.worst_ratio.max(waited as f64 / (fair + 1) as f64);
        if let Some(at) = signalled_at.remove(&grant.id) {
            latencies.push(turn - at);
            stopped.insert(grant.id);
            fleet.queue.set_share(n - stopped.len());
        } else {
            fleet.join(grant.id);
        }
    }
    assert!(
        latencies.len() > 300,
        "{} signals answered",
        latencies.len()
    );
    assert!(signalled_at.is_empty(), "unanswered: {signalled_at:?}");
    let worst = latencies.iter().max().copied().unwrap_or(0);
    assert!(worst <= 2, "a signal waited {worst} turns");
    assert!(
        fleet.worst_ratio <= FAIRNESS_BOUND + 1e-9,
        "{}",
        fleet.worst_ratio
    );
}

#[test]
fn a_share_counted_after_the_monitors_joined_still_frees_the_first_round() {
    let mut queue = Scheduler::new(Order::Signals);
    for ticket in 0..10 {
        queue.join(ticket, ticket, Pace::Normal);
    }
    queue.signal(9, SignalKind::GpuIdle, secs(1));
    let mut tight = queue.clone();
    let blocked = tight.pick().unwrap();
    assert_eq!(
        (blocked.id, blocked.reason),
        (0, Reason::Deadline),
        "by their places alone the head is due at once"
    );
    queue.set_share(10);
    let freed = queue.pick().unwrap();
    assert_eq!(
        (freed.id, freed.reason),
        (9, Reason::Signal(SignalKind::GpuIdle))
    );
    // A smaller share later never pulls a deadline in: the head still has its room.
    queue.set_share(2);
    queue.signal(8, SignalKind::GpuIdle, secs(2));
    assert_eq!(queue.pick().unwrap().id, 8);
}
