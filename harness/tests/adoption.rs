//! Adopting the gate on a system that already fails: a baseline accepts
//! today's failures so that only new ones fail, and says which entries are
//! fixed; `[[accept]]` entries need a reason and stop accepting after
//! their date. On the clinic app with the changes of fixtures/adoption/.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use common::binary::{assert_one_clear_error, stderr, Run};
use common::repo;

const TODAY: [&str; 3] = ["1_notes_rls_off.sql", "2_invoices_reporting_policy.sql", "3_patients_truncate.sql"];
const NEW: &str = "4_appointments_open_update.sql";

fn tier(changes: &[&str]) -> String {
    let mut paths = vec!["fixtures/layouts/plain".to_string()];
    paths.extend(changes.iter().map(|c| format!("fixtures/adoption/{c}")));
    format!("app={}", paths.join(","))
}

/// (check, object) of the roots that fail the gate.
fn failing(report: &Value) -> BTreeSet<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| matches!(f["status"].as_str(), Some("fail" | "error")) && f.get("caused_by").is_none())
        .map(|f| (f["check"].as_str().unwrap().to_string(), f["object"].as_str().unwrap().to_string()))
        .collect()
}

fn accepted(report: &Value) -> usize {
    report["findings"].as_array().unwrap().iter().filter(|f| f.get("accepted").is_some()).count()
}

fn pairs(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items.iter().map(|(c, o)| (c.to_string(), o.to_string())).collect()
}

#[test]
fn a_baseline_accepts_today_fails_only_on_new_failures_and_names_the_fixed() {
    let run = Run::new();
    let baseline = run.tmp.path().join("tierguard-baseline.json");
    let baseline = baseline.to_str().unwrap();
    let common = ["--backend", "local", "--seed", "7", "--format", "json"];

    let today = tier(&TODAY);
    let output = run.run(&[&common[..], &["--tier", &today, "--write-baseline", baseline]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("baseline: recorded 4 failure(s)"), "{}", stderr(&output));
    let recorded: Value = serde_json::from_str(&std::fs::read_to_string(baseline).unwrap()).unwrap();
    let entries: Vec<(&str, &str)> =
        recorded["failures"].as_array().unwrap().iter().map(|e| (e["check"].as_str().unwrap(), e["object"].as_str().unwrap())).collect();
    assert_eq!(
        entries,
        [("rls.disabled", "public.notes"), ("rls.read_leak", "public.invoices"), ("rls.unset_context", "public.invoices"), ("rls.write_leak", "public.patients")],
        "sorted, reviewable: {recorded}"
    );

    // The same system with the baseline passes, every failure accepted.
    let output = run.run(&[&common[..], &["--tier", &today, "--baseline", baseline]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(accepted(&run.report()), 4);

    // A new change fails with exactly its own failure.
    let worse: Vec<&str> = TODAY.iter().copied().chain([NEW]).collect();
    let output = run.run(&[&common[..], &["--tier", &tier(&worse), "--baseline", baseline]].concat());
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(failing(&run.report()), pairs(&[("rls.write_leak", "public.appointments")]));

    // Fixing one: the run passes and says the entry can go.
    let output = run.run(&[&common[..], &["--tier", &tier(&TODAY[1..]), "--baseline", baseline]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("baseline: rls.disabled app public.notes no longer fails: remove it from"), "{}", stderr(&output));

    let output = run.run(&[&common[..], &["--tier", &today, "--baseline", "fixtures/nope.json"]].concat());
    assert_one_clear_error(&output, &["--baseline fixtures/nope.json"]);
}

/// A scenario file auditing today's system with these `[[accept]]` entries.
fn scenario_with(dir: &Path, accepts: &str) -> String {
    let schema: Vec<String> = std::iter::once(repo().join("fixtures/layouts/plain"))
        .chain(TODAY.iter().map(|c| repo().join("fixtures/adoption").join(c)))
        .map(|p| format!("{:?}", p.display().to_string()))
        .collect();
    let path = dir.join("adoption.toml");
    let text = format!("seed = 7\nbackend = \"local\"\n\n[tiers.app]\nschema = [{}]\n\n{accepts}\n", schema.join(", "));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const ACCEPT_NOTES: &str = r#"[[accept]]
check = "rls.disabled"
object = "public.notes"
reason = "incident INC-42: notes are re-secured in the next release (owner: platform team)"
"#;

#[test]
fn accepted_failures_need_a_reason_and_expire() {
    let run = Run::new();
    let open_ended = scenario_with(run.tmp.path(), ACCEPT_NOTES);
    let output = run.run(&[&open_ended, "--format", "json,md"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = run.report();
    assert!(!failing(&report).contains(&("rls.disabled".to_string(), "public.notes".to_string())));
    let notes = report["findings"].as_array().unwrap().iter().find(|f| f["check"] == "rls.disabled" && f["object"] == "public.notes").unwrap().clone();
    assert_eq!(notes["status"], "skip");
    assert!(notes["accepted"]["reason"].as_str().unwrap().contains("INC-42"), "{notes}");
    let summary = std::fs::read_to_string(run.reports.join("summary.md")).unwrap();
    assert!(summary.contains("### Accepted (1)") && summary.contains("INC-42"), "{summary}");

    let expired = scenario_with(run.tmp.path(), &format!("{ACCEPT_NOTES}until = \"2020-01-31\"\n"));
    let output = run.run(&[&expired, "--format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(failing(&run.report()).contains(&("rls.disabled".to_string(), "public.notes".to_string())), "an expired acceptance still accepted");
    assert!(stderr(&output).contains("was accepted until 2020-01-31: it fails the gate again"), "{}", stderr(&output));

    let unreasoned = scenario_with(run.tmp.path(), "[[accept]]\ncheck = \"rls.disabled\"\nobject = \"public.notes\"\n");
    let output = run.run(&[&unreasoned]);
    assert_one_clear_error(&output, &["accept[0]", "a reason is required"]);

    let stale = scenario_with(run.tmp.path(), &format!("{ACCEPT_NOTES}\n[[accept]]\ncheck = \"rls.disabled\"\nobject = \"public.patients\"\nreason = \"patients were open once\"\n"));
    let output = run.run(&[&stale, "--format", "json"]);
    assert!(stderr(&output).contains("warning: accept[1] (rls.disabled on public.patients) matches no failure"), "{}", stderr(&output));
}

#[test]
fn diff_reports_exactly_the_access_a_migration_changed() {
    let run = Run::new();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tierguard"))
        .current_dir(repo())
        .args(["diff", "--backend", "local", "--seed", "7", "--quiet"])
        .args(["--base", &tier(&["0_patients_open_delete.sql"]), "--head", &tier(&[NEW])])
        .arg("--report-dir")
        .arg(&run.reports)
        .env("TMPDIR", run.scratch())
        .output()
        .expect("tierguard diff runs");
    run.assert_nothing_left();
    assert_eq!(output.status.code(), Some(1), "worse: {}", stderr(&output));
    let difference: Value = serde_json::from_str(&std::fs::read_to_string(run.reports.join("diff.json")).unwrap()).unwrap();
    let access: BTreeSet<(String, String, String, String)> = difference["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let field = |k: &str| a[k].as_str().unwrap().to_string();
            (field("table"), field("command"), field("before"), field("after"))
        })
        .collect();
    let expected: BTreeSet<(String, String, String, String)> = [
        ("public.appointments", "UPDATE", "held", "leak"),
        ("public.patients", "DELETE", "leak", "held"),
    ]
    .iter()
    .map(|(t, c, b, a)| (t.to_string(), c.to_string(), b.to_string(), a.to_string()))
    .collect();
    assert_eq!(access, expected);
    let named = |key: &str| -> Vec<String> { difference[key].as_array().unwrap().iter().map(|c| format!("{} {}", c["check"].as_str().unwrap(), c["object"].as_str().unwrap())).collect() };
    assert_eq!(named("new"), ["rls.write_leak public.appointments"]);
    assert_eq!(named("fixed"), ["rls.write_leak public.patients"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("access: app public.appointments: a tenant can now reach another tenant's rows with UPDATE (held → leak)"), "{stdout}");
    for side in ["base", "head"] {
        assert!(run.reports.join(side).join("report.json").is_file(), "{side} report");
    }
}
