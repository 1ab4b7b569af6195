//! The defect corpus: every file under fixtures/defects/<family>/ introduces
//! one known defect into a scenario (its `-- scenario:` header, default the
//! penguinmails reference), and the harness must report exactly the findings
//! its header names — and each clean scenario none at all. Defects under
//! fixtures/defects/pending/<family>/ need checks not built yet: they must
//! apply, and may so far be reported only by findings their header expects.
//!
//! One set of servers per scenario serves the whole binary, started the
//! first time a test needs it: each tier's clean schema is loaded once into
//! a template database, and each defect runs on a clone.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use rstest::rstest;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tierguard::catalog::{Catalog, Tenancy};
use tierguard::provision::{self, BackendChoice, Server};
use tierguard::scenario::{Overrides, Scenario};
use tierguard::{load, run};

use common::{failing, repo, rt, Defect};

/// Servers for one scenario with each tier's clean schema in a template
/// database named after the tier.
struct Lab {
    scenario: Scenario,
    servers: Vec<Server>,
    /// Catalog and pool of an untouched clone of each tier.
    clean: Vec<(Catalog, PgPool)>,
}

/// The labs started so far, by scenario name.
static LABS: OnceLock<Mutex<BTreeMap<String, Lab>>> = OnceLock::new();

/// Dropping the labs at exit stops their servers: statics are never dropped.
extern "C" fn stop_labs() {
    if let Some(labs) = LABS.get() {
        let _guard = rt().enter();
        std::mem::take(&mut *labs.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

fn with_lab<T>(scenario: &str, f: impl FnOnce(&Lab) -> T) -> T {
    let labs = LABS.get_or_init(|| {
        // SAFETY: registers a plain extern "C" function with no arguments.
        unsafe { libc::atexit(stop_labs) };
        Mutex::new(BTreeMap::new())
    });
    let mut labs = labs.lock().unwrap_or_else(|e| e.into_inner());
    let lab = labs
        .entry(scenario.to_string())
        .or_insert_with(|| rt().block_on(Lab::start(scenario)));
    f(lab)
}

impl Lab {
    async fn start(name: &str) -> Lab {
        let overrides = Overrides {
            backend: Some(BackendChoice::Local),
            ..Overrides::default()
        };
        let scenario = Scenario::resolve(Some(&repo().join(format!("scenarios/{name}.toml"))), overrides)
            .unwrap_or_else(|e| panic!("scenario {name}: {e}"));
        let servers = provision::provision(&scenario).await.expect("servers start");
        let mut clean = Vec::new();
        for (server, spec) in servers.iter().zip(&scenario.tiers) {
            let mut conn = PgConnection::connect_with(&server.options).await.expect("connect");
            let files = load::expand(&spec.name, &spec.schema).expect("schema files");
            load::apply(&mut conn, &spec.name, &files).await.expect("clean schema loads");
            conn.close().await.expect("close");
            let options = provision::clone_database(server, &spec.name, &format!("{}_clean", spec.name))
                .await
                .expect("clone");
            let pool = PgPoolOptions::new().max_connections(2).connect_with(options).await.expect("pool");
            clean.push((Catalog::read(&spec.name, &pool).await.expect("catalog"), pool));
        }
        Lab {
            scenario,
            servers,
            clean,
        }
    }

    /// Audits the reference with `defect` applied to a fresh clone of its tier.
    async fn audit(&self, defect: Option<&Defect>) -> Vec<tierguard::checks::Finding> {
        let mut tiers: Vec<(Catalog, PgPool)> = self.clean.iter().map(|(c, p)| (c.clone(), p.clone())).collect();
        if let Some(defect) = defect {
            let index = self
                .scenario
                .tiers
                .iter()
                .position(|t| t.name == defect.tier)
                .unwrap_or_else(|| panic!("{}: unknown tier {}", defect.path.display(), defect.tier));
            let pending = defect.path.components().any(|c| c.as_os_str() == "pending");
            let name = format!(
                "{}_{}_{}",
                if pending { "pending" } else { "defect" },
                defect.path.parent().and_then(|p| p.file_name()).unwrap().to_string_lossy(),
                defect.path.file_stem().unwrap().to_string_lossy()
            );
            let options = provision::clone_database(&self.servers[index], &defect.tier, &name)
                .await
                .expect("clone");
            let mut conn = PgConnection::connect_with(&options).await.expect("connect");
            load::apply_script(&mut conn, &defect.tier, &defect.path, &defect.sql)
                .await
                .unwrap_or_else(|e| panic!("{} does not apply: {e}", defect.path.display()));
            conn.close().await.expect("close");
            let pool = PgPoolOptions::new().max_connections(2).connect_with(options).await.expect("pool");
            tiers[index] = (Catalog::read(&defect.tier, &pool).await.expect("catalog"), pool);
        }
        let catalogs: Vec<Catalog> = tiers.iter().map(|(c, _)| c.clone()).collect();
        let tenancy = Tenancy::infer(&self.scenario, &catalogs).expect("tenancy");
        let audited: Vec<_> = tiers.iter().map(|(c, p)| (c, p)).collect();
        run::audit(&self.scenario, &audited, &tenancy).await
    }
}

#[rstest]
fn clean_scenario_has_no_failing_finding(#[values("penguinmails", "cpa", "leads", "events")] scenario: &str) {
    let findings = with_lab(scenario, |lab| rt().block_on(lab.audit(None)));
    let not_passing: Vec<_> = findings
        .iter()
        .filter(|f| f.status != tierguard::checks::Status::Pass)
        .map(|f| format!("{} {} {} {:?}: {}", f.check, f.tier, f.object, f.status, f.message))
        .collect();
    assert!(not_passing.is_empty(), "clean {scenario}: {not_passing:#?}");
    // The checks did look: every id of this family set produced verdicts.
    for id in [
        "rls.disabled",
        "rls.not_forced",
        "rls.no_policy",
        "rls.privileged_role",
        "fk.missing",
        "fk.unindexed",
        "partition.coverage",
    ] {
        assert!(findings.iter().any(|f| f.check == id), "no verdict from {id}");
    }
}

/// The defect file at `path`, and the failing findings of its scenario
/// audited with the defect applied.
fn apply(path: &std::path::Path) -> (Defect, BTreeSet<(String, String, String)>) {
    let defect = Defect::read(path);
    let findings = with_lab(&defect.scenario, |lab| rt().block_on(lab.audit(Some(&defect))));
    (defect, failing(&findings))
}

#[rstest]
fn defect_is_reported_exactly(
    #[base_dir = "${CARGO_MANIFEST_DIR}/.."]
    #[files("fixtures/defects/*/*.sql")]
    path: PathBuf,
) {
    let (defect, reported) = apply(&path);
    assert_eq!(
        reported,
        defect.expect,
        "{}: reported findings differ from the header's expect lines",
        path.display()
    );
}

/// A defect waiting for its check: it applies, and nothing it does not
/// expect is reported today. Once its checks exist, move it to
/// fixtures/defects/<family>/ where the exact test above takes over.
#[rstest]
fn pending_defect_applies_and_reports_nothing_unexpected(
    #[base_dir = "${CARGO_MANIFEST_DIR}/.."]
    #[files("fixtures/defects/pending/*/*.sql")]
    path: PathBuf,
) {
    let (defect, reported) = apply(&path);
    let unexpected: Vec<_> = reported.difference(&defect.expect).cloned().collect();
    assert!(
        unexpected.is_empty(),
        "{}: reported but not expected: {unexpected:?}",
        path.display()
    );
}
