//! `summary.md`: what a person reviewing a pull request reads (also
//! appended to `$GITHUB_STEP_SUMMARY` under GitHub Actions): the verdict,
//! the tiers, then each failing cause with what follows from it and the
//! one line that reproduces it.

use std::fmt::Write as _;

use super::Report;
use crate::checks::{Finding, Gate, Status};

pub fn summary(report: &Report, gate: Gate) -> String {
    let mut out = String::new();
    let failing: Vec<&Finding> = report.findings.iter().filter(|f| gate.fails(f)).collect();
    let verdict = if failing.is_empty() { "✅ passed" } else { "❌ failed" };
    let s = &report.summary;
    let _ = writeln!(out, "## tierguard {verdict}: {}", report.scenario.as_deref().unwrap_or("ad-hoc"));
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{} pass · {} fail · {} skip · {} error · seed `{}` · {} probe transactions\n",
        s.pass, s.fail, s.skip, s.error, report.seed, report.probes
    );
    let _ = writeln!(out, "| tier | backend | server | tables | rows |\n|---|---|---|---:|---:|");
    for tier in &report.tiers {
        let rows: i64 = tier.tables.iter().map(|t| t.rows).sum();
        let _ = writeln!(out, "| {} | {} | {} | {} | {rows} |", tier.name, tier.backend, cell(&tier.server_version), tier.tables.len());
    }
    let accepted: Vec<&Finding> = report.findings.iter().filter(|f| f.accepted.is_some()).collect();
    if !accepted.is_empty() {
        let _ = writeln!(out, "\n### Accepted ({}), not failing the gate\n\n| check | tier | object | by | reason | until |\n|---|---|---|---|---|---|", accepted.len());
        for finding in accepted {
            let a = finding.accepted.as_ref().expect("filtered");
            let _ = writeln!(
                out,
                "| `{}` | {} | `{}` | {} | {} | {} |",
                finding.check,
                finding.tier,
                cell(&finding.object),
                cell(&a.by),
                cell(&a.reason),
                a.until.as_deref().unwrap_or("")
            );
        }
    }
    if failing.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\n### What fails the gate, by cause\n");
    for root in failing {
        let status = match root.status {
            Status::Error => "could not run".to_string(),
            Status::Skip => "skipped (--strict)".to_string(),
            _ => root.severity.to_string(),
        };
        let _ = writeln!(out, "#### `{}` on `{}` · `{}` ({status})\n", root.check, root.tier, root.object);
        let _ = writeln!(out, "{}\n", root.message.trim());
        let follows: Vec<String> = report.following(root).map(|f| format!("`{}` on `{}`", f.check, f.object)).collect();
        if !follows.is_empty() {
            let _ = writeln!(out, "Follows from it (skipped, fixed with it): {}\n", follows.join(", "));
        }
        if let Some(repro) = &root.repro {
            let _ = writeln!(out, "```sh\n{}\n```\n", repro.command);
        }
    }
    out
}

/// A table cell: no pipe or line break may end it early.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
