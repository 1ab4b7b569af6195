//! Latency of the scenario's named queries (`[[latency]]`), measured the
//! way the application runs them: as the app role, under a tenant's
//! context, so the cost of RLS counts. Each query is measured once
//! ([`measure`]); its statistics are held to the target
//! ([`target`], `latency.target`) and the plan of its slowest iteration is
//! searched for sequential scans of large tables ([`seq_scan`],
//! `latency.seq_scan`).

mod bind;
mod measure;
mod seq_scan;
mod target;

use sqlx::{Connection, PgConnection, PgPool};

use crate::catalog::{Catalog, QualName};
use crate::checks::{Finding, TierContext};
use crate::error::{HarnessError, Result};
use crate::scenario::Scenario;
use crate::scenario::workload::Param;

/// The checks of this family, in the order the docs list them.
pub const CHECKS: &[crate::checks::CheckId] = &[
    target::ID,
    seq_scan::ID,
];

pub async fn run(ctx: &TierContext<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for query in ctx.scenario.latency.iter().filter(|q| q.tier == ctx.tier()) {
        let plan_file = plan_file(&query.tier, &query.name);
        let measured = match bind::bindings(ctx, query).await {
            Ok(bindings) => measure::measure(ctx, query, &bindings).await.map_err(|e| (false, e)),
            Err(bind::Unbound(why)) => Err((true, why)),
        };
        match measured {
            Ok(measured) => {
                findings.push(target::check(ctx, query, &measured, &plan_file));
                findings.push(seq_scan::check(ctx, query, &measured.plans, &plan_file).await);
            }
            Err((skipped, why)) => {
                for id in [target::ID, seq_scan::ID] {
                    findings.push(if skipped {
                        id.skip(ctx.tier(), &query.name, why.clone())
                    } else {
                        id.error(ctx.tier(), &query.name, format!("could not measure `{}`: {why}", query.name))
                    });
                }
            }
        }
    }
    findings
}

/// Where a query's plan is saved, relative to the report folder.
fn plan_file(tier: &str, query: &str) -> String {
    let stem: String = format!("{tier}-{query}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' })
        .collect();
    format!("plans/{stem}.json")
}

/// Before seeding and measuring: every `row:` parameter names a real column
/// of its tier, and every statement prepares on its tier. A mistake here is
/// the scenario's, so it stops the run (exit 2) instead of becoming a finding.
pub async fn validate(scenario: &Scenario, tiers: &[(&Catalog, &PgPool)]) -> Result<()> {
    for query in &scenario.latency {
        let Some((catalog, pool)) = tiers.iter().find(|(c, _)| c.tier == query.tier) else { continue };
        let at = |m: String| HarnessError::input(format!("latency `{}` (tier {}): {m}", query.name, query.tier));
        for param in &query.params {
            if let Param::Row { schema, table, column } = param {
                let name = QualName { schema: schema.clone(), name: table.clone() };
                if catalog.table(&name).and_then(|t| t.column(column)).is_none() {
                    return Err(at(format!("parameter `{param}`: no column {column} in {schema}.{table}")));
                }
            }
        }
        let mut conn = PgConnection::connect_with(&pool.connect_options())
            .await
            .map_err(|e| HarnessError::database(&query.tier, e))?;
        let prepared = measure::prepare(&mut conn, &query.sql).await;
        let _ = conn.close().await;
        prepared.map_err(|e| at(format!("the statement does not prepare: {}", server_message(&e))))?;
    }
    Ok(())
}

/// The server's words when it refused, else the whole error.
fn server_message(error: &sqlx::Error) -> String {
    error.as_database_error().map_or_else(|| error.to_string(), |db| db.message().to_string())
}
