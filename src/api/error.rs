//! The one error type of every API call, shaped for the caller's decision (retry, wait,
//! give up on the instance, fix the key) rather than for the HTTP details.

use std::time::Duration;

/// What went wrong with an API call. Messages never contain the API key: the key only ever
/// travels in a header, and errors are built from status codes and response bodies.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// HTTP 429. `retry_after` is the server's `Retry-After` when it sent one.
    #[error("rate limited by the API{}: {message}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs_f64())).unwrap_or_default())]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    /// Worth retrying as is: 5xx, timeouts, refused or reset connections, bodies that are not
    /// the JSON the endpoint promises.
    #[error("temporary API failure: {0}")]
    Transient(String),
    /// The instance does not exist (any more).
    #[error("not found: {0}")]
    NotFound(String),
    /// The key was refused. `key_source` says where the key was read from, never the key.
    #[error("the API refused the key read from {key_source}: {message} (check the key with `vastai show user`, or set VAST_API_KEY)")]
    Unauthorized { key_source: String, message: String },
    /// Anything else (bad request, `success: false` with an unknown error, …).
    #[error("API error{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Other {
        status: Option<u16>,
        message: String,
    },
}

impl ApiError {
    /// The server's own wait, if it named one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn is_rate_limited(&self) -> bool {
        matches!(self, ApiError::RateLimited { .. })
    }
}
