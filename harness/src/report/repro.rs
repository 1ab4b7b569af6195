//! Repro files: for each failing probe, `repro/<check>-<tier>-<object>.json`
//! (what `tierguard replay` reads) and a `.sql` beside it (the minimal case
//! as a psql script).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checks::rls::act::Case;
use crate::checks::Finding;
use crate::scenario::Scenario;

#[derive(Debug, Serialize, Deserialize)]
pub struct ReproFile {
    pub check: String,
    pub tier: String,
    pub object: String,
    pub seed: u64,
    /// The scenario file the run used (absolute), when there was one.
    pub scenario: Option<PathBuf>,
    /// Each tier's schema files as the run loaded them (flags included).
    pub tiers: Vec<(String, Vec<PathBuf>)>,
    /// Each tier's fixed-row files.
    pub data: Vec<(String, Vec<PathBuf>)>,
    pub message: String,
    pub case: Case,
}

/// Names the repro files of failing probes and fills in `repro` on them.
pub fn assign(findings: &mut [Finding], dir: &Path) {
    for finding in findings.iter_mut().filter(|f| f.case.is_some()) {
        let stem = format!("{}-{}-{}", finding.check, finding.tier, finding.object)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' })
            .collect::<String>();
        let file = format!("repro/{stem}.json");
        if let Some(repro) = &mut finding.repro {
            repro.command = format!("tierguard replay {}", dir.join(&file).display());
            repro.file = Some(file);
        }
    }
}

fn absolute(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths.iter().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())).collect()
}

/// Writes the files `assign` named.
pub fn write(findings: &[Finding], scenario: &Scenario, dir: &Path) -> std::io::Result<()> {
    for finding in findings {
        let (Some(case), Some(file)) = (&finding.case, finding.repro.as_ref().and_then(|r| r.file.as_ref())) else { continue };
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().expect("repro folder"))?;
        let repro = ReproFile {
            check: finding.check.to_string(),
            tier: finding.tier.clone(),
            object: finding.object.clone(),
            seed: scenario.seed,
            scenario: scenario.path.as_ref().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
            tiers: scenario.tiers.iter().map(|t| (t.name.clone(), absolute(&t.schema))).collect(),
            data: scenario.tiers.iter().map(|t| (t.name.clone(), absolute(&t.data))).collect(),
            message: finding.message.clone(),
            case: (**case).clone(),
        };
        std::fs::write(&path, serde_json::to_string_pretty(&repro).expect("serialises") + "\n")?;
        let sql = format!(
            "-- tierguard repro: {} on tier {}, {}\n-- {}\n-- Run it with psql against the tier's database as tierguard seeded it\n-- (seed {}); `tierguard replay {}` rebuilds that database and re-runs it.\n{}",
            finding.check,
            finding.tier,
            finding.object,
            finding.message.replace('\n', " "),
            scenario.seed,
            path.display(),
            case.sql()
        );
        std::fs::write(path.with_extension("sql"), sql)?;
    }
    Ok(())
}
