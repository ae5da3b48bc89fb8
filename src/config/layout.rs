//! The look of the fleet file under edits: how a new `[[instance]]` copies its neighbours'
//! layout, and where the comments above a removed one go.

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table};

/// The part of a removed table's prefix that a blank line separates from it (a section
/// comment, say) belongs to what came before, not to the table; `None` when it holds no
/// comment, so plain blank lines (like those `add` writes) simply go with the table.
pub(super) fn detached_comments(prefix: &str) -> Option<String> {
    let lines: Vec<&str> = prefix.split_inclusive('\n').collect();
    let last_blank = lines.iter().rposition(|line| line.trim().is_empty())?;
    let detached = lines[..=last_blank].concat();
    detached
        .lines()
        .any(|line| line.trim_start().starts_with('#'))
        .then_some(detached)
}

/// Puts `comments` above whatever followed the table at `position`: the next table in the
/// file, else the end of the file.
pub(super) fn give_to_next(doc: &mut DocumentMut, position: isize, comments: String) {
    let join = |rest: &str| {
        let rest: String = rest
            .split_inclusive('\n')
            .skip_while(|l| l.trim().is_empty())
            .collect();
        comments.clone() + &rest
    };
    let next = next_position(doc.as_table(), position);
    match next.and_then(|next| table_at(doc.as_table_mut(), next)) {
        Some(table) => {
            let prefix = join(&raw(table.decor().prefix()));
            table.decor_mut().set_prefix(prefix);
        }
        None => {
            let trailing = join(doc.trailing().as_str().unwrap_or_default());
            doc.set_trailing(trailing);
        }
    }
}

/// Tables written with a header, at any depth.
fn for_each_table(table: &Table, f: &mut impl FnMut(&Table)) {
    for (_, item) in table.iter() {
        let children: Vec<&Table> = match item {
            Item::Table(t) => vec![t],
            Item::ArrayOfTables(tables) => tables.iter().collect(),
            _ => Vec::new(),
        };
        for child in children {
            if !child.is_implicit() && !child.is_dotted() {
                f(child);
            }
            for_each_table(child, f);
        }
    }
}

fn next_position(root: &Table, after: isize) -> Option<isize> {
    let mut next = None;
    for_each_table(root, &mut |t| {
        if let Some(p) = t.position().filter(|&p| p > after) {
            next = Some(next.map_or(p, |n: isize| n.min(p)));
        }
    });
    next
}

fn table_at(table: &mut Table, position: isize) -> Option<&mut Table> {
    for (_, item) in table.iter_mut() {
        let children: Vec<&mut Table> = match item {
            Item::Table(t) => vec![t],
            Item::ArrayOfTables(tables) => tables.iter_mut().collect(),
            _ => Vec::new(),
        };
        for child in children {
            if child.position() == Some(position) && !child.is_implicit() && !child.is_dotted() {
                return Some(child);
            }
            if let Some(found) = table_at(child, position) {
                return Some(found);
            }
        }
    }
    None
}

/// How the user writes an `[[instance]]`: blank lines above it, key indentation, the spaces
/// around `=`, and whether the `=` signs line up.
#[derive(Debug, Default)]
pub(super) struct TableStyle {
    blank_lines: String,
    indent: String,
    /// (key, spaces after the key, spaces after `=`) of the neighbour.
    keys: Vec<(String, String, String)>,
    /// The column of `=` when every key of the neighbour lines up on it.
    align: Option<usize>,
}

impl TableStyle {
    /// The style of the last table; the blank lines above it come from the last table that
    /// does not open the file (the one at the very top has none, whatever the user's habit).
    pub(super) fn of(tables: &ArrayOfTables, text: &str) -> TableStyle {
        let Some(table) = tables.iter().last() else {
            return TableStyle::default();
        };
        let opens_file = |index: usize| index == 0 && text.trim_start().starts_with('[');
        let blank_lines = (0..tables.len())
            .rev()
            .find(|&index| !opens_file(index))
            .and_then(|index| tables.get(index))
            .map_or_else(
                || "\n".to_string(),
                |table| {
                    // Only the blank lines: comments above a table belong to that table.
                    let prefix = raw(table.decor().prefix());
                    prefix
                        .split_inclusive('\n')
                        .take_while(|l| l.trim().is_empty())
                        .collect()
                },
            );
        let keys: Vec<(String, String, String)> = table
            .iter()
            .filter_map(|(name, item)| {
                let key = table.key(name)?;
                let value = item.as_value()?;
                Some((
                    name.to_string(),
                    raw(key.leaf_decor().suffix()),
                    raw(value.decor().prefix()),
                ))
            })
            .collect();
        let widths: Vec<usize> = keys
            .iter()
            .map(|(k, after, _)| k.len() + after.len())
            .collect();
        let align =
            (widths.len() >= 2 && widths.windows(2).all(|w| w[0] == w[1])).then(|| widths[0]);
        let indent = table
            .iter()
            .next()
            .and_then(|(name, _)| table.key(name))
            .map(|key| raw(key.leaf_decor().prefix()))
            .unwrap_or_default();
        TableStyle {
            blank_lines,
            indent,
            keys,
            align,
        }
    }

    pub(super) fn apply(&self, table: &mut Table) {
        table.decor_mut().set_prefix(self.blank_lines.as_str());
        let names: Vec<String> = table.iter().map(|(name, _)| name.to_string()).collect();
        for name in names {
            let known = self
                .keys
                .iter()
                .find(|(k, _, _)| *k == name)
                .or_else(|| self.keys.first());
            let after_key = match (self.align, known) {
                (Some(column), _) => " ".repeat(column.saturating_sub(name.len()).max(1)),
                (None, Some((_, after, _))) => after.clone(),
                (None, None) => " ".to_string(),
            };
            let after_eq = known.map_or_else(|| " ".to_string(), |(_, _, v)| v.clone());
            if let Some(mut key) = table.key_mut(&name) {
                key.leaf_decor_mut().set_prefix(self.indent.as_str());
                key.leaf_decor_mut().set_suffix(after_key);
            }
            if let Some(value) = table.get_mut(&name).and_then(Item::as_value_mut) {
                value.decor_mut().set_prefix(after_eq);
                value.decor_mut().set_suffix("");
            }
        }
    }
}

/// A decor part as text; parsed documents always have it, new items may not.
pub(super) fn raw(part: Option<&toml_edit::RawString>) -> String {
    part.and_then(|r| r.as_str())
        .unwrap_or_default()
        .to_string()
}
