//! Moving the plan into the servers: what is already there, then COPY in
//! FK order per tier (tiers in parallel), rows streamed (`stream`), tables
//! with CHECKs only PostgreSQL can judge through the staging table
//! (`oracle`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use sqlx::{Connection, PgConnection, PgPool};

use super::triggers::{self, BrokenTrigger, SwitchedOff};
use super::{fk_checks, fresh, indexes};
use super::oracle::{self, LeftOut};
use super::plan::{order, FixedRows, Plan};
use super::stream::{copied_columns, copy_rows, encode_values, execute, CopyTarget, CHUNK};
use super::value::Value;
use crate::catalog::{Catalog, QualName};
use crate::tenancy::Tenancy;
use crate::error::{HarnessError, Result};
use crate::sql::quote_ident;


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
            left_out.extend(oracle::load_through_oracle(&mut tx, plan.clone(), index).await?);
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
