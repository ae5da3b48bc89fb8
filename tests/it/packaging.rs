//! Packaging (issue 14): `cargo install --path .` puts exactly one program, `vastfleet`, on
//! the user's PATH (the benchmark driver is behind the `bench` feature), the licences the
//! manifest names exist, and the manifest says where the project lives.
//!
//! Cost: the install builds the dev profile in this run's own target directory (found from the
//! binary under test; cargo holds no lock on it while tests run), so what is already built is
//! reused. The suite itself is built with `--features bench`, so the first run on a clean
//! checkout compiles the vastfleet crate once more without it (about a minute on 2 cores);
//! later runs find it fresh and take a few seconds.

use std::path::{Path, PathBuf};

use crate::support::bin;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/` of this run: the binary under test sits in `target/debug/`.
fn target_dir() -> PathBuf {
    let exe = Path::new(bin());
    exe.parent()
        .and_then(Path::parent)
        .expect("target/debug/vastfleet")
        .to_path_buf()
}

#[test]
fn cargo_install_installs_only_vastfleet() {
    let root = tempfile::tempdir().unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args([
            "install",
            "--debug",
            "--offline",
            "--locked",
            "--quiet",
            "--path",
        ])
        .arg(manifest_dir())
        .arg("--root")
        .arg(root.path())
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("run cargo install");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut installed: Vec<String> = std::fs::read_dir(root.path().join("bin"))
        .expect("TMP/bin")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    installed.sort();
    assert_eq!(installed, ["vastfleet"]);
    let version = std::process::Command::new(root.path().join("bin/vastfleet"))
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout);
    assert_eq!(
        version.trim(),
        concat!("vastfleet ", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn the_manifest_names_its_licences_home_and_readme() {
    let text = std::fs::read_to_string(manifest_dir().join("Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    let package = manifest["package"].as_table().unwrap();
    assert_eq!(package["license"].as_str(), Some("MIT OR Apache-2.0"));
    for licence in ["LICENSE-MIT", "LICENSE-APACHE"] {
        let text = std::fs::read_to_string(manifest_dir().join(licence)).unwrap();
        assert!(text.len() > 500, "{licence} holds the licence text");
    }
    for key in ["repository", "readme", "description"] {
        let value = package[key].as_str().unwrap_or_default();
        assert!(!value.is_empty(), "{key}");
    }
    assert!(manifest_dir()
        .join(package["readme"].as_str().unwrap())
        .is_file());
    for key in ["keywords", "categories"] {
        let list = package[key].as_array().unwrap();
        assert!(
            !list.is_empty() && list.len() <= 5,
            "{key}: crates.io takes 1 to 5"
        );
    }
}

/// Issue 16: at most three crates are compiled in two versions. cargo-deny's `multiple-versions`
/// ban would say the same, but it is not installed here and its advisory half needs the
/// network; `cargo tree` answers from the lock file alone, in well under a second.
#[test]
fn at_most_three_crates_are_compiled_twice() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args([
            "tree",
            "--locked",
            "--offline",
            "--duplicates",
            "--depth",
            "0",
        ])
        .args([
            "--edges",
            "normal,build",
            "--prefix",
            "none",
            "--manifest-path",
        ])
        .arg(manifest_dir().join("Cargo.toml"))
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    let mut twice: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    twice.dedup();
    assert!(twice.len() <= 3, "compiled more than once: {twice:?}");
}
