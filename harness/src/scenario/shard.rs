//! `--shard K/N`: the K-th of N deterministic parts of a run's checks, for
//! a CI job matrix. Every shard provisions, loads and seeds the same
//! servers from the same seed; the checks are cut into units (one family on
//! one tier; the orphan family, which looks at every tier at once, is one
//! unit), and units go round-robin to the shards, family by family so the
//! heavy isolation units spread. `tierguard merge` puts the shards' findings
//! back in the order one run gives them: [`Scenario::unit_of`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Scenario;
use crate::verdict::Family;

/// `K/N`, 1 ≤ K ≤ N.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let parsed = s.split_once('/').and_then(|(k, n)| Some((k.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?)));
        match parsed {
            Some((index, count)) if index >= 1 && index <= count => Ok(Shard { index, count }),
            Some((index, count)) => Err(format!("shard {index}/{count}: K must be between 1 and N")),
            None => Err(format!("`{s}` is no shard: expected K/N, e.g. 2/3")),
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The families a tier's checks run in, in the order one run runs them
/// (`checks::run_tier`); the orphan family follows every tier's.
const PER_TIER: [Family; 5] = [Family::Rls, Family::Fk, Family::Check, Family::Partition, Family::Latency];

/// Where a finding stands in one unsharded run: what loading and seeding
/// found (first), then each tier's families, then the orphans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Unit(pub usize);

impl Unit {
    /// Load and seed findings (`load.statement`, rows left out): every
    /// shard finds them, the first reports them.
    pub const PHASES: Unit = Unit(0);
}

impl Scenario {
    /// The unit of `family`'s checks on `tier` (`None` for the orphan
    /// family, which spans the tiers).
    pub fn unit_of(&self, tier: Option<&str>, family: Family) -> Unit {
        let families = PER_TIER.len();
        match tier.and_then(|t| self.tiers.iter().position(|spec| spec.name == t)) {
            Some(t) => Unit(1 + t * families + PER_TIER.iter().position(|f| *f == family).unwrap_or(families - 1)),
            None => Unit(1 + self.tiers.len() * families),
        }
    }

    /// Whether this run checks `family` on `tier` (`None`: the orphan
    /// family): the family is selected (`--only`) and, with `--shard`, the
    /// unit is this shard's.
    pub fn checks(&self, tier: Option<&str>, family: Family) -> bool {
        if !self.runs(family) {
            return false;
        }
        let Some(shard) = self.shard else { return true };
        // Family by family, tier by tier: the i-th unit that runs goes to shard i mod N.
        let mut order = Vec::new();
        for family in PER_TIER.iter().copied().filter(|f| self.runs(*f)) {
            order.extend(self.tiers.iter().map(|t| (Some(t.name.as_str()), family)));
        }
        if self.runs(Family::Orphan) {
            order.push((None, Family::Orphan));
        }
        order.iter().position(|unit| *unit == (tier, family)).is_some_and(|i| i as u32 % shard.count == shard.index - 1)
    }

    /// Whether this run reports what loading and seeding found: every run
    /// but the shards after the first.
    pub fn reports_phases(&self) -> bool {
        self.shard.is_none_or(|s| s.index == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(tiers: &[&str]) -> Scenario {
        let mut scenario = Scenario::empty();
        for name in tiers {
            scenario.tiers.push(crate::scenario::TierSpec { name: name.to_string(), schema: Vec::new(), data: Vec::new(), dsn: None });
        }
        scenario
    }

    #[test]
    fn shards_are_read_as_k_of_n() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        assert!("0/3".parse::<Shard>().unwrap_err().contains("between 1 and N"));
        assert!("4/3".parse::<Shard>().unwrap_err().contains("between 1 and N"));
        assert!("two".parse::<Shard>().unwrap_err().contains("expected K/N"));
    }

    #[test]
    fn every_unit_runs_in_exactly_one_shard_and_isolation_units_spread() {
        let tiers = ["oltp", "content", "queue", "olap"];
        let mut whole = scenario(&tiers);
        let units: Vec<(Option<&str>, Family)> = PER_TIER
            .iter()
            .flat_map(|f| tiers.iter().map(move |t| (Some(*t), *f)))
            .chain(std::iter::once((None, Family::Orphan)))
            .collect();
        assert!(units.iter().all(|(tier, family)| whole.checks(*tier, *family)));
        let mut taken = vec![0; units.len()];
        let mut isolation = Vec::new();
        for index in 1..=3 {
            whole.shard = Some(Shard { index, count: 3 });
            for (i, (tier, family)) in units.iter().enumerate() {
                taken[i] += usize::from(whole.checks(*tier, *family));
            }
            isolation.push(tiers.iter().filter(|t| whole.checks(Some(t), Family::Rls)).count());
        }
        assert!(taken.iter().all(|&n| n == 1), "{taken:?}");
        assert_eq!(isolation, [2, 1, 1], "the four isolation units over three shards");
        // The unsharded order: phases, each tier's families, then orphans.
        assert!(whole.unit_of(Some("oltp"), Family::Latency) < whole.unit_of(Some("content"), Family::Rls));
        assert!(whole.unit_of(Some("olap"), Family::Latency) < whole.unit_of(None, Family::Orphan));
        assert!(Unit::PHASES < whole.unit_of(Some("oltp"), Family::Rls));
    }
}
