//! `junit.xml`: one testsuite per tier and family, one testcase per check
//! and object, with the time the check took to reach it and the seed as a
//! property (of the report's every suite: consumers read suite properties).
//! Failures carry the message, details and how to reproduce.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report as JUnit, SerializeError, TestCase, TestCaseStatus, TestSuite};

use super::Report;
use crate::checks::{Finding, Status};

pub fn write(report: &Report, sink: impl Write) -> Result<(), SerializeError> {
    // Suites in tier order, then family order, as findings were produced.
    let mut suites: BTreeMap<(usize, String), Vec<&Finding>> = BTreeMap::new();
    for finding in &report.findings {
        let tier_index = report.tiers.iter().position(|t| t.name == finding.tier).unwrap_or(usize::MAX);
        suites.entry((tier_index, format!("{}.{}", finding.tier, finding.family()))).or_default().push(finding);
    }
    let mut junit = JUnit::new("tierguard");
    for ((_, name), findings) in suites {
        let mut suite = TestSuite::new(name);
        suite.add_property(Property::new("seed", report.seed.to_string()));
        if let Some(scenario) = &report.scenario {
            suite.add_property(Property::new("scenario", scenario.as_str()));
        }
        let time: Duration = findings.iter().filter_map(|f| f.elapsed).sum();
        suite.set_time(time);
        suite.add_test_cases(findings.into_iter().map(testcase));
        junit.add_test_suite(suite);
    }
    junit.serialize(sink)
}

fn testcase(finding: &Finding) -> TestCase {
    let status = match finding.status {
        Status::Pass => TestCaseStatus::success(),
        Status::Skip => {
            // A skipped testcase's reason (for a finding that follows from
            // another, its root) goes to its output too, where every
            // consumer shows it.
            let mut status = TestCaseStatus::skipped();
            status.set_message(finding.message.as_str());
            status
        }
        Status::Fail | Status::Error => {
            let kind = if finding.status == Status::Fail { NonSuccessKind::Failure } else { NonSuccessKind::Error };
            let mut status = TestCaseStatus::non_success(kind);
            let message = if finding.status == Status::Fail { headline(finding) } else { finding.message.clone() };
            status.set_message(message).set_type(finding.check).set_description(body(finding));
            status
        }
    };
    let mut case = TestCase::new(format!("{} {}", finding.check, finding.object), status);
    case.set_classname(format!("{}.{}", finding.tier, finding.check));
    case.set_time(finding.elapsed.unwrap_or_default());
    if matches!(finding.status, Status::Fail | Status::Error) {
        case.set_system_out(body(finding));
    } else if finding.status == Status::Skip {
        case.set_system_out(finding.message.as_str());
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
