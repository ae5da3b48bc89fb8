//! The session's helpers beside the fleet: the throttle reporter and the reloader (or, without
//! a fleet file, the SIGHUP answerer). They start with the session and stop right after the
//! monitors, before the stream ends.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::report_throttle;
use crate::config::Settings;
use crate::reload::{self, FleetFile};
use crate::report::event::Event;
use crate::service;
use crate::signals::Hangups;
use crate::throttle::Throttle;

pub struct Helpers {
    cancel: CancellationToken,
    reporter: JoinHandle<()>,
    reloader: JoinHandle<()>,
}

impl Helpers {
    /// Starts both on `tasks`; a reloaded fleet goes out on `settings`.
    pub fn start(
        throttle: &Throttle,
        file: Option<FleetFile>,
        settings: watch::Sender<Arc<Settings>>,
        events: &mpsc::Sender<Event>,
        service: &service::Handle,
        tasks: &TaskTracker,
    ) -> Helpers {
        let cancel = CancellationToken::new();
        let reporter = tasks.spawn(report_throttle(
            throttle.clone(),
            events.clone(),
            cancel.clone(),
        ));
        let hangups = Hangups::install(service.clone());
        let (events, stop) = (events.clone(), cancel.clone());
        let reloader = match file {
            Some(file) => reload::spawn(file, settings, events, hangups, stop, tasks),
            None => reload::spawn_without_file(events, hangups, stop, tasks),
        };
        Helpers {
            cancel,
            reporter,
            reloader,
        }
    }

    /// Stops both and waits for them: what they had to say is in the stream by then.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.reloader.await;
        let _ = self.reporter.await;
    }
}
