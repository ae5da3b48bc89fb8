//! [`ConfigError`]: one problem with the fleet file (or a fleet given on the command line),
//! located as `FILE:LINE:COL` like a compiler error, with a `help:` line saying how to fix it.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::Fatal;

/// A 1-based position in the file, columns counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub col: usize,
}

impl Location {
    /// Where byte `offset` of `text` sits. Offsets past the end (or inside a character) clamp
    /// to the nearest earlier character boundary, so a bad span can never panic.
    pub fn of_offset(text: &str, offset: usize) -> Location {
        let mut end = offset.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &text[..end];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            line: before.matches('\n').count() + 1,
            col: before[line_start..].chars().count() + 1,
        }
    }
}

/// One thing wrong with the fleet, ready to show the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The fleet file as the user named it; `None` for fleets built from flags.
    pub path: Option<PathBuf>,
    pub location: Option<Location>,
    pub message: String,
    pub help: Option<String>,
}

impl ConfigError {
    /// An error about the file as a whole (it cannot be read, an id given on the command line).
    pub fn new(path: Option<&Path>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.map(Path::to_path_buf),
            location: None,
            message: message.into(),
            help: None,
        }
    }

    /// An error about the bytes `span` of `text`, the contents of `path`.
    pub fn at(path: &Path, text: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        ConfigError {
            path: Some(path.to_path_buf()),
            location: Some(Location::of_offset(text, span.start)),
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Turns the toml crate's parse or deserialize error into ours: same place, a plainer
    /// message, and for unknown keys or values the list of valid ones.
    pub fn from_toml(path: &Path, text: &str, err: &toml::de::Error) -> Self {
        // Syntax errors come as "what\nexpected …"; keep them on one line.
        let message = err.message().trim().replace('\n', ", ");
        let mut error = match err.span() {
            Some(span) => ConfigError::at(path, text, span, message.as_str()),
            None => ConfigError::new(Some(path), message.as_str()),
        };
        let serde_kinds = [
            "invalid type",
            "invalid value",
            "invalid length",
            "duplicate field",
        ];
        let typed = err
            .span()
            .and_then(|span| super::type_error::explain(text, span.start, &message));
        if let Some((message, help)) = typed {
            error.message = message;
            error.help = Some(help);
        } else if let Some(rest) = message.strip_prefix("unknown field ") {
            let (name, valid) = split_expected(rest);
            error.message = format!("unknown key {name}");
            error.help = Some(match valid {
                Some(valid) => suggest(name, &valid, "valid keys here"),
                None => "this table takes no keys".to_string(),
            });
        } else if let Some(rest) = message.strip_prefix("unknown variant ") {
            let (name, valid) = split_expected(rest);
            error.message = format!("unknown value {name}");
            error.help = valid.map(|valid| suggest(name, &valid, "valid values"));
        } else if message == "missing field `id`" {
            error.message = "[[instance]] without `id`".into();
            error.help = Some("every [[instance]] needs `id = NUMBER`".into());
        } else if message.starts_with("missing field ") {
            error.message = message.replacen("missing field", "missing key", 1);
        } else if message.starts_with("missing escaped value") {
            error.help = Some(
                "in \"…\" strings a backslash starts an escape: write regexes in single quotes, \
                 e.g. result = 'https?://\\S+'"
                    .into(),
            );
        } else if !serde_kinds.iter().any(|kind| message.starts_with(kind)) {
            error.help = Some("this is not valid TOML; see https://toml.io for the syntax".into());
        }
        error
    }
}

/// "did you mean `interval`? valid keys here: …" when one valid name is close to the `name`
/// the user wrote (a typo, a plural, a dash for an underscore), else just the list.
pub(crate) fn suggest(name: &str, valid: &str, list: &str) -> String {
    let name = name.trim_matches('`');
    let closest = valid
        .split(", ")
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score >= SUGGEST_SCORE)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match closest {
        Some((_, candidate)) => format!("did you mean `{candidate}`? {list}: {valid}"),
        None => format!("{list}: {valid}"),
    }
}

/// Jaro-Winkler similarity from which a valid name counts as what the user meant: catches
/// `intervall`, `on_completion`, `burts`, and leaves `halt` or `done` alone.
const SUGGEST_SCORE: f64 = 0.85;

/// Splits serde's "`name`, expected one of `a`, `b`" (or "expected `a` or `b`", or "there are
/// no fields") into the name and the valid names joined by commas.
fn split_expected(rest: &str) -> (&str, Option<String>) {
    let (name, expected) = rest.split_once(", ").unwrap_or((rest, ""));
    let valid: Vec<&str> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| !s.is_empty())
        .collect();
    let valid = (!valid.is_empty()).then(|| valid.join(", "));
    (name, valid)
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}:", path.display())?;
            if let Some(Location { line, col }) = self.location {
                write!(f, "{line}:{col}:")?;
            }
            f.write_str(" ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for Fatal {
    /// Bad fleet input is always caught before anything is watched: exit 2.
    fn from(err: ConfigError) -> Fatal {
        Fatal::input(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_line_and_char_column() {
        let text = "a = 1\nbé = 2\n";
        let cases = [
            (0, (1, 1)),
            (4, (1, 5)),
            (6, (2, 1)),
            (9, (2, 3)),
            (8, (2, 2)),
            (99, (3, 1)),
        ];
        for (offset, (line, col)) in cases {
            assert_eq!(
                Location::of_offset(text, offset),
                Location { line, col },
                "offset {offset}"
            );
        }
    }

    #[test]
    fn display_has_file_line_col_and_help() {
        let err =
            ConfigError::at(Path::new("fleet.toml"), "x\ny = 1", 4..5, "bad").with_help("fix it");
        assert_eq!(err.to_string(), "fleet.toml:2:3: bad\n  help: fix it");
        assert_eq!(ConfigError::new(None, "no file").to_string(), "no file");
        assert_eq!(
            ConfigError::new(Some(Path::new("f.toml")), "gone").to_string(),
            "f.toml: gone"
        );
    }

    #[test]
    fn converts_to_an_exit_2_fatal() {
        let fatal = Fatal::from(ConfigError::new(None, "bad"));
        assert_eq!((fatal.code, fatal.message.as_str()), (2, "bad"));
    }

    #[test]
    fn expected_lists_are_reformatted() {
        assert_eq!(
            split_expected("`foo`, expected one of `a`, `b`, `c`"),
            ("`foo`", Some("a, b, c".to_string()))
        );
        assert_eq!(
            split_expected("`foo`, expected `a` or `b`"),
            ("`foo`", Some("a, b".into()))
        );
        assert_eq!(
            split_expected("`foo`, there are no fields"),
            ("`foo`", None)
        );
    }
}
