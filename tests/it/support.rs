//! The `vastfleet` binary as a child process against a simulator in the test process: the
//! only honest way to test exit codes, signals, `kill -9` and the real stdout. The child
//! writes `--json`; every line is parsed and kept, and tests wait for the events they expect
//! (with a generous deadline, never a fixed sleep).

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;
use vastfleet::sim::{InitialState, InstanceSpec, Scenario, SimHandle, Simulator};

/// How long any expected event may take before the test fails with the whole stream.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vastfleet")
}

/// A `vastfleet` command prepared against `sim`: key and URL in the environment (as a user
/// would set them), HOME and the working directory in `dir`, so no real key file is ever read.
pub fn command(dir: &Path, sim: Option<&SimHandle>, args: &[&str]) -> Command {
    let mut command = Command::new(bin());
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("HOME", dir)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    if let Some(sim) = sim {
        command
            .env("VAST_API_KEY", sim.key())
            .env("VAST_URL", sim.url());
    }
    command
}

/// Runs a one-shot command to its end: (exit code, stdout, stderr).
pub async fn run(dir: &Path, sim: Option<&SimHandle>, args: &[&str]) -> (i32, String, String) {
    let mut command = command(dir, sim, args);
    finish(&mut command).await
}

/// Runs a prepared `vastfleet` command (e.g. with extra environment) to its end, without a
/// stdin: (exit code, stdout, stderr).
pub async fn finish(command: &mut Command) -> (i32, String, String) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run vastfleet");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A running `vastfleet watch --json …`.
pub struct Watcher {
    child: Child,
    events: Arc<Mutex<Vec<Value>>>,
    arrived: Arc<Notify>,
    stderr: Arc<Mutex<String>>,
}

/// What a finished watcher left behind.
pub struct Finished {
    pub status: ExitStatus,
    pub events: Vec<Value>,
    pub stderr: String,
}

impl Watcher {
    /// Starts `vastfleet ARGS` (which must include `--json`) in `dir`.
    pub fn start(dir: &Path, sim: &SimHandle, args: &[&str]) -> Watcher {
        Watcher::spawn(command(dir, Some(sim), args))
    }

    /// Starts a prepared command (which must include `--json`), e.g. against a test server of
    /// its own.
    pub fn spawn(mut command: Command) -> Watcher {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vastfleet");
        let events = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("stdout");
        let (sink, wake) = (Arc::clone(&events), Arc::clone(&arrived));
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|err| panic!("not JSON ({err}): {line}"));
                sink.lock().unwrap().push(value);
                wake.notify_waiters();
            }
            wake.notify_waiters();
        });
        let mut err_pipe = child.stderr.take().expect("stderr");
        let err_sink = Arc::clone(&stderr);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                err_sink
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Watcher {
            child,
            events,
            arrived,
            stderr,
        }
    }

    /// Everything the child wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    pub fn count(&self, matches: impl Fn(&Value) -> bool) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches(e))
            .count()
    }

    /// Waits until `done` holds for the stream so far; panics with the stream when it takes
    /// longer than [`PATIENCE`].
    pub async fn wait_until(&self, what: &str, done: impl Fn(&[Value]) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let wake = self.arrived.notified();
            if done(&self.events.lock().unwrap()) {
                return;
            }
            if tokio::time::timeout_at(deadline, wake).await.is_err() {
                panic!(
                    "timed out waiting for {what}\n--- events:\n{}\n--- stderr:\n{}",
                    self.dump(),
                    self.stderr.lock().unwrap()
                );
            }
        }
    }

    /// Waits until `matches` holds for `n` events.
    pub async fn wait_for_n(&self, what: &str, n: usize, matches: impl Fn(&Value) -> bool) {
        self.wait_until(what, |events| {
            events.iter().filter(|e| matches(e)).count() >= n
        })
        .await;
    }

    pub async fn wait_for(&self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_n(what, 1, &matches).await;
        self.events()
            .into_iter()
            .find(|e| matches(e))
            .expect("just seen")
    }

    pub fn dump(&self) -> String {
        self.events()
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Sends a signal (`"-HUP"`, ...) and goes on watching.
    pub async fn signal(&self, which: &str) {
        signal(self.pid(), which).await;
    }

    /// SIGTERM, then the exit status and everything printed.
    pub async fn terminate(mut self) -> Finished {
        signal(self.pid(), "-TERM").await;
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("vastfleet stops after SIGTERM")
            .expect("wait");
        self.finish(status).await
    }

    /// `kill -9`: no chance to save anything beyond what was already on disk.
    pub async fn kill9(mut self) -> Finished {
        self.child.start_kill().expect("kill");
        let status = self.child.wait().await.expect("wait");
        self.finish(status).await
    }

    async fn finish(self, status: ExitStatus) -> Finished {
        // Let the reader tasks drain the pipes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let events = self.events();
        let stderr = self.stderr.lock().unwrap().clone();
        Finished {
            status,
            events,
            stderr,
        }
    }
}

async fn signal(pid: u32, which: &str) {
    let status = Command::new("kill")
        .arg(which)
        .arg(pid.to_string())
        .status()
        .await
        .expect("run kill");
    assert!(status.success(), "kill {which} {pid}");
}

/// Events of one kind for one instance.
pub fn is(event: &Value, kind: &str, id: u64) -> bool {
    event["event"] == kind && event["instance"] == id
}

/// The log lines printed for `id`, in order.
pub fn log_lines(events: &[Value], id: u64) -> Vec<String> {
    events
        .iter()
        .filter(|e| is(e, "log", id))
        .map(|e| e["line"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A fleet file in `dir` with the given text; returns its path.
pub fn fleet_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("fleet.toml");
    std::fs::write(&path, text).expect("write fleet file");
    path
}

/// Waits until the simulator has answered `more` further list calls: the watcher has seen that
/// many more status sweeps (pages) since now. Polls the simulator's counters; panics after
/// [`PATIENCE`].
pub async fn wait_for_sweeps(sim: &SimHandle, more: u64) {
    let target = sim.stats().calls("list") + more;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while sim.stats().calls("list") < target {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {more} more status sweeps"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The simulator for a test: every integration test starts it here, as
/// `Account::of(specs).start().await`, `Account::running(ids)`, or [`start`] for a scenario
/// of its own (TOML, a steady fleet).
pub struct Account(Scenario);

impl Account {
    /// These instances, in this order, with the default key, limits and switches.
    pub fn of(instances: impl IntoIterator<Item = InstanceSpec>) -> Account {
        Account(Scenario {
            instances: instances.into_iter().collect(),
            ..Scenario::empty()
        })
    }

    /// Running instances with the default spec.
    pub fn running(ids: impl IntoIterator<Item = u64>) -> Account {
        Account::of(ids.into_iter().map(InstanceSpec::new))
    }

    /// The status a bad or missing key gets (`auth_error`: 404 or 401).
    pub fn auth_error_status(mut self, status: u16) -> Account {
        self.0.switches.auth_error_status = status;
        self
    }

    /// No rate limits: for tests about answers, not pacing.
    pub fn unlimited(mut self) -> Account {
        self.0.limits.enabled = false;
        self
    }

    pub async fn start(self) -> SimHandle {
        start(self.0).await
    }
}

/// Starts the simulator on a loopback port for `scenario`.
pub async fn start(scenario: Scenario) -> SimHandle {
    Simulator::start(scenario)
        .await
        .expect("start the simulator")
}

/// A stopped instance with the default spec.
pub fn stopped(id: u64) -> InstanceSpec {
    InstanceSpec {
        state: InitialState::Stopped,
        ..InstanceSpec::new(id)
    }
}

/// A running instance with a label.
pub fn labelled(id: u64, label: &str) -> InstanceSpec {
    InstanceSpec {
        label: Some(label.into()),
        ..InstanceSpec::new(id)
    }
}

/// A simulated account of running instances, each with one line of history (`history of ID`).
pub async fn account_with_history(ids: &[u64]) -> SimHandle {
    Account::of(ids.iter().map(|&id| InstanceSpec {
        history: vec![format!("history of {id}")],
        ..InstanceSpec::new(id)
    }))
    .start()
    .await
}

/// The job on `id` prints its completion and result URL now. Tests call it after the watcher's
/// first log read of `id`: a completion the first read finds counts as old, so a job scripted
/// to end a second after start raced the watcher's start-up on a loaded machine.
pub fn finish_job(sim: &SimHandle, id: u64, result_url: &str) {
    assert!(sim
        .control()
        .append_lines(id, [vastfleet::sim::COMPLETION_LINE, result_url]));
}
