//! The HTTP face of the simulator: axum routes for every path of vast-api.md §2 (with and
//! without the trailing slash), and the one pipeline each call goes through — faults, auth,
//! rate limits, the endpoint itself, then the counters and the request log.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put, MethodRouter};
use axum::Router;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::control::{Gauges, GaugesRefused, SimControl};
use super::faults::Fault;
use super::reply::{fault_response, json_response, s3_not_ready, text_response, too_many, ApiFail};
use super::results::Fetch;
use super::scenario::Action;
use super::stats::RequestRecord;
use super::world::World;

/// Request bodies above this are refused (the API's are a few bytes).
const MAX_BODY: usize = 1 << 20;
/// The request log keeps this much of each body.
const MAX_LOGGED_BODY: usize = 4096;

/// State shared by the handlers, the handle and `SimControl`.
#[derive(Debug)]
pub(crate) struct Shared {
    world: Mutex<World>,
    pub addr: SocketAddr,
}

pub(crate) type Sim = Arc<Shared>;

impl Shared {
    pub fn new(world: World, addr: SocketAddr) -> Sim {
        Arc::new(Shared {
            world: Mutex::new(world),
            addr,
        })
    }

    /// The world, even if a panicking thread poisoned the lock (its state is still usable:
    /// every mutation leaves it consistent).
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What an endpoint gets to work with.
struct Call {
    now: Instant,
    body: Value,
    query: String,
    base: String,
}

fn parse_id(id: &str) -> Result<u64, ApiFail> {
    id.parse()
        .map_err(|_| ApiFail::new(404, "invalid_id", format!("Invalid instance id {id:?}.")))
}

fn reply(result: Result<Value, ApiFail>) -> Response {
    match result {
        Ok(value) => json_response(200, &value),
        Err(fail) => fail.into_response(),
    }
}

/// Registers `route` with and without its trailing slash.
fn both(router: Router<Sim>, route: &str, methods: MethodRouter<Sim>) -> Router<Sim> {
    router
        .route(route, methods.clone())
        .route(&format!("{route}/"), methods)
}

pub(crate) fn router(sim: Sim) -> Router {
    let mut r = Router::new();
    r = both(r, "/api/v1/instances", get(list));
    r = both(
        r,
        "/api/v0/instances",
        get(list_v0).put(bulk_state).delete(bulk_destroy),
    );
    r = both(r, "/api/v0/instances/filters", get(filters));
    r = both(
        r,
        "/api/v0/instances/{id}",
        get(show).put(set_state).delete(destroy),
    );
    r = both(r, "/api/v0/instances/request_logs/{id}", put(request_logs));
    r = both(r, "/api/v0/instances/reboot/{id}", put(reboot));
    r = both(r, "/api/v0/instances/recycle/{id}", put(recycle));
    r = both(r, "/api/v0/instances/command/{id}", put(execute));
    r = both(r, "/api/v0/users/current", get(current_user));
    r.route("/__s3/{folder}/{name}", get(log_result))
        .route("/__sim/stats", get(stats))
        .route("/__sim/gauges/{id}", put(set_gauges))
        .fallback(unknown)
        .with_state(sim)
}

async fn list(State(sim): State<Sim>, req: Request) -> Response {
    serve(sim, "list", true, req, |w, c| {
        reply(w.list(&c.query, c.now))
    })
    .await
}

async fn list_v0(State(sim): State<Sim>, req: Request) -> Response {
    serve(sim, "list_v0", true, req, |w, c| reply(w.list_v0(c.now))).await
}

/// The distinct (status, verification, GPU) combinations the CLI offers as filters.
async fn filters(State(sim): State<Sim>, req: Request) -> Response {
    serve(sim, "filters", true, req, |w, c| {
        reply(Ok(w.filters(c.now)))
    })
    .await
}

async fn show(State(sim): State<Sim>, Path(id): Path<String>, req: Request) -> Response {
    serve(sim, "show", true, req, move |w, c| {
        reply(parse_id(&id).and_then(|id| w.show(id, c.now)))
    })
    .await
}

async fn set_state(State(sim): State<Sim>, Path(id): Path<String>, req: Request) -> Response {
    serve(sim, "set_state", true, req, move |w, c| {
        reply(parse_id(&id).and_then(|id| w.set_state(id, &c.body, c.now)))
    })
    .await
}

async fn destroy(State(sim): State<Sim>, Path(id): Path<String>, req: Request) -> Response {
    serve(sim, "destroy", true, req, move |w, _| {
        reply(parse_id(&id).and_then(|id| w.destroy(id)))
    })
    .await
}

async fn bulk_state(State(sim): State<Sim>, req: Request) -> Response {
    serve(sim, "bulk", true, req, |w, c| {
        reply(w.bulk_state(&c.body, c.now))
    })
    .await
}

async fn bulk_destroy(State(sim): State<Sim>, req: Request) -> Response {
    serve(sim, "bulk", true, req, |w, c| {
        reply(w.bulk_destroy(&c.body))
    })
    .await
}

async fn reboot(State(sim): State<Sim>, Path(id): Path<String>, req: Request) -> Response {
    serve(sim, "reboot", true, req, move |w, c| {
        reply(parse_id(&id).and_then(|id| w.restart(id, Action::Reboot, c.now)))
    })
    .await
}

async fn recycle(State(sim): State<Sim>, Path(id): Path<String>, req: Request) -> Response {
    serve(sim, "recycle", true, req, move |w, c| {
        reply(parse_id(&id).and_then(|id| w.restart(id, Action::Recycle, c.now)))
    })
    .await
}

async fn request_logs(State(sim): State<Sim>, Path(id): Path<String>, req: Request) -> Response {
    serve(sim, "request_logs", true, req, move |w, c| {
        let id = parse_id(&id).map_err(|_| ApiFail::new(404, "invalid_id", "Invalid instance id."));
        reply(id.and_then(|id| w.request_logs(id, &c.body, &c.base, c.now)))
    })
    .await
}

async fn execute(State(sim): State<Sim>, Path(id): Path<String>, req: Request) -> Response {
    serve(sim, "execute", true, req, move |w, c| {
        reply(parse_id(&id).and_then(|id| w.execute(id, &c.body, &c.base, c.now)))
    })
    .await
}

/// The account; the official CLI reads it once to learn whether the user is a host.
async fn current_user(State(sim): State<Sim>, req: Request) -> Response {
    serve(sim, "user", true, req, |_, _| {
        reply(Ok(json!({
            "id": 424242,
            "username": "sim-user",
            "email": "sim-user@example.com",
            "fullname": "Simulated User",
            "credit": 100.0,
            "balance": 0.0,
            "host_agreement_accepted": false,
            "has_billing": true,
        })))
    })
    .await
}

/// The fake S3 object: no auth, no rate limit.
async fn log_result(
    State(sim): State<Sim>,
    Path((folder, name)): Path<(String, String)>,
    req: Request,
) -> Response {
    serve(sim, "log_result", false, req, move |w, c| {
        match w.results.fetch(&format!("{folder}/{name}"), c.now) {
            Fetch::Ready(text) => text_response(200, "text/plain; charset=utf-8", text),
            Fetch::NotReady => s3_not_ready(w.logs.not_ready_status),
            Fetch::Missing => s3_not_ready(404),
        }
    })
    .await
}

async fn stats(State(sim): State<Sim>) -> Response {
    let snapshot = sim.world().stats.snapshot();
    axum::Json(snapshot).into_response()
}

/// `SimControl::set_gauges` over HTTP, for a simulator in another process (`vastfleet sim`):
/// not an API call, so neither counted nor limited.
async fn set_gauges(State(sim): State<Sim>, Path(id): Path<String>, body: Bytes) -> Response {
    let gauges: Gauges = match serde_json::from_slice(&body) {
        Ok(gauges) => gauges,
        Err(err) => return ApiFail::invalid_args(format!("gauges: {err}")).into_response(),
    };
    let result = parse_id(&id).and_then(|id| {
        SimControl { sim }
            .set_gauges(id, gauges)
            .map_err(|refused| match refused {
                GaugesRefused::NoInstance => ApiFail::no_such_instance(id),
                GaugesRefused::Invalid(why) => ApiFail::invalid_args(why),
            })
    });
    reply(result.map(|()| json!({ "success": true })))
}

async fn unknown(State(sim): State<Sim>, req: Request) -> Response {
    serve(sim, "other", false, req, |_, _| {
        ApiFail::new(
            404,
            "not_found",
            "The requested resource was not found on this server.",
        )
        .into_response()
    })
    .await
}

/// The key the request carries: the bearer header, else `?api_key=`.
fn presented_keys(headers: &HeaderMap, query: &str) -> Vec<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim().to_owned());
    let param = url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "api_key")
        .map(|(_, key)| key.into_owned());
    bearer.into_iter().chain(param).collect()
}

fn record_headers(headers: &HeaderMap, key: &str) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let text = value.to_str().unwrap_or("<binary>");
            let shown = if name == header::AUTHORIZATION && text != format!("Bearer {key}") {
                "<other>".to_owned()
            } else {
                text.to_owned()
            };
            (name.as_str().to_owned(), shown)
        })
        .collect()
}

/// The pipeline of every call: faults, auth, limits, the endpoint, the record.
async fn serve<F>(sim: Sim, endpoint: &'static str, auth: bool, req: Request, op: F) -> Response
where
    F: FnOnce(&mut World, &Call) -> Response + Send,
{
    let arrived = Instant::now();
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_default();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let method = parts.method.clone();

    let (faults, gap) = {
        let mut world = sim.world();
        (
            world.faults.take(endpoint, arrived),
            world.limiter.config.gaps.get(endpoint),
        )
    };
    let delay: Duration = faults
        .iter()
        .filter_map(|f| match f {
            Fault::Slow(d) => Some(*d),
            _ => None,
        })
        .sum();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let faulted = faults.iter().find_map(|f| fault_response(f, endpoint, gap));
    let response = match faulted {
        Some(response) => response,
        None => {
            let host = parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok());
            let base = format!(
                "http://{}",
                host.map_or_else(|| sim.addr.to_string(), str::to_owned)
            );
            handle(
                &sim,
                endpoint,
                auth,
                &parts.headers,
                &method,
                query.clone(),
                &bytes,
                base,
                op,
            )
        }
    };

    let is_drop = faults.contains(&Fault::DropConnection);
    let mut world = sim.world();
    let record = RequestRecord {
        at_ms: arrived
            .saturating_duration_since(world.clock.start)
            .as_millis() as u64,
        method: method.to_string(),
        endpoint: endpoint.to_owned(),
        path: parts.uri.path().to_owned(),
        query,
        headers: record_headers(&parts.headers, &world.key),
        body: String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_LOGGED_BODY)]).into_owned(),
        status: if is_drop {
            0
        } else {
            response.status().as_u16()
        },
    };
    world.stats.record(record);
    response
}

#[allow(clippy::too_many_arguments)]
fn handle<F>(
    sim: &Sim,
    endpoint: &'static str,
    auth: bool,
    headers: &HeaderMap,
    method: &Method,
    query: String,
    bytes: &Bytes,
    base: String,
    op: F,
) -> Response
where
    F: FnOnce(&mut World, &Call) -> Response,
{
    let now = Instant::now();
    let mut world = sim.world();
    if auth {
        let keys = presented_keys(headers, &query);
        let Some(key) = keys.into_iter().find(|k| *k == world.key) else {
            let status = world.switches.auth_error_status;
            return ApiFail::new(status, "auth_error", "Invalid user key").into_response();
        };
        if let Err(refusal) = world.limiter.check(&key, endpoint, method.as_str(), now) {
            let config = &world.limiter.config;
            let retry_after = config.sends_retry_after().then_some(refusal.wait);
            return too_many(refusal.threshold, config.json_body, retry_after);
        }
    }
    let body = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(bytes) {
            Ok(value) => value,
            Err(err) => {
                return ApiFail::invalid_args(format!("The body is not valid JSON: {err}"))
                    .into_response()
            }
        }
    };
    world.advance(now);
    op(
        &mut world,
        &Call {
            now,
            body,
            query,
            base,
        },
    )
}
