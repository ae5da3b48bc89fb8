//! What the fleet costs: totals over instances (how many in each status, the $/hr burning now,
//! the dollars spent so far) for `status`, the Ctrl+C summary and `[budget]`, and the budget's
//! alerts, once per episode. Pure: the callers bring the rows and the time.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::config::settings::Budget;
use crate::report::event::{BudgetKind, EventKind};
use crate::status::Status;

/// Dollars spent since `started_at` at `now` (seconds since the epoch) at the price `dph_total`:
/// an estimate, since the API has no billing history (stopped periods are counted at the
/// running price). The one formula behind the `max_cost` guard and every spend vastfleet shows.
/// Unbounded: a start ages ago or a huge price comes out huge or infinite, which is over any
/// limit; [`estimate_spend`] is the figure to show.
pub fn spend_unbounded(dph_total: Option<f64>, started_at: Option<f64>, now: f64) -> Option<f64> {
    let hours = (now - started_at?).max(0.0) / 3600.0;
    Some(dph_total? * hours)
}

/// [`spend_unbounded`] where it is a number a bill could show.
pub fn estimate_spend(dph_total: Option<f64>, started_at: Option<f64>, now: f64) -> Option<f64> {
    spend_unbounded(dph_total, started_at, now).filter(|spend| spend.is_finite())
}

/// Fleet totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub instances: usize,
    /// Instances per status name, in name order.
    pub by_status: BTreeMap<String, usize>,
    /// $/hr of the instances that hold their GPUs (every status but stopped and gone).
    pub dph_now: f64,
    /// The sum of the instances' spend estimates.
    pub spent_usd: f64,
}

/// Whether an instance in this status is billed its `dph_total`: a stopped one bills only its
/// disk, a gone one nothing; an exited container still holds its GPU.
pub fn burns(status: &Status) -> bool {
    !matches!(status, Status::Stopped | Status::Gone)
}

impl Totals {
    pub fn add(&mut self, status: &Status, dph_total: Option<f64>, spend_usd: Option<f64>) {
        self.instances += 1;
        *self.by_status.entry(status.to_string()).or_default() += 1;
        if burns(status) {
            self.dph_now += dph_total
                .filter(|d| d.is_finite() && *d > 0.0)
                .unwrap_or(0.0);
        }
        self.spent_usd += spend_usd
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(0.0);
    }

    /// "3 instances (2 running, 1 stopped) · $1.20/hr now · about $45.67 spent".
    pub fn line(&self) -> String {
        let statuses: Vec<String> = self
            .by_status
            .iter()
            .map(|(status, n)| format!("{n} {status}"))
            .collect();
        let noun = if self.instances == 1 {
            "instance"
        } else {
            "instances"
        };
        let mut text = format!("{} {noun}", self.instances);
        if !statuses.is_empty() {
            text.push_str(&format!(" ({})", statuses.join(", ")));
        }
        format!(
            "{text} · ${:.2}/hr now · about ${:.2} spent",
            self.dph_now, self.spent_usd
        )
    }

    pub fn json(&self) -> Value {
        json!({
            "instances": self.instances,
            "by_status": self.by_status,
            "dph_now": cents(self.dph_now),
            "spent_usd": cents(self.spent_usd),
        })
    }
}

fn cents(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0
}

/// The `[budget]` limits the fleet is over: each alerts once when the fleet goes over it and re-arms
/// when the fleet is back under.
#[derive(Debug, Clone, Default)]
pub struct BudgetWatch {
    over: BTreeSet<BudgetKind>,
}

impl BudgetWatch {
    /// Resumes the episodes an earlier run had under way (from the state file), so they do not
    /// alert again.
    pub fn resume(over: BTreeSet<BudgetKind>) -> Self {
        BudgetWatch { over }
    }

    /// The limits the fleet is over, as last checked.
    pub fn over(&self) -> &BTreeSet<BudgetKind> {
        &self.over
    }

    /// The alerts these totals raise.
    pub fn check(&mut self, budget: &Budget, totals: &Totals) -> Vec<EventKind> {
        let limits = [
            (BudgetKind::MaxDph, budget.max_dph, totals.dph_now),
            (BudgetKind::MaxSpend, budget.max_spend, totals.spent_usd),
        ];
        let mut alerts = Vec::new();
        for (limit, max, value) in limits {
            match max {
                Some(max) if value > max => {
                    if self.over.insert(limit) {
                        alerts.push(EventKind::Budget { limit, value, max });
                    }
                }
                _ => {
                    self.over.remove(&limit);
                }
            }
        }
        alerts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_count_statuses_and_only_burning_instances_per_hour() {
        let mut totals = Totals::default();
        totals.add(&Status::Running, Some(1.5), Some(10.0));
        totals.add(&Status::Exited, Some(0.5), Some(2.0));
        totals.add(&Status::Stopped, Some(2.0), Some(30.0));
        totals.add(&Status::Gone, None, None);
        totals.add(&Status::Running, Some(f64::NAN), Some(f64::INFINITY));
        assert_eq!(totals.instances, 5);
        assert_eq!(totals.dph_now, 2.0);
        assert_eq!(totals.spent_usd, 42.0);
        assert_eq!(
            totals.line(),
            "5 instances (1 exited, 1 gone, 2 running, 1 stopped) · $2.00/hr now · about $42.00 spent"
        );
        assert_eq!(
            totals.json(),
            json!({
                "instances": 5,
                "by_status": { "exited": 1, "gone": 1, "running": 2, "stopped": 1 },
                "dph_now": 2.0,
                "spent_usd": 42.0,
            })
        );
    }

    #[test]
    fn budget_alerts_once_per_episode() {
        let budget = Budget {
            max_dph: Some(2.0),
            max_spend: Some(100.0),
        };
        let mut watch = BudgetWatch::default();
        let totals = |dph: f64, spent: f64| Totals {
            dph_now: dph,
            spent_usd: spent,
            ..Totals::default()
        };
        assert!(
            watch.check(&budget, &totals(2.0, 50.0)).is_empty(),
            "at the limit is fine"
        );
        assert_eq!(
            watch.check(&budget, &totals(2.5, 50.0)),
            [EventKind::Budget {
                limit: BudgetKind::MaxDph,
                value: 2.5,
                max: 2.0
            }]
        );
        assert!(
            watch.check(&budget, &totals(3.0, 50.0)).is_empty(),
            "same episode"
        );
        assert!(watch.check(&budget, &totals(1.0, 50.0)).is_empty());
        assert_eq!(
            watch.check(&budget, &totals(2.1, 120.0)).len(),
            2,
            "re-armed"
        );
        assert!(watch
            .check(&Budget::default(), &totals(1e9, 1e9))
            .is_empty());
    }
}
