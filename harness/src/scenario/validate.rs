//! What a scenario must get right before any server starts: names that
//! point at tiers point at tiers that exist, and the options agree.

use super::{BackendChoice, Scenario, MAX_ROWS, MAX_TENANTS};
use crate::error::{HarnessError, Result};

impl Scenario {
    /// Names that point at tiers must point at tiers that exist.
    pub(super) fn validate(&self) -> Result<()> {
        if self.tiers.is_empty() {
            return Err(HarnessError::input(
                "no tiers: give a scenario file or at least one --tier NAME=PATH",
            ));
        }
        let where_ = self
            .path
            .as_ref()
            .map(|p| format!(" (in {} or flags)", p.display()))
            .unwrap_or_default();
        let known = |tier: &str, what: &str| -> Result<()> {
            if self.tiers.iter().any(|t| t.name == tier) {
                Ok(())
            } else {
                Err(HarnessError::input(format!(
                    "{what} names unknown tier `{tier}`{where_}; tiers are: {}",
                    self.tier_names().join(", ")
                )))
            }
        };
        for r in &self.references {
            known(&r.from.table.tier, &format!("reference {}={}", r.from, r.to))?;
            known(&r.to.table.tier, &format!("reference {}={}", r.from, r.to))?;
        }
        self.tenancy.validate(&known, &where_)?;
        for c in &self.fk_allow_missing {
            known(&c.table.tier, &format!("fk.allow_missing entry {c}"))?;
        }
        for (c, declared) in self.expectations.columns() {
            known(&c.table.tier, &declared)?;
        }
        for t in self.seeding.table_rows.keys() {
            known(&t.tier, &format!("seeding.tables entry {t}"))?;
        }
        for c in self.seeding.columns.keys() {
            known(&c.table.tier, &format!("seeding.columns entry {c}"))?;
        }
        for (i, q) in self.latency.iter().enumerate() {
            known(&q.tier, &format!("latency entry `{}`", q.name))?;
            if self.latency[..i].iter().any(|p| p.tier == q.tier && p.name == q.name) {
                return Err(HarnessError::input(format!(
                    "two latency entries are named `{}` on tier {}{where_}",
                    q.name, q.tier
                )));
            }
        }
        if self.seeding.tenants == 0 {
            return Err(HarnessError::input("--tenants must be at least 1"));
        }
        // Stated limits, so a typo is an error and not an allocation abort
        // or an overflow half way through seeding.
        if self.seeding.tenants > MAX_TENANTS {
            return Err(HarnessError::input(format!(
                "--tenants {} is over tierguard's limit of {MAX_TENANTS} tenants (each is kept in memory while seeding)",
                self.seeding.tenants
            )));
        }
        let largest = self.seeding.table_rows.values().copied().chain([self.seeding.rows]).max().unwrap_or(0);
        if largest > MAX_ROWS {
            return Err(HarnessError::input(format!(
                "{largest} rows for a table is over tierguard's limit of {MAX_ROWS} rows per table (--rows, seeding.tables)"
            )));
        }
        for tier in &self.tiers {
            if !tier
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(HarnessError::input(format!(
                    "tier name `{}` may only use letters, digits, `_` and `-`",
                    tier.name
                )));
            }
            let external = self.backend == BackendChoice::External;
            if external && tier.dsn.is_none() {
                return Err(HarnessError::input(format!(
                    "tier `{}` has no DSN: the external backend needs --dsn {}=URL",
                    tier.name, tier.name
                )));
            }
            if !external && tier.schema.is_empty() {
                return Err(HarnessError::input(format!(
                    "tier `{}` has no schema: give --tier {}=PATH",
                    tier.name, tier.name
                )));
            }
        }
        Ok(())
    }
}
