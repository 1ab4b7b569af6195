//! `check.missing` (warning): a column whose name says it holds one of a
//! few values (`status`, `state`, `stage`, `type`, `kind`, `priority`,
//! `severity`, `temperature` — a lead's hot/warm/cold —, or ending so)
//! accepts any value: no CHECK reads it, its type is neither an enum nor a
//! domain with a CHECK, and no FK ties it to a lookup table. Typos and
//! retired values then get stored, and silently drop out of every
//! `WHERE status = '...'`. Columns free-form on purpose go in the
//! scenario's `[check] allow_missing`.

use regex::Regex;

use crate::catalog::{Column, ConstraintKind, Table};
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::scenario::TierColumn;

pub const ID: CheckId = CheckId::new(
    "check.missing",
    Severity::Warning,
    r#"a `status`/`state`/`stage`/`type`/`kind`/`priority`/`severity`/`temperature` column has no CHECK, enum or lookup FK"#,
);

/// Base types an enumerated value is stored in (booleans, JSON, dates are not).
const ENUM_LIKE_TYPES: [&str; 5] = ["text", "citext", "smallint", "integer", "bigint"];

pub fn check(ctx: &TierContext<'_>) -> Vec<Finding> {
    let tier = ctx.tier();
    let name = Regex::new(r"^(?:.*_)?(?:status|state|stage|type|kind|priority|severity|temperature)$").expect("valid regex");
    let mut findings = Vec::new();
    for table in ctx.catalog.tables.iter().filter(|t| !t.is_partition()) {
        for column in table.columns.iter().filter(|c| name.is_match(&c.name) && enum_like(c)) {
            let here = TierColumn::new(tier, &table.name, &column.name);
            if ctx.scenario.expectations.check_allow_missing.contains(&here) {
                continue;
            }
            let object = format!("{}.{}", table.name, column.name);
            findings.push(match constrained_by(table, column) {
                Some(how) => ID.pass(tier, object, format!("values are limited by {how}")),
                None => ID
                    .fail(
                        tier,
                        object,
                        format!(
                            "{}.{} looks enumerated but accepts any {}: no CHECK, enum or lookup FK limits it",
                            table.name, column.name, column.data_type
                        ),
                    )
                    .detail(
                        "fix",
                        format!(
                            "ALTER TABLE {} ADD CHECK ({} IN (...));",
                            table.name.sql(),
                            crate::sql::quote_ident(&column.name)
                        ),
                    ),
            });
        }
    }
    findings
}

fn enum_like(column: &Column) -> bool {
    let base = column.base_type.as_str();
    column.enum_labels.is_some() || ENUM_LIKE_TYPES.contains(&base) || base.starts_with("character")
}

/// What limits the column's values, if anything.
fn constrained_by(table: &Table, column: &Column) -> Option<String> {
    if column.enum_labels.is_some() {
        return Some(format!("enum type {}", column.data_type));
    }
    if !column.domain_checks.is_empty() {
        return Some(format!("domain {}", column.data_type));
    }
    let reads = |kind: ConstraintKind| {
        table
            .constraints
            .iter()
            .find(|c| c.kind == kind && c.columns.contains(&column.name))
            .map(|c| c.name.clone())
    };
    reads(ConstraintKind::Check)
        .map(|name| format!("CHECK {name}"))
        .or_else(|| reads(ConstraintKind::ForeignKey).map(|name| format!("FK {name}")))
}
