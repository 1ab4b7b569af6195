//! Moving the plan into the servers: what is already there, then COPY in
//! FK order per tier (tiers in parallel). Rows are generated on a blocking
//! thread and streamed in chunks, so memory stays flat at any volume.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use sqlx::{Connection, PgConnection, PgPool};

use super::triggers::{self, BrokenTrigger, SwitchedOff};
use super::{fk_checks, fresh, indexes};
use super::plan::{order, ColumnPlan, FixedRows, Link, Plan, Source, TablePlan, Unsatisfiable};
use super::value::Value;
use crate::catalog::{mentions, Catalog, QualName};
use crate::tenancy::Tenancy;
use crate::error::{HarnessError, Result};
use crate::sql::quote_ident;

/// Bytes per COPY message.
const CHUNK: usize = 1 << 18;
/// Rows PostgreSQL rejected for a CHECK we could not read are redrawn this often.
const ATTEMPTS: u32 = 25;

/// Tables that already hold rows (schema inserts, `--data`), with their count.
pub async fn existing_rows(catalog: &Catalog, pool: &PgPool) -> Result<BTreeMap<QualName, u64>> {
    let mut rows = BTreeMap::new();
    for table in super::plan::seedable(catalog) {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", table.name.sql()))
            .fetch_one(pool)
            .await
            .map_err(|e| HarnessError::database(&catalog.tier, e))?;
        if count > 0 {
            rows.insert(table.name.clone(), count as u64);
        }
    }
    Ok(rows)
}

/// Tenant tables among `existing` whose rows belong to fewer than two
/// tenants (example rows a migration inserts, one demo tenant): seeding
/// tops them up, since no cross-tenant probe can run on one tenant's rows.
/// Only for rows the schema inserted: its generated keys may then meet
/// an example row's (a sequence moves past those; a literal key does not).
pub async fn one_tenant_tables(
    catalog: &Catalog,
    pool: &PgPool,
    tenancy: &Tenancy,
    existing: &BTreeMap<QualName, u64>,
) -> Result<BTreeSet<QualName>> {
    let mut tables = BTreeSet::new();
    for name in existing.keys() {
        let Some(scope) = tenancy.scope(&catalog.tier, name) else { continue };
        let sql = format!("SELECT count(DISTINCT ({})) FROM {} t", scope.tenant_sql("t"), name.sql());
        let tenants: i64 = sqlx::query_scalar(&sql).fetch_one(pool).await.map_err(|e| HarnessError::database(&catalog.tier, e))?;
        if tenants < 2 {
            tables.insert(name.clone());
        }
    }
    Ok(tables)
}

/// Next value and increment of every identity/serial sequence.
pub async fn sequences(catalog: &Catalog, pool: &PgPool) -> Result<BTreeMap<String, (i64, i64)>> {
    let mut out = BTreeMap::new();
    for sequence in catalog.tables.iter().flat_map(|t| &t.columns).filter_map(|c| c.sequence.as_ref()) {
        let (next, step): (i64, i64) = sqlx::query_as(&format!(
            "SELECT CASE WHEN s.is_called THEN s.last_value + p.seqincrement ELSE s.last_value END, p.seqincrement \
             FROM {sequence} s, pg_sequence p WHERE p.seqrelid = $1::regclass"
        ))
        .bind(sequence)
        .fetch_one(pool)
        .await
        .map_err(|e| HarnessError::database(&catalog.tier, e))?;
        out.insert(sequence.clone(), (next, step));
    }
    Ok(out)
}

/// The tenant and referenced columns of a table's existing rows, in a
/// stable order.
pub async fn read_fixed(
    tier: &str,
    pool: &PgPool,
    table: &QualName,
    tenant_column: Option<&str>,
    columns: &BTreeSet<String>,
) -> Result<FixedRows> {
    let mut select: Vec<String> = vec![tenant_column.map_or("NULL".into(), |c| format!("{}::text", quote_ident(c)))];
    select.extend(columns.iter().map(|c| format!("{}::text", quote_ident(c))));
    let sql = format!("SELECT ARRAY[{}] FROM {} t ORDER BY t::text", select.join(", "), table.sql());
    let rows: Vec<Vec<Option<String>>> = sqlx::query_scalar(&sql)
        .fetch_all(pool)
        .await
        .map_err(|e| HarnessError::database(tier, e))?;
    let as_value = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Raw);
    let mut values: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (i, column) in columns.iter().enumerate() {
        values.insert(column.clone(), rows.iter().map(|r| as_value(&r[i + 1])).collect());
    }
    Ok(FixedRows {
        tenant_values: rows.iter().map(|r| as_value(&r[0])).collect(),
        tenants: Vec::new(),
        values,
    })
}

/// Seeds one tier in one transaction (see `load_once`). A table whose
/// COPY fails while insert triggers fire on it is tried again with them
/// off: if it then loads, those triggers were what broke it, and they are
/// named in the answer.
pub async fn load_tier(plan: Arc<Plan>, tier: &str, pool: &PgPool) -> Result<(Vec<LeftOut>, Vec<BrokenTrigger>)> {
    let mut switched: Vec<SwitchedOff> = Vec::new();
    loop {
        let mut at = None;
        let error = match load_once(plan.clone(), tier, pool, &switched, &mut at).await {
            Ok(left_out) => {
                let broken = switched.into_iter().map(|s| BrokenTrigger::new(tier, plan.tables[s.index].name.clone(), s)).collect();
                return Ok((left_out, broken));
            }
            Err(error) => error,
        };
        let Some(index) = at.filter(|i| !switched.iter().any(|s| s.index == *i)) else {
            return Err(error);
        };
        let mut conn = pool.acquire().await.map_err(|e| HarnessError::database(tier, e))?;
        let triggers = triggers::firing_on_insert(&mut conn, &plan.tables[index].name.sql()).await.map_err(|e| HarnessError::database(tier, e))?;
        if triggers.is_empty() {
            return Err(error);
        }
        let error = match &error {
            HarnessError::Database { message, .. } => message.split_once(": ").map_or(message.clone(), |(_, m)| m.to_string()),
            other => other.to_string(),
        };
        switched.push(SwitchedOff { index, triggers, error });
    }
}

/// Seeds one tier in one transaction: FK checks paused and indexes set
/// aside, the empty tables truncated (so their rows skip the
/// WAL and load frozen), tables parents-first, the links cycles deferred,
/// then indexes rebuilt and every paused foreign key proven. Tables in
/// `triggers_off` load with those triggers off. `at` is the table being
/// copied when an error stops it.
async fn load_once(plan: Arc<Plan>, tier: &str, pool: &PgPool, triggers_off: &[SwitchedOff], at: &mut Option<usize>) -> Result<Vec<LeftOut>> {
    let order = order(&plan, tier).map_err(|_| HarnessError::input(format!("tier {tier}: FK cycle")))?;
    let loaded: Vec<usize> = order.iter().copied().filter(|&i| plan.tables[i].fixed.is_none() && plan.tables[i].rows > 0).collect();
    let total: u64 = loaded.iter().map(|&i| plan.tables[i].rows).sum();
    let bar = ProgressBar::new(total).with_message(tier.to_string());
    bar.set_style(
        ProgressStyle::with_template("{msg:>8} [{bar:30}] {pos}/{len} rows {per_sec}").expect("template").progress_chars("=> "),
    );
    let fail = |e: sqlx::Error| HarnessError::database(tier, e);
    let mut conn = pool.acquire().await.map_err(fail)?;
    let mut tx = conn.begin().await.map_err(fail)?;
    let paused = fk_checks::pause(&mut tx, tier).await?;
    let names: Vec<String> = loaded.iter().map(|&i| plan.tables[i].name.sql()).collect();
    let set_aside = indexes::drop_for_load(&mut tx, tier, &names).await?;
    let frozen = fresh::truncate(&mut tx, tier, &names).await?;
    let mut left_out = Vec::new();
    for (&index, name) in loaded.iter().zip(&names) {
        let table = &plan.tables[index];
        *at = Some(index);
        let off = triggers_off.iter().find(|s| s.index == index).map(|s| s.triggers.as_slice()).unwrap_or_default();
        triggers::pause(&mut tx, name, off).await.map_err(fail)?;
        if table.unknown_checks.is_empty() {
            let columns = copied_columns(table).iter().map(|c| c.name.clone()).collect();
            let into = CopyTarget::Table { name, freeze: frozen.contains(name) };
            copy_rows(&mut tx, plan.clone(), index, columns, into, 0..table.rows, 0).await?;
        } else {
            left_out.extend(load_through_oracle(&mut tx, plan.clone(), index).await?);
        }
        triggers::resume(&mut tx, name, off).await.map_err(fail)?;
        bar.inc(table.rows);
    }
    *at = None;
    for &index in &order {
        fill_deferred(&mut tx, &plan, index).await?;
    }
    set_aside.rebuild(&mut tx).await?;
    paused.resume(&mut tx).await?;
    tx.commit().await.map_err(fail)?;
    bar.finish_and_clear();
    Ok(left_out)
}

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

/// The columns a COPY supplies: the server fills identity, serial and
/// generated columns itself.
pub fn copied_columns(table: &TablePlan) -> Vec<&ColumnPlan> {
    table
        .columns
        .iter()
        .filter(|c| !matches!(c.source, Source::ServerAssigned { .. } | Source::Default))
        .collect()
}

/// Where `copy_rows` sends rows.
enum CopyTarget<'a> {
    /// A table of the schema; `freeze` when it was emptied in this transaction.
    Table { name: &'a str, freeze: bool },
    /// The oracle's staging table: each line also carries its row number.
    Stage,
}

/// The oracle's staging table, and its column of row numbers.
const STAGE: &str = "tierguard_stage";
const STAGE_ROW: &str = "tierguard_row";

/// Streams `rows` (row numbers) of table `index` into `into` by COPY.
async fn copy_rows(
    conn: &mut PgConnection,
    plan: Arc<Plan>,
    index: usize,
    columns: Vec<String>,
    into: CopyTarget<'_>,
    rows: impl Iterator<Item = u64> + Send + 'static,
    attempt: u32,
) -> Result<()> {
    let table = &plan.tables[index];
    let mut names: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let statement = match into {
        CopyTarget::Table { name, freeze } => {
            format!("COPY {name} ({}) FROM STDIN{}", names.join(", "), if freeze { " (FREEZE)" } else { "" })
        }
        CopyTarget::Stage => {
            names.push(STAGE_ROW.to_string());
            format!("COPY {STAGE} ({}) FROM STDIN", names.join(", "))
        }
    };
    let fail = |e: sqlx::Error| HarnessError::Database {
        tier: table.tier.clone(),
        message: format!("seeding {}: {}", table.name, e.as_database_error().map_or_else(|| e.to_string(), |d| d.message().to_string())),
    };
    let with_row = matches!(into, CopyTarget::Stage);
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<String>(4);
    let producer_plan = plan.clone();
    let producer = tokio::task::spawn_blocking(move || {
        let table = &producer_plan.tables[index];
        let columns: Vec<&ColumnPlan> = columns.iter().filter_map(|n| table.columns.iter().find(|c| &c.name == n)).collect();
        let mut chunk = String::with_capacity(CHUNK + 4096);
        for j in rows {
            encode_row(&producer_plan, table, &columns, j, attempt, &mut chunk);
            if with_row {
                chunk.pop();
                chunk.push('\t');
                chunk.push_str(&j.to_string());
                chunk.push('\n');
            }
            if chunk.len() >= CHUNK && sender.blocking_send(std::mem::take(&mut chunk)).is_err() {
                return; // the COPY side failed and said why
            }
        }
        if !chunk.is_empty() {
            let _ = sender.blocking_send(chunk);
        }
    });
    let mut copy = conn.copy_in_raw(&statement).await.map_err(fail)?;
    while let Some(chunk) = receiver.recv().await {
        if let Err(e) = copy.send(chunk.into_bytes()).await {
            return Err(fail(e));
        }
    }
    producer.await.map_err(|e| HarnessError::input(format!("row generator failed: {e}")))?;
    copy.finish().await.map_err(fail)?;
    Ok(())
}

/// The values of row `j` for `columns`, relations between columns applied.
pub fn row_values(plan: &Plan, table: &TablePlan, columns: &[&ColumnPlan], j: u64, attempt: u32) -> Vec<Value> {
    let mut values: Vec<Value> = columns.iter().map(|c| plan.column_value(table, j, c, attempt)).collect();
    for relation in &table.relations {
        let position = |name: &str| columns.iter().position(|c| c.name == name);
        if let (Some(g), Some(l)) = (position(&relation.greater), position(&relation.lesser)) {
            if let Some(raised) = values[g].at_least(&values[l], relation.strict) {
                values[g] = raised;
            }
        }
    }
    values
}

/// One row in COPY text format.
fn encode_row(plan: &Plan, table: &TablePlan, columns: &[&ColumnPlan], j: u64, attempt: u32, out: &mut String) {
    encode_values(&row_values(plan, table, columns, j, attempt), out);
}

/// Values as one COPY text line.
fn encode_values(values: &[Value], out: &mut String) {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        if !value.write_text(out, true) {
            out.push_str("\\N");
        }
    }
    out.push('\n');
}

/// For tables with CHECKs tierguard cannot read: rows go to a staging
/// table first, PostgreSQL keeps those that pass every CHECK, and the rest
/// are redrawn. A row that fails every attempt is left out, and named,
/// when other rows passed; when it is not one of the gaps found before
/// loading (see `find_gaps`), children may point at it and the run stops,
/// naming the constraint. Identity and serial values are supplied as
/// predicted (rows pass in any order), and the sequences moved past them.
async fn load_through_oracle(conn: &mut PgConnection, plan: Arc<Plan>, index: usize) -> Result<Option<LeftOut>> {
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

/// Fills links that were loaded NULL to break an FK cycle: the values go
/// to a temporary table keyed by primary key, then one UPDATE joins them in.
async fn fill_deferred(conn: &mut PgConnection, plan: &Plan, index: usize) -> Result<()> {
    let table = &plan.tables[index];
    let deferred: Vec<usize> = table.links.iter().enumerate().filter(|(_, l)| l.deferred).map(|(i, _)| i).collect();
    if deferred.is_empty() || table.fixed.is_some() {
        return Ok(());
    }
    let fail = |e: sqlx::Error| HarnessError::Database {
        tier: table.tier.clone(),
        message: format!("filling the deferred references of {}: {e}", table.name),
    };
    let key = Some(table.primary_key.clone()).filter(|k| !k.is_empty()).ok_or_else(|| HarnessError::Database {
        tier: table.tier.clone(),
        message: format!("{} is in an FK cycle but has no primary key to fill it by", table.name),
    })?;
    let type_of = |name: &str| table.columns.iter().find(|c| c.name == name).map(|c| c.data_type.clone()).unwrap_or("text".into());
    // The link's own columns; a tenant or key column it shares is already right.
    let linked: Vec<(String, usize, usize)> = deferred
        .iter()
        .flat_map(|&l| table.links[l].columns.iter().enumerate().map(move |(p, c)| (c.clone(), l, p)))
        .filter(|(c, _, _)| !key.contains(c) && table.tenant_column.as_ref() != Some(c))
        .collect();
    let mut all: Vec<String> = key.clone();
    all.extend(linked.iter().map(|(c, _, _)| c.clone()));
    let definitions: Vec<String> = all.iter().map(|c| format!("{} {}", quote_ident(c), type_of(c))).collect();
    execute(conn, &format!("CREATE TEMP TABLE tierguard_fill ({})", definitions.join(", ")))
        .await
        .map_err(fail)?;
    // Streamed in chunks like the load: memory stays flat at any volume.
    let mut copy = conn.copy_in_raw("COPY tierguard_fill FROM STDIN").await.map_err(fail)?;
    let mut text = String::with_capacity(CHUNK + 4096);
    for j in 0..table.rows {
        let mut values: Vec<Value> = key.iter().map(|k| plan.value(table, j, k, 0)).collect();
        for (_, link, position) in &linked {
            let target = &plan.tables[table.links[*link].target];
            values.push(match plan.pick(table, j, *link) {
                Some(row) => plan.value(target, row, &table.links[*link].target_columns[*position], 0),
                None => Value::Null,
            });
        }
        encode_values(&values, &mut text);
        if text.len() >= CHUNK {
            copy.send(std::mem::take(&mut text).into_bytes()).await.map_err(fail)?;
        }
    }
    copy.send(text.into_bytes()).await.map_err(fail)?;
    copy.finish().await.map_err(fail)?;
    let set: Vec<String> = linked.iter().map(|(c, _, _)| format!("{0} = f.{0}", quote_ident(c))).collect();
    let on: Vec<String> = key.iter().map(|k| format!("t.{0} = f.{0}", quote_ident(k))).collect();
    execute(
        conn,
        &format!(
            "UPDATE {} t SET {} FROM tierguard_fill f WHERE {}; DROP TABLE tierguard_fill",
            table.name.sql(),
            set.join(", "),
            on.join(" AND ")
        ),
    )
    .await
    .map_err(fail)?;
    Ok(())
}

async fn execute(conn: &mut PgConnection, sql: &str) -> std::result::Result<(), sqlx::Error> {
    sqlx::raw_sql(sql).execute(conn).await.map(drop)
}
