//! The fleet file: its raw schema, the validated [`Settings`] everything downstream uses, and
//! comment-preserving edits for `add` / `remove`.

pub mod edit;
pub mod schema;
pub mod settings;

pub use settings::{InstanceSettings, Policy, Settings};
