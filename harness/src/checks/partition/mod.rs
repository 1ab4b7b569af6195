//! Partitioned tables: time partitions must exist before rows arrive.

mod coverage;

use super::{Finding, TierContext};

/// The checks of this family, in the order the docs list them.
pub const CHECKS: &[crate::checks::CheckId] = &[
    coverage::ID,
];

pub async fn run(ctx: &TierContext<'_>) -> Vec<Finding> {
    coverage::check(ctx).await
}
