//! `run --shard K/N` and `merge`: three shards of a two-tier scenario
//! (cross-tier orphans included), merged, report what one run reports,
//! finding for finding and in the same order; each shard runs only its part;
//! a merge of shards that are not one run's is one clear error.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use common::binary::{assert_one_clear_error, stderr, Run};
use common::repo;

const SCENARIO: &str = "scenarios/analytics.toml";

fn merge(dirs: &[&Path], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tierguard"))
        .current_dir(repo())
        .arg("merge")
        .args(dirs)
        .arg("--report-dir")
        .arg(out)
        .output()
        .expect("tierguard runs")
}

fn report(dir: &Path) -> Value {
    let report: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).expect("report.json")).expect("JSON");
    common::validate_against_contract(&report);
    report
}

/// What a run decides, without what it measures (as ci/same-findings):
/// timings, latency figures, table checksums (the schema's triggers stamp
/// rows with the clock) and replay commands naming the report folder.
fn decided(mut report: Value) -> Value {
    report.as_object_mut().expect("object").remove("timings");
    for finding in report["findings"].as_array_mut().expect("findings") {
        let finding = finding.as_object_mut().expect("finding");
        if let Some(repro) = finding.get_mut("repro").and_then(Value::as_object_mut) {
            repro.remove("command");
        }
        if finding["check"].as_str().is_some_and(|c| c.starts_with("latency.")) {
            finding.remove("details");
            finding.remove("message");
            finding.remove("status");
        }
    }
    for tier in report["tiers"].as_array_mut().expect("tiers") {
        for table in tier["tables"].as_array_mut().expect("tables") {
            table.as_object_mut().expect("table").remove("checksum");
        }
    }
    report
}

#[test]
fn three_shards_merged_report_what_one_run_reports() {
    let whole = Run::new();
    let output = whole.run(&[SCENARIO, "--backend", "local", "--quiet"]);
    assert!(matches!(output.status.code(), Some(0 | 1)), "{}", stderr(&output));
    let shards: Vec<Run> = (1..=3).map(|_| Run::new()).collect();
    let mut gates = Vec::new();
    for (k, shard) in shards.iter().enumerate() {
        let part = format!("{}/3", k + 1);
        let output = shard.run(&[SCENARIO, "--backend", "local", "--quiet", "--shard", &part]);
        assert!(matches!(output.status.code(), Some(0 | 1)), "shard {part}: {}", stderr(&output));
        gates.push(output.status.code());
        assert!(shard.reports.join("shard.json").exists(), "shard {part} leaves shard.json for the merge");
    }
    let whole_report = whole.report();
    let counted = |report: &Value| report["findings"].as_array().expect("findings").len();
    let parts: Vec<usize> = shards.iter().map(|s| counted(&s.report())).collect();
    assert!(parts.iter().all(|&n| n > 0 && n < counted(&whole_report)), "each shard checks a part: {parts:?} of {}", counted(&whole_report));

    let out = whole.tmp.path().join("merged");
    let dirs: Vec<&Path> = shards.iter().rev().map(|s| s.reports.as_path()).collect(); // any order
    let merged = merge(&dirs, &out);
    assert_eq!(merged.status.code(), output.status.code(), "the merge gates as the whole run did: {}", stderr(&merged));
    assert_eq!(decided(report(&out)), decided(whole_report), "merged shards differ from one run");
    for file in ["junit.xml", "tierguard.sarif", "summary.md", "report.html"] {
        assert!(out.join(file).exists(), "{file} is written for the merged run");
    }
    // Some shard fails when, and only when, the whole run does.
    assert_eq!(gates.contains(&Some(1)), output.status.code() == Some(1));
}

#[test]
fn a_merge_of_parts_that_are_not_one_runs_is_refused() {
    let shard = Run::new();
    let output = shard.run(&[SCENARIO, "--backend", "local", "--quiet", "--only", "check", "--shard", "1/2"]);
    assert!(matches!(output.status.code(), Some(0 | 1)), "{}", stderr(&output));
    let out = shard.tmp.path().join("merged");
    assert_one_clear_error(&merge(&[shard.reports.as_path()], &out), &["shard 2/2 is missing"]);
    let plain = Run::new();
    std::fs::create_dir_all(&plain.reports).expect("folder");
    assert_one_clear_error(&merge(&[shard.reports.as_path(), plain.reports.as_path()], &out), &["tierguard run --shard K/N"]);
    assert_one_clear_error(&shard.run(&[SCENARIO, "--backend", "local", "--shard", "3/2"]), &["K must be between 1 and N"]);
    assert!(!out.exists(), "a refused merge writes nothing");
}
