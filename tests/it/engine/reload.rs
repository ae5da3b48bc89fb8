//! The monitor-task shell under live reload: a removed instance stops polling at once (its
//! queued call leaves the throttle's queue), and a changed policy (tail, interval) applies
//! from the next poll.

use tokio::time::Instant;
use vastfleet::report::event::EventKind;

use super::{fleet_file, secs, throttle, Fleet};
use crate::fake::{Call, FakeApi};

const IDS: [u64; 3] = [36_000_001, 36_000_002, 36_000_003];

fn logs_of(calls: &[Call], id: u64) -> Vec<&Call> {
    calls
        .iter()
        .filter(|c| c.endpoint == "logs" && c.id == Some(id))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_removed_instance_stops_polling_at_once() {
    // A binding quota, so the removed monitor is likely waiting in the queue at the reload.
    let api = FakeApi::new(throttle(2.0, 4));
    let ids: Vec<u64> = (IDS[0]..IDS[0] + 20).collect();
    for &id in &ids {
        api.add_chatty(id, secs(2.0));
    }
    let fleet = Fleet::start(api, &fleet_file("interval = \"5s\"", ids.clone()));
    fleet.run_for(secs(61.5)).await;
    let removed = ids[7];
    let reload_at = Instant::now();
    fleet.reload(&fleet_file(
        "interval = \"5s\"",
        ids.iter().copied().filter(|id| *id != removed),
    ));
    fleet.run_for(secs(120.0)).await;
    let calls = fleet.api.calls();

    let before = logs_of(&calls, removed);
    assert!(!before.is_empty());
    assert!(
        before.iter().all(|c| c.at < reload_at),
        "polled after its removal"
    );
    for id in ids.iter().filter(|id| **id != removed) {
        assert!(logs_of(&calls, *id)
            .iter()
            .any(|c| c.at > reload_at + secs(60.0)));
    }
    let left = fleet.picked(|k| match k {
        EventKind::Left { source } => Some(source.id),
        _ => None,
    });
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].1, removed);
    assert_eq!(left[0].0, reload_at - fleet.origin);
    let reloads = fleet.picked(|k| match k {
        EventKind::Reload { removed, added, .. } => Some((removed.clone(), added.clone())),
        _ => None,
    });
    assert_eq!(reloads.len(), 1);
    assert_eq!(reloads[0].1, (vec![removed], vec![]));
    fleet.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_changed_tail_and_interval_apply_from_the_next_poll() {
    let api = FakeApi::new(throttle(2.0, 4));
    for id in IDS {
        api.add_chatty(id, secs(2.0));
    }
    let before = "interval = \"5s\"\ntail = 200";
    let fleet = Fleet::start(api, &fleet_file(before, IDS));
    fleet.run_for(secs(40.2)).await;
    let reload_at = Instant::now();
    fleet.reload(&fleet_file("interval = \"20s\"\ntail = 50", IDS));
    fleet.run_for(secs(200.0)).await;
    let calls = fleet.api.calls();

    for id in IDS {
        let polls = logs_of(&calls, id);
        let (old, new): (Vec<&Call>, Vec<&Call>) =
            polls.into_iter().partition(|c| c.at < reload_at);
        assert!(old.iter().all(|c| c.arg == 200));
        let last_old = old.last().unwrap().at;
        // The next poll keeps the schedule set at the last one, with the new tail…
        let first_new = new[0];
        assert!(
            first_new.at - last_old <= secs(5.0 + 1.0),
            "instance {id}: first poll after the reload came {:?} after the last one",
            first_new.at - last_old
        );
        assert!(new.iter().all(|c| c.arg == 50), "instance {id}: {new:?}");
        // …and sets the next one by the new interval (plus at most the throttle's spacing).
        for pair in new.windows(2) {
            let gap = pair[1].at - pair[0].at;
            assert!(
                gap >= secs(20.0) && gap <= secs(21.0),
                "instance {id}: polls {gap:?} apart"
            );
        }
        assert!(new.len() >= 9);
    }
    let changed = fleet.picked(|k| match k {
        EventKind::Reload { changed, .. } => Some(changed.clone()),
        _ => None,
    });
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].1, IDS.to_vec());
    fleet.stop().await;
}
