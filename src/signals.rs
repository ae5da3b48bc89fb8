//! Ctrl+C, SIGTERM and a closed stdout. The first asks for an orderly stop (summary, resume hint, exit 0); once
//! tokio owns the handler a second Ctrl+C would otherwise do nothing, so it means "exit now".

use tokio_util::sync::CancellationToken;

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
