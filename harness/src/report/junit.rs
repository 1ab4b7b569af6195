//! `junit.xml`: one testsuite per tier and family, one testcase per check
//! and object. Failures carry the message, details and how to reproduce.

use std::collections::BTreeMap;
use std::io::Write;

use junit_report::{Duration, ReportBuilder, TestCase, TestSuiteBuilder};

use super::Report;
use crate::checks::{Finding, Status};

pub fn write(report: &Report, sink: impl Write) -> Result<(), junit_report::Error> {
    // Suites in tier order, then family order, as findings were produced.
    let mut suites: BTreeMap<(usize, String), Vec<&Finding>> = BTreeMap::new();
    for finding in &report.findings {
        let tier_index = report
            .tiers
            .iter()
            .position(|t| t.name == finding.tier)
            .unwrap_or(usize::MAX);
        suites
            .entry((tier_index, format!("{}.{}", finding.tier, finding.family())))
            .or_default()
            .push(finding);
    }
    let mut builder = ReportBuilder::new();
    for ((_, name), findings) in suites {
        let mut suite = TestSuiteBuilder::new(&name);
        suite.add_testcases(findings.into_iter().map(testcase));
        builder.add_testsuite(suite.build());
    }
    builder.build().write_xml(sink)
}

fn testcase(finding: &Finding) -> TestCase {
    let name = format!("{} {}", finding.check, finding.object);
    let mut case = match finding.status {
        Status::Pass => TestCase::success(&name, Duration::ZERO),
        Status::Skip => TestCase::skipped(&name),
        Status::Fail => TestCase::failure(&name, Duration::ZERO, finding.check, &headline(finding)),
        Status::Error => TestCase::error(&name, Duration::ZERO, finding.check, &finding.message),
    };
    case.set_classname(&format!("{}.{}", finding.tier, finding.check));
    if matches!(finding.status, Status::Fail | Status::Error) {
        case.set_system_out(&body(finding));
    } else if finding.status == Status::Skip {
        // A skipped testcase carries no message here: the reason goes to
        // its output (for a finding that follows from another, the root).
        case.set_system_out(&finding.message);
    }
    case
}

/// Failing warnings still fail their testcase; say their severity up front.
fn headline(finding: &Finding) -> String {
    format!("[{}] {}", finding.severity, finding.message)
}

fn body(finding: &Finding) -> String {
    let mut text = format!("{}\ntier: {}\nobject: {}\n", finding.message, finding.tier, finding.object);
    if !finding.details.is_empty() {
        text.push_str("details: ");
        text.push_str(&serde_json::to_string_pretty(&finding.details).unwrap_or_default());
        text.push('\n');
    }
    if let Some(repro) = &finding.repro {
        text.push_str(&format!("seed: {}\nreproduce: {}\n", repro.seed, repro.command));
    }
    text
}
