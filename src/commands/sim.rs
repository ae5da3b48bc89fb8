//! `vastfleet sim`: serve a scenario on 127.0.0.1 until Ctrl+C or SIGTERM.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};

use crate::cli::SimArgs;
use crate::sim::{Scenario, Simulator};
use crate::Fatal;

pub async fn run(args: SimArgs) -> Result<(), Fatal> {
    let mut scenario = match &args.scenario {
        Some(path) => Scenario::load(path).map_err(Fatal::input)?,
        None => Scenario::demo(),
    };
    if let Some(key) = args.key {
        if key.trim().is_empty() || key.chars().any(char::is_whitespace) {
            return Err(Fatal::input("--key: the simulator key must be one word"));
        }
        scenario.key = key;
    }
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let handle = Simulator::start_on(scenario, addr)
        .await
        .map_err(|err| Fatal::input(format!("cannot listen on {addr}: {err}")))?;
    let url = handle.url();
    // Listening for the stop before saying where we listen: a supervisor (or a test) that
    // reads the first line and sends SIGTERM at once must get a clean stop, not a kill.
    let stop = stop_signals();
    // The simulator's key opens nothing but this simulator, so printing it is fine. A closed
    // stdout (the reader only wanted the first line) must not stop the server.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {url}");
    let _ = writeln!(
        out,
        "point a client at it:  export VAST_URL={url} VAST_API_KEY={}",
        handle.key()
    );
    let _ = writeln!(
        out,
        "counters and request log: {url}/__sim/stats   (Ctrl+C to stop)"
    );
    drop(out);
    stop.await;
    handle.shutdown().await;
    Ok(())
}

/// Ctrl+C, or SIGTERM where there is one; both handlers are installed before this returns.
fn stop_signals() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                // Without a handler there is nothing to wait for but Ctrl+C; if even that
                // cannot be installed, stopping at once beats serving forever unstoppably.
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
