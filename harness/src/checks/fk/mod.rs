//! Foreign keys: declared where the names say a reference exists, backed by
//! an index, enforced, tenant-consistent, and deleting as declared. The
//! last three act on the database, in transactions that are rolled back.

mod cascade;
mod cross_tenant;
pub(crate) mod missing;
mod not_enforced;
mod unindexed;

use super::{Finding, TierContext};

/// The checks of this family, in the order the docs list them.
pub const CHECKS: &[crate::checks::CheckId] = &[
    missing::ID,
    unindexed::ID,
    not_enforced::ID,
    cross_tenant::ID,
    cascade::ID,
];

pub async fn run(ctx: &TierContext<'_>) -> Vec<Finding> {
    // External sessions are read-only: the writing probes would be refused
    // for that reason alone and prove nothing, so they are skipped there.
    let external = ctx.read_only;
    let mut findings = missing::check(ctx);
    findings.extend(unindexed::check(ctx));
    findings.extend(not_enforced::check(ctx, external).await);
    findings.extend(cross_tenant::check(ctx, external).await);
    findings.extend(cascade::check(ctx, external).await);
    findings
}
