//! Which tenants a tier holds and which rows belong to which of them, as
//! the database holds them: the ground truth every isolation verdict is
//! taken against (a principal may see the rows of its own tenants and no
//! other). Read as the superuser, through each table's tenant scope, once
//! per table and tier.

use std::collections::{HashMap, HashSet};

use sqlx::PgPool;

use super::acting::settled;
use super::{Tenancy, TenantScope};
use crate::catalog::{Catalog, Table};
use crate::sql::quote_ident;

/// `tableoid/ctid`: identifies a row for both the superuser and the app,
/// with or without a primary key, also across partitions.
pub const ROW_ID: &str = "(tableoid::regclass::text || '/' || ctid::text)";

/// `ROW(primary key)::text`: a row's key as the app would address it;
/// None without a primary key.
pub fn key_text(table: &Table) -> Option<String> {
    let pk = table.primary_key()?;
    let columns: Vec<String> = pk.columns.iter().map(|c| quote_ident(c)).collect();
    Some(format!("ROW({})::text", columns.join(", ")))
}

/// The ground truth of one table: each row's id, owner and key.
pub struct Truth {
    pub owner: HashMap<String, String>,
    /// Row id → `ROW(primary key)::text`, to address a row as the app would.
    pub key: HashMap<String, String>,
    /// Row id → the primary key's values as text, column by column.
    pub key_values: HashMap<String, Vec<String>>,
    pub key_expr: Option<String>,
}

impl Truth {
    pub async fn read(pool: &PgPool, table: &Table, scope: &TenantScope) -> Result<Truth, sqlx::Error> {
        let pk: Vec<String> = table.primary_key().map(|pk| pk.columns.iter().map(|c| quote_ident(c)).collect()).unwrap_or_default();
        let key_expr = key_text(table);
        let key_values: Vec<String> = pk.iter().map(|c| format!("{c}::text")).collect();
        let sql = format!(
            "SELECT {ROW_ID}, ({})::text, {}, ARRAY[{}]::text[] FROM {} t",
            scope.tenant_sql("t"),
            key_expr.as_deref().unwrap_or("NULL::text"),
            key_values.join(", "),
            table.name.sql()
        );
        // (row id, owner, key, key values)
        type Row = (String, Option<String>, Option<String>, Vec<String>);
        let rows: Vec<Row> = settled(async || sqlx::query_as(&sql).fetch_all(pool).await, |_| false).await?;
        let mut truth = Truth {
            owner: HashMap::new(),
            key: HashMap::new(),
            key_values: HashMap::new(),
            key_expr,
        };
        for (id, owner, key, values) in rows {
            truth.owner.insert(id.clone(), owner.unwrap_or_default());
            if let Some(key) = key {
                truth.key.insert(id.clone(), key);
                truth.key_values.insert(id, values);
            }
        }
        Ok(truth)
    }

    /// `ROW(key) = '...'` for the first of `owner`'s rows.
    pub fn by_key(&self, owner: &str) -> Option<String> {
        self.by_key_free(owner, &HashSet::new())
    }

    /// `ROW(key) = '...'` for the first of `owner`'s rows not in `held`
    /// (else the first of all).
    pub fn by_key_free(&self, owner: &str, held: &HashSet<String>) -> Option<String> {
        let key_expr = self.key_expr.as_ref()?;
        let row = self.rows_of(owner).find(|id| !held.contains(*id)).or_else(|| self.rows_of(owner).next())?;
        Some(format!("{key_expr} = {}", crate::sql::quote_literal(self.key.get(row)?)))
    }

    /// A tenant's rows, in the order of their keys: the seed decides it,
    /// not where the server happened to put each row.
    pub fn rows_of<'t>(&'t self, tenant: &'t str) -> impl Iterator<Item = &'t String> + 't {
        let mut rows: Vec<&String> = self.owner.iter().filter(|(_, o)| o.as_str() == tenant).map(|(id, _)| id).collect();
        rows.sort_by(|a, b| self.key.get(*a).cmp(&self.key.get(*b)).then(a.cmp(b)));
        rows.into_iter()
    }

    /// Rows in `seen` that belong to a tenant other than `tenant` (a row
    /// of no tenant, NULL along a nullable path, is nobody's to leak).
    pub fn foreign<'s>(&self, seen: &'s [String], tenant: &str) -> Vec<&'s String> {
        seen.iter().filter(|id| self.owner.get(*id).is_some_and(|o| !o.is_empty() && o != tenant)).collect()
    }

    /// Rows that belong to no tenant.
    pub fn tenantless(&self) -> usize {
        self.owner.values().filter(|o| o.is_empty()).count()
    }
}

/// The tenants whose rows a tier holds, as its tenant tables say (up to 50
/// per table, in text order): whom to act as where tierguard seeded nothing.
pub async fn tenants(tenancy: &Tenancy, catalog: &Catalog, pool: &PgPool) -> Vec<String> {
    let mut found = std::collections::BTreeSet::new();
    for (table, scope) in tenancy.scoped_tables(catalog) {
        let tenant = scope.tenant_sql("t");
        let sql = format!(
            "SELECT DISTINCT ({tenant})::text FROM {} t WHERE ({tenant}) IS NOT NULL ORDER BY 1 LIMIT 50",
            table.name.sql()
        );
        if let Ok(values) = sqlx::query_scalar::<_, String>(&sql).fetch_all(pool).await {
            found.extend(values);
        }
    }
    found.into_iter().collect()
}
