//! `orphan.tenantless` (info): rows of a tenant table that belong to no
//! tenant, because its tenant column, or a reference on its way to the
//! tenant (a nullable FK the tenancy follows), is NULL. No tenant owns
//! them, so no read verdict covers them (the read probes leave them out):
//! said once per table, with the rows, so a person can tell "shared on
//! purpose" from "an import that forgot the tenant". Seeded rows always
//! have a tenant; these come from data files, a migration's own rows or an
//! external database.

use anyhow::{Context, Result};
use sqlx::PgPool;

use super::link::SAMPLES;
use crate::catalog::{Catalog, Table};
use crate::checks::{CheckId, Finding, Severity};
use crate::sql::quote_ident;
use crate::tenancy::{Tenancy, TenantScope};

pub const ID: CheckId = CheckId::new(
    "orphan.tenantless",
    Severity::Info,
    r#"rows of a tenant table belong to no tenant: the tenant column, or a nullable reference on the way to the tenant, is NULL (no tenant's read verdict covers them; info)"#,
);

/// One verdict per tenant table of `catalog` whose rows can lack a tenant.
pub async fn probe(catalog: &Catalog, pool: &PgPool, tenancy: &Tenancy) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (table, scope) in tenancy.scoped_tables(catalog).filter(|(t, s)| !t.is_partition() && may_lack_tenant(catalog, t, s)) {
        findings.push(match count(pool, table, scope).await {
            Ok((0, _)) => ID.pass(&catalog.tier, &table.name, format!("every row has a tenant ({})", scope.source())),
            Ok((count, samples)) => ID
                .fail(
                    &catalog.tier,
                    &table.name,
                    format!(
                        "{count} row(s) of {} belong to no tenant ({} is NULL): no tenant's read verdict covers them; \
                         where NULL means shared with every tenant on purpose that is what they are, else give them their tenant",
                        table.name,
                        scope.source()
                    ),
                )
                .detail("count", count)
                .detail("samples", samples)
                .detail("sql", listing(table, scope)),
            Err(e) => ID.error(&catalog.tier, &table.name, format!("could not count the rows of no tenant: {e:#}")),
        });
    }
    findings
}

/// Whether the schema lets a row of `table` have no tenant.
fn may_lack_tenant(catalog: &Catalog, table: &Table, scope: &TenantScope) -> bool {
    let nullable = |table: &Table, column: &str| table.column(column).is_some_and(|c| !c.not_null);
    match scope {
        TenantScope::Root(_) => false,
        TenantScope::Column(column) => nullable(table, column),
        TenantScope::Remote(remote) => nullable(table, &remote.column),
        TenantScope::Path(path) => path.nullable || catalog.table(path.end()).is_some_and(|end| nullable(end, &path.tenant_column)),
    }
}

/// `SELECT` of the rows of no tenant, in key order.
fn listing(table: &Table, scope: &TenantScope) -> String {
    let order = match table.primary_key() {
        Some(pk) => pk.columns.iter().map(|c| format!("t.{}", quote_ident(c))).collect::<Vec<_>>().join(", "),
        None => "t.ctid".to_string(),
    };
    format!("SELECT t.* FROM {} t WHERE ({}) IS NULL ORDER BY {order}", table.name.sql(), scope.tenant_sql("t"))
}

/// How many rows have no tenant, and the first few as JSON.
async fn count(pool: &PgPool, table: &Table, scope: &TenantScope) -> Result<(u64, Vec<serde_json::Value>)> {
    let listing = listing(table, scope);
    let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM ({listing}) rows"))
        .fetch_one(pool)
        .await
        .context("counting")?;
    let samples: Vec<serde_json::Value> = sqlx::query_scalar(&format!("SELECT to_jsonb(rows) FROM ({listing} LIMIT {SAMPLES}) rows"))
        .fetch_all(pool)
        .await
        .context("sampling")?;
    Ok((count as u64, samples))
}
