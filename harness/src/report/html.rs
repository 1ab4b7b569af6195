//! `report.html`: one self-contained page (no script, no network) for a
//! person deciding whether a deploy is safe. The access matrix shows what
//! the probes observed per tenant table and command: held (another
//! tenant's rows stayed out of reach while the tenant's own write went
//! through), a leak (who reached whose rows), not granted, or not proven.
//! Then the failures by root cause with their evidence and replay command,
//! the latency of each scenario query against its target, and the tiers.
//! Plain HTML and SVG; readable printed and in dark mode.

use std::fmt::Write as _;

use serde_json::Value;

use super::{matrix, Report};
use crate::checks::{Finding, Gate, Status};

pub fn page(report: &Report, gate: Gate) -> String {
    let mut out = String::new();
    let failing: Vec<&Finding> = report.findings.iter().filter(|f| gate.fails(f)).collect();
    let verdict = if failing.is_empty() { ("pass", "passed") } else { ("fail", "failed") };
    let scenario = report.scenario.as_deref().unwrap_or("ad-hoc");
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>tierguard {}: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
        verdict.1,
        escape(scenario)
    );
    let s = &report.summary;
    let _ = writeln!(
        out,
        "<header class=\"{}\"><h1>tierguard {}: {}</h1><p>{} pass · {} fail · {} skip · {} error · seed <code>{}</code> · {} probe transactions</p></header>",
        verdict.0,
        verdict.1,
        escape(scenario),
        s.pass,
        s.fail,
        s.skip,
        s.error,
        report.seed,
        report.probes
    );
    matrix(&mut out, report);
    causes(&mut out, report, &failing);
    latency(&mut out, report);
    tiers(&mut out, report);
    out.push_str("</body>\n</html>\n");
    out
}

fn matrix(out: &mut String, report: &Report) {
    out.push_str("<section id=\"matrix\"><h2>Access matrix</h2>\n<p>Acting as each tenant in turn, what the probes observed of the other tenants' rows. \
                  <span class=\"held\">held</span>: another tenant's rows stayed out of reach and the tenant's own write went through. \
                  <span class=\"leak\">leak</span>: a tenant read or changed another's rows. \
                  <span class=\"denied\">not granted</span>: the application may not do this here. \
                  <span class=\"unknown\">not proven</span>: skipped or could not run (hover for why).</p>\n");
    let cells = matrix::cells(report);
    for tier in &report.tiers {
        let tables: Vec<&str> = cells.keys().filter(|(t, _, _)| *t == tier.name).map(|(_, table, _)| table.as_str()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        if tables.is_empty() {
            continue;
        }
        let _ = write!(out, "<h3>{}</h3>\n<table class=\"matrix\"><thead><tr><th>table</th>", escape(&tier.name));
        for heading in matrix::COLUMNS {
            let _ = write!(out, "<th>{}</th>", escape(heading));
        }
        out.push_str("</tr></thead><tbody>\n");
        for table in tables {
            let _ = write!(out, "<tr data-table=\"{}\"><th>{}</th>", escape(table), escape(table));
            for heading in matrix::COLUMNS {
                let Some(cell) = cells.get(&(tier.name.clone(), table.to_string(), heading)) else { continue };
                let _ = write!(
                    out,
                    "<td class=\"{}\" data-column=\"{}\" title=\"{}\">{}</td>",
                    cell.state.class(),
                    escape(heading),
                    escape(&cell.title),
                    escape(&cell.text)
                );
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("</section>\n");
}

fn causes(out: &mut String, report: &Report, failing: &[&Finding]) {
    out.push_str("<section id=\"causes\"><h2>Failures by root cause</h2>\n");
    if failing.is_empty() {
        out.push_str("<p>None: nothing fails the gate.</p>\n");
    }
    for root in failing {
        let follows: Vec<String> = report.following(root).map(|f| format!("{} on {}", f.check, f.object)).collect();
        let _ = writeln!(
            out,
            "<details open class=\"cause\" data-check=\"{}\"><summary><code>{}</code> on <code>{}</code> · <code>{}</code> ({})</summary>\n<p>{}</p>",
            escape(root.check),
            escape(root.check),
            escape(&root.tier),
            escape(&root.object),
            if root.status == Status::Error { "could not run".to_string() } else { root.severity.to_string() },
            escape(&root.message)
        );
        if !follows.is_empty() {
            let _ = writeln!(out, "<p>Follows from it (skipped, fixed with it): {}</p>", escape(&follows.join(", ")));
        }
        if !root.details.is_empty() {
            let evidence = serde_json::to_string_pretty(&root.details).unwrap_or_default();
            let _ = writeln!(out, "<pre class=\"evidence\">{}</pre>", escape(&evidence));
        }
        if let Some(repro) = &root.repro {
            let _ = writeln!(out, "<p>Reproduce:</p><pre>{}</pre>", escape(&repro.command));
        }
        let _ = writeln!(out, "<p>What it means and how to fix it: <code>docs/checks/{}.md</code></p></details>", escape(root.check));
    }
    out.push_str("</section>\n");
}

fn latency(out: &mut String, report: &Report) {
    let queries: Vec<&Finding> = report.findings.iter().filter(|f| f.check == "latency.target" && f.details.contains_key("target_ms")).collect();
    if queries.is_empty() {
        return;
    }
    out.push_str("<section id=\"latency\"><h2>Latency against targets</h2>\n");
    for query in queries {
        let number = |key: &str| query.details.get(key).and_then(Value::as_f64);
        let Some(target) = number("target_ms") else { continue };
        let bars: Vec<(&str, f64)> = ["p50", "p95", "p99", "mean", "max"].into_iter().filter_map(|k| Some((k, number(k)?))).collect();
        let scale = bars.iter().map(|(_, v)| *v).fold(target, f64::max) * 1.1;
        let (width, row) = (480.0, 22.0);
        let height = row * bars.len() as f64 + 10.0;
        let _ = write!(
            out,
            "<figure><figcaption><code>{}</code> on {} ({}, target {target} ms for {})</figcaption>\n<svg role=\"img\" viewBox=\"0 0 {} {height}\" width=\"{}\" height=\"{height}\">",
            escape(&query.object),
            escape(&query.tier),
            if query.status == Status::Pass { "within" } else { "over" },
            escape(query.details.get("statistic").and_then(Value::as_str).unwrap_or("p95")),
            width + 160.0,
            width + 160.0
        );
        for (i, (label, value)) in bars.iter().enumerate() {
            let y = i as f64 * row + 4.0;
            let w = (value / scale * width).max(1.0);
            let class = if *value > target { "over" } else { "within" };
            let _ = write!(
                out,
                "<text x=\"0\" y=\"{}\">{label}</text><rect class=\"{class}\" x=\"50\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\"/><text x=\"{:.1}\" y=\"{}\">{value:.3} ms</text>",
                y + 14.0,
                row - 6.0,
                50.0 + w + 6.0,
                y + 14.0
            );
        }
        let x = 50.0 + target / scale * width;
        let _ = writeln!(out, "<line class=\"target\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"0\" y2=\"{height}\"/></svg></figure>");
    }
    out.push_str("</section>\n");
}

fn tiers(out: &mut String, report: &Report) {
    out.push_str("<section id=\"tiers\"><h2>Tiers</h2>\n<table><thead><tr><th>tier</th><th>backend</th><th>server</th><th>tables</th><th>rows</th></tr></thead><tbody>\n");
    for tier in &report.tiers {
        let rows: i64 = tier.tables.iter().map(|t| t.rows).sum();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{rows}</td></tr>",
            escape(&tier.name),
            tier.backend,
            escape(&tier.server_version),
            tier.tables.len()
        );
    }
    out.push_str("</tbody></table></section>\n");
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const STYLE: &str = "
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #ffffff; --muted: #57606a; --line: #d0d7de;
  --held: #dafbe1; --leak: #ffd7d5; --denied: #eaeef2; --unknown: #fff8c5; --bar: #54aeff; --over: #ff8182; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #8d96a0; --line: #30363d;
  --held: #12361e; --leak: #5d1a1d; --denied: #21262d; --unknown: #3b2e00; --bar: #1f6feb; --over: #da3633; } }
body { font: 14px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 2rem auto; max-width: 72rem; padding: 0 1rem; }
header.fail h1 { color: #cf222e; } header.pass h1 { color: #1a7f37; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid var(--line); padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
td.held, span.held { background: var(--held); } td.leak, span.leak { background: var(--leak); font-weight: 600; }
td.denied, span.denied { background: var(--denied); color: var(--muted); } td.unknown, span.unknown { background: var(--unknown); }
span.held, span.leak, span.denied, span.unknown { padding: 0 0.3rem; }
pre { background: var(--denied); padding: 0.5rem; overflow-x: auto; white-space: pre-wrap; }
details.cause { border-left: 4px solid #cf222e; padding-left: 0.75rem; margin: 1rem 0; }
svg text { fill: var(--fg); font-size: 12px; } rect.within { fill: var(--bar); } rect.over { fill: var(--over); }
line.target { stroke: var(--fg); stroke-dasharray: 4 3; stroke-width: 1.5; }
@media print { body { margin: 0; max-width: none; } details { break-inside: avoid; } a { color: inherit; text-decoration: none; } }
";
