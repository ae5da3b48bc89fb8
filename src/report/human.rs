//! The human rendering: `HH:MM:SS <glyph> <label> │ message`, one line per event, labels
//! padded to one width and coloured per instance, status glyphs that follow each instance.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::SystemTime;

use anstyle::{AnsiColor, Color, Style};
use regex::Regex;

use super::clock::{self, TimeZone};
use super::event::{Event, EventKind, Source};
use super::message::describe;
use super::sanitize::{capped, clean_line, LOG_LINE_CAP, MESSAGE_CAP};
use super::style::{highlight, label_color, paint_into, status_glyph};
use super::summary;
use crate::status::Status;
use crate::throttle::Change;

/// The prefix of events that concern no single instance.
pub const FLEET_LABEL: &str = "fleet";

const SEPARATOR: &str = "│";
const DIM: Style = Style::new().dimmed();
const ERROR: Style = AnsiColor::Red.on_default();
const WARNING: Style = AnsiColor::Yellow.on_default();
const GOOD: Style = AnsiColor::Green.on_default();
const MATCH: Style = Style::new()
    .fg_color(Some(Color::Ansi(AnsiColor::Black)))
    .bg_color(Some(Color::Ansi(AnsiColor::Yellow)))
    .bold();

#[derive(Debug, Clone)]
pub struct HumanOptions {
    /// Decided once at start (see [`super::style::detect_color`]).
    pub color: bool,
    /// The local time zone's rules (see [`super::clock::local_zone`]): each line's time is shown
    /// at the offset in force at that instant.
    pub zone: TimeZone,
    /// Leave out the `glyph label │` prefix.
    pub no_prefix: bool,
    /// Full RFC 3339 instead of `HH:MM:SS`.
    pub timestamps: bool,
    /// Matches painted in log lines (only when `color` is on).
    pub highlight: Vec<Regex>,
    /// The longest label known at start, so the first lines already line up.
    pub label_width: usize,
    /// `-q`: only what happens to instances (see [`shown_when_quiet`]).
    pub quiet: bool,
}

impl HumanOptions {
    pub fn new(color: bool, zone: TimeZone) -> Self {
        HumanOptions {
            color,
            zone,
            no_prefix: false,
            timestamps: false,
            highlight: Vec::new(),
            label_width: 0,
            quiet: false,
        }
    }
}

/// Remembers what later lines depend on: the prefix width and each instance's last status.
#[derive(Debug)]
pub struct HumanRenderer {
    options: HumanOptions,
    /// Grows as labels appear and never shrinks, so columns do not jump when one leaves.
    width: usize,
    statuses: HashMap<u64, Status>,
}

impl HumanRenderer {
    pub fn new(options: HumanOptions) -> Self {
        HumanRenderer {
            width: FLEET_LABEL.chars().count().max(options.label_width),
            options,
            statuses: HashMap::new(),
        }
    }

    /// Whether `event` is shown at all (`-q` hides the fleet's chatter; throttle steps are
    /// never shown, see [`shown`]).
    pub fn shows(&self, event: &Event) -> bool {
        shown(&event.kind) && (!self.options.quiet || shown_when_quiet(&event.kind))
    }

    /// The text of one event, without a trailing newline; `Shutdown` and `ReloadRejected` span
    /// several lines. `clean_log`: a `Log` event's line already made printable
    /// ([`clean_line`]) by the caller, so each line is sanitised once.
    pub fn render(&mut self, event: &Event, clean_log: Option<&str>) -> String {
        if let EventKind::Status { source, status, .. } = &event.kind {
            self.statuses.insert(source.id, status.clone());
        }
        let mut out = String::new();
        self.write_time(&mut out, event.at);
        if !self.options.no_prefix {
            self.write_prefix(&mut out, event.kind.source());
        }
        self.write_message(&mut out, &event.kind, clean_log);
        match &event.kind {
            EventKind::Left { source } => {
                self.statuses.remove(&source.id);
            }
            // Formatted like the same error at start-up (`FILE:LINE:COL: what`, then
            // `  help: …`): a line each, not run into one sentence.
            EventKind::ReloadRejected { error } => {
                for line in error.trim_end().lines() {
                    out.push('\n');
                    out.push_str(&capped(&clean_line(line), MESSAGE_CAP));
                }
            }
            EventKind::Shutdown {
                summary,
                api,
                resume,
            } => {
                for line in summary::lines(summary, api, resume) {
                    out.push('\n');
                    out.push_str(&clean_line(&line));
                }
            }
            _ => {}
        }
        out
    }

    fn write_time(&self, out: &mut String, at: SystemTime) {
        let offset = clock::offset_at(&self.options.zone, at);
        let text = if self.options.timestamps {
            clock::rfc3339_local(at, offset)
        } else {
            clock::clock_time(at, offset)
        };
        self.paint(out, DIM, &text);
        out.push(' ');
    }

    fn write_prefix(&mut self, out: &mut String, source: Option<&Source>) {
        let (glyph, label, style) = match source {
            Some(source) => (
                status_glyph(self.statuses.get(&source.id)),
                clean_line(&source.label),
                label_color(&source.label).on_default(),
            ),
            // Two spaces: as wide as a glyph.
            None => ("  ", FLEET_LABEL.into(), Style::new().bold()),
        };
        let label_width = label.chars().count();
        self.width = self.width.max(label_width);
        out.push_str(glyph);
        out.push(' ');
        self.paint(out, style, &label);
        out.extend(std::iter::repeat_n(' ', self.width - label_width + 1));
        self.paint(out, DIM, SEPARATOR);
        out.push(' ');
    }

    fn write_message(&self, out: &mut String, kind: &EventKind, clean_log: Option<&str>) {
        if let EventKind::Log { line, history, .. } = kind {
            let line = clean_log.map_or_else(|| clean_line(line), Cow::Borrowed);
            let line = capped(&line, LOG_LINE_CAP);
            let base = if *history { DIM } else { Style::new() };
            if self.options.color && !self.options.highlight.is_empty() {
                out.push_str(&highlight(&line, &self.options.highlight, base, MATCH));
            } else {
                self.paint(out, base, &line);
            }
            return;
        }
        let text = describe(kind);
        self.paint(out, tone(kind), &capped(&clean_line(&text), MESSAGE_CAP));
    }

    fn paint(&self, out: &mut String, style: Style, text: &str) {
        if self.options.color {
            paint_into(out, style, text);
        } else {
            out.push_str(text);
        }
    }
}

/// What `-q` keeps: what happens to instances — their lines, statuses, completions, failures,
/// actions and guards — and what the user must act on (a rejected reload, the summary). API
/// errors, recoveries, throttle changes and notices are the chatter it hides; `--json` and the
/// metrics still carry them.
pub fn shown_when_quiet(kind: &EventKind) -> bool {
    match kind {
        EventKind::ApiError { .. }
        | EventKind::Recovered { .. }
        | EventKind::Throttle { .. }
        | EventKind::Notice { .. } => false,
        EventKind::ReloadRejected { .. } | EventKind::Shutdown { .. } => true,
        other => other.source().is_some(),
    }
}

/// Whether the human stream shows this event at all: the steps of a throttle's pace are only
/// for `--json` and the metrics (the human stream says when it is limited and when it is back).
pub fn shown(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::Throttle {
            change: Change::Step,
            ..
        }
    )
}

/// The colour of an event's message: red for failures, yellow for warnings, green for
/// good news.
fn tone(kind: &EventKind) -> Style {
    match kind {
        EventKind::Throttle {
            change: Change::Back,
            ..
        } => GOOD,
        EventKind::ApiError { .. }
        | EventKind::ReloadRejected { .. }
        | EventKind::StateError { .. }
        | EventKind::Action { ok: false, .. }
        | EventKind::Failure(_) => ERROR,
        EventKind::Gap { .. }
        | EventKind::Guard { .. }
        | EventKind::OldCompletions { .. }
        | EventKind::OldFailures { .. }
        | EventKind::Budget { .. }
        | EventKind::Orphans { .. }
        | EventKind::Note { .. }
        | EventKind::Throttle { .. } => WARNING,
        EventKind::Recovered { .. } => GOOD,
        EventKind::Completion(_) => GOOD.bold(),
        EventKind::Action { .. } => Style::new().bold(),
        EventKind::Status {
            status, previous, ..
        } if *status == Status::Gone || previous.as_ref().is_some_and(|p| p != status) => {
            Style::new().bold()
        }
        _ => Style::new(),
    }
}
