//! An instance's status as vastfleet names it: the API's `actual_status`, parsed once where a
//! row comes in, plus two names of our own — [`Status::Provisioning`] for a null
//! `actual_status` (the docs: "still being provisioned") and [`Status::Gone`] when the list no
//! longer has the instance. Everything downstream (guards, actions, rendering, notifications,
//! metrics, the state file) matches on this enum; only [`Status::as_str`] spells the names.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::api::Instance;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Status {
    /// `actual_status` is null.
    Provisioning,
    Created,
    Loading,
    Running,
    Stopped,
    Frozen,
    Exited,
    Rebooting,
    /// The web console's word for a start waiting for its GPUs; not an API value today, but
    /// shown as booting should the API ever report it.
    Scheduling,
    /// No recent heartbeat from the host.
    Unknown,
    Offline,
    /// The list no longer returns the instance.
    Gone,
    /// A value the API documents nowhere, kept verbatim (trimmed).
    Other(Box<str>),
}

impl Status {
    /// The status of a row: its `actual_status`, `Provisioning` when null or blank, `Gone`
    /// when there is no row.
    pub fn of(row: Option<&Instance>) -> Status {
        match row {
            None => Status::Gone,
            Some(row) => Status::from_actual(row.actual_status.as_deref()),
        }
    }

    /// An `actual_status` value as the API sends it.
    pub fn from_actual(actual: Option<&str>) -> Status {
        match actual.map(str::trim).filter(|s| !s.is_empty()) {
            None => Status::Provisioning,
            Some(name) => Status::parse(name),
        }
    }

    /// A status name (as [`Status::as_str`] writes it, or as the API sends it).
    pub fn parse(name: &str) -> Status {
        match name {
            "provisioning" => Status::Provisioning,
            "created" => Status::Created,
            "loading" => Status::Loading,
            "running" => Status::Running,
            "stopped" => Status::Stopped,
            "frozen" => Status::Frozen,
            "exited" => Status::Exited,
            "rebooting" => Status::Rebooting,
            "scheduling" => Status::Scheduling,
            "unknown" => Status::Unknown,
            "offline" => Status::Offline,
            "gone" => Status::Gone,
            other => Status::Other(other.into()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Status::Provisioning => "provisioning",
            Status::Created => "created",
            Status::Loading => "loading",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Frozen => "frozen",
            Status::Exited => "exited",
            Status::Rebooting => "rebooting",
            Status::Scheduling => "scheduling",
            Status::Unknown => "unknown",
            Status::Offline => "offline",
            Status::Gone => "gone",
            Status::Other(name) => name,
        }
    }

    /// The glyph shown before a label. Every glyph takes two terminal columns so labels stay
    /// aligned: the emoji are wide, and the narrow ✖ gets a trailing space.
    pub fn glyph(&self) -> &'static str {
        match self {
            Status::Running => "🔄",
            Status::Stopped => "💤",
            Status::Frozen => "🧊",
            // The container's program ended (finished or crashed): not a stop anyone asked for.
            Status::Exited => "🏁",
            Status::Unknown | Status::Offline => "🔌",
            Status::Loading
            | Status::Created
            | Status::Provisioning
            | Status::Scheduling
            | Status::Rebooting => "⏳",
            Status::Gone => "✖ ",
            Status::Other(_) => UNSEEN_GLYPH,
        }
    }

    /// Still on the way up: no container running yet.
    pub fn is_booting(&self) -> bool {
        matches!(
            self,
            Status::Provisioning | Status::Created | Status::Loading
        )
    }

    /// The docs: an instance in one of these "will not return to running by itself".
    pub fn is_down(&self) -> bool {
        matches!(self, Status::Exited | Status::Unknown | Status::Offline)
    }
}

/// The glyph of an instance whose status is not known (yet).
pub const UNSEEN_GLYPH: &str = "❓";

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Status {
    fn from(name: &str) -> Self {
        Status::parse(name)
    }
}

/// The state file and the JSON stream carry the name.
impl Serialize for Status {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(Status::parse(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_values_are_kept() {
        let all = [
            "provisioning",
            "created",
            "loading",
            "running",
            "stopped",
            "frozen",
            "exited",
            "rebooting",
            "scheduling",
            "unknown",
            "offline",
            "gone",
            "hibernating",
        ];
        for name in all {
            assert_eq!(Status::parse(name).as_str(), name);
        }
        assert_eq!(
            Status::parse("hibernating"),
            Status::Other("hibernating".into())
        );
    }

    #[test]
    fn a_row_is_parsed_once_from_actual_status() {
        let row = |actual: Option<&str>| Instance {
            actual_status: actual.map(str::to_string),
            ..Instance::default()
        };
        assert_eq!(Status::of(None), Status::Gone);
        assert_eq!(Status::of(Some(&row(None))), Status::Provisioning);
        assert_eq!(Status::of(Some(&row(Some("  ")))), Status::Provisioning);
        assert_eq!(Status::of(Some(&row(Some(" running ")))), Status::Running);
    }

    #[test]
    fn serde_uses_the_name() {
        let json = serde_json::to_string(&Status::Exited).unwrap();
        assert_eq!(json, "\"exited\"");
        let back: Option<Status> = serde_json::from_str("\"gone\"").unwrap();
        assert_eq!(back, Some(Status::Gone));
    }
}
