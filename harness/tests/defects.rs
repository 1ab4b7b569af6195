//! The defect corpus: every file under fixtures/defects/<family>/ introduces
//! one known defect into a scenario (its `-- scenario:` header, default the
//! penguinmails reference), and the harness must report exactly the findings
//! its header names — and each clean scenario none at all.
//!
//! One lab per scenario (servers, schema and seeded rows in template
//! databases) serves the whole binary; each defect runs on a clone.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use rstest::rstest;
use sqlx::PgPool;
use tierguard::catalog::Catalog;
use tierguard::checks::{Family, Finding, Status};
use tierguard::provision::BackendChoice;
use tierguard::scenario::{Loading, Overrides, Scenario};
use tierguard::{load, run};

use common::lab::Lab;
use common::{failing, rt, Defect, FindingKey};

fn scenario_file(name: &str) -> String {
    format!("scenarios/{name}.toml")
}

/// An untouched clone of every tier of a scenario, for the tiers a defect
/// leaves alone.
fn clean(scenario: &str) -> &'static [(Catalog, PgPool)] {
    type Clean = Mutex<BTreeMap<String, &'static [(Catalog, PgPool)]>>;
    static CLEAN: OnceLock<Clean> = OnceLock::new();
    let mut clean = CLEAN.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    clean.entry(scenario.to_string()).or_insert_with(|| {
        let lab = Lab::get(&scenario_file(scenario));
        let tiers = rt().block_on(async {
            let mut tiers = Vec::new();
            for tier in &lab.scenario.tiers {
                let pool = lab.clone_tier(&tier.name, &format!("{}_clean", tier.name)).await;
                tiers.push((Catalog::read(&tier.name, &pool).await.expect("catalog"), pool));
            }
            tiers
        });
        Vec::leak(tiers)
    })
}

/// Audits a scenario, with `defect` applied to a fresh clone of its tier
/// and its `-- toml:` lines added to the scenario.
fn audit(scenario: &str, defect: Option<&Defect>) -> Vec<Finding> {
    audit_with(scenario, defect, defect.map(|d| d.toml.as_str()).unwrap_or_default())
}

/// [`audit`], with `toml` added to the scenario file.
fn audit_with(scenario: &str, defect: Option<&Defect>, toml: &str) -> Vec<Finding> {
    // Both start servers on first use, outside the async context.
    let (lab, clean) = (Lab::get(&scenario_file(scenario)), clean(scenario));
    rt().block_on(audit_on(lab, clean, defect, toml))
}

async fn audit_on(lab: &Lab, clean: &[(Catalog, PgPool)], defect: Option<&Defect>, toml: &str) -> Vec<Finding> {
    let mut tiers: Vec<(Catalog, PgPool)> = clean.to_vec();
    let mut failed_to_load = Vec::new();
    if let Some(defect) = defect {
        let index = lab.tier_index(&defect.tier);
        let name = format!("defect_{}_{}", defect.family(), defect.path.file_stem().unwrap().to_string_lossy());
        let pool = lab.clone_tier(&defect.tier, &name).await;
        let mut conn = pool.acquire().await.expect("connection");
        if defect.family() == "load" {
            // Loaded as `--keep-going` would, named as the user would name it.
            let full = defect.path.canonicalize().expect("defect file");
            let path = full.strip_prefix(common::repo().canonicalize().expect("repository")).expect("inside the repository").to_path_buf();
            let files = load::Files { sources: vec![load::Source { path, text: defect.sql.clone() }], folders: Vec::new() };
            let loading = Loading { keep_going: true, ..Loading::default() };
            let loaded = load::apply_schema(&mut conn, &defect.tier, &files, &loading, &|_| String::new())
                .await
                .unwrap_or_else(|e| panic!("{} does not load with --keep-going: {e}", defect.path.display()));
            failed_to_load = tierguard::checks::load::findings(&defect.tier, &loaded.failed);
        } else {
            load::apply_script(&mut conn, &defect.tier, &defect.path, &defect.sql)
                .await
                .unwrap_or_else(|e| panic!("{} does not apply: {e}", defect.path.display()));
        }
        drop(conn);
        tiers[index] = (Catalog::read(&defect.tier, &pool).await.expect("catalog"), pool);
    }
    let mut scenario = match toml {
        "" => lab.scenario.clone(),
        toml => with_toml(&lab.scenario, toml),
    };
    // Timings belong to the latency defects: elsewhere a p95 measured while
    // other defects probe the same machine would judge the load, not the defect.
    if defect.is_some_and(|d| d.family() != "latency") {
        scenario.only = Some([Family::Rls, Family::Fk, Family::Check, Family::Orphan, Family::Partition].into());
    }
    let catalogs: Vec<Catalog> = tiers.iter().map(|(c, _)| c.clone()).collect();
    let tenancy = lab.tenancy(&catalogs);
    let audited: Vec<_> = tiers.iter().map(|(c, p)| (c, p)).collect();
    let audit = run::Audit {
        scenario: &scenario,
        tenancy: &tenancy,
        seeded: lab.seeded.as_ref(),
        read_only: false,
    };
    failed_to_load.extend(run::audit(&audit, &audited).await);
    failed_to_load
}

/// The lab's scenario with `toml` added to its file (same seed and volume,
/// so the lab's seeded rows still describe the databases).
fn with_toml(scenario: &Scenario, toml: &str) -> Scenario {
    let path = scenario.path.as_ref().expect("scenario file");
    let text = std::fs::read_to_string(path).expect("scenario file") + "\n" + toml + "\n";
    let overrides = Overrides {
        backend: Some(BackendChoice::Local),
        ..Overrides::default()
    };
    Scenario::resolve_text(path, &text, overrides).unwrap_or_else(|e| panic!("scenario with `-- toml:` lines: {e}"))
}

#[rstest]
fn clean_scenario_has_no_failing_finding(#[values("penguinmails", "cpa", "leads", "events", "helpdesk", "analytics", "teamspace", "invoicely", "supportdesk", "projecthub", "docsafe", "agency")] scenario: &str) {
    let findings = audit(scenario, None);
    let not_passing: Vec<_> = findings
        .iter()
        .filter(|f| f.status != Status::Pass)
        .map(|f| format!("{} {} {} {:?}: {}", f.check, f.tier, f.object, f.status, f.message))
        .collect();
    assert!(not_passing.is_empty(), "clean {scenario}: {not_passing:#?}");
    // The checks did look: every id produced verdicts (the reference
    // declares domains and cascade rules and has tenant-column children;
    // the other scenarios need not exercise every check).
    let every_id = scenario == "penguinmails";
    let always = ["rls.disabled", "rls.read_leak", "rls.write_leak", "fk.unindexed", "check.violations"];
    for id in [
        "rls.disabled",
        "rls.not_forced",
        "rls.no_policy",
        "rls.privileged_role",
        "rls.read_leak",
        "rls.own_rows_hidden",
        "rls.write_leak",
        "rls.unset_context",
        "rls.context_bleed",
        "rls.existence_oracle",
        "rls.claim_escalation",
        "fk.missing",
        "fk.unindexed",
        "fk.not_enforced",
        "fk.cross_tenant",
        "fk.cascade",
        "check.missing",
        "check.domain",
        "check.violations",
        "orphan.cross_tier",
        "orphan.tenant_mismatch",
        "partition.coverage",
        "latency.target",
        "latency.seq_scan",
    ] {
        if every_id || always.contains(&id) {
            assert!(findings.iter().any(|f| f.check == id), "{scenario}: no verdict from {id}");
        }
    }
}

/// Tables too large to compare row by row are probed on a sample
/// (`[certification] sample_rows`, here 20 so that the reference's tables
/// of 40 rows are): the clean reference still gives no failure, and each
/// sampled pass says what it is worth.
#[test]
fn clean_reference_probed_on_samples_has_no_failing_finding() {
    let findings = audit_with("penguinmails", None, "[certification]\nsample_rows = 20");
    let not_passing: Vec<_> = findings.iter().filter(|f| f.status != Status::Pass).map(|f| format!("{} {} {}: {}", f.check, f.tier, f.object, f.message)).collect();
    assert!(not_passing.is_empty(), "{not_passing:#?}");
    let sampled: Vec<&Finding> = findings.iter().filter(|f| f.check == "rls.read_leak" && f.details.get("sample").is_some()).collect();
    assert!(sampled.len() >= 10, "read probes on samples: {}", sampled.len());
    for finding in sampled {
        let sample = &finding.details["sample"];
        assert!(sample["rows"].as_u64() < sample["table_rows"].as_u64(), "{}: {sample}", finding.object);
        assert!(finding.message.contains("with 95% confidence") && finding.message.contains("TABLESAMPLE BERNOULLI"), "{}", finding.message);
    }
}

/// The defect file at `path`, the findings of its scenario audited with
/// the defect applied, and which of them fail.
fn apply(path: &Path) -> (Defect, Vec<Finding>, BTreeSet<FindingKey>) {
    let defect = Defect::read(path);
    let findings = audit(&defect.scenario, Some(&defect));
    let reported = failing(&findings, &defect.expect);
    (defect, findings, reported)
}

#[rstest]
fn defect_is_reported_exactly(
    #[base_dir = "${CARGO_MANIFEST_DIR}/.."]
    #[files("fixtures/defects/*/*.sql")]
    path: PathBuf,
) {
    let (defect, findings, reported) = apply(&path);
    // What the checks said of every object a line names or a failure is about.
    let objects: BTreeSet<&String> = defect.expect.iter().chain(&reported).map(|(_, _, object)| object).collect();
    let verdicts: Vec<String> = findings
        .iter()
        .filter(|f| objects.contains(&f.object))
        .map(|f| format!("{} {} {:?}: {}", f.check, f.object, f.status, f.message))
        .collect();
    assert_eq!(
        reported,
        defect.expect,
        "{}: reported findings differ from the header's expect lines; verdicts on those objects: {verdicts:#?}",
        path.display()
    );
    let expected_roots: BTreeSet<String> = defect.expect.iter().map(|(check, tier, object)| format!("{check} {tier} {object}")).collect();
    let follows: BTreeSet<FindingKey> = findings
        .iter()
        .filter(|f| f.caused_by.as_ref().is_some_and(|root| expected_roots.contains(root)))
        .map(|f| (f.check.to_string(), f.tier.clone(), f.object.clone()))
        .collect();
    assert_eq!(follows, defect.follows, "{}: findings that follow from the expected ones differ from the header's follows lines", path.display());
    let differences = defect.detail_differences(&findings);
    assert!(differences.is_empty(), "{}: {differences:#?}", path.display());
}
