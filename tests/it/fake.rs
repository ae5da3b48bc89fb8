//! The one in-memory Vast.ai for paused-clock tests: of the engine (feed, monitors, fleet) and of
//! the throttle on its own (`throttle.rs`).
//! Loopback tests use the real simulator instead; this fake exists only because tokio's paused
//! clock and real sockets do not mix.
//!
//! Like the real client, every call awaits the shared throttle first and reports its answer back
//! to it (a 429 starts the fleet-wide cooldown, a success resets its backoff). Calls take no
//! time, so "no call during a window" is exact. The fake can make instances print lines as time
//! passes, fail calls on script, and play a server whose real rate limit sits below what the
//! client was configured for.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;
use vastfleet::api::models::ListPage;
use vastfleet::api::{Api, ApiError, Instance};
use vastfleet::throttle::{Endpoint, Throttle};

/// The v1 list's page size.
const PAGE_SIZE: usize = 25;

/// One call the fake answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub at: Instant,
    /// "list", "show", "logs", "stop", "start" or "destroy".
    pub endpoint: &'static str,
    /// The throttle's lane the call went through.
    pub lane: Endpoint,
    /// The instance, or for "list" `None`.
    pub id: Option<u64>,
    /// For "list": which page (0 starts a sweep); for "logs": the tail asked for.
    pub arg: usize,
    pub answer: Answer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Ok,
    RateLimited,
    Failed,
}

/// An instance that prints a line every `every`, lazily: lines are written when someone looks.
struct Chatter {
    every: Duration,
    next: Instant,
    printed: u64,
}

struct Entry {
    row: Instance,
    log: Vec<String>,
    chatter: Option<Chatter>,
}

impl Entry {
    fn catch_up(&mut self, id: u64, now: Instant) {
        let Some(chatter) = &mut self.chatter else {
            return;
        };
        while chatter.next <= now {
            chatter.printed += 1;
            self.log.push(chatter_line(id, chatter.printed));
            chatter.next += chatter.every;
        }
    }
}

/// The `n`th line (from 1) a chatty instance prints.
pub fn chatter_line(id: u64, n: u64) -> String {
    format!("{id} step {n}")
}

/// A server-side token bucket over every call: more than `per_second` (beyond `burst`) is 429.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimit {
    pub per_second: f64,
    pub burst: f64,
    pub retry_after: Option<Duration>,
}

struct Bucket {
    limit: ServerLimit,
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    /// Claims a token; a refused call claims nothing.
    fn admit(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.limit.per_second).min(self.limit.burst);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A span in which every call to one endpoint is answered 429: a storm, or another client
/// on the same key spending that endpoint's budget.
struct Storm {
    endpoint: &'static str,
    from: Instant,
    until: Instant,
    retry_after: Option<Duration>,
}

#[derive(Default)]
struct World {
    instances: BTreeMap<u64, Entry>,
    failures: BTreeMap<&'static str, VecDeque<ApiError>>,
    limit: Option<Bucket>,
    storms: Vec<Storm>,
    calls: Vec<Call>,
}

#[derive(Clone)]
pub struct FakeApi {
    world: Arc<Mutex<World>>,
    pub throttle: Throttle,
    /// When the fake was made: the zero of [`FakeApi::times`].
    pub start: Instant,
}

impl FakeApi {
    pub fn new(throttle: Throttle) -> Self {
        FakeApi {
            world: Arc::default(),
            throttle,
            start: Instant::now(),
        }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }

    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// A running instance whose log holds `lines`.
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
        let entry = Entry {
            row,
            log,
            chatter: None,
        };
        self.world().instances.insert(id, entry);
    }

    /// A running instance that prints [`chatter_line`]s, one every `every` from now on.
    pub fn add_chatty(&self, id: u64, every: Duration) {
        self.add_running(id, &[]);
        if let Some(entry) = self.world().instances.get_mut(&id) {
            entry.chatter = Some(Chatter {
                every,
                next: Instant::now() + every,
                printed: 0,
            });
        }
    }

    /// The instance's whole log as of now.
    pub fn log(&self, id: u64) -> Vec<String> {
        let mut world = self.world();
        match world.instances.get_mut(&id) {
            Some(entry) => {
                entry.catch_up(id, Instant::now());
                entry.log.clone()
            }
            None => Vec::new(),
        }
    }

    pub fn print(&self, id: u64, lines: &[&str]) {
        if let Some(entry) = self.world().instances.get_mut(&id) {
            entry.log.extend(lines.iter().map(|l| l.to_string()));
        }
    }

    pub fn set_status(&self, id: u64, status: &str) {
        if let Some(entry) = self.world().instances.get_mut(&id) {
            entry.row.actual_status = Some(status.into());
        }
    }

    /// What the rows say of the GPU from now on (`gpu_util`, in percent).
    pub fn set_gpu(&self, id: u64, util: f64) {
        if let Some(entry) = self.world().instances.get_mut(&id) {
            entry.row.gpu_util = Some(util);
        }
    }

    pub fn status(&self, id: u64) -> Option<String> {
        let world = self.world();
        world.instances.get(&id)?.row.actual_status.clone()
    }

    pub fn remove(&self, id: u64) {
        self.world().instances.remove(&id);
    }

    /// The next calls to `endpoint` ("list", "logs", "stop", "destroy", …) fail with these.
    pub fn fail(&self, endpoint: &'static str, errors: impl IntoIterator<Item = ApiError>) {
        self.world()
            .failures
            .entry(endpoint)
            .or_default()
            .extend(errors);
    }

    /// From now on the server refuses calls beyond `limit` (starting with a full bucket).
    pub fn limit(&self, limit: ServerLimit) {
        self.world().limit = Some(Bucket {
            limit,
            tokens: limit.burst,
            updated: Instant::now(),
        });
    }

    /// Every call to `endpoint` from `from` to `until` (from now) is answered 429.
    pub fn storm(
        &self,
        endpoint: &'static str,
        from: Duration,
        until: Duration,
        retry_after: Option<Duration>,
    ) {
        let now = Instant::now();
        self.world().storms.push(Storm {
            endpoint,
            from: now + from,
            until: now + until,
            retry_after,
        });
    }

    pub fn calls(&self) -> Vec<Call> {
        self.world().calls.clone()
    }

    /// Every call as (lane, instance or 0 for the list, time since [`FakeApi::start`]).
    pub fn records(&self) -> Vec<(Endpoint, u64, Duration)> {
        let world = self.world();
        world
            .calls
            .iter()
            .map(|c| (c.lane, c.id.unwrap_or(0), c.at - self.start))
            .collect()
    }

    /// When each call through `lane` went, since [`FakeApi::start`], in order.
    pub fn times(&self, lane: Endpoint) -> Vec<Duration> {
        self.records()
            .into_iter()
            .filter(|(l, _, _)| *l == lane)
            .map(|(_, _, at)| at)
            .collect()
    }

    /// When every call went, since [`FakeApi::start`], sorted.
    pub fn all_times(&self) -> Vec<Duration> {
        let mut times: Vec<Duration> = self.records().into_iter().map(|c| c.2).collect();
        times.sort();
        times
    }

    /// The next call to `endpoint` is answered 429, with this `Retry-After`.
    pub fn answer_429(&self, endpoint: &'static str, retry_after: Option<Duration>) {
        self.fail(
            endpoint,
            [ApiError::RateLimited {
                retry_after,
                message: "API requests too frequent".into(),
            }],
        );
    }

    pub fn count(&self, endpoint: &str) -> usize {
        let world = self.world();
        world
            .calls
            .iter()
            .filter(|c| c.endpoint == endpoint)
            .count()
    }

    /// Every call goes through here: the throttle, then the server's limit, then the script.
    async fn enter(
        &self,
        endpoint: &'static str,
        lane: Endpoint,
        id: Option<u64>,
        arg: usize,
    ) -> Result<(), ApiError> {
        let now = match id {
            Some(id) => self.throttle.acquire_for(lane, id).await,
            None => self.throttle.acquire(lane).await,
        };
        let outcome = {
            let mut world = self.world();
            let storm = world
                .storms
                .iter()
                .find(|s| s.endpoint == endpoint && s.from <= now && now < s.until)
                .map(|s| s.retry_after);
            let admitted = match storm {
                Some(retry_after) => Err(retry_after),
                None => world.limit.as_mut().map_or(Ok(()), |bucket| {
                    if bucket.admit(now) {
                        Ok(())
                    } else {
                        Err(bucket.limit.retry_after)
                    }
                }),
            };
            let outcome = match admitted {
                Err(retry_after) => Err(ApiError::RateLimited {
                    retry_after,
                    message: "API requests too frequent".into(),
                }),
                Ok(()) => match world
                    .failures
                    .get_mut(endpoint)
                    .and_then(VecDeque::pop_front)
                {
                    Some(error) => Err(error),
                    None => Ok(()),
                },
            };
            let answer = match &outcome {
                Ok(()) => Answer::Ok,
                Err(ApiError::RateLimited { .. }) => Answer::RateLimited,
                Err(_) => Answer::Failed,
            };
            world.calls.push(Call {
                at: now,
                endpoint,
                lane,
                id,
                arg,
                answer,
            });
            outcome
        };
        // What the real client does after every answer.
        self.throttle.settle(lane, outcome)
    }
}

impl Api for FakeApi {
    async fn list_page(
        &self,
        after: Option<String>,
        _ids: Option<Vec<u64>>,
    ) -> Result<ListPage, ApiError> {
        let page: usize = after.as_deref().map_or(0, |t| t.parse().unwrap());
        self.enter("list", Endpoint::List, None, page).await?;
        let world = self.world();
        let start = page * PAGE_SIZE;
        let instances: Vec<Instance> = world
            .instances
            .values()
            .skip(start)
            .take(PAGE_SIZE)
            .map(|entry| entry.row.clone())
            .collect();
        let more = world.instances.len() > start + PAGE_SIZE;
        Ok(ListPage {
            instances,
            next_token: more.then(|| (page + 1).to_string()),
            ..ListPage::default()
        })
    }

    async fn show(&self, id: u64) -> Result<Option<Instance>, ApiError> {
        self.enter("show", Endpoint::ShowOne, Some(id), 0).await?;
        Ok(self.world().instances.get(&id).map(|e| e.row.clone()))
    }

    async fn logs(&self, id: u64, tail: u32) -> Result<vastfleet::api::LogTail, ApiError> {
        self.enter("logs", Endpoint::RequestLogs, Some(id), tail as usize)
            .await?;
        let mut world = self.world();
        let entry = world
            .instances
            .get_mut(&id)
            .ok_or_else(|| ApiError::NotFound(format!("instance {id}")))?;
        entry.catch_up(id, Instant::now());
        let skip = entry.log.len().saturating_sub(tail as usize);
        Ok(entry.log[skip..].to_vec().into())
    }

    async fn stop(&self, id: u64) -> Result<(), ApiError> {
        self.enter("stop", Endpoint::SetState, Some(id), 0).await?;
        self.set_status(id, "stopped");
        Ok(())
    }

    async fn start(&self, id: u64) -> Result<(), ApiError> {
        self.enter("start", Endpoint::SetState, Some(id), 0).await?;
        self.set_status(id, "running");
        Ok(())
    }

    async fn destroy(&self, id: u64) -> Result<(), ApiError> {
        self.enter("destroy", Endpoint::Destroy, Some(id), 0)
            .await?;
        self.remove(id);
        Ok(())
    }
}
