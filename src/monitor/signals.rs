//! Signals of a job ending or breaking, read from successive status rows of one instance: the
//! sweep refreshes every instance every ⌈N/25⌉ s, far more often than a large fleet's log turn
//! comes round (issue 18), so a row that changed says which log is about to matter.
//!
//! Each signal fires on an edge (busy → idle, not "idle"), so a steady state never asks for
//! anything; the scheduler grants at most one early fetch per episode on top of that.

use crate::api::Instance;
use crate::monitor::guards::util_percent;

/// Why an instance's log should be read soon. Heavier kinds go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignalKind {
    /// `disk_usage` grew over the last sweeps and has stopped growing (a job that wrote
    /// checkpoints or outputs and is done writing).
    DiskStalled,
    /// `status_msg` changed while running (the host has something new to say).
    StatusMessage,
    /// `cpu_util` fell to a fifth of its recent peak or less.
    CpuCollapse,
    /// `gpu_util` fell to near zero after being busy: the usual end of a training job.
    GpuIdle,
    /// `actual_status` left `running`: the container stopped or exited.
    LeftRunning,
}

impl SignalKind {
    pub const ALL: [SignalKind; 5] = [
        SignalKind::DiskStalled,
        SignalKind::StatusMessage,
        SignalKind::CpuCollapse,
        SignalKind::GpuIdle,
        SignalKind::LeftRunning,
    ];

    /// The weight that orders signals in the queue: how sure the signal is that the log now
    /// holds the end of a job. Leaving `running` is certain; a quiet disk is a hint.
    pub fn weight(self) -> u8 {
        match self {
            SignalKind::DiskStalled => 1,
            SignalKind::StatusMessage => 2,
            SignalKind::CpuCollapse => 3,
            SignalKind::GpuIdle => 4,
            SignalKind::LeftRunning => 5,
        }
    }

    /// Whether the signal says the job itself ended (the evidence of the "old or new" rule).
    pub fn ends_job(self) -> bool {
        matches!(self, SignalKind::GpuIdle | SignalKind::LeftRunning)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::DiskStalled => "disk_stalled",
            SignalKind::StatusMessage => "status_message",
            SignalKind::CpuCollapse => "cpu_collapse",
            SignalKind::GpuIdle => "gpu_idle",
            SignalKind::LeftRunning => "left_running",
        }
    }
}

/// At or above this GPU utilisation (percent) the GPU is busy.
pub const GPU_BUSY_PERCENT: f64 = 20.0;
/// At or below this it is idle: the job holding it has ended (or is stuck).
pub const GPU_IDLE_PERCENT: f64 = 5.0;
/// `cpu_util` at or below this share of its recent peak has collapsed.
const CPU_COLLAPSE_SHARE: f64 = 0.2;
/// A peak below this is noise, whatever the unit (fraction, cores or percent).
const CPU_MIN_PEAK: f64 = 0.05;
/// Sweeps of growing disk usage before a standstill means something.
const DISK_GROWTH_SWEEPS: u32 = 2;

/// Whether a row shows an idle GPU. A row without `gpu_util` is idle only when the instance is
/// not running (the API leaves the gauges out then); while running, a missing gauge says
/// nothing.
pub fn gpu_idle(row: &Instance, running: bool) -> bool {
    match row.gpu_util.filter(|u| u.is_finite()) {
        Some(util) => util_percent(util) <= GPU_IDLE_PERCENT,
        None => !running,
    }
}

/// Whether a row shows a busy GPU.
pub fn gpu_busy(row: &Instance) -> bool {
    row.gpu_util
        .filter(|u| u.is_finite())
        .is_some_and(|util| util_percent(util) >= GPU_BUSY_PERCENT)
}

/// What the previous rows showed, as far as the signals need it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Signals {
    running: bool,
    /// The GPU was busy since the last `GpuIdle` (re-arms the signal).
    gpu_was_busy: bool,
    /// The highest `cpu_util` since the signal was last armed.
    cpu_peak: Option<f64>,
    /// After a collapse the signal re-arms only once `cpu_util` is back above this (half the
    /// old peak), so a low, jittery value does not fire again and again.
    cpu_rearm_at: Option<f64>,
    status_msg: Option<String>,
    disk: Option<f64>,
    disk_growing: u32,
}

impl Signals {
    /// Folds in the latest row (`None`: the instance is gone) and returns the heaviest signal
    /// it shows, if any.
    pub fn observe(&mut self, row: Option<&Instance>, running: bool) -> Option<SignalKind> {
        let was_running = std::mem::replace(&mut self.running, running);
        let Some(row) = row else {
            *self = Signals::default();
            return None;
        };
        let mut fired = Vec::new();
        if was_running && !running {
            fired.push(SignalKind::LeftRunning);
        }
        if gpu_busy(row) {
            self.gpu_was_busy = true;
        } else if self.gpu_was_busy && gpu_idle(row, running) {
            self.gpu_was_busy = false;
            fired.push(SignalKind::GpuIdle);
        }
        if self.cpu_collapsed(row.cpu_util.filter(|c| c.is_finite() && *c >= 0.0)) {
            fired.push(SignalKind::CpuCollapse);
        }
        let message = row
            .status_msg
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned);
        if message.is_some() && self.status_msg.is_some() && message != self.status_msg {
            fired.push(SignalKind::StatusMessage);
        }
        if message.is_some() {
            self.status_msg = message;
        }
        if self.disk_stalled(row.disk_usage.filter(|d| d.is_finite() && *d >= 0.0)) {
            fired.push(SignalKind::DiskStalled);
        }
        // Only a running instance's log is read, but the one that just left is read once more.
        fired.into_iter().filter(|_| was_running || running).max()
    }

    fn cpu_collapsed(&mut self, cpu: Option<f64>) -> bool {
        let Some(cpu) = cpu else { return false };
        if let Some(rearm) = self.cpu_rearm_at {
            if cpu < rearm {
                return false;
            }
            self.cpu_rearm_at = None;
            self.cpu_peak = None;
        }
        let peak = self.cpu_peak.map_or(cpu, |p| p.max(cpu));
        if peak >= CPU_MIN_PEAK && cpu <= peak * CPU_COLLAPSE_SHARE {
            self.cpu_rearm_at = Some(peak / 2.0);
            return true;
        }
        self.cpu_peak = Some(peak);
        false
    }

    fn disk_stalled(&mut self, disk: Option<f64>) -> bool {
        let Some(disk) = disk else {
            self.disk_growing = 0;
            return false;
        };
        let previous = self.disk.replace(disk);
        match previous {
            Some(before) if disk > before => {
                self.disk_growing = self.disk_growing.saturating_add(1);
                false
            }
            Some(before) if disk == before => {
                let stalled = self.disk_growing >= DISK_GROWTH_SWEEPS;
                self.disk_growing = 0;
                stalled
            }
            _ => {
                self.disk_growing = 0;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(gpu: Option<f64>, cpu: Option<f64>, msg: &str, disk: f64) -> Instance {
        Instance {
            gpu_util: gpu,
            cpu_util: cpu,
            status_msg: Some(msg.into()),
            disk_usage: Some(disk),
            ..Instance::default()
        }
    }

    fn feed(rows: &[(Instance, bool)]) -> Vec<Option<SignalKind>> {
        let mut signals = Signals::default();
        rows.iter()
            .map(|(row, running)| signals.observe(Some(row), *running))
            .collect()
    }

    #[test]
    fn a_busy_gpu_going_idle_fires_once_and_rearms_when_busy_again() {
        let busy = row(Some(95.0), None, "ok", 1.0);
        let idle = row(Some(0.0), None, "ok", 1.0);
        let got = feed(&[
            (idle.clone(), true),
            (busy.clone(), true),
            (idle.clone(), true),
            (idle.clone(), true),
            (busy, true),
            (idle, true),
        ]);
        use SignalKind::GpuIdle;
        assert_eq!(got, [None, None, Some(GpuIdle), None, None, Some(GpuIdle)]);
    }

    #[test]
    fn a_fractional_gpu_gauge_reads_as_a_fraction() {
        let got = feed(&[
            (row(Some(0.9), None, "ok", 1.0), true),
            (row(Some(0.01), None, "ok", 1.0), true),
        ]);
        assert_eq!(got, [None, Some(SignalKind::GpuIdle)]);
    }

    #[test]
    fn leaving_running_outweighs_everything_and_a_missing_gauge_is_idle_only_when_stopped() {
        let busy = row(Some(95.0), None, "ok", 1.0);
        let stopped = Instance {
            gpu_util: None,
            ..busy.clone()
        };
        assert_eq!(
            feed(&[(busy.clone(), true), (stopped.clone(), false)]),
            [None, Some(SignalKind::LeftRunning)]
        );
        assert_eq!(
            feed(&[(busy, true), (stopped, true)]),
            [None, None],
            "a running row without gpu_util says nothing"
        );
    }

    #[test]
    fn cpu_collapse_fires_on_the_fall_not_on_a_low_steady_value() {
        let at = |cpu| (row(None, Some(cpu), "ok", 1.0), true);
        let got = feed(&[
            at(0.6),
            at(0.5),
            at(0.08),
            at(0.07),
            at(0.01),
            at(0.6),
            at(0.7),
            at(0.1),
        ]);
        use SignalKind::CpuCollapse;
        assert_eq!(
            got,
            [
                None,
                None,
                Some(CpuCollapse),
                None,
                None,
                None,
                None,
                Some(CpuCollapse)
            ]
        );
        assert_eq!(feed(&[at(0.01), at(0.0)]), [None, None], "noise is no peak");
    }

    #[test]
    fn a_changed_status_message_fires_but_a_first_or_missing_one_does_not() {
        let at = |msg: &str| (row(None, None, msg, 1.0), true);
        let got = feed(&[
            at("success, running x"),
            at("success, running x"),
            at(""),
            at("OOM"),
        ]);
        assert_eq!(got, [None, None, None, Some(SignalKind::StatusMessage)]);
    }

    #[test]
    fn disk_usage_that_stops_growing_fires_only_after_real_growth() {
        let at = |disk| (row(None, None, "ok", disk), true);
        let got = feed(&[at(10.0), at(10.0), at(11.0), at(12.0), at(12.0), at(12.0)]);
        assert_eq!(
            got,
            [None, None, None, None, Some(SignalKind::DiskStalled), None]
        );
        assert_eq!(feed(&[at(10.0), at(11.0), at(11.0)]), [None, None, None]);
    }

    #[test]
    fn an_instance_that_is_not_and_was_not_running_signals_nothing() {
        let busy = row(Some(95.0), None, "a", 1.0);
        let idle = row(Some(0.0), None, "b", 1.0);
        assert_eq!(feed(&[(busy, false), (idle, false)]), [None, None]);
    }

    #[test]
    fn weights_order_the_kinds() {
        let mut kinds = SignalKind::ALL;
        kinds.sort_by_key(|k| std::cmp::Reverse(k.weight()));
        assert_eq!(kinds[0], SignalKind::LeftRunning);
        assert!(SignalKind::ALL
            .windows(2)
            .all(|w| w[0] < w[1] && w[0].weight() < w[1].weight()));
        assert!(SignalKind::GpuIdle.ends_job() && !SignalKind::CpuCollapse.ends_job());
    }
}
