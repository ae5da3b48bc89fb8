use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::snapshot::{ActionView, ApiHealth, GuardView, LogLine};
use super::*;
use crate::api::Instance;
use crate::feed::Sweep;
use crate::report::event::{ActionKind, Completion, Event, EventKind, Failure, JobCost, Source};

pub(super) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

pub(super) fn source(id: u64, label: &str) -> Source {
    Source {
        id,
        label: label.into(),
    }
}

pub(super) fn event(secs: u64, kind: EventKind) -> Event {
    Event { at: at(secs), kind }
}

pub(super) fn log(secs: u64, id: u64, line: &str, history: bool) -> Event {
    event(
        secs,
        EventKind::Log {
            source: source(id, "alpha"),
            line: line.into(),
            history,
        },
    )
}

pub(super) fn status(secs: u64, id: u64, label: &str, status: &str) -> Event {
    event(
        secs,
        EventKind::Status {
            source: source(id, label),
            status: status.into(),
            previous: None,
            message: Some("success,\trunning".into()),
        },
    )
}

/// The story of one instance, as the stream tells it.
pub(super) fn alpha_story(board: &Board) {
    let alpha = source(1, "alpha");
    let events = [
        event(
            100,
            EventKind::Joined {
                source: alpha.clone(),
            },
        ),
        status(101, 1, "alpha", "running"),
        log(102, 1, "old line", true),
        log(110, 1, "epoch 1\x1b[31m red\x1b[0m", false),
        log(120, 1, "epoch 2", false),
        event(
            121,
            EventKind::Completion(Completion {
                source: alpha.clone(),
                count: 1,
                result_url: None,
                cost: JobCost {
                    gpu: None,
                    dph_total: None,
                    run: None,
                },
            }),
        ),
        event(
            122,
            EventKind::Action {
                source: alpha.clone(),
                action: ActionKind::Stop,
                ok: false,
                dry_run: false,
                reason: "completion".into(),
                error: Some("HTTP 500".into()),
            },
        ),
        event(
            123,
            EventKind::Guard {
                source: alpha.clone(),
                guard: "max_cost".into(),
                action: Some(ActionKind::Stop),
                detail: "$5.10 spent".into(),
            },
        ),
        event(
            123,
            EventKind::Failure(Failure {
                source: alpha.clone(),
                reason: crate::report::event::FailureReason::Log,
                count: 1,
                line: Some("Traceback (most recent call last):".into()),
                context: Vec::new(),
                cost: JobCost {
                    gpu: None,
                    dph_total: None,
                    run: None,
                },
            }),
        ),
        event(
            124,
            EventKind::ApiError {
                source: Some(alpha.clone()),
                attempt: 1,
                retry_in: Duration::from_secs(2),
                error: "logs: timed out".into(),
            },
        ),
    ];
    for event in &events {
        board.observe(event);
    }
}

#[test]
fn the_snapshot_is_the_stream_folded() {
    let board = Board::new(Sources::default());
    alpha_story(&board);
    board.observe(&status(130, 2, "beta", "stopped"));
    let snapshot = board.snapshot(at(200));
    assert_eq!(snapshot.at, 200.0);
    assert_eq!(snapshot.pid, std::process::id());
    assert_eq!(snapshot.instances.len(), 2);
    let alpha = &snapshot.instances[0];
    assert_eq!(alpha.id, 1);
    assert_eq!(alpha.label, "alpha");
    assert_eq!(alpha.status, Some(crate::status::Status::Running));
    assert_eq!(alpha.message.as_deref(), Some("success,\trunning"));
    assert_eq!(alpha.last_line.as_deref(), Some("epoch 2"));
    assert_eq!(alpha.last_line_at, Some(120.0));
    assert_eq!(
        (alpha.log_lines, alpha.completions, alpha.failures),
        (2, 1, 1)
    );
    assert_eq!(alpha.failed_actions, 1);
    assert_eq!(
        alpha.actions,
        [ActionView {
            action: "stop".into(),
            ok: false,
            dry_run: false,
            reason: "completion".into(),
            at: 122.0,
        }]
    );
    assert_eq!(
        alpha.guard,
        Some(GuardView {
            guard: "max_cost".into(),
            action: Some("stop".into()),
            detail: "$5.10 spent".into(),
            at: 123.0,
        })
    );
    assert_eq!(alpha.error.as_deref(), Some("logs: timed out"));
    // Without a sweep the board knows no price: it never invents one.
    assert_eq!(
        (alpha.gpu.as_ref(), alpha.dph_total, alpha.spend_usd),
        (None, None, None)
    );
    assert_eq!(snapshot.instances[1].label, "beta");
    assert_eq!(snapshot.totals.instances, 2);
    assert_eq!(
        snapshot.totals.by_status.iter().collect::<Vec<_>>(),
        [(&"running".to_owned(), &1), (&"stopped".to_owned(), &1)]
    );
    assert_eq!(
        (snapshot.totals.completions, snapshot.totals.failures),
        (1, 1)
    );
    assert_eq!(snapshot.api.health, ApiHealth::Ok);

    let log = board.log(1).unwrap();
    let lines: Vec<(&str, bool)> = log
        .lines
        .iter()
        .map(|l| (l.line.as_str(), l.history))
        .collect();
    // Escape sequences are gone: the pane is a terminal too.
    assert_eq!(
        lines,
        [
            ("old line", true),
            ("epoch 1 red", false),
            ("epoch 2", false)
        ]
    );
    assert!(board.log(3).is_none());
}

#[test]
fn recovery_and_leaving_are_folded_too() {
    let board = Board::new(Sources::default());
    alpha_story(&board);
    let sweep_error = |secs, attempt| {
        event(
            secs,
            EventKind::ApiError {
                source: None,
                attempt,
                retry_in: Duration::from_secs(1),
                error: format!("status sweep: attempt {attempt}"),
            },
        )
    };
    board.observe(&sweep_error(150, 1));
    board.observe(&sweep_error(155, 2));
    assert_eq!(
        board.snapshot(at(160)).api.health,
        ApiHealth::Failing {
            attempt: 2,
            since: 150.0,
            error: "status sweep: attempt 2".into()
        }
    );
    let recovered = |source| EventKind::Recovered {
        source,
        failed_attempts: 2,
    };
    board.observe(&event(161, recovered(None)));
    board.observe(&event(162, recovered(Some(source(1, "alpha")))));
    let snapshot = board.snapshot(at(163));
    assert_eq!(snapshot.api.health, ApiHealth::Ok);
    assert_eq!(snapshot.instances[0].error, None);

    board.observe(&event(
        170,
        EventKind::Left {
            source: source(1, "alpha"),
        },
    ));
    assert!(board.snapshot(at(171)).instances.is_empty());
    assert!(board.log(1).is_none());
}

#[test]
fn the_log_pane_keeps_the_recent_lines_only() {
    let board = Board::new(Sources::default());
    for n in 0..(RECENT_LINES as u64 + 5) {
        board.observe(&log(n, 1, &format!("line {n}"), false));
    }
    let lines = board.log(1).unwrap().lines;
    assert_eq!(lines.len(), RECENT_LINES);
    assert_eq!(
        lines.last(),
        Some(&LogLine {
            at: (RECENT_LINES + 4) as f64,
            line: format!("line {}", RECENT_LINES + 4),
            history: false,
        })
    );
    assert_eq!(lines[0].line, "line 5");
}

#[test]
fn price_gpu_and_uptime_come_from_the_last_sweep() {
    let row = Instance {
        id: Some(1),
        actual_status: Some("running".into()),
        gpu_name: Some("RTX 4090".into()),
        num_gpus: Some(2),
        dph_total: Some(0.5),
        start_date: Some(1000.0),
        ..Instance::default()
    };
    let sweep = Sweep {
        rows: HashMap::from([(1, row)]),
        running: 1,
        number: 1,
    };
    let (_tx, rx) = tokio::sync::watch::channel(Some(Arc::new(sweep)));
    let board = Board::new(Sources {
        sweeps: Some(rx),
        ..Sources::default()
    });
    board.observe(&status(1001, 1, "alpha", "running"));
    board.observe(&status(1002, 2, "beta", "gone"));
    let snapshot = board.snapshot(at(1000 + 7200));
    let alpha = &snapshot.instances[0];
    assert_eq!(alpha.gpu.as_deref(), Some("2x RTX 4090"));
    assert_eq!(alpha.dph_total, Some(0.5));
    assert_eq!(alpha.started_at, Some(1000.0));
    assert_eq!(alpha.spend_usd, Some(1.0));
    assert_eq!(snapshot.instances[1].gpu, None);
    assert_eq!(snapshot.totals.dph_running, 0.5);
    assert_eq!(snapshot.totals.spend_usd, 1.0);
}

#[test]
fn a_subscriber_gets_the_replay_then_every_later_event_once() {
    let board = Board::new(Sources::default());
    for n in 0..(board::REPLAY as u64 + 10) {
        board.observe(&log(n, 1, &format!("line {n}"), false));
    }
    let (replay, mut live) = board.subscribe();
    assert_eq!(replay.len(), board::REPLAY);
    assert_eq!(replay[0].0, 11, "the oldest ten fell out of the ring");
    board.observe(&log(5000, 1, "after", false));
    let (seq, event) = live.try_recv().unwrap();
    assert_eq!(seq, board::REPLAY as u64 + 11);
    assert!(matches!(&event.kind, EventKind::Log { line, .. } if line == "after"));
    assert!(live.try_recv().is_err());
}

/// Sends one request on a fresh connection and reads until `done` holds for what came back.
async fn read_until(
    socket: &std::path::Path,
    request: &str,
    done: impl Fn(&str) -> bool,
) -> (tokio::net::UnixStream, String) {
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    let read = async {
        while !done(&text) {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed early: {text}");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap_or_else(|_| panic!("no answer in time; got: {text}"));
    (stream, text)
}

const EVENTS: &str = "GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n";

#[tokio::test]
async fn the_socket_serves_the_snapshot_the_log_and_the_event_stream() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(&dir.path().join(".fleet.toml.state.json"));
    assert!(path.ends_with(".fleet.toml.state.json.sock"));
    let board = Board::new(Sources::default());
    alpha_story(&board);
    let cancel = CancellationToken::new();
    let listener = serve::bind(&path).unwrap();
    let server = serve::spawn(
        listener,
        path.clone(),
        router(board.clone(), cancel.clone()),
        cancel.clone(),
        &tokio_util::task::TaskTracker::new(),
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "owner-only socket");

    let client = LiveClient::new(path.clone());
    let snapshot = client.fleet().await.unwrap();
    let mut expected = board.snapshot(SystemTime::now());
    // serde_json reads a float back to within one ulp; the times are not what is tested here.
    assert!((expected.started_at - snapshot.started_at).abs() < 1e-3);
    (expected.at, expected.started_at) = (snapshot.at, snapshot.started_at);
    assert_eq!(snapshot, expected);
    // A reader passing back its answer's `seq` is sent what changed and merges it whole.
    board.observe(&log(130, 1, "epoch 3", false));
    let after = client.fleet_after(&snapshot).await.unwrap();
    assert_eq!(after.instances[0].last_line.as_deref(), Some("epoch 3"));
    assert_eq!(after.instances.len(), snapshot.instances.len());
    assert_eq!(client.log(1).await.unwrap(), board.log(1).unwrap());
    assert!(matches!(
        client.log(99).await,
        Err(LiveError::Status(hyper::StatusCode::NOT_FOUND))
    ));

    // Two readers at once: each gets the replay, then the same new event.
    let replayed = |text: &str| text.contains("logs: timed out");
    let (mut first, text) = read_until(&path, EVENTS, replayed).await;
    assert!(text.contains("text/event-stream"), "{text}");
    assert!(text.contains("event: log"), "{text}");
    assert!(text.contains(r#""line":"old line""#), "{text}");
    let (mut second, _) = read_until(&path, EVENTS, replayed).await;
    board.observe(&log(300, 1, "live line", false));
    for stream in [&mut first, &mut second] {
        let mut text = String::new();
        let mut buf = [0u8; 4096];
        while !text.contains("live line") {
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0);
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(text.contains("id: 12"), "sequence numbers go on: {text}");
    }

    // Filtered by instance: beta's events only (there are none yet).
    let request = "GET /v1/events?instance=2 HTTP/1.1\r\nHost: x\r\n\r\n";
    let (mut beta, _) = read_until(&path, request, |t| t.contains("\r\n\r\n")).await;
    board.observe(&status(301, 2, "beta", "stopped"));
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains("stopped") {
        let n = beta.read(&mut buf).await.unwrap();
        assert!(n > 0);
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(!text.contains("alpha"), "{text}");

    // Stopping ends the streams and removes the socket.
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
    assert!(!path.exists());
    assert!(matches!(
        client.fleet().await,
        Err(LiveError::NotRunning(_))
    ));
}

#[test]
fn a_socket_left_behind_is_replaced_but_a_file_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.sock");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        drop(serve::bind(&path).unwrap());
        assert!(path.exists(), "a dead watcher leaves its socket");
        drop(serve::bind(&path).unwrap());
    });
    let file = dir.path().join("plain");
    std::fs::write(&file, "keep me").unwrap();
    runtime.block_on(async { assert!(serve::bind(&file).is_err()) });
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

#[test]
fn a_long_state_path_puts_the_socket_in_the_runtime_directory() {
    let long = std::path::PathBuf::from(format!("/tmp/{}/.fleet.toml.state.json", "d".repeat(120)));
    let path = socket_path(&long);
    assert!(path.as_os_str().len() < 108, "{}", path.display());
    assert_eq!(path, socket_path(&long), "the same name every time");
    assert!(path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("vastfleet-"));
}

/// `/v1/fleet`'s bytes, read back as `top` and `status` read them.
pub(super) fn wire(board: &Board, now: SystemTime) -> FleetSnapshot {
    serde_json::from_str(&board.snapshot_json(now, None)).expect("the kept encoding is not JSON")
}

#[test]
fn the_kept_encoding_reads_back_as_the_snapshot_through_every_change() {
    let row = |dph: f64| Instance {
        id: Some(1),
        actual_status: Some("running".into()),
        gpu_name: Some("RTX 4090".into()),
        num_gpus: Some(2),
        dph_total: Some(dph),
        start_date: Some(1000.0),
        ..Instance::default()
    };
    let sweep = |dph: f64| {
        Some(Arc::new(Sweep {
            rows: HashMap::from([(1, row(dph))]),
            running: 1,
            number: 1,
        }))
    };
    let (tx, rx) = tokio::sync::watch::channel(sweep(0.5));
    let board = Board::new(Sources {
        sweeps: Some(rx),
        fleet_file: Some("with \"instances\":[] in its name.toml".into()),
        ..Sources::default()
    });
    alpha_story(&board);
    board.observe(&status(130, 2, "beta", "stopped"));
    let same = |now| {
        let mut read = wire(&board, now);
        let mut direct = board.snapshot(now);
        // Both take the pid and the throttle's view at their own moment; nothing else differs.
        read.api = direct.api.clone();
        direct.pid = read.pid;
        assert_eq!(read, direct);
        read
    };
    let first = same(at(1000 + 3600));
    assert_eq!(first.instances[0].spend_usd, Some(0.5));
    assert_eq!(
        first.fleet_file.as_deref(),
        Some("with \"instances\":[] in its name.toml")
    );

    // Only the clock moved: the kept objects are reused, the spend is not.
    let later = same(at(1000 + 7200));
    assert_eq!(later.instances[0].spend_usd, Some(1.0));
    assert_eq!(later.instances[1].spend_usd, None);

    // The stream moved one instance, the sweep changed its price: both are seen.
    board.observe(&log(7300, 1, "epoch 3", false));
    tx.send_replace(sweep(2.0));
    let moved = same(at(1000 + 7200));
    assert_eq!(moved.instances[0].last_line.as_deref(), Some("epoch 3"));
    assert_eq!(moved.instances[0].dph_total, Some(2.0));
    assert_eq!(moved.totals.spend_usd, 4.0);

    // An instance that leaves is gone from the bytes too.
    board.observe(&event(
        7301,
        EventKind::Left {
            source: source(2, "beta"),
        },
    ));
    assert_eq!(same(at(1000 + 7200)).instances.len(), 1);
}
