//! The defect corpus: every file under fixtures/defects/<family>/ introduces
//! one known defect into the reference scenario, and the harness must report
//! exactly the findings its header names — and the clean reference none.
//!
//! One lab (servers, schema and fixed rows in template databases) serves
//! the whole binary; each defect runs on a clone of its tier.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use rstest::rstest;
use sqlx::PgPool;
use tierguard::catalog::Catalog;
use tierguard::checks::{Finding, Status};
use tierguard::{load, run};

use common::lab::Lab;
use common::{failing, rt, Defect};

const REFERENCE: &str = "scenarios/penguinmails.toml";

/// An untouched clone of every tier, for the tiers a defect leaves alone.
fn clean() -> &'static [(Catalog, PgPool)] {
    static CLEAN: OnceLock<Vec<(Catalog, PgPool)>> = OnceLock::new();
    CLEAN.get_or_init(|| {
        let lab = Lab::get(REFERENCE);
        rt().block_on(async {
            let mut tiers = Vec::new();
            for tier in &lab.scenario.tiers {
                let pool = lab.clone_tier(&tier.name, &format!("{}_clean", tier.name)).await;
                tiers.push((Catalog::read(&tier.name, &pool).await.expect("catalog"), pool));
            }
            tiers
        })
    })
}

/// Audits the reference with `defect` applied to a fresh clone of its tier.
fn audit(defect: Option<&Defect>) -> Vec<Finding> {
    // Both start servers on first use, outside the async context.
    let (lab, clean) = (Lab::get(REFERENCE), clean());
    rt().block_on(audit_on(lab, clean, defect))
}

async fn audit_on(lab: &Lab, clean: &[(Catalog, PgPool)], defect: Option<&Defect>) -> Vec<Finding> {
    let mut tiers: Vec<(Catalog, PgPool)> = clean.to_vec();
    if let Some(defect) = defect {
        let index = lab.tier_index(&defect.tier);
        let name = format!(
            "defect_{}_{}",
            defect.path.parent().and_then(|p| p.file_name()).unwrap().to_string_lossy(),
            defect.path.file_stem().unwrap().to_string_lossy()
        );
        let pool = lab.clone_tier(&defect.tier, &name).await;
        let mut conn = pool.acquire().await.expect("connection");
        load::apply_script(&mut conn, &defect.tier, &defect.path, &defect.sql)
            .await
            .unwrap_or_else(|e| panic!("{} does not apply: {e}", defect.path.display()));
        drop(conn);
        tiers[index] = (Catalog::read(&defect.tier, &pool).await.expect("catalog"), pool);
    }
    let catalogs: Vec<Catalog> = tiers.iter().map(|(c, _)| c.clone()).collect();
    let tenancy = lab.tenancy(&catalogs);
    let audited: Vec<_> = tiers.iter().map(|(c, p)| (c, p)).collect();
    run::audit(&lab.scenario, &audited, &tenancy).await
}

#[test]
fn clean_reference_has_no_failing_finding() {
    let findings = audit(None);
    let not_passing: Vec<_> = findings
        .iter()
        .filter(|f| f.status != Status::Pass)
        .map(|f| format!("{} {} {} {:?}: {}", f.check, f.tier, f.object, f.status, f.message))
        .collect();
    assert!(not_passing.is_empty(), "clean reference: {not_passing:#?}");
    // The checks did look: every id produced verdicts.
    for id in [
        "rls.disabled",
        "rls.not_forced",
        "rls.no_policy",
        "rls.privileged_role",
        "fk.missing",
        "fk.unindexed",
        "orphan.cross_tier",
        "orphan.tenant_mismatch",
        "partition.coverage",
    ] {
        assert!(findings.iter().any(|f| f.check == id), "no verdict from {id}");
    }
}

#[rstest]
fn defect_is_reported_exactly(
    #[base_dir = "${CARGO_MANIFEST_DIR}/.."]
    #[files("fixtures/defects/*/*.sql")]
    path: PathBuf,
) {
    let defect = Defect::read(&path);
    let findings = audit(Some(&defect));
    assert_eq!(
        failing(&findings),
        defect.expect,
        "{}: reported findings differ from the header's expect lines",
        path.display()
    );
    let differences = defect.detail_differences(&findings);
    assert!(differences.is_empty(), "{}: {differences:#?}", path.display());
}
