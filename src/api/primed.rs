//! An [`Api`] that answers the first first-page list call with a page already read: the one the
//! start-up key check fetched. Checking the key before watching then costs no call of its own —
//! the check *is* the first page of the first status sweep (issue 12: the extra call shifted
//! every request count and spent a list token the sweep needed).

use std::sync::{Mutex, PoisonError};

use super::models::ListPage;
use super::{Api, ApiError, Instance, LogTail};

pub struct Primed<A> {
    inner: A,
    first: Mutex<Option<ListPage>>,
}

impl<A> Primed<A> {
    /// `first` is the answer to `list_page(None, None)`, given once; every other call goes on.
    pub fn new(inner: A, first: Option<ListPage>) -> Self {
        Primed {
            inner,
            first: Mutex::new(first),
        }
    }

    fn take_first(&self) -> Option<ListPage> {
        self.first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl<A: Api> Api for Primed<A> {
    async fn list_page(
        &self,
        after_token: Option<String>,
        ids: Option<Vec<u64>>,
    ) -> Result<ListPage, ApiError> {
        if after_token.is_none() && ids.is_none() {
            if let Some(page) = self.take_first() {
                return Ok(page);
            }
        }
        self.inner.list_page(after_token, ids).await
    }

    async fn show(&self, id: u64) -> Result<Option<Instance>, ApiError> {
        self.inner.show(id).await
    }

    async fn logs(&self, id: u64, tail: u32) -> Result<LogTail, ApiError> {
        self.inner.logs(id, tail).await
    }

    async fn stop(&self, id: u64) -> Result<(), ApiError> {
        self.inner.stop(id).await
    }

    async fn start(&self, id: u64) -> Result<(), ApiError> {
        self.inner.start(id).await
    }

    async fn destroy(&self, id: u64) -> Result<(), ApiError> {
        self.inner.destroy(id).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::api::stub::Stub;

    #[tokio::test]
    async fn the_checked_page_is_the_first_sweeps_first_page_once() {
        let page = ListPage {
            next_token: Some("eyJwIjogMX0=".into()),
            instances: vec![Instance {
                id: Some(7),
                ..Instance::default()
            }],
            ..ListPage::default()
        };
        let api = Primed::new(Stub::default(), Some(page.clone()));
        let filtered = api.list_page(None, Some(vec![7])).await.unwrap();
        assert_eq!(
            filtered,
            ListPage::default(),
            "a filtered call is not the sweep's"
        );
        assert_eq!(api.list_page(None, None).await.unwrap(), page);
        assert_eq!(api.inner.lists.load(Ordering::SeqCst), 1);
        api.list_page(Some("t".into()), None).await.unwrap();
        api.list_page(None, None).await.unwrap();
        assert_eq!(
            api.inner.lists.load(Ordering::SeqCst),
            3,
            "later sweeps ask the API"
        );
    }
}
