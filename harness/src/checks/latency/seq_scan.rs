//! `latency.seq_scan` (warning): the planner scans a table sequentially
//! for every input the query was measured with, and the table holds more
//! rows than the threshold (`seq_scan_rows`, per entry or profile). Small
//! tables are cheaper to scan than to index; large ones mean a missing or
//! unusable index, which gets worse as the table grows. Every input, not
//! the slowest iteration's: an input that matches most rows is rightly
//! scanned (no index would help), and which iteration ran slowest depends
//! on the machine, while the plans do not.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::sql::quote_ident;
use crate::scenario::workload::LatencyQuery;

pub const ID: CheckId = CheckId::new(
    "latency.seq_scan",
    Severity::Warning,
    r#"for every input a named query was measured with, the planner scans a table of more than `seq_scan_rows` rows sequentially"#,
);

pub async fn check(ctx: &TierContext<'_>, query: &LatencyQuery, plans: &[Value], plan_file: &str) -> Finding {
    let threshold = ctx.scenario.measure(query).seq_scan_rows;
    // Tables every input's plan scans sequentially.
    let mut scanned: Option<BTreeSet<(String, String)>> = None;
    for plan in plans {
        let mut found = BTreeSet::new();
        seq_scans(plan, &mut found);
        scanned = Some(match scanned {
            Some(before) => before.intersection(&found).cloned().collect(),
            None => found,
        });
    }
    let scanned = scanned.unwrap_or_default();
    let mut large = Vec::new();
    for (schema, table) in &scanned {
        let sql = format!("SELECT count(*) FROM {}.{}", quote_ident(schema), quote_ident(table));
        match sqlx::query_scalar::<_, i64>(&sql).fetch_one(ctx.pool).await {
            Ok(rows) if rows as u64 > threshold => large.push((format!("{schema}.{table}"), rows)),
            Ok(_) => {}
            Err(e) => {
                return ID.error(ctx.tier(), &query.name, format!("could not count rows of {schema}.{table}: {e}"))
            }
        }
    }
    let finding = if large.is_empty() {
        ID.pass(ctx.tier(), &query.name, format!("no table above {threshold} rows is scanned sequentially for all {} input(s)", plans.len()))
    } else {
        let tables: Vec<String> = large.iter().map(|(t, rows)| format!("{t} ({rows} rows)")).collect();
        ID.fail(
            ctx.tier(),
            &query.name,
            format!(
                "for each of its {} input(s) the planner scans {} sequentially (threshold {threshold} rows): an index the query needs is missing or unusable; the slowest iteration's plan is in {plan_file}",
                plans.len(),
                tables.join(", ")
            ),
        )
    };
    finding
        .detail(
            "tables",
            large.iter().map(|(t, rows)| serde_json::json!({"table": t, "rows": rows})).collect::<Vec<_>>(),
        )
        .detail("seq_scan_rows", threshold)
        .detail("plan", plan_file)
}

/// (schema, relation) of every `Seq Scan` node of an `EXPLAIN (VERBOSE,
/// FORMAT JSON)` plan, subplans and CTEs included.
fn seq_scans(node: &Value, found: &mut BTreeSet<(String, String)>) {
    match node {
        Value::Array(items) => items.iter().for_each(|i| seq_scans(i, found)),
        Value::Object(map) => {
            if map.get("Node Type").and_then(Value::as_str) == Some("Seq Scan") {
                if let (Some(schema), Some(table)) =
                    (map.get("Schema").and_then(Value::as_str), map.get("Relation Name").and_then(Value::as_str))
                {
                    found.insert((schema.to_string(), table.to_string()));
                }
            }
            map.values().for_each(|v| seq_scans(v, found));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_scans_are_found_at_any_depth() {
        let plan = serde_json::json!([{"Plan": {"Node Type": "Limit", "Plans": [
            {"Node Type": "Seq Scan", "Schema": "public", "Relation Name": "leads"},
            {"Node Type": "Index Scan", "Schema": "public", "Relation Name": "users"}]}}]);
        let mut found = BTreeSet::new();
        seq_scans(&plan, &mut found);
        assert_eq!(found.into_iter().collect::<Vec<_>>(), vec![("public".to_string(), "leads".to_string())]);
    }
}
