//! Fake multi-tenant data, derived from the catalog alone: N tenants, rows
//! in every table in FK order, every value within its type, NOT NULL,
//! unique keys, CHECKs, enums, domains and partitions, every reference to a
//! row of the same tenant (also across tiers). Bulk-loaded with COPY as the
//! superuser. Same seed and schema, byte-identical data.
//!
//! `plan` decides every value (a pure function of seed, table, column and
//! row), `copy` streams them into the servers as a bulk load (`fk_checks`,
//! `indexes` and `fresh` set aside what a row-by-row load would pay for),
//! and [`Seeded`] answers which tenant owns which row (as `truth::SeedTruth`,
//! the interface the checks read).

mod copy;
mod domain;
pub mod fk_checks;
mod fresh;
mod indexes;
mod kind;
mod marks;
mod oracle;
mod pattern;
mod plan;
mod realism;
mod stream;
mod triggers;
mod value;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::try_join_all;
use sqlx::PgPool;

use crate::catalog::{Catalog, QualName};
use crate::tenancy::{Tenancy, TenantScope};
use crate::error::{HarnessError, Result};
use crate::scenario::{ColumnOverride, OnUnsatisfiable, Scenario, TierTable};
use crate::truth::{shown_rows, SeedTruth, Unseeded};

pub use plan::Plan;
pub use triggers::BrokenTrigger;
pub use value::Value;

/// How much to seed and how, from the scenario and flags.
#[derive(Debug, Clone)]
pub struct Settings {
    pub seed: u64,
    pub tenants: u32,
    /// Rows per table (spread over the tenants) unless the table says otherwise.
    pub rows: u64,
    pub table_rows: BTreeMap<TierTable, u64>,
    pub columns: BTreeMap<String, ColumnOverride>,
    /// Leave tables no row can be made for empty instead of stopping.
    pub skip_unsatisfiable: bool,
}

impl Settings {
    pub fn from_scenario(scenario: &Scenario) -> Settings {
        Settings {
            seed: scenario.seed,
            tenants: scenario.seeding.tenants,
            rows: scenario.seeding.rows,
            table_rows: scenario.seeding.table_rows.clone(),
            columns: scenario
                .seeding
                .columns
                .iter()
                .map(|(column, o)| (column.to_string(), o.clone()))
                .collect(),
            skip_unsatisfiable: scenario.seeding.on_unsatisfiable == OnUnsatisfiable::Skip,
        }
    }

    fn rows_for(&self, table: &TierTable) -> Option<u64> {
        self.table_rows.get(table).copied()
    }

    fn column_override(&self, tier: &str, table: &QualName, column: &str) -> Option<&ColumnOverride> {
        self.columns.get(&format!("{tier}.{table}.{column}"))
    }
}

/// What was seeded, and who owns each row.
pub struct Seeded {
    plan: Arc<Plan>,
    /// Rows no value made pass a CHECK, left out.
    left_out: Vec<oracle::LeftOut>,
    /// Tables seeded with their insert triggers off, because with them on no row loaded.
    pub broken_triggers: Vec<BrokenTrigger>,
}

impl SeedTruth for Seeded {
    fn tenants(&self, tier: &str) -> Vec<String> {
        (0..self.plan.tenant_count()).map(|t| self.plan.tenant_value(tier, t).text().unwrap_or_default()).collect()
    }

    fn generated(&self, tier: &str, table: &QualName) -> bool {
        self.plan.table(tier, table).is_some_and(|t| t.fixed.is_none() && t.preexisting == 0)
    }

    fn rows(&self, tier: &str, table: &QualName) -> u64 {
        self.plan.table(tier, table).map_or(0, |t| t.rows)
    }

    fn owner(&self, tier: &str, table: &QualName, row: u64) -> Option<usize> {
        self.plan.table(tier, table).and_then(|t| self.plan.tenant_of(t, row))
    }

    fn fresh_row(&self, tier: &str, table: &QualName, tenant: usize) -> Option<Vec<(String, String, Option<String>)>> {
        let plan_table = self.plan.table(tier, table)?;
        if plan_table.fixed.is_some() || plan_table.unsatisfiable.is_some() {
            return None;
        }
        let n = self.plan.tenant_count() as u64;
        let step = if plan_table.tenant_scoped { n } else { 1 };
        let first = plan_table.rows.div_ceil(step) * step;
        let j = if plan_table.tenant_scoped { first + tenant as u64 } else { first };
        let columns = stream::copied_columns(plan_table);
        let values = stream::row_values(&self.plan, plan_table, &columns, j, 0);
        Some(
            columns
                .iter()
                .zip(values)
                .map(|(c, v)| (c.name.clone(), c.data_type.clone(), v.text()))
                .collect(),
        )
    }

    fn value(&self, tier: &str, table: &QualName, row: u64, column: &str) -> Option<String> {
        self.plan.table(tier, table).and_then(|t| self.plan.value(t, row, column, 0).text())
    }

    fn canary_tags(&self) -> Vec<String> {
        self.plan.canary_tags.clone()
    }

    fn canary_origin(&self, marker: &crate::canary::Marker) -> Option<String> {
        let table = self.plan.tables.get(marker.table)?;
        let key: Vec<String> = table
            .primary_key
            .iter()
            .map(|column| format!("{column}={}", self.plan.value(table, marker.row, column, 0).text().unwrap_or_else(|| "NULL".into())))
            .collect();
        let key = if key.is_empty() { String::new() } else { format!(" ({})", key.join(", ")) };
        Some(format!("{} {} row #{}{key}", table.tier, table.name, marker.row))
    }

    fn key_canaries(&self, tenant: usize) -> Vec<(String, String)> {
        // A few rows a table: enough to see a copy, few enough to search for.
        const PER_TABLE: usize = 10;
        self.plan
            .key_canaries(tenant, PER_TABLE)
            .into_iter()
            .map(|(table, row, key)| {
                let table = &self.plan.tables[table];
                let column = table.primary_key.first().map(String::as_str).unwrap_or_default();
                (key.clone(), format!("{} {} row #{row} ({column}={key})", table.tier, table.name))
            })
            .collect()
    }

    fn unseeded(&self) -> Vec<Unseeded> {
        let empty = self.plan.tables.iter().filter_map(|t| Some((t, t.unsatisfiable.as_ref()?))).map(|(table, why)| {
            let column = why.column.split(", ").next().unwrap_or_default();
            Unseeded {
                tier: table.tier.clone(),
                object: format!("{}.{column}", table.name),
                message: format!(
                    "tier {}: {} was left empty (on_unsatisfiable = \"skip\"): column {} cannot satisfy {}",
                    table.tier, table.name, why.column, why.constraint
                ),
                rows: Vec::new(),
            }
        });
        let left_out = self.left_out.iter().map(|l| {
            let shown = shown_rows(&l.rows);
            Unseeded {
                tier: l.tier.clone(),
                object: l.table.to_string(),
                message: format!(
                    "tier {}: {} of {} seeded row(s) of {} never satisfied {}, whatever values were drawn: they were left out (rows {}{})",
                    l.tier,
                    l.rows.len(),
                    self.rows(&l.tier, &l.table),
                    l.table,
                    l.checks.join(", "),
                    shown.join(", "),
                    if l.rows.len() > shown.len() { ", ..." } else { "" }
                ),
                rows: l.rows.clone(),
            }
        });
        empty.chain(left_out).collect()
    }
}

/// Seeds every tier (concurrently) and returns the ground truth.
pub async fn seed(scenario: &Scenario, tiers: &[(&Catalog, &PgPool)], tenancy: &Tenancy) -> Result<Seeded> {
    let settings = Settings::from_scenario(scenario);
    let mut inputs = Vec::new();
    for (catalog, pool) in tiers {
        let existing_rows = copy::existing_rows(catalog, pool).await?;
        // Rows of a tier without data files came from its schema (a
        // migration's examples); rows a data file gives are kept as given.
        let from_schema = scenario.tiers.iter().any(|t| t.name == catalog.tier && t.data.is_empty());
        let topped_up = match from_schema {
            true => copy::one_tenant_tables(catalog, pool, tenancy, &existing_rows).await?,
            false => Default::default(),
        };
        inputs.push(plan::TierInput {
            catalog,
            topped_up,
            existing_rows,
            sequences: copy::sequences(catalog, pool).await?,
            inferred: crate::catalog::references::inferred(catalog, scenario),
        });
    }
    let mut plan = plan::build(&settings, tenancy, &inputs, &scenario.references)?;
    let mut fixed = Vec::new();
    for ((catalog, pool), input) in tiers.iter().zip(&inputs) {
        for name in input.existing_rows.keys() {
            let Some(index) = plan::index_of(&plan, &catalog.tier, name) else { continue };
            if plan.tables[index].rows > 0 {
                continue; // the scenario asked for rows on top of the fixed ones
            }
            let tenant_column = tenancy.scope(&catalog.tier, name).and_then(TenantScope::column);
            let columns = plan::referenced_columns(&plan, index);
            fixed.push((index, copy::read_fixed(&catalog.tier, pool, name, tenant_column, &columns).await?));
        }
    }
    plan.finish(&settings, fixed)?;
    let mut plan = Arc::new(plan);
    // Tier by tier: a skipped table or a row left out changes what its
    // dependants (also in other tiers) are judged with.
    for (catalog, pool) in tiers {
        if settings.skip_unsatisfiable {
            oracle::skip_unsatisfiable(&mut plan, &catalog.tier, pool).await?;
        }
        oracle::find_gaps(&mut plan, &catalog.tier, pool).await?;
    }
    let (left_out, broken_triggers): (Vec<_>, Vec<_>) =
        try_join_all(tiers.iter().map(|(catalog, pool)| copy::load_tier(plan.clone(), &catalog.tier, pool))).await?.into_iter().unzip();
    // Statistics and visibility maps as a database in use has them (after
    // a restore one runs ANALYZE too): plans, and so latencies, are the ones
    // production would get, not those for tables the planner thinks empty.
    try_join_all(tiers.iter().map(|(catalog, pool)| async move {
        sqlx::raw_sql("VACUUM ANALYZE")
            .execute(*pool)
            .await
            .map_err(|e| HarnessError::database(&catalog.tier, format!("VACUUM ANALYZE after seeding: {e}")))
    }))
    .await?;
    Ok(Seeded {
        plan,
        left_out: left_out.into_iter().flatten().collect(),
        broken_triggers: broken_triggers.into_iter().flatten().collect(),
    })
}

/// A scenario's column generator override cannot be honoured.
pub(crate) fn override_error(column: &str, message: impl std::fmt::Display) -> HarnessError {
    HarnessError::input(format!("seeding.columns.\"{column}\": {message}"))
}
