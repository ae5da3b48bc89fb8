//! The read-only HTTP face of the board: `GET /v1/fleet` (the snapshot), `GET /v1/events`
//! (the `--json` stream as Server-Sent Events, the recent past replayed first) and
//! `GET /v1/instances/ID/log` (one instance's recent lines). Served on a Unix socket beside the
//! state file, owner-only, and merged into the `--metrics` listener when there is one.
//! Nothing here calls the API or changes anything.

use std::convert::Infallible;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::Stream;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::UnixListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::board::{Board, Numbered};
use crate::report::json;

/// Unix socket paths are limited to about 108 bytes (`sun_path`); past this the socket goes to
/// the runtime directory under a name derived from the state file instead.
const MAX_SOCKET_PATH: usize = 100;

#[derive(Clone)]
struct Live {
    board: Board,
    cancel: CancellationToken,
}

/// The routes, for the Unix socket and for the metrics listener alike.
pub fn router(board: Board, cancel: CancellationToken) -> Router {
    Router::new()
        .route("/v1/fleet", get(fleet))
        .route("/v1/events", get(events))
        .route("/v1/instances/{id}/log", get(log))
        .with_state(Live { board, cancel })
}

#[derive(Debug, serde::Deserialize)]
struct FleetQuery {
    /// The `seq` of the reader's last answer: send only what changed since.
    since: Option<u64>,
}

async fn fleet(State(live): State<Live>, Query(query): Query<FleetQuery>) -> Response {
    let json = live.board.snapshot_json(SystemTime::now(), query.since);
    ([(header::CONTENT_TYPE, "application/json")], json).into_response()
}

async fn log(State(live): State<Live>, UrlPath(id): UrlPath<u64>) -> Response {
    match live.board.log(id) {
        Some(view) => Json(view).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            format!("instance {id} is not watched\n"),
        )
            .into_response(),
    }
}

#[derive(Debug, serde::Deserialize)]
struct EventsQuery {
    /// Only the events about this instance.
    instance: Option<u64>,
}

async fn events(
    State(live): State<Live>,
    Query(query): Query<EventsQuery>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let (replay, receiver) = live.board.subscribe();
    let stream = event_stream(replay, receiver, query.instance, live.cancel);
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The replay, then every new event, until the watcher stops. A reader too slow to keep up is
/// told how many events it missed (a `lagged` event) and carries on from the newest.
fn event_stream(
    replay: Vec<Numbered>,
    receiver: broadcast::Receiver<Numbered>,
    instance: Option<u64>,
    cancel: CancellationToken,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let wanted = move |numbered: &Numbered| match instance {
        Some(id) => numbered.1.kind.source().is_some_and(|s| s.id == id),
        None => true,
    };
    let replay = futures::stream::iter(replay.into_iter().filter(wanted).map(sse));
    let live = futures::stream::unfold(
        (receiver, cancel),
        move |(mut receiver, cancel)| async move {
            loop {
                let received = tokio::select! {
                    received = receiver.recv() => received,
                    _ = cancel.cancelled() => return None,
                };
                match received {
                    Ok(numbered) if wanted(&numbered) => {
                        return Some((sse(numbered), (receiver, cancel)))
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        let note = SseEvent::default()
                            .event("lagged")
                            .data(format!("{{\"missed\":{missed}}}"));
                        return Some((Ok(note), (receiver, cancel)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    futures::StreamExt::chain(replay, live)
}

fn sse((seq, event): Numbered) -> Result<SseEvent, Infallible> {
    Ok(SseEvent::default()
        .id(seq.to_string())
        .event(event.kind.name())
        .data(json::render(&event)))
}

/// Where the socket of the watcher keeping `state_path` lives: `<state file>.sock`, or, when
/// that path is too long for a socket, a name in the runtime directory derived from it.
pub fn socket_path(state_path: &Path) -> PathBuf {
    let mut beside = state_path.as_os_str().to_owned();
    beside.push(".sock");
    let beside = PathBuf::from(beside);
    if beside.as_os_str().len() <= MAX_SOCKET_PATH {
        return beside;
    }
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let absolute = std::path::absolute(state_path).unwrap_or_else(|_| state_path.to_path_buf());
    dir.join(format!(
        "vastfleet-{:016x}.sock",
        fnv1a(absolute.as_os_str().as_encoded_bytes())
    ))
}

/// A stable hash (the socket name must be the same in every process and every build).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Binds the socket, owner-only. A socket file left by a watcher that died is replaced: the
/// caller holds the state lock, so no live watcher can own it. Anything else at that path is
/// left alone and is an error.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a file that is not a socket is in the way",
            ))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves `router` on `listener` until `cancel`, then removes the socket file. A connection
/// from another user is closed unanswered: the mode already forbids it, and the peer check
/// also covers the moment between bind and chmod.
pub fn spawn(
    listener: UnixListener,
    path: PathBuf,
    router: Router,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) -> JoinHandle<()> {
    let connections = tasks.clone();
    tasks.spawn(async move {
        let owner = std::fs::metadata(&path).map(|m| m.uid()).ok();
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "live view socket: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = cancel.cancelled() => break,
            };
            let peer = stream.peer_cred().ok().map(|cred| cred.uid());
            if owner.is_none() || peer != owner {
                continue;
            }
            let service = TowerToHyperService::new(router.clone());
            let cancel = cancel.clone();
            connections.spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                tokio::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => {}
                    _ = cancel.cancelled() => {
                        connection.as_mut().graceful_shutdown();
                        let _ = connection.await;
                    }
                }
            });
        }
        let _ = std::fs::remove_file(&path);
    })
}
