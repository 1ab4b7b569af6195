//! Acting as a tenant: every probe runs in its own transaction, as the
//! application role, with the tenant context set the way the application
//! sets it (`tenancy::acting`), and is rolled back. What the superuser sees
//! is the ground truth it is compared with (`tenancy::owners`).

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Row};

pub use crate::tenancy::acting::{settled, Actor, Context, Refusal};
pub use crate::tenancy::owners::{key_text, Truth, ROW_ID};
use crate::checks::TierContext;
use crate::sql::quote_ident;

/// One probe: what a person needs to re-run it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    #[serde(flatten)]
    pub actor: Actor,
    pub context: Context,
    /// The statement the application would run.
    pub statement: String,
    /// Reads return row ids (`tableoid/ctid`); writes return rows affected.
    pub write: bool,
    /// Run as the superuser before acting (constraints set aside).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub setup: Vec<String>,
    /// A superuser query that shows the other tenant's rows, before and
    /// after the statement: a write is judged by its effect on them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observe: Option<String>,
}

impl Case {
    /// The case as a psql script: run it on a database holding the rows.
    pub fn sql(&self) -> String {
        let acting = self.actor.statements(&self.context).join(";\n");
        let Some(observe) = &self.observe else {
            return format!("BEGIN;\n{acting};\n{};\nROLLBACK;\n", self.statement);
        };
        let mut sql = String::from("BEGIN;\nSET CONSTRAINTS ALL IMMEDIATE;\n");
        for statement in &self.setup {
            sql.push_str(&format!("{statement};\n"));
        }
        sql.push_str(&format!(
            "-- the other tenant's rows before:\n{observe};\nSET LOCAL SESSION AUTHORIZATION {};\n{acting};\n{};\n\
             RESET SESSION AUTHORIZATION;\n-- and after (compare):\n{observe};\nROLLBACK;\n",
            quote_ident(&self.actor.role),
            self.statement
        ));
        sql
    }

    pub fn describe(&self) -> String {
        format!("as `{}` with {}: {}", self.actor.role, self.context.describe(), self.statement)
    }
}

/// What a probe saw.
#[derive(Debug)]
pub enum Outcome {
    Rows(Vec<String>),
    Affected(u64),
    /// The server refused (policy, permission, constraint): nothing seen or changed.
    Refused(Refusal),
}

/// Probe transactions run by this process (the report and the bench read it).
pub static PROBES_RUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Runs a case on a pooled connection, acting as the application for the
/// transaction, and rolls it back.
pub async fn run(pool: &PgPool, case: &Case) -> Result<Outcome, sqlx::Error> {
    run_on(&mut *pool.acquire().await?, case).await
}

/// [`run`] on a connection the caller holds: a probe that runs many cases
/// keeps one, so their statements are prepared (and planned) once.
pub async fn run_on(conn: &mut PgConnection, case: &Case) -> Result<Outcome, sqlx::Error> {
    settled(async || run_once(conn, case).await, |o| matches!(o, Outcome::Refused(r) if r.is_transient())).await
}

async fn run_once(conn: &mut PgConnection, case: &Case) -> Result<Outcome, sqlx::Error> {
    PROBES_RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut tx = match case.actor.begin_on(conn, &case.context).await? {
        Ok(tx) => tx,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    let outcome = if case.write {
        match sqlx::raw_sql(&case.statement).execute(&mut *tx).await {
            Ok(done) => Outcome::Affected(done.rows_affected()),
            Err(e) => Outcome::Refused(Refusal::from_error(e)?),
        }
    } else {
        match sqlx::query(&case.statement).fetch_all(&mut *tx).await {
            Ok(rows) => Outcome::Rows(rows.iter().map(|r| r.try_get::<String, _>(0).unwrap_or_default()).collect()),
            Err(e) => Outcome::Refused(Refusal::from_error(e)?),
        }
    };
    tx.rollback().await?;
    super::probe_log::record(super::probe_log::Connection::Reads, || {
        vec![case.actor.opening_statements(&case.context), vec![case.statement.clone()], vec!["ROLLBACK".to_string()]]
    });
    Ok(outcome)
}

/// The tenants to act as: the seeded ones, else those found in the data
/// (`tenancy::owners::tenants`).
pub async fn tenants(ctx: &TierContext<'_>) -> Vec<String> {
    match ctx.seeded {
        Some(seeded) => seeded.tenants(ctx.tier()),
        None => crate::tenancy::owners::tenants(ctx.tenancy, ctx.catalog, ctx.pool).await,
    }
}

/// A literal for `value` typed like `column`.
pub fn literal(value: &str, data_type: &str) -> String {
    format!("'{}'::{}", value.replace('\'', "''"), data_type)
}

/// A tenant id no tenant has, typed for the tenant column.
pub fn nonexistent_tenant(data_type: &str) -> String {
    match data_type {
        "uuid" => "00000000-0000-4000-8000-000000000000".into(),
        t if t.contains("int") || t.starts_with("numeric") => "-1".into(),
        _ => "no-such-tenant".into(),
    }
}
