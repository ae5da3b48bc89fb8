//! Events and their two renderings (human, JSON), written by one task that owns stdout.

pub mod event;
