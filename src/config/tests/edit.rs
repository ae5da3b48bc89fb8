//! Edits: `add` then `remove` gives back the user's file byte for byte, the added table looks
//! like its neighbours, and every refusal names the problem.

use std::path::Path;

use crate::config::edit::{add_instances, remove_instances, NewInstance, TEMPLATE};
use crate::report::event::ActionKind;

const COMMENTED: &str = r#"# My fleet — hand written, please keep my notes.
[api]
rate_limit = { per_second = 1, burst = 2 }   # be gentle

[defaults]
interval = "10s"  # slow

# --- training runs ---

# the big one
[[instance]]
  id    = 100
  label = "big"   # 8×H100

# small one
[[instance]]
  id    = 101
  label = "small"

# notifications go last
[[notify]]
url = "https://ntfy.sh/x"

# trailing remark
"#;

fn path() -> &'static Path {
    Path::new("fleet.toml")
}

fn new(id: &str, label: Option<&str>, on_complete: Option<Option<ActionKind>>) -> NewInstance {
    NewInstance {
        id: id.into(),
        label: label.map(Into::into),
        on_complete,
    }
}

/// What `after` has that `before` lacks, when `after` is `before` with one run of text
/// inserted; panics when anything of `before` changed.
fn inserted<'a>(before: &str, after: &'a str) -> &'a str {
    let common = before
        .bytes()
        .zip(after.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let split = (0..=common)
        .rev()
        .find(|&p| {
            before.is_char_boundary(p)
                && after.ends_with(&before[p..])
                && after.len() >= before.len()
        })
        .unwrap_or_else(|| panic!("the original text changed:\n{after}"));
    &after[split..after.len() - (before.len() - split)]
}

#[test]
fn add_then_remove_gives_back_the_file_byte_for_byte() {
    let files = [
        COMMENTED,
        TEMPLATE,
        "",
        "[[instance]]\r\nid = 1\r\n",
        "[[instance]]\nid = 1",
        "instance = [\n  { id = 1 },\n]\n",
        "instance = [{ id = 1 }]\n",
        "[defaults]\ntail = 5\n# a last word\n",
    ];
    for before in files {
        let entries = [
            new("7", Some("new one"), Some(Some(ActionKind::Destroy))),
            new("8", None, Some(None)),
        ];
        let added = add_instances(before, path(), &entries).unwrap();
        let part = inserted(before, &added);
        assert!(part.contains("7") && part.contains("8"), "{part:?}");
        let removed = remove_instances(&added, path(), &["7", "8"]).unwrap();
        assert_eq!(removed, before);
    }
}

#[test]
fn the_added_table_copies_its_neighbours_layout() {
    // (file, the text the new table goes right after, the new table)
    let cases: [(&str, &str, &str); 5] = [
        // Indented, aligned keys; a blank line above each table; placed before [[notify]].
        (
            COMMENTED,
            "  label = \"small\"\n",
            "\n[[instance]]\n  id    = 7\n  label = \"new one\"\n  on_complete = \"destroy\"\n",
        ),
        // The first [[instance]] of the template gets a blank line before it.
        (
            TEMPLATE,
            "storage\n",
            "\n[[instance]]\nid = 7\nlabel = \"new one\"\non_complete = \"destroy\"\n",
        ),
        // No blank lines and no spaces around `=` in the user's tables: none in ours either.
        (
            "[defaults]\ntail = 5\n[[instance]]\nid=1\n[[instance]]\nid=2\n",
            "id=2\n",
            "[[instance]]\nid=7\nlabel=\"new one\"\non_complete=\"destroy\"\n",
        ),
        (
            "instance = [{ id = 1 }]\n",
            "{ id = 1 }",
            ", { id = 7, label = \"new one\", on_complete = \"destroy\" }",
        ),
        (
            "instance = [\n  { id = 1 },\n]\n",
            "{ id = 1 },\n",
            "  { id = 7, label = \"new one\", on_complete = \"destroy\" },\n",
        ),
    ];
    let entry = new("7", Some("new one"), Some(Some(ActionKind::Destroy)));
    for (before, after, table) in cases {
        let added = add_instances(before, path(), std::slice::from_ref(&entry)).unwrap();
        assert_eq!(
            added,
            before.replacen(after, &format!("{after}{table}"), 1),
            "in:\n{before}"
        );
    }
}

#[test]
fn removing_keeps_section_comments_and_drops_the_tables_own() {
    let without_big = remove_instances(COMMENTED, path(), &["100"]).unwrap();
    let expected = COMMENTED.replace(
        "# the big one\n[[instance]]\n  id    = 100\n  label = \"big\"   # 8×H100\n\n",
        "",
    );
    assert_eq!(without_big, expected);

    let without_both = remove_instances(COMMENTED, path(), &["101", "100"]).unwrap();
    let expected = COMMENTED.replace(
        "# the big one\n[[instance]]\n  id    = 100\n  label = \"big\"   # 8×H100\n\n# small one\n[[instance]]\n  id    = 101\n  label = \"small\"\n\n",
        "",
    );
    assert_eq!(without_both, expected);
}

#[test]
fn bad_requests_are_refused_with_a_clear_message() {
    let add = |entries: &[NewInstance]| {
        add_instances(COMMENTED, path(), entries)
            .unwrap_err()
            .to_string()
    };
    let remove = |ids: &[&str]| {
        remove_instances(COMMENTED, path(), ids)
            .unwrap_err()
            .to_string()
    };
    let id_help =
        "  help: instance ids are the numbers `vastai show instances` lists, e.g. 28421359";
    let cases: Vec<(String, String)> = vec![
        (
            add(&[new("100", None, None)]),
            "fleet.toml: instance 100 is already in the fleet file\n  help: nothing was written; edit its [[instance]] table to change it".into(),
        ),
        (
            add(&[new("5", None, None), new(" 5", None, None)]),
            "fleet.toml: instance 5 is already in the fleet file\n  help: nothing was written; edit its [[instance]] table to change it".into(),
        ),
        (add(&[new("abc", None, None)]), format!("fleet.toml: \"abc\" is not an instance id\n{id_help}")),
        (add(&[new("0", None, None)]), format!("fleet.toml: \"0\" is not an instance id\n{id_help}")),
        (
            add(&[new("9223372036854775808", None, None)]),
            format!("fleet.toml: \"9223372036854775808\" is not an instance id\n{id_help}"),
        ),
        (
            add(&[new("5", Some(""), None)]),
            "fleet.toml: --label \"\": a label must not be empty".into(),
        ),
        (
            remove(&["5"]),
            "fleet.toml: instance 5 is not in the fleet file\n  help: the file lists 100, 101; nothing was written".into(),
        ),
        (remove(&["100", "x1"]), format!("fleet.toml: \"x1\" is not an instance id\n{id_help}")),
        (
            remove_instances("", path(), &["1"]).unwrap_err().to_string(),
            "fleet.toml: instance 1 is not in the fleet file\n  help: the file lists no instances; nothing was written".into(),
        ),
        (
            add_instances("[defaults]\ntail = 0\n", path(), &[new("1", None, None)]).unwrap_err().to_string(),
            "fleet.toml:2:8: `tail` is 0; it must be between 1 and 10000".into(),
        ),
    ];
    for (actual, expected) in cases {
        assert_eq!(actual, expected);
    }
}
