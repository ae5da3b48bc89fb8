//! The two-step logs protocol: PUT request_logs, then poll the returned `result_url`.
//!
//! The PUT goes through the client's throttled call path like any API call. The `result_url` is
//! a public object on another host (S3), so its GET carries no key and does not count against
//! the API's limits; it is bounded instead: a fixed number of polls, each after a fixed delay.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use url::Url;

use super::models::Reply;
use super::ApiError;

/// How the `result_url` is polled: `attempts` polls, the first after `delay`, each wait half
/// as long again as the one before, up to `max_delay`. The defaults start like the official
/// client (0.3 s) but wait about a minute in all, not its 9 s: real log objects appear
/// "seconds later", and giving up sooner only asks for a new snapshot that takes as long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPollConfig {
    pub attempts: u32,
    pub delay: Duration,
    pub max_delay: Duration,
}

impl Default for LogPollConfig {
    fn default() -> Self {
        LogPollConfig {
            attempts: 34,
            delay: Duration::from_millis(300),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl LogPollConfig {
    /// The wait before poll `n` (0-based).
    pub fn delay_before(&self, n: u32) -> Duration {
        let grown_ms = (self.delay.as_millis() as f64 * 1.5_f64.powi(n.min(64) as i32)).round();
        Duration::from_millis(grown_ms.min(u64::MAX as f64) as u64)
            .min(self.max_delay.max(self.delay))
    }

    /// How long all the polls wait in all (without the requests themselves).
    pub fn patience(&self) -> Duration {
        (0..self.attempts.max(1))
            .map(|n| self.delay_before(n))
            .sum()
    }
}

/// No single poll of the result may take longer than this (the official client's own limit),
/// so a stalled object store cannot hold a monitor for `attempts` × the API timeout.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);

/// A generous bound for one log line: a body may hold `tail` lines of this size on average.
const LINE_BOUND: usize = 64 << 10;
/// The least a log body may be (a tail of one long line), and the most: tens of MB, not GB.
const BODY_CAP_MIN: usize = 2 << 20;
const BODY_CAP_MAX: usize = 32 << 20;

/// The most bytes read of a log body for a tail of `tail` lines.
pub fn body_cap(tail: u32) -> usize {
    (tail as usize)
        .saturating_mul(LINE_BOUND)
        .clamp(BODY_CAP_MIN, BODY_CAP_MAX)
}

/// How long one whole log fetch may take, every poll and body included: the waits the
/// protocol asks for ([`LogPollConfig::patience`]) plus one poll's timeout (`timeout`, at
/// most [`POLL_TIMEOUT`]). Past it,
/// the fetch is an error the monitor reports (issue 17: a body trickling 1 byte/s held an
/// instance silently for minutes).
pub fn fetch_deadline(poll: LogPollConfig, timeout: Duration) -> Duration {
    poll.patience() + timeout.min(POLL_TIMEOUT)
}

/// A log body as read: its text, and whether it was cut at [`body_cap`] (then it ends at the
/// last whole line before the cap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogBody {
    pub text: String,
    pub cut: bool,
}

/// The PUT body: `tail` is a string in the official client, and the API expects it so.
pub(crate) fn request_body(tail: u32) -> Value {
    json!({ "tail": tail.to_string() })
}

/// Where the log snapshot will appear. A relative URL (seen only from test servers) is resolved
/// against the API's base. A reply without one is worth retrying: the server took the request
/// but had nothing to hand out yet.
pub(crate) fn result_url(reply: &Value, base: &Url, site: &str) -> Result<Url, ApiError> {
    let reply: Reply = serde_json::from_value(reply.clone()).unwrap_or_default();
    let Some(raw) = reply
        .result_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    else {
        let why = reply.text().map(super::classify::quote).unwrap_or_default();
        return Err(ApiError::Transient(format!(
            "{site}: the reply named no result_url{}{why}",
            if why.is_empty() { "" } else { ": " }
        )));
    };
    base.join(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| {
            ApiError::Transient(format!("{site}: the reply's result_url is not a web URL"))
        })
}

/// Polls `url` until it answers 200 and returns the body. 403/404 (the object is not uploaded
/// yet), any other status and transport failures all mean "not ready"; the URL itself never
/// appears in an error because it may carry signing tokens.
pub(crate) async fn fetch_result(
    http: &reqwest::Client,
    url: &Url,
    poll: LogPollConfig,
    timeout: Duration,
    cap: usize,
) -> Result<LogBody, ApiError> {
    let deadline = fetch_deadline(poll, timeout);
    match tokio::time::timeout(deadline, poll_result(http, url, poll, timeout, cap)).await {
        Ok(result) => result,
        Err(_) => Err(ApiError::Transient(format!(
            "log result not complete within {:.1}s (a stalled or trickling log store)",
            deadline.as_secs_f64()
        ))),
    }
}

async fn poll_result(
    http: &reqwest::Client,
    url: &Url,
    poll: LogPollConfig,
    timeout: Duration,
    cap: usize,
) -> Result<LogBody, ApiError> {
    let attempts = poll.attempts.max(1);
    let timeout = timeout.min(POLL_TIMEOUT);
    for n in 0..attempts {
        tokio::time::sleep(poll.delay_before(n)).await;
        let Ok(response) = http.get(url.clone()).timeout(timeout).send().await else {
            continue;
        };
        if response.status() != StatusCode::OK {
            continue;
        }
        if let Ok(body) = super::body::read_capped(response, cap).await {
            let bytes = if body.over {
                super::body::to_last_line_end(body.bytes)
            } else {
                body.bytes
            };
            let text = match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(bad) => String::from_utf8_lossy(bad.as_bytes()).into_owned(),
            };
            return Ok(LogBody {
                text,
                cut: body.over,
            });
        }
    }
    Err(ApiError::Transient(format!(
        "log result not ready after {attempts} polls"
    )))
}

/// The body's complete lines without their endings; `\r\n` and `\n` both end a line. A last
/// line without its newline is still being written (a progress bar, a half-flushed buffer): it
/// is left for the next poll, where it arrives whole, so it is never printed as two lines.
pub(crate) fn split_lines(body: &str) -> Vec<String> {
    let complete = body.rfind('\n').map_or("", |end| &body[..=end]);
    complete
        .lines()
        .map(|line| capped_line(line.strip_suffix('\r').unwrap_or(line)))
        .collect()
}

/// The longest line kept, for display and for completion/failure matching alike; longer ones
/// are cut at a character boundary and say how much was dropped.
pub const LINE_CAP: usize = 1 << 20;

fn capped_line(line: &str) -> String {
    if line.len() <= LINE_CAP {
        return line.to_owned();
    }
    let end = (0..=LINE_CAP)
        .rev()
        .find(|&i| line.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}… [{} bytes cut]", &line[..end], line.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://127.0.0.1:8080").unwrap()
    }

    #[test]
    fn polls_start_quick_and_wait_about_a_minute_in_all() {
        let poll = LogPollConfig::default();
        let ms = |n| Duration::from_millis(n);
        let first: Vec<Duration> = (0..3).map(|n| poll.delay_before(n)).collect();
        assert_eq!(first, [ms(300), ms(450), ms(675)]);
        assert_eq!(poll.delay_before(5), ms(2000));
        assert_eq!(poll.delay_before(u32::MAX), ms(2000));
        let patience = poll.patience();
        assert!(
            (Duration::from_secs(55)..=Duration::from_secs(70)).contains(&patience),
            "{patience:?}"
        );
    }

    #[test]
    fn the_tail_is_sent_as_a_string() {
        assert_eq!(request_body(200), json!({"tail": "200"}));
    }

    #[test]
    fn lines_lose_their_endings_and_the_final_newline() {
        assert_eq!(split_lines("a\nb\n"), ["a", "b"]);
        assert_eq!(split_lines("a\r\nb\r\n"), ["a", "b"]);
        assert_eq!(split_lines("a\n\nb\n"), ["a", "", "b"]);
        assert_eq!(split_lines("tick\ntick\n\n"), ["tick", "tick", ""]);
        assert!(split_lines("").is_empty());
    }

    #[test]
    fn a_line_over_the_cap_is_cut_and_says_so() {
        let long = format!("{}\nnext\n", "é".repeat(LINE_CAP));
        let lines = split_lines(&long);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            format!("{}… [{} bytes cut]", "é".repeat(LINE_CAP / 2), LINE_CAP)
        );
        assert_eq!(lines[1], "next");
        let fits = format!("{}\n", "x".repeat(LINE_CAP));
        assert_eq!(split_lines(&fits)[0].len(), LINE_CAP);
    }

    #[test]
    fn the_body_cap_follows_the_tail_within_bounds() {
        assert_eq!(body_cap(1), BODY_CAP_MIN);
        assert_eq!(body_cap(200), 200 * LINE_BOUND);
        assert_eq!(body_cap(10_000), BODY_CAP_MAX);
        assert_eq!(body_cap(u32::MAX), BODY_CAP_MAX);
    }

    #[test]
    fn a_line_still_being_written_waits_for_its_newline() {
        assert_eq!(split_lines("a\nepoch 1 lo"), ["a"]);
        assert_eq!(
            split_lines("a\nepoch 1 loss=0.4\n"),
            ["a", "epoch 1 loss=0.4"]
        );
        assert!(split_lines("10%|█         |\r20%|██        |").is_empty());
    }

    #[test]
    fn the_result_url_is_taken_as_given_or_resolved_against_the_base() {
        let abs = json!({"success": true, "result_url": "https://s3.amazonaws.com/vast.ai/x.log"});
        assert_eq!(
            result_url(&abs, &base(), "PUT /p").unwrap().as_str(),
            "https://s3.amazonaws.com/vast.ai/x.log"
        );
        let rel = json!({"success": true, "result_url": "/s3/logs/9.log"});
        assert_eq!(
            result_url(&rel, &base(), "PUT /p").unwrap().as_str(),
            "http://127.0.0.1:8080/s3/logs/9.log"
        );
    }

    #[test]
    fn a_reply_without_a_result_url_is_transient_and_quotes_the_message() {
        let reply = json!({"success": true, "msg": "Preparing logs"});
        let err = result_url(&reply, &base(), "PUT /p").unwrap_err();
        assert_eq!(
            err,
            ApiError::Transient("PUT /p: the reply named no result_url: Preparing logs".into())
        );
        let ftp = json!({"success": true, "result_url": "ftp://host/x"});
        assert!(matches!(
            result_url(&ftp, &base(), "PUT /p"),
            Err(ApiError::Transient(_))
        ));
    }
}
