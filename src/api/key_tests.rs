//! Where the key is looked for, in which order, and that it never shows.

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

fn credentials(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join(CREDENTIAL_NAME);
    write(&path, text);
    path
}

#[test]
fn the_credential_comes_after_the_variable_and_before_the_files() {
    let home = tempfile::tempdir().unwrap();
    write(
        &home.path().join(".config/vastai/vast_api_key"),
        "from-file",
    );
    let creds = tempfile::tempdir().unwrap();
    let path = credentials(creds.path(), "from-credential\n");
    let dir = creds.path().to_str().unwrap();
    let key = resolve_with(
        env_of(&[("CREDENTIALS_DIRECTORY", dir)]),
        Some(home.path().into()),
    )
    .unwrap();
    assert_eq!(key.expose(), "from-credential");
    assert_eq!(key.source, KeySource::Credential(path.clone()));
    assert_eq!(
        key.source.to_string(),
        format!("systemd credential vast-api-key ({})", path.display())
    );
    let key = resolve_with(
        env_of(&[("CREDENTIALS_DIRECTORY", dir), ("VAST_API_KEY", "from-env")]),
        Some(home.path().into()),
    )
    .unwrap();
    assert_eq!(key.expose(), "from-env");
}

#[test]
fn a_folder_without_the_credential_falls_through_and_is_listed() {
    let creds = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let env = env_of(&[("CREDENTIALS_DIRECTORY", creds.path().to_str().unwrap())]);
    let err = resolve_with(&env, Some(home.path().into())).unwrap_err();
    let listed = format!(
        "{} (systemd credential)",
        creds.path().join("vast-api-key").display()
    );
    assert!(
        matches!(&err, KeyError::Missing { tried } if tried[1] == listed),
        "{err:?}"
    );
    let legacy = home.path().join(".vast_api_key");
    write(&legacy, "legacy");
    let key = resolve_with(&env, Some(home.path().into())).unwrap();
    assert_eq!(key.source, KeySource::File(legacy));
}

#[test]
fn a_relative_credentials_folder_is_not_systemds_and_is_ignored() {
    let err = resolve_with(env_of(&[("CREDENTIALS_DIRECTORY", "creds")]), None).unwrap_err();
    assert_eq!(
        err,
        KeyError::Missing {
            tried: vec!["environment variable VAST_API_KEY".into()]
        }
    );
}

#[test]
fn an_empty_or_unreadable_credential_is_an_error_naming_it_and_the_fix() {
    let home = tempfile::tempdir().unwrap();
    write(&home.path().join(".vast_api_key"), "legacy");
    let creds = tempfile::tempdir().unwrap();
    let env = env_of(&[("CREDENTIALS_DIRECTORY", creds.path().to_str().unwrap())]);
    let path = credentials(creds.path(), " \n");
    let err = resolve_with(&env, Some(home.path().into())).unwrap_err();
    assert_eq!(
        err,
        KeyError::Credential {
            path: path.clone(),
            reason: "is empty".into()
        }
    );
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(
        text.contains("LoadCredential=vast-api-key:/etc/vastfleet/key"),
        "{text}"
    );
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let err = resolve_with(&env, Some(home.path().into())).unwrap_err();
    assert!(
        matches!(&err, KeyError::Credential { reason, .. } if reason.starts_with("cannot be read")),
        "{err:?}"
    );
}

#[test]
fn key_files_are_read_only_up_to_a_bound() {
    let home = tempfile::tempdir().unwrap();
    let legacy = home.path().join(".vast_api_key");
    write(&legacy, &"k".repeat(5000));
    let err = resolve_with(env_of(&[]), Some(home.path().into())).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, KeyError::Unreadable { .. }), "{err:?}");
    assert!(text.contains("longer than 4096 bytes"), "{text}");
    assert!(
        !text.contains("kkkk"),
        "the file's text is never quoted: {text}"
    );
    write(&legacy, &format!("{}\n", "k".repeat(64)));
    let key = resolve_with(env_of(&[]), Some(home.path().into())).unwrap();
    assert_eq!(key.expose().len(), 64);
}
