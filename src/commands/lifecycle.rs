//! `vastfleet stop | start | reboot | destroy`: one-shot actions on instances named by id,
//! label or glob of the fleet file, through the same throttle and client as `watch`. Destroy,
//! and any action a glob chose the instances for, asks first ([`confirm`]).

use std::io::IsTerminal;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::api::base_url::BaseUrl;
use crate::api::{Api, Instance, VastClient};
use crate::cli::TargetsArgs;
use crate::commands::confirm::{self, Verb};
use crate::commands::connect;
use crate::commands::select::{self, Target};
use crate::Fatal;

pub async fn stop(args: TargetsArgs) -> Result<(), Fatal> {
    act(args, Verb::Stop).await
}

pub async fn start(args: TargetsArgs) -> Result<(), Fatal> {
    act(args, Verb::Start).await
}

pub async fn reboot(args: TargetsArgs) -> Result<(), Fatal> {
    act(args, Verb::Reboot).await
}

pub async fn destroy(args: TargetsArgs) -> Result<(), Fatal> {
    act(args, Verb::Destroy).await
}

async fn act(args: TargetsArgs, verb: Verb) -> Result<(), Fatal> {
    let fleet = select::Fleet::read(&args.file.fleet());
    let targets = select::select(&fleet, &args.targets)?;
    let chosen_by_glob = args.targets.iter().any(|word| select::is_glob(word));
    let ask = !args.yes && (verb.always_asks() || chosen_by_glob);
    // Refused before any API call: a script learns at once that it needs -y.
    if ask && !std::io::stdin().is_terminal() {
        return Err(confirm::refusal(verb, &targets));
    }
    let site = BaseUrl::from_env(args.api.api_url.as_deref(), fleet.url());
    let api = connect::client(&site)?;
    if ask {
        let rows = figures(&api, &targets).await;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        confirm::ask(&confirm::question(verb, &targets, rows.as_deref(), now))?;
    }
    let api = &api;
    each(&site, &targets, verb, |id| async move {
        match verb {
            Verb::Stop => api.stop(id).await,
            Verb::Start => api.start(id).await,
            Verb::Reboot => api.reboot(id).await,
            Verb::Destroy => api.destroy(id).await,
        }
    })
    .await
}

/// The targets' rows for the question (one list call); `None` when the list cannot be read,
/// which the question says rather than hiding the prompt.
async fn figures(api: &VastClient, targets: &[Target]) -> Option<Vec<Instance>> {
    let ids: Vec<u64> = targets.iter().map(|t| t.id).collect();
    match connect::patiently(|| api.list_all(Some(ids.clone()))).await {
        Ok(listing) => Some(listing.instances),
        Err(err) => {
            eprintln!("vastfleet: cannot read the instances' figures: {err}");
            None
        }
    }
}

/// Runs `call` for every target, reporting each; the first failure does not stop the rest,
/// but makes the exit status 1.
async fn each<F, Fut>(site: &BaseUrl, targets: &[Target], verb: Verb, call: F) -> Result<(), Fatal>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Result<(), crate::api::ApiError>>,
{
    let mut failed = Vec::new();
    for target in targets {
        let id = target.id;
        match connect::patiently(|| call(id)).await {
            // A closed stdout must not leave the rest of the ids undone: carry on quietly.
            Ok(()) => {
                let label = target
                    .label
                    .as_ref()
                    .map_or_else(String::new, |l| format!(" ({l})"));
                let _ = crate::outln!("{} instance {id}{label}", verb.past());
            }
            Err(err) => {
                let shown = connect::failure(&format!("instance {id}"), site, err);
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
