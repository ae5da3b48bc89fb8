//! The human stream and `status` on terminals and pipes: `-q` under a 429 storm, the
//! `--color` rules with NO_COLOR / CLICOLOR / CLICOLOR_FORCE, and `status` sized by a real
//! pseudo-terminal of 70 columns.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use vastfleet::sim::{Fault, InstanceSpec, Lasting, SimHandle};

use crate::support::{bin, command, fleet_file, run, Account, PATIENCE};

const JOB: u64 = 51400201;

/// A human-stream `watch`: every stdout line kept as it comes.
struct Human {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Human {
    fn start(dir: &std::path::Path, sim: &SimHandle, args: &[&str], env: &[(&str, &str)]) -> Human {
        let mut command = command(dir, Some(sim), args);
        command.env_remove("NO_COLOR");
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let mut reader = BufReader::new(child.stdout.take().expect("stdout")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = reader.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        Human { child, lines }
    }

    async fn wait_for(&self, needle: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !self
            .lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no line with {needle:?}:\n{}",
                self.lines.lock().unwrap().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().expect("running").to_string();
        let killed = tokio::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("kill");
        assert!(killed.success());
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("stops")
            .expect("wait");
        assert_eq!(status.code(), Some(0));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let lines = self.lines.lock().unwrap().clone();
        lines
    }
}

fn fleet(dir: &std::path::Path) {
    fleet_file(
        dir,
        &format!(
            "[defaults]\ninterval = \"200ms\"\nmax_backoff = \"500ms\"\n\
             [[instance]]\nid = {JOB}\nlabel = \"job\"\n"
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_keeps_instance_events_and_hides_a_429_storm() {
    let sim = Account::running([JOB]).start().await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path());
    let watch = Human::start(dir.path(), &sim, &["watch", "-q"], &[("NO_COLOR", "1")]);
    watch.wait_for("status: running").await;
    let storm = Fault::Status429 {
        retry_after: None,
        json_body: false,
    };
    sim.control().inject(storm, Lasting::Requests(2));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while sim.stats().count("list", 429) + sim.stats().count("request_logs", 429) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the storm never hit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sim.control().append_lines(JOB, ["after the storm"]);
    watch.wait_for("after the storm").await;
    let lines = watch.stop().await;
    let text = lines.join("\n");
    for chatter in ["API error", "throttle", "Connection restored", "calls/s"] {
        let shown: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains(chatter) && !l.starts_with("API:"))
            .collect();
        assert!(shown.is_empty(), "-q showed {chatter:?}:\n{text}");
    }
    assert!(text.contains("job"), "instance lines stay:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colour_follows_the_flag_then_no_color_clicolor_force_and_clicolor() {
    let sim = Account::running([JOB]).start().await;
    type Env = &'static [(&'static str, &'static str)];
    let cases: [(&[&str], Env, bool); 6] = [
        (&[], &[], false),
        (&["--color", "always"], &[("NO_COLOR", "1")], true),
        (&["--color", "never"], &[("CLICOLOR_FORCE", "1")], false),
        (&[], &[("CLICOLOR_FORCE", "1")], true),
        (&[], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")], false),
        (&[], &[("CLICOLOR_FORCE", "0")], false),
    ];
    for (flags, env, coloured) in cases {
        let dir = tempfile::tempdir().unwrap();
        fleet(dir.path());
        let args: Vec<&str> = ["watch"].iter().chain(flags).copied().collect();
        let watch = Human::start(dir.path(), &sim, &args, env);
        watch.wait_for("running").await;
        let lines = watch.stop().await;
        let has_escape = lines.iter().any(|l| l.contains('\u{1b}'));
        assert_eq!(
            has_escape,
            coloured,
            "{flags:?} {env:?}:\n{}",
            lines.join("\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_fits_a_70_column_terminal_and_is_never_cut_into_a_pipe() {
    let image = "registry.example.com/team/a-very-long-image-name-for-training:2026-12-01-cuda";
    let sim = Account::of([InstanceSpec {
        image: image.to_owned(),
        ..InstanceSpec::new(JOB)
    }])
    .start()
    .await;
    let dir = tempfile::tempdir().unwrap();
    let long_label = "a-label-long-enough-to-push-the-row-past-seventy-columns";
    fleet_file(
        dir.path(),
        &format!("[[instance]]\nid = {JOB}\nlabel = \"{long_label}\"\n"),
    );

    // Piped: every character of the label and the message is there.
    let (code, piped, stderr) = run(dir.path(), Some(&sim), &["status"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(piped.contains(long_label), "{piped}");
    assert!(piped.contains(image), "{piped}");

    // A real pseudo-terminal (util-linux `script`), told it is 70 columns wide; COLUMNS says
    // otherwise, and the terminal wins.
    let inner = format!("stty cols 70 rows 24; exec {} status", bin());
    let mut script = tokio::process::Command::new("script");
    script
        .args(["-qec", &inner, "/dev/null"])
        .current_dir(dir.path())
        .env("VAST_API_KEY", sim.key())
        .env("VAST_URL", sim.url())
        .env("HOME", dir.path())
        .env("COLUMNS", "200")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    let out = tokio::time::timeout(PATIENCE, script.output())
        .await
        .expect("status in a pty ends")
        .expect("run script");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    let rows: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(rows.len() >= 2, "{text}");
    for row in &rows {
        // Each glyph is one char but two columns.
        let columns = row.chars().count() + row.chars().filter(|c| *c as u32 > 0x1F000).count();
        assert!(columns <= 70, "{columns} columns: {row}\n{text}");
    }
    assert!(text.contains('…'), "the long label is cut to fit:\n{text}");
}

/// Issue 14: a rejected reload ran its `help:` into the next sentence on one line. It is now
/// a header line, then the error exactly as `check` (and a start-up) prints it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_reload_is_printed_like_the_same_error_at_start_up() {
    let sim = Account::running([JOB]).start().await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path());
    let watch = Human::start(dir.path(), &sim, &["watch"], &[("NO_COLOR", "1")]);
    watch.wait_for("status: running").await;
    fleet_file(
        dir.path(),
        &format!("[defaults]\nintervall = \"200ms\"\n[[instance]]\nid = {JOB}\n"),
    );
    watch.wait_for("fleet file change rejected").await;
    watch.wait_for("  help: ").await;
    let (code, _, stderr) = run(dir.path(), Some(&sim), &["check"]).await;
    let lines = watch.stop().await;
    assert_eq!(code, 2, "{stderr}");
    let at_start: Vec<&str> = stderr
        .strip_prefix("vastfleet: ")
        .expect("check's error")
        .lines()
        .collect();
    assert!(at_start[0].starts_with("fleet.toml:2:1: unknown key `intervall`"));
    assert!(at_start[1].starts_with("  help: did you mean `interval`?"));
    let header = lines
        .iter()
        .position(|l| l.ends_with("fleet file change rejected, the fleet goes on as it was:"))
        .expect("the header line");
    let block: Vec<&str> = lines[header + 1..]
        .iter()
        .take(at_start.len())
        .map(String::as_str)
        .collect();
    assert_eq!(block, at_start, "{}", lines.join("\n"));
}

/// Issue 14: times follow the system zone's rules, read from `TZ` like every Unix tool (the
/// switch at a daylight-saving change itself is `report::clock`'s unit test, on fixed instants).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_are_shown_in_the_zone_tz_names() {
    const NEW_YORK: &str = "EST5EDT,M3.2.0,M11.1.0";
    let sim = Account::running([JOB]).start().await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path());
    let env = [("NO_COLOR", "1"), ("TZ", NEW_YORK)];
    let watch = Human::start(dir.path(), &sim, &["watch", "--timestamps"], &env);
    watch.wait_for("status: running").await;
    let lines = watch.stop().await;
    let zone = vastfleet::report::clock::TimeZone::posix(NEW_YORK).unwrap();
    let now = jiff::Timestamp::now();
    let offset = zone.to_offset(now);
    let suffix = format!(
        "{}{:02}:00 ",
        if offset.seconds() < 0 { '-' } else { '+' },
        offset.seconds().abs() / 3600
    );
    let line = lines
        .iter()
        .find(|l| l.contains("status: running"))
        .unwrap();
    assert!(line.contains(&suffix), "{suffix:?} in {line:?}");
}
