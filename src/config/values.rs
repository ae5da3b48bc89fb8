//! The value checks every table shares: durations, regexes, counts, URLs. Each error points
//! at the value it is about and says how to write a good one.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use regex::Regex;

use super::error::ConfigError;
use super::schema::Spanned;

pub(super) const DURATION_HELP: &str =
    "write a number and a unit, e.g. \"500ms\", \"5s\", \"20m\", \"1h30m\"";
/// `tail` and `history` may not exceed the largest tail the log follower ever asks for.
pub(super) const MAX_TAIL: i64 = crate::monitor::logs::MAX_TAIL as i64;

/// Where errors point: the file's name and text.
pub(super) struct Ctx<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
    /// Where each line starts: every instance asks for its line, and counting newlines from
    /// the top each time made 100,000 instances take minutes to check.
    line_starts: Vec<usize>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(path: &'a Path, text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        Ctx {
            path,
            text,
            line_starts,
        }
    }

    pub(super) fn err(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.path, self.text, span, message)
    }

    /// The 1-based line of the span's start.
    pub(super) fn line(&self, span: &Range<usize>) -> usize {
        self.line_starts
            .partition_point(|&start| start <= span.start)
    }

    /// A duration of at least `min`.
    pub(super) fn duration(
        &self,
        key: &str,
        value: &Spanned<String>,
        min: Duration,
    ) -> Result<Duration, ConfigError> {
        let parsed = humantime::parse_duration(value.get_ref().trim()).map_err(|err| {
            self.err(
                value.span(),
                format!("invalid duration {:?} for `{key}`: {err}", value.get_ref()),
            )
            .with_help(DURATION_HELP)
        })?;
        if parsed < min.max(Duration::from_nanos(1)) {
            let message = if min.is_zero() {
                format!("`{key}` must be longer than zero")
            } else {
                format!(
                    "`{key}` must be at least {}",
                    humantime::format_duration(min)
                )
            };
            return Err(self
                .err(value.span(), message)
                .with_help(if key == "interval" {
                    "polling faster only queues calls behind the shared rate limiter"
                } else {
                    DURATION_HELP
                }));
        }
        Ok(parsed)
    }

    /// A guard's duration; `"none"` turns off a guard that `[defaults]` turned on.
    pub(super) fn guard(
        &self,
        key: &str,
        value: &Option<Spanned<String>>,
    ) -> Result<Option<Option<Duration>>, ConfigError> {
        let Some(value) = value else { return Ok(None) };
        if value.get_ref().trim() == "none" {
            return Ok(Some(None));
        }
        self.duration(key, value, Duration::ZERO)
            .map(|d| Some(Some(d)))
    }

    pub(super) fn regex(&self, key: &str, value: &Spanned<String>) -> Result<Regex, ConfigError> {
        let regex = Regex::new(value.get_ref()).map_err(|err| {
            // The crate's message repeats the pattern with a caret; its last line is the reason.
            let text = err.to_string();
            let reason = text.lines().last().unwrap_or_default().trim_start_matches("error: ");
            self.err(value.span(), format!("invalid regex in `{key}`: {reason}")).with_help(
                "patterns use Rust regex syntax (https://docs.rs/regex/#syntax); escape ( ) [ ] . * + ? with a backslash",
            )
        })?;
        if regex.is_match("") {
            return Err(self
                .err(
                    value.span(),
                    format!("`{key}` matches an empty line, so every line would match"),
                )
                .with_help("make the pattern require at least one character"));
        }
        Ok(regex)
    }

    pub(super) fn count(
        &self,
        key: &str,
        value: &Spanned<i64>,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<u32, ConfigError> {
        let n = *value.get_ref();
        match u32::try_from(n) {
            Ok(ok) if range.contains(&n) => Ok(ok),
            _ => Err(self.err(
                value.span(),
                format!(
                    "`{key}` is {n}; it must be between {} and {}",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }

    pub(super) fn http_url(
        &self,
        key: &str,
        value: &Spanned<String>,
        example: &str,
    ) -> Result<url::Url, ConfigError> {
        let help = format!("write a full http(s) URL, e.g. {key} = \"{example}\"");
        match url::Url::parse(value.get_ref().trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
                Ok(url)
            }
            Ok(url) => Err(self
                .err(
                    value.span(),
                    format!(
                        "`{key}` must be an http or https URL, not {}:",
                        url.scheme()
                    ),
                )
                .with_help(help)),
            Err(err) => Err(self
                .err(value.span(), format!("invalid URL in `{key}`: {err}"))
                .with_help(help)),
        }
    }
}
