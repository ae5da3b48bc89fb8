//! Building the API client for a command: the key from where the official CLI keeps it, the
//! base URL by precedence, and the one throttle every call goes through.

use crate::api::client::ClientConfig;
use std::future::Future;
use std::time::Duration;

use crate::api::key::{self, ApiKey};
use crate::api::ApiError;
use crate::api::VastClient;
use crate::backoff::Backoff;
use crate::throttle::{RateLimit, Throttle};
use crate::Fatal;

/// The API key, or exit 2 with where we looked and how to set one.
pub fn api_key() -> Result<ApiKey, Fatal> {
    key::resolve().map_err(|err| Fatal::input(err.to_string()))
}

/// A client for a one-shot command, under the default rate limit.
pub fn client(flag_url: Option<&str>, file_url: Option<&str>) -> Result<VastClient, Fatal> {
    let base_url = crate::api::client::resolve_base_url(flag_url, file_url);
    build(base_url, api_key()?, Throttle::new(RateLimit::default()))
}

/// A client over an existing throttle, so the caller can watch its status.
pub fn build(base_url: String, key: ApiKey, throttle: Throttle) -> Result<VastClient, Fatal> {
    VastClient::new(ClientConfig::new(base_url, key), throttle)
        .map_err(|err| Fatal::input(format!("cannot use the API: {err}")))
}

/// Tries a one-shot command makes before a failure counts.
const ATTEMPTS: u32 = 5;

/// Runs `call` until it succeeds, retrying 429s and transient failures a few times with
/// backoff (the server's `Retry-After` when longer). A one-shot command shares the key's budget
/// with any running `watch`, so its first call meeting a 429 is normal, not a failure.
pub async fn patiently<T, F, Fut>(mut call: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
    let mut attempt = 1;
    loop {
        match call().await {
            Err(err @ (ApiError::RateLimited { .. } | ApiError::Transient(_)))
                if attempt < ATTEMPTS =>
            {
                tokio::time::sleep(backoff.delay(attempt, 0.5, err.retry_after())).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rate_limits_are_waited_out_and_other_errors_are_not() {
        let started = tokio::time::Instant::now();
        let mut calls = 0;
        let result = patiently(|| {
            calls += 1;
            let answer = if calls < 3 {
                Err(ApiError::RateLimited {
                    retry_after: None,
                    message: "slow down".into(),
                })
            } else {
                Ok(calls)
            };
            async move { answer }
        })
        .await;
        assert_eq!(result.unwrap(), 3);
        assert_eq!(started.elapsed(), Duration::from_secs(3), "1 s, then 2 s");

        let mut calls = 0;
        let result: Result<(), _> = patiently(|| {
            calls += 1;
            async { Err(ApiError::NotFound("no such instance".into())) }
        })
        .await;
        assert!(matches!(result, Err(ApiError::NotFound(_))));
        assert_eq!(calls, 1);

        let mut calls = 0;
        let result: Result<(), _> = patiently(|| {
            calls += 1;
            async { Err(ApiError::Transient("502".into())) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, ATTEMPTS);
    }
}
