//! `vastfleet add | remove | check`: the fleet file's own commands. Edits go through
//! `config::edit` (comments kept, result re-validated) and `atomic::write_atomic`, so a running
//! `watch` only ever sees a whole, valid file.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::path::Path;

use crate::api::base_url::BaseUrl;
use crate::api::key::{self, KeyError, KeySource};
use crate::api::Api;
use crate::atomic::write_atomic;
use crate::cli::{AddArgs, CheckArgs, OnCompleteArg, RemoveArgs};
use crate::commands::connect;
use crate::config::describe::describe;
use crate::config::edit::{self, NewInstance, TEMPLATE};
use crate::config::{ConfigError, Settings};
use crate::report::event::ActionKind;
use crate::Fatal;

pub async fn add(args: AddArgs) -> Result<(), Fatal> {
    let ids = args
        .ids
        .iter()
        .map(|id| edit::parse_id(&args.file, id))
        .collect::<Result<Vec<u64>, _>>()?;
    let (text, created) = read_or_template(&args.file)?;
    if args.check {
        // The file's own `[api] url` counts, when it has one (the template has none).
        let file_url = Settings::from_toml(&text, &args.file)
            .ok()
            .and_then(|s| s.api.url);
        let target = BaseUrl::from_env(args.api.api_url.as_deref(), file_url.as_deref());
        let api = connect::client(&target)?;
        check_exists(&api, &target, &ids).await?;
    }
    let entries: Vec<NewInstance> = args
        .ids
        .iter()
        .map(|id| NewInstance {
            id: id.clone(),
            label: args.label.clone(),
            on_complete: args.on_complete.map(on_complete),
        })
        .collect();
    let edited = edit::add_instances(&text, &args.file, &entries)?;
    write(&args.file, &edited)?;
    let name = args.file.display();
    if created {
        crate::outln!("created {name} from the commented template")?;
    }
    for id in ids {
        match &args.label {
            Some(label) => crate::outln!("added {id} ({}) to {name}", label.trim())?,
            None => crate::outln!("added {id} to {name}")?,
        }
    }
    warn_about(&Settings::from_toml(&edited, &args.file)?);
    Ok(())
}

/// Fails unless the API knows every one of `ids`; `add --check` calls it before writing.
/// Every id is asked, so one run names all the missing ones.
pub async fn check_exists<A: Api>(api: &A, target: &BaseUrl, ids: &[u64]) -> Result<(), Fatal> {
    let mut missing = Vec::new();
    for &id in ids {
        match connect::patiently(|| api.show(id)).await {
            Ok(Some(_)) => {}
            Ok(None) => missing.push(id.to_string()),
            Err(err) => {
                return Err(connect::failure(
                    &format!("cannot check instance {id}"),
                    target,
                    err,
                ))
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Fatal::input(format!(
        "no instance {} in this account; nothing was added\n  help: `vastai show instances` lists yours",
        missing.join(", ")
    )))
}

pub fn remove(args: RemoveArgs) -> Result<(), Fatal> {
    let text = read(&args.file)?;
    let before = Settings::from_toml(&text, &args.file)?;
    let edited = edit::remove_instances(&text, &args.file, &args.ids)?;
    write(&args.file, &edited)?;
    let after = Settings::from_toml(&edited, &args.file)?;
    for gone in before
        .instances
        .iter()
        .filter(|i| after.instance(i.id).is_none())
    {
        match &gone.label {
            Some(label) => {
                crate::outln!("removed {} ({label}) from {}", gone.id, args.file.display())?
            }
            None => crate::outln!("removed {} from {}", gone.id, args.file.display())?,
        }
    }
    Ok(())
}

pub async fn check(args: CheckArgs) -> Result<(), Fatal> {
    let file = args.fleet.path();
    let settings = Settings::load(&file)?;
    let count = settings.instances.len();
    crate::outln!(
        "{} is valid: {}",
        file.display(),
        crate::report::words::plural(count as u64, "instance")
    )?;
    // The key is looked for where every command that uses it looks (api::key), so `check`
    // cannot pass a setup `watch` refuses, or the other way round. It is read, never shown.
    let key = key::resolve();
    if let Ok(key) = &key {
        crate::outln!("key        from {}", origin(&key.source))?;
    }
    let base = BaseUrl::from_env(args.api.api_url.as_deref(), settings.api.url.as_deref());
    crate::stdout::print(&describe(&settings, &base))?;
    warn_about(&settings);
    match key {
        Ok(_) if args.online => check_online(&args, &settings).await,
        Ok(_) => Ok(()),
        Err(KeyError::Missing { .. }) => Err(Fatal::input(format!(
            "no API key found\n  help: {KEY_HELP}"
        ))),
        Err(err) => Err(Fatal::input(err.to_string())),
    }
}

/// Where the key came from, as `check` says it: the variable by its name alone.
fn origin(source: &KeySource) -> String {
    match source {
        KeySource::Env(name) => name.clone(),
        other => other.to_string(),
    }
}

/// `check --online`: one list sweep of the account. A refused key or an id the account does not
/// have is bad input (exit 2); instances the file leaves out are named, as `watch` would.
async fn check_online(args: &CheckArgs, settings: &Settings) -> Result<(), Fatal> {
    let flag = args.api.api_url.as_deref();
    let target = BaseUrl::from_env(flag, settings.api.url.as_deref());
    let api = connect::client(&target)?;
    let listing = connect::patiently(|| api.list_all(None))
        .await
        .map_err(|err| connect::failure("cannot check the account", &target, err))?;
    crate::outln!("api        {} accepted the key", target.url)?;
    if let Some(stopped) = &listing.stopped {
        eprintln!("warning: {stopped}");
    }
    let listed: BTreeSet<u64> = listing.instances.iter().filter_map(|row| row.id).collect();
    let wanted: BTreeSet<u64> = settings.instances.iter().map(|i| i.id).collect();
    let orphans: Vec<String> = listed
        .difference(&wanted)
        .filter(|&&id| settings.discover.is_none() && !settings.left_out.contains(&id))
        .map(u64::to_string)
        .collect();
    if !orphans.is_empty() {
        crate::outln!(
            "orphans    {} (in the account, not in the file: they bill too)",
            orphans.join(", ")
        )?;
    }
    let missing: Vec<String> = wanted.difference(&listed).map(u64::to_string).collect();
    if missing.is_empty() {
        crate::outln!("instances  all {} present in the account", wanted.len())?;
        return Ok(());
    }
    Err(Fatal::input(format!(
        "{}: no instance {} in this account\n  help: `vastfleet remove ID` takes it out of the file",
        args.fleet.path().display(),
        missing.join(", ")
    )))
}

const KEY_HELP: &str = "set VAST_API_KEY, or run `vastai set api-key KEY` \
                        (it writes ~/.config/vastai/vast_api_key)";

fn on_complete(arg: OnCompleteArg) -> Option<ActionKind> {
    match arg {
        OnCompleteArg::None => None,
        OnCompleteArg::Stop => Some(ActionKind::Stop),
        OnCompleteArg::Destroy => Some(ActionKind::Destroy),
    }
}

fn warn_about(settings: &Settings) {
    for warning in &settings.warnings {
        eprintln!("warning: {warning}");
    }
}

fn read(path: &Path) -> Result<String, Fatal> {
    crate::config::read::read_fleet_text(path).map_err(|err| {
        let error = ConfigError::new(Some(path), format!("cannot read the fleet file: {err}"));
        Fatal::from(if err.kind() == ErrorKind::NotFound {
            error.with_help("check the path, or pass the file with -f")
        } else {
            error
        })
    })
}

/// The file's text, or the template when there is no file yet (then `true`).
fn read_or_template(path: &Path) -> Result<(String, bool), Fatal> {
    match std::fs::metadata(path) {
        Err(err) if err.kind() == ErrorKind::NotFound => Ok((TEMPLATE.to_string(), true)),
        _ => read(path).map(|text| (text, false)),
    }
}

fn write(path: &Path, text: &str) -> Result<(), Fatal> {
    write_atomic(path, text.as_bytes())
        .map_err(|err| Fatal::runtime(format!("cannot write {}: {err}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::base_url::UrlOrigin;
    use crate::api::stub::Stub;
    use crate::api::ApiError;

    /// Knows instances 1 and 2; 99 makes the API fail.
    fn fake() -> Stub {
        Stub::knowing(&[1, 2]).failing(99, ApiError::Transient("connection reset".into()))
    }

    fn target() -> BaseUrl {
        BaseUrl {
            url: "http://127.0.0.1:9".into(),
            origin: UrlOrigin::Flag,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn check_exists_names_every_missing_instance() {
        assert_eq!(check_exists(&fake(), &target(), &[1, 2]).await, Ok(()));
        let err = check_exists(&fake(), &target(), &[1, 5, 2, 6])
            .await
            .unwrap_err();
        assert_eq!(err.code, 2);
        assert!(
            err.message.starts_with("no instance 5, 6 in this account"),
            "{}",
            err.message
        );
        let err = check_exists(&fake(), &target(), &[99]).await.unwrap_err();
        assert_eq!(err.code, 1);
        assert!(
            err.message.starts_with(
                "cannot check instance 99: no working API at http://127.0.0.1:9 (from --api-url): \
                 temporary API failure: connection reset"
            ),
            "{}",
            err.message
        );
    }
}
