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

    /// The same error with `f` applied to every human-readable text it carries; the client uses
    /// it to scrub the key from anything a server might have echoed back.
    pub(crate) fn map_text(self, f: impl Fn(String) -> String) -> Self {
        match self {
            ApiError::RateLimited {
                retry_after,
                message,
            } => ApiError::RateLimited {
                retry_after,
                message: f(message),
            },
            ApiError::Transient(message) => ApiError::Transient(f(message)),
            ApiError::NotFound(message) => ApiError::NotFound(f(message)),
            ApiError::Unauthorized {
                key_source,
                message,
            } => ApiError::Unauthorized {
                key_source,
                message: f(message),
            },
            ApiError::Other { status, message } => ApiError::Other {
                status,
                message: f(message),
            },
        }
    }
}

/// The client could not be built: bad input at start, so the program ends (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientBuildError {
    #[error("invalid API base URL {url:?}: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("the API key read from {key_source} contains characters that cannot be sent in an HTTP header")]
    KeyNotSendable { key_source: String },
    #[error("could not set up the HTTP client: {0}")]
    Http(String),
}
