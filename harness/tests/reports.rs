//! Every report format, on the reference scenario with one defect applied
//! (an extra `USING (true)` policy on leads), as CI reads it: SARIF valid
//! against the 2.1.0 schema and located at the statement that created the
//! table, JUnit read by junitparser with times and the seed, the Markdown
//! summary also in GitHub's step summary, GitHub annotations on stdout,
//! GitLab's Code Quality file, and the HTML page loaded in headless
//! Chromium (its screenshot kept beside the test binaries). All name the
//! same root causes.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use common::binary::{stderr, Run};
use common::repo;

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The line of `file` (relative to the repository) that starts with `prefix`.
fn line_of(file: &str, prefix: &str) -> u64 {
    let text = std::fs::read_to_string(repo().join(file)).expect("fixture");
    text.lines().position(|l| l.starts_with(prefix)).map(|i| i as u64 + 1).expect("line present")
}

/// (suite properties, testcase times) as junitparser reads them.
fn junit(path: &Path) -> (Vec<(String, String)>, Vec<f64>) {
    let script = r#"
import json, sys
from junitparser import JUnitXml
xml = JUnitXml.fromfile(sys.argv[1])
props, times = [], []
for suite in xml:
    props += [[p.name, p.value] for p in suite.properties()]
    times += [case.time for case in suite]
print(json.dumps([props, times]))
"#;
    let output = Command::new("python3").arg("-c").arg(script).arg(path).output().expect("python3 runs");
    assert!(output.status.success(), "junitparser: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("junitparser output")
}

#[test]
fn every_format_names_the_same_root_causes_where_ci_reads_them() {
    let run = Run::new();
    let step_summary = run.tmp.path().join("step-summary.md");
    let output = run
        .command(&[
            "scenarios/penguinmails.toml",
            "--backend",
            "local",
            "--tier",
            "oltp=fixtures/penguinmails/oltp.sql,fixtures/defects/rls/permissive_true.sql",
            "--format",
            "junit,json,sarif,md,html,gitlab",
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &step_summary)
        .output()
        .expect("tierguard runs");
    run.assert_nothing_left();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let dir = &run.reports;
    let report = run.report();
    let roots: BTreeSet<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "fail" && f.get("caused_by").is_none())
        .map(|f| (f["check"].as_str().unwrap().to_string(), f["object"].as_str().unwrap().to_string()))
        .collect();
    let expected: BTreeSet<(String, String)> =
        [("rls.read_leak", "public.leads"), ("rls.unset_context", "public.leads")].iter().map(|(c, o)| (c.to_string(), o.to_string())).collect();
    assert_eq!(roots, expected);

    // SARIF: valid, one result per root, at the CREATE TABLE of leads.
    let sarif = json(&dir.join("tierguard.sarif"));
    let schema = json(&repo().join("harness/tests/schemas/sarif-schema-2.1.0.json"));
    let validator = jsonschema::options().with_draft(jsonschema::Draft::Draft4).build(&schema).expect("SARIF schema");
    let errors: Vec<String> = validator.iter_errors(&sarif).map(|e| format!("{e} at {}", e.instance_path)).collect();
    assert!(errors.is_empty(), "tierguard.sarif breaks SARIF 2.1.0: {errors:#?}");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let in_sarif: BTreeSet<(String, String)> = results
        .iter()
        .map(|r| (r["ruleId"].as_str().unwrap().to_string(), r["properties"]["object"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(in_sarif, expected);
    let leads_line = line_of("fixtures/penguinmails/oltp.sql", "CREATE TABLE public.leads (");
    for result in results {
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], "fixtures/penguinmails/oltp.sql", "{result}");
        assert_eq!(location["region"]["startLine"], leads_line, "{result}");
        let rule = &sarif["runs"][0]["tool"]["driver"]["rules"][result["ruleIndex"].as_u64().unwrap() as usize];
        assert_eq!(rule["id"], result["ruleId"]);
        let docs = rule["properties"]["docs"].as_str().unwrap();
        assert!(repo().join(docs).is_file(), "rule {} points at {docs}, which does not exist", rule["id"]);
    }

    // JUnit: junitparser reads the seed and real times.
    let (properties, times) = junit(&dir.join("junit.xml"));
    assert!(properties.contains(&("seed".to_string(), report["seed"].to_string())), "{properties:?}");
    assert!(times.iter().any(|t| *t > 0.0), "every testcase took no time: {times:?}");

    // Markdown, in the folder and in GitHub's step summary.
    let summary = std::fs::read_to_string(dir.join("summary.md")).expect("summary.md");
    for (check, object) in &expected {
        assert!(summary.contains(&format!("`{check}` on `oltp` · `{object}`")), "{summary}");
    }
    assert!(summary.contains("tierguard replay "), "{summary}");
    assert!(summary.contains("rls.canary_leak"), "what follows from the leak is named with it: {summary}");
    assert_eq!(std::fs::read_to_string(&step_summary).expect("step summary").trim(), summary.trim());

    // GitHub annotations on stdout, at the table's line.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let annotations: Vec<&str> = stdout.lines().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(annotations.len(), expected.len(), "{stdout}");
    for line in annotations {
        assert!(line.starts_with(&format!("::error file=fixtures/penguinmails/oltp.sql,line={leads_line},title=rls.")), "{line}");
    }

    // GitLab Code Quality.
    let quality = json(&dir.join("gl-code-quality.json"));
    let in_quality: BTreeSet<(String, String)> = quality
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["check_name"].as_str().unwrap().to_string(), i["description"].as_str().unwrap().split(' ').nth(1).unwrap().trim_end_matches(':').to_string()))
        .collect();
    assert_eq!(in_quality, expected);
    assert!(quality.as_array().unwrap().iter().all(|i| i["location"]["path"] == "fixtures/penguinmails/oltp.sql" && i["severity"] == "critical"));

    // HTML, as Chromium renders it: no console error, the leak in the matrix, every cause listed.
    let (dom, console) = chromium(&dir.join("report.html"));
    // The page has no script: any console line at all is an error to look at.
    assert!(console.is_empty(), "console: {console:#?}");
    let leads = dom.split("<tr data-table=\"public.leads\">").nth(1).and_then(|row| row.split("</tr>").next()).expect("leads in the access matrix");
    assert!(leads.contains("class=\"leak\" data-column=\"SELECT\""), "{leads}");
    assert!(leads.contains("class=\"leak\" data-column=\"no tenant set\""), "{leads}");
    assert!(leads.contains("class=\"held\" data-column=\"INSERT\""), "{leads}");
    for (check, _) in &expected {
        assert!(dom.contains(&format!("data-check=\"{check}\"")), "{check} is not among the causes");
    }
}

/// The page's DOM after Chromium loaded it, and Chromium's console lines; a
/// screenshot goes to the test binaries' temp folder (a CI artifact).
fn chromium(page: &Path) -> (String, Vec<String>) {
    let url = format!("file://{}", page.display());
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    let base = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"];
    let run = |extra: &[String]| {
        let output = Command::new("chromium").args(base).args(extra).arg(&url).output().expect("chromium runs (ci/test installs it)");
        assert!(output.status.success(), "chromium: {}", String::from_utf8_lossy(&output.stderr));
        output
    };
    run(&["--window-size=1280,2000".to_string(), format!("--screenshot={}", shot.display())]);
    assert!(shot.is_file(), "no screenshot at {}", shot.display());
    let dumped = run(&["--dump-dom".to_string()]);
    let console = String::from_utf8_lossy(&dumped.stderr).lines().filter(|l| l.contains("CONSOLE")).map(str::to_string).collect();
    (String::from_utf8_lossy(&dumped.stdout).into_owned(), console)
}

#[test]
fn format_chooses_the_files_and_quiet_silences_the_progress() {
    let run = Run::new();
    let output = run.run(&["--backend", "local", "--rows", "0", "--only", "fk", "--tier", "app=fixtures/layouts/plain", "--format", "sarif", "--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let written: BTreeSet<String> = std::fs::read_dir(&run.reports).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(written, BTreeSet::from(["tierguard.sarif".to_string()]));
    assert!(!stderr(&output).contains("tierguard: "), "--quiet still printed progress: {}", stderr(&output));
}
