//! Paused-clock tests of the queue in front of a lane that lets one call through per second,
//! as the throttle's `request_logs` lane does: monitors that rejoin as soon as their fetch went
//! (a backlogged fleet), signals, pace, and cancellation.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::time::{sleep, sleep_until};

use super::*;
use crate::schedule::FAIRNESS_BOUND;

const GAP: Duration = Duration::from_secs(1);

/// The stand-in for the throttle's lane: one call per [`GAP`], in the order callers arrive.
#[derive(Default)]
struct Lane {
    last: tokio::sync::Mutex<Option<Instant>>,
}

impl Lane {
    async fn pass(&self) {
        // A real call is never instant: the others get to join meanwhile.
        tokio::task::yield_now().await;
        let mut last = self.last.lock().await;
        if let Some(at) = *last {
            sleep_until(at + GAP).await;
        }
        *last = Some(Instant::now());
    }
}

type Fetches = Arc<Mutex<BTreeMap<u64, Vec<Instant>>>>;

/// `n` monitors fetching forever; returns when each fetch passed the lane, per id.
fn fleet(queue: &LogQueue, lane: &Arc<Lane>, ids: impl IntoIterator<Item = u64>) -> Fetches {
    let fetches: Fetches = Arc::default();
    for id in ids {
        let (queue, lane, fetches) = (queue.clone(), Arc::clone(lane), Arc::clone(&fetches));
        tokio::spawn(async move {
            loop {
                let turn = queue.turn(id).await;
                lane.pass().await;
                turn.passed();
                fetches
                    .lock()
                    .unwrap()
                    .entry(id)
                    .or_default()
                    .push(Instant::now());
            }
        });
    }
    fetches
}

fn worst_gap(times: &[Instant], start: Instant, end: Instant) -> Duration {
    std::iter::once(start)
        .chain(times.iter().copied())
        .chain(std::iter::once(end))
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn a_signal_moves_an_instance_to_the_next_turn() {
    let queue = LogQueue::new(Order::Signals);
    let lane = Arc::new(Lane::default());
    let fetches = fleet(&queue, &lane, 1..=60);
    sleep(Duration::from_secs(100)).await;
    let signalled_at = Instant::now();
    let before = fetches.lock().unwrap()[&30].len();
    queue.signal(30, SignalKind::GpuIdle);
    sleep(Duration::from_secs(3)).await;
    let after = fetches.lock().unwrap()[&30].clone();
    assert_eq!(after.len(), before + 1, "one early fetch");
    let waited = *after.last().unwrap() - signalled_at;
    // The one already chosen goes first, then the signalled one: within two call gaps.
    assert!(waited <= 2 * GAP, "waited {waited:?}");
    let stats = queue.stats();
    assert_eq!(stats.early_fetches.get(&SignalKind::GpuIdle), Some(&1));
    assert_eq!(stats.answered, 1);
    assert_eq!(stats.latency_max, waited);
    // Then it is back in the round: no second early fetch, the next one a whole turn later.
    queue.signal(30, SignalKind::GpuIdle);
    sleep(Duration::from_secs(30)).await;
    assert_eq!(fetches.lock().unwrap()[&30].len(), before + 1);
    sleep(Duration::from_secs(60)).await;
    assert_eq!(fetches.lock().unwrap()[&30].len(), before + 2);
}

#[tokio::test(start_paused = true)]
async fn the_fairness_bound_holds_under_adversarial_signals() {
    let n = 60u64;
    let queue = LogQueue::new(Order::Signals);
    let lane = Arc::new(Lane::default());
    let start = Instant::now();
    let fetches = fleet(&queue, &lane, 0..n);
    // An adversary: every 250 ms (four times a call gap), signals for everyone but instance 0, heaviest kinds first.
    let adversary = {
        let queue = queue.clone();
        tokio::spawn(async move {
            loop {
                for id in 1..n {
                    queue.signal(id, SignalKind::ALL[(id % 5) as usize]);
                }
                sleep(Duration::from_millis(250)).await;
            }
        })
    };
    sleep(Duration::from_secs(1200)).await;
    adversary.abort();
    let end = Instant::now();
    let fair = GAP * n as u32;
    let fetches = fetches.lock().unwrap().clone();
    for id in 0..n {
        let worst = worst_gap(&fetches[&id], start, end);
        assert!(
            worst.as_secs_f64() <= FAIRNESS_BOUND * fair.as_secs_f64(),
            "instance {id} waited {worst:?}, fair share {fair:?}"
        );
    }
    assert!(queue.stats().early_total() > 100);
}

#[tokio::test(start_paused = true)]
async fn quiet_instances_are_read_less_often_and_fast_ones_more() {
    let queue = LogQueue::new(Order::Signals);
    for id in 0..40u64 {
        match id % 4 {
            0 => queue.set_pace(id, Pace::Quiet),
            1 => queue.set_pace(id, Pace::Fast),
            _ => {}
        }
    }
    let lane = Arc::new(Lane::default());
    let start = Instant::now();
    let fetches = fleet(&queue, &lane, 0..40);
    sleep(Duration::from_secs(4000)).await;
    let end = Instant::now();
    let fetches = fetches.lock().unwrap().clone();
    let mean = |class: u64| {
        let ids = (0..40).filter(|id| id % 4 == class);
        ids.map(|id| fetches[&id].len()).sum::<usize>() as f64 / 10.0
    };
    let (quiet, fast, normal) = (mean(0), mean(1), mean(2));
    assert!(
        quiet < normal && normal < fast,
        "quiet {quiet}, normal {normal}, fast {fast}"
    );
    // Every one of them, quiet ones included, within 1.5x a plain round-robin turn.
    let fair = GAP * 40;
    for (id, times) in &fetches {
        let worst = worst_gap(times, start, end);
        assert!(
            worst.as_secs_f64() <= FAIRNESS_BOUND * fair.as_secs_f64(),
            "{id}: {worst:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn round_robin_order_is_first_come_first_served_whatever_the_signals() {
    let queue = LogQueue::new(Order::RoundRobin);
    let lane = Arc::new(Lane::default());
    let fetches = fleet(&queue, &lane, 1..=10);
    sleep(Duration::from_millis(4500)).await;
    queue.signal(9, SignalKind::LeftRunning);
    sleep(Duration::from_secs(30)).await;
    let fetches = fetches.lock().unwrap().clone();
    let mut order: Vec<(Instant, u64)> = fetches
        .iter()
        .flat_map(|(id, times)| times.iter().map(move |t| (*t, *id)))
        .collect();
    order.sort();
    let ids: Vec<u64> = order.iter().take(20).map(|(_, id)| *id).collect();
    assert_eq!(
        ids,
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    );
    assert_eq!(queue.stats().early_total(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_or_a_chosen_one_that_gives_up_lets_the_next_one_go() {
    let queue = LogQueue::new(Order::Signals);
    let first = queue.turn(1).await;
    // 2 waits behind 1; 3 behind 2.
    let second = tokio::time::timeout(Duration::from_secs(1), queue.turn(2)).await;
    assert!(second.is_err(), "2 waits while 1 holds the turn");
    let third = {
        let queue = queue.clone();
        tokio::spawn(async move {
            let turn = queue.turn(3).await;
            turn.passed();
        })
    };
    sleep(Duration::from_millis(10)).await;
    // 1 was chosen but gives up before the lane let it through: 3 goes (2 left already).
    drop(first);
    tokio::time::timeout(Duration::from_secs(1), third)
        .await
        .expect("3 got its turn")
        .unwrap();
    let fourth = tokio::time::timeout(Duration::from_secs(1), queue.turn(4)).await;
    assert!(fourth.is_ok(), "the queue is free again");
}

#[tokio::test(start_paused = true)]
async fn a_signal_for_the_one_already_chosen_is_answered_by_its_fetch_once() {
    let queue = LogQueue::new(Order::Signals);
    let chosen = queue.turn(7).await;
    let behind = {
        let queue = queue.clone();
        tokio::spawn(async move {
            let turn = queue.turn(8).await;
            turn.passed();
        })
    };
    tokio::task::yield_now().await;
    sleep(Duration::from_secs(2)).await;
    queue.signal(7, SignalKind::GpuIdle);
    chosen.passed();
    behind.await.unwrap();
    let stats = queue.stats();
    assert_eq!(stats.early_fetches.get(&SignalKind::GpuIdle), Some(&1));
    assert_eq!(stats.answered, 1);
    assert_eq!(
        stats.latency_max,
        Duration::ZERO,
        "answered by the fetch that went next"
    );

    // The episode is spent: a further signal brings no second early fetch.
    queue.signal(7, SignalKind::LeftRunning);
    let first = queue.turn(9).await;
    let queue2 = queue.clone();
    let seven = tokio::spawn(async move {
        let turn = queue2.turn(7).await;
        turn.passed();
    });
    tokio::task::yield_now().await;
    first.passed();
    seven.await.unwrap();
    let stats = queue.stats();
    assert_eq!(stats.early_total(), 1, "{stats:?}");
    assert_eq!(stats.signals, 2);
}
