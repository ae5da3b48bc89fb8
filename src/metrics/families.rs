//! The families folded from the event stream and the direct setters: instances, their
//! counters, and the API and throttle figures.

use super::text::{Exposition, Kind};
use super::{Live, State};

impl State {
    pub(super) fn render_instances(&self, text: &mut Exposition) {
        let mut family = text.family(
            "vastfleet_watched_instances",
            Kind::Gauge,
            "Instances currently watched.",
        );
        family.sample(&[], self.live.len() as f64);

        let mut family = text.family(
            "vastfleet_instance_up",
            Kind::Gauge,
            "1 for the instance's current actual_status (\"gone\" when the API no longer knows it).",
        );
        for (id, live) in &self.live {
            if let Some(status) = &live.status {
                let id = id.to_string();
                family.sample(
                    &[
                        ("instance_id", &id),
                        ("label", &live.label),
                        ("status", status.as_str()),
                    ],
                    1.0,
                );
            }
        }

        self.render_instance_gauge(
            text,
            "vastfleet_instance_dph",
            "Total price of the instance in USD per hour.",
            |live| live.dph,
        );
        self.render_instance_gauge(
            text,
            "vastfleet_instance_spend_usd",
            "USD spent on the instance so far.",
            |live| live.spend,
        );
        self.render_instance_gauge(
            text,
            "vastfleet_last_log_timestamp_seconds",
            "When the instance's last new log line was seen (history excluded), or when \
             watching it began if none has come since, in seconds since the epoch.",
            |live| {
                let at = live.last_log?.duration_since(std::time::UNIX_EPOCH).ok()?;
                Some(at.as_secs_f64())
            },
        );
    }

    fn render_instance_gauge(
        &self,
        text: &mut Exposition,
        name: &str,
        help: &str,
        value: impl Fn(&Live) -> Option<f64>,
    ) {
        let mut family = text.family(name, Kind::Gauge, help);
        for (id, live) in &self.live {
            if let Some(value) = value(live) {
                let id = id.to_string();
                family.sample(&[("instance_id", &id), ("label", &live.label)], value);
            }
        }
    }

    pub(super) fn render_counters(&self, text: &mut Exposition) {
        let series = || {
            self.counters.iter().flat_map(|(id, by_label)| {
                let id = id.to_string();
                by_label
                    .iter()
                    .map(move |(label, c)| (id.clone(), label.as_str(), c))
            })
        };

        let mut family = text.family(
            "vastfleet_completions_total",
            Kind::Counter,
            "New matches of the completion pattern (history excluded).",
        );
        for (id, label, c) in series().filter(|(_, _, c)| c.completions > 0) {
            family.sample(
                &[("instance_id", &id), ("label", label)],
                c.completions as f64,
            );
        }

        let mut family = text.family(
            "vastfleet_failures_total",
            Kind::Counter,
            "Job failures: new matches of the failure pattern (reason=log) and containers that \
             exited while meant to run (reason=exited).",
        );
        for (id, label, c) in series() {
            for (reason, n) in &c.failures {
                family.sample(
                    &[("instance_id", &id), ("label", label), ("reason", reason)],
                    *n as f64,
                );
            }
        }

        let mut family = text.family(
            "vastfleet_guard_firings_total",
            Kind::Counter,
            "Guards that fired.",
        );
        for (id, label, c) in series() {
            for (guard, count) in &c.guards {
                family.sample(
                    &[("instance_id", &id), ("label", label), ("guard", guard)],
                    *count as f64,
                );
            }
        }

        let mut family = text.family(
            "vastfleet_actions_total",
            Kind::Counter,
            "Stop/destroy actions by outcome (ok is \"true\", \"false\" or \"dry_run\").",
        );
        for (id, label, c) in series() {
            for ((action, ok), count) in &c.actions {
                family.sample(
                    &[
                        ("instance_id", &id),
                        ("label", label),
                        ("action", action),
                        ("ok", ok),
                    ],
                    *count as f64,
                );
            }
        }

        let mut family = text.family(
            "vastfleet_log_lines_total",
            Kind::Counter,
            "New log lines printed (history excluded).",
        );
        for (id, label, c) in series().filter(|(_, _, c)| c.log_lines > 0) {
            family.sample(
                &[("instance_id", &id), ("label", label)],
                c.log_lines as f64,
            );
        }
    }

    pub(super) fn render_api(&self, text: &mut Exposition) {
        let mut family = text.family(
            "vastfleet_api_calls_total",
            Kind::Counter,
            "Vast.ai API calls by endpoint and HTTP status (\"error\" when no response came).",
        );
        for (endpoint, by_status) in &self.api_calls {
            for (status, count) in by_status {
                family.sample(&[("endpoint", endpoint), ("status", status)], *count as f64);
            }
        }

        let mut family = text.family(
            "vastfleet_api_rate_limited_total",
            Kind::Counter,
            "API calls answered 429.",
        );
        family.sample(&[], self.api_rate_limited as f64);

        let mut family = text.family(
            "vastfleet_api_errors_total",
            Kind::Counter,
            "Failed API work by scope (\"fleet\" for the status sweep, else the instance label).",
        );
        for (scope, count) in &self.api_errors {
            family.sample(&[("scope", scope)], *count as f64);
        }

        let mut family = text.family(
            "vastfleet_backoff_seconds",
            Kind::Gauge,
            "Current wait before the next retry, by scope; 0 once calls succeed again.",
        );
        for (scope, seconds) in &self.backoff {
            family.sample(&[("scope", scope)], *seconds);
        }

        let mut family = text.family(
            "vastfleet_throttle_effective_rate",
            Kind::Gauge,
            "API calls per second the shared throttle currently allows.",
        );
        if let Some(rate) = self.effective_rate.filter(|r| r.is_finite()) {
            family.sample(&[], rate);
        }

        let mut family = text.family(
            "vastfleet_throttle_pace",
            Kind::Gauge,
            "Calls per second an endpoint is held to (its documented rate unless the API \
             limited it), for endpoints whose pace has changed.",
        );
        for (endpoint, (pace, _)) in &self.paces {
            if pace.is_finite() {
                family.sample(&[("endpoint", endpoint)], *pace);
            }
        }

        let mut family = text.family(
            "vastfleet_throttle_limited",
            Kind::Gauge,
            "1 while an endpoint is in a rate-limit episode (HTTP 429), else 0.",
        );
        for (endpoint, (_, limited)) in &self.paces {
            family.sample(&[("endpoint", endpoint)], f64::from(u8::from(*limited)));
        }
    }
}
