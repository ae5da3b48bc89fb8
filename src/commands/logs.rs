//! `vastfleet logs ID|LABEL [--tail N] [--follow]`: one instance's log, once or followed like
//! `watch` follows it (the same throttle, the same bounded reads, the same alignment, see
//! [`follow`]). Log text is untrusted: escape sequences and control characters are removed
//! before it reaches the terminal, as in `watch`'s human stream.

mod follow;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api::base_url::BaseUrl;
use crate::api::{Api, ApiError, LogTail, VastClient};
use crate::cli::LogsArgs;
use crate::commands::{connect, select};
use crate::config::Policy;
use crate::report::sanitize::clean_line;
use crate::Fatal;
pub use follow::{Follower, Step};

pub async fn run(args: LogsArgs) -> Result<(), Fatal> {
    let fleet = select::Fleet::read(&args.fleet_file());
    let target = select::select_one(&fleet, &args.instance)?;
    let site = BaseUrl::from_env(args.api.api_url.as_deref(), fleet.url());
    let api = connect::client(&site)?;
    let first = connect::patiently(|| api.logs(target.id, args.tail))
        .await
        .map_err(|err| {
            let what = format!("{}: cannot read the log", target.name());
            connect::failure(&what, &site, err)
        })?;
    print_lines(&first.lines)?;
    if !args.follow {
        return Ok(());
    }
    let interval = fleet.settings().map_or(Policy::default().interval, |s| {
        s.instances
            .iter()
            .find(|i| i.id == target.id)
            .map_or(s.defaults.interval, |i| i.policy.interval)
    });
    let stop = crate::signals::shutdown_on_signals();
    let follower = Follower::new(first.lines, args.tail, first.cut);
    follow_until(&api, target.id, follower, interval, &stop).await
}

/// Polls every `interval` until Ctrl+C, SIGTERM or a closed stdout; errors are said once per
/// episode on stderr and ridden out (once following, nothing ends it but the user).
async fn follow_until(
    api: &VastClient,
    id: u64,
    mut follower: Follower,
    interval: Duration,
    stop: &CancellationToken,
) -> Result<(), Fatal> {
    let mut failing = false;
    let mut wait = interval;
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
        wait = interval;
        let asked = follower.tail();
        let snapshot = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            answer = connect::patiently(|| api.logs(id, asked)) => answer,
        };
        let LogTail { lines, cut } = match snapshot {
            Ok(tail) => tail,
            Err(err) => {
                if !failing {
                    eprintln!("vastfleet: {id}: {} (still following)", short(&err));
                }
                failing = true;
                continue;
            }
        };
        if std::mem::take(&mut failing) {
            eprintln!("vastfleet: {id}: the log answers again");
        }
        let printed = match follower.next(lines, asked, cut) {
            Step::Print(new) => print_lines(&new),
            Step::Refetch => {
                wait = Duration::ZERO;
                Ok(())
            }
            Step::Restarted(all) => {
                eprintln!("vastfleet: {id}: the log started over (a new container?)");
                print_lines(&all)
            }
            Step::Gap(all) => {
                eprintln!(
                    "vastfleet: {id}: lines were missed here: more arrived than the widest tail \
                     holds"
                );
                print_lines(&all)
            }
        };
        match printed {
            Err(err) if err.code == 0 => return Ok(()),
            other => other?,
        }
    }
}

fn short(err: &ApiError) -> String {
    let text = err.to_string();
    crate::report::sanitize::clean_line(&text).into_owned()
}

/// One write for the whole batch, so a reader sees whole lines.
fn print_lines(lines: &[String]) -> Result<(), Fatal> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for line in lines {
        text.push_str(&clean_line(line));
        text.push('\n');
    }
    crate::stdout::print(&text)
}
