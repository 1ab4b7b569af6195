//! Orphans: rows whose reference finds no row, or another tenant's row,
//! where no enforced foreign key rules that out. Unlike the other families
//! this one looks at all tiers at once: a reference may start in one tier
//! and end in another. Every verdict counts rows exactly, shows the first
//! few, and gives the SQL that lists them all.

mod copy;
mod cross_tier;
mod intra;
mod lift;
mod link;
mod merge;
mod tenant_mismatch;
mod tenantless;

use std::collections::HashSet;

use futures::StreamExt;
use serde_json::Value;
use sqlx::PgPool;

use self::link::Link;
use crate::catalog::Catalog;
use crate::tenancy::Tenancy;
use crate::checks::{CheckId, Finding};
use crate::scenario::Scenario;
use crate::truth::SeedTruth;

/// The checks of this family, in the order the docs list them.
pub const CHECKS: &[crate::checks::CheckId] = &[
    intra::ID,
    cross_tier::ID,
    tenant_mismatch::ID,
    tenantless::ID,
];

/// References probed at once: each holds a connection on one or two tiers.
const CONCURRENT_PROBES: usize = 4;

/// The offending rows of one reference.
pub struct Offenders {
    /// Exact.
    pub count: u64,
    /// The first rows, in key order, as JSON.
    pub samples: Vec<Value>,
    /// What a person runs to list them all.
    pub sql: String,
}

/// What probing one reference found.
pub struct Probed {
    pub orphans: Offenders,
    /// None where a tenant mismatch cannot happen (see `Link::tenant_kind`).
    pub mismatches: Option<Offenders>,
}

/// Every declared reference and every unguarded one inside a tier, probed
/// on the tiers' pools (`tiers`: catalog and pool of each tier). A column
/// that only looks like a reference is audited where tierguard did not
/// write the rows (`seeded` says which): seeded rows hold by construction,
/// and `fk.missing` already says that nothing enforces it.
pub async fn run(scenario: &Scenario, tiers: &[(&Catalog, &PgPool)], tenancy: &Tenancy, seeded: Option<&dyn SeedTruth>) -> Vec<Finding> {
    let catalogs: Vec<&Catalog> = tiers.iter().map(|(catalog, _)| *catalog).collect();
    let mut findings = Vec::new();
    let mut links = Vec::new();
    for reference in &scenario.references {
        match Link::declared(reference, &catalogs, tenancy) {
            Ok(link) => links.push(link),
            Err(problem) => {
                let id = if reference.from.table.tier == reference.to.table.tier { intra::ID } else { cross_tier::ID };
                let object = format!("{}.{}", reference.from.table.schema, reference.from.table.table);
                findings.push(id.error(
                    &reference.from.table.tier,
                    object,
                    format!("cannot audit the reference {}={}: {problem}", reference.from, reference.to),
                ));
            }
        }
    }
    for catalog in &catalogs {
        links.extend(intra::unguarded(catalog, scenario, tenancy));
    }
    links.retain(|link| link.origin != link::Origin::Inferred || !seeded.is_some_and(|s| s.generated(link.from.tier, &link.from.table.name)));
    // A declared soft reference may also be an unguarded FK: audit it once.
    let mut seen = HashSet::new();
    links.retain(|link| seen.insert(link.describe()));
    findings.extend(lift::lift(&mut links, tenancy));

    let pool = |tier: &str| {
        tiers
            .iter()
            .find(|(catalog, _)| catalog.tier == tier)
            .map(|(_, pool)| *pool)
            .expect("links only name audited tiers")
    };
    let verdicts = futures::stream::iter(links.iter().map(|link| async move {
        let probed = if link.is_cross_tier() {
            cross_tier::probe(link, pool(link.from.tier), pool(link.to.tier)).await
        } else {
            intra::probe(link, pool(link.from.tier)).await
        };
        verdicts(link, probed)
    }))
    .buffered(CONCURRENT_PROBES)
    .collect::<Vec<_>>()
    .await;
    findings.extend(verdicts.into_iter().flatten());
    for (catalog, pool) in tiers {
        findings.extend(tenantless::probe(catalog, pool, tenancy).await);
    }
    findings
}

fn verdicts(link: &Link<'_>, probed: anyhow::Result<Probed>) -> Vec<Finding> {
    let orphan_id = if link.is_cross_tier() { cross_tier::ID } else { intra::ID };
    let (from, to, columns) = (link.from.name(), link.to.name(), link.from.columns_label());
    match probed {
        Ok(Probed { orphans, mismatches }) => {
            let mut findings = vec![verdict(
                orphan_id,
                link,
                orphans,
                format!("every row of {from} finds its row of {to} by {columns}"),
                format!("row(s) of {from} name by {columns} no row of {to}; {}", link.why),
            )];
            findings.extend(mismatches.map(|mismatches| {
                verdict(
                    tenant_mismatch::ID,
                    link,
                    mismatches,
                    format!("every row of {from} names by {columns} a row of {to} of its own tenant"),
                    format!("row(s) of {from} name by {columns} a row of {to} of another tenant"),
                )
            }));
            findings
        }
        Err(error) => {
            let message = format!("could not probe {}: {error:#}", link.describe());
            let mut findings = vec![orphan_id.error(link.from.tier, link.object(), &message)];
            if link.tenant_kind().is_some() {
                findings.push(tenant_mismatch::ID.error(link.from.tier, link.object(), message));
            }
            findings
        }
    }
}

/// Pass when no row offends; else fail with "`count` `failed`".
fn verdict(id: CheckId, link: &Link<'_>, offenders: Offenders, passed: String, failed: String) -> Finding {
    let mut finding = match offenders.count {
        0 => id.pass(link.from.tier, link.object(), passed),
        count => id.fail(link.from.tier, link.object(), format!("{count} {failed}")),
    };
    if let link::Origin::ForeignKey(constraint) = &link.origin {
        finding = finding.detail("constraint", constraint.clone());
    }
    finding
        .detail("reference", link.describe())
        .detail("count", offenders.count)
        .detail("samples", offenders.samples)
        .detail("sql", offenders.sql)
}
