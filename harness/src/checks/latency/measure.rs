//! Running a query as the application would, and timing it. Each
//! connection prepares the statement once; each iteration is then one round
//! trip: `BEGIN; SET LOCAL ROLE app; <tenant context, as tenancy::acting sets it>;
//! EXECUTE q(args); ROLLBACK` in a single message, timed on the client from
//! send to the last result. The samples therefore include what every
//! request of the application pays (its transaction and tenant context);
//! what tierguard itself adds per iteration (building the message) is timed
//! apart and reported, and so is the same round trip with no query in it.

use std::sync::Arc;
use std::time::Instant;

use futures::future::try_join_all;
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use tokio::sync::Barrier;

use super::bind::Binding;
use crate::checks::TierContext;
use crate::tenancy::acting::{Actor, Context};
use crate::sql::quote_literal;
use crate::scenario::workload::{LatencyQuery, Statistic};

/// The name each measuring connection prepares the query under.
const STATEMENT: &str = "tierguard_latency";

/// Runs of the context-only round trip measured for `context_ms`.
const CONTEXT_RUNS: usize = 20;

/// What measuring one query found.
pub struct Measured {
    pub stats: Stats,
    /// Median time tierguard spends per iteration outside the round trip (ms).
    pub overhead_ms: f64,
    /// Median round trip of transaction, role and tenant context alone (ms).
    pub context_ms: f64,
    pub concurrency: u32,
    pub warmup: u32,
    /// `EXPLAIN (ANALYZE, BUFFERS, VERBOSE, FORMAT JSON)` of the slowest
    /// iteration, re-run with its tenant and parameters.
    pub plan: Value,
    /// The planner's plan (`EXPLAIN (VERBOSE, FORMAT JSON)`, not run) for
    /// each distinct binding, in binding order: which binding ran slowest
    /// depends on the machine, these do not.
    pub plans: Vec<Value>,
    pub slowest: Binding,
}

/// Latency statistics in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub mean: f64,
    pub max: f64,
    pub iterations: usize,
}

impl Stats {
    /// Nearest-rank percentiles: each is a latency some iteration really had.
    pub fn of(samples: &[f64]) -> Stats {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        Stats {
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            max: sorted[sorted.len() - 1],
            iterations: sorted.len(),
        }
    }

    pub fn get(&self, statistic: Statistic) -> f64 {
        match statistic {
            Statistic::P50 => self.p50,
            Statistic::P95 => self.p95,
            Statistic::P99 => self.p99,
            Statistic::Mean => self.mean,
            Statistic::Max => self.max,
        }
    }
}

/// One request in one message: BEGIN, role and `tenant`'s context the way
/// the application sets it, `statement` (if any), ROLLBACK.
fn request(actor: &Actor, tenant: &str, statement: Option<&str>) -> String {
    let mut parts = vec!["BEGIN".to_string()];
    parts.extend(actor.statements(&Context::Tenant(tenant.to_string())));
    parts.extend(statement.map(str::to_string));
    parts.push("ROLLBACK".into());
    parts.join("; ")
}

/// `EXECUTE tierguard_latency('a', NULL, ...)`: untyped literals, so the
/// server casts each to the type it inferred for the parameter.
fn execute(binding: &Binding) -> String {
    if binding.args.is_empty() {
        return format!("EXECUTE {STATEMENT}");
    }
    let args: Vec<String> =
        binding.args.iter().map(|a| a.as_deref().map_or_else(|| "NULL".to_string(), quote_literal)).collect();
    format!("EXECUTE {STATEMENT}({})", args.join(", "))
}

/// Prepares `sql` on `conn` as the measured statement.
pub async fn prepare(conn: &mut PgConnection, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(&format!("PREPARE {STATEMENT} AS {sql}")).execute(conn).await.map(|_| ())
}

/// Warm-up, then the iterations spread over `concurrency` connections
/// that start measuring together; then the plan of the slowest iteration.
pub async fn measure(ctx: &TierContext<'_>, query: &LatencyQuery, bindings: &[Binding]) -> Result<Measured, String> {
    let Some(actor) = ctx.actor else {
        return Err("the application role and tenant setting must be known (--app-role, --tenant-guc)".into());
    };
    let effort = ctx.scenario.measure(query);
    let connections = (effort.concurrency as usize).min(bindings.len());
    let mut conns = Vec::new();
    for _ in 0..connections {
        let mut conn = PgConnection::connect_with(&ctx.acting_pool().connect_options()).await.map_err(|e| e.to_string())?;
        prepare(&mut conn, &query.sql).await.map_err(|e| super::server_message(&e))?;
        conns.push(conn);
    }
    let start = Arc::new(Barrier::new(connections));
    let timed = try_join_all(conns.iter_mut().enumerate().map(|(k, conn)| {
        // Iteration i runs on connection i % connections.
        let mine: Vec<(usize, &Binding)> = bindings.iter().enumerate().skip(k).step_by(connections).collect();
        let (actor, start) = (&actor, start.clone());
        async move {
            for (_, binding) in mine.iter().cycle().take(effort.warmup as usize) {
                round_trip(conn, &request(actor, &binding.tenant, Some(&execute(binding)))).await?;
            }
            start.wait().await;
            let mut timed = Vec::with_capacity(mine.len());
            for (i, binding) in mine {
                let began = Instant::now();
                let request = request(actor, &binding.tenant, Some(&execute(binding)));
                let sent = Instant::now();
                round_trip(conn, &request).await?;
                timed.push((i, ms(sent.elapsed()), ms(sent - began)));
            }
            Ok::<_, String>(timed)
        }
    }))
    .await?;
    let mut timed: Vec<(usize, f64, f64)> = timed.into_iter().flatten().collect();
    timed.sort_by_key(|t| t.0);
    let samples: Vec<f64> = timed.iter().map(|t| t.1).collect();
    let overhead: Vec<f64> = timed.iter().map(|t| t.2).collect();
    let slowest =
        timed.iter().max_by(|a, b| a.1.total_cmp(&b.1)).map(|t| bindings[t.0].clone()).expect("at least one iteration");

    let conn = &mut conns[0];
    let mut context = Vec::with_capacity(CONTEXT_RUNS);
    for _ in 0..CONTEXT_RUNS {
        let sent = Instant::now();
        round_trip(conn, &request(actor, &slowest.tenant, None)).await?;
        context.push(ms(sent.elapsed()));
    }
    let plan = explain(conn, actor, &slowest, true).await.map_err(|e| super::server_message(&e))?;
    let mut distinct: Vec<&Binding> = Vec::new();
    for binding in bindings {
        if !distinct.contains(&binding) {
            distinct.push(binding);
        }
    }
    let mut plans = Vec::with_capacity(distinct.len());
    for binding in distinct {
        plans.push(explain(conn, actor, binding, false).await.map_err(|e| super::server_message(&e))?);
    }
    for conn in conns {
        let _ = conn.close().await;
    }
    Ok(Measured {
        stats: Stats::of(&samples),
        overhead_ms: Stats::of(&overhead).p50,
        context_ms: Stats::of(&context).p50,
        concurrency: connections as u32,
        warmup: effort.warmup,
        plan,
        plans,
        slowest,
    })
}

/// One request; on a server error the transaction is rolled back so the
/// connection stays usable, and the server's message is returned.
async fn round_trip(conn: &mut PgConnection, request: &str) -> Result<(), String> {
    if let Err(e) = sqlx::raw_sql(request).execute(&mut *conn).await {
        let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
        return Err(super::server_message(&e));
    }
    Ok(())
}

/// The plan of one iteration under the same tenant context: run again
/// (`analyze`, with times and buffers), or only planned.
async fn explain(conn: &mut PgConnection, actor: &Actor, binding: &Binding, analyze: bool) -> Result<Value, sqlx::Error> {
    let mut tx = match actor.begin_on(conn, &Context::Tenant(binding.tenant.clone())).await? {
        Ok(tx) => tx,
        Err(refusal) => return Err(sqlx::Error::Protocol(refusal.message)),
    };
    let options = if analyze { "ANALYZE, BUFFERS, VERBOSE, FORMAT JSON" } else { "VERBOSE, FORMAT JSON" };
    let plan = sqlx::query_scalar(&format!("EXPLAIN ({options}) {}", execute(binding)))
        .fetch_one(&mut *tx)
        .await?;
    tx.rollback().await?;
    Ok(plan)
}

fn ms(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ContextMechanism;

    #[test]
    fn percentiles_are_nearest_rank_and_ordered() {
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let stats = Stats::of(&samples);
        assert_eq!((stats.p50, stats.p95, stats.p99, stats.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(stats.mean, 50.5);
        assert_eq!(Stats::of(&[3.0]).p99, 3.0);
    }

    #[test]
    fn parameters_are_untyped_literals() {
        let binding = Binding { tenant: "t".into(), args: vec![Some("it's".into()), None] };
        assert_eq!(execute(&binding), "EXECUTE tierguard_latency('it''s', NULL)");
        let actor = Actor {
            role: "app".into(),
            guc: "app.tenant".into(),
            mechanism: ContextMechanism::Local,
            jwt: None,
            members: None,
        };
        assert_eq!(
            request(&actor, "t", None),
            "BEGIN; SET LOCAL ROLE \"app\"; SELECT set_config('app.tenant', 't', true); ROLLBACK"
        );
    }
}
