//! Events and their two renderings (human, JSON), written by one task that owns stdout.

pub mod clock;
#[cfg(test)]
mod contract;
pub mod event;
pub mod filter;
pub mod human;
pub mod json;
pub(crate) mod message;
pub(crate) mod sanitize;
pub mod style;
pub(crate) mod summary;
pub mod words;
pub mod writer;

pub use filter::LineFilter;
pub use human::HumanOptions;
pub use writer::{spawn_into, EventSender, Format, Sink, Writer};
