//! `--top-seconds` (issue 15): what a connected `top` costs the watcher at N instances, and
//! what one frame of `top` costs. One watcher on one simulator; its CPU is read in windows
//! without and with a reader, interleaved (without, with, without, with) so the fleet's own
//! drift (start-up, completions) falls on both sides alike. The reader is `top`'s own loop
//! without the terminal: every refresh period it reads `/v1/fleet` over the socket with top's
//! client and draws it with top's renderer into a ratatui test buffer, timed.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use vastfleet::live::{client, FleetSnapshot, LiveClient};
use vastfleet::top::{app::App, render, REFRESH};

use crate::{procstat, ratio, start_sim, watcher, Args};

/// The reader's screen: a large terminal, so the frame is no cheaper than a user's.
const WIDTH: u16 = 200;
const HEIGHT: u16 = 60;
/// Instances of the small fleet a frame is compared to: draws only what is visible.
const SMALL: usize = 10;
/// Windows per side.
const WINDOWS: usize = 3;

/// Times of the reader's frames, in seconds.
#[derive(Default)]
struct Frames {
    fetch: Vec<f64>,
    draw: Vec<f64>,
    draw_small: Vec<f64>,
}

pub fn run(dir: &Path, args: &Args) -> Result<(), String> {
    let n = args.top_n;
    let sim = start_sim(dir, n, args)?;
    let fleet = dir.join(format!("fleet-{n}.toml"));
    std::fs::write(&fleet, crate::fleet_text(n, args.interval)).map_err(|e| e.to_string())?;
    let mut child = watcher(&fleet, &sim, dir, Stdio::null())?;
    let socket = client::locate(&dir.join(format!(".fleet-{n}.toml.state.json")));
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let live = LiveClient::new(socket);
    runtime.block_on(wait_until_swept(&live, n))?;

    let window = Duration::from_secs((args.top_seconds / (2 * WINDOWS) as u64).max(1));
    let (mut without, mut with) = (Vec::new(), Vec::new());
    let mut frames = Frames::default();
    let pid = child.id();
    let cpu = || procstat::cpu_seconds(pid).ok_or("the watcher is gone");
    for _ in 0..WINDOWS {
        let start = cpu()?;
        std::thread::sleep(window);
        without.push(cpu()? - start);
        let start = cpu()?;
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let stop = Arc::clone(&stop);
            let live = live.clone();
            std::thread::spawn(move || read_like_top(&live, &stop))
        };
        std::thread::sleep(window);
        stop.store(true, Ordering::Relaxed);
        let more = reader.join().map_err(|_| "the reader panicked")??;
        with.push(cpu()? - start);
        frames.fetch.extend(more.fetch);
        frames.draw.extend(more.draw);
        frames.draw_small.extend(more.draw_small);
    }
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let _ = child.wait();
    print(args, window, &without, &with, &frames);
    Ok(())
}

/// Waits (bounded) until the watcher's first sweep has reached every instance.
async fn wait_until_swept(live: &LiveClient, n: usize) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(snapshot) = live.fleet().await {
            let seen = snapshot.instances.iter().filter(|i| i.status.is_some());
            if seen.count() == n {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("the watcher never showed all {n} instances swept"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One refresh per period until `stop`: fetch and decode, draw the fleet, draw its first
/// [`SMALL`] instances (the same snapshot, cut), each timed.
fn read_like_top(live: &LiveClient, stop: &AtomicBool) -> Result<Frames, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).map_err(|e| e.to_string())?;
    let app = App::default();
    let mut frames = Frames::default();
    let mut snapshot = runtime.block_on(live.fleet()).map_err(|e| e.to_string())?;
    while !stop.load(Ordering::Relaxed) {
        let began = Instant::now();
        snapshot = runtime
            .block_on(live.fleet_after(&snapshot))
            .map_err(|e| e.to_string())?;
        frames.fetch.push(began.elapsed().as_secs_f64());
        frames.draw.push(draw(&mut terminal, &app, &snapshot)?);
        let mut small = snapshot.clone();
        small.instances.truncate(SMALL);
        frames.draw_small.push(draw(&mut terminal, &app, &small)?);
        std::thread::sleep(REFRESH.saturating_sub(began.elapsed()));
    }
    Ok(frames)
}

fn draw(
    terminal: &mut Terminal<TestBackend>,
    app: &App,
    snapshot: &FleetSnapshot,
) -> Result<f64, String> {
    let began = Instant::now();
    terminal
        .draw(|frame| render::draw(frame, app, snapshot, snapshot.at))
        .map_err(|e| e.to_string())?;
    Ok(began.elapsed().as_secs_f64())
}

/// The figures. Beside with ÷ without, the spread of the windows without a reader (the
/// larger ÷ the smaller): a cost below it cannot be told from the watcher's own drift.
fn print(args: &Args, window: Duration, without: &[f64], with: &[f64], frames: &Frames) {
    let spread = |windows: &[f64]| {
        let max = windows.iter().copied().fold(f64::MIN, f64::max);
        let min = windows.iter().copied().fold(f64::MAX, f64::min);
        ratio(max, min)
    };
    let noise = spread(without);
    let (without, with): (f64, f64) = (without.iter().sum(), with.iter().sum());
    let median = |values: &[f64]| crate::measure::p50_max(values.to_vec()).0;
    let (fetch, draw, small) = (
        median(&frames.fetch),
        median(&frames.draw),
        median(&frames.draw_small),
    );
    let period = REFRESH.as_secs_f64();
    let seconds = window.as_secs_f64() * WINDOWS as f64;
    println!(
        "| N | watcher CPU with top ÷ without | spread of the windows without | top frame (fetch + draw) ÷ refresh period | fetch ÷ frame | draw at N ÷ draw at {SMALL} | frames |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} ({:.4} vs {:.4} CPU s/s) | {} | {} | {} | {} | {} |",
        args.top_n,
        ratio(with, without),
        with / seconds,
        without / seconds,
        noise,
        ratio(fetch + draw, period),
        ratio(fetch, fetch + draw),
        ratio(draw, small),
        frames.draw.len(),
    );
}
