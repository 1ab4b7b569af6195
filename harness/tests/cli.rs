//! The `tierguard` binary as a user runs it: the reference scenario end to
//! end with its reports read by a real JUnit consumer, zero-config runs,
//! the gate's exit codes, every kind of bad input (one message, exit 2),
//! and cleanup after Ctrl-C, SIGTERM and a panic.
//! Each run leaves nothing behind (`common::binary::Run` checks it).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::binary::{assert_one_clear_error, stderr, Run};
use common::repo;

/// Reads junit.xml with junitparser (a JUnit consumer used by CI tooling)
/// and returns per-suite (name, tests, failures, errors, skipped).
fn junit_suites(path: &Path) -> Vec<(String, u64, u64, u64, u64)> {
    let script = r#"
import json, sys
from junitparser import JUnitXml
xml = JUnitXml.fromfile(sys.argv[1])
out = []
for suite in xml:
    cases = list(suite)
    failures = sum(1 for c in cases for r in c.result if r._tag == "failure")
    errors = sum(1 for c in cases for r in c.result if r._tag == "error")
    skipped = sum(1 for c in cases for r in c.result if r._tag == "skipped")
    out.append([suite.name, len(cases), failures, errors, skipped])
print(json.dumps(out))
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "junitparser could not read {}: {} (ci/test installs junitparser)",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("junitparser output")
}

fn findings_with_status<'a>(report: &'a Value, status: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["status"] == status)
        .collect()
}

#[test]
fn reference_scenario_passes_with_reports_a_junit_consumer_reads() {
    let run = Run::new();
    let output = run.run(&["scenarios/penguinmails.toml", "--backend", "local"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("seed 20251101"), "every run prints its seed");

    let report = run.report();
    assert_eq!(report["seed"], 20251101);
    let tiers: Vec<&str> = report["tiers"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tiers, ["oltp", "content", "queue", "olap"]);
    for tier in report["tiers"].as_array().unwrap() {
        assert_eq!(tier["backend"], "local");
        assert!(tier["server_version"].as_str().unwrap().starts_with("15"));
        assert!(tier["tables"].as_array().unwrap().len() >= 7, "{tier}");
    }
    let findings = report["findings"].as_array().unwrap();
    assert!(findings.len() > 100, "the checks looked at every table");
    assert!(findings_with_status(&report, "fail").is_empty());
    assert_eq!(report["summary"]["pass"].as_u64().unwrap() as usize, findings.len());

    let suites = junit_suites(&run.reports.join("junit.xml"));
    let total: u64 = suites.iter().map(|s| s.1).sum();
    assert_eq!(total as usize, findings.len(), "one testcase per finding");
    let names: Vec<&str> = suites.iter().map(|s| s.0.as_str()).collect();
    for expected in ["oltp.rls", "oltp.fk", "queue.partition", "olap.rls"] {
        assert!(names.contains(&expected), "suite {expected} in {names:?}");
    }
    assert!(suites.iter().all(|s| s.2 == 0 && s.3 == 0));
}

#[test]
fn zero_config_infers_tenancy_for_two_tiers() {
    let run = Run::new();
    let output = run.run(&[
        "--backend",
        "local",
        "--tier",
        "core=fixtures/zero-config/core.sql",
        "--tier",
        "archive=fixtures/zero-config/archive.sql",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let err = stderr(&output);
    for tier in ["core", "archive"] {
        assert!(err.contains(&format!("tenancy {tier}: column tenant_id (inferred) · setting app.tenant (inferred)")), "{err}");
    }
    assert!(err.contains("app role ledger_app (inferred)"), "{err}");
    assert!(err.contains("to pin the tenancy down, add to the scenario:\n  [tenancy]\n  app_role = \"ledger_app\""), "{err}");
    let report = run.report();
    assert_eq!(report["tiers"].as_array().unwrap().len(), 2);
    let rls = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "rls.disabled" && f["status"] == "pass")
        .count();
    assert_eq!(rls, 3, "accounts (tenant root), invoices, archived_invoices");
}

#[test]
fn gate_exit_codes_follow_fail_on() {
    let run = Run::new();
    let defect = "oltp=fixtures/penguinmails/oltp.sql,fixtures/defects/rls/disabled.sql";
    let output = run.run(&["scenarios/penguinmails.toml", "--backend", "local", "--tier", defect]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("FAIL rls.disabled") && stdout.contains("public.leads"), "{stdout}");
    let report = run.report();
    // One cause, one failure: the catalog sees RLS off; the probes show
    // what it costs, as findings that follow from it (skipped, caused_by).
    let failures: Vec<&str> = findings_with_status(&report, "fail").iter().map(|f| f["check"].as_str().unwrap()).collect();
    assert_eq!(failures, ["rls.disabled"]);
    let root = "rls.disabled oltp public.leads";
    let follows: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["caused_by"] == root)
        .inspect(|f| assert_eq!(f["status"], "skip", "{f}"))
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert_eq!(follows, ["rls.read_leak", "rls.write_leak", "rls.unset_context", "rls.canary_leak"]);
    let leak = report["findings"].as_array().unwrap().iter().find(|f| f["check"] == "rls.read_leak" && f["object"] == "public.leads").unwrap();
    assert!(leak["details"]["count"].as_u64().unwrap() > 0 && leak["repro"]["seed"] == 20251101, "{leak}");
    let disabled = findings_with_status(&report, "fail")[0];
    assert_eq!(disabled["details"]["follows"].as_array().unwrap().len(), 4, "the root carries its evidence: {disabled}");
    // The terminal lists the cause once, and counts what follows from it.
    assert!(stdout.contains("FAIL rls.disabled [error]: 1 object") && !stdout.contains("FAIL rls.read_leak"), "{stdout}");
    assert!(stdout.contains("4 more finding(s) follow from the causes above"), "{stdout}");
    // JUnit: the root fails, what follows from it is skipped.
    let suites = junit_suites(&run.reports.join("junit.xml"));
    let rls = suites.iter().find(|s| s.0 == "oltp.rls").expect("oltp.rls suite");
    assert_eq!((rls.2, rls.3, rls.4), (1, 0, 4), "oltp.rls: one failure, four skipped: {suites:?}");

    // A warning-level failure passes the default gate and fails --fail-on warning.
    let warning = "oltp=fixtures/penguinmails/oltp.sql,fixtures/defects/rls/not_forced.sql";
    let args = ["scenarios/penguinmails.toml", "--backend", "local", "--only", "rls", "--tier", warning];
    assert_eq!(run.run(&args).status.code(), Some(0));
    let strict: Vec<&str> = args.iter().copied().chain(["--fail-on", "warning"]).collect();
    assert_eq!(run.run(&strict).status.code(), Some(1));
    let report = run.report();
    assert!(
        report["findings"].as_array().unwrap().iter().all(|f| f["check"].as_str().unwrap().starts_with("rls.")),
        "--only rls runs only the rls family"
    );
}

#[test]
fn strict_fails_the_gate_on_skipped_checks() {
    // One tenant: no cross-tenant probe can run, so they are skipped.
    let run = Run::new();
    let args = ["scenarios/penguinmails.toml", "--backend", "local", "--only", "rls", "--tenants", "1"];
    let output = run.run(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = run.report();
    assert!(!findings_with_status(&report, "skip").is_empty(), "one tenant: the probes are skipped");
    let strict: Vec<&str> = args.iter().copied().chain(["--strict"]).collect();
    let output = run.run(&strict);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("FAIL rls.read_leak") && stdout.contains("[skipped]"), "{stdout}");
}

#[test]
fn no_application_role_is_one_error_not_a_pass() {
    let run = Run::new();
    let tier = "core=fixtures/bad/no_app_role.sql";
    // Only isolation asked for, and nothing can be probed: exit 2.
    let output = run.run(&["--backend", "local", "--only", "rls", "--tier", tier]);
    assert_one_clear_error(&output, &["--app-role"]);
    // With other families the run goes on, and the tier carries one error.
    let output = run.run(&["--backend", "local", "--only", "rls,fk", "--tier", tier]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = run.report();
    let errors = findings_with_status(&report, "error");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0]["message"].as_str().unwrap().contains("--app-role"), "{}", errors[0]);
    assert!(findings_with_status(&report, "pass").iter().all(|f| !f["check"].as_str().unwrap().ends_with("_leak")));
}

#[test]
fn probes_act_as_the_login_role_with_its_memberships() {
    let run = Run::new();
    let output = run.run(&["--backend", "local", "--only", "rls", "--tier", "core=fixtures/membership/core.sql"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("app role ledger_web (inferred), logs in for ledger_app"), "{}", stderr(&output));
    let report = run.report();
    let failing: Vec<(&str, &str)> = findings_with_status(&report, "fail")
        .iter()
        .map(|f| (f["check"].as_str().unwrap(), f["object"].as_str().unwrap()))
        .collect();
    assert!(failing.contains(&("rls.read_leak", "public.invoices")), "{failing:?}");
    let case = findings_with_status(&report, "fail").into_iter().find(|f| f["check"] == "rls.read_leak").unwrap();
    assert!(case["details"]["statement"].as_str().is_some(), "{case}");
}

/// Exit 2, exactly one error line naming the cause, no panic text.
#[test]
fn malformed_scenario_names_file_line_and_key() {
    let run = Run::new();
    let output = run.run(&["fixtures/bad/malformed.toml"]);
    assert_one_clear_error(&output, &["fixtures/bad/malformed.toml", "line 6", "shema"]);
}

#[test]
fn missing_schema_file_is_named_before_any_server_starts() {
    let run = Run::new();
    let output = run.run(&["--backend", "local", "--tier", "core=fixtures/nope.sql"]);
    assert_one_clear_error(&output, &["core", "fixtures/nope.sql"]);
    assert!(!stderr(&output).contains("provisioned"));
}

#[test]
fn sql_error_names_tier_file_line_and_server_message() {
    let run = Run::new();
    let output = run.run(&["--backend", "local", "--tier", "core=fixtures/bad/syntax_error.sql"]);
    assert_one_clear_error(
        &output,
        &["tier core", "fixtures/bad/syntax_error.sql", "line 8", "syntax error at or near \"SOMETIMES\""],
    );
}

#[test]
fn latency_queries_with_unknown_tiers_params_or_bad_sql_are_refused() {
    let run = Run::new();
    // Unknown tier and parameter kind: refused before any server starts.
    let output = run.run(&["fixtures/bad/latency_unknown_tier.toml", "--backend", "local"]);
    assert_one_clear_error(&output, &["latency entry `lead_count`", "unknown tier `crn`"]);
    assert!(!stderr(&output).contains("provisioned"));
    let output = run.run(&["fixtures/bad/latency_unknown_param.toml", "--backend", "local"]);
    assert_one_clear_error(
        &output,
        &["fixtures/bad/latency_unknown_param.toml", "latency `lead_count`", "unknown parameter `tennant`"],
    );
    assert!(!stderr(&output).contains("provisioned"));
    // The statement itself can only be judged by its server: before seeding.
    let output = run.run(&["fixtures/bad/latency_bad_sql.toml", "--backend", "local"]);
    assert_one_clear_error(
        &output,
        &["latency `lead_count` (tier crm)", "relation \"public.lead\" does not exist"],
    );
    // A profile the scenario does not declare.
    let output = run.run(&["scenarios/leads.toml", "--backend", "local", "--profile", "nightly"]);
    assert_one_clear_error(&output, &["unknown profile `nightly`", "ci, certification"]);
}

/// The leads scenario's twelve queries end to end: one testcase per query
/// and check, statistics in `details`, each plan saved beside the report.
#[test]
fn latency_results_reach_report_junit_and_plan_files() {
    let run = Run::new();
    let output = run.run(&["scenarios/leads.toml", "--backend", "local", "--only", "latency"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("profile ci"), "{}", stderr(&output));
    let report = run.report();
    let targets: Vec<&Value> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["check"] == "latency.target")
        .collect();
    assert_eq!(targets.len(), 12, "one latency.target per query");
    for f in &targets {
        let d = &f["details"];
        let plan_file = run.reports.join(d["plan"].as_str().expect("plan file named"));
        let plan: Value = serde_json::from_str(&std::fs::read_to_string(&plan_file).expect("plan written"))
            .expect("plan is JSON");
        assert!(plan[0]["Plan"]["Node Type"].is_string(), "{}: not an EXPLAIN plan", plan_file.display());
        assert!(d["overhead_ms"].as_f64().expect("overhead_ms") >= 0.0);
    }
    let suites = junit_suites(&run.reports.join("junit.xml"));
    assert_eq!(suites, vec![("leads.latency".to_string(), 24, 0, 0, 0)]);
}

#[test]
fn unknown_tiers_in_data_and_reference_are_refused() {
    let run = Run::new();
    let output = run.run(&["scenarios/penguinmails.toml", "--data", "billing=fixtures/x.sql"]);
    assert_one_clear_error(&output, &["--data", "billing"]);
    let output = run.run(&[
        "scenarios/penguinmails.toml",
        "--reference",
        "crm.public.x.a_id=oltp.public.a.id",
    ]);
    assert_one_clear_error(&output, &["unknown tier `crm`"]);
}

#[test]
fn copy_from_stdin_in_a_data_file_loads_its_rows() {
    let run = Run::new();
    let output = run.run(&[
        "--backend",
        "local",
        "--tier",
        "core=fixtures/zero-config/core.sql",
        "--data",
        "core=fixtures/copy-data/accounts.sql",
        "--rows",
        "0",
        "--only",
        "partition",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = run.report();
    let tables = report["tiers"][0]["tables"].as_array().expect("tables");
    let accounts = tables.iter().find(|t| t["name"] == "public.accounts").expect("accounts");
    assert_eq!(accounts["rows"], 3, "two rows by COPY, one by the INSERT after them: {accounts}");
}

#[test]
fn huge_volumes_are_refused_against_a_stated_limit() {
    let run = Run::new();
    let output = run.run(&["scenarios/penguinmails.toml", "--backend", "local", "--tenants", "4000000000"]);
    assert_one_clear_error(&output, &["--tenants 4000000000", "limit of 100000 tenants"]);
    let output = run.run(&["scenarios/penguinmails.toml", "--backend", "local", "--rows", "18000000000000000000"]);
    assert_one_clear_error(&output, &["limit of 1000000000 rows per table"]);
    assert!(!stderr(&output).contains("provisioned"), "{}", stderr(&output));
}

#[test]
fn unknown_tables_and_columns_are_refused_with_the_closest_name_before_seeding() {
    let run = Run::new();
    let args = |reference: &'static str| ["scenarios/penguinmails.toml", "--backend", "local", "--reference", reference];
    let output = run.run(&args("content.public.email_messages.campaign_id=oltp.public.campains.id"));
    assert_one_clear_error(&output, &["has no table public.campains", "did you mean `public.campaigns`"]);
    assert!(!stderr(&output).contains("seeded"), "refused before seeding: {}", stderr(&output));
    let output = run.run(&args("content.public.email_messages.campain_id=oltp.public.campaigns.id"));
    assert_one_clear_error(&output, &["has no column `campain_id`", "did you mean `campaign_id`"]);
}

#[test]
fn declared_domains_and_relationships_must_name_real_columns() {
    let run = Run::new();
    let output = run.run(&["fixtures/bad/unknown_domain_column.toml", "--backend", "local"]);
    assert_one_clear_error(
        &output,
        &["[domains] \"crm.public.leads.scor\"", "fixtures/bad/unknown_domain_column.toml", "no column `scor`"],
    );
    let output = run.run(&["fixtures/bad/unknown_cascade_column.toml", "--backend", "local"]);
    assert_one_clear_error(
        &output,
        &["[[cascade]] from = \"crm.public.lead.assigned_to\"", "fixtures/bad/unknown_cascade_column.toml", "no table public.lead"],
    );
    // A behaviour that does not exist is refused before any server starts.
    let output = run.run(&["fixtures/bad/bad_on_delete.toml", "--backend", "local"]);
    assert_one_clear_error(&output, &["fixtures/bad/bad_on_delete.toml", "cascade[1]", "`nullify`"]);
    assert!(!stderr(&output).contains("provisioned"));
}

#[test]
fn context_function_must_be_named_and_exist() {
    let run = Run::new();
    let output = run.run(&["fixtures/bad/context_function_unnamed.toml", "--backend", "local"]);
    assert_one_clear_error(&output, &["fixtures/bad/context_function_unnamed.toml", "tenancy.context_function"]);
    assert!(!stderr(&output).contains("provisioned"));
    let output = run.run(&["fixtures/bad/context_function_missing.toml", "--backend", "local"]);
    assert_one_clear_error(&output, &["tenancy.context_function `app.enter_tenant`", "tier `helpdesk`", "no such function"]);
}

#[test]
fn unreachable_dsn_fails_without_printing_the_password() {
    let run = Run::new();
    let output = run.run(&[
        "--backend",
        "external",
        "--dsn",
        "core=postgresql://auditor:hunter2secret@127.0.0.1:1/app",
    ]);
    assert_one_clear_error(&output, &["tier core", "cannot connect", "auditor@127.0.0.1:1/app"]);
    let all = format!("{}{}", stderr(&output), String::from_utf8_lossy(&output.stdout));
    assert!(!all.contains("hunter2secret"), "password printed: {all}");
}

#[test]
fn containers_backend_without_docker_says_so() {
    let run = Run::new();
    let output = run
        .command(&["--backend", "containers", "--tier", "core=fixtures/zero-config/core.sql"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("runs");
    run.assert_nothing_left();
    assert_one_clear_error(&output, &["no Docker engine answers"]);
}

#[test]
fn local_backend_without_binaries_says_what_to_install() {
    let run = Run::new();
    let output = run
        .command(&["--backend", "local", "--tier", "core=fixtures/zero-config/core.sql"])
        .env(tierguard::provision::BIN_DIR_ENV, "/nonexistent")
        .output()
        .expect("runs");
    run.assert_nothing_left();
    assert_one_clear_error(&output, &["no initdb and postgres"]);
}

/// Starts a run, waits for a progress line containing `moment`, sends `signal`.
fn interrupt_at(run: &Run, moment: &str, signal: i32) -> Output {
    let mut child = run
        .command(&["scenarios/penguinmails.toml", "--backend", "local"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        seen.push(line.clone());
        if line.contains(moment) || Instant::now() > deadline {
            break;
        }
    }
    // SAFETY: signalling a child we spawned.
    unsafe { libc::kill(child.id() as i32, signal) };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let mut output = child.wait_with_output().expect("wait");
    output.stderr = [seen, rest].concat().join("\n").into_bytes();
    run.assert_nothing_left();
    output
}

#[test]
fn ctrl_c_while_servers_start_removes_every_server() {
    let run = Run::new();
    // The first progress line comes just before provisioning starts.
    let output = interrupt_at(&run, "seed", libc::SIGINT);
    assert_one_clear_error(&output, &["interrupted by SIGINT"]);
}

#[test]
fn sigterm_mid_run_removes_every_server() {
    let run = Run::new();
    let output = interrupt_at(&run, "provisioned", libc::SIGTERM);
    assert_one_clear_error(&output, &["interrupted by SIGTERM"]);
}

#[test]
fn keep_servers_holds_them_for_psql_until_ctrl_c() {
    let run = Run::new();
    let mut child = run
        .command(&["scenarios/penguinmails.toml", "--backend", "local", "--only", "partition", "--keep-servers"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    // The summary, then one psql command per tier.
    let commands: Vec<String> = stdout.lines().map_while(Result::ok).filter(|l| l.starts_with("tier ")).take(4).collect();
    assert_eq!(commands.len(), 4, "{commands:?}");
    let oltp = commands.iter().find(|c| c.starts_with("tier oltp: ")).expect("a command for oltp");
    let (passfile, conninfo) = oltp
        .trim_start_matches("tier oltp: PGPASSFILE=")
        .split_once(" psql ")
        .expect("PGPASSFILE=... psql '...'");
    let users = Command::new("psql")
        .env("PGPASSFILE", passfile)
        .args([conninfo.trim_matches('\''), "-Atc", "SELECT count(*) FROM users"])
        .output()
        .expect("psql runs");
    assert!(users.status.success(), "psql: {}", String::from_utf8_lossy(&users.stderr));
    assert!(String::from_utf8_lossy(&users.stdout).trim().parse::<u64>().expect("a count") > 0, "the seeded rows are there");
    let passwords = std::fs::read_to_string(passfile).expect("the password file");
    let password = passwords.lines().next().and_then(|l| l.rsplit(':').next()).expect("host:port:db:user:password").to_string();
    // SAFETY: signalling a child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0), "the run's own verdict, not an interruption: {}", stderr(&output));
    let printed = format!("{}{}", commands.join("\n"), stderr(&output));
    assert!(!printed.contains(&password), "a password printed: {printed}");
    assert!(!Path::new(passfile).exists(), "the password file goes with the servers");
    run.assert_nothing_left();
}

/// Processes whose command line names `marker`.
fn processes_naming(marker: &str) -> Vec<(i32, String)> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<i32>().ok()?, std::fs::read(e.path().join("cmdline")).ok()?)))
        .map(|(pid, c)| (pid, String::from_utf8_lossy(&c).replace('\0', " ")))
        .filter(|(_, c)| c.contains(marker))
        .collect()
}

#[test]
fn killed_runs_leave_nothing_once_the_next_run_is_done() {
    let run = Run::new();
    let scratch = run.scratch().to_string_lossy().to_string();
    let args = ["scenarios/penguinmails.toml", "--backend", "local", "--only", "partition"];
    for round in 0..10 {
        let mut child = run.command(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn");
        let lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        for line in lines.map_while(Result::ok) {
            if line.contains("provisioned") {
                break;
            }
        }
        if round % 2 == 1 {
            // The whole cgroup dies: this run's watchdog too, so only the
            // next run's sweep is left (the others' watchdogs clean up).
            let parent = |pid: i32| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
            };
            let own = processes_naming("tierguard-watchdog").into_iter().filter(|(pid, c)| c.contains(&scratch) && parent(*pid) == Some(child.id()));
            for (pid, _) in own {
                // SAFETY: a watchdog of a run this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        // SAFETY: signalling a child we spawned.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        child.wait().expect("wait");
    }
    // The watchdogs that survived finish their cleanup within seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    while processes_naming("tierguard-watchdog").iter().any(|(_, c)| c.contains(&scratch)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    // The next run sweeps the folders and servers of runs whose watchdog died too.
    let output = run.run(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn an_unwritable_report_folder_is_refused_before_any_server_starts() {
    let run = Run::new();
    let file = run.tmp.path().join("a-file");
    std::fs::write(&file, "not a folder").expect("file");
    for dir in [file.clone(), file.join("under")] {
        let output = Command::new(env!("CARGO_BIN_EXE_tierguard"))
            .current_dir(repo())
            .args(["run", "scenarios/penguinmails.toml", "--backend", "local", "--report-dir"])
            .arg(&dir)
            .env("TMPDIR", run.scratch())
            .output()
            .expect("tierguard runs");
        run.assert_nothing_left();
        assert_one_clear_error(&output, &["could not write reports", "is a file"]);
        assert!(!stderr(&output).contains("provisioned"), "{}", stderr(&output));
    }
}

#[test]
fn a_closed_standard_output_ends_the_run_quietly() {
    let run = Run::new();
    let mut child = run
        .command(&["scenarios/penguinmails.toml", "--backend", "local", "--only", "partition"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take()); // the reader is gone, as with `| head -0`
    let output = child.wait_with_output().expect("wait");
    run.assert_nothing_left();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
}

#[test]
fn a_tier_without_tables_is_not_a_pass() {
    let run = Run::new();
    let output = run.run(&["--backend", "local", "--tier", "core=fixtures/bad/no_tables.sql"]);
    assert_one_clear_error(&output, &["tier `core`", "nothing to audit"]);
}

#[test]
fn an_external_login_that_row_level_security_blinds_is_refused() {
    // A database holding the reference oltp schema and two tenants, audited
    // through a login without BYPASSRLS: every tenant table looks empty to it.
    let lab = common::lab::Lab::get("scenarios/penguinmails.toml");
    let server = &lab.servers[0];
    let url = common::rt().block_on(common::psql_database(server, "blinded_auditor"));
    let setup = run_setup_sql(
        "DO $$ BEGIN CREATE ROLE blinded_auditor LOGIN PASSWORD 'blinded' NOBYPASSRLS; \
         EXCEPTION WHEN duplicate_object THEN NULL; END $$;\n\
         INSERT INTO public.tenants (id, plan_id, name) \
           SELECT ('00000000-0000-4000-8000-00000000000' || n)::uuid, (SELECT min(id::text)::uuid FROM public.plans), 'tenant ' || n \
           FROM generate_series(1, 2) n;\n\
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO blinded_auditor;\nANALYZE;\n",
    );
    common::psql_files(&url, &[repo().join("fixtures/penguinmails/oltp.sql"), setup.path().to_path_buf()]);
    let options = &server.options;
    let dsn = format!("oltp=postgresql://blinded_auditor:blinded@{}:{}/blinded_auditor", options.get_host(), options.get_port());
    let run = Run::new();
    let output = run.run(&["--backend", "external", "--dsn", &dsn]);
    assert_one_clear_error(&output, &["tier `oltp`", "public.tenants", "BYPASSRLS"]);
    assert!(!stderr(&output).contains("blinded@"), "no password printed: {}", stderr(&output));
}

#[test]
fn external_sessions_are_read_only_and_cancel_a_statement_past_the_timeout() {
    use tierguard::scenario::{Overrides, Scenario};
    let lab = common::lab::Lab::get("scenarios/penguinmails.toml");
    let url = common::rt().block_on(common::psql_database(&lab.servers[0], "statement_timeout"));
    let overrides = Overrides {
        backend: Some(tierguard::provision::BackendChoice::External),
        dsns: vec![("core".into(), url)],
        statement_timeout: Some(1),
        ..Overrides::default()
    };
    let scenario = Scenario::resolve(None, overrides).expect("scenario");
    common::rt().block_on(async {
        let servers = tierguard::provision::provision(&scenario).await.expect("connects");
        let pool = servers[0].pool(1).await.expect("pool");
        let read_only: String = sqlx::query_scalar("SHOW default_transaction_read_only").fetch_one(&pool).await.expect("show");
        assert_eq!(read_only, "on");
        let error = sqlx::query("SELECT pg_sleep(5)").execute(&pool).await.expect_err("cancelled after a second");
        let code = error.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned());
        assert_eq!(code.as_deref(), Some("57014"), "{error}");
    });
}

/// A SQL file holding `sql`, for psql.
fn run_setup_sql(sql: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".sql").tempfile().expect("temp file");
    std::fs::write(file.path(), sql).expect("write");
    file
}

#[test]
fn a_closed_terminal_or_sigquit_mid_run_removes_every_server() {
    for (signal, name) in [(libc::SIGHUP, "SIGHUP"), (libc::SIGQUIT, "SIGQUIT")] {
        let run = Run::new();
        let output = interrupt_at(&run, "provisioned", signal);
        assert_one_clear_error(&output, &[&format!("interrupted by {name}")]);
    }
}

#[test]
fn a_dsn_without_the_external_backend_is_refused_before_any_server_starts() {
    let run = Run::new();
    let url = "postgresql://auditor:s3cret@127.0.0.1:1/oltp";
    let output = run.run(&["scenarios/penguinmails.toml", "--backend", "local", "--dsn", &format!("oltp={url}")]);
    assert_one_clear_error(&output, &["--dsn oltp", "--backend external"]);
    assert!(!stderr(&output).contains("s3cret") && !stderr(&output).contains("provisioned"), "{}", stderr(&output));
}

#[test]
fn panic_mid_run_removes_every_server() {
    let run = Run::new();
    let output = run
        .command(&["scenarios/penguinmails.toml", "--backend", "local"])
        .env(tierguard::run::FAULT_ENV, "panic-after-provision")
        .output()
        .expect("runs");
    run.assert_nothing_left();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("internal error"), "{err}");
}

#[test]
fn a_leak_leaves_a_repro_that_replay_reproduces() {
    let run = Run::new();
    let defect = "oltp=fixtures/penguinmails/oltp.sql,fixtures/defects/rls/permissive_true.sql";
    let output = run.run(&["scenarios/penguinmails.toml", "--backend", "local", "--only", "rls", "--tier", defect]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = run.report();
    let leak = findings_with_status(&report, "fail").into_iter().find(|f| f["check"] == "rls.read_leak").expect("read leak");
    let file = run.reports.join(leak["repro"]["file"].as_str().expect("repro file"));
    let sql = std::fs::read_to_string(file.with_extension("sql")).expect("repro.sql");
    assert!(sql.contains("SET LOCAL ROLE \"penguinmails_app\"") && sql.contains("set_config('app.current_tenant_id'"), "{sql}");

    let replay_dir = run.tmp.path().join("replay");
    let replay = Command::new(env!("CARGO_BIN_EXE_tierguard"))
        .current_dir(repo())
        .arg("replay")
        .arg(&file)
        .args(["--backend", "local", "--report-dir"])
        .arg(&replay_dir)
        .env("TMPDIR", run.scratch())
        .output()
        .expect("replay runs");
    run.assert_nothing_left();
    let stdout = String::from_utf8_lossy(&replay.stdout);
    assert_eq!(replay.status.code(), Some(1), "{stdout}{}", stderr(&replay));
    assert!(stdout.contains("reproduced: public.leads"), "{stdout}");

    // psql alone: a fresh database holding the tier's schema and the
    // defect, then the repro script, which loads the seeded rows itself.
    let lab = common::lab::Lab::get("scenarios/penguinmails.toml");
    let url = common::rt().block_on(common::psql_database(&lab.servers[0], "repro_psql"));
    let scripts = [
        repo().join("fixtures/penguinmails/oltp.sql"),
        repo().join("fixtures/defects/rls/permissive_true.sql"),
        file.with_extension("sql"),
    ];
    let output = common::psql_files(&url, &scripts);
    let listed = output.lines().filter(|l| l.starts_with("leads/(")).count();
    let leads = report["tiers"][0]["tables"].as_array().expect("tables").iter().find(|t| t["name"] == "public.leads").expect("leads");
    let (rows, foreign) = (leads["rows"].as_u64().unwrap() as usize, leak["details"]["count"].as_u64().unwrap() as usize);
    assert!(listed == rows && foreign > 0, "the tenant owns {} of {rows} leads, psql lists {listed}:\n{output}", rows - foreign);
}

#[test]
fn a_write_leak_repro_shows_the_other_tenants_rows_change() {
    let run = Run::new();
    let defect = "oltp=fixtures/penguinmails/oltp.sql,fixtures/defects/rls/update_using_true.sql";
    let output = run.run(&["scenarios/penguinmails.toml", "--backend", "local", "--only", "rls", "--tier", defect]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = run.report();
    let leak = findings_with_status(&report, "fail").into_iter().find(|f| f["check"] == "rls.write_leak").expect("write leak");
    assert_eq!(leak["object"], "public.campaigns");
    let details = &leak["details"];
    assert_eq!(details["kind"], "unqualified update", "{leak}");
    assert!(details["actor"] != details["victim"] && details["victim"].as_str().is_some_and(|v| !v.is_empty()), "{leak}");
    let samples = details["samples"].as_array().expect("samples");
    assert!(details["count"].as_u64().unwrap() > 0 && !samples.is_empty() && samples.len() <= 10, "{leak}");
    assert!(samples.iter().all(|s| s.as_str().unwrap().ends_with(" changed")), "{leak}");

    // psql alone shows the other tenant's rows before and after the statement.
    let file = run.reports.join(leak["repro"]["file"].as_str().expect("repro file"));
    let lab = common::lab::Lab::get("scenarios/penguinmails.toml");
    let url = common::rt().block_on(common::psql_database(&lab.servers[0], "write_repro_psql"));
    let scripts = [
        repo().join("fixtures/penguinmails/oltp.sql"),
        repo().join("fixtures/defects/rls/update_using_true.sql"),
        file.with_extension("sql"),
    ];
    let printed = common::psql_files(&url, &scripts);
    let observed: Vec<&str> = printed.lines().filter(|l| l.split('|').count() == 2 && l.split('|').all(|v| v.parse::<i128>().is_ok())).collect();
    assert_eq!(observed.len(), 2, "the other tenant's rows before and after:\n{printed}");
    assert_ne!(observed[0], observed[1], "the statement changed the other tenant's rows:\n{printed}");
}

/// The checks with this id that do not pass, as (status, object).
fn not_passing<'a>(report: &'a Value, check: &str) -> Vec<(&'a str, &'a str)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == check && f["status"] != "pass")
        .map(|f| (f["status"].as_str().unwrap(), f["object"].as_str().unwrap()))
        .collect()
}

#[test]
fn references_without_a_foreign_key_and_random_ids_raise_no_false_alarm() {
    // Seeded: the FK-less references point at rows that exist, and random
    // text ids cannot be guessed, so neither is an orphan nor an oracle.
    let run = Run::new();
    let schema = "app=fixtures/soft-references/schema.sql";
    let output = run.run(&["--backend", "local", "--tier", schema]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = run.report();
    assert_eq!(not_passing(&report, "orphan.intra"), []);
    assert_eq!(not_passing(&report, "rls.existence_oracle"), []);
    let oracle = report["findings"].as_array().unwrap().iter().find(|f| f["check"] == "rls.existence_oracle" && f["object"] == "public.projects").unwrap();
    assert!(oracle["message"].as_str().unwrap().contains("random tokens"), "{oracle}");
    // What is true is said once, as a warning: nothing enforces them.
    let mut missing = not_passing(&report, "fk.missing");
    missing.sort();
    assert_eq!(
        missing,
        [
            ("fail", "public.projects.created_by"),
            ("fail", "public.projects.updated_by"),
            ("fail", "public.tasks.assigned_to"),
            ("fail", "public.tasks.created_by"),
            ("fail", "public.tasks.project_id"),
        ]
    );

    // Rows tierguard did not write are audited: exactly the two that point at nothing.
    let run = Run::new();
    let output = run.run(&["--backend", "local", "--tier", schema, "--data", "app=fixtures/soft-references/orphans.sql"]);
    // The missing FKs that let orphans in fail as the orphans would (error).
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = run.report();
    let orphans: Vec<&Value> = report["findings"].as_array().unwrap().iter().filter(|f| f["check"] == "orphan.intra" && f["status"] != "pass").collect();
    let found: Vec<(&str, &str, u64, &Value)> = orphans
        .iter()
        .map(|f| (f["object"].as_str().unwrap(), f["status"].as_str().unwrap(), f["details"]["count"].as_u64().unwrap(), &f["details"]["samples"]))
        .collect();
    assert_eq!(found.len(), 2, "{orphans:#?}");
    assert_eq!((found[0].0, found[0].2), ("public.projects.created_by", 1));
    assert_eq!(found[0].3[0]["value"]["created_by"], "c0000000000000000000gone1");
    assert_eq!((found[1].0, found[1].2), ("public.tasks.project_id", 1));
    assert_eq!(found[1].3[0]["value"]["project_id"], "c0000000000000000000gone2");
    // Each follows from its missing FK: the cause is stated once.
    for orphan in &orphans {
        assert_eq!(orphan["status"], "skip", "{orphan}");
        assert_eq!(orphan["caused_by"], format!("fk.missing app {}", orphan["object"].as_str().unwrap()));
    }
    let severities: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "fk.missing" && f["status"] == "fail")
        .map(|f| (f["object"].as_str().unwrap(), f["severity"].as_str().unwrap()))
        .filter(|(_, severity)| *severity == "error")
        .collect();
    assert_eq!(severities, [("public.projects.created_by", "error"), ("public.tasks.project_id", "error")]);
    assert_eq!(not_passing(&report, "rls.existence_oracle"), []);
}

#[test]
fn checks_lists_every_registered_check() {
    let output = Command::new(env!("CARGO_BIN_EXE_tierguard")).args(["checks", "--json"]).output().expect("runs");
    assert_eq!(output.status.code(), Some(0));
    let listed: Vec<Value> = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(listed.len(), tierguard::checks::registry::all().count());
    let membership = listed.iter().find(|c| c["id"] == "rls.membership").expect("rls.membership is listed");
    assert_eq!(membership["severity"], "error");
    assert!(membership["summary"].as_str().is_some_and(|s| s.contains("member of two tenants")));
    let table = Command::new(env!("CARGO_BIN_EXE_tierguard")).arg("checks").output().expect("runs");
    assert!(String::from_utf8_lossy(&table.stdout).starts_with("| check | fails when |"));
}

#[test]
fn toml_and_regex_errors_are_one_line_without_caret_drawings() {
    let run = Run::new();
    for (file, must_mention) in [
        ("fixtures/bad/bad_header.toml", &["line 4", "invalid table header; expected"][..]),
        ("fixtures/bad/bad_regex.toml", &["invalid regex `([a-z`", "unclosed character class (at character 2)"][..]),
    ] {
        let output = run.run(&[file, "--backend", "local"]);
        assert_one_clear_error(&output, must_mention);
        let err = stderr(&output);
        assert_eq!(err.trim_end().lines().count(), 1, "{file}: one line, no drawing: {err}");
    }
}

#[test]
fn membership_in_a_bypassrls_role_is_the_app_roles_own_failure() {
    // Roles belong to the whole server: this defect gets a server of its own.
    let run = Run::new();
    let tier = "oltp=fixtures/penguinmails/oltp.sql,fixtures/roles/member_of_bypassrls_role.sql";
    let output = run.run(&["scenarios/penguinmails.toml", "--backend", "local", "--only", "rls", "--quiet", "--tier", tier]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = run.report();
    let failures: Vec<(&str, &str)> =
        findings_with_status(&report, "fail").iter().map(|f| (f["check"].as_str().unwrap(), f["tier"].as_str().unwrap())).collect();
    assert_eq!(failures, [("rls.privileged_role", "oltp")], "one cause: the role graph; no probe acting as a tenant leaks");
    let finding = findings_with_status(&report, "fail")[0];
    let message = finding["message"].as_str().unwrap();
    assert!(message.contains("can SET ROLE to `penguinmails_reporting`, which has BYPASSRLS") && message.contains("one SET ROLE leaves RLS behind"), "{message}");
    assert_eq!(finding["details"]["fix"], "REVOKE penguinmails_reporting FROM penguinmails_app;");
}
