//! Guard tables: each guard fed a sequence of status sweeps, with what fired at each step.

use super::*;
use crate::config::ContractWarning;

/// Status names as the API sends them (the table rows are `&'static str`).
const RUNNING: &str = "running";
const GONE: &str = "gone";
const PROVISIONING: &str = "provisioning";

const WALL0: f64 = 1_761_000_000.0;
const INTERVAL: Duration = Duration::from_secs(5);

fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

/// One sweep: seconds since the start, status, and the row's varying fields.
#[derive(Clone, Copy)]
struct Sweep {
    t: u64,
    status: &'static str,
    util: Option<f64>,
    intended: &'static str,
    end_in: Option<f64>,
    new_line: bool,
}

fn at(t: u64, status: &'static str) -> Sweep {
    Sweep {
        t,
        status,
        util: None,
        intended: "running",
        end_in: None,
        new_line: false,
    }
}

impl Sweep {
    fn util(self, util: f64) -> Self {
        Sweep {
            util: Some(util),
            ..self
        }
    }
    fn intended(self, intended: &'static str) -> Self {
        Sweep { intended, ..self }
    }
    fn end_in(self, seconds: f64) -> Self {
        Sweep {
            end_in: Some(seconds),
            ..self
        }
    }
    fn with_line(self) -> Self {
        Sweep {
            new_line: true,
            ..self
        }
    }
}

/// Feeds the sweeps through a clock and the episodes, as the machine does, and returns the
/// names of the guards fired at each step (with their action).
/// Every guard off and no action: each test switches on what it is about.
fn off() -> Guards {
    Guards {
        on_guard: None,
        ..Guards::default()
    }
}

fn run(config: &Guards, sweeps: &[Sweep]) -> Vec<Vec<(&'static str, Option<ActionKind>)>> {
    let mut clock = GuardClock::default();
    let mut episodes = Episodes::default();
    let mut previous: Option<&str> = None;
    sweeps
        .iter()
        .map(|s| {
            let now = Now {
                mono: Duration::from_secs(s.t),
                wall: WALL0 + s.t as f64,
            };
            let row = Instance {
                actual_status: Some(s.status.to_string()),
                intended_status: Some(s.intended.to_string()),
                gpu_util: s.util,
                dph_total: Some(2.0),
                start_date: Some(WALL0),
                end_date: s.end_in.map(|e| now.wall + e),
                ..Instance::default()
            };
            let before = previous.map(Status::parse);
            previous = Some(s.status);
            let status = Status::parse(s.status);
            clock.on_status(
                now.mono,
                &status,
                before.as_ref(),
                Some(&row),
                config.idle.map(|i| i.gpu_util_below),
            );
            if s.new_line {
                clock.on_new_lines(now.mono);
                episodes.end(GuardKind::Silent);
            }
            let row = (s.status != GONE).then_some(&row);
            let input = GuardInput {
                now,
                status: &status,
                row,
                clock: &clock,
                interval: INTERVAL,
            };
            let (fired, _) = episodes.advance(config, check(config, &input));
            fired
                .into_iter()
                .map(|f| (f.guard.name(), f.action))
                .collect()
        })
        .collect()
}

const STOP: Option<ActionKind> = Some(ActionKind::Stop);

fn fired(steps: &[Vec<(&'static str, Option<ActionKind>)>]) -> Vec<String> {
    steps
        .iter()
        .enumerate()
        .flat_map(|(i, f)| f.iter().map(move |(name, _)| format!("{i}:{name}")))
        .collect()
}

#[test]
fn max_runtime_fires_once_and_rearms_after_a_stop() {
    let config = Guards {
        max_runtime: Some(mins(10)),
        on_guard: STOP,
        ..off()
    };
    let steps = run(
        &config,
        &[
            at(0, RUNNING),
            at(599, RUNNING),
            at(600, RUNNING),
            at(700, RUNNING),
            at(710, "stopped").intended("stopped"),
            at(800, RUNNING),
        ],
    );
    assert_eq!(fired(&steps), ["2:max_runtime", "5:max_runtime"]);
    assert_eq!(steps[2], [("max_runtime", STOP)]);
}

#[test]
fn max_cost_is_price_times_hours_since_start() {
    // $2/h: $1 after 30 minutes.
    let config = Guards {
        max_cost: Some(1.0),
        ..off()
    };
    let steps = run(
        &config,
        &[at(1_790, RUNNING), at(1_800, RUNNING), at(3_600, RUNNING)],
    );
    assert_eq!(fired(&steps), ["1:max_cost"]);
    assert_eq!(steps[1], [("max_cost", None)], "no on_guard: alert only");
}

#[test]
fn idle_needs_the_whole_period_below_the_threshold() {
    let config = Guards {
        idle: Some(IdleGuard {
            gpu_util_below: 5.0,
            duration: mins(1),
        }),
        on_guard: STOP,
        ..off()
    };
    let sweeps = [
        at(0, RUNNING).util(0.02),  // a fraction: 2 %
        at(30, RUNNING).util(50.0), // busy: the streak breaks
        at(40, RUNNING).util(3.0),  // percent: 3 %
        at(90, RUNNING).util(0.0),
        at(100, RUNNING).util(0.01),
        at(200, RUNNING).util(0.0), // still the same episode
        at(210, RUNNING).util(0.9), // 90 %: ends it
        at(220, RUNNING).util(1.0),
        at(230, RUNNING).util(2.0),
        at(300, RUNNING).util(2.0),
    ];
    assert_eq!(fired(&run(&config, &sweeps)), ["4:idle", "9:idle"]);
}

#[test]
fn idle_is_not_inferred_from_a_missing_reading() {
    let config = Guards {
        idle: Some(IdleGuard {
            gpu_util_below: 5.0,
            duration: mins(1),
        }),
        ..off()
    };
    let sweeps = [
        at(0, RUNNING).util(0.0),
        at(30, RUNNING),
        at(40, RUNNING).util(0.0),
        at(90, RUNNING).util(0.0),
    ];
    assert!(fired(&run(&config, &sweeps)).is_empty());
}

#[test]
fn util_percent_reads_small_values_as_fractions() {
    assert_eq!(util_percent(0.5), 50.0);
    assert_eq!(util_percent(1.0), 100.0);
    assert_eq!(util_percent(1.5), 1.5);
    assert_eq!(util_percent(87.0), 87.0);
}

#[test]
fn stuck_counts_the_whole_boot_not_each_boot_status() {
    let config = Guards {
        stuck: Some(mins(5)),
        on_guard: Some(ActionKind::Destroy),
        ..off()
    };
    let sweeps = [
        at(0, PROVISIONING),
        at(100, "created"),
        at(200, "loading"),
        at(300, "loading"),
        at(400, "loading"),
        at(500, RUNNING),
        at(600, "loading"),
        at(900, "loading"),
    ];
    let steps = run(&config, &sweeps);
    assert_eq!(fired(&steps), ["3:stuck", "7:stuck"]);
    assert_eq!(steps[3], [("stuck", Some(ActionKind::Destroy))]);
}

#[test]
fn silent_fires_once_per_quiet_period() {
    let config = Guards {
        silent: Some(mins(2)),
        ..off()
    };
    let sweeps = [
        at(0, RUNNING),
        at(119, RUNNING),
        at(120, RUNNING),
        at(200, RUNNING),
        at(210, RUNNING).with_line(),
        at(300, RUNNING),
        at(330, RUNNING),
        at(340, "stopped").intended("stopped"),
        at(400, RUNNING),
        at(520, RUNNING),
    ];
    assert_eq!(
        fired(&run(&config, &sweeps)),
        ["2:silent", "6:silent", "9:silent"]
    );
}

#[test]
fn destroy_after_stop_always_destroys() {
    let config = Guards {
        destroy_after_stop: Some(mins(10)),
        on_guard: STOP,
        ..off()
    };
    let stopped = |t| at(t, "stopped").intended("stopped");
    let sweeps = [
        at(0, RUNNING),
        stopped(10),
        stopped(600),
        stopped(610),
        stopped(700),
    ];
    let steps = run(&config, &sweeps);
    assert_eq!(fired(&steps), ["3:destroy_after_stop"]);
    assert_eq!(
        steps[3],
        [("destroy_after_stop", Some(ActionKind::Destroy))]
    );
}

#[test]
fn outbid_alerts_when_intended_running_but_stopped() {
    let config = Guards {
        on_guard: STOP,
        ..off()
    };
    let sweeps = [
        at(0, RUNNING),
        at(5, "stopped").intended("stopped"), // our own stop: no alert
        at(10, RUNNING),
        at(15, "stopped"),
        at(20, "stopped"),
        at(25, RUNNING),
        at(30, "stopped"),
    ];
    let steps = run(&config, &sweeps);
    assert_eq!(fired(&steps), ["3:outbid", "6:outbid"]);
    assert_eq!(steps[3], [("outbid", None)], "alerts never act");
}

#[test]
fn contract_ending_warns_once_until_extended() {
    let config = Guards {
        contract_warning: ContractWarning::Within(mins(60)),
        on_guard: STOP,
        ..off()
    };
    let sweeps = [
        at(0, RUNNING).end_in(7_200.0),
        at(10, RUNNING).end_in(3_600.0),
        at(20, RUNNING).end_in(3_000.0),
        at(30, RUNNING).end_in(90_000.0), // extended
        at(40, RUNNING).end_in(-60.0),
        at(50, RUNNING),
    ];
    let steps = run(&config, &sweeps);
    assert_eq!(fired(&steps), ["1:contract_ending", "4:contract_ending"]);
    assert_eq!(steps[1], [("contract_ending", None)]);
}

#[test]
fn contract_warning_none_turns_the_alert_off_and_unset_warns_a_day_ahead() {
    let sweeps = [
        at(0, RUNNING).end_in(90_000.0),
        at(10, RUNNING).end_in(80_000.0),
        at(20, RUNNING).end_in(60.0),
    ];
    let unset = Guards {
        contract_warning: ContractWarning::Default,
        ..off()
    };
    assert_eq!(fired(&run(&unset, &sweeps)), ["1:contract_ending"]);
    let none = Guards {
        contract_warning: ContractWarning::Off,
        ..off()
    };
    assert!(fired(&run(&none, &sweeps)).is_empty());
}

#[test]
fn down_alerts_after_two_intervals_in_exited_unknown_or_offline() {
    let config = off();
    let sweeps = [
        at(0, RUNNING),
        at(5, "exited"),
        at(15, "exited"),
        at(16, "exited"),
        at(30, "exited"),
        at(35, "offline"),
        at(46, "offline"),
        at(50, RUNNING),
        at(55, "unknown"),
        at(70, "unknown"),
    ];
    // exited → offline is one episode: the status line already says it changed.
    assert_eq!(fired(&run(&config, &sweeps)), ["3:down", "9:down"]);
}

#[test]
fn gone_ends_every_episode() {
    let config = Guards {
        max_runtime: Some(mins(1)),
        ..off()
    };
    let sweeps = [
        at(60, RUNNING),
        at(70, RUNNING),
        at(80, GONE),
        at(90, RUNNING),
    ];
    assert_eq!(
        fired(&run(&config, &sweeps)),
        ["0:max_runtime", "3:max_runtime"]
    );
}

#[test]
fn details_say_what_was_seen() {
    let config = Guards {
        max_runtime: Some(mins(10)),
        ..off()
    };
    let clock = GuardClock::default();
    let row = Instance {
        start_date: Some(WALL0),
        ..Instance::default()
    };
    let input = GuardInput {
        now: Now {
            mono: Duration::ZERO,
            wall: WALL0 + 3_725.0,
        },
        status: &Status::Running,
        row: Some(&row),
        clock: &clock,
        interval: INTERVAL,
    };
    let runtime = check(&config, &input)
        .into_iter()
        .find(|c| c.guard == GuardKind::MaxRuntime)
        .unwrap();
    assert_eq!(
        runtime.fire.as_deref(),
        Some("running for 1h 2m 5s (limit 10m)")
    );
}

#[test]
fn episodes_survive_by_name_and_a_switched_off_guard_rearms() {
    let episodes = Episodes::from_names(["idle", "nonsense", "down"]);
    assert_eq!(episodes.names(), ["idle", "down"]);
    let mut episodes = episodes;
    let checks = check(
        &off(),
        &GuardInput {
            now: Now {
                mono: Duration::ZERO,
                wall: WALL0,
            },
            status: &Status::Running,
            row: Some(&Instance::default()),
            clock: &GuardClock::default(),
            interval: INTERVAL,
        },
    );
    let (fired, changed) = episodes.advance(&off(), checks);
    assert!(fired.is_empty());
    assert!(changed);
    assert!(episodes.names().is_empty());
}

#[test]
fn absurd_api_values_do_not_panic() {
    let config = Guards {
        max_runtime: Some(mins(1)),
        max_cost: Some(1.0),
        contract_warning: ContractWarning::Within(mins(1)),
        ..off()
    };
    let row = Instance {
        start_date: Some(-1e300),
        end_date: Some(-1e300),
        dph_total: Some(1e300),
        ..Instance::default()
    };
    let input = GuardInput {
        now: Now {
            mono: Duration::MAX,
            wall: WALL0,
        },
        status: &Status::Running,
        row: Some(&row),
        clock: &GuardClock::default(),
        interval: Duration::MAX,
    };
    let fired: Vec<GuardKind> = check(&config, &input)
        .into_iter()
        .filter(|c| c.fire.is_some())
        .map(|c| c.guard)
        .collect();
    assert_eq!(
        fired,
        [
            GuardKind::MaxRuntime,
            GuardKind::MaxCost,
            GuardKind::ContractEnding
        ]
    );
    let unknown_time = GuardInput {
        now: Now {
            mono: Duration::ZERO,
            wall: f64::NAN,
        },
        ..input
    };
    assert!(check(&config, &unknown_time)
        .iter()
        .all(|c| c.guard == GuardKind::ContractEnding || c.fire.is_none()));
}
