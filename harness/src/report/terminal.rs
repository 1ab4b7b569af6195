//! The short summary printed at the end of a run: failures grouped by
//! check (the cause), each object listed once, then the counts, the seed
//! and where the reports are. Findings that follow from a listed cause
//! (`caused_by`) are only counted: the cause is what a person fixes.

use std::path::Path;

use indexmap::IndexMap;

use super::Report;
use crate::checks::{Finding, Gate, Status};

/// Objects listed per cause; the rest are in report.json.
const LISTED: usize = 10;

pub fn summary(report: &Report, dir: &Path, gate: Gate) -> String {
    let mut groups: IndexMap<(bool, &str, String), Vec<&Finding>> = IndexMap::new();
    let shown = |f: &&Finding| f.caused_by.is_none() && (matches!(f.status, Status::Fail | Status::Error) || gate.fails(f));
    for f in report.findings.iter().filter(shown) {
        let status = match f.status {
            Status::Error => "could not run".to_string(),
            Status::Skip => "skipped".to_string(),
            _ => f.severity.to_string(),
        };
        groups.entry((gate.fails(f), f.check, status)).or_default().push(f);
    }
    // What fails the gate first; otherwise in the order checks ran.
    groups.sort_by(|a, _, b, _| b.0.cmp(&a.0));
    let mut out = String::new();
    for ((fails, check, status), findings) in &groups {
        let mark = if *fails { "FAIL" } else { "warn" };
        let count = findings.len();
        out.push_str(&format!("{mark} {check} [{status}]: {count} {}\n", if count == 1 { "object" } else { "objects" }));
        for f in findings.iter().take(LISTED) {
            out.push_str(&format!("     {:<8} {:<40} {}\n", f.tier, f.object, f.message));
        }
        if count > LISTED {
            out.push_str(&format!("     ... and {} more in report.json\n", count - LISTED));
        }
    }
    let followers = report.findings.iter().filter(|f| f.caused_by.is_some()).count();
    if followers > 0 {
        out.push_str(&format!(
            "{followers} more finding(s) follow from the causes above and are not counted again (caused_by in report.json)\n"
        ));
    }
    let accepted = report.findings.iter().filter(|f| f.accepted.is_some()).count();
    if accepted > 0 {
        out.push_str(&format!("{accepted} accepted failure(s) ([[accept]] or --baseline) do not fail the gate (accepted in report.json)\n"));
    }
    let s = &report.summary;
    out.push_str(&format!(
        "{} pass, {} fail, {} skip, {} error across {} tier(s); seed {}; reports in {}\n",
        s.pass,
        s.fail,
        s.skip,
        s.error,
        report.tiers.len(),
        report.seed,
        dir.display()
    ));
    out
}
