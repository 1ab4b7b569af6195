//! The short summary printed at the end of a run: failing findings first,
//! then the counts, the seed and where the reports are.

use std::path::Path;

use super::Report;
use crate::checks::{Gate, Status};

pub fn summary(report: &Report, dir: &Path, gate: Gate) -> String {
    let mut out = String::new();
    let failing: Vec<_> = report
        .findings
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::Error) || gate.fails(f))
        .collect();
    for f in &failing {
        let mark = if gate.fails(f) { "FAIL" } else { "warn" };
        let status = match f.status {
            Status::Error => "could not run".to_string(),
            Status::Skip => "skipped".to_string(),
            _ => f.severity.to_string(),
        };
        out.push_str(&format!("{mark} {:<22} {:<8} {:<40} [{status}] {}\n", f.check, f.tier, f.object, f.message));
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
