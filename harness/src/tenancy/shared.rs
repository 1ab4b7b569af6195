//! The tables tierguard does not read as tenant tables, and why: shared by
//! design (plans, currencies, feature flags: no tenant column, no path to
//! a tenant), or of an unknown tenancy, where the catalog hints at a tenant
//! that tierguard could not find. A run prints both, once, so a wrong
//! guess is seen and declared rather than silently passed.

use serde::{Deserialize, Serialize};

use super::Tenancy;
use crate::catalog::{Catalog, Table};
use crate::scenario::{Scenario, TierTable};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Unscoped {
    pub tier: String,
    pub table: String,
    pub class: Class,
    pub why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Global by design: no isolation probe applies.
    Shared,
    /// Probably per tenant (a policy reads the tenant setting), but no
    /// tenant column or FK path says whose: not probed until declared.
    Unknown,
}

/// Every table of `catalog` outside the tenancy (partitions are judged with
/// their parent), in catalog order.
pub(super) fn unscoped(scenario: &Scenario, tenancy: &Tenancy, catalog: &Catalog) -> Vec<Unscoped> {
    let declared = |table: &Table| scenario.tenancy.shared.contains(&TierTable::of(&catalog.tier, &table.name));
    let declare = format!(
        "declare it: [tenancy.columns] \"{tier}.<schema.table>\" = \"COLUMN\" if it carries the tenant in a column, [tenancy.paths] \"{tier}.<schema.table>\" = [...] if its rows reach a tenant through references, or tenancy.shared = [\"{tier}.<schema.table>\"] if they belong to no tenant",
        tier = catalog.tier
    );
    catalog
        .tables
        .iter()
        .filter(|t| !t.is_partition() && tenancy.scope(&catalog.tier, &t.name).is_none())
        .map(|table| {
            let (class, why) = if declared(table) {
                (Class::Shared, "declared in tenancy.shared".to_string())
            } else if let Some(policy) = reads_tenant_setting(tenancy.guc(&catalog.tier), table) {
                let why = format!("its policy {policy} reads the tenant setting, but it has no tenant column and no NOT NULL FK path to a tenant table; {declare}");
                (Class::Unknown, why)
            } else {
                (Class::Shared, "inferred: no tenant column, no FK path to a tenant table, no policy reading the tenant setting".to_string())
            };
            Unscoped {
                tier: catalog.tier.clone(),
                table: table.name.to_string(),
                class,
                why,
            }
        })
        .collect()
}

/// The first policy of `table` that reads the tenant setting.
fn reads_tenant_setting<'t>(guc: Option<&str>, table: &'t Table) -> Option<&'t str> {
    let guc = guc?;
    table
        .policies
        .iter()
        .find(|p| p.using.iter().chain(&p.with_check).any(|e| e.contains(guc)))
        .map(|p| p.name.as_str())
}
