//! Wall-clock text for the stream: the local time zone (found once, at start) and the three
//! timestamp shapes the renderings use.
//!
//! The zone is the system's rules (`TZ`, else /etc/localtime), read by `jiff` in Rust, not a
//! fixed offset: each time is shown at the offset in force at that instant, so a run of months
//! follows daylight-saving changes (issue 14: the offset read once at start was an hour off
//! after the change). No C time-zone state is touched, so the `setenv` race of C's
//! `localtime` cannot happen either.

use std::time::SystemTime;

use jiff::civil::DateTime;
use jiff::tz::Offset;
pub use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The system's time zone, or UTC when it cannot be determined.
pub fn local_zone() -> TimeZone {
    TimeZone::try_system().unwrap_or(TimeZone::UTC)
}

/// The offset `zone` has at `at` (UTC for instants outside jiff's range, ±9999 years).
pub fn offset_at(zone: &TimeZone, at: SystemTime) -> Offset {
    Timestamp::try_from(at)
        .map(|ts| zone.to_offset(ts))
        .unwrap_or(Offset::UTC)
}

/// `HH:MM:SS` at `offset`.
pub(crate) fn clock_time(at: SystemTime, offset: Offset) -> String {
    let t = datetime(at, offset);
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

/// RFC 3339 at `offset`, millisecond precision: `2024-05-01T14:03:07.250+02:00`.
pub(crate) fn rfc3339_local(at: SystemTime, offset: Offset) -> String {
    let seconds = offset.seconds();
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    format!(
        "{}{sign}{:02}:{:02}",
        date_and_time(datetime(at, offset)),
        minutes / 60,
        minutes % 60,
    )
}

/// RFC 3339 in UTC, millisecond precision: `2024-05-01T12:03:07.250Z` (the JSON `ts`).
pub(crate) fn rfc3339_utc(at: SystemTime) -> String {
    format!("{}Z", date_and_time(datetime(at, Offset::UTC)))
}

fn date_and_time(t: DateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond(),
    )
}

/// The civil time of `at` at `offset`. A clock outside jiff's range (±9999 years) is shown as
/// the epoch instead, since a line must still be printed.
fn datetime(at: SystemTime, offset: Offset) -> DateTime {
    let ts = Timestamp::try_from(at).unwrap_or(Timestamp::UNIX_EPOCH);
    offset.to_datetime(ts)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jiff::tz::offset;

    use super::*;

    fn hours_minutes(sign: i32, hours: i32, minutes: i32) -> Offset {
        Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).unwrap()
    }

    /// 2024-05-01T12:03:07.250Z
    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_714_564_987_250)
    }

    #[test]
    fn clock_time_uses_the_given_offset() {
        assert_eq!(clock_time(at(), Offset::UTC), "12:03:07");
        assert_eq!(clock_time(at(), offset(2)), "14:03:07");
        assert_eq!(clock_time(at(), hours_minutes(-1, 12, 30)), "23:33:07");
    }

    #[test]
    fn rfc3339_shapes() {
        assert_eq!(rfc3339_utc(at()), "2024-05-01T12:03:07.250Z");
        assert_eq!(
            rfc3339_local(at(), offset(2)),
            "2024-05-01T14:03:07.250+02:00"
        );
        assert_eq!(
            rfc3339_local(at(), hours_minutes(-1, 0, 30)),
            "2024-05-01T11:33:07.250-00:30"
        );
        assert_eq!(
            rfc3339_local(at(), Offset::UTC),
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

    fn instant(text: &str) -> SystemTime {
        SystemTime::from(text.parse::<jiff::Timestamp>().unwrap())
    }

    /// New York's rules as TZ would give them (a POSIX rule needs no zoneinfo files): each time
    /// is shown at the offset of its own instant, one second either side of both changes.
    #[test]
    fn local_times_follow_daylight_saving_changes() {
        let zone = TimeZone::posix("EST5EDT,M3.2.0,M11.1.0").unwrap();
        let cases = [
            ("2026-03-08T06:59:59Z", "01:59:59", "-05:00"),
            ("2026-03-08T07:00:00Z", "03:00:00", "-04:00"),
            ("2026-11-01T05:59:59Z", "01:59:59", "-04:00"),
            ("2026-11-01T06:00:00Z", "01:00:00", "-05:00"),
        ];
        for (utc, clock, offset) in cases {
            let at = instant(utc);
            let local = offset_at(&zone, at);
            assert_eq!(clock_time(at, local), clock, "{utc}");
            assert!(rfc3339_local(at, local).ends_with(offset), "{utc}");
        }
    }

    #[test]
    fn instants_outside_the_zone_s_range_are_shown_in_utc() {
        let zone = TimeZone::posix("EST5EDT,M3.2.0,M11.1.0").unwrap();
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(offset_at(&zone, far), Offset::UTC);
    }
}
