//! One simulated instance: its lifecycle state machine and its log buffer, driven by a clock.
//! Time only moves when [`SimInstance::advance`] is called, which replays every transition and
//! scripted event up to `now` in order, so the result does not depend on how often anyone
//! looks — and an in-process simulator works under tokio's paused clock.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::control::Gauges;
use super::scenario::{Action, InitialState, InstanceSpec, Timing};
use super::script::Script;

/// Maps the simulation's monotonic clock to the epoch seconds the API reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub start: Instant,
    start_epoch: f64,
}

impl Clock {
    pub fn new(start: Instant) -> Clock {
        let start_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Clock { start, start_epoch }
    }

    pub fn epoch(&self, at: Instant) -> f64 {
        // Instants before the start are real too: an instance's `age` puts its creation there.
        match at.checked_duration_since(self.start) {
            Some(after) => self.start_epoch + after.as_secs_f64(),
            None => self.start_epoch - self.start.duration_since(at).as_secs_f64(),
        }
    }
}

/// Where an instance is in its life. `Stopping` and `Scheduling` are the moments between a
/// request and its effect (intended and actual status disagree).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Phase {
    Provisioning,
    Created,
    Loading,
    Running,
    Stopping,
    Stopped,
    Scheduling,
    Rebooting,
    Exited,
    Unknown,
    Offline,
    Failed(String),
}

/// Whether an instance is still there after an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Alive,
    /// Destroyed (or vanished): remove it from every read.
    Gone,
}

#[derive(Debug, Clone)]
pub(crate) struct SimInstance {
    pub spec: InstanceSpec,
    pub label: Option<String>,
    phase: Phase,
    since: Instant,
    intended_running: bool,
    script: Script,
    /// Running time accumulated before the current stretch in `Running`.
    ran_before: Duration,
    log: VecDeque<String>,
    daemon: VecDeque<String>,
    max_lines: usize,
    /// Scripted events still to come, in time order.
    events: VecDeque<(Instant, Action, Option<String>)>,
    created: Instant,
    /// Gauges set from outside (`SimControl::set_gauges`), over the script.
    pub forced: Gauges,
}

const PULL_LAYERS: [&str; 4] = [
    "0d30c18b26f8",
    "5e8117c0bd28",
    "b1a6e1f2c3d4",
    "9f2ac0e7d61b",
];

impl SimInstance {
    /// An instance as the scenario describes it, its clock starting at `start`.
    pub fn new(spec: InstanceSpec, start: Instant, max_lines: usize) -> SimInstance {
        let mut events: Vec<_> = spec
            .events
            .iter()
            .map(|e| (start + e.at.0, e.action, e.text.clone()))
            .collect();
        events.sort_by_key(|e| e.0);
        let (phase, intended_running) = match spec.state {
            InitialState::Booting => (Phase::Provisioning, true),
            InitialState::Running => (Phase::Running, true),
            InitialState::Stopped => (Phase::Stopped, false),
            InitialState::Exited => (Phase::Exited, true),
        };
        let mut instance = SimInstance {
            label: spec.label.clone(),
            script: Script::new(&spec),
            phase,
            since: start,
            intended_running,
            ran_before: Duration::ZERO,
            log: VecDeque::new(),
            daemon: VecDeque::new(),
            max_lines: max_lines.max(1),
            events: events.into(),
            created: start.checked_sub(spec.age.0).unwrap_or(start),
            forced: Gauges::default(),
            spec,
        };
        for line in instance.spec.history.clone() {
            instance.push_line(line);
        }
        instance.daemon_line(start);
        instance
    }

    pub fn id(&self) -> u64 {
        self.spec.id
    }

    /// Replays everything due up to `now`.
    pub fn advance(&mut self, now: Instant) -> Fate {
        loop {
            let auto = self.deadline().filter(|(at, _)| *at <= now);
            let event = self.events.front().map(|e| e.0).filter(|at| *at <= now);
            match (auto, event) {
                (Some((at, next)), ev) if ev.is_none_or(|ev| at <= ev) => self.enter(next, at),
                (_, Some(_)) => {
                    let Some((at, action, text)) = self.events.pop_front() else {
                        break;
                    };
                    if self.apply(action, text, at) == Fate::Gone {
                        return Fate::Gone;
                    }
                }
                (None, None) => break,
                // Unreachable by the guards above; ends the loop instead of spinning.
                (Some(_), None) => break,
            }
        }
        self.print_until(now);
        Fate::Alive
    }

    /// Does `action` at time `at` (the caller has advanced to `at` first).
    pub fn apply(&mut self, action: Action, text: Option<String>, at: Instant) -> Fate {
        use Phase::*;
        match action {
            Action::Stop => {
                self.intended_running = false;
                if !matches!(self.phase, Stopping | Stopped) {
                    self.enter(Stopping, at);
                }
            }
            Action::Start => {
                self.intended_running = true;
                if matches!(self.phase, Stopping | Stopped | Exited | Failed(_)) {
                    self.enter(Scheduling, at);
                }
            }
            Action::Reboot => {
                self.intended_running = true;
                if matches!(
                    self.phase,
                    Running | Exited | Rebooting | Stopped | Failed(_)
                ) {
                    self.enter(Rebooting, at);
                }
            }
            Action::Recycle => {
                // A fresh container from a fresh pull: its log and its job start over.
                self.intended_running = true;
                self.enter(Loading, at);
                self.log.clear();
                self.script = Script::new(&self.spec);
                self.ran_before = Duration::ZERO;
            }
            Action::Exit => self.enter(Exited, at),
            Action::Unknown => self.enter(Unknown, at),
            Action::Offline => self.enter(Offline, at),
            Action::Fail => {
                self.intended_running = false;
                let msg = text.unwrap_or_else(|| "OCI runtime create failed".to_owned());
                self.enter(Failed(msg), at);
            }
            Action::Label => self.label = text,
            Action::Destroy | Action::Vanish => return Fate::Gone,
        }
        Fate::Alive
    }

    /// Appends lines as if the container printed them now (running or not).
    pub fn push_lines(&mut self, lines: impl IntoIterator<Item = String>) {
        for line in lines {
            self.push_line(line);
        }
    }

    pub fn log(&self) -> &VecDeque<String> {
        &self.log
    }

    pub fn daemon_log(&self) -> &VecDeque<String> {
        &self.daemon
    }

    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Whether the container exists (it does not before `created`).
    pub fn has_container(&self) -> bool {
        self.phase != Phase::Provisioning
    }

    pub fn actual_status(&self) -> Option<&'static str> {
        use Phase::*;
        Some(match self.phase {
            Provisioning => return None,
            Created | Failed(_) => "created",
            Loading => "loading",
            Running | Stopping => "running",
            Stopped | Scheduling => "stopped",
            Rebooting => "rebooting",
            Exited => "exited",
            Unknown => "unknown",
            Offline => "offline",
        })
    }

    pub fn intended_status(&self) -> &'static str {
        if self.intended_running {
            "running"
        } else {
            "stopped"
        }
    }

    /// The hardware allocation: released while stopped, and while a start waits for GPUs.
    pub fn cur_state(&self) -> &'static str {
        match self.phase {
            Phase::Stopped | Phase::Scheduling | Phase::Failed(_) => "stopped",
            _ => "running",
        }
    }

    pub fn status_msg(&self, now: Instant) -> Option<String> {
        use Phase::*;
        Some(match &self.phase {
            Provisioning => return None,
            Created => "Creating container".to_owned(),
            Loading => {
                let total = self.spec.timing.loading.0.as_secs_f64().max(1e-3);
                let done = now.saturating_duration_since(self.since).as_secs_f64() / total;
                let layer = ((done * PULL_LAYERS.len() as f64) as usize).min(PULL_LAYERS.len() - 1);
                format!("{}: Downloading", PULL_LAYERS[layer])
            }
            Running | Stopping | Rebooting => format!("success, running {}/ssh", self.spec.image),
            Stopped => "Stopped".to_owned(),
            Scheduling => "Waiting for the GPUs to be free (scheduling)".to_owned(),
            Exited => "Container exited with code 0".to_owned(),
            Unknown => "No recent heartbeat from the host".to_owned(),
            Offline => "Host is offline".to_owned(),
            Failed(msg) => msg.clone(),
        })
    }

    pub fn created_at(&self) -> Instant {
        self.created
    }

    /// The container's running time at `now` (what its scripts are keyed on).
    pub fn run_time(&self, now: Instant) -> Duration {
        let current = if self.phase == Phase::Running {
            now.saturating_duration_since(self.since)
        } else {
            Duration::ZERO
        };
        self.ran_before + current
    }

    /// The (gpu_util, cpu_util) its rows show at `now` while running: what was set from
    /// outside, else what its scenario scripts, each `None` when neither says.
    pub fn gauges(&self, now: Instant) -> (Option<f64>, Option<f64>) {
        let (gpu, cpu) = self.spec.gauges_at(self.run_time(now));
        (self.forced.gpu_util.or(gpu), self.forced.cpu_util.or(cpu))
    }

    /// Minutes since the container last started, while it runs.
    pub fn uptime_mins(&self, now: Instant) -> Option<f64> {
        (self.phase == Phase::Running)
            .then(|| now.saturating_duration_since(self.since).as_secs_f64() / 60.0)
    }

    fn timing(&self) -> &Timing {
        &self.spec.timing
    }

    /// The next transition that happens by itself, and when.
    fn deadline(&self) -> Option<(Instant, Phase)> {
        use Phase::*;
        let t = self.timing();
        let (wait, next) = match self.phase {
            Provisioning => (t.provisioning, Created),
            Created => (t.created, Loading),
            Loading => (t.loading, Running),
            Stopping => (t.stopping, Stopped),
            Scheduling => (t.scheduling, Running),
            Rebooting => (t.rebooting, Running),
            _ => return None,
        };
        Some((self.since + wait.0, next))
    }

    fn enter(&mut self, phase: Phase, at: Instant) {
        if self.phase == Phase::Running {
            self.print_until(at);
            self.ran_before += at.saturating_duration_since(self.since);
        }
        self.phase = phase;
        self.since = at;
        self.daemon_line(at);
    }

    fn print_until(&mut self, at: Instant) {
        if self.phase != Phase::Running {
            return;
        }
        let run = self.ran_before + at.saturating_duration_since(self.since);
        let lines = self.script.advance(run);
        self.push_lines(lines);
    }

    fn push_line(&mut self, line: String) {
        if self.log.len() >= self.max_lines {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }

    fn daemon_line(&mut self, at: Instant) {
        let status = self.actual_status().unwrap_or("provisioning");
        let when = at.saturating_duration_since(self.created).as_secs_f64();
        if self.daemon.len() >= 1000 {
            self.daemon.pop_front();
        }
        self.daemon.push_back(format!(
            "[{when:>10.3}] C.{}: status {status}, intended {}",
            self.spec.id,
            self.intended_status()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::{Dur, EventSpec, LogItem};

    fn ticking(state: InitialState) -> InstanceSpec {
        InstanceSpec {
            state,
            log: vec![LogItem {
                at: Dur::secs(1),
                text: "tick".into(),
                every: Some(Dur::secs(1)),
                count: None,
            }],
            ..InstanceSpec::new(1)
        }
    }

    #[test]
    fn boot_goes_through_null_created_loading_running() {
        let t0 = Instant::now();
        let mut inst = SimInstance::new(ticking(InitialState::Booting), t0, 100);
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut seen = Vec::new();
        for s in [0, 3, 5, 9] {
            inst.advance(at(s));
            seen.push((inst.actual_status(), inst.status_msg(at(s))));
        }
        let statuses: Vec<_> = seen.iter().map(|s| s.0).collect();
        assert_eq!(
            statuses,
            [None, Some("created"), Some("loading"), Some("running")]
        );
        assert!(seen[2].1.as_deref().unwrap().ends_with(": Downloading"));
        assert!(seen[3]
            .1
            .as_deref()
            .unwrap()
            .starts_with("success, running"));
        // Running since t=8: one line per second of running time.
        inst.advance(at(11));
        assert_eq!(inst.log().len(), 3);
    }

    #[test]
    fn a_stopped_instance_prints_nothing_and_continues_after_a_start() {
        let t0 = Instant::now();
        let mut spec = ticking(InitialState::Running);
        spec.log[0].text = "tick {n}".into();
        spec.events = vec![
            EventSpec {
                at: Dur::millis(3500),
                action: Action::Stop,
                text: None,
            },
            EventSpec {
                at: Dur::secs(10),
                action: Action::Start,
                text: None,
            },
        ];
        spec.timing.scheduling = Dur::secs(2);
        let mut inst = SimInstance::new(spec, t0, 100);
        inst.advance(t0 + Duration::from_secs(4));
        assert_eq!(inst.intended_status(), "stopped");
        assert_eq!(inst.actual_status(), Some("running"));
        inst.advance(t0 + Duration::from_secs(9));
        assert_eq!(inst.actual_status(), Some("stopped"));
        assert_eq!(inst.log().len(), 3);
        inst.advance(t0 + Duration::from_secs(11));
        assert_eq!(
            (inst.intended_status(), inst.actual_status()),
            ("running", Some("stopped"))
        );
        // Running again from t=12 with 3.5 s already run: the 4th tick comes at t=12.5.
        inst.advance(t0 + Duration::from_millis(12_600));
        assert_eq!(inst.log().back().map(String::as_str), Some("tick 4"));
    }

    #[test]
    fn failures_and_destroy() {
        let t0 = Instant::now();
        let mut inst = SimInstance::new(ticking(InitialState::Running), t0, 100);
        inst.apply(
            Action::Fail,
            Some("OCI runtime create failed: x".into()),
            t0,
        );
        assert_eq!(inst.actual_status(), Some("created"));
        assert_eq!(inst.intended_status(), "stopped");
        assert_eq!(inst.cur_state(), "stopped");
        assert_eq!(inst.status_msg(t0).unwrap(), "OCI runtime create failed: x");
        assert_eq!(inst.apply(Action::Destroy, None, t0), Fate::Gone);
    }

    #[test]
    fn reboot_passes_through_rebooting_and_the_buffer_is_capped() {
        let t0 = Instant::now();
        let mut inst = SimInstance::new(ticking(InitialState::Running), t0, 5);
        inst.advance(t0 + Duration::from_secs(20));
        assert_eq!(inst.log().len(), 5);
        inst.apply(Action::Reboot, None, t0 + Duration::from_secs(20));
        assert_eq!(inst.actual_status(), Some("rebooting"));
        inst.advance(t0 + Duration::from_secs(23));
        assert_eq!(inst.actual_status(), Some("running"));
    }
}
