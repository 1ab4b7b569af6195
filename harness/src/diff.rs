//! `tierguard diff`: what a migration changes in what tenants can do. The
//! same scenario runs twice with the same seed, once on the base schema
//! and once on the head (e.g. the migrations folder on the main branch and
//! in the pull request); the difference is the failures that are new or
//! fixed, and the access matrix cells that changed between proven states
//! ("after this change, a tenant can UPDATE another tenant's rows in
//! appointments"). Worse when anything new fails or a cell became a leak.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::checks::Gate;
use crate::error::{HarnessError, Result};
use crate::report::matrix::{self, State};
use crate::run::{self, Outcome};
use crate::scenario::{Overrides, Scenario};

/// A finding on one side only.
#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    pub check: String,
    pub tier: String,
    pub object: String,
    pub message: String,
}

/// One matrix cell whose proven state differs.
#[derive(Debug, Serialize)]
pub struct Access {
    pub tier: String,
    pub table: String,
    pub command: String,
    pub before: State,
    pub after: State,
    /// The head's evidence.
    pub why: String,
}

impl Access {
    pub fn describe(&self) -> String {
        let what = match (self.before, self.after) {
            (_, State::Leak) => format!("a tenant can now reach another tenant's rows with {}", self.command),
            (State::Leak, _) => format!("{} no longer reaches another tenant's rows", self.command),
            (_, State::NotGranted) => format!("{} is no longer granted", self.command),
            (State::NotGranted, _) => format!("{} is now granted, and held", self.command),
            _ => format!("{}: {:?} → {:?}", self.command, self.before, self.after),
        };
        format!("{} {}: {what} ({} → {})", self.tier, self.table, self.before.class(), self.after.class())
    }
}

#[derive(Debug, Serialize)]
pub struct Difference {
    pub seed: u64,
    pub new: Vec<Changed>,
    pub fixed: Vec<Changed>,
    pub access: Vec<Access>,
}

impl Difference {
    /// Something fails now that did not, or a cell became a leak.
    pub fn worse(&self) -> bool {
        !self.new.is_empty() || self.access.iter().any(|a| a.after == State::Leak)
    }

    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.access.iter().map(|a| format!("access: {}", a.describe())).collect();
        lines.extend(self.new.iter().map(|c| format!("new failure: {} {} {}: {}", c.check, c.tier, c.object, c.message)));
        lines.extend(self.fixed.iter().map(|c| format!("fixed: {} {} {}", c.check, c.tier, c.object)));
        if lines.is_empty() {
            lines.push("no difference in what tenants can do, and no failure came or went".to_string());
        }
        lines
    }
}

/// Runs the scenario on `base` then on `head` (each `NAME=PATHS` replacing
/// that tier's schema), same seed, reports in `dir/base` and `dir/head`,
/// and the difference in `dir/diff.json` and `dir/diff.md`.
pub async fn diff(scenario: Option<&Path>, overrides: Overrides, base: Vec<(String, Vec<PathBuf>)>, head: Vec<(String, Vec<PathBuf>)>, dir: &Path) -> Result<Difference> {
    let side = |tiers: Vec<(String, Vec<PathBuf>)>, seed: Option<u64>, name: &str| -> Result<Scenario> {
        let overrides = Overrides { tiers, seed: seed.or(overrides.seed), report_dir: Some(dir.join(name)), ..overrides.clone() };
        Scenario::resolve(scenario, overrides)
    };
    let base = side(base, None, "base")?;
    // The head runs with the base's seed: the same data, the same probes.
    let head = side(head, Some(base.seed), "head")?;
    let before = run::run(&base).await?;
    let after = run::run(&head).await?;
    let difference = compare(&before, &after, Gate::of(&head), base.seed);
    std::fs::create_dir_all(dir).map_err(|e| HarnessError::Report { path: dir.to_path_buf(), message: e.to_string() })?;
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).map_err(|e| HarnessError::Report { path: dir.join(name), message: e.to_string() })
    };
    write("diff.json", serde_json::to_string_pretty(&difference).expect("serialises") + "\n")?;
    let mut md = format!("## tierguard diff: {}\n\n", if difference.worse() { "❌ worse" } else { "✅ not worse" });
    md.extend(difference.lines().iter().map(|l| format!("- {l}\n")));
    write("diff.md", md)?;
    Ok(difference)
}

fn compare(before: &Outcome, after: &Outcome, gate: Gate, seed: u64) -> Difference {
    let failing = |outcome: &Outcome| -> Vec<(String, Changed)> {
        outcome
            .report
            .findings
            .iter()
            .filter(|f| gate.fails(f))
            .map(|f| (f.fingerprint(), Changed { check: f.check.to_string(), tier: f.tier.clone(), object: f.object.clone(), message: f.message.clone() }))
            .collect()
    };
    let (was, is) = (failing(before), failing(after));
    let only = |a: Vec<(String, Changed)>, b: &[(String, Changed)]| -> Vec<Changed> {
        a.into_iter().filter(|(fp, _)| !b.iter().any(|(other, _)| other == fp)).map(|(_, c)| c).collect()
    };
    let new = only(is.clone(), &was);
    let fixed = only(was, &is);
    let (cells_before, cells_after) = (matrix::cells(&before.report), matrix::cells(&after.report));
    let access = cells_after
        .iter()
        .filter_map(|(key, cell)| {
            let old = cells_before.get(key)?;
            // Only proven states count: a write probe that stopped at
            // another kind's leak proved nothing about this one.
            (old.state.definite() && cell.state.definite() && old.state != cell.state).then(|| Access {
                tier: key.0.clone(),
                table: key.1.clone(),
                command: key.2.to_string(),
                before: old.state,
                after: cell.state,
                why: cell.title.clone(),
            })
        })
        .collect();
    Difference { seed, new, fixed, access }
}
