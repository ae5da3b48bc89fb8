//! Which instances a one-shot command means: `ID`, `LABEL` or `GLOB` (`'train-*'`), looked
//! up in the fleet file. Numbers are ids whether or not the file lists them; a label or glob
//! that matches nothing is bad input (exit 2), never "nothing to do".

use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};

use crate::cli::FleetFileArgs;
use crate::config::{ConfigError, Settings};
use crate::Fatal;

/// One instance a command acts on, with its label from the fleet file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: u64,
    pub label: Option<String>,
}

impl Target {
    /// "train (1002)", or "1002" without a label.
    pub fn name(&self) -> String {
        match &self.label {
            Some(label) => format!("{label} ({})", self.id),
            None => self.id.to_string(),
        }
    }
}

/// Whether a word of the command line is a glob rather than an id or a label.
pub fn is_glob(word: &str) -> bool {
    word.contains(['*', '?', '[', '{'])
}

/// One word of the command line.
#[derive(Debug, Clone)]
enum Selector {
    Id(u64),
    Label(String),
    Glob(GlobMatcher),
}

impl Selector {
    fn parse(text: &str) -> Result<Selector, Fatal> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Fatal::input(
                "an empty instance name: give an id (like 1002), a label or a glob (like 'train-*')",
            ));
        }
        if let Ok(id) = text.parse::<u64>() {
            return if id == 0 {
                Err(Fatal::input("0 is not an instance id"))
            } else {
                Ok(Selector::Id(id))
            };
        }
        if is_glob(text) {
            let glob = Glob::new(text).map_err(|err| {
                Fatal::input(format!(
                    "{text:?}: not a valid glob ({err}); quote it, e.g. 'train-*'"
                ))
            })?;
            return Ok(Selector::Glob(glob.compile_matcher()));
        }
        Ok(Selector::Label(text.to_owned()))
    }
}

/// A one-shot command's fleet file, read once: the selection, the `[api] url` and the policy
/// the command follows all come from this one reading.
#[derive(Debug)]
pub struct Fleet {
    path: PathBuf,
    /// `None` when there is no file at `path`.
    read: Option<Result<Settings, ConfigError>>,
}

impl Fleet {
    pub fn read(file: &FleetFileArgs) -> Fleet {
        let path = file.path();
        let read = path.exists().then(|| Settings::load(&path));
        Fleet { path, read }
    }

    /// The file's settings; a missing or broken file has none.
    pub fn settings(&self) -> Option<&Settings> {
        self.read.as_ref()?.as_ref().ok()
    }

    /// The file's `[api] url`.
    pub fn url(&self) -> Option<&str> {
        self.settings()?.api.url.as_deref()
    }

    /// The fleet as the selection needs it: required when a label or glob is given; with ids
    /// only it merely names them, so a missing or broken file is no reason to refuse.
    fn for_selection(&self, first_name: Option<&str>) -> Result<Option<&Settings>, Fatal> {
        let Some(word) = first_name else {
            return Ok(self.settings());
        };
        match &self.read {
            // Most likely a mistyped id; say what an id is, and where a label would be.
            None => Err(Fatal::input(format!(
                "{word:?}: not an instance id: ids are whole numbers, like 1002; labels and \
                 globs are looked up in the fleet file, and there is none at {}",
                self.path.display()
            ))),
            Some(Err(err)) => Err(Fatal::input(format!(
                "labels and globs are looked up in the fleet file: {err}"
            ))),
            Some(Ok(settings)) => Ok(Some(settings)),
        }
    }
}

/// Every instance `words` name, in the order given, each once.
pub fn select(fleet: &Fleet, words: &[String]) -> Result<Vec<Target>, Fatal> {
    let selectors = words
        .iter()
        .map(|w| Selector::parse(w))
        .collect::<Result<Vec<_>, _>>()?;
    let first_name = selectors
        .iter()
        .zip(words)
        .find(|(s, _)| !matches!(s, Selector::Id(_)))
        .map(|(_, word)| word.trim());
    let settings = fleet.for_selection(first_name)?;
    let mut targets: Vec<Target> = Vec::new();
    for (selector, word) in selectors.iter().zip(words) {
        for target in resolve(selector, word.trim(), settings, &fleet.path)? {
            if !targets.iter().any(|t| t.id == target.id) {
                targets.push(target);
            }
        }
    }
    Ok(targets)
}

/// The one instance `word` names; a label used twice or a glob matching several is refused.
pub fn select_one(fleet: &Fleet, word: &str) -> Result<Target, Fatal> {
    let mut targets = select(fleet, &[word.to_owned()])?;
    if targets.len() > 1 {
        let names: Vec<String> = targets.iter().map(Target::name).collect();
        return Err(Fatal::input(format!(
            "{word:?} names {} instances ({}): give one id",
            targets.len(),
            names.join(", ")
        )));
    }
    Ok(targets.remove(0))
}

fn resolve(
    selector: &Selector,
    word: &str,
    settings: Option<&Settings>,
    path: &Path,
) -> Result<Vec<Target>, Fatal> {
    let listed = settings.map_or(&[][..], |s| &s.instances[..]);
    let target = |i: &crate::config::InstanceSettings| Target {
        id: i.id,
        label: i.label.clone(),
    };
    let found: Vec<Target> = match selector {
        Selector::Id(id) => {
            let label = listed
                .iter()
                .find(|i| i.id == *id)
                .and_then(|i| i.label.clone());
            return Ok(vec![Target { id: *id, label }]);
        }
        Selector::Label(label) => listed
            .iter()
            .filter(|i| i.label.as_deref() == Some(label))
            .map(target)
            .collect(),
        Selector::Glob(glob) => listed
            .iter()
            .filter(|i| glob.is_match(i.display_label()))
            .map(target)
            .collect(),
    };
    if found.is_empty() {
        return Err(no_match(word, listed, path));
    }
    Ok(found)
}

fn no_match(word: &str, listed: &[crate::config::InstanceSettings], path: &Path) -> Fatal {
    let mut labels: Vec<&str> = listed.iter().filter_map(|i| i.label.as_deref()).collect();
    labels.dedup();
    let known = if labels.is_empty() {
        "it has no labels; give the id".to_owned()
    } else {
        let shown: Vec<&str> = labels.iter().take(12).copied().collect();
        let more = labels.len().saturating_sub(shown.len());
        let tail = if more > 0 {
            format!(", … {more} more")
        } else {
            String::new()
        };
        format!("its labels: {}{tail}", shown.join(", "))
    };
    Fatal::input(format!(
        "{word:?} matches no instance of {} ({known})",
        PathBuf::from(path).display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, text: &str) -> Fleet {
        let path = dir.join("fleet.toml");
        std::fs::write(&path, text).unwrap();
        Fleet::read(&FleetFileArgs {
            positional: None,
            file: Some(path),
        })
    }

    const FLEET: &str = "[[instance]]\nid = 11\nlabel = \"train-a\"\n\
                         [[instance]]\nid = 12\nlabel = \"train-b\"\n\
                         [[instance]]\nid = 13\nlabel = \"eval\"\n[[instance]]\nid = 14\n";

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn ids_labels_and_globs_resolve_in_order_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let fleet = file(dir.path(), FLEET);
        let got = select(&fleet, &words(&["eval", "train-*", "12", "99"])).unwrap();
        let ids: Vec<u64> = got.iter().map(|t| t.id).collect();
        assert_eq!(ids, [13, 11, 12, 99]);
        assert_eq!(got[0].name(), "eval (13)");
        assert_eq!(
            got[3].name(),
            "99",
            "an id the file does not list is still an id"
        );
        let unlabelled = select(&fleet, &words(&["1?"])).unwrap();
        assert_eq!(unlabelled.len(), 1, "a glob also sees an unlabelled id");
        assert_eq!(unlabelled[0].id, 14);
    }

    #[test]
    fn what_matches_nothing_is_bad_input_naming_the_file_and_its_labels() {
        let dir = tempfile::tempdir().unwrap();
        let fleet = file(dir.path(), FLEET);
        let err = select(&fleet, &words(&["trian-*"])).unwrap_err();
        assert_eq!(err.code, 2);
        assert!(err.message.contains("fleet.toml"), "{}", err.message);
        assert!(
            err.message.contains("train-a, train-b, eval"),
            "{}",
            err.message
        );
        for bad in ["", "0", "[oops"] {
            assert_eq!(
                select(&fleet, &words(&[bad])).unwrap_err().code,
                2,
                "{bad:?}"
            );
        }
        let err = select_one(&fleet, "train-*").unwrap_err();
        assert!(err.message.contains("names 2 instances"), "{}", err.message);
    }

    #[test]
    fn ids_need_no_file_but_labels_do() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Fleet::read(&FleetFileArgs {
            positional: None,
            file: Some(dir.path().join("none.toml")),
        });
        assert_eq!(select(&missing, &words(&["7"])).unwrap()[0].id, 7);
        let err = select(&missing, &words(&["train"])).unwrap_err();
        assert_eq!(err.code, 2);
        assert!(err.message.contains("none.toml"), "{}", err.message);
        assert!(
            err.message.contains("not an instance id"),
            "{}",
            err.message
        );
        let broken = file(dir.path(), "[[instance]]\nid = \"x\"\n");
        assert_eq!(select(&broken, &words(&["7"])).unwrap()[0].id, 7);
    }
}
