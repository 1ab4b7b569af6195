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
use crate::scenario::Certification;
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

/// The ground truth of one table: each row's id, owner and key (of a
/// sample of its rows, for a table too large to read whole).
pub struct Truth {
    pub owner: HashMap<String, String>,
    /// Row id → `ROW(primary key)::text`, to address a row as the app would.
    pub key: HashMap<String, String>,
    /// Row id → the primary key's values as text, column by column.
    pub key_values: HashMap<String, Vec<String>>,
    pub key_expr: Option<String>,
    /// Set when only a sample of the rows was read.
    pub sample: Option<Sample>,
}

/// How a large table's ground truth was read: every tenant's rows counted
/// in one pass, and the rows themselves for a seeded BERNOULLI sample (the
/// same rows run after run, each row in it independently of the others).
pub struct Sample {
    pub table_rows: u64,
    pub percent: f64,
    pub seed: u64,
    /// Tenant → its rows in the whole table ("" for rows of no tenant).
    pub counts: HashMap<String, u64>,
}

impl Truth {
    /// Reads the ground truth of `table`: whole, or, when it holds more
    /// than `certification.sample_rows` rows, for a sample of about that
    /// many drawn with `seed`.
    pub async fn read(pool: &PgPool, table: &Table, scope: &TenantScope, certification: &Certification, seed: u64) -> Result<Truth, sqlx::Error> {
        let tenant = scope.tenant_sql("t");
        let name = table.name.sql();
        let sample = match certification.sample_rows {
            0 => None,
            limit => {
                let bounded = format!("SELECT count(*) FROM (SELECT FROM {name} LIMIT {}) r", limit + 1);
                let rows: i64 = settled(async || sqlx::query_scalar(&bounded).fetch_one(pool).await, |_| false).await?;
                match certification.samples(rows as u64) {
                    true => Some(Sample::draw(pool, &name, &tenant, limit, seed).await?),
                    false => None,
                }
            }
        };
        let pk: Vec<String> = table.primary_key().map(|pk| pk.columns.iter().map(|c| quote_ident(c)).collect()).unwrap_or_default();
        let key_expr = key_text(table);
        let key_values: Vec<String> = pk.iter().map(|c| format!("{c}::text")).collect();
        let sql = format!(
            "SELECT {ROW_ID}, ({tenant})::text, {}, ARRAY[{}]::text[] FROM {name} t{}",
            key_expr.as_deref().unwrap_or("NULL::text"),
            key_values.join(", "),
            sample.as_ref().map(Sample::clause).unwrap_or_default()
        );
        // (row id, owner, key, key values)
        type Row = (String, Option<String>, Option<String>, Vec<String>);
        let rows: Vec<Row> = settled(async || sqlx::query_as(&sql).fetch_all(pool).await, |_| false).await?;
        let mut truth = Truth {
            owner: HashMap::new(),
            key: HashMap::new(),
            key_values: HashMap::new(),
            key_expr,
            sample,
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

    /// A tenant's rows in the whole table (not only the sample).
    pub fn count_of(&self, tenant: &str) -> usize {
        match &self.sample {
            Some(sample) => sample.counts.get(tenant).copied().unwrap_or(0) as usize,
            None => self.owner.values().filter(|o| o.as_str() == tenant).count(),
        }
    }

    /// The owners of the rows among `seen` this truth does not know (rows
    /// outside the sample a probe returned), read by their ids. Empty for
    /// a truth read whole: it knows every row.
    pub async fn look_up(&self, pool: &PgPool, table: &Table, scope: &TenantScope, seen: &[String]) -> Result<HashMap<String, String>, sqlx::Error> {
        let unknown: HashSet<&String> = seen.iter().filter(|id| !self.owner.contains_key(*id)).collect();
        if self.sample.is_none() || unknown.is_empty() {
            return Ok(HashMap::new());
        }
        let ctids: Vec<&str> = unknown.iter().filter_map(|id| id.rsplit_once('/').map(|(_, ctid)| ctid)).collect();
        let sql = format!(
            "SELECT {ROW_ID}, coalesce(({})::text, '') FROM {} t WHERE ctid = ANY($1::text[]::tid[])",
            scope.tenant_sql("t"),
            table.name.sql()
        );
        let rows: Vec<(String, String)> = sqlx::query_as(&sql).bind(ctids).fetch_all(pool).await?;
        Ok(rows.into_iter().filter(|(id, _)| unknown.contains(id)).collect())
    }

    /// The ctids (`(block,offset)`) of the first `limit` rows of `tenant`
    /// this truth holds, in key order.
    pub fn ctids_of(&self, tenant: &str, limit: usize) -> Vec<String> {
        self.rows_of(tenant).take(limit).filter_map(|id| id.rsplit_once('/').map(|(_, ctid)| ctid.to_string())).collect()
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

    /// Rows that belong to no tenant (in the whole table).
    pub fn tenantless(&self) -> usize {
        self.count_of("")
    }
}

impl Sample {
    /// Counts every tenant's rows and picks the sampling rate that draws
    /// about `rows` of them.
    async fn draw(pool: &PgPool, name: &str, tenant: &str, rows: u64, seed: u64) -> Result<Sample, sqlx::Error> {
        let sql = format!("SELECT coalesce(({tenant})::text, ''), count(*) FROM {name} t GROUP BY 1");
        let counted: Vec<(String, i64)> = settled(async || sqlx::query_as(&sql).fetch_all(pool).await, |_| false).await?;
        let counts: HashMap<String, u64> = counted.into_iter().map(|(t, n)| (t, n as u64)).collect();
        let table_rows = counts.values().sum::<u64>().max(1);
        // Four decimals: the rate a person re-running the sample types is the one used.
        let percent = ((100.0 * rows as f64 / table_rows as f64).min(100.0) * 1e4).round().max(1.0) / 1e4;
        // REPEATABLE takes a float8: the seed's low 52 bits keep it exact.
        Ok(Sample { table_rows, percent, seed: seed & ((1 << 52) - 1), counts })
    }

    /// ` TABLESAMPLE BERNOULLI (p) REPEATABLE (s)`, after the table's alias.
    fn clause(&self) -> String {
        format!(" TABLESAMPLE BERNOULLI ({}) REPEATABLE ({})", self.percent, self.seed)
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
