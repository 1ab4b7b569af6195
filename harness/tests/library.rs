//! tierguard as a library, the way a project's own `cargo test` uses it:
//! one audit run shared by every test of the binary (an `rstest` `#[once]`
//! fixture), each test asserting on what it found.

mod common;

use rstest::{fixture, rstest};
use tierguard::checks::Status;
use tierguard::provision::BackendChoice;
use tierguard::{Audit, Audited};

use common::repo;

/// The Flyway layout of the clinic app, audited once.
#[fixture]
#[once]
fn clinicbook() -> Audited {
    Audit::builder()
        .tier("app", [repo().join("fixtures/layouts/flyway")])
        .backend(BackendChoice::Local)
        .seed(7)
        .quiet()
        .report_dir(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("library-audit"))
        .build()
        .expect("the audit is well formed")
        .run_blocking()
        .expect("the audit runs")
}

#[rstest]
fn nothing_fails_the_gate(clinicbook: &Audited) {
    assert!(clinicbook.failures().next().is_none(), "{}", clinicbook.summary());
}

#[rstest]
fn every_tenant_table_was_probed_and_held(clinicbook: &Audited) {
    for table in ["public.patients", "public.appointments", "public.invoices", "public.notes"] {
        for check in ["rls.read_leak", "rls.write_leak", "rls.unset_context"] {
            let verdict = clinicbook.findings().iter().find(|f| f.check == check && f.object == table);
            assert_eq!(verdict.map(|f| f.status), Some(Status::Pass), "{check} on {table}: {verdict:?}");
        }
    }
}

#[rstest]
fn the_reports_are_where_the_audit_says(clinicbook: &Audited) {
    for file in ["report.json", "junit.xml", "tierguard.sarif", "summary.md", "report.html"] {
        assert!(clinicbook.dir().join(file).is_file(), "{file} missing in {}", clinicbook.dir().display());
    }
}

#[rstest]
fn a_malformed_audit_is_refused_before_anything_starts() {
    let error = Audit::builder().tier("app", [repo().join("fixtures/nope")]).backend(BackendChoice::Local).quiet().build().and_then(|a| a.run_blocking());
    assert!(error.is_err_and(|e| e.to_string().contains("fixtures/nope")));
}
