//! `shard.json`: what a `--shard K/N` run leaves for `tierguard merge`
//! beside its own reports. Its findings are as the checks gave them, before
//! one failure is attributed to another and before acceptance (either may
//! depend on a finding of another shard), each with its place in one
//! unsharded run, its time, and what else the report formats need.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::TierReport;
use crate::checks::{Finding, Gate, Severity};
use crate::error::{HarnessError, Result};
use crate::load::Origins;
use crate::scenario::{Accept, Format, Shard, Unit};
use crate::tenancy::Unscoped;

pub const FILE: &str = "shard.json";

#[derive(Debug, Serialize, Deserialize)]
pub struct ShardFile {
    pub shard: Shard,
    pub scenario: Option<String>,
    pub seed: u64,
    pub fail_on: Severity,
    pub strict: bool,
    pub formats: Vec<String>,
    /// The scenario's `[[accept]]` entries, applied once the shards are joined.
    pub accepts: Vec<Accepted>,
    /// `--baseline`, read again by the merge.
    pub baseline: Option<PathBuf>,
    pub findings: Vec<Placed>,
    pub tiers: Vec<TierReport>,
    pub unscoped: Vec<Unscoped>,
    pub origins: BTreeMap<String, Origins>,
    pub timings: IndexMap<String, u64>,
    pub probes: u64,
}

/// A finding, where one run would have reported it, and how long it took.
#[derive(Debug, Serialize, Deserialize)]
pub struct Placed {
    pub unit: Unit,
    pub elapsed_us: Option<u64>,
    pub finding: Finding,
}

/// An `[[accept]]` entry as the file keeps it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Accepted {
    pub check: String,
    pub object: String,
    pub tier: Option<String>,
    pub reason: String,
    pub until: Option<String>,
}

impl ShardFile {
    pub fn gate(&self) -> Gate {
        Gate { fail_on: self.fail_on, strict: self.strict }
    }

    pub fn formats(&self) -> Vec<Format> {
        self.formats.iter().filter_map(|f| f.parse().ok()).collect()
    }

    pub fn accepts(&self) -> Vec<Accept> {
        self.accepts
            .iter()
            .map(|a| Accept {
                check: a.check.clone(),
                object: a.object.clone(),
                tier: a.tier.clone(),
                reason: a.reason.clone(),
                until: a.until.as_deref().and_then(|d| d.parse().ok()),
            })
            .collect()
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let fail = |message: String| HarnessError::Report { path: dir.to_path_buf(), message: format!("{FILE}: {message}") };
        let json = serde_json::to_string(self).map_err(|e| fail(e.to_string()))?;
        std::fs::write(dir.join(FILE), json + "\n").map_err(|e| fail(e.to_string()))
    }

    /// A shard's file, or why `dir` holds none.
    pub fn read(dir: &Path) -> Result<ShardFile> {
        let path = dir.join(FILE);
        let fail = |message: String| HarnessError::input(format!("{}: {message}", path.display()));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| fail(format!("{e}: is {} the report folder of a `tierguard run --shard K/N`?", dir.display())))?;
        serde_json::from_str(&text).map_err(|e| fail(format!("not a shard file of this tierguard: {e}")))
    }
}

impl Accepted {
    pub fn of(accept: &Accept) -> Accepted {
        Accepted {
            check: accept.check.clone(),
            object: accept.object.clone(),
            tier: accept.tier.clone(),
            reason: accept.reason.clone(),
            until: accept.until.map(|d| d.to_string()),
        }
    }
}
