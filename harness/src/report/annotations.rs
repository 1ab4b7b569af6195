//! Where CI shows findings beside the code: GitHub Actions workflow
//! commands (`::error file=...,line=...::`), printed when
//! `GITHUB_ACTIONS=true`, and GitLab's Code Quality report
//! (`gl-code-quality.json`, `--format gitlab`). Both list the roots that
//! fail or could not run, at the statement that created their object.

use serde_json::{json, Value};

use super::sarif::results;
use super::Report;
use crate::checks::{Finding, Severity, Status};
use crate::load::Origin;

fn origin(report: &Report, finding: &Finding) -> Option<Origin> {
    report.origins.get(&finding.tier).and_then(|o| o.of(&finding.object))
}

/// One workflow command per result, for stdout.
pub fn github(report: &Report) -> Vec<String> {
    results(report)
        .map(|finding| {
            let command = match (finding.status, finding.severity) {
                (Status::Error, _) | (_, Severity::Error) => "error",
                (_, Severity::Warning) => "warning",
                (_, Severity::Info) => "notice",
            };
            let mut properties = vec![format!("title={}", property(&format!("{} {} {}", finding.check, finding.tier, finding.object)))];
            if let Some(origin) = origin(report, finding) {
                properties.insert(0, format!("file={},line={}", property(&origin.file), origin.line.max(1)));
            }
            format!("::{command} {}::{}", properties.join(","), data(&finding.message))
        })
        .collect()
}

/// GitLab Code Quality: an array of issues.
pub fn gitlab(report: &Report) -> Value {
    let issues: Vec<Value> = results(report)
        .map(|finding| {
            let severity = match (finding.status, finding.severity) {
                (Status::Error, _) => "major",
                (_, Severity::Error) => "critical",
                (_, Severity::Warning) => "minor",
                (_, Severity::Info) => "info",
            };
            let origin = origin(report, finding).unwrap_or(Origin { file: String::new(), line: 1 });
            json!({
                "description": format!("{} {}: {}", finding.tier, finding.object, finding.message),
                "check_name": finding.check,
                "fingerprint": finding.fingerprint(),
                "severity": severity,
                "location": { "path": origin.file, "lines": { "begin": origin.line.max(1) } },
            })
        })
        .collect();
    Value::Array(issues)
}

/// A workflow command's message: `%`, CR and LF escaped.
fn data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A workflow command's property value: `:` and `,` escaped too.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_values_are_escaped() {
        assert_eq!(data("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(property("db/core.sql:12, x"), "db/core.sql%3A12%2C x");
    }
}
