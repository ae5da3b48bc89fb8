//! Start-up at scale (issue 17): `vastfleet check` of generated fleet files, timed as a user
//! would see it (a whole process: read, parse, validate, print). Reported against the issue's
//! target (100,000 instances in under 2 s) and against a tenth of the size in the same run, so
//! a growth worse than linear shows as a ratio above 1.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The target for 100,000 instances.
const TARGET: Duration = Duration::from_secs(2);

pub fn run(dir: &Path, n: usize) -> Result<(), String> {
    let small = (n / 10).max(1);
    let small_time = time_check(dir, small)?;
    let time = time_check(dir, n)?;
    let linear = time.as_secs_f64() / (small_time.as_secs_f64() * (n as f64 / small as f64));
    println!("| fleet size | `check` wall time | ÷ 2 s target | ÷ linear growth from {small} |");
    println!("|---|---|---|---|");
    println!("| {small} | {:.2} s | | |", small_time.as_secs_f64());
    println!(
        "| {n} | {:.2} s | {:.2}× | {linear:.2}× |",
        time.as_secs_f64(),
        time.as_secs_f64() / TARGET.as_secs_f64() * (100_000.0 / n as f64),
    );
    Ok(())
}

/// The best of three runs of `vastfleet check` on a fleet of `n` instances.
fn time_check(dir: &Path, n: usize) -> Result<Duration, String> {
    let path = dir.join(format!("startup-{n}.toml"));
    std::fs::write(&path, fleet_text(n)).map_err(|e| e.to_string())?;
    let bin = super::vastfleet_bin()?;
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let output = Command::new(&bin)
            .arg("check")
            .arg(&path)
            .env("VAST_API_KEY", super::SIM_KEY)
            .output()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let elapsed = started.elapsed();
        if !output.status.success() {
            return Err(format!(
                "check of {n} instances failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        best = best.min(elapsed);
    }
    Ok(best)
}

/// A fleet as people write them: defaults, then one table per instance with a label.
fn fleet_text(n: usize) -> String {
    let mut text = String::from(
        "[defaults]\ninterval = \"30s\"\ncompletion = 'training complete'\non_complete = \"stop\"\n\n",
    );
    for id in 1..=n {
        text.push_str(&format!(
            "[[instance]]\nid = {}\nlabel = \"job-{id}\"\n\n",
            28_000_000 + id
        ));
    }
    text
}
