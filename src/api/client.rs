//! The HTTP implementation of [`super::Api`]: one shared `reqwest` client, the key only in an
//! `Authorization: Bearer` header, paths and query strings as the official client builds them,
//! and every call through the shared [`Throttle`] first.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use url::Url;

use super::classify::{classify, transport_error, CallSite};
use super::error::ClientBuildError;
use super::key::ApiKey;
use super::logs;
pub use super::logs::LogPollConfig;
use super::models::{ListPage, ShowOne};
use super::{body, scrub};
use super::{Api, ApiError, Instance, LogTail, PAGE_SIZE};
use crate::throttle::{Endpoint, Throttle};

const USER_AGENT: &str = concat!("vastfleet/", env!("CARGO_PKG_VERSION"));

/// Everything the client needs. Its `Debug` is safe to print: [`ApiKey`] hides the secret.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: String,
    pub key: ApiKey,
    /// The whole request, body included, for reads and quick writes.
    pub timeout: Duration,
    /// The same for the API's slow operations: request_logs (the host gathers the log first)
    /// and destroy. The official client allows 120 s "for slow operations like log
    /// retrieval"; giving up sooner on a destroy that is still being carried out would retry
    /// it, and a read that hangs that long is better retried than waited for.
    pub slow_timeout: Duration,
    pub connect_timeout: Duration,
    pub log_poll: LogPollConfig,
}

impl ClientConfig {
    /// A config with the default timeouts (30 s per request, 120 s for request_logs and
    /// destroy, 5 s to connect) and log polling.
    pub fn new(base_url: impl Into<String>, key: ApiKey) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            key,
            timeout: Duration::from_secs(30),
            slow_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(5),
            log_poll: LogPollConfig::default(),
        }
    }

    /// The timeout of one call to `endpoint`.
    pub fn timeout_for(&self, endpoint: Endpoint) -> Duration {
        match endpoint {
            Endpoint::RequestLogs | Endpoint::Destroy => self.slow_timeout,
            _ => self.timeout,
        }
    }
}

/// The Vast.ai REST client. Cheap to clone: clones share the HTTP connection pool and the
/// throttle.
#[derive(Clone)]
pub struct VastClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    /// `Bearer <key>`, marked sensitive so no HTTP-layer debug output shows it.
    auth: HeaderValue,
    key: ApiKey,
    throttle: Throttle,
    /// Timeouts and log polling, as configured.
    config: ClientConfig,
}

impl fmt::Debug for VastClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VastClient")
            .field("base", &self.inner.base.as_str())
            .field("key", &self.inner.key)
            .field("timeout", &self.inner.config.timeout)
            .field("slow_timeout", &self.inner.config.slow_timeout)
            .field("log_poll", &self.inner.config.log_poll)
            .finish_non_exhaustive()
    }
}

/// One API request, before it is sent.
struct Call {
    endpoint: Endpoint,
    /// The instance the call is about, for the throttle's log queue.
    instance: Option<u64>,
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
}

impl VastClient {
    pub fn new(config: ClientConfig, throttle: Throttle) -> Result<VastClient, ClientBuildError> {
        let base = parse_base(&config.base_url)?;
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", config.key.expose())).map_err(|_| {
                ClientBuildError::KeyNotSendable {
                    key_source: config.key.source.to_string(),
                }
            })?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(USER_AGENT)
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| ClientBuildError::Http(e.without_url().to_string()))?;
        Ok(VastClient {
            inner: Arc::new(Inner {
                http,
                base,
                auth,
                key: config.key.clone(),
                throttle,
                config,
            }),
        })
    }

    /// The throttle every call of this client goes through.
    pub fn throttle(&self) -> &Throttle {
        &self.inner.throttle
    }

    /// The timeouts and settings it was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Sends one call through the throttle and classifies the answer. The throttle hears about
    /// every 429 and every success here, so its fleet-wide cooldown covers all call paths.
    async fn call(&self, call: Call) -> Result<Value, ApiError> {
        let inner = &*self.inner;
        let key_source = inner.key.source.to_string();
        let site = CallSite {
            method: call.method.as_str(),
            path: &call.path,
            key_source: &key_source,
        };
        let url = endpoint_url(&inner.base, &call.path, &call.query)?;
        let went = match call.instance {
            Some(id) => inner.throttle.acquire_for(call.endpoint, id).await,
            None => inner.throttle.acquire(call.endpoint).await,
        };
        let mut request = inner
            .http
            .request(call.method.clone(), url)
            .timeout(inner.config.timeout_for(call.endpoint))
            .header(AUTHORIZATION, inner.auth.clone());
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        let outcome = match request.send().await {
            Err(e) => {
                if e.is_connect() {
                    inner.throttle.note_unsent(call.endpoint, went);
                }
                Err(transport_error(&site, e))
            }
            Ok(response) => {
                inner.throttle.note_answered(call.endpoint);
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                match body::read_capped(response, body::JSON_REPLY_CAP).await {
                    Ok(reply) => answer(
                        &site,
                        status,
                        retry_after.as_deref(),
                        &reply,
                        inner.key.expose(),
                    ),
                    Err(e) => Err(transport_error(&site, e)),
                }
            }
        };
        let outcome = inner.throttle.settle(call.endpoint, outcome);
        outcome.map_err(|e| self.scrub(e))
    }

    /// Servers sometimes echo request details back; make sure the key never rides along.
    fn scrub(&self, err: ApiError) -> ApiError {
        scrub_error(err, self.inner.key.expose())
    }

    async fn call_as<T: DeserializeOwned>(&self, call: Call) -> Result<T, ApiError> {
        let site = format!("{} {}", call.method, call.path);
        let value = self.call(call).await?;
        serde_json::from_value(value).map_err(|e| {
            ApiError::Transient(format!(
                "{site}: unexpected JSON shape ({})",
                json_category(&e)
            ))
        })
    }

    /// PUT `/api/v0/instances/reboot/{id}/`: the container restarts without losing its GPUs.
    /// Not part of [`Api`]: only the one-shot `reboot` command uses it. It shares the
    /// state-change budget (the same documented 1 s threshold), which can only be slower
    /// than the API allows, never faster.
    pub async fn reboot(&self, id: u64) -> Result<(), ApiError> {
        self.call(Call {
            endpoint: Endpoint::SetState,
            instance: Some(id),
            method: Method::PUT,
            path: format!("/api/v0/instances/reboot/{id}/"),
            query: Vec::new(),
            body: Some(json!({})),
        })
        .await
        .map(drop)
    }

    async fn set_state(&self, id: u64, state: &str) -> Result<(), ApiError> {
        self.call(Call {
            endpoint: Endpoint::SetState,
            instance: Some(id),
            method: Method::PUT,
            path: instance_path(id),
            query: Vec::new(),
            body: Some(json!({ "state": state })),
        })
        .await
        .map(drop)
    }
}

/// The caller's decision on one reply. The key is scrubbed from the body before anything reads
/// or quotes it (a quote cut inside the key would leave its start behind), then from the
/// error's text as a last net for what the transport itself said.
pub(crate) fn answer(
    site: &CallSite<'_>,
    status: u16,
    retry_after: Option<&str>,
    reply: &body::Capped,
    secret: &str,
) -> Result<Value, ApiError> {
    if reply.over {
        return Err(ApiError::Transient(format!(
            "{site}: HTTP {status} with a reply larger than {} MiB (not read further)",
            body::JSON_REPLY_CAP >> 20
        )));
    }
    let text = String::from_utf8_lossy(&reply.bytes);
    let text = scrub::scrub_body(&text, secret);
    classify(site, status, retry_after, &text, SystemTime::now())
        .map_err(|err| scrub_error(err, secret))
}

fn scrub_error(err: ApiError, secret: &str) -> ApiError {
    err.map_text(|text| scrub::scrub(&text, secret).into_owned())
}

/// A serde error's category, without quoting the (possibly large) input it saw.
fn json_category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "wrong types",
        serde_json::error::Category::Eof => "truncated",
    }
}

impl Api for VastClient {
    async fn list_page(
        &self,
        after_token: Option<String>,
        ids: Option<Vec<u64>>,
    ) -> Result<ListPage, ApiError> {
        self.call_as(Call {
            endpoint: Endpoint::List,
            instance: None,
            method: Method::GET,
            path: "/api/v1/instances/".to_owned(),
            query: list_query(after_token.as_deref(), ids.as_deref()),
            body: None,
        })
        .await
    }

    async fn show(&self, id: u64) -> Result<Option<Instance>, ApiError> {
        let reply: ShowOne = self
            .call_as(Call {
                endpoint: Endpoint::ShowOne,
                instance: Some(id),
                method: Method::GET,
                path: instance_path(id),
                query: vec![("owner", "me".to_owned())],
                body: None,
            })
            .await?;
        Ok(reply.instances)
    }

    async fn logs(&self, id: u64, tail: u32) -> Result<LogTail, ApiError> {
        let call = Call {
            endpoint: Endpoint::RequestLogs,
            instance: Some(id),
            method: Method::PUT,
            path: format!("/api/v0/instances/request_logs/{id}/"),
            query: Vec::new(),
            body: Some(logs::request_body(tail)),
        };
        let site = format!("{} {}", call.method, call.path);
        let reply = self.call(call).await?;
        let url = logs::result_url(&reply, &self.inner.base, &site)?;
        let inner = &*self.inner;
        let config = &inner.config;
        let cap = logs::body_cap(tail);
        let body =
            logs::fetch_result(&inner.http, &url, config.log_poll, config.timeout, cap).await?;
        // A job may print the key (an env dump); it is scrubbed like any reply.
        let text = scrub::scrub(&body.text, inner.key.expose());
        Ok(LogTail {
            lines: logs::split_lines(&text),
            cut: body.cut,
        })
    }

    async fn stop(&self, id: u64) -> Result<(), ApiError> {
        self.set_state(id, "stopped").await
    }

    async fn start(&self, id: u64) -> Result<(), ApiError> {
        self.set_state(id, "running").await
    }

    async fn destroy(&self, id: u64) -> Result<(), ApiError> {
        self.call(Call {
            endpoint: Endpoint::Destroy,
            instance: Some(id),
            method: Method::DELETE,
            path: instance_path(id),
            query: Vec::new(),
            body: Some(json!({})),
        })
        .await
        .map(drop)
    }
}

fn instance_path(id: u64) -> String {
    format!("/api/v0/instances/{id}/")
}

/// The v1 list's query: JSON-valued parameters are JSON-encoded, then URL-encoded, as the
/// official client does.
fn list_query(after_token: Option<&str>, ids: Option<&[u64]>) -> Vec<(&'static str, String)> {
    let mut query = vec![("limit", PAGE_SIZE.to_string())];
    if let Some(token) = after_token.filter(|t| !t.is_empty()) {
        query.push(("after_token", token.to_owned()));
    }
    if let Some(ids) = ids {
        query.push(("select_filters", json!({ "id": { "in": ids } }).to_string()));
    }
    query
}

fn endpoint_url(base: &Url, path: &str, query: &[(&str, String)]) -> Result<Url, ApiError> {
    let mut url =
        Url::parse(&format!("{}{path}", base.as_str().trim_end_matches('/'))).map_err(|e| {
            ApiError::Other {
                status: None,
                message: format!("cannot build the URL for {path}: {e}"),
            }
        })?;
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    Ok(url)
}

fn parse_base(raw: &str) -> Result<Url, ClientBuildError> {
    let invalid = |reason: &str| ClientBuildError::BaseUrl {
        url: scrub::display_url(raw),
        reason: reason.to_owned(),
    };
    let url = Url::parse(raw.trim()).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("only http:// and https:// are supported"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "credentials belong in VAST_API_KEY, not in the URL",
        ));
    }
    Ok(url)
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
