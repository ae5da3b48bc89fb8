//! `vastfleet status`: the fleet at a glance from one sweep of the list (⌈N/25⌉ pages for the
//! file's ids), as a table that fits the terminal or as one JSON object per instance.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::api::{Api, Instance};
use crate::cli::StatusArgs;
use crate::commands::connect;
use crate::config::Settings;
use crate::status::Status;
use crate::Fatal;

/// The width used when a terminal cannot tell its own.
const DEFAULT_WIDTH: usize = 100;
/// Narrower than this, a reported width is nonsense.
const MIN_WIDTH: usize = 20;
/// A status message narrower than this is not worth a column.
const MIN_MESSAGE: usize = 12;

pub async fn run(args: StatusArgs) -> Result<(), Fatal> {
    let settings = Settings::load(&args.fleet.path())?;
    let api = connect::client(args.api.api_url.as_deref(), settings.api.url.as_deref())?;
    let ids: Vec<u64> = settings.instances.iter().map(|i| i.id).collect();
    let rows = if ids.is_empty() {
        Vec::new()
    } else {
        let listing = connect::patiently(|| api.list_all(Some(ids.clone())))
            .await
            .map_err(|err| Fatal::runtime(format!("cannot list the instances: {err}")))?;
        if let Some(stopped) = &listing.stopped {
            eprintln!("warning: {stopped}");
        }
        listing.instances
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let lines = status_lines(&settings, &rows, now);
    let text = if args.json {
        lines.iter().map(Line::json).collect::<Vec<_>>().join("\n")
    } else {
        let glyphs = std::io::IsTerminal::is_terminal(&std::io::stdout());
        table(&lines, table_width(), glyphs)
    };
    crate::outln!("{text}")
}

/// One instance of the file, as the account reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub id: u64,
    pub label: Option<String>,
    pub status: Status,
    pub gpu: Option<String>,
    pub dph_total: Option<f64>,
    pub uptime: Option<Duration>,
    pub spend_usd: Option<f64>,
    pub message: Option<String>,
}

impl Line {
    fn json(&self) -> String {
        json!({
            "instance": self.id,
            "label": self.label,
            "status": self.status,
            "gpu": self.gpu,
            "dph_total": self.dph_total,
            "uptime_s": self.uptime.map(|u| u.as_secs()),
            "spend_usd": self.spend_usd.map(|s| (s * 100.0).round() / 100.0),
            "message": self.message,
        })
        .to_string()
    }
}

/// The file's instances in file order; the ones the account does not have are `gone`.
pub fn status_lines(settings: &Settings, rows: &[Instance], now: f64) -> Vec<Line> {
    let by_id: HashMap<u64, &Instance> =
        rows.iter().filter_map(|row| Some((row.id?, row))).collect();
    settings
        .instances
        .iter()
        .map(|instance| {
            let row = by_id.get(&instance.id).copied();
            Line {
                id: instance.id,
                label: instance.label.clone(),
                status: Status::of(row),
                gpu: row.and_then(Instance::gpu_label),
                dph_total: row.and_then(|r| r.dph_total),
                uptime: row.and_then(|r| r.uptime(now)),
                spend_usd: row.and_then(|r| r.spend_usd(now)),
                message: row
                    .and_then(|r| r.status_msg.as_deref())
                    .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" "))
                    .filter(|m| !m.is_empty()),
            }
        })
        .collect()
}

/// The width the table must fit: the terminal's own (asked of the terminal, as bash does not
/// export `COLUMNS`; `COLUMNS` only when the terminal cannot say). Into a pipe or a file
/// nothing wraps and a cut would lose text, so there is no limit.
fn table_width() -> usize {
    let stdout = std::io::stdout();
    if !std::io::IsTerminal::is_terminal(&stdout) {
        return usize::MAX;
    }
    rustix::termios::tcgetwinsize(&stdout)
        .ok()
        .map(|size| usize::from(size.ws_col))
        .filter(|&columns| columns >= MIN_WIDTH)
        .or_else(|| {
            std::env::var("COLUMNS")
                .ok()
                .and_then(|c| c.trim().parse().ok())
                .filter(|&c: &usize| c >= MIN_WIDTH)
        })
        .unwrap_or(DEFAULT_WIDTH)
}

/// Columns that give way, widest first, when a row would not fit: GPU and LABEL (by index),
/// never narrower than [`MIN_SHRUNK`].
const SHRINKABLE: [usize; 2] = [3, 1];
const MIN_SHRUNK: usize = 6;

/// Narrows the shrinkable columns until the fixed part fits `width` (or cannot shrink more).
fn fit(widths: &mut [usize; 7], width: usize) {
    while widths.iter().map(|w| w + 2).sum::<usize>() > width {
        let Some(&widest) = SHRINKABLE
            .iter()
            .filter(|&&i| widths[i] > MIN_SHRUNK)
            .max_by_key(|&&i| widths[i])
        else {
            return;
        };
        widths[widest] -= 1;
    }
}

/// The table, at most `width` columns wide: the message column shrinks first, then goes.
pub fn table(lines: &[Line], width: usize, glyphs: bool) -> String {
    if lines.is_empty() {
        return "no instances in the fleet file (add one with `vastfleet add ID`)".to_owned();
    }
    let header = ["ID", "LABEL", "STATUS", "GPU", "$/HR", "UPTIME", "COST~"];
    let cells: Vec<[String; 7]> = lines
        .iter()
        .map(|line| {
            let status = if glyphs {
                format!("{} {}", line.status.glyph(), line.status)
            } else {
                line.status.to_string()
            };
            [
                line.id.to_string(),
                line.label.clone().unwrap_or_else(|| "-".to_owned()),
                status,
                line.gpu.clone().unwrap_or_else(|| "-".to_owned()),
                line.dph_total.map_or("-".to_owned(), |d| format!("{d:.3}")),
                line.uptime.map_or("-".to_owned(), short_duration),
                line.spend_usd
                    .map_or("-".to_owned(), |s| format!("${s:.2}")),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    // A status glyph is one char but two columns wide.
    let width = width.saturating_sub(usize::from(glyphs));
    fit(&mut widths, width);
    let fixed: usize = widths.iter().map(|w| w + 2).sum();
    let message_room = width.saturating_sub(fixed);
    let show_message = message_room >= MIN_MESSAGE && lines.iter().any(|l| l.message.is_some());

    let mut out = String::new();
    let mut push_row = |row: &[String], message: Option<&str>| {
        let mut text = String::new();
        for (cell, width) in row.iter().zip(widths) {
            let cell = truncate(cell, width);
            text.push_str(&cell);
            let pad = width.saturating_sub(cell.chars().count()) + 2;
            text.extend(std::iter::repeat_n(' ', pad));
        }
        if let Some(message) = message.filter(|_| show_message) {
            text.push_str(&truncate(message, message_room));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    push_row(&header.map(str::to_owned), Some("MESSAGE"));
    for (row, line) in cells.iter().zip(lines) {
        push_row(row, line.message.as_deref());
    }
    out.pop();
    out
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// "3d4h", "5h12m", "42m", "30s".
fn short_duration(duration: Duration) -> String {
    let s = duration.as_secs();
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h{m}m"),
        (d, h, _) => format!("{d}d{h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    fn settings() -> Settings {
        let mut settings = Settings::from_ids(&[1, 2, 3], &Overrides::default()).unwrap();
        settings.instances[0].label = Some("train".into());
        settings
    }

    fn row(id: u64, status: &str) -> Instance {
        Instance {
            id: Some(id),
            actual_status: Some(status.into()),
            gpu_name: Some("RTX 4090".into()),
            num_gpus: Some(2),
            dph_total: Some(0.5),
            start_date: Some(1000.0),
            status_msg: Some("  success,\n running  ".into()),
            ..Instance::default()
        }
    }

    #[test]
    fn missing_instances_are_gone_and_figures_come_from_the_row() {
        let lines = status_lines(&settings(), &[row(1, "running"), row(2, "stopped")], 8200.0);
        assert_eq!(lines[0].status, Status::Running);
        assert_eq!(lines[0].gpu.as_deref(), Some("2x RTX 4090"));
        assert_eq!(lines[0].uptime, Some(Duration::from_secs(7200)));
        assert_eq!(lines[0].spend_usd, Some(1.0));
        assert_eq!(lines[0].message.as_deref(), Some("success, running"));
        assert_eq!(lines[1].status, Status::Stopped);
        assert_eq!(lines[2].status, Status::Gone);
        assert_eq!(lines[2].spend_usd, None);
    }

    #[test]
    fn the_table_fits_the_width_by_shortening_then_dropping_the_message() {
        let mut rows = vec![row(1, "running")];
        rows[0].status_msg = Some("a very long status message from the host ".repeat(4));
        let lines = status_lines(&settings(), &rows, 8200.0);
        for width in [120, 80, 60] {
            let text = table(&lines, width, false);
            for line in text.lines() {
                assert!(line.chars().count() <= width, "{width}: {line}");
            }
        }
        assert!(table(&lines, 120, false).contains('…'));
        assert!(!table(&lines, 60, false).contains("MESSAGE"));
        let wide = table(&lines, 120, false);
        assert!(
            wide.contains("1   train  running  2x RTX 4090  0.500  2h0m    $1.00"),
            "{wide}"
        );
        assert!(wide.contains("3   -      gone"), "{wide}");
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(short_duration(Duration::from_secs(30)), "30s");
        assert_eq!(short_duration(Duration::from_secs(42 * 60)), "42m");
        assert_eq!(short_duration(Duration::from_secs(5 * 3600 + 720)), "5h12m");
        assert_eq!(
            short_duration(Duration::from_secs(3 * 86_400 + 4 * 3600)),
            "3d4h"
        );
    }
}
