//! A smoke run of the benchmark driver (the real figures come from release runs, see README
//! "Performance"): N = 10 for a few seconds, checked for sane, loss-free output.

#[test]
fn the_benchmark_runs_at_ten_instances_without_loss_or_429s() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vastfleet-bench"))
        .args(["--n", "10", "--seconds", "8", "--baseline-seconds", "3"])
        .output()
        .expect("run vastfleet-bench");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ours: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("| 10 | vastfleet |"))
        .unwrap_or_else(|| panic!("no vastfleet row:\n{text}"))
        .split('|')
        .map(str::trim)
        .collect();
    // Columns: "", N, side, status, logs, action, calls, 429s, lost / dup (gaps), RSS, CPU.
    assert_eq!(ours[7], "0", "no self-inflicted 429: {text}");
    assert_eq!(
        ours[8], "0 / 0 (0, 0)",
        "no line lost, duplicated or gapped: {text}"
    );
    assert!(
        ours[9].ends_with("MB") && !ours[9].starts_with("0.0"),
        "{text}"
    );
    assert!(text.contains("| 10 | baseline |"), "{text}");
}
