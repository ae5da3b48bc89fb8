//! Each page's rows, delivered to their own monitors only.
//!
//! A page holds 25 of a thousand rows. Published on one fleet-wide channel, every page woke
//! every monitor to look for its row and find none 39 times in 40: about a thousand wake-ups a
//! second for a fleet of a thousand, a third of the process's CPU (issue 16's benchmark). Here a
//! page wakes the monitors of its own rows and no other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::api::Instance;

/// One monitor's row, from a page of the sweep under way.
#[derive(Debug)]
pub struct PageRow {
    /// The [`super::Sweep::number`] of the sweep its page belongs to.
    pub sweep: u64,
    pub row: Instance,
    /// [`super::Sweep::running`] of the last finished sweep (a page alone cannot count the fleet).
    pub running: usize,
}

/// `None` until a page has brought the row.
pub type RowSlot = Option<Arc<PageRow>>;

/// The watched ids and where their rows go. Cloned handles share one registry.
#[derive(Debug, Clone, Default)]
pub struct PageRows {
    by_id: Arc<Mutex<HashMap<u64, watch::Sender<RowSlot>>>>,
}

impl PageRows {
    /// The rows of `id` from now on, and the last one already delivered (as news), if any.
    pub fn subscribe(&self, id: u64) -> watch::Receiver<RowSlot> {
        let mut by_id = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        let mut receiver = by_id
            .entry(id)
            .or_insert_with(|| watch::Sender::new(None))
            .subscribe();
        // A monitor started mid-sweep (a reload, a restart of its task) hears the row its
        // page already brought; the monitor itself skips a sweep it has seen.
        if receiver.borrow().is_some() {
            receiver.mark_changed();
        }
        receiver
    }

    /// Delivers one page's rows to the monitors that watch them; rows nobody watches are not
    /// even copied.
    pub fn publish(&self, sweep: u64, running: usize, rows: &[Instance]) {
        let by_id = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        for row in rows {
            let Some(outlet) = row.id.and_then(|id| by_id.get(&id)) else {
                continue;
            };
            if outlet.is_closed() {
                continue;
            }
            outlet.send_replace(Some(Arc::new(PageRow {
                sweep,
                row: row.clone(),
                running,
            })));
        }
    }

    /// Forgets the ids whose monitors have all gone (an instance removed from the fleet).
    pub fn prune(&self) {
        let mut by_id = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        by_id.retain(|_, outlet| !outlet.is_closed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u64) -> Instance {
        Instance {
            id: Some(id),
            ..Instance::default()
        }
    }

    #[test]
    fn a_page_wakes_only_the_monitors_of_its_rows() {
        let rows = PageRows::default();
        let mut on_page = rows.subscribe(1);
        let elsewhere = rows.subscribe(2);
        rows.publish(7, 3, &[row(1), row(5)]);
        assert!(on_page.has_changed().unwrap());
        assert!(
            !elsewhere.has_changed().unwrap(),
            "row 2 was not on the page"
        );
        let delivered = on_page
            .borrow_and_update()
            .clone()
            .expect("row 1 delivered");
        assert_eq!(
            (delivered.sweep, delivered.row.id, delivered.running),
            (7, Some(1), 3)
        );
        rows.publish(7, 3, &[row(2)]);
        assert!(!on_page.has_changed().unwrap());
        assert!(elsewhere.has_changed().unwrap());
    }

    #[test]
    fn a_late_subscriber_hears_the_row_already_delivered_and_an_early_one_waits() {
        let rows = PageRows::default();
        let early = rows.subscribe(1);
        assert!(!early.has_changed().unwrap(), "nothing delivered yet");
        rows.publish(1, 0, &[row(1)]);
        let late = rows.subscribe(1);
        assert!(late.has_changed().unwrap());
        assert!(early.has_changed().unwrap());
    }

    #[test]
    fn ids_whose_monitors_left_are_pruned_and_not_copied_to() {
        let rows = PageRows::default();
        let gone = rows.subscribe(1);
        let _kept = rows.subscribe(2);
        drop(gone);
        rows.publish(1, 0, &[row(1), row(2)]);
        rows.prune();
        let by_id = rows.by_id.lock().unwrap();
        assert_eq!(by_id.keys().copied().collect::<Vec<_>>(), vec![2]);
    }
}
