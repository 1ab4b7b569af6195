//! `orphan.intra`: rows whose reference to a table of the same tier finds
//! no row, where no enforced foreign key rules that out: an FK added NOT
//! VALID (older rows were never checked), an FK whose triggers are disabled
//! (no row is checked), a column `fk.missing` reports (no FK at all), and a
//! soft reference the scenario declares inside one tier. Both tables are on
//! one server, so the server anti-joins them itself.

use anyhow::{Context, Result};
use serde_json::Value;
use sqlx::PgPool;

use super::link::{End, Link, Origin, SAMPLES};
use super::{Offenders, Probed};
use crate::catalog::{Catalog, Table};
use crate::tenancy::Tenancy;
use crate::catalog::references::inferred;
use crate::checks::{CheckId, Severity};
use crate::scenario::Scenario;

pub const ID: CheckId = CheckId::new(
    "orphan.intra",
    Severity::Error,
    r#"in one tier, rows behind a NOT VALID FK, an FK with disabled triggers, an `fk.missing` column or a declared soft reference that find no target row (for an `fk.missing` column, only rows tierguard did not write: fixed data, external servers; seeded rows take keys that exist)"#,
);

/// References inside `catalog`'s tier that no enforced FK guards (declared
/// soft references come from the scenario, with the cross-tier ones).
pub fn unguarded<'a>(catalog: &'a Catalog, scenario: &Scenario, tenancy: &'a Tenancy) -> Vec<Link<'a>> {
    let columns = |table: &'a Table, names: &[String]| names.iter().map(|c| table.column(c)).collect::<Option<Vec<_>>>();
    let mut links = Vec::new();
    for table in catalog.tables.iter().filter(|t| !t.is_partition()) {
        for (constraint, fk) in table.foreign_keys() {
            let why = match (constraint.validated, fk.triggers_enabled) {
                (true, true) => continue,
                (false, _) => format!("foreign key {} is NOT VALID: rows older than it were never checked", constraint.name),
                (true, false) => format!("the triggers of foreign key {} are disabled: no row is checked", constraint.name),
            };
            let Some(target) = catalog.table(&fk.target) else { continue };
            let (Some(columns), Some(target_columns)) = (columns(table, &constraint.columns), columns(target, &fk.target_columns))
            else {
                continue;
            };
            links.push(Link {
                from: End::new(catalog, tenancy, table, columns),
                to: End::new(catalog, tenancy, target, target_columns),
                why,
                origin: Origin::ForeignKey(format!("{}.{}", table.name, constraint.name)),
            });
        }
    }
    for reference in inferred(catalog, scenario).into_iter().filter(|r| !r.covered) {
        let Some(key) = reference.target.column(reference.key) else { continue };
        links.push(Link {
            from: End::new(catalog, tenancy, reference.table, vec![reference.column]),
            to: End::new(catalog, tenancy, reference.target, vec![key]),
            why: format!("no foreign key backs it (fk.missing): it only looks like a reference to {}", reference.target.name),
            origin: Origin::Inferred,
        });
    }
    links
}

pub async fn probe(link: &Link<'_>, pool: &PgPool) -> Result<Probed> {
    let (to, matching) = (link.to.table.name.sql(), link.matches("c", "t"));
    let orphans = offenders(link, pool, &format!("NOT EXISTS (SELECT 1 FROM {to} t WHERE {matching})"), None).await?;
    let mismatches = match (link.from.tenant_text("c"), link.to.tenant_text("t"), link.tenant_kind()) {
        (Some(tenant), Some(target_tenant), Some(_)) => {
            let condition = format!(
                // A row of no tenant, or a target of none, is nobody's to
                // cross (orphan.tenantless says so).
                "{tenant} IS NOT NULL AND EXISTS (SELECT 1 FROM {to} t WHERE {matching}) \
                 AND NOT EXISTS (SELECT 1 FROM {to} t WHERE {matching} AND ({target_tenant} IS NULL OR {target_tenant} = {tenant}))"
            );
            let target_tenant = format!("(SELECT min({target_tenant}) FROM {to} t WHERE {matching})");
            Some(offenders(link, pool, &condition, Some(&target_tenant)).await?)
        }
        _ => None,
    };
    Ok(Probed { orphans, mismatches })
}

/// Counts and lists the rows of `link.from` meeting `condition` (about
/// `c`, the referencing row); `target_tenant` (SQL) marks a mismatch listing.
async fn offenders(link: &Link<'_>, pool: &PgPool, condition: &str, target_tenant: Option<&str>) -> Result<Offenders> {
    let mismatch = target_tenant.is_some();
    let rows = format!("FROM {} c WHERE {} AND {condition}", link.from.table.name.sql(), link.from.present("c"));
    let order = link.listing_order("c", mismatch);
    let context = || format!("counting the offending rows of {}", link.describe());
    let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) {rows}"))
        .fetch_one(pool)
        .await
        .with_context(context)?;
    let samples: Vec<Value> = if count == 0 {
        Vec::new()
    } else {
        sqlx::query_scalar(&format!(
            "SELECT {} {rows} ORDER BY {order} LIMIT {SAMPLES}",
            link.sample_json("c", target_tenant)
        ))
        .fetch_all(pool)
        .await
        .with_context(context)?
    };
    Ok(Offenders {
        count: count as u64,
        samples,
        sql: format!("SELECT {} {rows} ORDER BY {order};", link.listing_columns("c", mismatch)),
    })
}
