//! The question before a one-shot command changes instances it was not given one by one (a
//! glob) or cannot take back (`destroy`): what will happen, to which instances, and what they
//! cost — label, status, GPU, $/hr and spend per instance, then the totals. `-y` answers it
//! for scripts; without a terminal to ask on, the command refuses (exit 2).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};

use crate::api::Instance;
use crate::commands::select::Target;
use crate::cost::Totals;
use crate::status::Status;
use crate::Fatal;

/// A one-shot action on instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Stop,
    Start,
    Reboot,
    Destroy,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Stop => "stop",
            Verb::Start => "start",
            Verb::Reboot => "reboot",
            Verb::Destroy => "destroy",
        }
    }

    pub fn past(self) -> &'static str {
        match self {
            Verb::Stop => "stopped",
            Verb::Start => "started",
            Verb::Reboot => "rebooted",
            Verb::Destroy => "destroyed",
        }
    }

    /// What the user should know before saying yes.
    fn consequence(self) -> &'static str {
        match self {
            Verb::Stop => {
                "Their disks keep billing; `vastfleet start` resumes them, once their GPUs are free."
            }
            Verb::Start => "Their GPUs bill again from when they run.",
            Verb::Reboot => "Their containers restart: whatever runs in them is killed.",
            Verb::Destroy => "This deletes their disks and cannot be undone.",
        }
    }

    /// Whether even instances named one by one need a yes.
    pub fn always_asks(self) -> bool {
        self == Verb::Destroy
    }
}

/// The refusal when there is no terminal to ask on.
pub fn refusal(verb: Verb, targets: &[Target]) -> Fatal {
    let names: Vec<String> = targets.iter().map(Target::name).collect();
    Fatal::input(format!(
        "refusing to {} {} without confirmation: stdin is not a terminal; pass -y to confirm",
        verb.as_str(),
        names.join(", ")
    ))
}

/// The question, with one line per instance from the account's rows (`None`: the figures
/// could not be read, and the question says so).
pub fn question(verb: Verb, targets: &[Target], rows: Option<&[Instance]>, now: f64) -> String {
    let noun = if targets.len() == 1 {
        "instance"
    } else {
        "instances"
    };
    let mut text = format!(
        "{} {} {noun}? {}\n",
        capitalised(verb.as_str()),
        targets.len(),
        verb.consequence()
    );
    let by_id: HashMap<u64, &Instance> = rows
        .unwrap_or_default()
        .iter()
        .filter_map(|r| Some((r.id?, r)))
        .collect();
    let width = targets
        .iter()
        .map(|t| t.name().chars().count())
        .max()
        .unwrap_or(0);
    let mut totals = Totals::default();
    for target in targets {
        let name = target.name();
        let row = by_id.get(&target.id).copied();
        let _ = write!(text, "  {name:<width$}  ");
        match row {
            Some(row) => {
                let status = Status::of(Some(row));
                let (dph, spend) = (row.dph_total, row.spend_usd(now));
                totals.add(&status, dph, spend);
                let gpu = row.gpu_label().unwrap_or_else(|| "-".to_owned());
                let dph = dph.map_or("-".to_owned(), |d| format!("${d:.2}/hr"));
                let spend = spend.map_or("-".to_owned(), |s| format!("about ${s:.2} spent"));
                let _ = writeln!(text, "{status}  {gpu}  {dph}  {spend}");
            }
            None if rows.is_some() => text.push_str("not in the account\n"),
            None => text.push_str("(figures unavailable)\n"),
        }
    }
    if rows.is_some() {
        let _ = writeln!(text, "  together: {}", totals.line());
    }
    text.push_str("[y/N] ");
    text
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// Asks on the terminal (the question on stderr, so stdout stays the command's output).
pub fn ask(question: &str) -> Result<(), Fatal> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Fatal::input("stdin is not a terminal; pass -y to confirm"));
    }
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|err| Fatal::input(format!("cannot read the answer: {err}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(Fatal::input("nothing done: not confirmed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: u64, label: Option<&str>) -> Target {
        Target {
            id,
            label: label.map(str::to_owned),
        }
    }

    fn row(id: u64, status: &str, dph: f64) -> Instance {
        Instance {
            id: Some(id),
            actual_status: Some(status.into()),
            gpu_name: Some("H100".into()),
            num_gpus: Some(8),
            dph_total: Some(dph),
            start_date: Some(0.0),
            ..Instance::default()
        }
    }

    #[test]
    fn the_question_names_each_instance_its_cost_and_the_totals() {
        let targets = [
            target(11, Some("train-a")),
            target(12, None),
            target(13, None),
        ];
        let rows = [row(11, "running", 20.0), row(12, "stopped", 4.0)];
        let text = question(Verb::Destroy, &targets, Some(&rows), 1800.0);
        assert_eq!(
            text,
            "Destroy 3 instances? This deletes their disks and cannot be undone.\n\
             \x20 train-a (11)  running  8x H100  $20.00/hr  about $10.00 spent\n\
             \x20 12            stopped  8x H100  $4.00/hr  about $2.00 spent\n\
             \x20 13            not in the account\n\
             \x20 together: 2 instances (1 running, 1 stopped) · $20.00/hr now · about $12.00 \
             spent\n[y/N] "
        );
        let blind = question(Verb::Reboot, &targets[..1], None, 0.0);
        assert!(
            blind.starts_with("Reboot 1 instance? Their containers restart"),
            "{blind}"
        );
        assert!(
            blind.contains("train-a (11)  (figures unavailable)"),
            "{blind}"
        );
        assert!(!blind.contains("together"), "{blind}");
    }

    #[test]
    fn without_a_terminal_the_refusal_is_bad_input_and_says_how() {
        let err = refusal(Verb::Stop, &[target(11, Some("a")), target(12, None)]);
        assert_eq!(err.code, 2);
        assert_eq!(
            err.message,
            "refusing to stop a (11), 12 without confirmation: stdin is not a terminal; pass -y \
             to confirm"
        );
        assert!(Verb::Destroy.always_asks() && !Verb::Stop.always_asks());
    }
}
