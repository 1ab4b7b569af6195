//! Partitioned tables: time partitions must exist before rows arrive.

mod coverage;

use super::{Finding, TierContext};

pub async fn run(ctx: &TierContext<'_>) -> Vec<Finding> {
    coverage::check(ctx).await
}
