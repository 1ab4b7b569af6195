//! References between a tier whose tenants are another tier's rows
//! (`tenancy::TenantOf`: a reporting tier keyed on companies, each company
//! an OLTP tenant's) and a tier of whole tenants: the two ends' tenants are
//! different kinds, so the first end's is mapped to the tenant it belongs
//! to (read once per run with the tenancy, `Tenancy::with_remote_mappings`)
//! before they are compared.

use super::link::Link;
use super::tenant_mismatch;
use crate::checks::Finding;
use crate::tenancy::{TenantOf, Tenancy};

/// Maps the tenants of each link end that needs it; a link whose mapping
/// could not be read gets an error finding instead of a verdict.
pub fn lift<'a>(links: &mut [Link<'a>], tenancy: &'a Tenancy) -> Vec<Finding> {
    let mut findings = Vec::new();
    for link in links.iter_mut().filter(|l| l.is_cross_tier()) {
        if is_the_mapping(link, tenancy) {
            // Its rows' tenant is read through this very reference.
            link.from.tenant = None;
            continue;
        }
        // Only an end whose tier names tenants otherwise than the other end's.
        let (from_tier, to_tier) = (link.from.tier, link.to.tier);
        let lifts = |tier: &str, other: &str| tenancy.tenant_of(tier).filter(|_| tenancy.tenant_of(other).is_none());
        let mut unreadable = None;
        for (end, of) in [(&mut link.from, lifts(from_tier, to_tier)), (&mut link.to, lifts(to_tier, from_tier))] {
            let (Some(of), Some(tenant)) = (of, end.tenant.as_mut()) else { continue };
            match &of.keys.mapping {
                Some(Ok(_)) => tenant.lifted = Some(&of.keys),
                Some(Err(problem)) => unreadable = Some(unread(of, end.tier, problem)),
                None => unreadable = Some(unread(of, end.tier, "it was not read")),
            }
        }
        if let Some(message) = unreadable {
            findings.push(tenant_mismatch::ID.error(link.from.tier, link.object(), message));
            link.from.tenant = None;
        }
    }
    findings
}

fn unread(of: &TenantOf, tier: &str, problem: &str) -> String {
    format!("could not read whose tenants the rows of tier {tier} are, from {}: {problem}", of.keys)
}

/// `from` is its tier's tenant column and names the table its tenants are rows of.
fn is_the_mapping(link: &Link<'_>, tenancy: &Tenancy) -> bool {
    let Some(of) = tenancy.tenant_of(link.from.tier) else { return false };
    let tenant_column = link.from.tenant.as_ref().and_then(|t| t.scope.column());
    link.from.columns.len() == 1
        && Some(link.from.columns[0].name.as_str()) == tenant_column
        && link.to.tier == of.keys.tier
        && link.to.table.name == of.keys.table
        && link.to.columns[0].name == of.keys.key
}
