//! Real schemas as users keep them, through the binary: a folder in each
//! migration layout audited with no other flag (same findings for all),
//! and each obstacle to loading (a missing extension, roles never created,
//! a statement that fails) met with one message and its way out, leaving
//! nothing behind.

mod common;

use std::collections::BTreeSet;

use serde_json::Value;

use common::binary::{assert_one_clear_error, stderr, Run};

/// (check, object, status) of every finding: what "same findings" compares.
fn verdicts(report: &Value) -> BTreeSet<(String, String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| (f["check"].as_str().unwrap().to_string(), f["object"].as_str().unwrap().to_string(), f["status"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn every_migration_layout_is_detected_ordered_and_audited_the_same() {
    let mut baseline: Option<BTreeSet<(String, String, String)>> = None;
    for layout in ["plain", "supabase", "prisma", "flyway", "golang-migrate", "dbmate"] {
        let run = Run::new();
        let output = run.run(&["--backend", "local", "--seed", "7", "--tier", &format!("app=fixtures/layouts/{layout}")]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(0), "{layout}: {err}");
        assert!(err.contains(&format!("layout {layout} (detected)")), "{layout}: {err}");
        let report = run.report();
        let found = verdicts(&report);
        assert!(found.iter().all(|(_, _, status)| status == "pass"), "{layout}: {found:#?}");
        assert!(found.iter().any(|(check, object, _)| check == "rls.read_leak" && object == "public.appointments"), "{layout}: the tenancy was not inferred");
        match &baseline {
            None => baseline = Some(found),
            Some(plain) => assert_eq!(&found, plain, "{layout} audits differently from the plain layout"),
        }
    }
}

#[test]
fn the_files_a_layout_never_runs_are_named_and_left_alone() {
    let run = Run::new();
    let output = run.run(&["--backend", "local", "--rows", "0", "--only", "fk", "--tier", "app=fixtures/layouts/flyway"]);
    let err = stderr(&output);
    assert!(
        err.contains("applies V1__create_clinics.sql, V1_1__create_patients.sql, V1_2__create_appointments.sql, V1_10__create_invoices_and_notes.sql, V2__invoice_status_indexes_rls.sql, R__grants.sql; ignores U2__undo.sql"),
        "{err}"
    );
    // supabase/seed.sql is no migration: it loads when asked for as data.
    let output = run.run(&["--backend", "local", "--rows", "0", "--only", "fk", "--tier", "app=fixtures/layouts/supabase", "--data", "app=fixtures/layouts/supabase"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let tables = run.report()["tiers"][0]["tables"].clone();
    let rows = |name: &str| tables.as_array().unwrap().iter().find(|t| t["name"] == name).map(|t| t["rows"].as_u64().unwrap());
    assert_eq!((rows("public.clinics"), rows("public.patients")), (Some(2), Some(3)), "{tables}");
    assert_eq!(rows("auth.users"), None, "a comment naming auth.uid() installed the auth stand-in");

    let output = run.run(&["--backend", "local", "--rows", "0", "--only", "fk", "--tier", "app=fixtures/layouts/dbmate", "--layout", "plain"]);
    // Forced to run whole files, dbmate's down parts drop what the up parts made.
    assert_one_clear_error(&output, &["tier app", "20240112110000_create_billing.sql"]);
}

#[test]
fn a_missing_extension_is_named_with_the_way_to_get_it() {
    let run = Run::new();
    let output = run.run(&["--backend", "local", "--tier", "app=fixtures/bad/needs_vector.sql"]);
    assert_one_clear_error(&output, &["tier app", "fixtures/bad/needs_vector.sql line 5", "extension \"vector\" is not available"]);
    let err = stderr(&output);
    assert!(err.contains("apt-get install postgresql-15-pgvector"), "{err}");
    assert!(err.contains("--stub-extension vector"), "{err}");
    assert!(err.contains("in the statement: CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA extensions"), "{err}");
}

#[test]
fn a_stubbed_extension_and_roles_never_created_let_the_audit_run() {
    let run = Run::new();
    let output = run.run(&["--backend", "local", "--tier", "app=fixtures/bad/needs_vector.sql", "--stub-extension", "vector"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(err.contains("created them NOLOGIN: app_user"), "{err}");
    assert!(err.contains("extension vector is not installed: loaded tierguard's stand-in"), "{err}");
    assert!(err.contains("left out fixtures/bad/needs_vector.sql:13"), "{err}");
    let report = run.report();
    let probed = verdicts(&report);
    for check in ["rls.read_leak", "rls.write_leak"] {
        assert!(probed.contains(&(check.to_string(), "public.documents".to_string(), "pass".to_string())), "{check}: {probed:#?}");
    }
    let output = run.run(&["--backend", "local", "--tier", "app=fixtures/bad/needs_vector.sql", "--stub-extension", "postgis"]);
    assert_one_clear_error(&output, &["--stub-extension postgis", "no stand-in"]);
}

#[test]
fn a_failing_statement_stops_the_run_or_with_keep_going_is_a_finding() {
    let run = Run::new();
    let output = run.run(&["--backend", "local", "--tier", "app=fixtures/bad/policy_typo.sql"]);
    assert_one_clear_error(&output, &["tier app", "fixtures/bad/policy_typo.sql line 17", "column \"tenant_idd\" does not exist", "HINT"]);
    let err = stderr(&output);
    assert!(err.contains("in the statement: CREATE POLICY notes_archive ON notes FOR SELECT TO notes_app"), "{err}");
    assert!(err.contains("--keep-going"), "{err}");

    let output = run.run(&["--backend", "local", "--tier", "app=fixtures/bad/policy_typo.sql", "--keep-going"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("1 schema statement(s) failed to load"), "{err}");
    let report = run.report();
    let failing: Vec<&Value> = report["findings"].as_array().unwrap().iter().filter(|f| f["status"] == "fail").collect();
    assert_eq!(failing.len(), 1, "{failing:#?}");
    assert_eq!(failing[0]["check"], "load.statement");
    assert_eq!(failing[0]["object"], "fixtures/bad/policy_typo.sql:17");
    // What did load was audited: the table's own policy held.
    assert!(verdicts(&report).contains(&("rls.read_leak".to_string(), "public.notes".to_string(), "pass".to_string())));
}

#[test]
fn a_trigger_that_breaks_every_insert_is_named_and_never_passes() {
    let run = Run::new();
    let output = run.run(&["--backend", "local", "--tier", "app=fixtures/bad/broken_audit_trigger.sql"]);
    let err = stderr(&output);
    // An `error` finding fails the gate: nothing was proven about these writes.
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("seeding public.orders failed in its trigger(s) orders_audit (unrecognized configuration parameter \"app.user_id\"): seeded it with them off"),
        "{err}"
    );
    let report = run.report();
    let on_orders: Vec<&Value> = report["findings"].as_array().unwrap().iter().filter(|f| f["check"] == "rls.write_leak" && f["object"] == "public.orders").collect();
    assert_eq!(on_orders.len(), 1, "{on_orders:#?}");
    assert_eq!(on_orders[0]["status"], "error");
    // The probes met the trigger switched back on.
    assert!(on_orders[0]["message"].as_str().unwrap().contains("audit_order()"), "{}", on_orders[0]["message"]);
    let rows = report["tiers"][0]["tables"].as_array().unwrap().iter().find(|t| t["name"] == "public.orders").unwrap()["rows"].as_u64();
    assert_eq!(rows, Some(30));
}

#[test]
fn the_local_backend_runs_the_major_version_asked_for() {
    let run = Run::new();
    for version in ["15", "18"] {
        let output = run.run(&["--backend", "local", "--pg-version", version, "--rows", "0", "--only", "fk", "--tier", "app=fixtures/layouts/plain"]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let server = run.report()["tiers"][0]["server_version"].as_str().unwrap().to_string();
        assert!(server.starts_with(&format!("{version}.")), "asked for {version}, ran {server}");
    }
    let output = run.run(&["--backend", "local", "--pg-version", "99", "--tier", "app=fixtures/layouts/plain"]);
    assert_one_clear_error(&output, &["no PostgreSQL 99 server binaries", "found 15 in"]);
}
