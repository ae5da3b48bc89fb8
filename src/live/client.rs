//! Reading a running watcher's live view over its Unix socket: how `top` and `status` find it
//! from the fleet file alone, and bounded `GET`s of its JSON. Never the API, never the key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use super::snapshot::{FleetSnapshot, LogView, VERSION};

/// A watcher answers from memory; one that takes longer than this is not answering.
const TIMEOUT: Duration = Duration::from_secs(3);
/// A snapshot of 100,000 instances stays far below this.
const MAX_BODY: usize = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// No watcher is running for this state file (no socket, or nobody behind it).
    #[error("nothing answers on {0}")]
    NotRunning(String),
    #[error("the watcher did not answer in time")]
    Timeout,
    #[error("the watcher answered {0}")]
    Status(hyper::StatusCode),
    #[error("unreadable answer from the watcher: {0}")]
    Invalid(String),
}

/// The socket of the watcher keeping `state_path`: the one its lock file names, else where a
/// watcher would put it.
pub fn locate(state_path: &Path) -> PathBuf {
    crate::state::recorded_socket(state_path).unwrap_or_else(|| super::socket_path(state_path))
}

/// One connection to a watcher's socket.
#[derive(Debug, Clone)]
pub struct LiveClient {
    socket: PathBuf,
}

impl LiveClient {
    pub fn new(socket: PathBuf) -> Self {
        LiveClient { socket }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The whole fleet.
    pub async fn fleet(&self) -> Result<FleetSnapshot, LiveError> {
        self.fleet_at("/v1/fleet").await
    }

    /// The fleet after `last`: only what changed since is sent, the rest taken from `last`
    /// (the whole fleet again when the answer does not fit it, e.g. the watcher restarted).
    pub async fn fleet_after(&self, last: &FleetSnapshot) -> Result<FleetSnapshot, LiveError> {
        let answer = self
            .fleet_at(&format!("/v1/fleet?since={}", last.seq))
            .await?;
        match last.merged(answer) {
            Some(snapshot) => Ok(snapshot),
            None => self.fleet().await,
        }
    }

    async fn fleet_at(&self, path: &str) -> Result<FleetSnapshot, LiveError> {
        let snapshot: FleetSnapshot = self.get_json(path).await?;
        if snapshot.version != VERSION {
            return Err(LiveError::Invalid(format!(
                "snapshot version {} (this vastfleet reads {VERSION}); use the watcher's own \
                 vastfleet binary",
                snapshot.version
            )));
        }
        Ok(snapshot)
    }

    pub async fn log(&self, id: u64) -> Result<LogView, LiveError> {
        self.get_json(&format!("/v1/instances/{id}/log")).await
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, LiveError> {
        let body = tokio::time::timeout(TIMEOUT, self.get(path))
            .await
            .map_err(|_| LiveError::Timeout)??;
        serde_json::from_slice(&body).map_err(|err| LiveError::Invalid(err.to_string()))
    }

    async fn get(&self, path: &str) -> Result<Bytes, LiveError> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|err| LiveError::NotRunning(format!("{} ({err})", self.socket.display())))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|err| LiveError::Invalid(err.to_string()))?;
        let driver = tokio::spawn(connection);
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, "vastfleet")
            .body(Empty::<Bytes>::new())
            .map_err(|err| LiveError::Invalid(err.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|err| LiveError::Invalid(err.to_string()))?;
        if !response.status().is_success() {
            driver.abort();
            return Err(LiveError::Status(response.status()));
        }
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|err| LiveError::Invalid(err.to_string()))?
            .to_bytes();
        driver.abort();
        Ok(body)
    }
}
