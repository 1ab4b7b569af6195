//! References no constraint declares: a column named `<x>_id` whose name
//! and type match the key of a table `<x>` (or its plural) in the same
//! tier, or named like a user reference (`created_by`, `updated_by`,
//! `assigned_to`, `owner_id`) whose type matches the key of a `users`
//! table. Cross-tier references the scenario declares and its
//! `fk.allow_missing` list are not inferred. Seeding fills them with keys
//! that exist (tierguard must not invent orphans), `fk.missing` reports
//! the ones without an FK, and `orphan.intra` audits rows tierguard did
//! not write.

use super::{Catalog, Column, QualName, Table};
use crate::scenario::{Scenario, TierColumn};

/// A column that looks like a reference to the key of another table.
pub struct Inferred<'c> {
    pub table: &'c Table,
    pub column: &'c Column,
    pub target: &'c Table,
    /// The target's identifying key column.
    pub key: &'c str,
    /// Whether a foreign key covers the column.
    pub covered: bool,
}

/// Every reference-like column of `catalog`'s tables, except those the
/// scenario allows without an FK or declares as references.
pub fn inferred<'c>(catalog: &'c Catalog, scenario: &Scenario) -> Vec<Inferred<'c>> {
    let mut found = Vec::new();
    for table in catalog.tables.iter().filter(|t| !t.is_partition()) {
        for column in &table.columns {
            let Some((target, key)) = referenced_table(catalog, table, column) else { continue };
            let here = TierColumn::new(&catalog.tier, &table.name, &column.name);
            if scenario.fk_allow_missing.contains(&here) || scenario.references.iter().any(|r| r.from.includes(&here)) {
                continue;
            }
            found.push(Inferred {
                table,
                column,
                target,
                key,
                covered: table.foreign_keys().any(|(c, _)| c.columns.contains(&column.name)),
            });
        }
    }
    found
}

/// The table a column's name points at, when its key has the column's
/// type: `<x>_id` names table `<x>` (or its plural) in the same schema; a
/// user reference (`created_by`, `assigned_to`, `owner_id`, ...) names a
/// `users` table, in the same schema or, failing that, another one
/// (`auth.users`). Returns the table and its key column.
fn referenced_table<'c>(catalog: &'c Catalog, table: &Table, column: &Column) -> Option<(&'c Table, &'c str)> {
    let same_schema = |name: String| QualName {
        schema: table.name.schema.clone(),
        name,
    };
    let stem = column.name.strip_suffix("_id").filter(|s| !s.is_empty());
    let named = stem.into_iter().flat_map(plural_forms).map(same_schema);
    let users = user_reference(&column.name)
        .then(|| {
            let elsewhere = catalog.tables.iter().filter(|t| t.name.name == "users").map(|t| t.name.clone());
            std::iter::once(same_schema("users".into())).chain(elsewhere)
        })
        .into_iter()
        .flatten();
    named.chain(users).find_map(|name| {
        let candidate = catalog.table(&name)?;
        let key = key_column(candidate)?;
        let same_type = candidate.column(key).is_some_and(|k| k.data_type == column.data_type);
        (candidate.name != table.name && same_type).then_some((candidate, key))
    })
}

/// The identifying column of a table's primary key: the single key column,
/// or in a (tenant, id) key the one that is not the tenant.
pub fn key_column(table: &Table) -> Option<&str> {
    let pk = table.primary_key()?;
    match pk.columns.as_slice() {
        [only] => Some(only),
        columns => columns.iter().find(|c| c.as_str() == "id").map(String::as_str),
    }
}

/// Names that say "a user" without naming the users table: `<x>_by`,
/// `assigned_to`, `owner`, `manager`, `<x>_user`, each with or without `_id`.
fn user_reference(column: &str) -> bool {
    let name = column.strip_suffix("_id").unwrap_or(column);
    name.ends_with("_by") || name.ends_with("_user") || ["assigned_to", "owner", "manager"].contains(&name)
}

pub fn plural_forms(stem: &str) -> Vec<String> {
    let mut forms = vec![stem.to_string(), format!("{stem}s"), format!("{stem}es")];
    if let Some(base) = stem.strip_suffix('y') {
        forms.push(format!("{base}ies"));
    }
    forms
}
