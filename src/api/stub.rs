//! A canned [`Api`] for unit tests that need one without a clock or a network: show-one
//! answers what it was given (`None` for any other id), list calls are counted and answer an
//! empty page, and every other call succeeds with nothing. The integration tests' fake, with
//! a throttle and a world that changes, is `tests/it/fake.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use super::models::ListPage;
use super::{Api, ApiError, Instance, LogTail};

#[derive(Default)]
pub(crate) struct Stub {
    shows: BTreeMap<u64, Result<Option<Instance>, ApiError>>,
    /// How many list calls it answered.
    pub(crate) lists: AtomicU32,
}

impl Stub {
    /// Show-one finds these ids (rows with only the id).
    pub(crate) fn knowing(ids: &[u64]) -> Stub {
        let shows = ids
            .iter()
            .map(|&id| {
                let row = Instance {
                    id: Some(id),
                    ..Instance::default()
                };
                (id, Ok(Some(row)))
            })
            .collect();
        Stub {
            shows,
            ..Stub::default()
        }
    }

    /// Show-one of `id` fails with `error`.
    pub(crate) fn failing(mut self, id: u64, error: ApiError) -> Stub {
        self.shows.insert(id, Err(error));
        self
    }
}

impl Api for Stub {
    async fn list_page(
        &self,
        _after_token: Option<String>,
        _ids: Option<Vec<u64>>,
    ) -> Result<ListPage, ApiError> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        Ok(ListPage::default())
    }

    async fn show(&self, id: u64) -> Result<Option<Instance>, ApiError> {
        self.shows.get(&id).cloned().unwrap_or(Ok(None))
    }

    async fn logs(&self, _id: u64, _tail: u32) -> Result<LogTail, ApiError> {
        Ok(LogTail::default())
    }

    async fn stop(&self, _id: u64) -> Result<(), ApiError> {
        Ok(())
    }

    async fn start(&self, _id: u64) -> Result<(), ApiError> {
        Ok(())
    }

    async fn destroy(&self, _id: u64) -> Result<(), ApiError> {
        Ok(())
    }
}
