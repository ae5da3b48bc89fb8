//! The two-step log protocol (vast-api.md §4): PUT request_logs takes a snapshot of the
//! container's log, stores it as a fake S3 object and answers its URL; the object answers
//! "not ready" (403 AccessDenied) to its first polls, then the text. Execute works the same.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use regex::Regex;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::model::Phase;
use super::reply::ApiFail;
use super::world::World;

/// At most this many objects are kept; older ones answer 404 like expired S3 objects.
const MAX_OBJECTS: usize = 4096;

#[derive(Debug)]
struct Object {
    text: String,
    /// Stale-copy mode: what the object held before this snapshot was requested.
    previous: Option<String>,
    polls_left: u32,
    ready_at: Instant,
}

/// What a GET of a fake S3 object finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fetch {
    Missing,
    NotReady,
    Ready(String),
}

/// When a new object is ready: after `polls` GETs and not before `at`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Readiness {
    pub polls: u32,
    pub at: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Results {
    objects: HashMap<String, Object>,
    order: VecDeque<String>,
}

impl Results {
    /// Stores `text` under a fresh unguessable name (with its folder and extension).
    fn put(&mut self, folder: &str, text: String, ready: Readiness) -> String {
        let name = format!(
            "{folder}/{:016x}{:016x}.log",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        self.store(name, text, None, ready)
    }

    /// Stores `text` under `name`, which an earlier snapshot may hold: until the new text is
    /// ready, GETs read the earlier one, as an S3 object being overwritten serves its old
    /// content.
    fn overwrite(&mut self, name: String, text: String, ready: Readiness, now: Instant) -> String {
        // An upload completes in its time whether or not anyone looked (a client that took
        // the stale copy never polls the new one to readiness).
        let previous = self.objects.get(&name).and_then(|old| {
            if now >= old.ready_at {
                Some(old.text.clone())
            } else {
                old.previous.clone()
            }
        });
        self.order.retain(|n| *n != name);
        self.store(name, text, previous, ready)
    }

    fn store(
        &mut self,
        name: String,
        text: String,
        previous: Option<String>,
        ready: Readiness,
    ) -> String {
        if self.order.len() >= MAX_OBJECTS {
            if let Some(old) = self.order.pop_front() {
                self.objects.remove(&old);
            }
        }
        self.order.push_back(name.clone());
        let object = Object {
            text,
            previous,
            polls_left: ready.polls,
            ready_at: ready.at,
        };
        self.objects.insert(name.clone(), object);
        name
    }

    pub fn fetch(&mut self, name: &str, now: Instant) -> Fetch {
        let Some(object) = self.objects.get_mut(name) else {
            return Fetch::Missing;
        };
        if object.polls_left > 0 || now < object.ready_at {
            object.polls_left = object.polls_left.saturating_sub(1);
            return match &object.previous {
                Some(old) => Fetch::Ready(old.clone()),
                None => Fetch::NotReady,
            };
        }
        object.previous = None;
        Fetch::Ready(object.text.clone())
    }
}

/// `tail` arrives as a string ("1000") from the official client; numbers are accepted too.
fn tail_of(body: &Value, default: usize) -> Result<usize, ApiFail> {
    match body.get("tail") {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n.as_u64().map(|n| n as usize).ok_or(()),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| ()),
        Some(_) => Err(()),
    }
    .map_err(|()| ApiFail::invalid_args("tail must be a whole number of lines"))
}

/// A grep on the host: a regex, or the literal text when it is not a valid one.
enum LineFilter {
    Pattern(Regex),
    Literal(String),
}

impl LineFilter {
    fn from_body(body: &Value) -> Option<LineFilter> {
        let pattern = body.get("filter")?.as_str()?;
        if pattern.is_empty() {
            return None;
        }
        Some(match Regex::new(pattern) {
            Ok(re) => LineFilter::Pattern(re),
            Err(_) => LineFilter::Literal(pattern.to_owned()),
        })
    }

    fn keeps(&self, line: &str) -> bool {
        match self {
            LineFilter::Pattern(re) => re.is_match(line),
            LineFilter::Literal(text) => line.contains(text.as_str()),
        }
    }
}

fn is_true(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// The pre-2025 object name: derived from key and instance (an MD5 then), so the same for
/// every snapshot of one instance.
fn stable_name(key: &str, id: u64) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (key, id).hash(&mut hasher);
    hasher.finish()
}

impl World {
    pub fn request_logs(
        &mut self,
        id: u64,
        body: &Value,
        base: &str,
        now: Instant,
    ) -> Result<Value, ApiFail> {
        let invalid_id = || ApiFail::new(404, "invalid_id", "Invalid instance id.");
        let tail = tail_of(body, self.logs.default_tail)?;
        let filter = LineFilter::from_body(body);
        let daemon = is_true(body.get("daemon_logs"));
        let not_running_error = self.switches.logs_not_running_error;
        let inst = self
            .visible("request_logs", id, now)
            .ok_or_else(invalid_id)?;
        if not_running_error && !daemon && *inst.phase() != Phase::Running {
            return Ok(json!({
                "success": false,
                "error": "not_running",
                "msg": format!("Instance {id} is not running."),
            }));
        }
        let text = if !daemon && !inst.has_container() {
            format!("Error response from daemon: No such container: C.{id}\n")
        } else {
            let source = if daemon {
                inst.daemon_log()
            } else {
                inst.log()
            };
            let skip = source.len().saturating_sub(tail);
            let lines: Vec<&str> = source
                .iter()
                .skip(skip)
                .map(String::as_str)
                .filter(|line| filter.as_ref().is_none_or(|f| f.keeps(line)))
                .collect();
            let mut text = lines.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            text
        };
        let ready = Readiness {
            polls: self.logs.not_ready_polls,
            at: now + self.logs.ready_after.0,
        };
        let name = if self.logs.stale_copy {
            let stable = format!("instance_logs/{:016x}.log", stable_name(&self.key, id));
            self.results.overwrite(stable, text, ready, now)
        } else {
            self.results.put("instance_logs", text, ready)
        };
        Ok(json!({
            "success": true,
            "result_url": format!("{base}/__s3/{name}"),
            "msg": "Logs are being uploaded; fetch them from result_url.",
        }))
    }

    pub fn execute(
        &mut self,
        id: u64,
        body: &Value,
        base: &str,
        now: Instant,
    ) -> Result<Value, ApiFail> {
        let command = body
            .get("command")
            .and_then(Value::as_str)
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| ApiFail::invalid_args("`command` is required"))?
            .to_owned();
        let inst = self
            .visible("execute", id, now)
            .ok_or(ApiFail::no_such_instance(id))?;
        if *inst.phase() != Phase::Running {
            return Ok(json!({
                "success": false,
                "error": "not_running",
                "msg": format!("Instance {id} is not running."),
            }));
        }
        let writeable_path = format!("/tmp/vast_cmd_{id}");
        let text = format!("{writeable_path}\n(simulated) C.{id}$ {command}\n");
        let ready = Readiness {
            polls: self.logs.not_ready_polls,
            at: now + self.logs.ready_after.0,
        };
        let name = self.results.put("command_results", text, ready);
        Ok(json!({
            "success": true,
            "writeable_path": writeable_path,
            "result_url": format!("{base}/__s3/{name}"),
            "msg": "Command queued.",
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn polls(polls: u32, at: Instant) -> Readiness {
        Readiness { polls, at }
    }

    #[test]
    fn objects_are_not_ready_for_their_first_polls() {
        let now = Instant::now();
        let mut results = Results::default();
        let name = results.put("instance_logs", "a\nb\n".into(), polls(2, now));
        assert!(name.starts_with("instance_logs/") && name.ends_with(".log"));
        assert_eq!(results.fetch(&name, now), Fetch::NotReady);
        assert_eq!(results.fetch(&name, now), Fetch::NotReady);
        assert_eq!(results.fetch(&name, now), Fetch::Ready("a\nb\n".into()));
        assert_eq!(results.fetch("instance_logs/nope.log", now), Fetch::Missing);
    }

    #[test]
    fn objects_are_not_ready_before_their_time_whatever_the_polls() {
        let t0 = Instant::now();
        let later = t0 + std::time::Duration::from_secs(5);
        let mut results = Results::default();
        let name = results.put("instance_logs", "a\n".into(), polls(1, later));
        for _ in 0..10 {
            assert_eq!(results.fetch(&name, t0), Fetch::NotReady);
        }
        assert_eq!(results.fetch(&name, later), Fetch::Ready("a\n".into()));
    }

    #[test]
    fn a_stable_object_serves_the_previous_snapshot_until_the_new_one_is_ready() {
        let now = Instant::now();
        let mut results = Results::default();
        let name = "instance_logs/stable.log".to_owned();
        results.overwrite(name.clone(), "a\n".into(), polls(1, now), now);
        assert_eq!(results.fetch(&name, now), Fetch::NotReady, "nothing before");
        assert_eq!(results.fetch(&name, now), Fetch::Ready("a\n".into()));
        let again = results.overwrite(name.clone(), "a\nb\n".into(), polls(2, now), now);
        assert_eq!(again, name, "the same URL");
        assert_eq!(results.fetch(&name, now), Fetch::Ready("a\n".into()));
        assert_eq!(results.fetch(&name, now), Fetch::Ready("a\n".into()));
        assert_eq!(results.fetch(&name, now), Fetch::Ready("a\nb\n".into()));
        // Overwritten again before the new text was ready: the stale copy is still the last
        // one that was ready, never the one that never got there.
        let later = now + std::time::Duration::from_secs(5);
        results.overwrite(name.clone(), "c\n".into(), polls(1, later), now);
        results.overwrite(name.clone(), "d\n".into(), polls(1, now), now);
        assert_eq!(results.fetch(&name, now), Fetch::Ready("a\nb\n".into()));
        assert_eq!(results.fetch(&name, now), Fetch::Ready("d\n".into()));
    }

    #[test]
    fn tail_and_daemon_flags_parse_leniently() {
        assert_eq!(tail_of(&json!({"tail": "20"}), 1000).unwrap(), 20);
        assert_eq!(tail_of(&json!({"tail": 7}), 1000).unwrap(), 7);
        assert_eq!(tail_of(&json!({}), 1000).unwrap(), 1000);
        assert_eq!(
            tail_of(&json!({"tail": "x"}), 1000).unwrap_err().error,
            "invalid_args"
        );
        assert!(is_true(Some(&json!("true"))));
        assert!(!is_true(None));
        let filter = LineFilter::from_body(&json!({"filter": "SUCCESS|done"})).unwrap();
        assert!(filter.keeps("all done") && !filter.keeps("step 3"));
        let literal = LineFilter::from_body(&json!({"filter": "a[("})).unwrap();
        assert!(literal.keeps("xa[(y"));
        assert!(LineFilter::from_body(&json!({"filter": ""})).is_none());
    }
}
