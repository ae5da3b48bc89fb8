//! Counting words and durations as people write them (issue 14): `1 instance`, `2 instances`;
//! `4.5s`, not `4s 538ms`. Pure functions, used by every rendering of the human stream.

use std::time::Duration;

/// `1 line`, `0 lines`, `12 lines`. Nouns with an irregular plural are not used here.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The largest unit the duration reaches, with its length in milliseconds.
const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// `text` cut to `max` characters, the last of them `…` when anything was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut kept: String = text.chars().take(max.saturating_sub(1)).collect();
    kept.push('…');
    kept
}

/// A duration for a narrow column, in whole units: `30s`, `42m`, `5h12m`, `3d4h`.
pub fn column_duration(duration: Duration) -> String {
    let s = duration.as_secs();
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h{m}m"),
        (d, h, _) => format!("{d}d{h}h"),
    }
}

/// A duration to two significant figures in the largest unit it reaches: `450ms`, `4.5s`,
/// `45s`, `2.5m`, `1.5h`, `3d`. Precise enough to read at a glance, short enough for a line.
pub fn duration(d: Duration) -> String {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_owned();
    }
    // Round first, so 999 ms is "1s" and 59.97 s is "1m", never "1000ms" or "60s".
    let ms = two_significant(ms);
    let (unit, size) = UNITS
        .into_iter()
        .find(|&(_, size)| ms >= size)
        .unwrap_or(("ms", 1));
    // A u64 of milliseconds is exact enough as f64 for a display.
    #[allow(clippy::cast_precision_loss)]
    let value = ms as f64 / size as f64;
    if value < 10.0 {
        let text = format!("{value:.1}");
        format!("{}{unit}", text.trim_end_matches('0').trim_end_matches('.'))
    } else {
        format!("{value:.0}{unit}")
    }
}

/// `n` rounded half up to its two leading digits: 4538 → 4500, 999 → 1000.
fn two_significant(n: u64) -> u64 {
    let mut scale = 1u64;
    while n / scale >= 100 {
        scale = scale.saturating_mul(10);
    }
    (n / scale + u64::from(n % scale * 2 >= scale)).saturating_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short() {
        assert_eq!(column_duration(Duration::from_secs(30)), "30s");
        assert_eq!(column_duration(Duration::from_secs(42 * 60)), "42m");
        assert_eq!(
            column_duration(Duration::from_secs(5 * 3600 + 720)),
            "5h12m"
        );
        assert_eq!(
            column_duration(Duration::from_secs(3 * 86_400 + 4 * 3600)),
            "3d4h"
        );
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(0, "instance"), "0 instances");
        assert_eq!(plural(1, "instance"), "1 instance");
        assert_eq!(plural(2, "line"), "2 lines");
    }

    #[test]
    fn durations_to_two_significant_figures() {
        let cases = [
            (0, "0s"),
            (7, "7ms"),
            (450, "450ms"),
            (999, "1s"),
            (1_000, "1s"),
            (4_538, "4.5s"),
            (4_000, "4s"),
            (9_960, "10s"),
            (45_400, "45s"),
            (59_970, "1m"),
            (150_000, "2.5m"),
            (5_400_000, "1.5h"),
            (36_000_000, "10h"),
            (259_200_000, "3d"),
            (1_234_567_890, "14d"),
        ];
        for (ms, want) in cases {
            assert_eq!(duration(Duration::from_millis(ms)), want, "{ms} ms");
        }
    }
}
