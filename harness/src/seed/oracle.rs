//! The staging table: for tables with CHECKs tierguard cannot read,
//! PostgreSQL judges the drawn rows. Rows go to a temporary table first,
//! those that pass every CHECK move on, the rest are redrawn; rows no
//! attempt makes pass are left out (and named), and before anything loads
//! the same judgement finds the gaps children must steer around and the
//! tables `on_unsatisfiable = "skip"` leaves empty.

use std::sync::Arc;

use sqlx::{PgConnection, PgPool};

use super::plan::{order, ColumnPlan, Link, Plan, Source, TablePlan, Unsatisfiable};
use super::stream::{copy_rows, execute, CopyTarget, STAGE, STAGE_ROW};
use crate::catalog::{mentions, QualName};
use crate::error::{HarnessError, Result};
use crate::sql::quote_ident;

/// Rows PostgreSQL rejected for a CHECK we could not read are redrawn this often.
const ATTEMPTS: u32 = 25;

/// Rows no drawn value made pass a CHECK, left out (rows referencing the
/// table were pointed at its other rows: see `find_gaps`).
#[derive(Debug, Clone)]
pub struct LeftOut {
    pub tier: String,
    pub table: QualName,
    /// Row numbers, ascending.
    pub rows: Vec<u64>,
    /// The CHECKs they fail, as `CHECK name (expression)`.
    pub checks: Vec<String>,
}

/// For tables with CHECKs tierguard cannot read: rows go to a staging
/// table first, PostgreSQL keeps those that pass every CHECK, and the rest
/// are redrawn. A row that fails every attempt is left out, and named,
/// when other rows passed; when it is not one of the gaps found before
/// loading (see `find_gaps`), children may point at it and the run stops,
/// naming the constraint. Identity and serial values are supplied as
/// predicted (rows pass in any order), and the sequences moved past them.
pub(super) async fn load_through_oracle(conn: &mut PgConnection, plan: Arc<Plan>, index: usize) -> Result<Option<LeftOut>> {
    let table = &plan.tables[index];
    let (pending, failed) = through_stage(conn, plan.clone(), index, 0..table.rows, Some(&table.name.sql())).await?;
    let failed: Vec<String> = failed.iter().map(|(name, expression)| format!("CHECK {name} {expression}")).collect();
    // No row at all: the table is unsatisfiable (on_unsatisfiable decides
    // before loading); rows children were not steered away from: no gap allowed.
    let referenced = plan.tables.iter().any(|t| t.links.iter().any(|l| l.target == index));
    if !pending.is_empty() && ((referenced && pending != table.gaps) || pending.len() as u64 == table.rows) {
        return Err(stage_error(table, format!(
            "{} row(s) never satisfied {} after {ATTEMPTS} attempts; nothing was loaded for them",
            pending.len(),
            failed.join(", ")
        )));
    }
    for column in &table.columns {
        if let Source::ServerAssigned { sequence, next, step } = &column.source {
            let last = next + (table.rows as i64 - 1) * step;
            sqlx::query("SELECT setval($1::regclass, $2)")
                .bind(sequence)
                .bind(last)
                .execute(&mut *conn)
                .await
                .map_err(|e| stage_error(table, e.to_string()))?;
        }
    }
    Ok((!pending.is_empty()).then(|| LeftOut {
        tier: table.tier.clone(),
        table: table.name.clone(),
        rows: pending,
        checks: failed,
    }))
}

/// Before anything loads: the rows of each referenced table with CHECKs
/// tierguard cannot read that no attempt makes pass (the staging table
/// judges them, as the load will). They become the table's gaps, so its
/// children (in any tier) pick among the rows that will exist. Parents
/// first, so a table is judged with the references it will really get.
/// A tenant left with no row at all that a child must reference stops the
/// run, naming the CHECK.
pub async fn find_gaps(plan: &mut Arc<Plan>, tier: &str, pool: &PgPool) -> Result<()> {
    let order = order(plan, tier).map_err(|_| HarnessError::input(format!("tier {tier}: FK cycle")))?;
    let mut conn = pool.acquire().await.map_err(|e| HarnessError::database(tier, e))?;
    for index in order {
        let table = &plan.tables[index];
        let needed = |l: &Link| l.target == index && !l.draw_null;
        let referenced = plan.tables.iter().any(|t| t.links.iter().any(|l| l.target == index));
        if table.fixed.is_some() || table.rows == 0 || table.unknown_checks.is_empty() || !referenced {
            continue;
        }
        let (gaps, failed) = through_stage(&mut conn, plan.clone(), index, 0..table.rows, None).await?;
        if gaps.is_empty() || gaps.len() as u64 == table.rows {
            continue; // nothing to steer around, or nothing loads (load_through_oracle says so)
        }
        let mut kept = vec![0u64; plan.tenant_count()];
        for tenant in (0..table.rows).filter(|j| gaps.binary_search(j).is_err()).filter_map(|j| plan.tenant_of(table, j)) {
            kept[tenant] += 1;
        }
        let bare = kept.iter().position(|&rows| rows == 0);
        if let Some(tenant) = bare.filter(|_| table.tenant_scoped && plan.tables.iter().any(|t| t.links.iter().any(needed))) {
            let failed: Vec<String> = failed.iter().map(|(name, expression)| format!("CHECK {name} {expression}")).collect();
            return Err(stage_error(table, format!(
                "no row of tenant #{tenant} satisfied {} after {ATTEMPTS} attempts, and other tables must reference one; \
                 seed more rows of it ([seeding.tables]) or give the columns a generator ([seeding.columns])",
                failed.join(", ")
            )));
        }
        Arc::get_mut(plan).expect("no load holds the plan yet").tables[index].gaps = gaps;
    }
    Ok(())
}

/// Rows probed per table before loading, with `on_unsatisfiable = "skip"`.
/// Values are pure functions of (row, attempt), so these rows fare in the
/// probe exactly as they would in the load.
const PROBED_ROWS: u64 = 16;

/// With `on_unsatisfiable = "skip"`: before anything loads, the first rows
/// of every table with CHECKs tierguard cannot read go through the staging
/// table; a table where one of them passes no attempt is skipped (with its
/// dependants), so no table is ever partly loaded. Parents first, so a
/// child is probed with the references it will really get.
pub async fn skip_unsatisfiable(plan: &mut Arc<Plan>, tier: &str, pool: &PgPool) -> Result<()> {
    let order = order(plan, tier).map_err(|_| HarnessError::input(format!("tier {tier}: FK cycle")))?;
    let mut conn = pool.acquire().await.map_err(|e| HarnessError::database(tier, e))?;
    for index in order {
        let table = &plan.tables[index];
        if table.fixed.is_some() || table.rows == 0 || table.unknown_checks.is_empty() {
            continue;
        }
        let rows = 0..table.rows.min(PROBED_ROWS);
        let (pending, failed) = through_stage(&mut conn, plan.clone(), index, rows, None).await?;
        if !pending.is_empty() {
            let (name, expression) = failed.into_iter().next().unwrap_or_default();
            let columns: Vec<&str> = plan.tables[index]
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .filter(|c| mentions(&expression, c))
                .collect();
            let why = Unsatisfiable {
                column: columns.join(", "),
                constraint: format!("CHECK {name} {expression}"),
            };
            Arc::get_mut(plan).expect("a finished probe holds no reference to the plan").skip(index, why);
        }
    }
    Ok(())
}

/// Runs `rows` of table `index` through a staging table, redrawing those
/// that fail a CHECK up to ATTEMPTS times; with `target`, rows that pass
/// are inserted there in row order. Returns the rows that never passed
/// and the CHECKs they fail.
async fn through_stage(
    conn: &mut PgConnection,
    plan: Arc<Plan>,
    index: usize,
    rows: std::ops::Range<u64>,
    target: Option<&str>,
) -> Result<(Vec<u64>, Vec<(String, String)>)> {
    let table = &plan.tables[index];
    let fail = |e: sqlx::Error| stage_error(table, e.to_string());
    let columns: Vec<&ColumnPlan> = table.columns.iter().filter(|c| !matches!(c.source, Source::Default)).collect();
    let column_names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let definitions: Vec<String> = columns.iter().map(|c| format!("{} {}", quote_ident(&c.name), c.data_type)).collect();
    let checks = &table.checks;
    let passes = if checks.is_empty() {
        "true".to_string()
    } else {
        checks.iter().map(|(_, c)| format!("({c}) IS NOT FALSE")).collect::<Vec<_>>().join(" AND ")
    };
    let names = columns.iter().map(|c| quote_ident(&c.name)).collect::<Vec<_>>().join(", ");
    let keep = match target {
        Some(target) => format!(
            "WITH passed AS (DELETE FROM {STAGE} WHERE {passes} RETURNING *) \
             INSERT INTO {target} ({names}) OVERRIDING SYSTEM VALUE SELECT {names} FROM passed ORDER BY {STAGE_ROW}"
        ),
        None => format!("DELETE FROM {STAGE} WHERE {passes}"),
    };
    execute(conn, &format!("CREATE TEMP TABLE {STAGE} ({}, {STAGE_ROW} bigint)", definitions.join(", ")))
        .await
        .map_err(fail)?;
    // Rows that failed the last attempt (only those are kept in memory).
    let mut pending: Vec<u64> = Vec::new();
    let mut failed = Vec::new();
    for attempt in 0..ATTEMPTS {
        let batch: Box<dyn Iterator<Item = u64> + Send> = match attempt {
            0 => Box::new(rows.clone()),
            _ if pending.is_empty() => break,
            _ => Box::new(std::mem::take(&mut pending).into_iter()),
        };
        copy_rows(conn, plan.clone(), index, column_names.clone(), CopyTarget::Stage, batch, attempt).await?;
        execute(conn, &keep).await.map_err(fail)?;
        pending = sqlx::query_scalar::<_, i64>(&format!("SELECT {STAGE_ROW} FROM {STAGE} ORDER BY 1"))
            .fetch_all(&mut *conn)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|r| r as u64)
            .collect();
        if attempt + 1 == ATTEMPTS && !pending.is_empty() {
            failed = failing_checks(conn, checks).await.map_err(fail)?;
        }
        execute(conn, &format!("TRUNCATE {STAGE}")).await.map_err(fail)?;
    }
    execute(conn, &format!("DROP TABLE {STAGE}")).await.map_err(fail)?;
    Ok((pending, failed))
}

fn stage_error(table: &TablePlan, message: String) -> HarnessError {
    HarnessError::Database {
        tier: table.tier.clone(),
        message: format!("seeding {}: {message}", table.name),
    }
}

/// The CHECKs the rows left in the staging table fail: (name, expression).
async fn failing_checks(conn: &mut PgConnection, checks: &[(String, String)]) -> Result<Vec<(String, String)>, sqlx::Error> {
    let mut failed = Vec::new();
    for (name, expression) in checks {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {STAGE} WHERE ({expression}) IS FALSE)");
        if sqlx::query_scalar::<_, bool>(&sql).fetch_one(&mut *conn).await? {
            failed.push((name.clone(), expression.clone()));
        }
    }
    Ok(failed)
}
