//! Ctrl+C, SIGTERM and a closed stdout. The first asks for an orderly stop (summary, resume hint, exit 0); once
//! tokio owns the handler a second Ctrl+C would otherwise do nothing, so it means "exit now".

use tokio_util::sync::CancellationToken;

use crate::service::{Handle, Reloading};

/// Exit code for a second, impatient Ctrl+C (128 + SIGINT, as shells report it).
const EXIT_NOW: i32 = 130;

/// A token cancelled by the first Ctrl+C or SIGTERM, or when stdout's reader goes away
/// (`watch --json | head -1`): nobody is listening, so the orderly stop is the right end.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = first_signal() => {}
            () = crate::stdout::closed() => {}
        }
        trigger.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("vastfleet: second interrupt, exiting now");
            std::process::exit(EXIT_NOW);
        }
    });
    token
}

#[cfg(unix)]
async fn first_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            // A handler that failed to install disables its branch instead of firing it.
            tokio::select! {
                Ok(()) = tokio::signal::ctrl_c() => {}
                Some(()) = term.recv() => {}
            }
        }
        Err(_) => {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(not(unix))]
async fn first_signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// SIGHUP, the daemon convention (and systemd's `ExecReload=/bin/kill -HUP $MAINPID`) for
/// "read the configuration again". Installing it replaces the default action, which would end
/// the process: a hangup never stops a watch (a closed terminal shows as a closed stdout).
pub struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
    /// Told of each request (`RELOADING=1`) and of its answer (`READY=1`).
    service: Handle,
}

impl Hangups {
    /// Installs the handler now, so a SIGHUP from here on is a request and never a kill.
    pub fn install(service: Handle) -> Hangups {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let signal = signal(SignalKind::hangup())
                .inspect_err(|err| tracing::warn!("cannot listen for SIGHUP ({err})"))
                .ok();
            Hangups { signal, service }
        }
        #[cfg(not(unix))]
        Hangups { service }
    }

    /// The next SIGHUP, already told to the service manager; never, where there is no such
    /// signal or its handler failed. [`Reloading::done`] once it was answered.
    pub async fn recv(&mut self) -> Reloading {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal {
            if signal.recv().await.is_some() {
                return self.service.reloading();
            }
        }
        std::future::pending().await
    }
}
