//! `vastfleet status`: the fleet at a glance from one sweep of the list (⌈N/25⌉ pages for the
//! file's ids), as a table that fits the terminal or as one JSON object per instance.

mod table;
mod watcher;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::api::base_url::BaseUrl;
use crate::api::{Api, Instance};
use crate::cli::StatusArgs;
use crate::commands::connect;
use crate::commands::ssh::SshTarget;
use crate::config::Settings;
use crate::cost::Totals;
use crate::status::Status;
use crate::Fatal;
pub use table::{table, Layout};

/// The width used when a terminal cannot tell its own.
const DEFAULT_WIDTH: usize = 100;
/// Narrower than this, a reported width is nonsense.
const MIN_WIDTH: usize = 20;

pub async fn run(args: StatusArgs) -> Result<(), Fatal> {
    let settings = fleet(&args)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let lines = match from_watcher(&args, settings.as_ref(), now).await {
        Some(lines) => lines,
        None => from_api(&args, settings.as_ref(), now).await?,
    };
    let totals = totals(&lines);
    let text = if args.json {
        lines
            .iter()
            .map(Line::json)
            .chain(std::iter::once(
                json!({ "totals": totals.json() }).to_string(),
            ))
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        let layout = Layout {
            width: table_width(),
            glyphs: std::io::IsTerminal::is_terminal(&std::io::stdout()),
            wide: args.wide,
        };
        table(&lines, &totals, layout)
    };
    crate::outln!("{text}")
}

/// The answer of the fleet's running watcher, unless `--all` or `--fresh` ask the API (or no
/// watcher can give the whole answer).
async fn from_watcher(
    args: &StatusArgs,
    settings: Option<&Settings>,
    now: f64,
) -> Option<Vec<Line>> {
    let settings = settings.filter(|s| !args.all && !args.fresh && !s.instances.is_empty())?;
    let state_path = args
        .state
        .clone()
        .unwrap_or_else(|| crate::state::default_path(&args.fleet.path()));
    let (lines, pid) = watcher::lines(settings, &state_path, now).await?;
    eprintln!(
        "(from the running watcher, pid {pid}, as of its last sweep; `--fresh` asks the API)"
    );
    Some(lines)
}

/// One sweep of the list: the file's ids, or the whole account with `--all`.
async fn from_api(
    args: &StatusArgs,
    settings: Option<&Settings>,
    now: f64,
) -> Result<Vec<Line>, Fatal> {
    let file_url = settings.and_then(|s| s.api.url.as_deref());
    let target = BaseUrl::from_env(args.api.api_url.as_deref(), file_url);
    let api = connect::client(&target)?;
    let listed: Vec<u64> = settings
        .into_iter()
        .flat_map(|s| &s.instances)
        .map(|i| i.id)
        .collect();
    let rows = if args.all || !listed.is_empty() {
        // `--all` reads the whole account; otherwise only the file's ids.
        let filter = (!args.all).then_some(listed);
        let listing = connect::patiently(|| api.list_all(filter.clone()))
            .await
            .map_err(|err| connect::failure("cannot list the instances", &target, err))?;
        if let Some(stopped) = &listing.stopped {
            eprintln!("warning: {stopped}");
        }
        listing.instances
    } else {
        Vec::new()
    };
    let empty = Settings::default();
    let mut lines = status_lines(settings.unwrap_or(&empty), &rows, now);
    if args.all {
        lines.extend(account_lines(&lines, &rows, now));
    }
    Ok(lines)
}

/// The fleet file. `--all` needs none: without one named (and none at the default place) it
/// shows the account alone.
fn fleet(args: &StatusArgs) -> Result<Option<Settings>, Fatal> {
    let path = args.fleet.path();
    let optional = args.all && args.fleet.given().is_none();
    if optional && !path.exists() {
        return Ok(None);
    }
    Ok(Some(Settings::load(&path)?))
}

/// The fleet's totals over these lines.
pub fn totals(lines: &[Line]) -> Totals {
    let mut totals = Totals::default();
    for line in lines {
        totals.add(&line.status, line.dph_total, line.spend_usd);
    }
    totals
}

/// One instance of the file, as the account reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub id: u64,
    pub label: Option<String>,
    pub status: Status,
    pub gpu: Option<String>,
    pub dph_total: Option<f64>,
    pub uptime: Option<Duration>,
    pub spend_usd: Option<f64>,
    pub message: Option<String>,
    /// The SSH proxy's address (`status --wide`).
    pub ssh: Option<SshTarget>,
    /// Listed in the fleet file; `false` for the account's other instances (`--all`).
    pub in_fleet: bool,
}

impl Line {
    fn json(&self) -> String {
        json!({
            "instance": self.id,
            "label": self.label,
            "status": self.status,
            "gpu": self.gpu,
            "dph_total": self.dph_total,
            "uptime_s": self.uptime.map(|u| u.as_secs()),
            "spend_usd": self.spend_usd.map(|s| (s * 100.0).round() / 100.0),
            "message": self.message,
            "ssh": self.ssh.as_ref().map(ToString::to_string),
            "in_fleet": self.in_fleet,
        })
        .to_string()
    }
}

/// The file's instances in file order; the ones the account does not have are `gone`.
pub fn status_lines(settings: &Settings, rows: &[Instance], now: f64) -> Vec<Line> {
    let by_id: HashMap<u64, &Instance> =
        rows.iter().filter_map(|row| Some((row.id?, row))).collect();
    settings
        .instances
        .iter()
        .map(|instance| {
            let row = by_id.get(&instance.id).copied();
            Line::of(instance.id, instance.label.clone(), row, now)
        })
        .collect()
}

/// The account's instances that `listed` does not show, by id, labelled as the API labels
/// them: `status --all`'s orphans.
pub fn account_lines(listed: &[Line], rows: &[Instance], now: f64) -> Vec<Line> {
    let seen: HashSet<u64> = listed.iter().map(|l| l.id).collect();
    let mut extra: Vec<&Instance> = rows
        .iter()
        .filter(|row| row.id.is_some_and(|id| !seen.contains(&id)))
        .collect();
    extra.sort_by_key(|row| row.id);
    extra.dedup_by_key(|row| row.id);
    extra
        .into_iter()
        .map(|row| {
            let label = row
                .label
                .as_deref()
                .map(str::trim)
                .filter(|l| !l.is_empty());
            let mut line = Line::of(
                row.id.unwrap_or_default(),
                label.map(str::to_owned),
                Some(row),
                now,
            );
            line.in_fleet = false;
            line
        })
        .collect()
}

impl Line {
    fn of(id: u64, label: Option<String>, row: Option<&Instance>, now: f64) -> Line {
        Line {
            id,
            label,
            status: Status::of(row),
            gpu: row.and_then(Instance::gpu_label),
            dph_total: row.and_then(|r| r.dph_total),
            uptime: row.and_then(|r| r.uptime(now)),
            spend_usd: row.and_then(|r| r.spend_usd(now)),
            message: row
                .and_then(|r| r.status_msg.as_deref())
                .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|m| !m.is_empty()),
            ssh: row.and_then(SshTarget::of),
            in_fleet: true,
        }
    }
}

/// The width the table must fit: the terminal's own (asked of the terminal, as bash does not
/// export `COLUMNS`; `COLUMNS` only when the terminal cannot say). Into a pipe or a file
/// nothing wraps and a cut would lose text, so there is no limit.
fn table_width() -> usize {
    let stdout = std::io::stdout();
    if !std::io::IsTerminal::is_terminal(&stdout) {
        return usize::MAX;
    }
    rustix::termios::tcgetwinsize(&stdout)
        .ok()
        .map(|size| usize::from(size.ws_col))
        .filter(|&columns| columns >= MIN_WIDTH)
        .or_else(|| {
            std::env::var("COLUMNS")
                .ok()
                .and_then(|c| c.trim().parse().ok())
                .filter(|&c: &usize| c >= MIN_WIDTH)
        })
        .unwrap_or(DEFAULT_WIDTH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    fn settings() -> Settings {
        let mut settings = Settings::from_ids(&[1, 2, 3], &Overrides::default()).unwrap();
        settings.instances[0].label = Some("train".into());
        settings
    }

    fn row(id: u64, status: &str) -> Instance {
        Instance {
            id: Some(id),
            actual_status: Some(status.into()),
            gpu_name: Some("RTX 4090".into()),
            num_gpus: Some(2),
            dph_total: Some(0.5),
            start_date: Some(1000.0),
            status_msg: Some("  success,\n running  ".into()),
            ..Instance::default()
        }
    }

    #[test]
    fn missing_instances_are_gone_and_figures_come_from_the_row() {
        let lines = status_lines(&settings(), &[row(1, "running"), row(2, "stopped")], 8200.0);
        assert_eq!(lines[0].status, Status::Running);
        assert_eq!(lines[0].gpu.as_deref(), Some("2x RTX 4090"));
        assert_eq!(lines[0].uptime, Some(Duration::from_secs(7200)));
        assert_eq!(lines[0].spend_usd, Some(1.0));
        assert_eq!(lines[0].message.as_deref(), Some("success, running"));
        assert_eq!(lines[1].status, Status::Stopped);
        assert_eq!(lines[2].status, Status::Gone);
        assert_eq!(lines[2].spend_usd, None);
    }

    fn layout(width: usize) -> Layout {
        Layout {
            width,
            glyphs: false,
            wide: false,
        }
    }

    fn draw(lines: &[Line], layout: Layout) -> String {
        table(lines, &totals(lines), layout)
    }

    #[test]
    fn the_table_fits_the_width_by_shortening_then_dropping_the_message() {
        let mut rows = vec![row(1, "running")];
        rows[0].status_msg = Some("a very long status message from the host ".repeat(4));
        let lines = status_lines(&settings(), &rows, 8200.0);
        for width in [120, 80, 60] {
            let text = draw(&lines, layout(width));
            for line in text.lines() {
                assert!(line.chars().count() <= width, "{width}: {line}");
            }
        }
        assert!(draw(&lines, layout(120)).contains('…'));
        assert!(!draw(&lines, layout(60)).contains("MESSAGE"));
        let wide = draw(&lines, layout(120));
        assert!(
            wide.contains("1   train  running  2x RTX 4090  0.500  2h0m    $1.00"),
            "{wide}"
        );
        assert!(wide.contains("3   -      gone"), "{wide}");
    }

    #[test]
    fn the_last_row_totals_statuses_burn_and_spend() {
        let mut stopped = row(2, "stopped");
        stopped.dph_total = Some(0.25);
        let lines = status_lines(&settings(), &[row(1, "running"), stopped], 8200.0);
        let text = draw(&lines, layout(usize::MAX));
        assert_eq!(
            text.lines().last(),
            Some(
                "total: 3 instances (1 gone, 1 running, 1 stopped) · $0.50/hr now · about \
                 $1.50 spent"
            ),
            "{text}"
        );
        let json = totals(&lines).json();
        assert_eq!(json["dph_now"], 0.5, "a stopped instance bills no GPU");
        assert_eq!(json["spent_usd"], 1.5);
        assert_eq!(json["by_status"]["gone"], 1);
    }

    #[test]
    fn wide_adds_the_ssh_address_and_all_adds_the_accounts_orphans() {
        let mut listed = row(1, "running");
        listed.ssh_host = Some("ssh4.vast.ai".into());
        listed.ssh_port = Some(18926);
        let mut orphan = row(9, "running");
        orphan.label = Some(" stray ".into());
        let rows = [orphan.clone(), listed, orphan];
        let mut lines = status_lines(&settings(), &rows, 8200.0);
        lines.extend(account_lines(&lines, &rows, 8200.0));
        assert_eq!(
            lines.len(),
            4,
            "the orphan once, after the file's instances"
        );
        assert_eq!((lines[3].id, lines[3].in_fleet), (9, false));
        assert_eq!(lines[3].label.as_deref(), Some("stray"));
        let text = draw(
            &lines,
            Layout {
                wide: true,
                ..layout(usize::MAX)
            },
        );
        let header = text.lines().next().unwrap();
        assert!(header.contains("COST~  SSH"), "{text}");
        assert!(text.contains("$1.00  ssh4.vast.ai:18926"), "{text}");
        assert!(text.contains("9*  stray"), "{text}");
        assert!(text.contains("* not in the fleet file"), "{text}");
        assert!(text.ends_with("about $2.00 spent"), "{text}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&lines[0].json()).unwrap()["ssh"],
            "ssh4.vast.ai:18926"
        );
        assert!(!draw(&lines[..3], layout(usize::MAX)).contains("SSH"));
    }
}
