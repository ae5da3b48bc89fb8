//! Wall-clock text for the stream: the local UTC offset (found once, at start) and the three
//! timestamp shapes the renderings use.
//!
//! Reading the local offset on Unix goes through the C time-zone state, which races with
//! `setenv` from other threads; `time` may answer "indeterminate" for that reason (older
//! releases always did once a second thread existed). So the offset is determined once in
//! `main`, before the tokio runtime starts its workers, and handed to the human renderer; the
//! whole run then uses one offset, even across a daylight-saving change.

use std::time::SystemTime;

use time::{OffsetDateTime, UtcOffset};

/// The local offset, or UTC when it cannot be determined. Call it before building the runtime.
pub fn local_offset() -> UtcOffset {
    UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC)
}

/// `HH:MM:SS` at `offset`.
pub(crate) fn clock_time(at: SystemTime, offset: UtcOffset) -> String {
    let t = datetime(at).to_offset(offset);
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

/// RFC 3339 at `offset`, millisecond precision: `2024-05-01T14:03:07.250+02:00`.
pub(crate) fn rfc3339_local(at: SystemTime, offset: UtcOffset) -> String {
    let t = datetime(at).to_offset(offset);
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!(
        "{}{sign}{:02}:{:02}",
        date_and_time(t),
        offset.whole_hours().unsigned_abs(),
        offset.minutes_past_hour().unsigned_abs(),
    )
}

/// RFC 3339 in UTC, millisecond precision: `2024-05-01T12:03:07.250Z` (the JSON `ts`).
pub(crate) fn rfc3339_utc(at: SystemTime) -> String {
    format!("{}Z", date_and_time(datetime(at)))
}

fn date_and_time(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond(),
    )
}

/// `OffsetDateTime::from(SystemTime)` panics outside ±9999 years; a clock that far off is
/// shown as the epoch instead, since a line must still be printed.
fn datetime(at: SystemTime) -> OffsetDateTime {
    let shifted = match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => time::Duration::try_from(after)
            .ok()
            .and_then(|d| OffsetDateTime::UNIX_EPOCH.checked_add(d)),
        Err(before) => time::Duration::try_from(before.duration())
            .ok()
            .and_then(|d| OffsetDateTime::UNIX_EPOCH.checked_sub(d)),
    };
    shifted.unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use time::macros::offset;

    use super::*;

    /// 2024-05-01T12:03:07.250Z
    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_714_564_987_250)
    }

    #[test]
    fn clock_time_uses_the_given_offset() {
        assert_eq!(clock_time(at(), UtcOffset::UTC), "12:03:07");
        assert_eq!(clock_time(at(), offset!(+2)), "14:03:07");
        assert_eq!(clock_time(at(), offset!(-12:30)), "23:33:07");
    }

    #[test]
    fn rfc3339_shapes() {
        assert_eq!(rfc3339_utc(at()), "2024-05-01T12:03:07.250Z");
        assert_eq!(
            rfc3339_local(at(), offset!(+2)),
            "2024-05-01T14:03:07.250+02:00"
        );
        assert_eq!(
            rfc3339_local(at(), offset!(-0:30)),
            "2024-05-01T11:33:07.250-00:30"
        );
        assert_eq!(
            rfc3339_local(at(), UtcOffset::UTC),
            "2024-05-01T12:03:07.250+00:00"
        );
    }

    #[test]
    fn times_before_the_epoch_and_absurd_times_do_not_panic() {
        let before = SystemTime::UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(rfc3339_utc(before), "1969-12-31T23:59:58.500Z");
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(rfc3339_utc(far), "1970-01-01T00:00:00.000Z");
    }
}
