//! A started scenario shared by the tests of one binary: one local server
//! per tier, each tier's schema and fixed rows loaded (and seeded) once into a template
//! database named after the tier. Tests work on clones (`CREATE DATABASE
//! ... TEMPLATE`), which is far cheaper than loading again.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tierguard::catalog::Catalog;
use tierguard::tenancy::Tenancy;
use tierguard::provision::{self, BackendChoice, Server};
use tierguard::scenario::{Overrides, Scenario};
use tierguard::{load, seed};

use super::{repo, rt};

pub struct Lab {
    pub scenario: Scenario,
    pub servers: Vec<Server>,
    /// Catalog of each tier's template, in scenario order.
    pub catalogs: Vec<Catalog>,
    /// Who owns which seeded row (None when the scenario seeds nothing).
    pub seeded: Option<seed::Seeded>,
}

type Labs = Mutex<BTreeMap<String, &'static Lab>>;
static LABS: OnceLock<Labs> = OnceLock::new();
static STARTED: Mutex<Vec<&'static Lab>> = Mutex::new(Vec::new());

/// Stops every lab's servers at exit: statics are never dropped.
extern "C" fn stop_labs() {
    let _guard = rt().enter();
    for lab in STARTED.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        // SAFETY: each lab was leaked from a Box in `Lab::get` and is dropped once, here.
        drop(unsafe { Box::from_raw(lab as *const Lab as *mut Lab) });
    }
}

impl Lab {
    /// The lab for a scenario file (relative to the repo), started on first use.
    pub fn get(scenario: &str) -> &'static Lab {
        let labs = LABS.get_or_init(|| {
            // SAFETY: registers a plain extern "C" function with no arguments.
            unsafe { libc::atexit(stop_labs) };
            Mutex::new(BTreeMap::new())
        });
        let mut labs = labs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lab) = labs.get(scenario) {
            return lab;
        }
        let lab: &'static Lab = Box::leak(Box::new(rt().block_on(Lab::start(&repo().join(scenario)))));
        STARTED.lock().unwrap_or_else(|e| e.into_inner()).push(lab);
        labs.insert(scenario.to_string(), lab);
        lab
    }

    async fn start(path: &Path) -> Lab {
        let overrides = Overrides {
            backend: Some(BackendChoice::Local),
            ..Overrides::default()
        };
        let scenario = Scenario::resolve(Some(path), overrides).expect("scenario");
        let servers = provision::provision(&scenario).await.expect("servers start");
        let mut pools = Vec::new();
        for (server, spec) in servers.iter().zip(&scenario.tiers) {
            let mut conn = PgConnection::connect_with(&server.options).await.expect("connect");
            let schema = load::schema(&spec.name, &spec.schema, scenario.loading.layout).expect("schema files");
            load::apply_schema(&mut conn, &spec.name, &schema, &scenario.loading, &|_| String::new()).await.expect("schema loads");
            let data = load::data(&spec.name, &spec.data).expect("data files");
            load::apply(&mut conn, &spec.name, &data).await.expect("data loads");
            conn.close().await.expect("close");
            pools.push(PgPoolOptions::new().max_connections(2).connect_with(server.options.clone()).await.expect("pool"));
        }
        let mut catalogs = Vec::new();
        for (pool, spec) in pools.iter().zip(&scenario.tiers) {
            catalogs.push(Catalog::read(&spec.name, pool).await.expect("catalog"));
        }
        let tenancy = Tenancy::infer(&scenario, &catalogs).expect("tenancy");
        let seeded = if scenario.seeding.rows > 0 {
            let tiers: Vec<_> = catalogs.iter().zip(&pools).collect();
            Some(seed::seed(&scenario, &tiers, &tenancy).await.expect("seeding"))
        } else {
            None
        };
        // Templates must have no connections left.
        for pool in pools {
            pool.close().await;
        }
        Lab {
            scenario,
            servers,
            catalogs,
            seeded,
        }
    }

    pub fn tier_index(&self, tier: &str) -> usize {
        self.scenario.tiers.iter().position(|t| t.name == tier).unwrap_or_else(|| panic!("no tier {tier}"))
    }

    /// A fresh copy of a tier's template (schema and seeded rows), with a pool on it.
    pub async fn clone_tier(&self, tier: &str, name: &str) -> PgPool {
        static CLONING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _one_at_a_time = CLONING.lock().await;
        let server = &self.servers[self.tier_index(tier)];
        let options = provision::clone_database(server, tier, name).await.expect("clone");
        PgPoolOptions::new().max_connections(4).connect_with(options).await.expect("pool")
    }

    pub fn tenancy(&self, catalogs: &[Catalog]) -> Tenancy {
        Tenancy::infer(&self.scenario, catalogs).expect("tenancy")
    }
}
