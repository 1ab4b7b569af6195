//! `tierguard.sarif`: SARIF 2.1.0 as code scanning reads it (GitHub's
//! upload-sarif). One rule per check id, its summary as help; one result
//! per root finding that fails or could not run, located at the schema file
//! and line that created its object (`load::Origins`), with a fingerprint
//! that stays the same across runs so an alert is tracked, not re-raised.

use serde_json::{json, Value};

use super::Report;
use crate::checks::{registry, CheckId, Finding, Severity, Status};

/// Failing or unproven roots (a finding that follows from another is the
/// other's result), not accepted.
pub fn results(report: &Report) -> impl Iterator<Item = &Finding> {
    report.findings.iter().filter(|f| f.caused_by.is_none() && f.accepted.is_none() && matches!(f.status, Status::Fail | Status::Error))
}

/// Failures the team accepted: SARIF lists them as suppressed results.
pub fn accepted(report: &Report) -> impl Iterator<Item = &Finding> {
    report.findings.iter().filter(|f| f.accepted.is_some())
}

pub fn document(report: &Report) -> Value {
    let rules: Vec<&CheckId> = registry::all().collect();
    let results: Vec<Value> = results(report)
        .chain(accepted(report))
        .map(|finding| {
            let index = rules.iter().position(|r| r.id == finding.check).unwrap_or(0);
            result(report, finding, index)
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": report.tool,
                "version": report.version,
                "semanticVersion": report.version,
                "rules": rules.iter().map(|r| rule(r)).collect::<Vec<_>>(),
            }},
            "automationDetails": { "id": format!("tierguard/{}/", report.scenario.as_deref().unwrap_or("ad-hoc")) },
            "invocations": [{ "executionSuccessful": true }],
            "results": results,
            "properties": { "seed": report.seed, "scenario": report.scenario },
        }],
    })
}

fn rule(check: &CheckId) -> Value {
    let first_sentence = check.summary.split(". ").next().unwrap_or(check.summary);
    let docs = format!("docs/checks/{}.md", check.id);
    let mut properties = json!({ "tags": [check.family()], "docs": docs });
    if check.family() == "rls" {
        // GitHub ranks security alerts by this (0-10): a leak between tenants is high.
        properties["tags"] = json!(["rls", "security", "multi-tenant"]);
        properties["security-severity"] = json!(match check.severity {
            Severity::Error => "8.0",
            Severity::Warning => "5.0",
            Severity::Info => "2.0",
        });
    }
    json!({
        "id": check.id,
        "name": check.id,
        "shortDescription": { "text": first_sentence },
        "fullDescription": { "text": check.summary },
        "help": { "text": format!("Fails when {}. See {docs}.", check.summary), "markdown": format!("Fails when {}.\n\nSee [{docs}]({docs}).", check.summary) },
        "defaultConfiguration": { "level": level(check.severity) },
        "properties": properties,
    })
}

fn result(report: &Report, finding: &Finding, rule_index: usize) -> Value {
    let origin = report.origins.get(&finding.tier).and_then(|o| o.of(&finding.object));
    let mut location = json!({
        "logicalLocations": [{ "fullyQualifiedName": format!("{}/{}", finding.tier, finding.object), "name": finding.object }],
    });
    if let Some(origin) = origin {
        location["physicalLocation"] = json!({
            "artifactLocation": { "uri": origin.file },
            "region": { "startLine": origin.line.max(1) },
        });
    }
    let text = match finding.status {
        Status::Error => format!("{} {}: could not run: {}", finding.tier, finding.object, finding.message),
        _ => format!("{} {}: {}", finding.tier, finding.object, finding.message),
    };
    let mut properties = json!({ "tier": finding.tier, "object": finding.object, "status": finding.status });
    if let Some(repro) = &finding.repro {
        properties["seed"] = json!(repro.seed);
        properties["reproduce"] = json!(repro.command);
    }
    let mut result = json!({
        "ruleId": finding.check,
        "ruleIndex": rule_index,
        "level": if finding.status == Status::Error { "error" } else { level(finding.severity) },
        "message": { "text": text },
        "locations": [location],
        "partialFingerprints": { "tierguard/v1": finding.fingerprint() },
        "properties": properties,
    });
    if let Some(accepted) = &finding.accepted {
        result["suppressions"] = json!([{ "kind": "external", "status": "accepted", "justification": format!("{} ({})", accepted.reason, accepted.by) }]);
    }
    result
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}
