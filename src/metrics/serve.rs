//! The scrape endpoint: `GET /metrics` renders the registry, `GET /healthz` answers whether
//! the status sweep is keeping up (see [`super::health`]), `GET /` says where to look.

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Metrics, CONTENT_TYPE};

/// What to tell the user who asked for `addr`: the endpoint has no authentication and also
/// serves the live view (labels, costs, log lines), so any address but loopback shares the
/// fleet with whoever can reach the machine.
pub fn exposure_warning(addr: SocketAddr) -> Option<String> {
    (!addr.ip().is_loopback()).then(|| {
        format!(
            "vastfleet: warning: --metrics {addr} is reachable from other machines, without \
             authentication: anyone who can connect reads the fleet's metrics, statuses and \
             log lines\n  help: use --metrics 127.0.0.1:{port} unless that is what you want \
             (or put a reverse proxy with authentication in front)",
            port = addr.port()
        )
    })
}

/// Binds `addr` and serves until `cancel` fires. Binding happens before this returns, so a
/// taken port is a start-up error the caller can report, and port 0 yields the real address.
/// `extra` routes (the live view's `/v1/...`) are served beside `/metrics`. The server runs on
/// `tasks`.
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    extra: Option<Router>,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(healthz))
        .route("/", get(hint))
        .with_state(metrics);
    let app = match extra {
        Some(extra) => app.merge(extra),
        None => app,
    };
    let task = tasks.spawn(async move {
        let shutdown = async move { cancel.cancelled().await };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(%error, "the metrics endpoint stopped");
        }
    });
    Ok((bound, task))
}

async fn scrape(State(metrics): State<Metrics>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render())
}

/// 200 or 503 with one line of reason, for a load balancer, a Kubernetes probe or a
/// blackbox exporter; none of them needs to parse the metrics for it.
async fn healthz(State(metrics): State<Metrics>) -> impl IntoResponse {
    let health = metrics.health();
    let status = match health.is_ok() {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        health.message() + "\n",
    )
}

async fn hint() -> &'static str {
    "vastfleet: Prometheus metrics are at /metrics, health at /healthz\n"
}
