//! The Vast.ai API as vastfleet uses it: typed models, one error type, the [`Api`] trait the
//! engine is written against, and the HTTP client that implements it.

pub mod base_url;
mod body;
mod classify;
pub mod client;
pub mod error;
pub mod key;
mod lenient_json;
pub mod logs;
pub mod models;
pub mod primed;
pub mod sanity;
pub mod scrub;
#[cfg(test)]
pub(crate) mod stub;

use std::future::Future;

/// One log snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogTail {
    pub lines: Vec<String>,
    /// The body was longer than its read cap and was cut after the last whole line inside it;
    /// the lines kept are the oldest of the snapshot.
    pub cut: bool,
}

impl From<Vec<String>> for LogTail {
    fn from(lines: Vec<String>) -> Self {
        LogTail { lines, cut: false }
    }
}

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
    fn logs(&self, id: u64, tail: u32) -> impl Future<Output = Result<LogTail, ApiError>> + Send;

    fn stop(&self, id: u64) -> impl Future<Output = Result<(), ApiError>> + Send;

    fn start(&self, id: u64) -> impl Future<Output = Result<(), ApiError>> + Send;

    fn destroy(&self, id: u64) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Every instance of the account (or just `ids`), following `next_token` to the last page
    /// — but never for ever: a token seen before (a repeat or a cycle) or more pages than the
    /// account's `total_instances` can fill ends the paging with what was read, and says so
    /// in [`Listing::stopped`] (issue 17: a repeating token was followed until memory ran out).
    fn list_all(
        &self,
        ids: Option<Vec<u64>>,
    ) -> impl Future<Output = Result<Listing, ApiError>> + Send {
        self.list_all_each(ids, |_| {})
    }

    /// [`Api::list_all`], handing each page's rows to `each` as the page arrives: a sweep of a
    /// thousand instances takes 40 pages (~42 s), and what a page says should not wait for the
    /// last one (issue 18), and a sweep of many pages is alive (the watchdog's beat) as long
    /// as its pages come. What the whole paging lacks is only known from its [`Listing`].
    fn list_all_each<F>(
        &self,
        ids: Option<Vec<u64>>,
        mut each: F,
    ) -> impl Future<Output = Result<Listing, ApiError>> + Send
    where
        F: FnMut(&[Instance]) + Send,
    {
        async move {
            let mut listing = Listing::default();
            let mut tokens = std::collections::HashSet::new();
            let mut token = None;
            let mut pages: u64 = 0;
            loop {
                let page = self.list_page(token, ids.clone()).await?;
                pages += 1;
                each(&page.instances);
                listing.instances.extend(page.instances);
                let Some(next) = page.next_token.filter(|t| !t.is_empty()) else {
                    return Ok(listing);
                };
                let most = most_pages(page.total_instances);
                let stop = if !tokens.insert(next.clone()) {
                    Some(format!("its next_token repeated after {pages} pages"))
                } else if pages >= most {
                    Some(format!(
                        "it offered more than the {most} pages its total_instances can fill"
                    ))
                } else {
                    None
                };
                if let Some(why) = stop {
                    listing.stopped = Some(format!(
                        "the instance list was read only in part: {why}; paging stopped there"
                    ));
                    return Ok(listing);
                }
                token = Some(next);
            }
        }
    }
}

/// Every row one paging of the list returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    pub instances: Vec<Instance>,
    /// Why paging stopped before the server's last page, when it did.
    pub stopped: Option<String>,
}

/// The v1 list's page size, which is also its maximum.
pub const PAGE_SIZE: u32 = 25;

/// With no `total_instances`, as many pages as 100,000 instances fill.
const MOST_PAGES_UNTOLD: u64 = 100_000 / PAGE_SIZE as u64;

/// The most pages a paging of `total` instances may take: full pages plus one spare (a row
/// added mid-paging).
fn most_pages(total: Option<u64>) -> u64 {
    total.map_or(MOST_PAGES_UNTOLD, |total| {
        total
            .div_ceil(u64::from(PAGE_SIZE))
            .saturating_add(1)
            .min(MOST_PAGES_UNTOLD)
    })
}
