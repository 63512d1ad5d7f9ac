//! Lines of entries in a `models/*.yml` file, for messages that point at them.
//!
//! serde gives no spans, so this reads the block structure of the text itself: indentation,
//! `key:` lines and `- ` list items. It understands the block style dbt schema files are written
//! in (nested mappings and lists, either indented under their key or level with it); inside a
//! flow collection (`data_tests: [unique, not_null]`) it stops at the line of the key. Every
//! answer is best effort: `None` means "not found", never a wrong file.

use std::ops::Range;

/// One non-blank, non-comment line.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    /// Indentation of the first character (a `- ` included).
    indent: usize,
    /// Whether the line starts a list item (`- ...`).
    dash: bool,
    /// The text after the indentation and the `- `, if any.
    body: &'a str,
}

impl Line<'_> {
    /// The indentation of the mapping key on this line (after a `- `).
    fn key_indent(&self) -> usize {
        if self.dash {
            self.indent + 2
        } else {
            self.indent
        }
    }
}

/// The block structure of a YAML text. Ranges are 0-based line indexes, end exclusive.
pub(crate) struct YamlLines<'a> {
    lines: Vec<Option<Line<'a>>>,
}

/// `key: value` → `(key, value)`.
fn split_key(body: &str) -> Option<(&str, &str)> {
    let (k, v) = body.split_once(':')?;
    let k = k.trim().trim_matches(|c| c == '"' || c == '\'');
    (!k.is_empty() && !k.contains(' ') && (v.is_empty() || v.starts_with(' ')))
        .then(|| (k, v.trim()))
}

fn unquote(v: &str) -> &str {
    let v = v.split(" #").next().unwrap_or(v).trim();
    v.trim_matches(|c| c == '"' || c == '\'')
}

impl<'a> YamlLines<'a> {
    /// Indexes `text`.
    pub(crate) fn new(text: &'a str) -> Self {
        let lines = text
            .lines()
            .map(|raw| {
                let trimmed = raw.trim_start();
                if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "---" {
                    return None;
                }
                let indent = raw.len() - trimmed.len();
                Some(
                    match trimmed
                        .strip_prefix("- ")
                        .or_else(|| (trimmed == "-").then_some(""))
                    {
                        Some(rest) => Line {
                            indent,
                            dash: true,
                            body: rest.trim(),
                        },
                        None => Line {
                            indent,
                            dash: false,
                            body: trimmed,
                        },
                    },
                )
            })
            .collect();
        Self { lines }
    }

    fn line(&self, i: usize) -> Option<Line<'a>> {
        self.lines.get(i).copied().flatten()
    }

    /// The whole document.
    pub(crate) fn root(&self) -> Range<usize> {
        0..self.lines.len()
    }

    /// The block of `key:` in the mapping `within` (a document, or a list item whose first line
    /// is `- ...`): from the key's line to the next line at the mapping's indent or less.
    pub(crate) fn key(&self, within: &Range<usize>, key: &str) -> Option<Range<usize>> {
        let first = within.clone().find_map(|i| self.line(i))?;
        let indent = first.key_indent();
        let mut start = None;
        for i in within.clone() {
            let Some(l) = self.line(i) else { continue };
            let at = if i == within.start || !l.dash {
                l.key_indent()
            } else {
                l.indent
            };
            if let Some(s) = start {
                // A list level with its key (`key:\n- a`) belongs to the key.
                let own_item = l.dash && l.indent == indent;
                if at < indent || (at == indent && !own_item) || (l.dash && l.indent < indent) {
                    return Some(s..i);
                }
                continue;
            }
            if at == indent && split_key(l.body).is_some_and(|(k, _)| k == key) {
                start = Some(i);
            }
        }
        start.map(|s| s..within.end)
    }

    /// The list items of a key's block (its first line is the key): one range per `- ` line at
    /// the items' indent. Empty for a flow list or a scalar.
    pub(crate) fn items(&self, block: &Range<usize>) -> Vec<Range<usize>> {
        let body = block.start + 1..block.end;
        let Some(indent) = body
            .clone()
            .filter_map(|i| self.line(i))
            .find(|l| l.dash)
            .map(|l| l.indent)
        else {
            return Vec::new();
        };
        let starts: Vec<usize> = body
            .clone()
            .filter(|&i| self.line(i).is_some_and(|l| l.dash && l.indent == indent))
            .collect();
        starts
            .iter()
            .enumerate()
            .map(|(n, &s)| s..starts.get(n + 1).copied().unwrap_or(body.end))
            .collect()
    }

    /// The item whose `name:` is `name`.
    pub(crate) fn item_named(&self, items: &[Range<usize>], name: &str) -> Option<Range<usize>> {
        items
            .iter()
            .find(|item| {
                self.key(item, "name")
                    .and_then(|k| self.line(k.start))
                    .and_then(|l| split_key(l.body))
                    .is_some_and(|(_, v)| unquote(v) == name)
            })
            .cloned()
    }

    /// 1-based line of a range's first line.
    pub(crate) fn line_no(range: &Range<usize>) -> usize {
        range.start + 1
    }

    /// The entry `models: [- name: model]`.
    pub(crate) fn model(&self, model: &str) -> Option<Range<usize>> {
        let models = self.key(&self.root(), "models")?;
        self.item_named(&self.items(&models), model)
    }

    /// The line of test number `n` under `key` (`data_tests` or `tests`) of `entry` (a model or a
    /// column item); the key's line when the list is a flow list.
    pub(crate) fn test_line(&self, entry: &Range<usize>, key: &str, n: usize) -> Option<usize> {
        let block = self.key(entry, key)?;
        Some(
            self.items(&block)
                .get(n)
                .map(Self::line_no)
                .unwrap_or(Self::line_no(&block)),
        )
    }

    /// The column item `name` of a model entry.
    pub(crate) fn column(&self, model: &Range<usize>, name: &str) -> Option<Range<usize>> {
        let columns = self.key(model, "columns")?;
        self.item_named(&self.items(&columns), name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
version: 2
models:
  - name: bookings   # the events
    description: x
    columns:
      - name: booking_id
        data_tests:
          - not_null
          - unique
      - name: amount
        tests: [not_null]
    data_tests:
      - unique: {columns: [a, b]}
      - name: custom
        sql: >
          SELECT 1
  - name: 'margin'
    columns:
    - name: m
      data_tests:
      - not_null
";

    #[test]
    fn finds_models_columns_and_tests() {
        let y = YamlLines::new(TEXT);
        let b = y.model("bookings").expect("bookings");
        assert_eq!(YamlLines::line_no(&b), 3);
        let id = y.column(&b, "booking_id").expect("column");
        assert_eq!(YamlLines::line_no(&id), 6);
        assert_eq!(y.test_line(&id, "data_tests", 0), Some(8));
        assert_eq!(y.test_line(&id, "data_tests", 1), Some(9));
        let amount = y.column(&b, "amount").expect("column");
        assert_eq!(y.test_line(&amount, "tests", 0), Some(11));
        assert_eq!(y.test_line(&b, "data_tests", 0), Some(13));
        assert_eq!(y.test_line(&b, "data_tests", 1), Some(14));
        let m = y.model("margin").expect("margin");
        assert_eq!(YamlLines::line_no(&m), 17);
        let col = y.column(&m, "m").expect("column at the key's indent");
        assert_eq!(YamlLines::line_no(&col), 19);
        assert_eq!(y.test_line(&col, "data_tests", 0), Some(21));
        assert!(y.model("nope").is_none());
    }
}
