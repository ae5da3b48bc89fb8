//! Where the API key comes from (the official CLI's places and order, plus a systemd
//! credential), and a type that never shows it.
//!
//! The key is read from the environment or a file, never from a command-line flag: flags end up
//! in shell history and in `ps` output for every user of the machine.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The environment variable the official CLI and SDK read first.
pub const KEY_ENV: &str = "VAST_API_KEY";

/// The folder systemd puts a unit's `LoadCredential=` files in (systemd.exec(5)).
pub const CREDENTIALS_ENV: &str = "CREDENTIALS_DIRECTORY";

/// The credential's name: `LoadCredential=vast-api-key:/etc/vastfleet/key` in the unit
/// (examples/systemd/vastfleet.service) makes the key `$CREDENTIALS_DIRECTORY/vast-api-key`.
pub const CREDENTIAL_NAME: &str = "vast-api-key";

/// More than any key file can sensibly hold (a Vast.ai key is 64 characters): a key path that
/// points at a log or a device must not be read into memory whole, or for ever.
const KEY_FILE_LIMIT: u64 = 4096;

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
    /// The systemd credential [`CREDENTIAL_NAME`], at this path in `$CREDENTIALS_DIRECTORY`.
    Credential(PathBuf),
    /// Handed over by the program itself (the demo's simulator key, tests).
    Given(String),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Env(name) => write!(f, "environment variable {name}"),
            KeySource::File(path) => write!(f, "{}", path.display()),
            KeySource::Credential(path) => {
                write!(
                    f,
                    "systemd credential {CREDENTIAL_NAME} ({})",
                    path.display()
                )
            }
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
    #[error(
        "the API key file {} {reason}\n  help: make it hold just the key, readable by this user \
         (or remove it; `export {KEY_ENV}=<your key>` goes before it)",
        path.display()
    )]
    Unreadable { path: PathBuf, reason: String },
    /// `$CREDENTIALS_DIRECTORY/vast-api-key` exists but holds no usable key. Never a
    /// fall-through: the unit asked for this key, and another one would surprise its owner.
    #[error(
        "the systemd credential {CREDENTIAL_NAME} ({}) {reason}\n  help: the unit's \
         `LoadCredential={CREDENTIAL_NAME}:/etc/vastfleet/key` must name a file holding just the \
         key on one line (`sudo install -m 600 /dev/stdin /etc/vastfleet/key`, paste the key, \
         Ctrl+D), then `sudo systemctl restart vastfleet`",
        path.display()
    )]
    Credential { path: PathBuf, reason: String },
}

/// Finds the key: `VAST_API_KEY`, then the systemd credential
/// `$CREDENTIALS_DIRECTORY/vast-api-key`, then the official CLI's files
/// `$XDG_CONFIG_HOME/vastai/vast_api_key` and the legacy `~/.vast_api_key`.
///
/// The variable comes first as in the official CLI (one command can override everything); the
/// credential before the files because a unit that names one means it, and the service user's
/// home may hold an old key.
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
    if let Some(path) = credential_path(&env) {
        match read_key_file(&path) {
            Ok(Some(secret)) => return Ok(ApiKey::new(secret, KeySource::Credential(path))),
            Ok(None) => {
                return Err(KeyError::Credential {
                    path,
                    reason: "is empty".into(),
                })
            }
            Err(ReadError::Absent) => {
                tried.push(format!("{} (systemd credential)", path.display()))
            }
            Err(ReadError::Failed(reason)) => return Err(KeyError::Credential { path, reason }),
        }
    }
    for path in key_files(&env, home.as_deref()) {
        match read_key_file(&path) {
            Ok(Some(secret)) => return Ok(ApiKey::new(secret, KeySource::File(path))),
            Ok(None) | Err(ReadError::Absent) => tried.push(path.display().to_string()),
            Err(ReadError::Failed(reason)) => return Err(KeyError::Unreadable { path, reason }),
        }
    }
    Err(KeyError::Missing { tried })
}

/// `$CREDENTIALS_DIRECTORY/vast-api-key`, when systemd set the folder (always absolute; a
/// relative one did not come from systemd and is ignored).
fn credential_path(env: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env(CREDENTIALS_ENV)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map(|dir| dir.join(CREDENTIAL_NAME))
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

/// Why a key file gave no key.
enum ReadError {
    Absent,
    /// It exists but cannot be read as a key; the text says why.
    Failed(String),
}

/// The file's key, trimmed; `Ok(None)` when it holds only whitespace. A file that exists but
/// cannot be read is an error, because silently falling through to another key would be
/// surprising. At most [`KEY_FILE_LIMIT`] bytes are read.
fn read_key_file(path: &Path) -> Result<Option<String>, ReadError> {
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::Absent,
        _ => ReadError::Failed(format!("cannot be read: {e}")),
    })?;
    let mut bytes = Vec::new();
    file.take(KEY_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::Failed(format!("cannot be read: {e}")))?;
    if bytes.len() as u64 > KEY_FILE_LIMIT {
        return Err(ReadError::Failed(format!(
            "is longer than {KEY_FILE_LIMIT} bytes, and a Vast.ai key is one line of 64 \
             characters: is it the right file?"
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| ReadError::Failed("is not text, and a Vast.ai key is".into()))?;
    Ok(Some(text.trim().to_owned()).filter(|k| !k.is_empty()))
}

#[cfg(test)]
#[path = "key_tests.rs"]
mod tests;
