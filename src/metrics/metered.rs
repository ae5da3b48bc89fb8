//! An [`Api`] that counts every call into [`Metrics`] by endpoint and outcome, and feeds the
//! per-instance cost gauges from the status sweeps it already makes (no extra calls).

use std::time::{SystemTime, UNIX_EPOCH};

use super::Metrics;
use crate::api::models::ListPage;
use crate::api::{Api, ApiError, Instance, LogTail};

pub struct Metered<A> {
    inner: A,
    metrics: Metrics,
}

impl<A> Metered<A> {
    pub fn new(inner: A, metrics: Metrics) -> Self {
        Metered { inner, metrics }
    }

    fn record<T>(&self, endpoint: &str, result: &Result<T, ApiError>) {
        self.metrics.record_api_call(endpoint, outcome(result));
    }
}

/// The status label of a call: the HTTP status where the error class implies one.
fn outcome<T>(result: &Result<T, ApiError>) -> &'static str {
    match result {
        Ok(_) => "200",
        Err(ApiError::RateLimited { .. }) => "429",
        Err(ApiError::NotFound(_)) => "404",
        Err(ApiError::Unauthorized { .. }) => "401",
        Err(ApiError::Transient(_)) => "transient",
        Err(ApiError::Other { .. }) => "error",
    }
}

impl<A: Api> Api for Metered<A> {
    async fn list_page(
        &self,
        after_token: Option<String>,
        ids: Option<Vec<u64>>,
    ) -> Result<ListPage, ApiError> {
        let result = self.inner.list_page(after_token, ids).await;
        self.record("list", &result);
        if let Ok(page) = &result {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            for row in &page.instances {
                if let Some(id) = row.id {
                    self.metrics
                        .set_instance_cost(id, row.dph_total, row.spend_usd(now));
                }
            }
        }
        result
    }

    async fn show(&self, id: u64) -> Result<Option<Instance>, ApiError> {
        let result = self.inner.show(id).await;
        self.record("show", &result);
        result
    }

    async fn logs(&self, id: u64, tail: u32) -> Result<LogTail, ApiError> {
        let result = self.inner.logs(id, tail).await;
        self.record("request_logs", &result);
        result
    }

    async fn stop(&self, id: u64) -> Result<(), ApiError> {
        let result = self.inner.stop(id).await;
        self.record("stop", &result);
        result
    }

    async fn start(&self, id: u64) -> Result<(), ApiError> {
        let result = self.inner.start(id).await;
        self.record("start", &result);
        result
    }

    async fn destroy(&self, id: u64) -> Result<(), ApiError> {
        let result = self.inner.destroy(id).await;
        self.record("destroy", &result);
        result
    }
}
