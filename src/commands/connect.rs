//! Building the API client for a command: the key from where the official CLI keeps it, the
//! base URL by precedence, and the one throttle every call goes through.

use crate::api::client::ClientConfig;
use std::future::Future;
use std::time::Duration;

use crate::api::base_url::BaseUrl;
use crate::api::key::{self, ApiKey};
use crate::api::models::ListPage;
use crate::api::ApiError;
use crate::api::VastClient;
use crate::backoff::Backoff;
#[cfg(test)]
use crate::throttle::Endpoint;
use crate::throttle::{RateLimit, Throttle};
use crate::Fatal;

/// The API key, or exit 2 with where we looked and how to set one.
pub fn api_key() -> Result<ApiKey, Fatal> {
    key::resolve().map_err(|err| Fatal::input(err.to_string()))
}

/// A client for a one-shot command, under the default rate limit.
pub fn client(base: &BaseUrl) -> Result<VastClient, Fatal> {
    build(
        base.url.clone(),
        api_key()?,
        Throttle::new(RateLimit::default()),
    )
}

/// The failure of a one-shot command's call as its exit: a refused key is bad input (exit 2,
/// naming where the key was read from, never the key); a call that never reached a working
/// API names the URL and the setting it came from; anything else is a runtime failure.
pub fn failure(what: &str, target: &BaseUrl, err: ApiError) -> Fatal {
    match err {
        ApiError::Unauthorized { .. } => Fatal::input(format!("{what}: {err}")),
        ApiError::Transient(_) => Fatal::runtime(unreachable(what, target, &err)),
        _ => Fatal::runtime(format!("{what}: {err}")),
    }
}

/// "cannot …: the API at URL (from ORIGIN) did not answer as the API: …".
pub fn unreachable(what: &str, target: &BaseUrl, err: &ApiError) -> String {
    format!(
        "{what}: no working API at {} (from {}): {err}\n  help: check the URL, or set it with \
         --api-url, [api] url or VAST_URL",
        target.url, target.origin
    )
}

/// How long the start-up key check may take before watching starts anyway.
const KEY_CHECK_PATIENCE: Duration = Duration::from_secs(10);

/// The first page of the first status sweep, read before anything is watched: a key the API
/// refuses is bad input (exit 2), named by where it was read from. Anything else (an outage, a
/// 429, no answer in time) is left to the watch, which rides it out. The page read is handed
/// back so the sweep starts from it ([`crate::api::primed::Primed`]) and the check costs no
/// call of its own.
pub async fn refuse_bad_key<A: crate::api::Api>(api: &A) -> Result<Option<ListPage>, Fatal> {
    match tokio::time::timeout(KEY_CHECK_PATIENCE, api.list_page(None, None)).await {
        Ok(Err(err @ ApiError::Unauthorized { .. })) => {
            Err(Fatal::input(format!("cannot watch: {err}")))
        }
        Ok(Ok(page)) => Ok(Some(page)),
        Ok(Err(_)) | Err(_) => Ok(None),
    }
}

/// A client over an existing throttle, so the caller can watch its status.
pub fn build(base_url: String, key: ApiKey, throttle: Throttle) -> Result<VastClient, Fatal> {
    VastClient::new(ClientConfig::new(base_url, key), throttle)
        .map_err(|err| Fatal::input(format!("cannot use the API: {err}")))
}

/// Tries a one-shot command makes against 429s before a failure counts.
const ATTEMPTS: u32 = 5;
/// Tries against anything else worth retrying (nothing listening, DNS, an HTML page, 5xx):
/// a few quick ones, so a wrong URL is said within about 2 s instead of after a long silence.
const QUICK_ATTEMPTS: u32 = 4;
const QUICK_FIRST_WAIT: Duration = Duration::from_millis(250);

/// Runs `call` until it succeeds, retrying 429s a few times with backoff (the server's
/// `Retry-After` when longer) — a one-shot command shares the key's budget with any running
/// `watch`, so meeting a 429 is normal — and transient failures a few times quickly.
pub async fn patiently<T, F, Fut>(mut call: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
    let started = tokio::time::Instant::now();
    let mut attempt = 1;
    loop {
        match call().await {
            Err(err @ ApiError::RateLimited { .. }) if attempt < ATTEMPTS => {
                tokio::time::sleep(backoff.delay(attempt, 0.5, err.retry_after())).await;
            }
            Err(ApiError::Transient(_)) if attempt < QUICK_ATTEMPTS => {
                tokio::time::sleep(QUICK_FIRST_WAIT * 2u32.pow(attempt - 1)).await;
            }
            // The tries go in the message: "could not connect" once is a blip, four times over
            // two seconds is a wrong URL.
            Err(ApiError::Transient(message)) if attempt > 1 => {
                let tenths = (started.elapsed().as_millis() + 50) / 100;
                return Err(ApiError::Transient(format!(
                    "{message}; {attempt} tries in {}.{} s",
                    tenths / 10,
                    tenths % 10
                )));
            }
            result => return result,
        }
        attempt += 1;
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
        let started = tokio::time::Instant::now();
        let result: Result<(), _> = patiently(|| {
            calls += 1;
            async { Err(ApiError::Transient("connection refused".into())) }
        })
        .await;
        let Err(ApiError::Transient(message)) = result else {
            panic!("{result:?}")
        };
        assert_eq!(message, "connection refused; 4 tries in 1.8 s");
        assert_eq!(calls, QUICK_ATTEMPTS);
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(1750),
            "quick: a wrong URL is said within about 2 s"
        );
    }

    /// The quick retries go through the one-shot's real throttle: a call that never connected
    /// leaves no list gap behind, so they stay 1.75 s in all (the ceiling's burst of 4 holds
    /// them all). A call that got any answer still spaces the next by the gap.
    #[tokio::test(start_paused = true)]
    async fn quick_retries_of_calls_that_never_connected_skip_the_endpoint_gap() {
        let throttle = &Throttle::new(RateLimit::default());
        let started = tokio::time::Instant::now();
        let result: Result<(), _> = patiently(|| async move {
            let went = throttle.acquire(Endpoint::List).await;
            throttle.note_unsent(Endpoint::List, went);
            Err(ApiError::Transient("could not connect".into()))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(started.elapsed(), Duration::from_millis(1750));

        let throttle = &Throttle::new(RateLimit::default());
        let started = tokio::time::Instant::now();
        let result: Result<(), _> = patiently(|| async move {
            throttle.acquire(Endpoint::List).await;
            Err(ApiError::Transient("HTTP 502".into()))
        })
        .await;
        assert!(result.is_err());
        let gap = Duration::from_secs(1) + crate::throttle::GAP_MARGIN;
        assert_eq!(started.elapsed(), gap * 3);
    }

    #[test]
    fn the_target_names_the_setting_it_came_from() {
        let t = BaseUrl::resolve;
        let url = "http://127.0.0.1:9";
        assert_eq!(
            t(Some(url), Some("x"), Some("y")).origin.as_str(),
            "--api-url"
        );
        assert_eq!(
            t(None, Some(url), Some("y")).origin.as_str(),
            "[api] url in the fleet file"
        );
        assert_eq!(t(None, None, Some(url)).origin.as_str(), "VAST_URL");
        assert_eq!(t(None, None, None).origin.as_str(), "the default");
        let err = ApiError::Unauthorized {
            key_source: "environment variable VAST_API_KEY".into(),
            message: "HTTP 404: Invalid user key".into(),
        };
        assert_eq!(failure("cannot list", &t(None, None, None), err).code, 2);
        let err = ApiError::Transient("GET /api/v1/instances/: could not connect".into());
        let fatal = failure("cannot list", &t(Some(url), None, None), err);
        assert_eq!(fatal.code, 1);
        assert!(
            fatal
                .message
                .contains("http://127.0.0.1:9 (from --api-url)"),
            "{}",
            fatal.message
        );
    }
}
