//! Building the API client for a command: the key from where the official CLI keeps it, the
//! base URL by precedence, and the one throttle every call goes through.

use crate::api::client::ClientConfig;
use crate::api::key::{self, ApiKey};
use crate::api::VastClient;
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
