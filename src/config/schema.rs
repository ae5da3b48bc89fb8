//! Serde structs that mirror the fleet file exactly (`deny_unknown_fields`). Every value the
//! validator checks is [`Spanned`], so a semantic error can name its line and column.
//! Durations stay strings here and integers stay `i64` (TOML's own integer), so a bad value
//! gets our message with the valid range instead of a serde type error.

use serde::Deserialize;
pub use toml::Spanned;

use crate::report::event::ActionKind;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    pub api: Option<ApiFile>,
    pub defaults: Option<PolicyFile>,
    #[serde(default)]
    pub instance: Vec<Spanned<InstanceFile>>,
    pub discover: Option<Spanned<DiscoverFile>>,
    #[serde(default)]
    pub notify: Vec<Spanned<NotifyFile>>,
    pub budget: Option<BudgetFile>,
}

/// `[budget]`: fleet-wide cost alerts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetFile {
    /// $/hr the running fleet may burn.
    pub max_dph: Option<Spanned<f64>>,
    /// Dollars the fleet may have spent (the sum of each instance's estimate).
    pub max_spend: Option<Spanned<f64>>,
}

/// `[api]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFile {
    pub url: Option<Spanned<String>>,
    pub rate_limit: Option<RateLimitFile>,
    /// How long every API call may fail before the fleet counts as "API down" (a notify event).
    /// It lives in `[api]` because it is about the API, not about one instance.
    pub api_down_after: Option<Spanned<String>>,
    /// The longest `Retry-After` (or JSON `retry_after`) honoured; a longer demand waits this.
    pub max_retry_after: Option<Spanned<String>>,
    /// Who fetches logs next (issue 18): `signals` (default) or `round-robin`.
    pub log_order: Option<LogOrderFile>,
}

/// `[api] log_order` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogOrderFile {
    Signals,
    RoundRobin,
}

/// `[api] rate_limit = { per_second, burst }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitFile {
    pub per_second: Option<Spanned<f64>>,
    pub burst: Option<Spanned<i64>>,
}

/// `what to do` values of `on_complete`, `on_failure`, `on_exit` and `on_guard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnAction {
    None,
    Stop,
    Destroy,
}

impl OnAction {
    pub fn action(self) -> Option<ActionKind> {
        match self {
            OnAction::None => None,
            OnAction::Stop => Some(ActionKind::Stop),
            OnAction::Destroy => Some(ActionKind::Destroy),
        }
    }
}

/// `idle = { gpu_util_below = 5, for = "20m" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdleFile {
    pub gpu_util_below: Spanned<f64>,
    #[serde(rename = "for")]
    pub for_: Spanned<String>,
}

/// Declares `[defaults]` and `[[instance]]` from one list of policy keys, so the two tables
/// can never drift apart, and gives an instance a way to hand its policy part to the merge.
macro_rules! policy_tables {
    ($($(#[$doc:meta])* $field:ident: $ty:ty,)*) => {
        /// `[defaults]`, and the policy part of an `[[instance]]`. Every key is optional.
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct PolicyFile {
            $($(#[$doc])* pub $field: Option<$ty>,)*
        }

        /// One `[[instance]]`: the id, an optional label, and any policy key of `[defaults]`.
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct InstanceFile {
            pub id: Spanned<i64>,
            pub label: Option<Spanned<String>>,
            $($(#[$doc])* pub $field: Option<$ty>,)*
        }

        impl InstanceFile {
            /// The instance's own policy keys, for merging over `[defaults]`.
            pub fn take_policy(&mut self) -> PolicyFile {
                PolicyFile { $($field: self.$field.take(),)* }
            }
        }
    };
}

policy_tables! {
    /// Poll period, e.g. "5s".
    interval: Spanned<String>,
    /// Cap of the error backoff.
    max_backoff: Spanned<String>,
    /// Log lines requested per poll.
    tail: Spanned<i64>,
    /// Existing log lines shown when watching starts.
    history: Spanned<i64>,
    /// Regex; a new match is a completion.
    completion: Spanned<String>,
    /// Regex; the first match at or after the completion line is the result URL.
    result: Spanned<String>,
    on_complete: Spanned<OnAction>,
    /// Regex; a new match is a failed job.
    failure: Spanned<String>,
    on_failure: Spanned<OnAction>,
    /// What to do when the container leaves `running` for `exited` while meant to run.
    on_exit: Spanned<OnAction>,
    max_runtime: Spanned<String>,
    max_cost: Spanned<f64>,
    idle: Spanned<IdleFile>,
    stuck: Spanned<String>,
    silent: Spanned<String>,
    destroy_after_stop: Spanned<String>,
    contract_warning: Spanned<String>,
    on_guard: Spanned<OnAction>,
}

/// `[discover]`: also watch account instances the file does not list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverFile {
    pub all: Option<Spanned<bool>>,
    pub label: Option<Spanned<String>>,
}

/// One `[[notify]]` webhook.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyFile {
    pub url: Spanned<String>,
    pub events: Option<Spanned<Vec<Spanned<String>>>>,
    pub format: Option<Spanned<crate::notify::Format>>,
}
