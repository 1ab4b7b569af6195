//! Rows as COPY streams: the plan's values for a range of rows, encoded in
//! COPY text format on a blocking thread and sent in chunks, so memory
//! stays flat at any volume. The load and the staging table both copy
//! through here.

use std::sync::Arc;

use sqlx::PgConnection;

use super::plan::{ColumnPlan, Plan, Source, TablePlan};
use super::value::Value;
use crate::error::{HarnessError, Result};
use crate::sql::quote_ident;

/// Bytes per COPY message.
pub(super) const CHUNK: usize = 1 << 18;

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
pub(super) enum CopyTarget<'a> {
    /// A table of the schema; `freeze` when it was emptied in this transaction.
    Table { name: &'a str, freeze: bool },
    /// The oracle's staging table: each line also carries its row number.
    Stage,
}

/// The oracle's staging table, and its column of row numbers.
pub(super) const STAGE: &str = "tierguard_stage";
pub(super) const STAGE_ROW: &str = "tierguard_row";

/// Streams `rows` (row numbers) of table `index` into `into` by COPY.
pub(super) async fn copy_rows(
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
pub(super) fn encode_values(values: &[Value], out: &mut String) {
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

/// Runs statements that return nothing.
pub(super) async fn execute(conn: &mut PgConnection, sql: &str) -> std::result::Result<(), sqlx::Error> {
    sqlx::raw_sql(sql).execute(conn).await.map(drop)
}
