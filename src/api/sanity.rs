//! Which numbers of a row are impossible. A lying or broken server can send a `start_date` of 0
//! (55 years of runtime), a negative one, one in next year, or a `dph_total` of 1e308; each of
//! those would fire `max_runtime` or `max_cost` and stop (or destroy) a healthy job. Such a field
//! is dropped from the row the guards and the budget see, and the caller says so once; the rest
//! of the row, and every other row of the sweep, is used as usual.

use crate::api::Instance;

/// No Vast.ai instance started before the service existed (2017-01-01 UTC).
const SERVICE_EPOCH: f64 = 1_483_228_800.0;

/// A start this far ahead of our clock is not clock skew.
const FUTURE_SLACK_SECONDS: f64 = 24.0 * 3600.0;

/// More than any machine rents for: the largest multi-GPU hosts cost tens of dollars an hour.
const MAX_PLAUSIBLE_DPH: f64 = 1_000.0;

/// A field of a row that the guards read and a server can lie about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    StartDate,
    EndDate,
    DphTotal,
    GpuUtil,
    CpuUtil,
}

impl Field {
    /// The API's name of the field.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::StartDate => "start_date",
            Field::EndDate => "end_date",
            Field::DphTotal => "dph_total",
            Field::GpuUtil => "gpu_util",
            Field::CpuUtil => "cpu_util",
        }
    }

    fn clear(self, row: &mut Instance) {
        let slot = match self {
            Field::StartDate => &mut row.start_date,
            Field::EndDate => &mut row.end_date,
            Field::DphTotal => &mut row.dph_total,
            Field::GpuUtil => &mut row.gpu_util,
            Field::CpuUtil => &mut row.cpu_util,
        };
        *slot = None;
    }
}

/// The fields of `row` that cannot be true at `wall` (epoch seconds), in a fixed order.
pub fn impossible_fields(row: &Instance, wall: f64) -> Vec<Field> {
    let mut bad = Vec::new();
    if row
        .start_date
        .is_some_and(|start| start < SERVICE_EPOCH || start > wall + FUTURE_SLACK_SECONDS)
    {
        bad.push(Field::StartDate);
    }
    if row.end_date.is_some_and(|end| end < SERVICE_EPOCH) {
        bad.push(Field::EndDate);
    }
    if row
        .dph_total
        .is_some_and(|dph| !(0.0..=MAX_PLAUSIBLE_DPH).contains(&dph))
    {
        bad.push(Field::DphTotal);
    }
    let gpus = row.num_gpus.unwrap_or(1).max(1) as f64;
    if row
        .gpu_util
        .is_some_and(|util| util < 0.0 || util > 100.0 * gpus + 1.0)
    {
        bad.push(Field::GpuUtil);
    }
    if row.cpu_util.is_some_and(|util| util < 0.0) {
        bad.push(Field::CpuUtil);
    }
    bad
}

/// `row` without its impossible fields, and their names (empty when the row is sane).
pub fn without_impossible(mut row: Instance, wall: f64) -> (Instance, Vec<Field>) {
    let bad = impossible_fields(&row, wall);
    for field in &bad {
        field.clear(&mut row);
    }
    (row, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_764_547_200.0; // 2025-12-01

    fn row() -> Instance {
        Instance {
            id: Some(1),
            start_date: Some(NOW - 3600.0),
            end_date: Some(NOW + 86_400.0),
            dph_total: Some(2.5),
            gpu_util: Some(97.0),
            cpu_util: Some(40.0),
            num_gpus: Some(1),
            ..Instance::default()
        }
    }

    #[test]
    fn an_honest_row_is_kept_whole() {
        let (kept, bad) = without_impossible(row(), NOW);
        assert!(bad.is_empty());
        assert_eq!(kept, row());
    }

    #[test]
    fn zero_negative_and_next_year_starts_are_impossible() {
        for start in [0.0, -5.0, 1.0e9, NOW + 2.0 * 86_400.0] {
            let bad = impossible_fields(
                &Instance {
                    start_date: Some(start),
                    ..row()
                },
                NOW,
            );
            assert_eq!(bad, [Field::StartDate], "start {start}");
        }
        let skewed = Instance {
            start_date: Some(NOW + 600.0),
            ..row()
        };
        assert!(impossible_fields(&skewed, NOW).is_empty(), "clock skew");
    }

    #[test]
    fn absurd_prices_and_utilisations_are_dropped_and_named() {
        let liar = Instance {
            dph_total: Some(1e308),
            gpu_util: Some(-3.0),
            cpu_util: Some(-1.0),
            end_date: Some(0.0),
            ..row()
        };
        let (kept, bad) = without_impossible(liar, NOW);
        assert_eq!(
            bad,
            [
                Field::EndDate,
                Field::DphTotal,
                Field::GpuUtil,
                Field::CpuUtil
            ]
        );
        assert_eq!(kept.dph_total, None);
        assert_eq!(kept.gpu_util, None);
        assert_eq!(kept.cpu_util, None);
        assert_eq!(kept.end_date, None);
        assert_eq!(kept.start_date, row().start_date, "the sane fields stay");
        let free = Instance {
            dph_total: Some(0.0),
            gpu_util: Some(750.0),
            num_gpus: Some(8),
            ..row()
        };
        assert!(impossible_fields(&free, NOW).is_empty());
    }
}
