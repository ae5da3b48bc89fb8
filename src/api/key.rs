//! Where the API key comes from (the official CLI's places and order), and a type that never
//! shows it.
//!
//! The key is read from the environment or a file, never from a command-line flag: flags end up
//! in shell history and in `ps` output for every user of the machine.

use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variable the official CLI and SDK read first.
pub const KEY_ENV: &str = "VAST_API_KEY";

/// A Vast.ai API key. Its `Debug` and `Display` show only where it came from; [`ApiKey::expose`]
/// is the one way to read the secret, used to build the `Authorization` header.
#[derive(Clone)]
pub struct ApiKey {
    secret: String,
    pub source: KeySource,
}

/// Where a key was read from, for messages such as "the API refused the key read from …".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An environment variable, by name.
    Env(String),
    /// A key file.
    File(PathBuf),
    /// Handed over by the program itself (the demo's simulator key, tests).
    Given(String),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Env(name) => write!(f, "environment variable {name}"),
            KeySource::File(path) => write!(f, "{}", path.display()),
            KeySource::Given(what) => f.write_str(what),
        }
    }
}

impl ApiKey {
    /// A key from `source`; surrounding whitespace (a file's trailing newline) is dropped.
    pub fn new(secret: impl Into<String>, source: KeySource) -> Self {
        let secret = secret.into();
        ApiKey {
            secret: secret.trim().to_owned(),
            source,
        }
    }

    /// The secret itself. Only the HTTP client calls this, to build the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey(<redacted>, from {})", self.source)
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// No key could be found, or a key file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "no Vast.ai API key found (looked in: {}). Set one with `export {KEY_ENV}=<your key>` \
         or `vastai set api-key <your key>`",
        tried.join(", ")
    )]
    Missing { tried: Vec<String> },
    #[error("could not read the API key file {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
}

/// Finds the key the way the official CLI does: `VAST_API_KEY`, then
/// `$XDG_CONFIG_HOME/vastai/vast_api_key`, then the legacy `~/.vast_api_key`.
pub fn resolve() -> Result<ApiKey, KeyError> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    resolve_with(|name| std::env::var(name).ok(), home)
}

/// [`resolve`] with the environment and home folder passed in, so it can be tested.
pub fn resolve_with(
    env: impl Fn(&str) -> Option<String>,
    home: Option<PathBuf>,
) -> Result<ApiKey, KeyError> {
    let mut tried = vec![format!("environment variable {KEY_ENV}")];
    if let Some(value) = env(KEY_ENV).filter(|v| !v.trim().is_empty()) {
        return Ok(ApiKey::new(value, KeySource::Env(KEY_ENV.to_owned())));
    }
    for path in key_files(&env, home.as_deref()) {
        if let Some(secret) = read_key_file(&path)? {
            return Ok(ApiKey::new(secret, KeySource::File(path)));
        }
        tried.push(path.display().to_string());
    }
    Err(KeyError::Missing { tried })
}

/// The key files in the order they are tried. `XDG_CONFIG_HOME` counts only when absolute,
/// as the XDG spec says; otherwise `~/.config` is used.
fn key_files(env: &impl Fn(&str) -> Option<String>, home: Option<&Path>) -> Vec<PathBuf> {
    let config_home = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(".config")));
    let mut files = Vec::with_capacity(2);
    if let Some(config) = config_home {
        files.push(config.join("vastai").join("vast_api_key"));
    }
    if let Some(home) = home {
        files.push(home.join(".vast_api_key"));
    }
    files
}

/// `Ok(None)` when the file is absent or holds only whitespace; an error when it exists but
/// cannot be read, because silently falling through to another key would be surprising.
fn read_key_file(path: &Path) -> Result<Option<String>, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().to_owned()).filter(|k| !k.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KeyError::Unreadable {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn the_environment_wins_over_files() {
        let home = tempfile::tempdir().unwrap();
        write(
            &home.path().join(".config/vastai/vast_api_key"),
            "from-file",
        );
        let key = resolve_with(
            env_of(&[("VAST_API_KEY", " from-env\n")]),
            Some(home.path().into()),
        )
        .unwrap();
        assert_eq!(key.expose(), "from-env");
        assert_eq!(key.source, KeySource::Env("VAST_API_KEY".into()));
    }

    #[test]
    fn an_empty_variable_falls_through_to_the_xdg_file() {
        let home = tempfile::tempdir().unwrap();
        let xdg = tempfile::tempdir().unwrap();
        let file = xdg.path().join("vastai/vast_api_key");
        write(&file, "  xdg-key \n");
        write(&home.path().join(".vast_api_key"), "legacy");
        let env = env_of(&[
            ("VAST_API_KEY", "  "),
            ("XDG_CONFIG_HOME", xdg.path().to_str().unwrap()),
        ]);
        let key = resolve_with(env, Some(home.path().into())).unwrap();
        assert_eq!(key.expose(), "xdg-key");
        assert_eq!(key.source, KeySource::File(file));
    }

    #[test]
    fn xdg_defaults_to_dot_config_and_a_relative_xdg_is_ignored() {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join(".config/vastai/vast_api_key");
        write(&file, "dot-config");
        let key = resolve_with(
            env_of(&[("XDG_CONFIG_HOME", "relative/dir")]),
            Some(home.path().into()),
        )
        .unwrap();
        assert_eq!(key.expose(), "dot-config");
        assert_eq!(key.source, KeySource::File(file));
    }

    #[test]
    fn an_empty_xdg_file_falls_through_to_the_legacy_file() {
        let home = tempfile::tempdir().unwrap();
        write(&home.path().join(".config/vastai/vast_api_key"), "\n\n");
        let legacy = home.path().join(".vast_api_key");
        write(&legacy, "legacy-key\n");
        let key = resolve_with(env_of(&[]), Some(home.path().into())).unwrap();
        assert_eq!(key.expose(), "legacy-key");
        assert_eq!(key.source, KeySource::File(legacy));
    }

    #[test]
    fn nothing_found_lists_every_place_and_the_fix() {
        let home = tempfile::tempdir().unwrap();
        let err = resolve_with(env_of(&[]), Some(home.path().into())).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("environment variable VAST_API_KEY"), "{text}");
        let xdg = home.path().join(".config/vastai/vast_api_key");
        assert!(text.contains(&xdg.display().to_string()), "{text}");
        let legacy = home.path().join(".vast_api_key");
        assert!(text.contains(&legacy.display().to_string()), "{text}");
        assert!(text.contains("export VAST_API_KEY="), "{text}");
        assert!(text.contains("vastai set api-key"), "{text}");
    }

    #[test]
    fn without_a_home_only_the_environment_is_tried() {
        let err = resolve_with(env_of(&[]), None).unwrap_err();
        assert_eq!(
            err,
            KeyError::Missing {
                tried: vec!["environment variable VAST_API_KEY".into()]
            }
        );
    }

    #[test]
    fn an_unreadable_key_file_is_an_error_not_a_fall_through() {
        let home = tempfile::tempdir().unwrap();
        // A folder where the file should be cannot be read as text.
        std::fs::create_dir_all(home.path().join(".config/vastai/vast_api_key")).unwrap();
        let err = resolve_with(env_of(&[]), Some(home.path().into())).unwrap_err();
        assert!(matches!(err, KeyError::Unreadable { .. }), "{err:?}");
    }

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let key = ApiKey::new("sk-SECRET-123", KeySource::Env("VAST_API_KEY".into()));
        for shown in [format!("{key:?}"), format!("{key}"), format!("{key:#?}")] {
            assert!(!shown.contains("SECRET"), "{shown}");
            assert!(!shown.contains("123"), "{shown}");
            assert_eq!(
                shown,
                "ApiKey(<redacted>, from environment variable VAST_API_KEY)"
            );
        }
    }
}
