//! `check.violations`: rows that break a CHECK of their own table. A CHECK
//! added `NOT VALID` is enforced for new rows only: rows from before stay
//! as they were, and nothing reports them. So every CHECK is evaluated over
//! the existing rows (one read-only scan per table, fine on external
//! databases too); the offending rows are counted and up to ten shown.

use sqlx::PgPool;

use crate::catalog::{Constraint, Table};
use crate::checks::rows::shown_fields;
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::sql::quote_ident;

pub const ID: CheckId = CheckId::new(
    "check.violations",
    Severity::Error,
    r#"existing rows violate a CHECK (e.g. one added NOT VALID), counted with up to ten samples"#,
);

/// Rows shown per finding.
const SAMPLES: i64 = 10;

pub async fn check(ctx: &TierContext<'_>) -> Vec<Finding> {
    let tier = ctx.tier();
    let mut findings = Vec::new();
    for table in ctx.catalog.tables.iter().filter(|t| !t.is_partition()) {
        let checks: Vec<(&Constraint, &str)> =
            table.constraints.iter().filter_map(|c| Some((c, c.check_expression()?))).collect();
        if checks.is_empty() {
            continue;
        }
        let counts = match count(ctx.pool, table, &checks).await {
            Ok(counts) => counts,
            Err(e) => {
                for (constraint, _) in &checks {
                    let object = format!("{}.{}", table.name, constraint.name);
                    findings.push(ID.error(tier, object, format!("could not evaluate the CHECK over existing rows: {e}")));
                }
                continue;
            }
        };
        for ((constraint, expression), count) in checks.into_iter().zip(counts) {
            let object = format!("{}.{}", table.name, constraint.name);
            if count == 0 {
                findings.push(ID.pass(tier, object, "every existing row satisfies it"));
                continue;
            }
            let samples = samples(ctx.pool, table, constraint, expression).await.unwrap_or_default();
            let not_valid = if constraint.validated { "" } else { " (it was added NOT VALID, so they were never checked)" };
            findings.push(
                ID.fail(tier, object, format!("{count} row(s) of {} violate {}{not_valid}", table.name, constraint.name))
                    .detail("count", count)
                    .detail("samples", samples)
                    .detail("expression", expression)
                    .detail(
                        "fix",
                        format!(
                            "fix the rows (SELECT * FROM {} WHERE ({expression}) IS FALSE), then ALTER TABLE {} VALIDATE CONSTRAINT {};",
                            table.name.sql(),
                            table.name.sql(),
                            quote_ident(&constraint.name)
                        ),
                    ),
            );
        }
    }
    findings
}

/// Violating rows per CHECK, in one scan. A CHECK passes on NULL: only FALSE violates.
async fn count(pool: &PgPool, table: &Table, checks: &[(&Constraint, &str)]) -> Result<Vec<i64>, sqlx::Error> {
    let columns: Vec<String> = checks.iter().map(|(_, e)| format!("count(*) FILTER (WHERE ({e}) IS FALSE)")).collect();
    let sql = format!("SELECT ARRAY[{}]::bigint[] FROM {}", columns.join(", "), table.name.sql());
    sqlx::query_scalar(&sql).fetch_one(pool).await
}

/// Up to ten violating rows, as their key and the columns the CHECK reads.
async fn samples(pool: &PgPool, table: &Table, constraint: &Constraint, expression: &str) -> Result<Vec<String>, sqlx::Error> {
    let sql = format!(
        "SELECT jsonb_build_object({})::text FROM {} c WHERE ({expression}) IS FALSE ORDER BY {} LIMIT {SAMPLES}",
        shown_fields(table, &constraint.columns),
        table.name.sql(),
        table.key_order("c")
    );
    sqlx::query_scalar(&sql).fetch_all(pool).await
}
