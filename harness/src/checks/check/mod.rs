//! CHECK constraints: present where a column is enumerated, agreeing with
//! the domain the scenario declares, and holding for the rows already there.

pub mod domain;
mod missing;
mod violations;

use super::{Finding, TierContext};

/// The checks of this family, in the order the docs list them.
pub const CHECKS: &[crate::checks::CheckId] = &[
    missing::ID,
    domain::ID,
    violations::ID,
];

pub async fn run(ctx: &TierContext<'_>) -> Vec<Finding> {
    // Domains are tried by writing values; external sessions are read-only.
    let external = ctx.read_only;
    let mut findings = missing::check(ctx);
    findings.extend(domain::check(ctx, external).await);
    findings.extend(violations::check(ctx).await);
    findings
}
