//! A faithful simulator of the Vast.ai API (vast-api.md §8), used by `vastfleet sim`,
//! `vastfleet demo`, the tests and the benchmarks. It shares nothing with the client beyond the
//! serde models, so it can catch the client's mistakes.
//!
//! Layout: `scenario` + `spec` (the TOML file), `model` + `script` (one instance's life and log on a
//! clock), `row` + `query` (what reads return), `results` (the two-step log protocol),
//! `world` (the account under one lock), `limits`, `faults`, `stats`, `server` (axum),
//! `control` (runtime control for tests).

mod control;
mod faults;
mod limits;
mod model;
mod query;
mod reply;
mod results;
mod row;
mod scenario;
mod script;
mod server;
mod spec;
mod stats;
mod world;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use control::{Gauges, GaugesRefused, InjectedStatus, SimControl};
pub use faults::{Fault, Lasting, ENDPOINT_NAMES};
pub use scenario::{
    Action, Dur, EventSpec, FaultKind, FaultSpec, Gaps, GaugeItem, InitialState, InstanceSpec,
    Limits, LogItem, LogSettings, RateModel, Scenario, ScenarioError, Switches, Timing,
    COMPLETION_LINE,
};
pub use stats::{EndpointCount, InstanceActions, RequestRecord, SimStats};

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Serves `scenario` on a free port of 127.0.0.1.
    pub async fn start(scenario: Scenario) -> io::Result<SimHandle> {
        Simulator::start_on(scenario, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Serves `scenario` on `addr`; its clock starts now.
    pub async fn start_on(scenario: Scenario, addr: SocketAddr) -> io::Result<SimHandle> {
        scenario
            .check()
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let key = scenario.key.clone();
        let sim = server::Shared::new(world::World::new(scenario, Instant::now()), local);
        let cancel = CancellationToken::new();
        let app = server::router(sim.clone());
        let stop = cancel.clone().cancelled_owned();
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::warn!("simulator server stopped: {err}");
            }
        });
        let host = if local.ip().is_unspecified() {
            SocketAddr::from((Ipv4Addr::LOCALHOST, local.port()))
        } else {
            local
        };
        Ok(SimHandle {
            url: format!("http://{host}"),
            key,
            sim,
            cancel,
            task: Some(task),
        })
    }
}

/// A running simulator. Dropping it stops the server too; [`SimHandle::shutdown`] also waits.
pub struct SimHandle {
    url: String,
    key: String,
    sim: server::Sim,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The base URL ("http://127.0.0.1:PORT"); clients append `/api/v0/...`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The bearer key the simulator requires (a test key, not a secret).
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn stats(&self) -> SimStats {
        self.sim.world().stats.snapshot()
    }

    pub fn control(&self) -> SimControl {
        SimControl {
            sim: self.sim.clone(),
        }
    }

    /// Stops accepting, lets calls in flight finish (at most 2 s), and waits for the server.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
