//! `vastfleet add | remove | check` as a user runs them: the real binary in a temp folder,
//! with HOME and XDG_CONFIG_HOME pointing inside it so no real key is ever looked at.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use vastfleet::config::edit::TEMPLATE;

fn vastfleet(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vastfleet"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("VAST_API_KEY")
        .env_remove("VAST_URL")
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"));
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn add_creates_the_file_from_the_template_then_extends_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = vastfleet(
        dir.path(),
        &[
            "add",
            "28421359",
            "--label",
            "sdxl-train",
            "--on-complete",
            "destroy",
        ],
        &[],
    );
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(
        stdout(&first),
        "created fleet.toml from the commented template\nadded 28421359 (sdxl-train) to fleet.toml\n"
    );
    let second = vastfleet(dir.path(), &["add", "5", "6"], &[]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert_eq!(
        stdout(&second),
        "added 5 to fleet.toml\nadded 6 to fleet.toml\n"
    );
    let text = fs::read_to_string(dir.path().join("fleet.toml")).unwrap();
    let tables =
        "\n[[instance]]\nid = 28421359\nlabel = \"sdxl-train\"\non_complete = \"destroy\"\n\
                  \n[[instance]]\nid = 5\n\n[[instance]]\nid = 6\n";
    assert_eq!(text, format!("{TEMPLATE}{tables}"));
}

#[test]
fn refused_adds_exit_2_and_leave_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet.toml");
    assert!(!vastfleet(dir.path(), &["add", "abc"], &[]).status.success());
    assert!(!file.exists(), "a refused add creates nothing");

    fs::write(&file, "# mine\n[[instance]]\nid = 7   # keep\n").unwrap();
    let before = fs::read(&file).unwrap();
    let cases: [(&[&str], &str); 3] = [
        (
            &["add", "7"],
            "vastfleet: fleet.toml: instance 7 is already in the fleet file\n",
        ),
        (
            &["add", "8", "12x"],
            "vastfleet: fleet.toml: \"12x\" is not an instance id\n",
        ),
        (
            &["add", "8", "--label", " "],
            "vastfleet: fleet.toml: --label \" \": a label must not be empty",
        ),
    ];
    for (args, message) in cases {
        let output = vastfleet(dir.path(), args, &[]);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&output).starts_with(message),
            "{args:?}: {}",
            stderr(&output)
        );
        assert_eq!(
            fs::read(&file).unwrap(),
            before,
            "{args:?} changed the file"
        );
    }
}

#[test]
fn remove_takes_instances_out_and_refuses_unknown_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("other.toml");
    let original = "[[instance]]\nid = 1\nlabel = \"a\"\n\n[[instance]]\nid = 2\n";
    fs::write(&file, original).unwrap();

    let missing = vastfleet(dir.path(), &["remove", "-f", "other.toml", "1", "3"], &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing)
        .contains("instance 3 is not in the fleet file\n  help: the file lists 1, 2"));
    assert_eq!(fs::read_to_string(&file).unwrap(), original);

    let removed = vastfleet(dir.path(), &["remove", "-f", "other.toml", "1"], &[]);
    assert_eq!(removed.status.code(), Some(0), "{}", stderr(&removed));
    assert_eq!(stdout(&removed), "removed 1 (a) from other.toml\n");
    assert_eq!(fs::read_to_string(&file).unwrap(), "[[instance]]\nid = 2\n");

    let no_file = vastfleet(dir.path(), &["remove", "-f", "nope.toml", "1"], &[]);
    assert_eq!(no_file.status.code(), Some(2));
    assert!(stderr(&no_file).contains("nope.toml: cannot read the fleet file"));
}

#[test]
fn check_validates_and_names_the_key_location_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("fleet.toml"),
        "[[instance]]\nid = 1\nlabel = \"a\"\n",
    )
    .unwrap();

    let with_env = vastfleet(
        dir.path(),
        &["check"],
        &[("VAST_API_KEY", "sekrit-key-123")],
    );
    assert_eq!(with_env.status.code(), Some(0), "{}", stderr(&with_env));
    let out = stdout(&with_env);
    assert!(
        out.starts_with("fleet.toml is valid: 1 instance\nkey        from VAST_API_KEY\n"),
        "{out}"
    );
    assert!(out.contains("\n1   a      5s"), "{out}");
    assert!(!out.contains("sekrit") && !stderr(&with_env).contains("sekrit"));

    let key_file = dir.path().join("config/vastai/vast_api_key");
    fs::create_dir_all(key_file.parent().unwrap()).unwrap();
    fs::write(&key_file, "file-key-456\n").unwrap();
    let with_file = vastfleet(dir.path(), &["check"], &[]);
    assert_eq!(with_file.status.code(), Some(0), "{}", stderr(&with_file));
    assert!(stdout(&with_file).contains(&format!("key        from {}\n", key_file.display())));
    assert!(!stdout(&with_file).contains("file-key"));

    fs::remove_file(&key_file).unwrap();
    let without = vastfleet(dir.path(), &["check"], &[]);
    assert_eq!(without.status.code(), Some(2));
    assert!(stderr(&without).starts_with("vastfleet: no API key found\n  help: set VAST_API_KEY"));
}

#[test]
fn check_reports_a_bad_file_as_file_line_col_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("fleet.toml"),
        "[defaults]\ninterval = \"5s\"\ntail = 0\n",
    )
    .unwrap();
    let output = vastfleet(dir.path(), &["check"], &[("VAST_API_KEY", "k")]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "vastfleet: fleet.toml:3:8: `tail` is 0; it must be between 1 and 10000\n"
    );
    assert_eq!(stdout(&output), "");
}
