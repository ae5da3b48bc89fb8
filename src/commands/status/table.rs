//! The `status` table: fitted to the terminal's width (GPU and label shorten first, then the
//! message shrinks and goes), with the fleet's totals as its last row.

use crate::report::words::truncate;

use super::Line;
use crate::cost::Totals;

/// A status message narrower than this is not worth a column.
const MIN_MESSAGE: usize = 12;
/// Columns that give way, widest first, when a row would not fit: GPU and LABEL (by index),
/// never narrower than [`MIN_SHRUNK`].
const SHRINKABLE: [usize; 2] = [3, 1];
const MIN_SHRUNK: usize = 6;
/// Marks an instance of the account that the fleet file does not list (`status --all`).
const ORPHAN_MARK: char = '*';

/// How the table is drawn.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// At most this many columns (`usize::MAX` into a pipe).
    pub width: usize,
    /// Status glyphs before the status names (a terminal).
    pub glyphs: bool,
    /// `--wide`: the SSH address too.
    pub wide: bool,
}

/// Narrows the shrinkable columns until the fixed part fits `width` (or cannot shrink more).
fn fit(widths: &mut [usize], width: usize) {
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

fn cells(line: &Line, layout: Layout) -> Vec<String> {
    let status = if layout.glyphs {
        format!("{} {}", line.status.glyph(), line.status)
    } else {
        line.status.to_string()
    };
    let dash = || "-".to_owned();
    let id = if line.in_fleet {
        line.id.to_string()
    } else {
        format!("{}{ORPHAN_MARK}", line.id)
    };
    let mut row = vec![
        id,
        line.label.clone().unwrap_or_else(dash),
        status,
        line.gpu.clone().unwrap_or_else(dash),
        line.dph_total.map_or_else(dash, |d| format!("{d:.3}")),
        line.uptime
            .map_or_else(dash, crate::report::words::column_duration),
        line.spend_usd.map_or_else(dash, |s| format!("${s:.2}")),
    ];
    if layout.wide {
        row.push(line.ssh.as_ref().map_or_else(dash, ToString::to_string));
    }
    row
}

/// The table, at most `layout.width` columns wide, ending with the totals row.
pub fn table(lines: &[Line], totals: &Totals, layout: Layout) -> String {
    if lines.is_empty() {
        return "no instances in the fleet file (add one with `vastfleet add ID`)".to_owned();
    }
    let mut header = vec!["ID", "LABEL", "STATUS", "GPU", "$/HR", "UPTIME", "COST~"];
    if layout.wide {
        header.push("SSH");
    }
    let rows: Vec<Vec<String>> = lines.iter().map(|line| cells(line, layout)).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    // A status glyph is one char but two columns wide.
    let width = layout.width.saturating_sub(usize::from(layout.glyphs));
    fit(&mut widths, width);
    let fixed: usize = widths.iter().map(|w| w + 2).sum();
    let message_room = width.saturating_sub(fixed);
    let show_message = message_room >= MIN_MESSAGE && lines.iter().any(|l| l.message.is_some());

    let mut out = String::new();
    let mut push_row = |row: &[String], message: Option<&str>| {
        let mut text = String::new();
        for (cell, &width) in row.iter().zip(&widths) {
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
    let header: Vec<String> = header.into_iter().map(str::to_owned).collect();
    push_row(&header, Some("MESSAGE"));
    for (row, line) in rows.iter().zip(lines) {
        push_row(row, line.message.as_deref());
    }
    if lines.iter().any(|l| !l.in_fleet) {
        let note = format!("{ORPHAN_MARK} not in the fleet file: it bills all the same");
        out.push_str(&truncate(&note, layout.width));
        out.push('\n');
    }
    out.push_str(&truncate(
        &format!("total: {}", totals.line()),
        layout.width,
    ));
    out
}
