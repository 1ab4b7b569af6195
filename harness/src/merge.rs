//! `tierguard merge DIR... --report-dir OUT`: the reports of the N shards
//! of one run (`tierguard run --shard K/N`, in a CI job matrix) joined into
//! one report folder, findings as one unsharded run gives them: in its
//! order, one failure attributed to another across shards, then what the
//! scenario accepts. Every report format is written again; repro files and
//! query plans are copied from the shards.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::accept::{self, Baseline};
use crate::checks::{causes, Finding, Gate};
use crate::error::{HarnessError, Result};
use crate::report::shard::{ShardFile, FILE};
use crate::report::{self, Report, Summary};
use crate::scenario::Output;

/// The joined report, where it was written, and whether it fails the gate.
pub struct Merged {
    pub report: Report,
    pub gate: Gate,
    /// Lines to show (acceptance notes).
    pub notes: Vec<String>,
    pub failed: bool,
}

/// Report files each shard wrote for itself, written again for the whole.
const REPORT_FILES: [&str; 7] = ["report.json", "junit.xml", "tierguard.sarif", "summary.md", "report.html", "gl-code-quality.json", FILE];

pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Merged> {
    let mut shards = dirs.iter().map(|d| ShardFile::read(d).map(|s| (d.clone(), s))).collect::<Result<Vec<_>>>()?;
    shards.sort_by_key(|(_, s)| s.shard.index);
    complete(&shards)?;
    report::check_writable(out)?;
    // Findings in the order of one run: by unit, and within a unit as the
    // shard that ran it gave them.
    let mut placed: Vec<(crate::scenario::Unit, usize, Finding)> = Vec::new();
    for (_, shard) in &mut shards {
        for (position, p) in std::mem::take(&mut shard.findings).into_iter().enumerate() {
            let mut finding = p.finding;
            finding.elapsed = p.elapsed_us.map(std::time::Duration::from_micros);
            placed.push((p.unit, position, finding));
        }
    }
    placed.sort_by_key(|(unit, position, _)| (*unit, *position));
    let mut findings: Vec<Finding> = placed.into_iter().map(|(_, _, f)| f).collect();
    let first = &shards[0].1;
    let gate = first.gate();
    causes::attribute(&mut findings);
    let baseline = first.baseline.as_deref().map(Baseline::read).transpose()?;
    let notes = accept::apply(&mut findings, &first.accepts(), baseline.as_ref(), gate, chrono::Local::now().date_naive());
    for finding in &mut findings {
        if let Some(repro) = finding.repro.as_mut() {
            if let Some(file) = &repro.file {
                repro.command = format!("tierguard replay {}", out.join(file).display());
            }
        }
    }

    std::fs::create_dir_all(out).map_err(|e| HarnessError::Report { path: out.to_path_buf(), message: e.to_string() })?;
    for (dir, _) in &shards {
        copy_beside(dir, out, dir)?;
    }
    // Each phase took as long as its slowest shard: they ran side by side.
    let mut timings: IndexMap<String, u64> = IndexMap::new();
    for (_, shard) in &shards {
        for (phase, ms) in &shard.timings {
            let slowest = timings.entry(phase.clone()).or_default();
            *slowest = (*slowest).max(*ms);
        }
    }
    let failed = findings.iter().any(|f| gate.fails(f));
    let report = Report {
        tool: "tierguard",
        version: env!("CARGO_PKG_VERSION"),
        seed: first.seed,
        scenario: first.scenario.clone(),
        tiers: first.tiers.clone(),
        summary: Summary::of(&findings),
        findings,
        timings,
        probes: shards.iter().map(|(_, s)| s.probes).sum(),
        unscoped: first.unscoped.clone(),
        origins: first.origins.clone(),
    };
    let output = Output { formats: first.formats(), quiet: true };
    report::write(&report, out, &output, gate)?;
    report::publish(&report, gate).map_err(|e| HarnessError::Report { path: out.to_path_buf(), message: format!("GitHub Actions summary: {e}") })?;
    Ok(Merged { report, gate, notes, failed })
}

/// The shards of one run, each once: same scenario, seed and N, 1..=N.
fn complete(shards: &[(PathBuf, ShardFile)]) -> Result<()> {
    let Some((first_dir, first)) = shards.first() else {
        return Err(HarnessError::input("merge: name the report folders of the shards (tierguard merge DIR... --report-dir OUT)"));
    };
    for (dir, shard) in shards {
        let differs = |what: &str, mine: String, theirs: String| {
            HarnessError::input(format!(
                "merge: {} ({what} {theirs}) and {} ({what} {mine}) are not shards of one run",
                dir.display(),
                first_dir.display()
            ))
        };
        if shard.shard.count != first.shard.count {
            return Err(differs("shard", first.shard.to_string(), shard.shard.to_string()));
        }
        if shard.seed != first.seed {
            return Err(differs("seed", first.seed.to_string(), shard.seed.to_string()));
        }
        if shard.scenario != first.scenario {
            return Err(differs("scenario", format!("{:?}", first.scenario), format!("{:?}", shard.scenario)));
        }
    }
    let n = first.shard.count;
    for k in 1..=n {
        match shards.iter().filter(|(_, s)| s.shard.index == k).count() {
            1 => {}
            0 => return Err(HarnessError::input(format!("merge: shard {k}/{n} is missing"))),
            _ => return Err(HarnessError::input(format!("merge: shard {k}/{n} is named twice"))),
        }
    }
    Ok(())
}

/// Copies what a shard wrote besides its reports (repro files, query
/// plans) into `out`, keeping its place; a file another shard already
/// gave is kept (shards seed the same rows).
fn copy_beside(from: &Path, out: &Path, shard: &Path) -> Result<()> {
    let fail = |e: std::io::Error| HarnessError::Report { path: out.to_path_buf(), message: format!("copying from {}: {e}", shard.display()) };
    for entry in std::fs::read_dir(from).map_err(fail)?.flatten() {
        let (path, name) = (entry.path(), entry.file_name());
        let target = out.join(&name);
        if from == shard && REPORT_FILES.iter().any(|f| name == *f) {
            continue;
        }
        if path.is_dir() {
            std::fs::create_dir_all(&target).map_err(fail)?;
            copy_beside(&path, &target, shard)?;
        } else if !target.exists() {
            std::fs::copy(&path, &target).map_err(fail)?;
        }
    }
    Ok(())
}
