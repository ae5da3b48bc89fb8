//! Runtime control of a running simulator, for tests and benchmarks: do things to instances
//! as "someone else" would (the web console, the host, a colleague), make them print, and
//! inject or clear faults. Nothing done here shows in the API call counters.

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::faults::{Fault, Lasting};
use super::scenario::{Action, InstanceSpec, Limits};
use super::server::Sim;
use super::spec::gauge_error;

/// Gauges set on an instance from outside, as a job that ends or stalls changes them: from now
/// on its rows show these while it runs, over whatever its scenario scripts. A `None` leaves
/// that gauge as it was. Also the body of `PUT /__sim/gauges/{id}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gauges {
    /// Percent, 0..=100.
    #[serde(default)]
    pub gpu_util: Option<f64>,
    /// As the API reports it (a fraction of the instance's cores), >= 0.
    #[serde(default)]
    pub cpu_util: Option<f64>,
}

/// Why [`SimControl::set_gauges`] changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GaugesRefused {
    NoInstance,
    /// A value the API could not report (what is wrong with it).
    Invalid(&'static str),
}

/// A status forced onto an instance from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InjectedStatus {
    /// The container process ended.
    Exited,
    /// No heartbeat from the host.
    Unknown,
    /// The host disconnected.
    Offline,
    /// The start failed: `created` + intended `stopped` + this error in `status_msg`.
    Failed(String),
}

/// Cheap to clone; every clone controls the same simulator.
#[derive(Debug, Clone)]
pub struct SimControl {
    pub(crate) sim: Sim,
}

impl SimControl {
    /// Adds (or replaces) an instance; its scripted times count from now.
    pub fn add_instance(&self, spec: InstanceSpec) {
        self.sim.world().add_instance(spec, Instant::now());
    }

    /// Does `action` to instance `id` now. False when there is no such instance.
    pub fn act(&self, id: u64, action: Action) -> bool {
        self.sim.world().act(id, action, None, Instant::now())
    }

    pub fn stop(&self, id: u64) -> bool {
        self.act(id, Action::Stop)
    }

    pub fn start(&self, id: u64) -> bool {
        self.act(id, Action::Start)
    }

    pub fn reboot(&self, id: u64) -> bool {
        self.act(id, Action::Reboot)
    }

    /// Destroyed by someone else: gone from every read, no destroy call counted.
    pub fn destroy(&self, id: u64) -> bool {
        self.act(id, Action::Destroy)
    }

    pub fn set_status(&self, id: u64, status: InjectedStatus) -> bool {
        let (action, text) = match status {
            InjectedStatus::Exited => (Action::Exit, None),
            InjectedStatus::Unknown => (Action::Unknown, None),
            InjectedStatus::Offline => (Action::Offline, None),
            InjectedStatus::Failed(msg) => (Action::Fail, Some(msg)),
        };
        self.sim.world().act(id, action, text, Instant::now())
    }

    /// Sets instance `id`'s gauges from now on (see [`Gauges`]); the next list or show read
    /// shows them.
    pub fn set_gauges(&self, id: u64, gauges: Gauges) -> Result<(), GaugesRefused> {
        if let Some(why) = gauge_error(gauges.gpu_util, gauges.cpu_util) {
            return Err(GaugesRefused::Invalid(why));
        }
        let mut world = self.sim.world();
        world.advance(Instant::now());
        let inst = world.instance_mut(id).ok_or(GaugesRefused::NoInstance)?;
        inst.forced = Gauges {
            gpu_util: gauges.gpu_util.or(inst.forced.gpu_util),
            cpu_util: gauges.cpu_util.or(inst.forced.cpu_util),
        };
        Ok(())
    }

    /// Appends one line to the instance's log, as if its container printed it now.
    pub fn append_log(&self, id: u64, line: impl Into<String>) -> bool {
        self.append_lines(id, [line.into()])
    }

    pub fn append_lines<I, S>(&self, id: u64, lines: I) -> bool
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let lines = lines.into_iter().map(Into::into).collect();
        self.sim.world().append_lines(id, lines, Instant::now())
    }

    /// `n` lines at once; `{n}` in `text` becomes the line's 1-based number in the burst.
    pub fn burst(&self, id: u64, n: usize, text: &str) -> bool {
        let lines = (1..=n).map(|i| text.replace("{n}", &i.to_string()));
        self.append_lines(id, lines)
    }

    /// Everything the instance's log holds now (up to the scenario's `logs.max_lines`);
    /// `None` when it does not exist.
    pub fn log_lines(&self, id: u64) -> Option<Vec<String>> {
        let mut world = self.sim.world();
        world.advance(Instant::now());
        world
            .instance_mut(id)
            .map(|inst| inst.log().iter().cloned().collect())
    }

    /// The instance's `actual_status` now: `Some(None)` while provisioning, `None` when gone.
    pub fn actual_status(&self, id: u64) -> Option<Option<&'static str>> {
        let mut world = self.sim.world();
        world.advance(Instant::now());
        world.instance_mut(id).map(|inst| inst.actual_status())
    }

    /// A fault on every API endpoint (not the S3 objects).
    pub fn inject(&self, fault: Fault, lasting: Lasting) {
        self.inject_on(&[], fault, lasting);
    }

    /// A fault on the named endpoints only (stats names, e.g. "list", "log_result").
    pub fn inject_on(&self, endpoints: &[&str], fault: Fault, lasting: Lasting) {
        self.sim
            .world()
            .faults
            .inject(fault, endpoints, lasting, Instant::now());
    }

    /// Ends every fault, the scenario's windows included.
    pub fn clear_faults(&self) {
        self.sim.world().faults.clear();
    }

    /// Makes `key` the account's only valid key, as revoking the old one in the console does:
    /// every call with another key gets `auth_error` (status per `auth_error_status`).
    pub fn set_key(&self, key: impl Into<String>) {
        self.sim.world().key = key.into();
    }

    /// Replaces the rate limits (the gaps already counted stay counted).
    pub fn set_limits(&self, limits: Limits) {
        self.sim.world().limiter.config = limits;
    }
}
