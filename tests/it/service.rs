//! Running under a service manager (issue 14, Operations): the key from a systemd credential,
//! the state in `StateDirectory=`, the lock file a clean exit leaves no trace of, the
//! `Type=notify` protocol and its watchdog, with the real binary against the simulator over
//! loopback.

mod credential;
mod lock;
mod notify;
mod state_dir;
mod unit;
