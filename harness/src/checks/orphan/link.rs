//! A reference audited with data: the rows of one table (`from`) whose
//! columns must equal the columns of some row of another table (`to`),
//! resolved against the catalogs, and the SQL pieces every probe of it is
//! built from, so the counting queries, the samples and the SQL shown to
//! people all agree on what a key, a match and a tenant are.

use crate::catalog::{Catalog, Column, Table};
use crate::tenancy::{KeyTenants, Tenancy, TenantScope};
use crate::sql::quote_ident;
use crate::scenario::{Reference, TierColumns};

/// How many offending rows a finding shows.
pub const SAMPLES: usize = 10;

/// One side of a reference.
pub struct End<'a> {
    pub tier: &'a str,
    pub table: &'a Table,
    pub columns: Vec<&'a Column>,
    /// Where each row's tenant is found, when the table is tenant-scoped.
    pub tenant: Option<Tenant<'a>>,
}

/// The tenant of one side's rows: its own column (for the tenants table
/// itself, its key), or the column at the end of an FK path.
pub struct Tenant<'a> {
    pub scope: &'a TenantScope,
    /// The type of the column the tenant is read from.
    pub data_type: &'a str,
    /// Where the tier's tenants are another tier's rows (`TenantOf`) and
    /// the other end is in a tier of whole tenants: the tenant each of this
    /// tier's tenants belongs to, so both ends are compared as the same
    /// kind of tenant.
    pub lifted: Option<&'a KeyTenants>,
}

pub struct Link<'a> {
    pub from: End<'a>,
    pub to: End<'a>,
    /// Why no constraint guarantees this reference, said to the reader.
    pub why: String,
    pub origin: Origin,
}

/// Where an audited reference comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The scenario declares it (`[[references]]`).
    Declared,
    /// A foreign key that does not hold, named as `fk.not_enforced` names
    /// it (`schema.table.constraint`): its orphans follow from that finding.
    ForeignKey(String),
    /// A column that only looks like a reference (`fk.missing`).
    Inferred,
}

/// How the values of one column pair are sent, ordered and compared, so
/// that both servers sort exactly as the merge compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// smallint, integer, bigint on both sides: sent as int8, compared as numbers.
    Integer,
    /// uuid on both sides: ordered natively, which is the order of its 16
    /// bytes, which is what is sent.
    Uuid,
    /// Anything else: compared by text form, ordered byte-wise (`COLLATE "C"`).
    Text,
}

const INTEGER_TYPES: [&str; 3] = ["smallint", "integer", "bigint"];

impl KeyKind {
    /// The kind of a pair of values of these types.
    fn of(from: &str, to: &str) -> KeyKind {
        let both = |types: &[&str]| types.contains(&from) && types.contains(&to);
        if both(&INTEGER_TYPES) {
            KeyKind::Integer
        } else if both(&["uuid"]) {
            KeyKind::Uuid
        } else {
            KeyKind::Text
        }
    }

    /// The expression a sorted stream orders by.
    pub fn order(self, column: &str) -> String {
        match self {
            KeyKind::Integer | KeyKind::Uuid => column.to_string(),
            KeyKind::Text => format!("{column}::text COLLATE \"C\""),
        }
    }

    /// The expression a stream sends: uuids as their 16 bytes (no text
    /// form to build per row; the bytes compare in uuid order).
    pub fn output(self, column: &str) -> String {
        match self {
            KeyKind::Integer => format!("{column}::int8"),
            KeyKind::Uuid => column.to_string(),
            KeyKind::Text => format!("{column}::text"),
        }
    }
}

impl<'a> End<'a> {
    fn resolve(catalog: &'a Catalog, tenancy: &'a Tenancy, side: &TierColumns) -> Result<End<'a>, String> {
        let table = catalog
            .tables
            .iter()
            .find(|t| t.name.schema == side.table.schema && t.name.name == side.table.table)
            .ok_or_else(|| format!("tier {} has no table {}.{}", catalog.tier, side.table.schema, side.table.table))?;
        let columns = side
            .columns
            .iter()
            .map(|c| table.column(c).ok_or_else(|| format!("{} has no column {c}", side.table)))
            .collect::<Result<_, _>>()?;
        Ok(End::new(catalog, tenancy, table, columns))
    }

    pub fn new(catalog: &'a Catalog, tenancy: &'a Tenancy, table: &'a Table, columns: Vec<&'a Column>) -> End<'a> {
        let tenant = tenancy.scope(&catalog.tier, &table.name).and_then(|scope| {
            let data_type = match scope {
                TenantScope::Column(column) | TenantScope::Root(column) => &table.column(column)?.data_type,
                TenantScope::Path(path) => &catalog.table(path.end())?.column(&path.tenant_column)?.data_type,
                TenantScope::Remote(remote) => &remote.of.tenant_type,
            };
            Some(Tenant { scope, data_type, lifted: None })
        });
        End {
            tier: &catalog.tier,
            table,
            columns,
            tenant,
        }
    }

    /// `tier.schema.table`
    pub fn name(&self) -> String {
        format!("{}.{}", self.tier, self.table.name)
    }

    /// `column` or `(column,column)`
    pub fn columns_label(&self) -> String {
        match self.columns.as_slice() {
            [one] => one.name.clone(),
            many => format!("({})", many.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(",")),
        }
    }

    /// `alias."column"` of the `index`th key column.
    pub fn column(&self, alias: &str, index: usize) -> String {
        format!("{alias}.{}", quote_ident(&self.columns[index].name))
    }

    /// `alias.a IS NOT NULL AND alias.b IS NOT NULL`: a reference with a
    /// NULL column points at nothing on purpose (MATCH SIMPLE).
    pub fn present(&self, alias: &str) -> String {
        (0..self.columns.len())
            .map(|i| format!("{} IS NOT NULL", self.column(alias, i)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The key as one text value, the same on both sides for equal keys.
    pub fn key_text(&self, alias: &str) -> String {
        match self.columns.len() {
            1 => format!("{}::text", self.column(alias, 0)),
            n => format!(
                "ROW({})::text",
                (0..n).map(|i| self.column(alias, i)).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// The tenant of the row aliased `alias`: its column, or a scalar
    /// subquery up the FK path.
    pub fn tenant_sql(&self, alias: &str) -> Option<String> {
        let tenant = self.tenant.as_ref()?;
        let own = tenant.scope.tenant_sql(alias);
        Some(match &tenant.lifted {
            Some(keys) => keys.tenant_sql(&format!("({own})")),
            None => own,
        })
    }

    /// The type of the tenant [`End::tenant_sql`] gives.
    fn tenant_type(&self) -> Option<&str> {
        let tenant = self.tenant.as_ref()?;
        Some(tenant.lifted.map_or(tenant.data_type, |keys| keys.tenant_type.as_str()))
    }

    pub fn tenant_text(&self, alias: &str) -> Option<String> {
        self.tenant_sql(alias).map(|tenant| format!("{tenant}::text"))
    }

    /// The columns that name a row: its primary key, else its physical place.
    fn identity(&self) -> Vec<String> {
        match self.table.primary_key() {
            Some(pk) => pk.columns.clone(),
            None => vec!["ctid".to_string()],
        }
    }
}

impl<'a> Link<'a> {
    /// A reference the scenario declares, resolved in the catalogs.
    pub fn declared(reference: &Reference, catalogs: &[&'a Catalog], tenancy: &'a Tenancy) -> Result<Link<'a>, String> {
        let end = |side: &TierColumns| {
            let catalog = catalogs
                .iter()
                .find(|c| c.tier == side.table.tier)
                .ok_or_else(|| format!("no tier {}", side.table.tier))?;
            End::resolve(catalog, tenancy, side)
        };
        Ok(Link {
            from: end(&reference.from)?,
            to: end(&reference.to)?,
            why: "a reference the scenario declares: no foreign key enforces it".into(),
            origin: Origin::Declared,
        })
    }

    pub fn is_cross_tier(&self) -> bool {
        self.from.tier != self.to.tier
    }

    /// `schema.table.column` (or `.(a,b)`) of the referencing side.
    pub fn object(&self) -> String {
        format!("{}.{}", self.from.table.name, self.from.columns_label())
    }

    /// `tier.schema.table.column=tier.schema.table.column`
    pub fn describe(&self) -> String {
        format!(
            "{}.{} → {}.{}",
            self.from.name(),
            self.from.columns_label(),
            self.to.name(),
            self.to.columns_label()
        )
    }

    pub fn kinds(&self) -> Vec<KeyKind> {
        self.from
            .columns
            .iter()
            .zip(&self.to.columns)
            .map(|(f, t)| KeyKind::of(&f.data_type, &t.data_type))
            .collect()
    }

    /// How the two sides' tenants are sent and compared, when the target
    /// can belong to another tenant: both sides are tenant-scoped, and a
    /// match is not the same tenant by construction, as it is when the
    /// reference pairs the two tenant columns, when it is the first hop
    /// of the FK path the referencing rows' tenant is found by, or when it
    /// is the reference to another tier they are read through.
    pub fn tenant_kind(&self) -> Option<KeyKind> {
        let (from, to) = (self.from.tenant.as_ref()?, self.to.tenant.as_ref()?);
        let names = |columns: &[&Column]| columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        let by_construction = match (from.scope, to.scope.column()) {
            (TenantScope::Path(path), _) => {
                let hop = &path.hops[0];
                !self.is_cross_tier()
                    && hop.target == self.to.table.name
                    && hop.columns == names(&self.from.columns)
                    && hop.target_columns == names(&self.to.columns)
            }
            // The reference the rows' tenant is read through.
            (TenantScope::Remote(remote), _) => {
                self.to.tier == remote.of.tier
                    && self.to.table.name == remote.of.table
                    && names(&self.from.columns) == [remote.column.clone()]
                    && names(&self.to.columns) == [remote.of.key.clone()]
            }
            (scope, Some(to_tenant)) => {
                let from_tenant = scope.column().expect("a scope other than a path has a column");
                self.from
                    .columns
                    .iter()
                    .zip(&self.to.columns)
                    .any(|(f, t)| f.name == from_tenant && t.name == to_tenant)
            }
            (_, None) => false,
        };
        (!by_construction).then(|| KeyKind::of(self.from.tenant_type().unwrap_or(from.data_type), self.to.tenant_type().unwrap_or(to.data_type)))
    }

    /// `from_alias.a = to_alias.x AND ...`, comparing text forms where the
    /// two columns' types differ (as the streams do).
    pub fn matches(&self, from_alias: &str, to_alias: &str) -> String {
        self.kinds()
            .iter()
            .enumerate()
            .map(|(i, kind)| {
                let (f, t) = (self.from.column(from_alias, i), self.to.column(to_alias, i));
                if *kind == KeyKind::Text && self.from.columns[i].data_type != self.to.columns[i].data_type {
                    format!("{f}::text = {t}::text")
                } else {
                    format!("{f} = {t}")
                }
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The order offending rows are listed in: key, then (for tenant
    /// mismatches) the row's tenant, then the row's identity.
    pub fn listing_order(&self, alias: &str, by_tenant: bool) -> String {
        let mut order = self.key_order(&self.from, alias);
        if let (true, Some(tenant)) = (by_tenant, self.from.tenant_sql(alias)) {
            order.push(tenant);
        }
        order.extend(self.from.identity().iter().map(|c| format!("{alias}.{}", quote_ident(c))));
        order.join(", ")
    }

    /// Sort expressions of one side's key, as the streams order it.
    pub fn key_order(&self, end: &End<'_>, alias: &str) -> Vec<String> {
        self.kinds()
            .iter()
            .enumerate()
            .map(|(i, kind)| kind.order(&end.column(alias, i)))
            .collect()
    }

    /// Send expressions of one side's key.
    pub fn key_output(&self, end: &End<'_>, alias: &str) -> Vec<String> {
        self.kinds()
            .iter()
            .enumerate()
            .map(|(i, kind)| kind.output(&end.column(alias, i)))
            .collect()
    }

    /// What a person reads of an offending row: its identity, its key, and
    /// (for tenant mismatches) its tenant.
    pub fn listing_columns(&self, alias: &str, with_tenant: bool) -> String {
        let mut columns: Vec<String> = self.from.identity().iter().map(|c| format!("{alias}.{}", quote_ident(c))).collect();
        for i in 0..self.from.columns.len() {
            let column = self.from.column(alias, i);
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
        if let (true, Some(tenant)) = (with_tenant, self.from.tenant_sql(alias)) {
            if !columns.contains(&tenant) {
                columns.push(tenant);
            }
        }
        columns.join(", ")
    }

    /// One offending row as JSON: `{"row": {identity}, "value": {key}}`,
    /// plus `tenant` and `target_tenant` (given as SQL) for a mismatch.
    pub fn sample_json(&self, alias: &str, target_tenant: Option<&str>) -> String {
        let object = |columns: Vec<&str>| {
            columns
                .iter()
                .map(|c| format!("'{}', {alias}.{}", c.replace('\'', "''"), quote_ident(c)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let identity = self.from.identity();
        let mut json = format!(
            "json_build_object('row', json_build_object({}), 'value', json_build_object({})",
            object(identity.iter().map(String::as_str).collect()),
            object(self.from.columns.iter().map(|c| c.name.as_str()).collect())
        );
        if let (Some(target_tenant), Some(tenant)) = (target_tenant, self.from.tenant_text(alias)) {
            json.push_str(&format!(", 'tenant', {tenant}, 'target_tenant', {target_tenant}"));
        }
        json.push(')');
        json
    }
}
