//! The fleet file: its raw schema, the validated [`Settings`] everything downstream uses, and
//! comment-preserving edits for `add` / `remove`.

pub mod describe;
pub mod edit;
pub mod error;
mod layout;
pub mod read;
pub mod schema;
pub mod settings;
mod type_error;
mod validate;
mod values;

#[cfg(test)]
mod tests;

pub use error::{ConfigError, Location};
pub use settings::{
    ContractWarning, Discover, Guards, IdleGuard, InstanceSettings, Overrides, Policy, Settings,
};
pub use validate::check_label;
