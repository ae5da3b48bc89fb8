//! One watch session, shared by `watch` and `demo`: the writer task, the state store, the fleet
//! supervisor, live reload and the throttle reporter, started together and stopped in order
//! (monitors, then the summary, then the writer drains) when the shutdown token fires.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::api::Api;
use crate::config::Settings;
use crate::fleet::{self, FleetContext};
use crate::monitor::machine::MachineOptions;
use crate::reload::{self, Prepare};
use crate::report::event::{Event, EventKind};
use crate::report::writer::{self, Writer};
use crate::state::{self, Opened, StateHandle};
use crate::throttle::Throttle;
use crate::Fatal;

/// Room for bursts of log lines without making monitors wait on a slow terminal.
const EVENT_QUEUE: usize = 4096;

/// Everything a session needs, validated by the command that builds it.
pub struct Session {
    pub settings: Settings,
    /// The fleet file and its current text, when live reload applies.
    pub reload: Option<(PathBuf, String, Prepare)>,
    pub state_path: Option<PathBuf>,
    pub writer: Writer,
    pub options: MachineOptions,
    /// The text after the summary: how to resume, how to destroy.
    pub resume_hint: String,
}

/// Runs until `shutdown` fires; exit status 0 after an orderly stop.
pub async fn run<A: Api>(
    api: Arc<A>,
    throttle: Throttle,
    session: Session,
    shutdown: CancellationToken,
) -> Result<(), Fatal> {
    let _lock = match &session.state_path {
        Some(path) => Some(state::acquire_lock(path).map_err(Fatal::input)?),
        None => None,
    };
    let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
    let output = writer::spawn_stdout(session.writer, events_rx);

    let state = match &session.state_path {
        Some(path) => {
            let (handle, opened) = StateHandle::open(path);
            let message = match opened {
                Opened::Fresh => None,
                Opened::Restored { instances } => Some(format!(
                    "resuming from {} ({instances} instances)",
                    path.display()
                )),
                Opened::Corrupt { reason, moved_to } => Some(format!(
                    "state file {} could not be trusted ({reason}); moved it to {} and started fresh",
                    path.display(),
                    moved_to.display()
                )),
            };
            if let Some(message) = message {
                let _ = events.send(Event::now(EventKind::Notice { message })).await;
            }
            handle
        }
        None => StateHandle::disabled(),
    };

    let inner = shutdown.child_token();
    let throttle_reporter = tokio::spawn(report_throttle(throttle, events.clone(), inner.clone()));
    let (settings_tx, settings_rx) = watch::channel(Arc::new(session.settings));
    let reloader = session.reload.map(|(path, text, prepare)| {
        reload::spawn(
            path,
            &text,
            prepare,
            settings_tx,
            events.clone(),
            inner.clone(),
        )
    });
    let ctx = FleetContext {
        api,
        events: events.clone(),
        state,
        options: session.options,
    };
    let summary = fleet::supervise(ctx, settings_rx, shutdown.clone()).await;

    inner.cancel();
    if let Some(reloader) = reloader {
        let _ = reloader.await;
    }
    let _ = throttle_reporter.await;
    let kind = EventKind::Shutdown {
        summary,
        resume: session.resume_hint,
    };
    let _ = events.send(Event::now(kind)).await;
    drop(events);
    let _ = output.await;
    Ok(())
}

/// Turns the throttle's changes of pace into fleet-level lines, once per change.
async fn report_throttle(
    throttle: Throttle,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
) {
    let mut changes = throttle.subscribe();
    let mut last_rate = changes.borrow_and_update().per_second;
    let mut cooling = false;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        let status = changes.borrow_and_update().clone();
        if (status.per_second - last_rate).abs() > f64::EPSILON {
            let reason = status.cooling_reason.clone().unwrap_or_else(|| {
                if status.per_second > last_rate {
                    "quiet period: raising the rate".to_string()
                } else {
                    "rate limited: lowering the rate".to_string()
                }
            });
            last_rate = status.per_second;
            let kind = EventKind::Throttle {
                per_second: status.per_second,
                reason,
            };
            let _ = events.send(Event::now(kind)).await;
        }
        let now_cooling = status.cooling_until.is_some();
        if now_cooling != cooling {
            cooling = now_cooling;
            let message = if cooling {
                "API rate limit hit: every call pauses until the cooldown ends".to_string()
            } else {
                "API cooldown over: calls resume".to_string()
            };
            let _ = events.send(Event::now(EventKind::Notice { message })).await;
        }
    }
}
