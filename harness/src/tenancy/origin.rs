//! Where a piece of the tenancy model came from, for what a run prints.

use std::fmt;

use serde::Serialize;

/// Where a tier's tenant column or setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The scenario or a flag names it.
    Declared,
    /// The name most tables (columns) or policies (settings) of all tiers use.
    Inferred,
    /// This tier's own policies use it, unlike the other tiers'.
    TierPolicies,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Declared => "declared",
            Origin::Inferred => "inferred",
            Origin::TierPolicies => "inferred from this tier's policies",
        })
    }
}
