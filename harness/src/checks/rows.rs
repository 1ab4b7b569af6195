//! Rows for probes: a copy of an existing row with some columns
//! replaced, valid in every other respect. Copying keeps every other value
//! real (same tenant, same parents, values the CHECKs accepted); only the
//! unique keys must differ, so one column of each key gets a fresh value.
//! Everything is computed as the superuser before the probe runs, so the
//! probe itself (perhaps as the app role) only inserts.

use serde_json::{Map, Value};
use sqlx::PgConnection;

use crate::catalog::{Column, QualName, Table};
use crate::sql::{quote_ident, quote_literal};

/// A row to insert into `table`, as JSON, and the statement that inserts it
/// (`$1` is the row).
pub struct ProbeRow {
    pub row: Value,
    pub insert: String,
}

/// The first row of `table` (or of its rows holding the values of `only`,
/// and a value in each of `set`), with `overrides` applied and each unique
/// key that no override touches made fresh. `salt` keeps fresh values apart
/// between probes and the same from run to run. None when no row matches.
pub async fn copy_row(
    conn: &mut PgConnection,
    table: &Table,
    tenant_column: Option<&str>,
    (only, set): (&Map<String, Value>, &[String]),
    overrides: &Map<String, Value>,
    salt: &str,
) -> Result<Option<ProbeRow>, sqlx::Error> {
    let mut filter: Vec<String> = only.keys().map(|column| format!("c.{column} = k.{column}", column = quote_ident(column))).collect();
    filter.extend(set.iter().filter(|c| !overrides.contains_key(*c)).map(|c| format!("c.{} IS NOT NULL", quote_ident(c))));
    let sql = format!(
        "SELECT to_jsonb(c) FROM {table} c, jsonb_populate_record(NULL::{table}, $1) k WHERE {} ORDER BY {} LIMIT 1",
        if filter.is_empty() { "true".to_string() } else { filter.join(" AND ") },
        table.key_order("c"),
        table = table.name.sql()
    );
    let source = sqlx::query_scalar(&sql).bind(Value::Object(only.clone()));
    let Some(Value::Object(mut row)) = source.fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let fresh: Vec<(&Column, String)> = table.unique_keys()
        .into_iter()
        .filter(|key| !key.iter().any(|c| overrides.contains_key(*c)))
        .filter_map(|key| freshened_column(table, &key, tenant_column))
        .filter_map(|column| {
            let original = format!("r.{}", quote_ident(&column.name));
            Some((column, fresh_value(column, &table.name, Some(&original), salt)?))
        })
        .collect();
    if !fresh.is_empty() {
        let fields: Vec<String> = fresh
            .iter()
            .map(|(column, expr)| format!("{}, to_jsonb({expr})", quote_literal(&column.name)))
            .collect();
        let sql = format!(
            "SELECT jsonb_build_object({}) FROM jsonb_populate_record(NULL::{}, $1) r",
            fields.join(", "),
            table.name.sql()
        );
        let Value::Object(values) = sqlx::query_scalar::<_, Value>(&sql).bind(Value::Object(row.clone())).fetch_one(&mut *conn).await?
        else {
            unreachable!("jsonb_build_object returns an object")
        };
        row.extend(values);
    }
    row.extend(overrides.clone());
    Ok(Some(ProbeRow {
        row: Value::Object(row),
        insert: insert_statement(table),
    }))
}

/// `INSERT` of a JSON row (`$1`): every column that takes a value, identity
/// columns included (our value, not the sequence's: a rolled-back insert
/// would still use up sequence numbers).
pub fn insert_statement(table: &Table) -> String {
    let columns: Vec<String> = table.columns.iter().filter(|c| !c.generated).map(|c| quote_ident(&c.name)).collect();
    let columns = columns.join(", ");
    format!(
        "INSERT INTO {table} ({columns}) OVERRIDING SYSTEM VALUE SELECT {columns} FROM jsonb_populate_record(NULL::{table}, $1)",
        table = table.name.sql()
    )
}

/// SQL for a value of `column` that `table` holds in no row of that column:
/// derived from `original` when given (a text keeps its shape, an email
/// stays an email), else new. None for types without an obvious successor.
pub fn fresh_value(column: &Column, table: &QualName, original: Option<&str>, salt: &str) -> Option<String> {
    let name = quote_ident(&column.name);
    let hash = format!("md5({})", quote_literal(&format!("{salt}:{}", column.name)));
    let successor = |step: &str| format!("(SELECT COALESCE(max(x.{name}) {step}) FROM {} x)", table.sql());
    let base = column.base_type.as_str();
    Some(match base {
        "uuid" => format!("{hash}::uuid"),
        "smallint" | "integer" | "bigint" | "real" | "double precision" => successor("+ 1, 1"),
        _ if base.starts_with("numeric") => successor("+ 1, 1"),
        "date" => successor("+ 1, current_date"),
        _ if base.starts_with("timestamp") => successor("+ interval '1 second', now()"),
        "text" | "citext" => text_value(&hash, original),
        _ if base.starts_with("character") => text_value(&hash, original),
        _ => return None,
    })
}

fn text_value(hash: &str, original: Option<&str>) -> String {
    match original {
        Some(original) => format!("'tg' || left({hash}, 6) || '.' || {original}"),
        None => format!("'tierguard-' || left({hash}, 12)"),
    }
}


/// The key column to change: never the tenant; a surrogate (a column with a
/// default) first, then one no FK uses, then any.
fn freshened_column<'t>(table: &'t Table, key: &[&str], tenant_column: Option<&str>) -> Option<&'t Column> {
    let in_fk = |name: &str| table.foreign_keys().any(|(c, _)| c.columns.iter().any(|k| k == name));
    let candidates: Vec<&Column> = key
        .iter()
        .filter(|c| Some(**c) != tenant_column)
        .filter_map(|c| table.column(c))
        .collect();
    let rank = |c: &&Column| (c.default.is_none() && !c.identity, in_fk(&c.name));
    candidates.into_iter().min_by_key(rank)
}

/// `jsonb_build_object` arguments that show a row of alias `c`: its primary
/// key, then `columns`.
pub fn shown_fields(table: &Table, columns: &[String]) -> String {
    let key = table.primary_key().map(|pk| pk.columns.as_slice()).unwrap_or_default();
    key.iter()
        .chain(columns)
        .map(|c| format!("{}, c.{}", quote_literal(c), quote_ident(c)))
        .collect::<Vec<_>>()
        .join(", ")
}
