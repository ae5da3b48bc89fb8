//! An instance's log script: which lines its container prints by a given running time. Pure
//! arithmetic on the running clock, so a paused instance prints nothing and a restarted one
//! picks up where it left off, and any stretch of time yields its lines in order at once.

use std::time::Duration;

use super::scenario::{InstanceSpec, COMPLETION_LINE};

/// One source of lines: the first at `first`, then `count` more (None: forever) `every` apart.
#[derive(Debug, Clone)]
struct Source {
    first: f64,
    every: Option<f64>,
    count: Option<u64>,
    text: String,
}

impl Source {
    /// How many lines this source has printed by running time `t` (seconds).
    fn due(&self, t: f64) -> u64 {
        if t < self.first {
            return 0;
        }
        let due = match self.every {
            // The epsilon keeps "every 0.1 s" from losing a line to float rounding.
            Some(every) => ((t - self.first) / every + 1e-9).floor() as u64 + 1,
            None => 1,
        };
        match (self.every, self.count) {
            (None, _) => 1,
            (Some(_), Some(count)) => due.min(count),
            (Some(_), None) => due,
        }
    }

    fn time_of(&self, k: u64) -> f64 {
        self.first + self.every.unwrap_or(0.0) * k as f64
    }
}

/// The lines still to come, with how many of each source were printed so far.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    id: u64,
    sources: Vec<Source>,
    printed: Vec<u64>,
}

impl Script {
    pub fn new(spec: &InstanceSpec) -> Script {
        let mut sources: Vec<Source> = spec
            .log
            .iter()
            .map(|item| Source {
                first: item.at.0.as_secs_f64(),
                every: item.every.map(|d| d.0.as_secs_f64()),
                count: item.count,
                text: item.text.clone(),
            })
            .collect();
        if spec.lines_per_second > 0.0 {
            let every = 1.0 / spec.lines_per_second;
            sources.push(Source {
                first: every,
                every: Some(every),
                count: None,
                text: spec.line_text.clone(),
            });
        }
        if let Some(at) = spec.complete_at {
            let at = at.0.as_secs_f64();
            let url = spec.result_url.clone().unwrap_or_else(|| {
                format!("https://results.example.com/{}/output.tar.gz", spec.id)
            });
            for text in [COMPLETION_LINE.to_owned(), url] {
                sources.push(Source {
                    first: at,
                    every: None,
                    count: None,
                    text,
                });
            }
        }
        let printed = vec![0; sources.len()];
        Script {
            id: spec.id,
            sources,
            printed,
        }
    }

    /// The lines printed after the previous call, up to running time `run`, in time order
    /// (sources in file order when lines fall on the same instant).
    pub fn advance(&mut self, run: Duration) -> Vec<String> {
        let t = run.as_secs_f64();
        let mut due: Vec<(f64, usize, u64)> = Vec::new();
        for (i, source) in self.sources.iter().enumerate() {
            let until = source.due(t);
            due.extend((self.printed[i]..until).map(|k| (source.time_of(k), i, k)));
            self.printed[i] = self.printed[i].max(until);
        }
        due.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        due.into_iter()
            .map(|(_, i, k)| self.render(&self.sources[i].text, k + 1))
            .collect()
    }

    fn render(&self, text: &str, n: u64) -> String {
        if !text.contains('{') {
            return text.to_owned();
        }
        text.replace("{n}", &n.to_string())
            .replace("{id}", &self.id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::{Dur, LogItem};

    fn spec() -> InstanceSpec {
        InstanceSpec {
            log: vec![
                LogItem {
                    at: Dur::secs(1),
                    text: "hello".into(),
                    every: None,
                    count: None,
                },
                LogItem {
                    at: Dur::secs(2),
                    text: "tick {n}".into(),
                    every: Some(Dur::secs(1)),
                    count: Some(3),
                },
            ],
            complete_at: Some(Dur::millis(3500)),
            result_url: Some("https://r/x".into()),
            ..InstanceSpec::new(7)
        }
    }

    #[test]
    fn lines_come_in_time_order_and_only_once() {
        let mut script = Script::new(&spec());
        assert!(script.advance(Duration::from_millis(500)).is_empty());
        assert_eq!(script.advance(Duration::from_secs(2)), ["hello", "tick 1"]);
        assert_eq!(
            script.advance(Duration::from_secs(10)),
            ["tick 2", COMPLETION_LINE, "https://r/x", "tick 3"]
        );
        assert!(script.advance(Duration::from_secs(100)).is_empty());
    }

    #[test]
    fn the_steady_generator_prints_at_its_rate() {
        let spec = InstanceSpec {
            lines_per_second: 10.0,
            line_text: "{id}:{n}".into(),
            ..InstanceSpec::new(3)
        };
        let mut script = Script::new(&spec);
        let lines = script.advance(Duration::from_secs(2));
        assert_eq!(lines.len(), 20);
        assert_eq!(lines[0], "3:1");
        assert_eq!(lines[19], "3:20");
        assert_eq!(script.advance(Duration::from_millis(2300)).len(), 3);
    }
}
