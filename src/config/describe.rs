//! A compact, human summary of validated [`Settings`] for `vastfleet check`: the fleet-wide
//! settings, then one table row per instance with its effective policy (defaults merged).

use std::time::Duration;

use super::settings::{ContractWarning, Discover, Guards, Policy, Settings};
use crate::api::base_url::{BaseUrl, UrlOrigin, URL_VAR};
use crate::report::event::ActionKind;

/// The whole summary, ending with a newline. `base` is the URL the command resolved.
pub fn describe(settings: &Settings, base: &BaseUrl) -> String {
    let mut out = String::new();
    let source = match base.origin {
        UrlOrigin::Flag | UrlOrigin::File => "fleet file or --api-url",
        UrlOrigin::Env => URL_VAR,
        UrlOrigin::Default => "default",
    };
    let limit = settings.api.rate_limit;
    out.push_str(&format!(
        "api        {} ({source}) · at most {} calls/s, burst {} · down after {} · \
         server waits up to {}\n",
        base.url,
        limit.per_second,
        limit.burst,
        duration(settings.api_down_after),
        duration(settings.api.max_retry_after)
    ));
    match &settings.discover {
        Some(Discover::All) => out.push_str("discover   every other instance of the account\n"),
        Some(Discover::Label(glob)) => out.push_str(&format!(
            "discover   instances labelled {:?}\n",
            glob.glob().glob()
        )),
        None => {}
    }
    let budget = [
        settings
            .budget
            .max_dph
            .map(|max| format!("at most ${max:.2}/hr")),
        settings
            .budget
            .max_spend
            .map(|max| format!("at most ${max:.2} spent")),
    ];
    let budget: Vec<String> = budget.into_iter().flatten().collect();
    if !budget.is_empty() {
        out.push_str(&format!(
            "budget     {} (alerts, never actions)\n",
            budget.join(" · ")
        ));
    }
    for target in &settings.notify {
        out.push_str(&format!(
            "notify     {} as {} on {}\n",
            target.redacted_url(),
            target.format.as_str(),
            target
                .topics
                .iter()
                .map(|topic| topic.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push('\n');
    if settings.instances.is_empty() {
        out.push_str("no instances yet: add one with `vastfleet add ID`\n");
        return out;
    }
    let mut rows = vec![[
        "ID",
        "LABEL",
        "EVERY",
        "BACKOFF",
        "TAIL",
        "HISTORY",
        "ON COMPLETE",
        "ON FAILURE",
        "ON EXIT",
        "GUARDS",
    ]
    .map(String::from)
    .to_vec()];
    for instance in &settings.instances {
        let p = &instance.policy;
        rows.push(vec![
            instance.id.to_string(),
            instance.label.clone().unwrap_or_else(|| "-".into()),
            duration(p.interval),
            duration(p.max_backoff),
            p.tail.to_string(),
            p.history.map_or_else(|| "all".into(), |h| h.to_string()),
            action(p.on_complete).to_string(),
            // Without a `failure` pattern there is nothing for `on_failure` to act on.
            p.failure
                .as_ref()
                .map_or("-", |_| action(p.on_failure))
                .to_string(),
            action(p.on_exit).to_string(),
            guards(&p.guards),
        ]);
    }
    out.push_str(&table(&rows));
    out.push('\n');
    out.push_str(&patterns(settings));
    out
}

fn patterns(settings: &Settings) -> String {
    let base = &settings.defaults;
    let mut out = format!(
        "completion {}\nresult     {}\n",
        quoted(base.completion.as_str()),
        quoted(base.result.as_str())
    );
    if let Some(failure) = &base.failure {
        out.push_str(&format!("failure    {}\n", quoted(failure.as_str())));
    }
    for instance in &settings.instances {
        let p: &Policy = &instance.policy;
        let own = p.failure.as_ref().map(|f| f.as_str());
        if own != base.failure.as_ref().map(|f| f.as_str()) {
            out.push_str(&format!(
                "  {} failure    {}\n",
                instance.id,
                own.map_or_else(|| "none".to_owned(), quoted)
            ));
        }
        if p.completion.as_str() != base.completion.as_str() {
            out.push_str(&format!(
                "  {} completion {}\n",
                instance.id,
                quoted(p.completion.as_str())
            ));
        }
        if p.result.as_str() != base.result.as_str() {
            out.push_str(&format!(
                "  {} result     {}\n",
                instance.id,
                quoted(p.result.as_str())
            ));
        }
    }
    out
}

/// A pattern as it would be written in the file, in single quotes (TOML literal strings).
fn quoted(pattern: &str) -> String {
    format!("'{pattern}'")
}

fn duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn action(action: Option<ActionKind>) -> &'static str {
    action.map_or("none", ActionKind::as_str)
}

/// "runtime 12h, idle <5% 20m → stop", or "-" when no guard is on.
pub fn guards(g: &Guards) -> String {
    let mut acting = Vec::new();
    if let Some(d) = g.max_runtime {
        acting.push(format!("runtime {}", duration(d)));
    }
    if let Some(cost) = g.max_cost {
        acting.push(format!("cost ${cost:.2}"));
    }
    if let Some(idle) = g.idle {
        acting.push(format!(
            "idle <{}% {}",
            idle.gpu_util_below,
            duration(idle.duration)
        ));
    }
    if let Some(d) = g.stuck {
        acting.push(format!("stuck {}", duration(d)));
    }
    if let Some(d) = g.silent {
        acting.push(format!("silent {}", duration(d)));
    }
    let mut parts = Vec::new();
    if !acting.is_empty() {
        let then = g.on_guard.map_or("report only", ActionKind::as_str);
        parts.push(format!("{} → {then}", acting.join(", ")));
    }
    if let Some(d) = g.destroy_after_stop {
        parts.push(format!("destroy {} after stop", duration(d)));
    }
    match g.contract_warning {
        ContractWarning::Default => {}
        ContractWarning::Off => parts.push("no contract warning".into()),
        ContractWarning::Within(d) => {
            parts.push(format!("warn {} before contract end", duration(d)));
        }
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join("; ")
    }
}

/// Left-aligned columns two spaces apart, no trailing spaces.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            line.push_str(cell);
            line.push_str(&" ".repeat(width - cell.chars().count() + 2));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
