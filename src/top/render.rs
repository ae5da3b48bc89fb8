//! Drawing `top`: a pure function of the snapshot, the view state and the time (data in,
//! buffer out), so every cell is tested with ratatui's test backend. Only the rows that fit
//! are built, so a frame costs the same at 10 and at 10,000 instances.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table};
use ratatui::Frame;

use super::app::{App, Mode};
use crate::live::snapshot::{ApiHealth, FleetSnapshot, InstanceView};
use crate::report::style::status_glyph;

/// Below this width the GPU and spend columns go, so label, status and last line still fit.
const NARROW: u16 = 90;

pub fn draw(frame: &mut Frame, app: &App, snapshot: &FleetSnapshot, now: f64) {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(header_lines(app, snapshot, now)), header);
    match app.mode {
        Mode::Log => draw_log(frame, app, body, now),
        _ => draw_table(frame, app, snapshot, body, now),
    }
    frame.render_widget(Paragraph::new(footer_line(app)), footer);
    if app.mode == Mode::Help {
        draw_help(frame, body, app.inside_watcher);
    }
}

fn header_lines(app: &App, snapshot: &FleetSnapshot, now: f64) -> Vec<Line<'static>> {
    let totals = &snapshot.totals;
    let by_status: Vec<String> = totals
        .by_status
        .iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect();
    let file = snapshot.fleet_file.as_deref().unwrap_or("--id");
    let first = format!(
        "{} · {file} · {} instances: {} · ${:.2}/hr · spent ${:.2}",
        if app.inside_watcher {
            "vastfleet watch"
        } else {
            "vastfleet top"
        },
        totals.instances,
        by_status.join(", "),
        totals.dph_running,
        totals.spend_usd,
    );
    let api = &snapshot.api;
    let (health, health_style) = match &api.health {
        ApiHealth::Ok => ("API ok".to_owned(), Style::new().fg(Color::Green)),
        ApiHealth::Cooling { until, .. } => (
            format!("API cooling {}", age((until - now).max(0.0))),
            Style::new().fg(Color::Yellow),
        ),
        ApiHealth::Failing { attempt, since, .. } => (
            format!("API failing ×{attempt} for {}", age(now - since)),
            Style::new().fg(Color::Red),
        ),
    };
    let mut pace = match api.per_second {
        Some(rate) => format!(" · {rate:.2} calls/s"),
        None => " · unlimited".to_owned(),
    };
    for endpoint in api.endpoints.iter().filter(|e| e.calls > 0) {
        if let Some(rate) = endpoint.per_second {
            pace.push_str(&format!(" · {} {rate:.2}/s", endpoint.endpoint));
        }
    }
    pace.push_str(&format!(
        " · {} calls, {} × 429",
        api.calls, api.rate_limited
    ));
    vec![
        Line::from(Span::styled(
            first,
            Style::new().add_modifier(Modifier::BOLD),
        )),
        Line::from(vec![Span::styled(health, health_style), Span::raw(pace)]),
    ]
}

fn draw_table(frame: &mut Frame, app: &App, snapshot: &FleetSnapshot, area: Rect, now: f64) {
    let rows = app.rows(snapshot);
    let narrow = area.width < NARROW;
    let visible = usize::from(area.height.saturating_sub(1)).max(1);
    let selected = app
        .selected
        .and_then(|id| rows.iter().position(|i| i.id == id))
        .or((!rows.is_empty()).then_some(0));
    // Keep the selection on screen: the window starts where the selected row is its last.
    let first = selected.map_or(0, |s| (s + 1).saturating_sub(visible));
    let label_width = rows
        .iter()
        .map(|i| i.label.chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 20) as u16;
    let mut header = vec!["", "LABEL", "ID"];
    let mut widths = vec![
        Constraint::Length(2),
        Constraint::Length(label_width),
        Constraint::Length(9),
    ];
    if !narrow {
        header.extend(["GPU", "$/HR", "SPEND"]);
        widths.extend([
            Constraint::Length(14),
            Constraint::Length(6),
            Constraint::Length(8),
        ]);
    }
    header.extend(["UP", "LOG", "C/F", "LAST LINE"]);
    widths.extend([
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Fill(1),
    ]);
    let body = rows
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(index, instance)| {
            let row = Row::new(cells(instance, narrow, now));
            if Some(index) == selected {
                row.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                row
            }
        });
    let table = Table::new(body, widths)
        .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
        .column_spacing(1);
    frame.render_widget(table, area);
    if rows.is_empty() {
        let text = if snapshot.instances.is_empty() {
            "  no instances watched"
        } else {
            "  no instance matches the filter (Esc clears it)"
        };
        let [_, line] =
            Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
        frame.render_widget(Paragraph::new(text), line);
    }
}

fn cells(instance: &InstanceView, narrow: bool, now: f64) -> Vec<Cell<'static>> {
    let dash = || "-".to_owned();
    let mut cells = vec![
        Cell::from(status_glyph(instance.status.as_ref())),
        Cell::from(instance.label.clone()),
        Cell::from(instance.id.to_string()),
    ];
    if !narrow {
        cells.push(Cell::from(instance.gpu.clone().unwrap_or_else(dash)));
        cells.push(Cell::from(
            instance.dph_total.map_or_else(dash, |d| format!("{d:.3}")),
        ));
        cells.push(Cell::from(
            instance.spend_usd.map_or_else(dash, |s| format!("${s:.2}")),
        ));
    }
    let uptime = instance.started_at.map_or_else(dash, |s| age(now - s));
    let log_age = instance.last_line_at.map_or_else(dash, |t| age(now - t));
    let problem = instance.error.is_some() || instance.failed_actions > 0 || instance.failures > 0;
    let done = Cell::from(format!("{}/{}", instance.completions, instance.failures));
    let done = if problem {
        done.style(Style::new().fg(Color::Red))
    } else {
        done
    };
    cells.extend([
        Cell::from(uptime),
        Cell::from(log_age),
        done,
        Cell::from(instance.last_line.clone().unwrap_or_default()),
    ]);
    cells
}

fn draw_log(frame: &mut Frame, app: &App, area: Rect, now: f64) {
    let Some(pane) = &app.log else {
        frame.render_widget(Paragraph::new("  loading the log…"), area);
        return;
    };
    let title = format!(
        " {} ({}) · log, followed live · Esc back ",
        pane.label, pane.id
    );
    let block = Block::new().borders(Borders::TOP).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = usize::from(inner.height);
    let lines: Vec<Line> = pane
        .lines
        .iter()
        .skip(pane.lines.len().saturating_sub(height))
        .map(|line| {
            let when = if line.history {
                "history ".to_owned()
            } else {
                format!("{:>7} ", age(now - line.at))
            };
            Line::from(vec![
                Span::styled(when, Style::new().fg(Color::DarkGray)),
                Span::raw(line.line.clone()),
            ])
        })
        .collect();
    let text = if lines.is_empty() {
        vec![Line::from("  no log line yet")]
    } else {
        lines
    };
    frame.render_widget(Paragraph::new(text), inner);
}

fn footer_line(app: &App) -> Line<'static> {
    if let Some(problem) = &app.problem {
        return Line::from(Span::styled(
            format!(" {problem}"),
            Style::new().fg(Color::Red),
        ));
    }
    match app.mode {
        Mode::Filter => Line::from(format!(
            " filter: {}▏ (Enter keeps it, Esc clears)",
            app.filter
        )),
        Mode::Log => Line::from(" Esc back · q quit"),
        _ => {
            let filter = if app.filter.is_empty() {
                String::new()
            } else {
                format!(" · filter: {}", app.filter)
            };
            Line::from(format!(
                " ↑↓/jk select · Enter log · / filter · s sort: {}{filter} · ? help · q quit",
                app.sort.name()
            ))
        }
    }
}

const HELP: [&str; 7] = [
    "↑ ↓  j k     select an instance (PgUp/PgDn, g/G: jump)",
    "Enter        its recent log, followed live (Esc back)",
    "/            filter by label, id, status, GPU or last line",
    "s            sort: cost, status, log age, label",
    "Esc          clear the filter",
    "",
    "C/F: completions / job failures (red: also a failed action or an API error). LOG: time since the last new line.",
];

/// The help lines that differ between `top` and `watch --tui`.
fn help_for(inside_watcher: bool) -> [&'static str; 2] {
    if inside_watcher {
        [
            "q  Ctrl+C    stop watching (in order, with the summary)",
            "The watcher's own view: `vastfleet top` shows it elsewhere too.",
        ]
    } else {
        [
            "q  Ctrl+C    quit (the watcher keeps running)",
            "Read from the running watcher: no API call, no key.",
        ]
    }
}

fn draw_help(frame: &mut Frame, area: Rect, inside_watcher: bool) {
    let [quit, source] = help_for(inside_watcher);
    let mut help: Vec<&str> = HELP.to_vec();
    help.insert(5, quit);
    help.push(source);
    let width = (help.iter().map(|l| l.chars().count()).max().unwrap_or(0) + 4) as u16;
    let height = help.len() as u16 + 2;
    let popup = Rect {
        x: area.x + area.width.saturating_sub(width) / 2,
        y: area.y + area.height.saturating_sub(height) / 2,
        width: width.min(area.width),
        height: height.min(area.height),
    };
    let lines: Vec<Line> = help.iter().map(|l| Line::from(format!(" {l}"))).collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" keys (any key closes) ")),
        popup,
    );
}

/// "42s", "5m", "3h12m", "2d4h": what fits a narrow column.
pub fn age(seconds: f64) -> String {
    let s = if seconds.is_finite() {
        seconds.max(0.0) as u64
    } else {
        0
    };
    crate::report::words::column_duration(std::time::Duration::from_secs(s))
}
