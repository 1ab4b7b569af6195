//! How a table's rows belong to a tenant: the column that holds it, the
//! tenants table's own key, a path of FK hops up to a table that holds it,
//! or a reference to such a table in another tier; and the SQL that reads a
//! row's tenant each way.

use std::sync::Arc;

use serde::Serialize;
use sqlx::PgPool;

use crate::catalog::Catalog;
use crate::sql::{quote_ident, quote_literal, QualName};

/// How a table's rows belong to a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    /// The table carries the tenant in this column.
    Column(String),
    /// The table is the tenants table itself: this key column is the tenant id.
    Root(String),
    /// The table has no tenant column: its rows' tenant is found by
    /// following these FK hops.
    Path(TenantPath),
    /// The table has neither a tenant column nor a path in its own tier:
    /// its rows' tenant is that of the row of another tier its column
    /// names (a declared reference, `olap.rollups.company_id` ->
    /// `oltp.companies.id`).
    Remote(RemoteTenant),
}

/// A table's tenant, read through a reference to another tier's tenant
/// table: `column` holds a key of `of`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTenant {
    /// This table's referencing column.
    pub column: String,
    pub of: KeyTenants,
}

impl std::fmt::Display for RemoteTenant {
    /// `company_id -> oltp.public.companies.id => tenant_id`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {} => {}", self.column, self.of, self.of.tenant_column)
    }
}

/// A key of another tier's tenant table and the tenant its row belongs to:
/// how a tier reaches tenants held in another database. That database is
/// read once per run, when the checks start (`Tenancy::with_remote_mappings`),
/// and each key is looked up in SQL on this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyTenants {
    pub tier: String,
    pub table: QualName,
    pub key: String,
    /// The table's tenant column, and its type.
    pub tenant_column: String,
    pub tenant_type: String,
    /// `{"<key>": "<tenant>", ...}` as read, or why it could not be; `None`
    /// until read.
    #[serde(skip)]
    pub mapping: Option<Result<Arc<str>, String>>,
}

impl KeyTenants {
    /// `tier`'s `table`, keyed on `key`, carrying its tenant in
    /// `tenant_column`; `None` when the catalogs have no such column.
    pub fn of(catalogs: &[Catalog], tier: &str, table: QualName, key: &str, tenant_column: &str) -> Option<KeyTenants> {
        let found = catalogs.iter().filter(|c| c.tier == tier).find_map(|c| c.table(&table))?;
        found.column(key)?;
        Some(KeyTenants {
            tier: tier.to_string(),
            tenant_type: found.column(tenant_column)?.data_type.clone(),
            table,
            key: key.to_string(),
            tenant_column: tenant_column.to_string(),
            mapping: None,
        })
    }

    /// Reads the mapping from its tier (one of `tiers`).
    pub async fn read(&mut self, tiers: &[(&Catalog, &PgPool)]) {
        let (key, tenant) = (quote_ident(&self.key), quote_ident(&self.tenant_column));
        let sql = format!(
            "SELECT coalesce(jsonb_object_agg(t.{key}::text, t.{tenant}::text) FILTER (WHERE t.{key} IS NOT NULL), '{{}}')::text FROM {} t",
            self.table.sql()
        );
        let read = match tiers.iter().find(|(c, _)| c.tier == self.tier) {
            Some((_, pool)) => sqlx::query_scalar::<_, String>(&sql).fetch_one(*pool).await.map(Arc::from).map_err(|e| e.to_string()),
            None => Err(format!("tier {} is not audited in this run", self.tier)),
        };
        self.mapping = Some(read);
    }

    /// The tenant of the key `expr` evaluates to (NULL for a key it does
    /// not hold, and for every key while the mapping is not read).
    pub fn tenant_sql(&self, expr: &str) -> String {
        let mapping = match &self.mapping {
            Some(Ok(mapping)) => quote_literal(mapping),
            _ => "NULL".to_string(),
        };
        format!("({mapping}::jsonb ->> {expr}::text)::{}", self.tenant_type)
    }
}

impl std::fmt::Display for KeyTenants {
    /// `oltp.public.companies.id`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.tier, self.table, self.key)
    }
}

impl TenantScope {
    /// The column of this table that holds the tenant id; `None` for a path.
    pub fn column(&self) -> Option<&str> {
        match self {
            TenantScope::Column(c) | TenantScope::Root(c) => Some(c),
            TenantScope::Path(_) | TenantScope::Remote(_) => None,
        }
    }

    /// An SQL expression for the tenant of the row aliased `row` (an alias
    /// the caller's query gives the table, used as is).
    pub fn tenant_sql(&self, row: &str) -> String {
        match self {
            TenantScope::Column(c) | TenantScope::Root(c) => format!("{row}.{}", quote_ident(c)),
            TenantScope::Path(path) => path.tenant_sql(row),
            TenantScope::Remote(remote) => remote.of.tenant_sql(&format!("{row}.{}", quote_ident(&remote.column))),
        }
    }

    /// Where the tenant is read, for messages: `column tenant_id`, `the path ...`.
    pub fn source(&self) -> String {
        match self {
            TenantScope::Column(c) | TenantScope::Root(c) => format!("column {c}"),
            TenantScope::Path(path) => format!("the path {path}"),
            TenantScope::Remote(remote) => format!("the reference {remote}"),
        }
    }
}

/// A chain of FK hops from a table without the tenant column to a table
/// that carries it (or to the tenants table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantPath {
    /// In order: the first starts at the scoped table, each next one at the
    /// previous hop's target.
    pub hops: Vec<PathHop>,
    /// The column of the last hop's target that holds the tenant id.
    pub tenant_column: String,
    /// Declared in the scenario (`[tenancy.paths]`) rather than inferred.
    pub declared: bool,
    /// A hop's columns may be NULL: such rows belong to no tenant.
    pub nullable: bool,
}

/// One hop: `columns` of the current table reference `target_columns` of
/// `target` (same tier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathHop {
    pub columns: Vec<String>,
    pub target: QualName,
    pub target_columns: Vec<String>,
    /// The FK enforcing the hop. Always set on inferred hops; `None` on a
    /// declared hop that no FK backs (the reference is only logical).
    pub constraint: Option<String>,
}

impl TenantPath {
    /// The table at the end of the path, which holds `tenant_column`.
    pub fn end(&self) -> &QualName {
        &self.hops.last().expect("a tenant path has at least one hop").target
    }

    /// A scalar subquery giving the tenant of the row aliased `row`: one
    /// join per hop, `hop1`..`hopN`.
    pub fn tenant_sql(&self, row: &str) -> String {
        let columns = |alias: &str, cols: &[String]| -> Vec<String> {
            cols.iter().map(|c| format!("{alias}.{}", quote_ident(c))).collect()
        };
        let equal = |left: Vec<String>, right: Vec<String>| -> String {
            left.iter()
                .zip(&right)
                .map(|(l, r)| format!("{l} = {r}"))
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        let mut from = String::new();
        let mut previous = row.to_string();
        let mut condition = String::new();
        for (i, hop) in self.hops.iter().enumerate() {
            let alias = format!("hop{}", i + 1);
            let on = equal(columns(&alias, &hop.target_columns), columns(&previous, &hop.columns));
            if i == 0 {
                from = format!("{} {alias}", hop.target.sql());
                condition = on;
            } else {
                from.push_str(&format!(" JOIN {} {alias} ON {on}", hop.target.sql()));
            }
            previous = alias;
        }
        format!(
            "(SELECT {previous}.{} FROM {from} WHERE {condition})",
            quote_ident(&self.tenant_column)
        )
    }
}

impl std::fmt::Display for TenantPath {
    /// `task_id -> public.workspace_tasks.id, ... => public.projects.organization_id`
    /// (the hops in the scenario's syntax, then where the tenant is read).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hops: Vec<String> = self.hops.iter().map(PathHop::to_string).collect();
        write!(f, "{} => {}.{}", hops.join(", "), self.end(), self.tenant_column)
    }
}

impl std::fmt::Display for PathHop {
    /// `task_id -> public.workspace_tasks.id`, or for a composite key
    /// `(a, b) -> public.workspaces(x, y)`: as `[tenancy.paths]` spells it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |c: &[String]| match c {
            [one] => one.clone(),
            _ => format!("({})", c.join(", ")),
        };
        match self.target_columns.as_slice() {
            [one] => write!(f, "{} -> {}.{one}", list(&self.columns), self.target),
            many => write!(f, "{} -> {}{}", list(&self.columns), self.target, list(many)),
        }
    }
}
