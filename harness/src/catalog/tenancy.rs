//! Which tables hold tenant rows, which setting carries the tenant, and which
//! role the application uses: given by the scenario, else inferred from the
//! catalogs of all tiers together. The one place that decides tenancy, so
//! checks, seeding and probes agree on it.

use std::collections::{BTreeMap, HashMap};

use regex::Regex;

use super::{Catalog, QualName, Table};
use crate::scenario::{Scenario, TierTable};

/// Column names that usually carry the tenant, most likely first.
const TENANT_COLUMN_CANDIDATES: [&str; 8] = [
    "tenant_id",
    "organization_id",
    "org_id",
    "account_id",
    "company_id",
    "workspace_id",
    "customer_id",
    "team_id",
];

/// How a table's rows belong to a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    /// The table carries the tenant in this column.
    Column(String),
    /// The table is the tenants table itself: this key column is the tenant id.
    Root(String),
}

impl TenantScope {
    pub fn column(&self) -> &str {
        match self {
            TenantScope::Column(c) | TenantScope::Root(c) => c,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Tenancy {
    pub column: Option<String>,
    pub guc: Option<String>,
    pub app_role: Option<String>,
    /// Tenant-scoped tables per tier (partitions excluded: they are reached
    /// through their parent).
    scoped: BTreeMap<String, BTreeMap<QualName, TenantScope>>,
}

impl Tenancy {
    pub fn infer(scenario: &Scenario, catalogs: &[Catalog]) -> Tenancy {
        let hints = &scenario.tenancy;
        let column = hints.column.clone().or_else(|| infer_column(catalogs));
        let guc = hints.guc.clone().or_else(|| infer_guc(catalogs));
        let mut scoped: BTreeMap<String, BTreeMap<QualName, TenantScope>> = BTreeMap::new();
        if let Some(column) = &column {
            let shared = |tier: &str, table: &Table| {
                hints.shared.iter().any(|s| {
                    s == &TierTable {
                        tier: tier.to_string(),
                        schema: table.name.schema.clone(),
                        table: table.name.name.clone(),
                    }
                })
            };
            for catalog in catalogs {
                let tier = scoped.entry(catalog.tier.clone()).or_default();
                for table in catalog.tables.iter().filter(|t| !t.is_partition()) {
                    if table.column(column).is_some() && !shared(&catalog.tier, table) {
                        tier.insert(table.name.clone(), TenantScope::Column(column.clone()));
                    }
                    // The target of a tenant-column FK is the tenants table.
                    for (constraint, fk) in table.foreign_keys() {
                        if constraint.columns == [column.clone()] {
                            tier.insert(fk.target.clone(), TenantScope::Root(fk.target_columns[0].clone()));
                        }
                    }
                }
            }
            // Likewise the target of a reference of the tenant column alone.
            for reference in scenario.references.iter().filter(|r| r.from.columns == [column.clone()]) {
                let to = &reference.to;
                scoped.entry(to.table.tier.clone()).or_default().insert(
                    QualName {
                        schema: to.table.schema.clone(),
                        name: to.table.table.clone(),
                    },
                    TenantScope::Root(to.columns[0].clone()),
                );
            }
        }
        let mut tenancy = Tenancy {
            column,
            guc,
            app_role: None,
            scoped,
        };
        tenancy.app_role = hints.app_role.clone().or_else(|| tenancy.infer_app_role(catalogs));
        tenancy
    }

    pub fn scope(&self, tier: &str, table: &QualName) -> Option<&TenantScope> {
        self.scoped.get(tier)?.get(table)
    }

    /// Tenant-scoped tables of a tier, in name order.
    pub fn scoped_tables<'c>(&'c self, catalog: &'c Catalog) -> impl Iterator<Item = (&'c Table, &'c TenantScope)> {
        catalog
            .tables
            .iter()
            .filter_map(move |t| self.scope(&catalog.tier, &t.name).map(|s| (t, s)))
    }

    /// The role granted most privileges on tenant tables, not counting
    /// owners, superusers and PUBLIC.
    fn infer_app_role(&self, catalogs: &[Catalog]) -> Option<String> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for catalog in catalogs {
            for (table, _) in self.scoped_tables(catalog) {
                for grant in &table.grants {
                    let superuser = catalog.role(&grant.grantee).is_some_and(|r| r.superuser);
                    if grant.grantee != "public" && grant.grantee != table.owner && !superuser {
                        *counts.entry(grant.grantee.clone()).or_default() += grant.privileges.len();
                    }
                }
            }
        }
        counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .map(|(role, _)| role)
    }
}

/// The candidate column present in the most tables (ties: the likelier name).
fn infer_column(catalogs: &[Catalog]) -> Option<String> {
    TENANT_COLUMN_CANDIDATES
        .iter()
        .map(|candidate| {
            let count = catalogs
                .iter()
                .flat_map(|c| &c.tables)
                .filter(|t| t.column(candidate).is_some())
                .count();
            (candidate, count)
        })
        .filter(|(_, count)| *count > 0)
        .max_by(|a, b| a.1.cmp(&b.1).then(std::cmp::Ordering::Greater))
        .map(|(candidate, _)| candidate.to_string())
}

/// The setting that policies read with `current_setting()` most often.
fn infer_guc(catalogs: &[Catalog]) -> Option<String> {
    let pattern = Regex::new(r"current_setting\('([^']+)'").expect("valid regex");
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for policy in catalogs.iter().flat_map(|c| &c.tables).flat_map(|t| &t.policies) {
        for expr in [&policy.using, &policy.with_check].into_iter().flatten() {
            for capture in pattern.captures_iter(expr) {
                *counts.entry(capture[1].to_string()).or_default() += 1;
            }
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(guc, _)| guc)
}
