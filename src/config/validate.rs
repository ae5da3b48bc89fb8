//! Raw [`FleetFile`] → validated [`Settings`]: every check, each error pointing at the value
//! that is wrong. Policy keys are first parsed table by table into a [`Partial`], then each
//! instance's partial is laid over the defaults' partial, then over the built-in defaults.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;

use super::error::ConfigError;
use super::schema::{
    ApiFile, BudgetFile, DiscoverFile, FleetFile, LogOrderFile, NotifyFile, PolicyFile, Spanned,
};
use super::settings::{
    ApiSettings, Budget, ContractWarning, Discover, Guards, IdleGuard, InstanceSettings, Policy,
    Settings, MIN_INTERVAL,
};
use super::values::{Ctx, MAX_TAIL};
use crate::notify::{Target, Topic};
use crate::report::event::ActionKind;
use crate::schedule::Order;

/// One table's policy keys, parsed; `None` where the table is silent.
#[derive(Default)]
struct Partial {
    interval: Option<(Duration, Range<usize>)>,
    max_backoff: Option<(Duration, Range<usize>)>,
    tail: Option<u32>,
    history: Option<u32>,
    completion: Option<Arc<Regex>>,
    result: Option<Arc<Regex>>,
    on_complete: Option<Option<ActionKind>>,
    failure: Option<Arc<Regex>>,
    on_failure: Option<Option<ActionKind>>,
    on_exit: Option<Option<ActionKind>>,
    max_runtime: Option<Option<Duration>>,
    max_cost: Option<f64>,
    idle: Option<IdleGuard>,
    stuck: Option<Option<Duration>>,
    silent: Option<Option<Duration>>,
    destroy_after_stop: Option<Option<Duration>>,
    contract_warning: Option<ContractWarning>,
    on_guard: Option<Option<ActionKind>>,
}

fn parse_policy(cx: &Ctx, p: &PolicyFile) -> Result<Partial, ConfigError> {
    let located = |key, v: &Option<Spanned<String>>, min| -> Result<_, ConfigError> {
        v.as_ref()
            .map(|v| Ok((cx.duration(key, v, min)?, v.span())))
            .transpose()
    };
    let max_cost = match &p.max_cost {
        Some(cost) if !(cost.get_ref().is_finite() && *cost.get_ref() > 0.0) => {
            return Err(cx
                .err(
                    cost.span(),
                    format!(
                        "`max_cost` is {}; it must be more than 0 dollars",
                        cost.get_ref()
                    ),
                )
                .with_help("remove the key to turn the cost guard off"));
        }
        other => other.as_ref().map(|c| *c.get_ref()),
    };
    let idle = match &p.idle {
        None => None,
        Some(idle) => {
            let below = &idle.get_ref().gpu_util_below;
            if !(*below.get_ref() > 0.0 && *below.get_ref() <= 100.0) {
                return Err(cx.err(
                    below.span(),
                    format!(
                        "`gpu_util_below` is {}; it must be a percentage in (0, 100]",
                        below.get_ref()
                    ),
                ));
            }
            let duration = cx.duration("for", &idle.get_ref().for_, Duration::ZERO)?;
            Some(IdleGuard {
                gpu_util_below: *below.get_ref(),
                duration,
            })
        }
    };
    Ok(Partial {
        interval: located("interval", &p.interval, MIN_INTERVAL)?,
        max_backoff: located("max_backoff", &p.max_backoff, MIN_INTERVAL)?,
        tail: p
            .tail
            .as_ref()
            .map(|v| cx.count("tail", v, 1..=MAX_TAIL))
            .transpose()?,
        history: p
            .history
            .as_ref()
            .map(|v| cx.count("history", v, 0..=MAX_TAIL))
            .transpose()?,
        completion: p
            .completion
            .as_ref()
            .map(|v| cx.regex("completion", v).map(Arc::new))
            .transpose()?,
        result: p
            .result
            .as_ref()
            .map(|v| cx.regex("result", v).map(Arc::new))
            .transpose()?,
        on_complete: p.on_complete.as_ref().map(|v| v.get_ref().action()),
        failure: p
            .failure
            .as_ref()
            .map(|v| cx.regex("failure", v).map(Arc::new))
            .transpose()?,
        on_failure: p.on_failure.as_ref().map(|v| v.get_ref().action()),
        on_exit: p.on_exit.as_ref().map(|v| v.get_ref().action()),
        max_runtime: cx.guard("max_runtime", &p.max_runtime)?,
        max_cost,
        idle,
        stuck: cx.guard("stuck", &p.stuck)?,
        silent: cx.guard("silent", &p.silent)?,
        destroy_after_stop: cx.guard("destroy_after_stop", &p.destroy_after_stop)?,
        contract_warning: cx
            .guard("contract_warning", &p.contract_warning)?
            .map(|lead| lead.map_or(ContractWarning::Off, ContractWarning::Within)),
        on_guard: p.on_guard.as_ref().map(|v| v.get_ref().action()),
    })
}

/// `own` over `defaults` over the built-in defaults.
fn merge(cx: &Ctx, defaults: &Partial, own: Partial) -> Result<Policy, ConfigError> {
    let base = Policy::default();
    let interval = own.interval.or_else(|| defaults.interval.clone());
    let max_backoff = own.max_backoff.or_else(|| defaults.max_backoff.clone());
    let interval_value = interval.as_ref().map_or(base.interval, |(d, _)| *d);
    let max_backoff = match max_backoff {
        Some((cap, span)) if cap < interval_value => {
            return Err(cx
                .err(
                    span,
                    format!(
                        "`max_backoff` ({}) is shorter than `interval` ({})",
                        humantime::format_duration(cap),
                        humantime::format_duration(interval_value)
                    ),
                )
                .with_help("the backoff cap must be at least the normal poll period"));
        }
        Some((cap, _)) => cap,
        // Unset: the built-in cap, raised to a long interval rather than refusing it.
        None => base.max_backoff.max(interval_value),
    };
    let guard =
        |own: Option<Option<Duration>>, def: Option<Option<Duration>>| own.or(def).flatten();
    Ok(Policy {
        interval: interval_value,
        max_backoff,
        tail: own.tail.or(defaults.tail).unwrap_or(base.tail),
        history: own
            .history
            .or(defaults.history)
            .map(Some)
            .unwrap_or(base.history),
        completion: own
            .completion
            .or_else(|| defaults.completion.clone())
            .unwrap_or(base.completion),
        result: own
            .result
            .or_else(|| defaults.result.clone())
            .unwrap_or(base.result),
        on_complete: own
            .on_complete
            .or(defaults.on_complete)
            .unwrap_or(base.on_complete),
        failure: own.failure.or_else(|| defaults.failure.clone()),
        on_failure: own
            .on_failure
            .or(defaults.on_failure)
            .unwrap_or(base.on_failure),
        on_exit: own.on_exit.or(defaults.on_exit).unwrap_or(base.on_exit),
        guards: Guards {
            max_runtime: guard(own.max_runtime, defaults.max_runtime),
            max_cost: own.max_cost.or(defaults.max_cost),
            idle: own.idle.or(defaults.idle),
            stuck: guard(own.stuck, defaults.stuck),
            silent: guard(own.silent, defaults.silent),
            destroy_after_stop: guard(own.destroy_after_stop, defaults.destroy_after_stop),
            // "none" must stay "off", not fall back to the default as an unset key does.
            contract_warning: own
                .contract_warning
                .or(defaults.contract_warning)
                .unwrap_or_default(),
            on_guard: own
                .on_guard
                .or(defaults.on_guard)
                .unwrap_or(base.guards.on_guard),
        },
    })
}

/// The most `[api] max_retry_after` may be.
const MAX_RETRY_AFTER_LIMIT: Duration = Duration::from_secs(3600);

fn api(cx: &Ctx, api: Option<&ApiFile>) -> Result<(ApiSettings, Duration), ConfigError> {
    let mut settings = ApiSettings::default();
    let mut down_after = Settings::default().api_down_after;
    let Some(api) = api else {
        return Ok((settings, down_after));
    };
    if let Some(url) = &api.url {
        cx.http_url("url", url, crate::api::base_url::DEFAULT_API_URL)?;
        settings.url = Some(url.get_ref().trim().to_string());
    }
    if let Some(limit) = &api.rate_limit {
        if let Some(per_second) = &limit.per_second {
            let value = *per_second.get_ref();
            if !(value.is_finite() && value > 0.0) {
                return Err(cx
                    .err(
                        per_second.span(),
                        format!("`per_second` is {value}; it must be more than 0"),
                    )
                    .with_help("e.g. rate_limit = { per_second = 2, burst = 4 }"));
            }
            settings.rate_limit.per_second = value;
        }
        if let Some(burst) = &limit.burst {
            settings.rate_limit.burst = cx.count("burst", burst, 1..=i64::from(u32::MAX))?;
        }
    }
    if let Some(value) = &api.api_down_after {
        down_after = cx.duration("api_down_after", value, Duration::ZERO)?;
    }
    if let Some(order) = api.log_order {
        settings.log_order = match order {
            LogOrderFile::Signals => Order::Signals,
            LogOrderFile::RoundRobin => Order::RoundRobin,
        };
    }
    if let Some(value) = &api.max_retry_after {
        let cap = cx.duration("max_retry_after", value, Duration::from_secs(1))?;
        if cap > MAX_RETRY_AFTER_LIMIT {
            return Err(cx
                .err(value.span(), "`max_retry_after` must be at most 1h")
                .with_help(
                    "a server's wait is honoured up to this long; longer would let one reply \
                     freeze the fleet",
                ));
        }
        settings.max_retry_after = cap;
    }
    Ok((settings, down_after))
}

fn budget(cx: &Ctx, file: Option<&BudgetFile>) -> Result<Budget, ConfigError> {
    let amount = |key: &str, value: &Option<Spanned<f64>>| match value {
        Some(v) if !(v.get_ref().is_finite() && *v.get_ref() > 0.0) => Err(cx
            .err(
                v.span(),
                format!("`{key}` is {}; it must be more than 0 dollars", v.get_ref()),
            )
            .with_help("remove the key to turn this budget alert off")),
        other => Ok(other.as_ref().map(|v| *v.get_ref())),
    };
    Ok(match file {
        None => Budget::default(),
        Some(file) => Budget {
            max_dph: amount("max_dph", &file.max_dph)?,
            max_spend: amount("max_spend", &file.max_spend)?,
        },
    })
}

fn discover(cx: &Ctx, table: &Spanned<DiscoverFile>) -> Result<Discover, ConfigError> {
    let file = table.get_ref();
    let all = file.all.as_ref().is_some_and(|a| *a.get_ref());
    let help = "use `all = true` (every instance of the account) or `label = \"glob*\"`, not both";
    match (&file.label, all) {
        (Some(label), true) => Err(cx
            .err(label.span(), "[discover] has both `all = true` and `label`")
            .with_help(help)),
        (Some(label), false) => globset::Glob::new(label.get_ref())
            .map(|glob| Discover::Label(glob.compile_matcher()))
            .map_err(|err| {
                cx.err(
                    label.span(),
                    format!("invalid glob in `label`: {}", err.kind()),
                )
                .with_help("globs use * ? [abc] {a,b}, e.g. label = \"train-*\"")
            }),
        (None, true) => Ok(Discover::All),
        (None, false) => Err(cx
            .err(table.span(), "[discover] selects nothing")
            .with_help(help)),
    }
}

fn notify(cx: &Ctx, table: &Spanned<NotifyFile>) -> Result<Target, ConfigError> {
    let file = table.get_ref();
    let url = cx.http_url("url", &file.url, "https://ntfy.sh/my-fleet")?;
    // Without `events`, every topic.
    let all = || Topic::ALL.map(Topic::as_str).join(", ");
    let mut topics: Vec<Topic> = Vec::new();
    match &file.events {
        None => topics.extend(Topic::ALL),
        Some(list) if list.get_ref().is_empty() => {
            return Err(cx
                .err(
                    list.span(),
                    "`events` is empty, so this webhook would never be called",
                )
                .with_help(format!("remove `events` for the default ({})", all())));
        }
        Some(list) => {
            for event in list.get_ref() {
                let name = event.get_ref().trim();
                let Some(topic) = Topic::from_name(name) else {
                    return Err(cx
                        .err(event.span(), format!("unknown event {name:?}"))
                        .with_help(crate::config::error::suggest(name, &all(), "valid events")));
                };
                if !topics.contains(&topic) {
                    topics.push(topic);
                }
            }
        }
    }
    Ok(Target {
        url,
        topics,
        format: file
            .format
            .as_ref()
            .map(|f| *f.get_ref())
            .unwrap_or_default(),
    })
}

/// A label must be printable on one line. Shared with `add`, which checks `--label` early.
pub fn check_label(label: &str) -> Result<(), &'static str> {
    if label.trim().is_empty() {
        Err("a label must not be empty")
    } else if label.chars().any(char::is_control) {
        Err("a label must fit on one line, without tabs or control characters")
    } else {
        Ok(())
    }
}

pub(super) fn validate(
    mut file: FleetFile,
    text: &str,
    path: &Path,
) -> Result<Settings, ConfigError> {
    let cx = Ctx::new(path, text);
    let (api, api_down_after) = api(&cx, file.api.as_ref())?;
    let defaults = parse_policy(
        &cx,
        file.defaults.as_ref().unwrap_or(&PolicyFile::default()),
    )?;
    let mut settings = Settings {
        path: Some(path.to_path_buf()),
        api,
        defaults: merge(&cx, &defaults, Partial::default())?,
        api_down_after,
        ..Settings::default()
    };
    let mut lines_by_id: HashMap<u64, usize> = HashMap::new();
    let mut labels: HashMap<String, (u64, usize)> = HashMap::new();
    for table in &mut file.instance {
        let instance = table.get_mut();
        let (raw_id, id_span) = (*instance.id.get_ref(), instance.id.span());
        let id = u64::try_from(raw_id)
            .ok()
            .filter(|&id| id > 0)
            .ok_or_else(|| {
                cx.err(
                    id_span.clone(),
                    format!("instance id {raw_id} is not a positive number"),
                )
                .with_help("instance ids are the numbers `vastai show instances` lists")
            })?;
        let line = cx.line(&id_span);
        if let Some(first) = lines_by_id.insert(id, line) {
            return Err(cx
                .err(
                    id_span,
                    format!("duplicate instance id {id} (first at line {first})"),
                )
                .with_help("remove one of the two [[instance]] tables"));
        }
        let label = match &instance.label {
            None => None,
            Some(label) => {
                check_label(label.get_ref()).map_err(|why| {
                    cx.err(label.span(), why)
                        .with_help("remove `label` to prefix the lines with the id")
                })?;
                let text = label.get_ref().trim().to_string();
                if let Some((other, other_line)) = labels.insert(text.clone(), (id, line)) {
                    settings.warnings.push(cx.err(label.span(),
                        format!("label {text:?} is also used by instance {other} (line {other_line})"))
                        .with_help("lines of both instances will carry the same prefix; give each its own label"));
                }
                Some(text)
            }
        };
        let own = parse_policy(&cx, &instance.take_policy())?;
        settings.instances.push(InstanceSettings {
            id,
            label,
            policy: merge(&cx, &defaults, own)?,
        });
    }
    settings.discover = file
        .discover
        .as_ref()
        .map(|d| discover(&cx, d))
        .transpose()?;
    settings.budget = budget(&cx, file.budget.as_ref())?;
    settings.notify = file
        .notify
        .iter()
        .map(|n| notify(&cx, n))
        .collect::<Result<_, _>>()?;
    Ok(settings)
}
