//! Tenant canaries in seeded values (see `crate::canary`): a tenant's row
//! carries its marker wherever the column's kind can hold one without
//! leaving its domain — free text (appended, or as an email's `+tag`),
//! JSON (a `"ref"` field or item), text arrays (one more item) and bytea
//! (the marker's bytes). Text whose form the column's name asks for
//! (phones, codes, slugs, urls, random tokens) and values a domain fixes
//! (lists, regexes, enums, partition bounds) stay as drawn.
//!
//! A tenant table none of whose columns can hold a marker (a link table,
//! counters) gives its uuid keys instead: a random uuid is as unguessable
//! as a marker, and only that tenant's rows hold it (`key_canaries`).

use super::kind::Kind;
use super::plan::{Plan, Source, TablePlan};
use super::realism::Realism;
use super::value::Value;

impl Kind {
    /// `value` (drawn by this kind) with `marker` written into it, where it fits.
    pub fn with_marker(&self, value: Value, marker: &str) -> Value {
        match (self, value) {
            (Kind::Text { realism, min_len, max_len }, Value::Text(text)) if realism.holds_markers() => {
                let marked = match (realism, text.split_once('@')) {
                    (Realism::Email, Some((local, domain))) => format!("{local}+{marker}@{domain}"),
                    _ => format!("{text} {marker}"),
                };
                match max_len {
                    Some(max) if marked.chars().count() > *max => Value::Text(shortened(&text, marker, *min_len, *max).unwrap_or(text)),
                    _ => Value::Text(marked),
                }
            }
            (Kind::Json { array: true }, Value::Raw(json)) => match json.strip_suffix(']') {
                Some(items) => Value::Raw(format!(r#"{items}, "{marker}"]"#)),
                None => Value::Raw(json),
            },
            (Kind::Json { array: false }, Value::Raw(json)) => match json.strip_prefix('{') {
                Some(fields) => Value::Raw(format!(r#"{{"ref": "{marker}", {fields}"#)),
                None => Value::Raw(json),
            },
            (Kind::Array(inner), Value::Raw(array)) if matches!(**inner, Kind::Text { realism, .. } if realism.holds_markers()) => {
                match array.as_str() {
                    "{}" => Value::Raw(format!("{{{marker}}}")),
                    _ => Value::Raw(format!("{},{marker}}}", &array[..array.len() - 1])),
                }
            }
            (Kind::Bytea, Value::Raw(_)) => Value::Raw(format!("\\x{}", marker.bytes().map(|b| format!("{b:02x}")).collect::<String>())),
            (_, value) => value,
        }
    }
}

/// Room a marker needs in a text column (`tgc` + 8 + `t` + table + `r` + row).
const MARKER_ROOM: usize = 30;

impl Kind {
    /// Whether values of this kind carry a marker (see [`Kind::with_marker`]).
    fn holds_marker(&self) -> bool {
        match self {
            Kind::Text { realism, max_len, .. } => realism.holds_markers() && max_len.is_none_or(|m| m >= MARKER_ROOM),
            Kind::Json { .. } | Kind::Bytea => true,
            Kind::Array(inner) => matches!(**inner, Kind::Text { realism, .. } if realism.holds_markers()),
            _ => false,
        }
    }
}

impl Plan {
    /// Whether a tenant's rows of `table` carry its marker in some column.
    fn carries_markers(&self, table: &TablePlan) -> bool {
        table.columns.iter().any(|c| !c.redrawn && matches!(&c.source, Source::Value { kind, .. } if kind.holds_marker()))
    }

    /// Tenant `tenant`'s canary keys: for each seeded tenant table whose
    /// rows carry no marker and whose key is one generated uuid column, the
    /// keys of its first `per_table` rows, as (table number, row, key).
    /// Not the tenants table (tenant ids are no secret), nor a table another
    /// tenant's rows may point at by design (a link a CHECK sends to
    /// another tenant).
    pub fn key_canaries(&self, tenant: usize, per_table: usize) -> Vec<(usize, u64, String)> {
        let n = self.tenant_count() as u64;
        let shared: Vec<usize> = self.tables.iter().flat_map(|t| t.links.iter().filter(|l| l.redraw_other_tenant).map(|l| l.target)).collect();
        let mut keys = Vec::new();
        for table in &self.tables {
            let eligible = table.tenant_scoped
                && !table.root
                && table.fixed.is_none()
                && table.unsatisfiable.is_none()
                && !shared.contains(&table.position)
                && !self.carries_markers(table);
            let key = match table.primary_key.as_slice() {
                [key] if eligible => table.columns.iter().find(|c| &c.name == key && c.data_type == "uuid" && matches!(c.source, Source::Value { .. })),
                _ => None,
            };
            let Some(key) = key else { continue };
            let rows = (tenant as u64..table.rows).step_by(n.max(1) as usize).take(per_table);
            keys.extend(rows.filter_map(|j| Some((table.position, j, self.column_value(table, j, key, 0).text()?))));
        }
        keys
    }
}

/// The start of `text` and the marker, in `max` characters, when that
/// keeps at least `min_len` of them (the marker alone is distinct per row,
/// so a unique column stays unique).
fn shortened(text: &str, marker: &str, min_len: usize, max: usize) -> Option<String> {
    let room = max.checked_sub(marker.len())?;
    let kept: String = text.chars().take(room.saturating_sub(1)).collect();
    let marked = if kept.is_empty() { marker.to_string() } else { format!("{} {marker}", kept.trim_end()) };
    (marked.chars().count() >= min_len.max(1)).then_some(marked)
}

impl Realism {
    /// Whether text of this kind still reads as what it is with a word
    /// more: names and prose do, codes and identifiers do not.
    pub fn holds_markers(&self) -> bool {
        !matches!(
            self,
            Realism::Phone | Realism::Currency | Realism::Zip | Realism::Url | Realism::Domain | Realism::Username | Realism::Slug | Realism::Token
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(realism: Realism, max_len: Option<usize>) -> Kind {
        Kind::Text { realism, min_len: 0, max_len }
    }

    #[test]
    fn markers_go_where_the_kind_can_hold_them_and_nowhere_else() {
        let m = "tgc0123abcdt1r2";
        assert_eq!(text(Realism::FullName, None).with_marker(Value::Text("Ada Lovelace".into()), m), Value::Text(format!("Ada Lovelace {m}")));
        assert_eq!(text(Realism::Email, None).with_marker(Value::Text("ada@example.org".into()), m), Value::Text(format!("ada+{m}@example.org")));
        // Too long for varchar(20): the text gives way; for varchar(10) the marker does.
        assert_eq!(text(Realism::Subject, Some(20)).with_marker(Value::Text("A long subject line".into()), m), Value::Text(format!("A lo {m}")));
        assert_eq!(text(Realism::Subject, Some(10)).with_marker(Value::Text("Short".into()), m), Value::Text("Short".into()));
        assert_eq!(text(Realism::Slug, None).with_marker(Value::Text("a-slug".into()), m), Value::Text("a-slug".into()));
        assert_eq!(Kind::Json { array: false }.with_marker(Value::Raw(r#"{"a": 1}"#.into()), m), Value::Raw(format!(r#"{{"ref": "{m}", "a": 1}}"#)));
        assert_eq!(Kind::Json { array: true }.with_marker(Value::Raw(r#"["x"]"#.into()), m), Value::Raw(format!(r#"["x", "{m}"]"#)));
        let words = Kind::Array(Box::new(text(Realism::Word, None)));
        assert_eq!(words.with_marker(Value::Raw("{}".into()), m), Value::Raw(format!("{{{m}}}")));
        assert_eq!(words.with_marker(Value::Raw(r#"{"a"}"#.into()), m), Value::Raw(format!(r#"{{"a",{m}}}"#)));
        assert_eq!(Kind::Bytea.with_marker(Value::Raw("\\x00".into()), "tg"), Value::Raw("\\x7467".into()));
        assert_eq!(Kind::OneOf(vec!["a".into()]).with_marker(Value::Raw("a".into()), m), Value::Raw("a".into()));
        assert_eq!(Kind::Uuid.with_marker(Value::Uuid(1), m), Value::Uuid(1));
    }
}
