//! The Vast.ai API as vastfleet uses it: typed models, one error type, the [`Api`] trait the
//! engine is written against, and the HTTP client that implements it.

pub mod client;
pub mod error;
pub mod key;
pub mod logs;
pub mod models;

use std::future::Future;

pub use client::VastClient;
pub use error::ApiError;
pub use models::Instance;

/// The API calls the watch engine needs. [`VastClient`] implements it over HTTP; tests of the
/// throttle and the monitor task implement it in memory so they can run on tokio's paused clock.
/// Every implementation that talks to a network must await the shared throttle on every call.
pub trait Api: Send + Sync + 'static {
    /// One page of the v1 list. `ids` narrows the page with `select_filters` (`id in [...]`).
    fn list_page(
        &self,
        after_token: Option<String>,
        ids: Option<Vec<u64>>,
    ) -> impl Future<Output = Result<models::ListPage, ApiError>> + Send;

    /// One instance, or `None` when the API says it no longer exists.
    fn show(&self, id: u64) -> impl Future<Output = Result<Option<Instance>, ApiError>> + Send;

    /// The last `tail` lines of the instance's log (the two-step request_logs protocol),
    /// split into lines without their line endings.
    fn logs(
        &self,
        id: u64,
        tail: u32,
    ) -> impl Future<Output = Result<Vec<String>, ApiError>> + Send;

    fn stop(&self, id: u64) -> impl Future<Output = Result<(), ApiError>> + Send;

    fn start(&self, id: u64) -> impl Future<Output = Result<(), ApiError>> + Send;

    fn destroy(&self, id: u64) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Every instance of the account (or just `ids`), following `next_token` to the last page.
    fn list_all(
        &self,
        ids: Option<Vec<u64>>,
    ) -> impl Future<Output = Result<Vec<Instance>, ApiError>> + Send {
        async move {
            let mut all = Vec::new();
            let mut token = None;
            loop {
                let page = self.list_page(token, ids.clone()).await?;
                all.extend(page.instances);
                match page.next_token.filter(|t| !t.is_empty()) {
                    Some(next) => token = Some(next),
                    None => return Ok(all),
                }
            }
        }
    }
}
