//! `vastfleet stop | start | destroy`: one-shot actions on instances, through the same throttle
//! and client as `watch`.

use std::io::{BufRead, IsTerminal, Write};

use crate::api::Api;
use crate::cli::{DestroyArgs, IdsArgs};
use crate::commands::connect;
use crate::Fatal;

pub async fn stop(args: IdsArgs) -> Result<(), Fatal> {
    let api = connect::client(args.api.api_url.as_deref(), None)?;
    let target = connect::Target::of(args.api.api_url.as_deref(), None);
    each(&target, &args.ids, "stopped", |id| api.stop(id)).await
}

pub async fn start(args: IdsArgs) -> Result<(), Fatal> {
    let api = connect::client(args.api.api_url.as_deref(), None)?;
    let target = connect::Target::of(args.api.api_url.as_deref(), None);
    each(&target, &args.ids, "started", |id| api.start(id)).await
}

pub async fn destroy(args: DestroyArgs) -> Result<(), Fatal> {
    if !args.yes {
        confirm_destroy(&args.ids)?;
    }
    let api = connect::client(args.api.api_url.as_deref(), None)?;
    let target = connect::Target::of(args.api.api_url.as_deref(), None);
    each(&target, &args.ids, "destroyed", |id| api.destroy(id)).await
}

/// Runs `call` for every id, reporting each; the first failure does not stop the rest, but
/// makes the exit status 1.
async fn each<F, Fut>(
    target: &connect::Target,
    ids: &[u64],
    done: &str,
    call: F,
) -> Result<(), Fatal>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Result<(), crate::api::ApiError>>,
{
    let mut failed = Vec::new();
    for &id in ids {
        match connect::patiently(|| call(id)).await {
            // A closed stdout must not leave the rest of the ids undone: carry on quietly.
            Ok(()) => {
                let _ = crate::outln!("{done} instance {id}");
            }
            Err(err) => {
                let shown = connect::failure(&format!("instance {id}"), target, err);
                eprintln!("{shown}");
                failed.push(id.to_string());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Fatal::runtime(format!("failed for {}", failed.join(", "))))
    }
}

/// Destroying is irreversible: ask on a terminal, refuse without `-y` anywhere else.
fn confirm_destroy(ids: &[u64]) -> Result<(), Fatal> {
    let list = ids
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Fatal::input(format!(
            "refusing to destroy {list} without confirmation: stdin is not a terminal; \
             pass -y to confirm"
        )));
    }
    let noun = if ids.len() == 1 {
        "instance"
    } else {
        "instances"
    };
    eprint!("Destroy {noun} {list}? This deletes their disks and cannot be undone. [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|err| Fatal::input(format!("cannot read the answer: {err}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(Fatal::input("not destroyed: not confirmed"))
    }
}
