//! A small API server of the tests' own that lies: it echoes the key, streams without end,
//! trickles, repeats its paging token, sends impossible numbers. Not the simulator's happy
//! paths: every behaviour here is one a real server (or a man in the middle) could show, and
//! each test asserts the exact outcome — alive, memory bounded, no key, no action, an event.

mod files;
mod numbers;
mod reads;
mod secrets;
mod waits;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::process::Command;

use crate::support;

/// A key long enough that any 6-character piece of it is unmistakable.
pub const KEY: &str = "H0st1leKEY-8f2c4e6a0b1d3f5e7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7";

/// What the server does on each endpoint. Defaults are honest.
#[derive(Clone)]
pub struct Script {
    /// The rows of the list endpoint, as raw JSON text of an array (so non-finite numbers
    /// and other things serde would refuse to write can be sent).
    pub rows: String,
    pub paging: Paging,
    pub logs_reply: LogsReply,
    pub log_body: LogBody,
    /// The list calls with these numbers (the first is 1) answer 429 with this `Retry-After`.
    pub list_429s: (std::ops::Range<u64>, &'static str),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// One page, no `next_token`.
    Single,
    /// Every page names the same `next_token` again.
    Repeat,
    /// Tokens a → b → a → b …
    Cycle,
    /// A new token every page, for ever, with `total_instances` claiming one row.
    Endless,
}

#[derive(Clone)]
pub enum LogsReply {
    /// `result_url` pointing at this server's `/logs/{id}`.
    Url,
    /// 200 with no `result_url` and a `msg` echoing the request's Authorization header.
    EchoAuth,
}

#[derive(Clone)]
pub enum LogBody {
    Text(String),
    /// An endless stream of lines.
    Endless,
    /// One byte a second.
    Trickle,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            rows: json!([running(1)]).to_string(),
            paging: Paging::Single,
            logs_reply: LogsReply::Url,
            log_body: LogBody::Text("boot\nworking\n".into()),
            list_429s: (0..0, ""),
        }
    }
}

/// An honest running row.
pub fn running(id: u64) -> Value {
    json!({
        "id": id, "actual_status": "running", "intended_status": "running",
        "dph_total": 0.5, "start_date": now_secs() - 60.0, "gpu_name": "RTX 4090", "num_gpus": 1
    })
}

pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[derive(Default)]
pub struct Seen {
    pub list_calls: u64,
    pub log_requests: u64,
    /// Every stop/start/destroy, as "METHOD id".
    pub actions: Vec<String>,
}

struct Server {
    script: Script,
    seen: Mutex<Seen>,
}

pub struct Hostile {
    pub url: String,
    server: Arc<Server>,
}

impl Hostile {
    pub async fn start(script: Script) -> Hostile {
        let server = Arc::new(Server {
            script,
            seen: Mutex::new(Seen::default()),
        });
        let app = Router::new()
            .route("/api/v1/instances/", get(list))
            .route("/api/v0/instances/request_logs/{id}/", put(request_logs))
            .route(
                "/api/v0/instances/{id}/",
                get(show).put(action).delete(action),
            )
            .route("/logs/{id}", get(log_body))
            .with_state(Arc::clone(&server));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Hostile { url, server }
    }

    pub fn seen<T>(&self, read: impl FnOnce(&Seen) -> T) -> T {
        read(&self.server.seen.lock().unwrap())
    }

    /// `vastfleet ARGS` in `dir` against this server, with the key in the environment.
    pub fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = support::command(dir, None, args);
        command.env("VAST_API_KEY", KEY).env("VAST_URL", &self.url);
        command
    }
}

type Shared = State<Arc<Server>>;

async fn list(
    State(server): Shared,
    query: axum::extract::Query<Vec<(String, String)>>,
) -> Response {
    let page = {
        let mut seen = server.seen.lock().unwrap();
        seen.list_calls += 1;
        seen.list_calls
    };
    let (storm, retry_after) = server.script.list_429s.clone();
    if storm.contains(&page) {
        return (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after)],
            r#"{"error": "rate_limit_exceeded", "msg": "slow down"}"#,
        )
            .into_response();
    }
    let after = query
        .0
        .iter()
        .find(|(k, _)| k == "after_token")
        .map(|(_, v)| v.clone());
    let (next, total) = match server.script.paging {
        Paging::Single => (Value::Null, 1),
        Paging::Repeat => (json!("same"), 1),
        Paging::Cycle => (
            json!(if after.as_deref() == Some("a") {
                "b"
            } else {
                "a"
            }),
            100,
        ),
        Paging::Endless => (json!(format!("t{page}")), 1),
    };
    let body = format!(
        r#"{{"success":true,"total_instances":{total},"next_token":{next},"instances":{}}}"#,
        server.script.rows
    );
    ([("content-type", "application/json")], body).into_response()
}

async fn show(UrlPath(id): UrlPath<u64>) -> Json<Value> {
    Json(json!({ "instances": running(id) }))
}

async fn action(
    State(server): Shared,
    method: axum::http::Method,
    UrlPath(id): UrlPath<u64>,
) -> Json<Value> {
    server
        .seen
        .lock()
        .unwrap()
        .actions
        .push(format!("{method} {id}"));
    Json(json!({ "success": true }))
}

async fn request_logs(
    State(server): Shared,
    headers: HeaderMap,
    UrlPath(id): UrlPath<u64>,
) -> Json<Value> {
    server.seen.lock().unwrap().log_requests += 1;
    match server.script.logs_reply {
        LogsReply::Url => Json(json!({ "success": true, "result_url": format!("/logs/{id}") })),
        LogsReply::EchoAuth => {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            // Padded so the 200-character quote limit falls inside the key.
            let msg = format!("{}request was: Authorization: {auth}", "p".repeat(160));
            Json(json!({ "success": true, "msg": msg }))
        }
    }
}

async fn log_body(State(server): Shared) -> Response {
    match &server.script.log_body {
        LogBody::Text(text) => text.clone().into_response(),
        LogBody::Endless => {
            let mut n = 0u64;
            let chunks = futures::stream::repeat_with(move || {
                n += 1;
                Ok::<_, std::io::Error>(Bytes::from(format!("{n:0>1023}\n")))
            });
            Body::from_stream(chunks).into_response()
        }
        LogBody::Trickle => {
            let bytes = futures::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), ()))
            });
            Body::from_stream(bytes).into_response()
        }
    }
}

/// No 6-character piece of [`KEY`] in `text`.
pub fn assert_no_key(text: &str, what: &str) {
    for start in 0..=KEY.len() - 6 {
        let piece = &KEY[start..start + 6];
        assert!(
            !text.contains(piece),
            "{what} holds key piece {piece:?}:\n{text}"
        );
    }
}

/// The resident memory of a process in kB, from /proc.
pub fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A fleet file watching instance 1 with short intervals.
pub fn fleet(dir: &Path, extra: &str) -> std::path::PathBuf {
    support::fleet_file(
        dir,
        &format!("[defaults]\ninterval = \"300ms\"\nmax_backoff = \"1s\"\n{extra}\n[[instance]]\nid = 1\n"),
    )
}
