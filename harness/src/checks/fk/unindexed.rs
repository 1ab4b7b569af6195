//! `fk.unindexed` (warning): an FK without an index led by its columns.
//! Deleting or updating a parent then scans the whole child table, under a
//! lock, once per parent row.

use crate::catalog::Table;
use crate::checks::{CheckId, Severity, Finding, TierContext};

pub const ID: CheckId = CheckId::new(
    "fk.unindexed",
    Severity::Warning,
    r#"no index is led by an FK's columns"#,
);

pub fn check(ctx: &TierContext<'_>) -> Vec<Finding> {
    let tier = ctx.tier();
    ctx.catalog
        .tables
        .iter()
        .filter(|t| !t.is_partition())
        .flat_map(|table| {
            table
                .foreign_keys()
                .map(move |(constraint, fk)| {
                    let object = format!("{}.{}", table.name, constraint.name);
                    if indexed(table, &constraint.columns) {
                        ID.pass(tier, object, "an index is led by the FK's columns")
                    } else {
                        ID.fail(
                            tier,
                            object,
                            format!(
                                "FK {} ({}) → {} has no index led by its columns: each delete of a parent scans {}",
                                constraint.name,
                                constraint.columns.join(", "),
                                fk.target,
                                table.name
                            ),
                        )
                        .detail(
                            "fix",
                            format!("CREATE INDEX ON {} ({});", table.name.sql(), constraint.columns.join(", ")),
                        )
                    }
                })
        })
        .collect()
}

/// A valid, non-partial index (PK and UNIQUE constraints have one too) whose
/// leading columns are exactly the FK's columns, in any order.
fn indexed(table: &Table, columns: &[String]) -> bool {
    let led_by = |lead: &[Option<String>]| {
        lead.len() >= columns.len()
            && lead[..columns.len()]
                .iter()
                .all(|c| c.as_ref().is_some_and(|c| columns.contains(c)))
    };
    table.indexes.iter().filter(|i| i.valid && i.predicate.is_none()).any(|i| led_by(&i.columns))
}
