//! The watcher's live view (issue 15): its own state, read-only, for `top`, `status` and
//! scripts, without a single extra API call. [`Board`] folds the event stream into the state;
//! `serve` puts it on a Unix socket beside the state file (and the `--metrics` listener);
//! `client` finds and reads it; [`snapshot`] is the one data model both sides share.

pub mod board;
pub mod client;
mod encode;
pub mod serve;
pub mod snapshot;

pub use board::{Board, Sources, RECENT_LINES};
pub use client::{LiveClient, LiveError};
pub use serve::{router, socket_path};
pub use snapshot::FleetSnapshot;

#[cfg(test)]
mod since_tests;
#[cfg(test)]
mod tests;
