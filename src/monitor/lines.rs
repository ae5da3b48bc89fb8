//! A short run of log lines kept in one buffer. Every monitor remembers the end of its log
//! (to align the next tail, and in the state file); as separate `String`s a thousand monitors
//! would hold a hundred thousand small allocations, scattered among the freed remains of the
//! tails they were cut from. Two allocations per run keep a large fleet's memory flat.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Lines {
    text: Box<str>,
    /// Where each line ends in `text`.
    ends: Box<[usize]>,
}

impl Lines {
    pub fn new<'a>(lines: impl IntoIterator<Item = &'a str>) -> Self {
        let mut text = String::new();
        let mut ends = Vec::new();
        for line in lines {
            text.push_str(line);
            ends.push(text.len());
        }
        Lines {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator + '_ {
        (0..self.len()).map(|i| {
            let start = if i == 0 { 0 } else { self.ends[i - 1] };
            &self.text[start..self.ends[i]]
        })
    }

    /// The last `n` lines (all of them if there are fewer).
    pub fn last(&self, n: usize) -> Lines {
        Lines::new(self.iter().skip(self.len().saturating_sub(n)))
    }

    /// The lines as a slice-friendly list of borrowed strings.
    pub fn as_strs(&self) -> Vec<&str> {
        self.iter().collect()
    }
}

impl std::fmt::Debug for Lines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A JSON array of strings, as a `Vec<String>` would be: the state file format is unchanged.
impl Serialize for Lines {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Lines {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let lines = Vec::<String>::deserialize(deserializer)?;
        Ok(Lines::new(lines.iter().map(String::as_str)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_lines_apart_including_empty_ones() {
        let lines = Lines::new(["a", "", "ccc"]);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines.as_strs(), ["a", "", "ccc"]);
        assert_eq!(lines.last(2).as_strs(), ["", "ccc"]);
        assert_eq!(lines.last(9), lines);
        assert!(Lines::default().is_empty());
    }

    #[test]
    fn serializes_as_a_plain_array_of_strings() {
        let lines = Lines::new(["x \"quoted\"", "é"]);
        let json = serde_json::to_string(&lines).unwrap();
        assert_eq!(json, r#"["x \"quoted\"","é"]"#);
        assert_eq!(serde_json::from_str::<Lines>(&json).unwrap(), lines);
    }
}
