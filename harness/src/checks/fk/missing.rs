//! `fk.missing`: a column named `<x>_id` whose name and type match the key
//! of a table `<x>` (or its plural) in the same tier, with no FK covering
//! it. Cross-tier references declared in the scenario and the scenario's
//! `fk.allow_missing` list are not candidates.

use crate::catalog::{Catalog, Column, QualName, Table};
use crate::checks::{CheckId, Severity, Finding, TierContext};
use crate::scenario::{Scenario, TierColumn, TierTable};

pub const ID: CheckId = CheckId::new("fk.missing", Severity::Error);

/// A column that looks like a reference to the key of another table.
pub struct Candidate<'c> {
    pub table: &'c Table,
    pub column: &'c Column,
    pub target: &'c Table,
    /// The target's identifying key column.
    pub key: &'c str,
    /// Whether a foreign key covers the column.
    pub covered: bool,
}

/// Every `<x>_id` column matching the key of a table `<x>`, except those
/// the scenario allows without an FK or declares as references.
pub fn candidates<'c>(catalog: &'c Catalog, scenario: &Scenario) -> Vec<Candidate<'c>> {
    let mut candidates = Vec::new();
    for table in catalog.tables.iter().filter(|t| !t.is_partition()) {
        for column in &table.columns {
            let Some((target, key)) = referenced_table(catalog, table, column) else { continue };
            let here = TierColumn {
                table: TierTable {
                    tier: catalog.tier.clone(),
                    schema: table.name.schema.clone(),
                    table: table.name.name.clone(),
                },
                column: column.name.clone(),
            };
            if scenario.fk_allow_missing.contains(&here) || scenario.references.iter().any(|r| r.from.includes(&here)) {
                continue;
            }
            candidates.push(Candidate {
                table,
                column,
                target,
                key,
                covered: table.foreign_keys().any(|(c, _)| c.columns.contains(&column.name)),
            });
        }
    }
    candidates
}

pub fn check(ctx: &TierContext<'_>) -> Vec<Finding> {
    let tier = ctx.tier();
    candidates(ctx.catalog, ctx.scenario)
        .into_iter()
        .map(|Candidate { table, column, target, key, covered }| {
            let object = format!("{}.{}", table.name, column.name);
            if covered {
                ID.pass(tier, object, format!("covered by a foreign key to {}", target.name))
            } else {
                ID.fail(
                    tier,
                    object,
                    format!(
                        "{}.{} looks like a reference to {}.{} but no foreign key enforces it: rows may point at nothing",
                        table.name, column.name, target.name, key
                    ),
                )
                .detail("target", format!("{}.{}", target.name, key))
                .detail(
                    "fix",
                    format!(
                        "ALTER TABLE {} ADD FOREIGN KEY ({}) REFERENCES {} ({});",
                        table.name.sql(),
                        column.name,
                        target.name.sql(),
                        key
                    ),
                )
            }
        })
        .collect()
}

/// The table a `<x>_id` column names, and its key column, when the key has
/// the column's type.
fn referenced_table<'c>(catalog: &'c Catalog, table: &Table, column: &Column) -> Option<(&'c Table, &'c str)> {
    let stem = column.name.strip_suffix("_id").filter(|s| !s.is_empty())?;
    plural_forms(stem).into_iter().find_map(|name| {
        let candidate = catalog.table(&QualName {
            schema: table.name.schema.clone(),
            name,
        })?;
        let key = key_column(candidate)?;
        let same_type = candidate.column(key).is_some_and(|k| k.data_type == column.data_type);
        (candidate.name != table.name && same_type).then_some((candidate, key))
    })
}

/// The identifying column of a table's primary key: the single key column,
/// or in a (tenant, id) key the one that is not the tenant.
fn key_column(table: &Table) -> Option<&str> {
    let pk = table.primary_key()?;
    match pk.columns.as_slice() {
        [only] => Some(only),
        columns => columns.iter().find(|c| c.as_str() == "id").map(String::as_str),
    }
}

fn plural_forms(stem: &str) -> Vec<String> {
    let mut forms = vec![stem.to_string(), format!("{stem}s"), format!("{stem}es")];
    if let Some(base) = stem.strip_suffix('y') {
        forms.push(format!("{base}ies"));
    }
    forms
}
