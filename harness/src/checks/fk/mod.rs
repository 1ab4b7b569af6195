//! Foreign keys: declared where the names say a reference exists, and
//! backed by an index. (Enforcement and tenant consistency need data and
//! come with the seeder.)

pub(crate) mod missing;
mod unindexed;

use super::{Finding, TierContext};

pub fn run(ctx: &TierContext<'_>) -> Vec<Finding> {
    let mut findings = missing::check(ctx);
    findings.extend(unindexed::check(ctx));
    findings
}
