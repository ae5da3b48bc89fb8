//! The output stream: exact human and JSON renderings of every event, and the writer task.

mod human;
mod json;
mod writer;

use std::time::{Duration, SystemTime};

use vastfleet::report::event::{Event, EventKind, Source};
use vastfleet::status::Status;

/// 2024-05-01T12:03:07.250Z
pub fn at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_714_564_987_250)
}

pub fn src(id: u64, label: &str) -> Source {
    Source {
        id,
        label: label.into(),
    }
}

pub fn ev(kind: EventKind) -> Event {
    Event { at: at(), kind }
}

pub fn log(source: &Source, line: &str) -> Event {
    ev(EventKind::Log {
        source: source.clone(),
        line: line.to_string(),
        history: false,
    })
}

pub fn status(source: &Source, status: &str, previous: Option<&str>) -> Event {
    ev(EventKind::Status {
        source: source.clone(),
        status: status.into(),
        previous: previous.map(Status::parse),
        message: None,
    })
}
