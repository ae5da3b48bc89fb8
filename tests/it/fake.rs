//! An in-memory Vast.ai for paused-clock tests of the throttle, the monitor task and the fleet.
//! Loopback tests use the real simulator instead; this fake exists only because tokio's paused
//! clock and real sockets do not mix.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use vastfleet::api::models::ListPage;
use vastfleet::api::{Api, ApiError, Instance};
use vastfleet::throttle::{Endpoint, Throttle};

#[derive(Default)]
struct World {
    instances: BTreeMap<u64, (Instance, Vec<String>)>,
    failures: BTreeMap<&'static str, VecDeque<ApiError>>,
    calls: Vec<Call>,
    /// The server's own overall limit: calls closer together than this get a 429.
    server_gap: Option<Duration>,
    last_accepted: Option<Instant>,
}

/// One call the fake answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub at: Instant,
    pub endpoint: &'static str,
    pub id: Option<u64>,
    pub rate_limited: bool,
}

#[derive(Clone)]
pub struct FakeApi {
    world: Arc<Mutex<World>>,
    throttle: Throttle,
}

impl FakeApi {
    pub fn new(throttle: Throttle) -> Self {
        FakeApi {
            world: Arc::default(),
            throttle,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.world.lock().unwrap())
    }

    pub fn add_running(&self, id: u64, lines: &[&str]) {
        let row = Instance {
            id: Some(id),
            actual_status: Some("running".into()),
            intended_status: Some("running".into()),
            gpu_name: Some("RTX 4090".into()),
            num_gpus: Some(1),
            dph_total: Some(0.4),
            ..Instance::default()
        };
        let log = lines.iter().map(|l| l.to_string()).collect();
        self.with(|w| w.instances.insert(id, (row, log)));
    }

    pub fn print(&self, id: u64, lines: &[&str]) {
        self.with(|w| {
            if let Some((_, log)) = w.instances.get_mut(&id) {
                log.extend(lines.iter().map(|l| l.to_string()));
            }
        });
    }

    pub fn set_status(&self, id: u64, status: &str) {
        self.with(|w| {
            if let Some((row, _)) = w.instances.get_mut(&id) {
                row.actual_status = Some(status.into());
            }
        });
    }

    pub fn remove(&self, id: u64) {
        self.with(|w| w.instances.remove(&id));
    }

    /// The next calls to `endpoint` ("list", "logs", "stop", "destroy") fail with these errors.
    pub fn fail(&self, endpoint: &'static str, errors: impl IntoIterator<Item = ApiError>) {
        self.with(|w| w.failures.entry(endpoint).or_default().extend(errors));
    }

    /// A server that answers 429 (no Retry-After, like Vast) to any call that comes sooner than
    /// `1 / per_second` after the last one it accepted.
    pub fn limit_server(&self, per_second: f64) {
        self.with(|w| w.server_gap = Some(Duration::from_secs_f64(1.0 / per_second)));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.with(|w| w.calls.clone())
    }

    pub fn count(&self, endpoint: &str) -> usize {
        self.with(|w| w.calls.iter().filter(|c| c.endpoint == endpoint).count())
    }

    /// Every call: through the throttle, then the server's limit and any scripted failure. The
    /// throttle hears of 429s and successes as the real client tells it.
    async fn enter(
        &self,
        endpoint: &'static str,
        throttle: Endpoint,
        id: Option<u64>,
    ) -> Result<(), ApiError> {
        self.throttle.acquire(throttle).await;
        let now = Instant::now();
        let result = self.with(|w| {
            let too_soon = match (w.server_gap, w.last_accepted) {
                (Some(gap), Some(last)) => now.duration_since(last) < gap,
                _ => false,
            };
            w.calls.push(Call {
                at: now,
                endpoint,
                id,
                rate_limited: too_soon,
            });
            if too_soon {
                return Err(ApiError::RateLimited {
                    retry_after: None,
                    message: "API requests too frequent".into(),
                });
            }
            w.last_accepted = Some(now);
            match w.failures.get_mut(endpoint).and_then(VecDeque::pop_front) {
                Some(error) => Err(error),
                None => Ok(()),
            }
        });
        match &result {
            Err(ApiError::RateLimited { retry_after, .. }) => {
                self.throttle.note_rate_limited(*retry_after)
            }
            Err(_) => {}
            Ok(()) => self.throttle.note_success(),
        }
        result
    }
}

impl Api for FakeApi {
    async fn list_page(
        &self,
        _after: Option<String>,
        _ids: Option<Vec<u64>>,
    ) -> Result<ListPage, ApiError> {
        self.enter("list", Endpoint::List, None).await?;
        let instances = self.with(|w| w.instances.values().map(|(row, _)| row.clone()).collect());
        Ok(ListPage {
            instances,
            ..ListPage::default()
        })
    }

    async fn show(&self, id: u64) -> Result<Option<Instance>, ApiError> {
        self.enter("show", Endpoint::ShowOne, Some(id)).await?;
        Ok(self.with(|w| w.instances.get(&id).map(|(row, _)| row.clone())))
    }

    async fn logs(&self, id: u64, tail: u32) -> Result<Vec<String>, ApiError> {
        self.enter("logs", Endpoint::RequestLogs, Some(id)).await?;
        self.with(|w| match w.instances.get(&id) {
            Some((_, log)) => {
                let skip = log.len().saturating_sub(tail as usize);
                Ok(log[skip..].to_vec())
            }
            None => Err(ApiError::NotFound(format!("instance {id}"))),
        })
    }

    async fn stop(&self, id: u64) -> Result<(), ApiError> {
        self.enter("stop", Endpoint::SetState, Some(id)).await?;
        self.set_status(id, "stopped");
        Ok(())
    }

    async fn start(&self, id: u64) -> Result<(), ApiError> {
        self.enter("start", Endpoint::SetState, Some(id)).await?;
        self.set_status(id, "running");
        Ok(())
    }

    async fn destroy(&self, id: u64) -> Result<(), ApiError> {
        self.enter("destroy", Endpoint::Destroy, Some(id)).await?;
        self.remove(id);
        Ok(())
    }
}
