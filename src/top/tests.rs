use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::Terminal;

use super::app::{App, Mode, Request, Sort};
use super::render::draw;
use crate::live::board::totals;
use crate::live::snapshot::{
    ApiHealth, ApiView, EndpointView, FleetSnapshot, InstanceView, LogLine, LogView, VERSION,
};
use crate::status::Status;

const NOW: f64 = 10_000.0;

fn instance(id: u64, label: &str, status: Status, dph: f64) -> InstanceView {
    InstanceView {
        id,
        label: label.into(),
        status: Some(status),
        message: None,
        gpu: Some("2x RTX 4090".into()),
        dph_total: Some(dph),
        spend_usd: Some(dph * 2.0),
        started_at: Some(NOW - 7200.0),
        last_line: Some(format!("{label} step 7")),
        last_line_at: Some(NOW - 42.0),
        log_lines: 7,
        completions: 1,
        failures: 0,
        failed_actions: 0,
        guard: None,
        actions: Vec::new(),
        error: None,
        ssh: None,
    }
}

fn fleet() -> FleetSnapshot {
    let mut beta = instance(31000002, "beta", Status::Stopped, 0.25);
    beta.last_line_at = Some(NOW - 600.0);
    beta.failed_actions = 1;
    let mut gamma = instance(31000003, "gamma", Status::Loading, 0.0);
    (gamma.gpu, gamma.dph_total, gamma.spend_usd) = (None, None, None);
    (gamma.started_at, gamma.last_line, gamma.last_line_at) = (None, None, None);
    let instances = vec![
        instance(31000001, "alpha", Status::Running, 0.8),
        beta,
        gamma,
    ];
    FleetSnapshot {
        version: VERSION,
        pid: 4242,
        at: NOW,
        started_at: NOW - 60.0,
        fleet_file: Some("fleet.toml".into()),
        totals: totals(&instances),
        instances,
        seq: 0,
        changed_since: None,
        ids: None,
        api: ApiView {
            health: ApiHealth::Ok,
            per_second: Some(2.0),
            calls: 120,
            rate_limited: 0,
            endpoints: vec![
                EndpointView {
                    endpoint: "list".into(),
                    per_second: Some(1.0),
                    calls: 100,
                },
                EndpointView {
                    endpoint: "destroy".into(),
                    per_second: Some(0.333),
                    calls: 0,
                },
            ],
        },
    }
}

/// The screen as text, one string per row (a wide glyph's hidden cell left out).
fn screen(app: &App, snapshot: &FleetSnapshot, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| draw(frame, app, snapshot, NOW))
        .unwrap();
    let buffer = terminal.backend().buffer().clone();
    (0..height)
        .map(|y| {
            let mut row = String::new();
            let mut skip = 0;
            for x in 0..width {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                let symbol = buffer[(x, y)].symbol();
                skip = unicode_width(symbol).saturating_sub(1);
                row.push_str(symbol);
            }
            row.trim_end().to_owned()
        })
        .collect()
}

fn unicode_width(symbol: &str) -> usize {
    // The glyphs used are the only wide characters on these screens.
    if ["🔄", "💤", "⏳", "❓"].contains(&symbol) {
        2
    } else {
        1
    }
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::from(code)
}

#[test]
fn the_table_shows_every_column_the_totals_and_the_selection() {
    let app = App::default();
    let snapshot = fleet();
    let lines = screen(&app, &snapshot, 110, 8);
    assert_eq!(
        lines,
        [
            "vastfleet top · fleet.toml · 3 instances: 1 loading, 1 running, 1 stopped · $0.80/hr · spent $2.10",
            "API ok · 2.00 calls/s · list 1.00/s · 120 calls, 0 × 429",
            "   LABEL ID        GPU            $/HR   SPEND    UP     LOG   C/F   LAST LINE",
            "🔄 alpha 31000001  2x RTX 4090    0.800  $1.60    2h0m   42s   1/0   alpha step 7",
            "💤 beta  31000002  2x RTX 4090    0.250  $0.50    2h0m   10m   1/0   beta step 7",
            "⏳ gamma 31000003  -              -      -        -      -     1/0",
            "",
            " ↑↓/jk select · Enter log · / filter · s sort: cost · ? help · q quit",
        ]
    );
    assert!(
        reversed(&app, &snapshot, 3),
        "the dearest row is selected first"
    );
    assert!(!reversed(&app, &snapshot, 4));
}

/// Whether the table row on screen line `y` is drawn selected.
fn reversed(app: &App, snapshot: &FleetSnapshot, y: u16) -> bool {
    let mut terminal = Terminal::new(TestBackend::new(110, 10)).unwrap();
    terminal
        .draw(|frame| draw(frame, app, snapshot, NOW))
        .unwrap();
    let cell = &terminal.backend().buffer()[(5, y)];
    cell.modifier.contains(ratatui::style::Modifier::REVERSED)
}

#[test]
fn keys_move_the_selection_sort_and_filter() {
    let snapshot = fleet();
    let mut app = App::default();
    assert_eq!(app.key(key(KeyCode::Char('j')), &snapshot), Request::None);
    assert_eq!(app.selected, Some(31000002));
    assert!(reversed(&app, &snapshot, 4) && !reversed(&app, &snapshot, 3));
    app.key(key(KeyCode::Down), &snapshot);
    app.key(key(KeyCode::Down), &snapshot);
    assert_eq!(app.selected, Some(31000003), "the last row stays selected");
    app.key(key(KeyCode::Char('k')), &snapshot);
    assert_eq!(app.selected, Some(31000002));

    let order = |app: &App| {
        app.rows(&snapshot)
            .iter()
            .map(|i| i.label.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(order(&app), ["alpha", "beta", "gamma"]);
    app.key(key(KeyCode::Char('s')), &snapshot);
    assert_eq!(app.sort, Sort::Status);
    assert_eq!(
        order(&app),
        ["beta", "gamma", "alpha"],
        "stopped, booting, running"
    );
    app.key(key(KeyCode::Char('s')), &snapshot);
    assert_eq!(app.sort, Sort::LogAge);
    assert_eq!(
        order(&app),
        ["gamma", "beta", "alpha"],
        "never spoke, then the longest silent"
    );
    app.key(key(KeyCode::Char('s')), &snapshot);
    assert_eq!(order(&app), ["alpha", "beta", "gamma"]);
    assert_eq!(app.sort, Sort::Label);
    assert_eq!(
        app.selected,
        Some(31000002),
        "the selection follows the instance"
    );

    app.key(key(KeyCode::Char('/')), &snapshot);
    assert_eq!(app.mode, Mode::Filter);
    for c in "GAM".chars() {
        app.key(key(KeyCode::Char(c)), &snapshot);
    }
    app.key(key(KeyCode::Enter), &snapshot);
    assert_eq!(order(&app), ["gamma"]);
    let lines = screen(&app, &snapshot, 110, 6);
    assert_eq!(
        lines[3],
        "⏳ gamma 31000003  -              -      -        -      -     1/0"
    );
    assert!(lines[5].contains("filter: GAM"), "{lines:?}");
    app.key(key(KeyCode::Char('/')), &snapshot);
    for c in "zzz".chars() {
        app.key(key(KeyCode::Char(c)), &snapshot);
    }
    app.key(key(KeyCode::Enter), &snapshot);
    let lines = screen(&app, &snapshot, 110, 6);
    assert_eq!(lines[3], "  no instance matches the filter (Esc clears it)");
    app.key(key(KeyCode::Esc), &snapshot);
    assert_eq!(order(&app).len(), 3);

    app.key(key(KeyCode::Char('?')), &snapshot);
    assert_eq!(app.mode, Mode::Help);
    let lines = screen(&app, &snapshot, 110, 16);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("s            sort: cost, status, log age, label")),
        "{lines:?}"
    );
    app.key(key(KeyCode::Char('x')), &snapshot);
    assert_eq!(app.mode, Mode::Table);
    assert_eq!(app.key(key(KeyCode::Char('q')), &snapshot), Request::Quit);
}

#[test]
fn a_narrow_terminal_keeps_label_status_and_last_line() {
    let app = App::default();
    let lines = screen(&app, &fleet(), 60, 6);
    assert_eq!(lines[2], "   LABEL ID        UP     LOG   C/F   LAST LINE");
    assert_eq!(
        lines[3],
        "🔄 alpha 31000001  2h0m   42s   1/0   alpha step 7"
    );
    for line in &lines {
        assert!(line.chars().count() <= 60, "{line}");
    }
}

#[test]
fn only_the_rows_that_fit_are_drawn_and_the_selection_stays_visible() {
    let mut snapshot = fleet();
    snapshot.instances = (0..1000)
        .map(|n| instance(40_000_000 + n, &format!("job-{n:04}"), Status::Running, 0.5))
        .collect();
    let mut app = App {
        sort: Sort::Label,
        ..App::default()
    };
    for _ in 0..10 {
        app.key(key(KeyCode::PageDown), &snapshot);
    }
    assert_eq!(app.selected, Some(40_000_200));
    let lines = screen(&app, &snapshot, 110, 10);
    // Header 2 lines, the table's own header, 6 rows, the footer: job-0200 is the last row.
    assert!(lines[8].starts_with("🔄 job-0200"), "{lines:?}");
    assert!(lines[3].starts_with("🔄 job-0195"), "{lines:?}");
    assert!(reversed(&app, &snapshot, 8) && !reversed(&app, &snapshot, 7));
}

#[test]
fn enter_opens_the_log_pane_which_follows_new_lines() {
    let snapshot = fleet();
    let mut app = App::default();
    assert_eq!(
        app.key(key(KeyCode::Enter), &snapshot),
        Request::Log(31000001)
    );
    assert_eq!(app.following(), Some(31000001));
    let line = |at: f64, text: &str, history| LogLine {
        at,
        line: text.into(),
        history,
    };
    app.merge_log(LogView {
        id: 31000001,
        label: "alpha".into(),
        lines: vec![
            line(NOW - 60.0, "boot", true),
            line(NOW - 42.0, "step 1", false),
        ],
    });
    // The next answer repeats the last line the pane has and adds one.
    app.merge_log(LogView {
        id: 31000001,
        label: "alpha".into(),
        lines: vec![
            line(NOW - 42.0, "step 1", false),
            line(NOW - 3.0, "step 2", false),
        ],
    });
    let lines = screen(&app, &snapshot, 70, 8);
    assert_eq!(
        lines,
        [
            "vastfleet top · fleet.toml · 3 instances: 1 loading, 1 running, 1 stop",
            "API ok · 2.00 calls/s · list 1.00/s · 120 calls, 0 × 429",
            " alpha (31000001) · log, followed live · Esc back ────────────────────",
            "history boot",
            "    42s step 1",
            "     3s step 2",
            "",
            " Esc back · q quit",
        ]
    );
    app.key(key(KeyCode::Esc), &snapshot);
    assert_eq!((app.mode, app.following()), (Mode::Table, None));
}

#[test]
fn help_and_header_say_whether_quitting_stops_the_watcher() {
    let snapshot = fleet();
    let mut top = App::default();
    top.key(key(KeyCode::Char('?')), &snapshot);
    let lines = screen(&top, &snapshot, 110, 16);
    assert!(lines[0].starts_with("vastfleet top · fleet.toml"));
    assert!(lines
        .iter()
        .any(|l| l.contains("q  Ctrl+C    quit (the watcher keeps running)")));
    assert!(lines.iter().any(|l| l.contains("no API call, no key.")));

    let mut inside = App {
        inside_watcher: true,
        ..App::default()
    };
    inside.key(key(KeyCode::Char('?')), &snapshot);
    let lines = screen(&inside, &snapshot, 110, 16);
    assert!(lines[0].starts_with("vastfleet watch · fleet.toml"));
    assert!(lines
        .iter()
        .any(|l| l.contains("q  Ctrl+C    stop watching (in order, with the summary)")));
    assert!(!lines.iter().any(|l| l.contains("keeps running")));
    inside.key(key(KeyCode::Char('x')), &snapshot);
    assert_eq!(inside.mode, Mode::Table, "any key closes the help");
}
