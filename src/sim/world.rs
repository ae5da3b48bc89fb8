//! The simulated account behind the HTTP layer: the instances, the fake S3 objects, the fault
//! windows, the rate limiter and the counters, all under one lock. Every method takes `now`
//! and first brings the instances up to it, so what a call sees does not depend on how often
//! anyone called before.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::faults::Faults;
use super::limits::Limiter;
use super::model::{Clock, Fate, SimInstance};
use super::query::ListRequest;
use super::reply::ApiFail;
use super::results::Results;
use super::row;
use super::scenario::{Action, InstanceSpec, LogSettings, Scenario, Switches};
use super::stats::Recorder;

const MAX_LABEL_CHARS: usize = 1024;

#[derive(Debug)]
pub(crate) struct World {
    pub key: String,
    pub switches: Switches,
    pub logs: LogSettings,
    pub clock: Clock,
    instances: BTreeMap<u64, SimInstance>,
    pub results: Results,
    pub faults: Faults,
    pub limiter: Limiter,
    pub stats: Recorder,
}

impl World {
    pub fn new(scenario: Scenario, start: Instant) -> World {
        let max_lines = scenario.logs.max_lines;
        let instances = scenario
            .instances
            .into_iter()
            .map(|spec| (spec.id, SimInstance::new(spec, start, max_lines)))
            .collect();
        World {
            key: scenario.key,
            switches: scenario.switches,
            logs: scenario.logs,
            clock: Clock::new(start),
            instances,
            results: Results::default(),
            faults: Faults::from_specs(&scenario.faults, start),
            limiter: Limiter::new(scenario.limits),
            stats: Recorder::default(),
        }
    }

    /// Replays everything due up to `now`; destroyed and vanished instances leave.
    pub fn advance(&mut self, now: Instant) {
        self.instances
            .retain(|_, inst| inst.advance(now) == Fate::Alive);
    }

    /// The instance as a read through `endpoint` sees it (absent while a vanish fault hides it).
    pub fn visible(&self, endpoint: &str, id: u64, now: Instant) -> Option<&SimInstance> {
        self.instances
            .get(&id)
            .filter(|_| !self.faults.hidden(endpoint, id, now))
    }

    fn existing(&mut self, id: u64) -> Result<&mut SimInstance, ApiFail> {
        self.instances
            .get_mut(&id)
            .ok_or(ApiFail::no_such_instance(id))
    }

    pub fn show(&self, id: u64, now: Instant) -> Result<Value, ApiFail> {
        match self.visible("show", id, now) {
            Some(inst) => Ok(json!({"instances": row::render(inst, now, &self.clock)})),
            None if self.switches.show_missing_as_404 => Err(ApiFail::no_such_instance(id)),
            None => Ok(json!({"instances": null})),
        }
    }

    fn rows(&self, endpoint: &str, now: Instant) -> Vec<serde_json::Map<String, Value>> {
        self.instances
            .values()
            .filter(|inst| !self.faults.hidden(endpoint, inst.id(), now))
            .map(|inst| row::render(inst, now, &self.clock))
            .collect()
    }

    pub fn list(&self, query: &str, now: Instant) -> Result<Value, ApiFail> {
        let request = ListRequest::parse(query)?;
        Ok(request.page(self.rows("list", now)))
    }

    pub fn list_v0(&self, now: Instant) -> Result<Value, ApiFail> {
        if !self.switches.v0_list {
            return Err(ApiFail::new(
                410,
                "deprecated_endpoint",
                "This endpoint is deprecated; use GET /api/v1/instances/ instead.",
            ));
        }
        let rows = self.rows("list_v0", now);
        Ok(json!({"instances_found": rows.len(), "instances": rows}))
    }

    pub fn filters(&self, now: Instant) -> Value {
        let mut combos: Vec<Value> = self
            .rows("filters", now)
            .into_iter()
            .map(|row| {
                json!({
                    "actual_status": row.get("actual_status"),
                    "verification": row.get("verification"),
                    "gpu_name": row.get("gpu_name"),
                })
            })
            .collect();
        combos.sort_by_key(|c| c.to_string());
        combos.dedup();
        json!({"success": true, "filters": combos})
    }

    /// PUT /instances/{id}/: `state` and/or `label`.
    pub fn set_state(&mut self, id: u64, body: &Value, now: Instant) -> Result<Value, ApiFail> {
        let state = body.get("state");
        let label = body.get("label");
        let action = match state.map(|s| s.as_str()) {
            None => None,
            Some(Some("running")) => Some(Action::Start),
            Some(Some("stopped")) => Some(Action::Stop),
            Some(_) => {
                return Err(ApiFail::invalid_args(
                    "state must be \"running\" or \"stopped\"",
                ))
            }
        };
        let label = match label {
            None => None,
            Some(Value::String(text)) if text.chars().count() > MAX_LABEL_CHARS => {
                return Err(ApiFail::new(
                    400,
                    "label_too_long",
                    format!("Label is too long (at most {MAX_LABEL_CHARS} characters)."),
                ))
            }
            Some(Value::String(text)) => Some(Some(text.clone())),
            Some(Value::Null) => Some(None),
            Some(_) => return Err(ApiFail::invalid_args("label must be a string")),
        };
        if action.is_none() && label.is_none() {
            return Err(ApiFail::invalid_args(
                "Nothing to change: send `state` or `label`.",
            ));
        }
        let inst = self.existing(id)?;
        if let Some(label) = label {
            inst.label = label.filter(|l| !l.is_empty());
        }
        if let Some(action) = action {
            inst.apply(action, None, now);
            self.stats.state_change(id);
        }
        Ok(json!({"success": true}))
    }

    /// Reboot or recycle.
    pub fn restart(&mut self, id: u64, action: Action, now: Instant) -> Result<Value, ApiFail> {
        self.existing(id)?.apply(action, None, now);
        self.stats.state_change(id);
        Ok(json!({"success": true}))
    }

    pub fn destroy(&mut self, id: u64) -> Result<Value, ApiFail> {
        self.instances
            .remove(&id)
            .ok_or(ApiFail::no_such_instance(id))?;
        self.stats.destroy(id);
        Ok(json!({"success": true}))
    }

    /// PUT /instances/ with `{"state", "ids"}`.
    pub fn bulk_state(&mut self, body: &Value, now: Instant) -> Result<Value, ApiFail> {
        let ids = id_list(body, "ids")?;
        let action = match body.get("state").and_then(Value::as_str) {
            Some("running") => Action::Start,
            Some("stopped") => Action::Stop,
            _ => {
                return Err(ApiFail::invalid_args(
                    "state must be \"running\" or \"stopped\"",
                ))
            }
        };
        let mut missing = Vec::new();
        for id in ids {
            match self.instances.get_mut(&id) {
                Some(inst) => {
                    inst.apply(action, None, now);
                    self.stats.state_change(id);
                }
                None => missing.push(id),
            }
        }
        Ok(bulk_reply(&missing))
    }

    /// DELETE /instances/ with `{"instance_ids"}`.
    pub fn bulk_destroy(&mut self, body: &Value) -> Result<Value, ApiFail> {
        let mut missing = Vec::new();
        for id in id_list(body, "instance_ids")? {
            if self.instances.remove(&id).is_some() {
                self.stats.destroy(id);
            } else {
                missing.push(id);
            }
        }
        Ok(bulk_reply(&missing))
    }

    /// Something done by "someone else" (scenario event or `SimControl`): no stats.
    pub fn act(&mut self, id: u64, action: Action, text: Option<String>, now: Instant) -> bool {
        self.advance(now);
        let Some(inst) = self.instances.get_mut(&id) else {
            return false;
        };
        if inst.apply(action, text, now) == Fate::Gone {
            self.instances.remove(&id);
        }
        true
    }

    pub fn add_instance(&mut self, spec: InstanceSpec, now: Instant) {
        self.advance(now);
        let inst = SimInstance::new(spec, now, self.logs.max_lines);
        self.instances.insert(inst.id(), inst);
    }

    pub fn append_lines(&mut self, id: u64, lines: Vec<String>, now: Instant) -> bool {
        self.advance(now);
        match self.instances.get_mut(&id) {
            Some(inst) => {
                inst.push_lines(lines);
                true
            }
            None => false,
        }
    }

    pub fn instance_mut(&mut self, id: u64) -> Option<&mut SimInstance> {
        self.instances.get_mut(&id)
    }
}

fn id_list(body: &Value, field: &str) -> Result<Vec<u64>, ApiFail> {
    body.get(field)
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_u64).collect())
        .ok_or_else(|| ApiFail::invalid_args(format!("`{field}` must be a list of instance ids")))
}

fn bulk_reply(missing: &[u64]) -> Value {
    if missing.is_empty() {
        json!({"success": true})
    } else {
        json!({"success": true, "msg": format!("Instances not found: {missing:?}")})
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The story `vastfleet demo` tells (examples/sim/demo.toml) happens on time.
    #[test]
    fn the_demo_story_unfolds_within_forty_seconds() {
        let t0 = Instant::now();
        let mut world = World::new(Scenario::demo(), t0);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let status =
            |w: &World, id: u64, now| w.visible("show", id, now).and_then(|i| i.actual_status());
        let completions = |w: &mut World, id: u64| {
            let log = w
                .instance_mut(id)
                .map(|i| i.log().clone())
                .unwrap_or_default();
            log.iter()
                .filter(|l| *l == super::super::scenario::COMPLETION_LINE)
                .count()
        };
        let (alpha, bravo, delta) = (31_000_001, 31_000_002, 31_000_004);

        world.advance(at(0));
        assert_eq!(
            completions(&mut world, alpha),
            1,
            "an old completion is already there"
        );
        assert_eq!(
            status(&world, delta, at(0)),
            None,
            "delta is still provisioning"
        );

        world.advance(at(13_500));
        assert_eq!(status(&world, bravo, at(13_500)), Some("stopped"));
        assert_eq!(status(&world, delta, at(13_500)), Some("running"));
        world.advance(at(15_100));
        assert_eq!(
            completions(&mut world, alpha),
            2,
            "the new completion at 15 s"
        );

        assert!(world.faults.take("list", at(19_000)).is_empty());
        assert!(
            !world.faults.take("list", at(21_000)).is_empty(),
            "the 429 storm"
        );
        assert!(world.faults.take("list", at(26_500)).is_empty());

        world.advance(at(26_000));
        assert_eq!(
            world
                .visible("show", bravo, at(26_000))
                .map(|i| i.intended_status()),
            Some("running")
        );
        world.advance(at(29_000));
        assert_eq!(status(&world, bravo, at(29_000)), Some("running"));
    }
}
