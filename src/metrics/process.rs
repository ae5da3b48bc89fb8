//! The process families every Prometheus client library exports under the same names
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...), so the dashboards and
//! alerts people already have for any other exporter work on vastfleet too.
//!
//! Read from `/proc/self` at each scrape, the way the Go and Python clients do. Other systems
//! have no `/proc`; there the families are left out rather than exported as zeros, which a
//! dashboard would draw as a process that uses nothing.

use super::text::{Exposition, Kind};

/// One reading of the process's own figures; each is `None` when its source could not be read.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<f64>,
    pub virtual_bytes: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
}

/// What the kernel's `/proc/self/stat` line says, in its own units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatLine {
    /// User plus system time, in clock ticks.
    cpu_ticks: u64,
    /// Start time in clock ticks after boot.
    start_ticks: u64,
    virtual_bytes: u64,
    resident_pages: u64,
}

/// Parses `/proc/self/stat`. The command name (field 2) is in parentheses and may itself
/// contain spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<StatLine> {
    let (_, after) = text.rsplit_once(')')?;
    // Field 3 (the state) is the first after the name: field n is index n - 3 here.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(StatLine {
        cpu_ticks: field(14)?.checked_add(field(15)?)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
        resident_pages: field(24)?,
    })
}

/// The boot time (`btime`, seconds since the epoch) from `/proc/stat`.
fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

/// The soft limit on open files from `/proc/self/limits` (`unlimited` is no number to export).
fn parse_max_fds(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl ProcessStats {
    /// Converts the kernel's units: ticks at `ticks_per_second`, pages of `page_size` bytes.
    fn from_parts(
        stat: Option<StatLine>,
        boot_time: Option<u64>,
        ticks_per_second: u64,
        page_size: u64,
        open_fds: Option<usize>,
        max_fds: Option<u64>,
    ) -> ProcessStats {
        // Counts of ticks, bytes and fds are far below 2^53: exact as f64.
        #[allow(clippy::cast_precision_loss)]
        let f = |n: u64| n as f64;
        let hz = f(ticks_per_second.max(1));
        ProcessStats {
            cpu_seconds: stat.map(|s| f(s.cpu_ticks) / hz),
            resident_bytes: stat.map(|s| f(s.resident_pages.saturating_mul(page_size))),
            virtual_bytes: stat.map(|s| f(s.virtual_bytes)),
            start_time_seconds: stat
                .zip(boot_time)
                .map(|(s, boot)| f(boot) + f(s.start_ticks) / hz),
            open_fds: open_fds.map(|n| f(n as u64)),
            max_fds: max_fds.map(f),
        }
    }

    /// This process now; everything `None` where there is no `/proc`.
    pub fn read() -> ProcessStats {
        #[cfg(target_os = "linux")]
        {
            let read = |path| std::fs::read_to_string(path).ok();
            ProcessStats::from_parts(
                read("/proc/self/stat").as_deref().and_then(parse_stat),
                read("/proc/stat").as_deref().and_then(parse_boot_time),
                rustix::param::clock_ticks_per_second(),
                rustix::param::page_size() as u64,
                std::fs::read_dir("/proc/self/fd").ok().map(Iterator::count),
                read("/proc/self/limits").as_deref().and_then(parse_max_fds),
            )
        }
        #[cfg(not(target_os = "linux"))]
        ProcessStats::default()
    }
}

/// The families with a value; a family whose figure is unknown is not declared at all.
pub(super) fn render(text: &mut Exposition, stats: &ProcessStats) {
    let families = [
        (
            "process_cpu_seconds_total",
            Kind::Counter,
            "Total user and system CPU time spent in seconds.",
            stats.cpu_seconds,
        ),
        (
            "process_resident_memory_bytes",
            Kind::Gauge,
            "Resident memory size in bytes.",
            stats.resident_bytes,
        ),
        (
            "process_virtual_memory_bytes",
            Kind::Gauge,
            "Virtual memory size in bytes.",
            stats.virtual_bytes,
        ),
        (
            "process_start_time_seconds",
            Kind::Gauge,
            "Start time of the process since unix epoch in seconds.",
            stats.start_time_seconds,
        ),
        (
            "process_open_fds",
            Kind::Gauge,
            "Number of open file descriptors.",
            stats.open_fds,
        ),
        (
            "process_max_fds",
            Kind::Gauge,
            "Maximum number of open file descriptors.",
            stats.max_fds,
        ),
    ];
    for (name, kind, help, value) in families {
        if let Some(value) = value {
            text.family(name, kind, help).sample(&[], value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line, with a command name made to trip a naive split.
    const STAT: &str = "4242 (vast (fleet) x) S 1 4242 4242 0 -1 4194560 1530 0 0 0 \
                        250 125 0 0 20 0 9 0 123400 73728000 2048 18446744073709551615 \
                        1 1 0 0 0 0 0 4096 17991 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn the_stat_line_is_read_from_after_the_name() {
        assert_eq!(
            parse_stat(STAT),
            Some(StatLine {
                cpu_ticks: 375,
                start_ticks: 123400,
                virtual_bytes: 73728000,
                resident_pages: 2048,
            })
        );
        assert_eq!(
            parse_stat("4242 (x) S 1 2"),
            None,
            "a short line is no reading"
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn kernel_units_become_seconds_and_bytes() {
        let boot = parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1764600000\nprocesses 9\n");
        assert_eq!(boot, Some(1764600000));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max processes             63428                63428                processes\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_max_fds(limits), Some(1024));
        assert_eq!(
            parse_max_fds("Max open files  unlimited  unlimited  files\n"),
            None
        );

        let stats =
            ProcessStats::from_parts(parse_stat(STAT), boot, 100, 4096, Some(12), Some(1024));
        assert_eq!(
            stats,
            ProcessStats {
                cpu_seconds: Some(3.75),
                resident_bytes: Some(8_388_608.0),
                virtual_bytes: Some(73_728_000.0),
                start_time_seconds: Some(1_764_601_234.0),
                open_fds: Some(12.0),
                max_fds: Some(1024.0),
            }
        );
    }

    #[test]
    fn unknown_figures_declare_no_family() {
        let mut text = Exposition::new();
        let stats = ProcessStats {
            resident_bytes: Some(1.5e7),
            ..ProcessStats::default()
        };
        render(&mut text, &stats);
        assert_eq!(
            text.finish(),
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n\
             # TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 15000000\n"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_read_on_linux() {
        let stats = ProcessStats::read();
        assert!(stats.resident_bytes.is_some_and(|b| b > 1e6), "{stats:?}");
        assert!(stats.cpu_seconds.is_some_and(|s| s >= 0.0), "{stats:?}");
        assert!(stats.open_fds.is_some_and(|n| n >= 3.0), "{stats:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = stats.start_time_seconds.expect("a start time");
        // The test binary started before this test and not before the kernel's 2000s.
        assert!(
            started <= now + 1.0 && started > 9.5e8,
            "{started} vs {now}"
        );
    }
}
