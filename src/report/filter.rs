//! Which log lines the user wants to see (`--include` / `--exclude`). Display only: the writer
//! applies it to `Log` events, after completion detection has seen every line upstream.

use regex::Regex;

/// A regex given on the command line that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("--{flag} {pattern:?} is not a valid regex: {source}")]
pub struct PatternError {
    pub flag: &'static str,
    pub pattern: String,
    #[source]
    pub source: regex::Error,
}

/// Compiles the patterns of one repeatable flag (`flag` names it in the error).
pub fn compile_patterns(
    flag: &'static str,
    patterns: &[String],
) -> Result<Vec<Regex>, PatternError> {
    patterns
        .iter()
        .map(|pattern| {
            Regex::new(pattern).map_err(|source| PatternError {
                flag,
                pattern: pattern.clone(),
                source,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct LineFilter {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl LineFilter {
    pub fn new(include: Vec<Regex>, exclude: Vec<Regex>) -> Self {
        LineFilter { include, exclude }
    }

    /// From the raw `--include` / `--exclude` values.
    pub fn from_args(include: &[String], exclude: &[String]) -> Result<Self, PatternError> {
        Ok(LineFilter::new(
            compile_patterns("include", include)?,
            compile_patterns("exclude", exclude)?,
        ))
    }

    /// Shown when any include pattern matches (or there are none) and no exclude pattern does.
    pub fn admits(&self, line: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|re| re.is_match(line)))
            && !self.exclude.iter().any(|re| re.is_match(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &[&str], exclude: &[&str]) -> LineFilter {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        LineFilter::from_args(&owned(include), &owned(exclude)).unwrap()
    }

    #[test]
    fn empty_filter_admits_everything() {
        assert!(filter(&[], &[]).admits("anything"));
        assert!(filter(&[], &[]).admits(""));
    }

    #[test]
    fn include_and_exclude_table() {
        let f = filter(&["loss", "^epoch"], &["debug", "nan$"]);
        let cases = [
            ("epoch 1 started", true),
            ("step 3 loss=0.4", true),
            ("step 3 loss=nan", false),
            ("debug: loss=0.4", false),
            ("downloading weights", false),
            ("the epoch ends", false),
        ];
        for (line, want) in cases {
            assert_eq!(f.admits(line), want, "{line:?}");
        }
    }

    #[test]
    fn exclude_only() {
        let f = filter(&[], &["^\\s*$"]);
        assert!(f.admits("text"));
        assert!(!f.admits("   "));
    }

    #[test]
    fn bad_pattern_names_the_flag_and_pattern() {
        let err = LineFilter::from_args(&[], &["(unclosed".to_string()]).unwrap_err();
        assert_eq!(err.flag, "exclude");
        assert_eq!(err.pattern, "(unclosed");
        assert!(err
            .to_string()
            .starts_with("--exclude \"(unclosed\" is not a valid regex"));
    }
}
