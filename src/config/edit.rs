//! Comment-preserving edits of the fleet file for `add` and `remove` (toml_edit). Every
//! comment, blank line and key order the user wrote stays; an added `[[instance]]` borrows the
//! look of its neighbours. The edited text is validated again before it is handed back, and
//! the caller writes it atomically.

use std::path::Path;

use toml_edit::{ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use super::error::ConfigError;
use super::layout::{detached_comments, give_to_next, raw, TableStyle};
use super::settings::Settings;
use super::validate::check_label;
use crate::report::event::ActionKind;

/// The file `add` starts from when there is none yet. It ends on real keys, not comments, so
/// the instances appended after it do not land above a stray comment block.
pub const TEMPLATE: &str = include_str!("template.toml");

/// One instance to add, as the user typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstance {
    /// Unparsed, so a non-numeric id gets our message rather than clap's.
    pub id: String,
    pub label: Option<String>,
    /// `Some(None)` writes `on_complete = "none"`.
    pub on_complete: Option<Option<ActionKind>>,
}

/// Parses an instance id typed on the command line.
pub fn parse_id(path: &Path, text: &str) -> Result<u64, ConfigError> {
    let help = "instance ids are the numbers `vastai show instances` lists, e.g. 28421359";
    match text.trim().parse::<u64>() {
        // TOML integers are i64: a larger id could not be written to the file.
        Ok(id) if id > 0 && i64::try_from(id).is_ok() => Ok(id),
        _ => Err(
            ConfigError::new(Some(path), format!("{text:?} is not an instance id")).with_help(help),
        ),
    }
}

/// `text` with one `[[instance]]` per entry appended after the last existing one.
pub fn add_instances(
    text: &str,
    path: &Path,
    entries: &[NewInstance],
) -> Result<String, ConfigError> {
    let settings = Settings::from_toml(text, path)?;
    let mut ids: Vec<u64> = Vec::with_capacity(entries.len());
    for entry in entries {
        let id = parse_id(path, &entry.id)?;
        if let Some(label) = &entry.label {
            check_label(label)
                .map_err(|why| ConfigError::new(Some(path), format!("--label {label:?}: {why}")))?;
        }
        if settings.instance(id).is_some() || ids.contains(&id) {
            return Err(ConfigError::new(
                Some(path),
                format!("instance {id} is already in the fleet file"),
            )
            .with_help("nothing was written; edit its [[instance]] table to change it"));
        }
        ids.push(id);
    }
    let mut doc = parse(text, path)?;
    let root = doc.as_table_mut();
    match root.get_mut("instance") {
        None => {
            let mut tables = ArrayOfTables::new();
            let prefix = if text.trim().is_empty() { "" } else { "\n" };
            for (entry, &id) in entries.iter().zip(&ids) {
                let mut table = instance_table(entry, id);
                table.decor_mut().set_prefix(prefix);
                tables.push(table);
            }
            root.insert("instance", Item::ArrayOfTables(tables));
        }
        Some(Item::ArrayOfTables(tables)) => {
            let style = TableStyle::of(tables, text);
            for (entry, &id) in entries.iter().zip(&ids) {
                let mut table = instance_table(entry, id);
                style.apply(&mut table);
                tables.push(table);
            }
        }
        Some(Item::Value(Value::Array(array))) => {
            let mut decor = array.iter().last().map(|v| v.decor().clone());
            if let Some(decor) = decor.as_mut().filter(|d| !raw(d.prefix()).contains('\n')) {
                // `[{ id = 1 }]`: the first element has no space before it, the next ones do.
                decor.set_prefix(" ");
            }
            for (entry, &id) in entries.iter().zip(&ids) {
                let mut inline: InlineTable = instance_table(entry, id).into_inline_table();
                inline.fmt();
                let mut value = Value::InlineTable(inline);
                if let Some(decor) = &decor {
                    *value.decor_mut() = decor.clone();
                }
                array.push_formatted(value);
            }
        }
        Some(_) => return Err(unexpected_shape(path)),
    }
    revalidate(text, doc, path)
}

/// `text` without the instances `ids`. Every id must be there, else nothing changes.
pub fn remove_instances(
    text: &str,
    path: &Path,
    ids: &[impl AsRef<str>],
) -> Result<String, ConfigError> {
    let settings = Settings::from_toml(text, path)?;
    let mut doc = parse(text, path)?;
    for typed in ids {
        let id = parse_id(path, typed.as_ref())?;
        if settings.instance(id).is_none() {
            let listed: Vec<String> = settings
                .instances
                .iter()
                .map(|i| i.id.to_string())
                .collect();
            let help = if listed.is_empty() {
                "the file lists no instances".to_string()
            } else {
                format!("the file lists {}", listed.join(", "))
            };
            return Err(ConfigError::new(
                Some(path),
                format!("instance {id} is not in the fleet file"),
            )
            .with_help(format!("{help}; nothing was written")));
        }
        remove_one(&mut doc, id).ok_or_else(|| unexpected_shape(path))?;
    }
    revalidate(text, doc, path)
}

/// Removes instance `id` (if listed); `None` when `instance` has a shape we cannot edit.
fn remove_one(doc: &mut DocumentMut, id: u64) -> Option<()> {
    let mut orphaned = None;
    let emptied = match doc.get_mut("instance")? {
        Item::ArrayOfTables(tables) => {
            let found = (0..tables.len()).find(|&i| {
                entry_id(
                    tables
                        .get(i)
                        .and_then(|t| t.get("id"))
                        .and_then(Item::as_value),
                ) == Some(id)
            });
            if let Some(index) = found {
                if let Some(table) = tables.get(index) {
                    let comments = detached_comments(&raw(table.decor().prefix()));
                    orphaned = comments.zip(table.position());
                }
                tables.remove(index);
            }
            tables.is_empty()
        }
        Item::Value(Value::Array(array)) => {
            array.retain(|value| {
                entry_id(value.as_inline_table().and_then(|t| t.get("id"))) != Some(id)
            });
            array.is_empty()
        }
        _ => return None,
    };
    if emptied {
        doc.remove("instance");
    }
    if let Some((comments, position)) = orphaned {
        give_to_next(doc, position, comments);
    }
    Some(())
}

fn entry_id(value: Option<&Value>) -> Option<u64> {
    value
        .and_then(Value::as_integer)
        .and_then(|id| u64::try_from(id).ok())
}

fn parse(text: &str, path: &Path) -> Result<DocumentMut, ConfigError> {
    text.parse::<DocumentMut>().map_err(|err| {
        ConfigError::new(
            Some(path),
            format!("cannot edit the fleet file: {}", err.message()),
        )
    })
}

fn unexpected_shape(path: &Path) -> ConfigError {
    ConfigError::new(
        Some(path),
        "`instance` is neither [[instance]] tables nor an array of tables",
    )
    .with_help("write each instance as an [[instance]] table")
}

/// Renders the edited document in the original's line endings, and checks that it is still a
/// valid fleet: if it is not, that is our bug, and nothing gets written.
fn revalidate(original: &str, doc: DocumentMut, path: &Path) -> Result<String, ConfigError> {
    // toml_edit writes "\n" line ends, and a final one even where the user had none.
    let mut text = doc.to_string();
    if original.contains("\r\n") {
        text = text.replace("\r\n", "\n").replace('\n', "\r\n");
    }
    if !original.starts_with(['\r', '\n']) {
        // Removing the first table must not leave the next one's blank line at the top.
        text = text.trim_start_matches(['\r', '\n']).to_string();
    }
    if !original.is_empty() && !original.ends_with('\n') {
        let trimmed = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'));
        text = trimmed.unwrap_or(&text).to_string();
    }
    Settings::from_toml(&text, path)?;
    Ok(text)
}

fn instance_table(entry: &NewInstance, id: u64) -> Table {
    let mut table = Table::new();
    // parse_id only lets through ids that fit an i64.
    table.insert(
        "id",
        toml_edit::value(i64::try_from(id).unwrap_or(i64::MAX)),
    );
    if let Some(label) = &entry.label {
        table.insert("label", toml_edit::value(label.trim()));
    }
    if let Some(action) = entry.on_complete {
        table.insert(
            "on_complete",
            toml_edit::value(action.map_or("none", ActionKind::as_str)),
        );
    }
    table
}
