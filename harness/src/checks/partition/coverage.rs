//! `partition.coverage`: a table partitioned by RANGE on a date or time
//! column has no partition for now, or for one of the months ahead that the
//! scenario declares (`[partitions] months_ahead`). Inserts for such times
//! fail, or pile into a DEFAULT partition that then blocks creating the
//! missing one; a DEFAULT partition therefore does not count as coverage.

use regex::Regex;
use sqlx::PgPool;

use crate::catalog::{Table, TableKind};
use crate::checks::{CheckId, Severity, Finding, TierContext};

pub const ID: CheckId = CheckId::new(
    "partition.coverage",
    Severity::Error,
    r#"a time-range-partitioned table has no partition for now or the months ahead"#,
);

const TIME_TYPES: [&str; 4] = [
    "date",
    "timestamp with time zone",
    "timestamp without time zone",
    "timestamp",
];

pub async fn check(ctx: &TierContext<'_>) -> Vec<Finding> {
    let tier = ctx.tier();
    let key = Regex::new(r"^RANGE \((\w+)\)$").expect("valid regex");
    let mut findings = Vec::new();
    for table in ctx.catalog.tables.iter().filter(|t| t.kind == TableKind::Partitioned && !t.is_partition()) {
        let Some(column) = table
            .partition_key
            .as_deref()
            .and_then(|k| key.captures(k))
            .map(|c| c[1].to_string())
        else {
            continue; // LIST, HASH, multi-column or expression keys are not time ranges
        };
        let Some(data_type) = table.column(&column).map(|c| c.data_type.as_str()) else { continue };
        if !TIME_TYPES.contains(&data_type) {
            continue;
        }
        let (lower, upper) = bounds(ctx, table);
        match uncovered_months(ctx.pool, data_type, &lower, &upper, ctx.scenario.months_ahead).await {
            Ok(missing) if missing.is_empty() => findings.push(ID.pass(
                tier,
                &table.name,
                format!("partitions cover now and {} month(s) ahead", ctx.scenario.months_ahead),
            )),
            Ok(missing) => findings.push(
                ID.fail(
                    tier,
                    &table.name,
                    format!(
                        "{} has no partition on {column} for {}: inserts for those times fail{}",
                        table.name,
                        missing.join(", "),
                        if has_default(ctx, table) { " or land in the DEFAULT partition" } else { "" }
                    ),
                )
                .detail("missing", missing)
                .detail("months_ahead", ctx.scenario.months_ahead),
            ),
            Err(e) => findings.push(ID.error(tier, &table.name, format!("could not compare partition bounds: {e}"))),
        }
    }
    findings
}

fn partitions<'c>(ctx: &'c TierContext<'_>, table: &'c Table) -> impl Iterator<Item = &'c Table> {
    ctx.catalog
        .tables
        .iter()
        .filter(move |p| p.partition_of.as_ref() == Some(&table.name))
}

fn has_default(ctx: &TierContext<'_>, table: &Table) -> bool {
    partitions(ctx, table).any(|p| p.partition_bound.as_deref() == Some("DEFAULT"))
}

/// `FOR VALUES FROM ('2026-01-01') TO ('2026-02-01')` of each partition, as
/// (lower, upper) literals; MINVALUE/MAXVALUE stay as words.
fn bounds(ctx: &TierContext<'_>, table: &Table) -> (Vec<String>, Vec<String>) {
    let range = Regex::new(r"^FOR VALUES FROM \((.+)\) TO \((.+)\)$").expect("valid regex");
    let literal = |s: &str| s.trim().trim_start_matches('\'').trim_end_matches('\'').replace("''", "'");
    partitions(ctx, table)
        .filter_map(|p| range.captures(p.partition_bound.as_deref()?))
        .map(|c| (literal(&c[1]), literal(&c[2])))
        .unzip()
}

/// The months (`YYYY-MM`) among now and the months ahead that no range
/// covers. PostgreSQL compares, so every date/time spelling is understood.
async fn uncovered_months(
    pool: &PgPool,
    data_type: &str,
    lower: &[String],
    upper: &[String],
    months_ahead: u32,
) -> Result<Vec<String>, sqlx::Error> {
    let sql = format!(
        "SELECT to_char(p.at, 'YYYY-MM') FROM (
             SELECT 0 AS k, now()::{data_type} AS at
             UNION ALL
             SELECT k, (date_trunc('month', now()) + make_interval(months => k))::{data_type}
             FROM generate_series(1, $3::int) k) p
         WHERE NOT EXISTS (
             SELECT 1 FROM unnest($1::text[], $2::text[]) b(lo, hi)
             -- CASE, not OR: the cast of 'MINVALUE' must never be evaluated
             WHERE CASE WHEN b.lo = 'MINVALUE' THEN true ELSE b.lo::{data_type} <= p.at END
               AND CASE WHEN b.hi = 'MAXVALUE' THEN true ELSE p.at < b.hi::{data_type} END)
         ORDER BY p.k"
    );
    sqlx::query_scalar(&sql)
        .bind(lower)
        .bind(upper)
        .bind(months_ahead as i32)
        .fetch_all(pool)
        .await
}
