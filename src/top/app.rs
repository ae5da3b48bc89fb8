//! What `top` shows and how keys change it: a plain struct, no terminal, no IO, so the
//! keys are tested like the monitor machine is.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::live::snapshot::{FleetSnapshot, InstanceView, LogLine, LogView};
use crate::status::Status;

/// Lines of one instance's log `top` keeps while the pane is open.
const PANE_LINES: usize = 2000;

/// The order of the table; `s` goes round them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Dearest first: what burns money is what to look at.
    Cost,
    /// Trouble first (down, gone, booting), then running.
    Status,
    /// Longest silent first: a hung job stands out.
    LogAge,
    Label,
}

impl Sort {
    pub fn name(self) -> &'static str {
        match self {
            Sort::Cost => "cost",
            Sort::Status => "status",
            Sort::LogAge => "log age",
            Sort::Label => "label",
        }
    }

    fn next(self) -> Sort {
        match self {
            Sort::Cost => Sort::Status,
            Sort::Status => Sort::LogAge,
            Sort::LogAge => Sort::Label,
            Sort::Label => Sort::Cost,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Table,
    /// Typing the filter after `/`.
    Filter,
    /// The selected instance's log, followed live.
    Log,
    Help,
}

/// What the user asked for that needs the watcher (the loop does the IO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    None,
    Quit,
    /// Open (or keep following) this instance's log.
    Log(u64),
}

#[derive(Debug, Clone)]
pub struct App {
    /// `watch --tui`: the view is the watcher's own, so quitting stops the watcher (and the
    /// header and help say so); `top` only looks at a watcher running elsewhere.
    pub inside_watcher: bool,
    pub mode: Mode,
    pub sort: Sort,
    pub filter: String,
    /// The selection follows the instance, not the row, across refreshes and re-sorts.
    pub selected: Option<u64>,
    /// The open log pane's lines (oldest first) and whose they are.
    pub log: Option<LogView>,
    /// Shown in the footer until the next good refresh (the watcher went away, ...).
    pub problem: Option<String>,
}

impl Default for App {
    fn default() -> Self {
        App {
            inside_watcher: false,
            mode: Mode::Table,
            sort: Sort::Cost,
            filter: String::new(),
            selected: None,
            log: None,
            problem: None,
        }
    }
}

impl App {
    /// The instances to list, filtered and sorted.
    pub fn rows<'a>(&self, snapshot: &'a FleetSnapshot) -> Vec<&'a InstanceView> {
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&InstanceView> = snapshot
            .instances
            .iter()
            .filter(|i| needle.is_empty() || matches_filter(i, &needle))
            .collect();
        let at = snapshot.at;
        match self.sort {
            Sort::Cost => rows.sort_by(|a, b| {
                let cost = |i: &InstanceView| i.dph_total.unwrap_or(0.0);
                cost(b).total_cmp(&cost(a)).then(a.id.cmp(&b.id))
            }),
            Sort::Status => rows.sort_by_key(|i| (status_rank(i.status.as_ref()), i.id)),
            Sort::LogAge => rows.sort_by(|a, b| {
                let age = |i: &InstanceView| i.last_line_at.map_or(f64::INFINITY, |t| at - t);
                age(b).total_cmp(&age(a)).then(a.id.cmp(&b.id))
            }),
            Sort::Label => rows.sort_by(|a, b| a.label.cmp(&b.label).then(a.id.cmp(&b.id))),
        }
        rows
    }

    /// The selected row's index in `rows`, choosing the first row when nothing (still
    /// listed) is selected.
    pub fn selected_index(&mut self, rows: &[&InstanceView]) -> Option<usize> {
        let index = self
            .selected
            .and_then(|id| rows.iter().position(|i| i.id == id))
            .or((!rows.is_empty()).then_some(0));
        self.selected = index.map(|i| rows[i].id);
        index
    }

    /// One key press.
    pub fn key(&mut self, key: KeyEvent, snapshot: &FleetSnapshot) -> Request {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Request::Quit;
        }
        match self.mode {
            Mode::Filter => {
                match key.code {
                    KeyCode::Enter => self.mode = Mode::Table,
                    KeyCode::Esc => {
                        self.filter.clear();
                        self.mode = Mode::Table;
                    }
                    KeyCode::Backspace => {
                        self.filter.pop();
                    }
                    KeyCode::Char(c) if !c.is_control() => self.filter.push(c),
                    _ => {}
                }
                Request::None
            }
            Mode::Help => {
                self.mode = Mode::Table;
                Request::None
            }
            Mode::Log => match key.code {
                KeyCode::Char('q') => Request::Quit,
                KeyCode::Esc | KeyCode::Enter | KeyCode::Backspace => {
                    self.mode = Mode::Table;
                    self.log = None;
                    Request::None
                }
                _ => Request::None,
            },
            Mode::Table => self.table_key(key.code, snapshot),
        }
    }

    fn table_key(&mut self, code: KeyCode, snapshot: &FleetSnapshot) -> Request {
        let rows = self.rows(snapshot);
        let index = self.selected_index(&rows);
        let step = |delta: isize| {
            index.map(|i| rows[(i as isize + delta).clamp(0, rows.len() as isize - 1) as usize].id)
        };
        match code {
            KeyCode::Char('q') => return Request::Quit,
            KeyCode::Up | KeyCode::Char('k') => self.selected = step(-1),
            KeyCode::Down | KeyCode::Char('j') => self.selected = step(1),
            KeyCode::PageUp => self.selected = step(-20),
            KeyCode::PageDown => self.selected = step(20),
            KeyCode::Home | KeyCode::Char('g') => self.selected = rows.first().map(|i| i.id),
            KeyCode::End | KeyCode::Char('G') => self.selected = rows.last().map(|i| i.id),
            KeyCode::Char('s') => self.sort = self.sort.next(),
            KeyCode::Char('/') => self.mode = Mode::Filter,
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Esc => self.filter.clear(),
            KeyCode::Enter => {
                if let Some(id) = self.selected {
                    self.mode = Mode::Log;
                    return Request::Log(id);
                }
            }
            _ => {}
        }
        Request::None
    }

    /// The log pane's id, when it is open.
    pub fn following(&self) -> Option<u64> {
        (self.mode == Mode::Log).then_some(self.selected).flatten()
    }

    /// Merges a fresh recent-lines answer into the pane: the lines after the last one shown
    /// (matched by time and text, since the watcher keeps only the last few).
    pub fn merge_log(&mut self, fresh: LogView) {
        let Some(pane) = self.log.as_mut().filter(|pane| pane.id == fresh.id) else {
            self.log = Some(fresh);
            return;
        };
        let start = match pane.lines.last() {
            Some(last) => fresh
                .lines
                .iter()
                .rposition(|line| same_line(line, last))
                .map_or(0, |i| i + 1),
            None => 0,
        };
        pane.lines.extend(fresh.lines.into_iter().skip(start));
        let excess = pane.lines.len().saturating_sub(PANE_LINES);
        pane.lines.drain(..excess);
    }
}

fn same_line(a: &LogLine, b: &LogLine) -> bool {
    a.at == b.at && a.line == b.line
}

fn matches_filter(instance: &InstanceView, needle: &str) -> bool {
    let status = instance.status.as_ref().map_or("", Status::as_str);
    [
        instance.label.as_str(),
        status,
        instance.gpu.as_deref().unwrap_or(""),
        instance.last_line.as_deref().unwrap_or(""),
    ]
    .iter()
    .any(|field| field.to_lowercase().contains(needle))
        || instance.id.to_string().contains(needle)
}

/// What needs a look first when sorting by status.
fn status_rank(status: Option<&Status>) -> u8 {
    match status {
        Some(s) if s.is_down() => 0,
        Some(Status::Gone) => 1,
        Some(Status::Stopped | Status::Frozen) => 2,
        None => 3,
        Some(s) if s.is_booting() => 3,
        Some(Status::Running) => 5,
        Some(_) => 4,
    }
}
