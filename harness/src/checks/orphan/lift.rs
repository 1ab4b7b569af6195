//! References between a tier whose tenants are another tier's rows
//! (`tenancy::TenantOf`: a reporting tier keyed on companies, each company
//! an OLTP tenant's) and a tier of whole tenants: the two ends' tenants are
//! different kinds, so the first end's is mapped to the tenant it belongs
//! to before they are compared. The mapping is read from the tier that
//! holds it, once per tier.

use std::collections::HashMap;

use sqlx::PgPool;

use super::link::{End, Lifted, Link};
use super::tenant_mismatch;
use crate::catalog::Catalog;
use crate::checks::Finding;
use crate::tenancy::{key_tenants_sql, read_key_tenants, TenantOf, Tenancy};

/// Maps the tenants of each link end that needs it; a link whose mapping
/// cannot be read gets an error finding instead of a verdict.
pub async fn lift(links: &mut [Link<'_>], tenancy: &Tenancy, tiers: &[(&Catalog, &PgPool)]) -> Vec<Finding> {
    let mut mappings: HashMap<String, Result<Lifted, String>> = HashMap::new();
    let mut findings = Vec::new();
    for link in links.iter_mut().filter(|l| l.is_cross_tier()) {
        if is_the_mapping(link, tenancy) {
            // Its rows' tenant is read through this very reference.
            link.from.tenant = None;
            continue;
        }
        let mut unreadable = None;
        for end in [&mut link.from, &mut link.to] {
            let Some(of) = tenancy.tenant_of(end.tier) else { continue };
            let Some(tenant) = end.tenant.as_mut() else { continue };
            if !mappings.contains_key(end.tier) {
                mappings.insert(end.tier.to_string(), mapping(of, tiers).await);
            }
            match &mappings[end.tier] {
                Ok(lifted) => tenant.lifted = Some(lifted.clone()),
                Err(problem) => unreadable = Some(format!("could not read whose tenants the rows of tier {} are, from {of}: {problem}", end.tier)),
            }
        }
        if let Some(message) = unreadable {
            findings.push(tenant_mismatch::ID.error(link.from.tier, link.object(), message));
            link.from.tenant = None;
            continue;
        }
        if both_lifted(&link.from, &link.to) {
            // Both tiers name tenants alike: compare them as they are.
            link.from.tenant.as_mut().expect("lifted").lifted = None;
            link.to.tenant.as_mut().expect("lifted").lifted = None;
        }
    }
    findings
}

/// `from` is its tier's tenant column and names the table its tenants are rows of.
fn is_the_mapping(link: &Link<'_>, tenancy: &Tenancy) -> bool {
    let Some(of) = tenancy.tenant_of(link.from.tier) else { return false };
    let tenant_column = link.from.tenant.as_ref().and_then(|t| t.scope.column());
    link.from.columns.len() == 1
        && Some(link.from.columns[0].name.as_str()) == tenant_column
        && link.to.tier == of.tier
        && link.to.table.name == of.table
        && link.to.columns[0].name == of.key
}

fn both_lifted(from: &End<'_>, to: &End<'_>) -> bool {
    let lifted = |end: &End<'_>| end.tenant.as_ref().is_some_and(|t| t.lifted.is_some());
    lifted(from) && lifted(to)
}

/// Each key of `of`'s table and the tenant its row belongs to.
async fn mapping(of: &TenantOf, tiers: &[(&Catalog, &PgPool)]) -> Result<Lifted, String> {
    let table = tiers.iter().find(|(c, _)| c.tier == of.tier).and_then(|(c, _)| c.table(&of.table));
    let column = table.and_then(|t| t.column(&of.tenant_column)).ok_or_else(|| format!("tier {} has no column {}.{}", of.tier, of.table, of.tenant_column))?;
    let mapping = read_key_tenants(tiers, &of.tier, &key_tenants_sql(&of.table, &of.key, &of.tenant_column)).await?;
    let data_type = column.data_type.clone();
    Ok(Lifted { mapping, data_type })
}
