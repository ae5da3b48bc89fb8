//! `GET /v1/fleet`'s bytes, cheaply. A connected `top` asks every second; re-encoding 1,000
//! instances each time was most of what it cost the watcher (issue 15: "no measurable CPU").
//! Between two asks only the instances whose stream moved, or whose sweep row changed, have
//! anything new, so each instance's JSON is kept until then, stamped with the ask that made
//! it: a reader that passes back the `seq` of its last answer (`?since=`) is sent only the
//! instances stamped later, and puts the others' spend forward itself
//! ([`super::snapshot::FleetSnapshot::merge`]). The spend estimate grows with the clock, so it
//! is the one field written fresh, in front of each kept object sent.

use std::fmt::Write as _;
use std::sync::{Arc, Weak};

use super::snapshot::{FleetSnapshot, InstanceView};
use crate::api::Instance;
use crate::commands::ssh::SshTarget;
use crate::feed::Sweep;

/// What an instance's view takes from its sweep row, apart from the spend.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RowFacts {
    pub gpu: Option<String>,
    pub dph_total: Option<f64>,
    pub started_at: Option<f64>,
    pub ssh: Option<SshTarget>,
}

impl RowFacts {
    pub fn of(row: Option<&Instance>) -> RowFacts {
        RowFacts {
            gpu: row.and_then(Instance::gpu_label),
            dph_total: row.and_then(|r| r.dph_total).filter(|d| d.is_finite()),
            started_at: row.and_then(|r| r.start_date).filter(|s| s.is_finite()),
            ssh: row.and_then(SshTarget::of),
        }
    }
}

/// One instance's encoded view (without its spend), the row facts it was made from, the sweep
/// they were read from and the ask that made it.
#[derive(Debug, Default)]
pub(super) struct Kept {
    encoded: Option<(RowFacts, String)>,
    /// The sweep last checked against: while it is still the latest, the row cannot have
    /// changed, and the facts need not be read again. Weak, so a kept instance does not keep
    /// an old sweep's rows alive.
    swept: Weak<Sweep>,
    stamp: u64,
}

impl Kept {
    /// The stream told something new: the next ask encodes afresh.
    pub fn invalidate(&mut self) {
        self.encoded = None;
    }

    /// Whether the kept JSON is still true with `sweep` the latest: nothing changed since it
    /// was made and its row facts are the same (read by `facts`, only when `sweep` is new to
    /// it). The facts to encode with, when it is not.
    pub fn is_current(
        &mut self,
        sweep: Option<&Arc<Sweep>>,
        facts: impl FnOnce() -> RowFacts,
    ) -> Result<(), RowFacts> {
        let encoded_with_sweep =
            sweep.is_some_and(|s| std::ptr::eq(self.swept.as_ptr(), Arc::as_ptr(s)));
        if encoded_with_sweep && self.encoded.is_some() {
            return Ok(());
        }
        self.swept = sweep.map(Arc::downgrade).unwrap_or_default();
        let facts = facts();
        match &self.encoded {
            Some((kept, _)) if *kept == facts => Ok(()),
            _ => Err(facts),
        }
    }

    /// Keeps `view` (made from `facts`, its spend left out) encoded, stamped with ask `stamp`.
    pub fn keep(&mut self, facts: RowFacts, view: &InstanceView, stamp: u64) {
        debug_assert!(view.spend_usd.is_none(), "the spend is written per ask");
        let json = serde_json::to_string(view).unwrap_or_else(|_| "{}".into());
        self.encoded = Some((facts, json));
        self.stamp = stamp;
    }

    /// The ask that encoded what is kept.
    pub fn stamp(&self) -> u64 {
        self.stamp
    }

    /// The spend the kept view was made with a row for: its price and start.
    pub fn dph_and_start(&self) -> (Option<f64>, Option<f64>) {
        match &self.encoded {
            Some((facts, _)) => (facts.dph_total, facts.started_at),
            None => (None, None),
        }
    }

    /// Appends the kept JSON object to `out`, with `spend_usd` as its first member.
    pub fn append(&self, out: &mut String, spend_usd: Option<f64>) {
        let Some((_, json)) = &self.encoded else {
            return;
        };
        match spend_usd.filter(|s| s.is_finite()) {
            // `json` is an object (`{"id":…}`), so the spend goes in right after its brace.
            Some(spend) => {
                let _ = write!(out, "{{\"spend_usd\":{spend},");
                out.push_str(&json[1..]);
            }
            None => out.push_str(json),
        }
    }
}

/// The snapshot's JSON with `instances` (a JSON array) put in place of `head`'s empty list.
pub(super) fn fleet_json(head: &FleetSnapshot, instances: &str) -> String {
    debug_assert!(head.instances.is_empty());
    let head = serde_json::to_string(head).unwrap_or_else(|_| "{}".into());
    // Inside a JSON string every `"` is escaped, so this key-and-empty-list can only be the
    // `instances` member itself.
    const EMPTY: &str = "\"instances\":[]";
    match head.find(EMPTY) {
        Some(at) => {
            let mut json = String::with_capacity(head.len() + instances.len());
            json.push_str(&head[..at]);
            json.push_str("\"instances\":");
            json.push_str(instances);
            json.push_str(&head[at + EMPTY.len()..]);
            json
        }
        None => head,
    }
}
