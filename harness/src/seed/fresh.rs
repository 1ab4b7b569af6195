//! Loading into tables emptied in the loading transaction. A table
//! truncated in the same transaction as the COPY into it gets new files:
//! with `wal_level = minimal` (how tierguard starts its servers) their
//! rows are not written to the WAL a second time, and `COPY ... (FREEZE)`
//! writes them already frozen and all-visible, so the VACUUM after the
//! load has nothing to visit. `pgbench -i` loads the same way.
//!
//! Only tables that are empty are truncated, and a table only together
//! with every table whose foreign keys point at it (TRUNCATE refuses
//! otherwise); tables with TRUNCATE triggers are left alone, since those
//! triggers would fire.

use std::collections::BTreeSet;

use sqlx::PgConnection;

use crate::error::{HarnessError, Result};

#[derive(sqlx::FromRow)]
struct Candidate {
    name: String,
    /// The name as `regclass` prints it, which is how `referenced_by` names tables.
    regclass: String,
    partitioned: bool,
    referenced_by: Vec<String>,
    truncate_trigger: bool,
    empty: bool,
}

/// Truncates what it can of `tables` (names as `QualName::sql` gives
/// them) and returns those COPY may load with FREEZE: truncated and not
/// partitioned (PostgreSQL refuses FREEZE on a partitioned table; its
/// partitions still skip the WAL).
pub async fn truncate(conn: &mut PgConnection, tier: &str, tables: &[String]) -> Result<BTreeSet<String>> {
    let fail = |e: sqlx::Error| HarnessError::database(tier, format!("emptying the tables to seed: {e}"));
    let mut candidates: Vec<Candidate> = Vec::new();
    for table in tables {
        let candidate = sqlx::query_as(&format!(
            "SELECT $1 AS name, c.oid::regclass::text AS regclass, c.relkind = 'p' AS partitioned, \
                    ARRAY(SELECT DISTINCT coalesce(pg_partition_root(k.conrelid), k.conrelid)::regclass::text \
                          FROM pg_constraint k WHERE k.contype = 'f' \
                            AND k.confrelid IN (SELECT c.oid UNION SELECT relid FROM pg_partition_tree(c.oid))) AS referenced_by, \
                    EXISTS (SELECT 1 FROM pg_trigger g \
                            WHERE g.tgrelid IN (SELECT c.oid UNION SELECT relid FROM pg_partition_tree(c.oid)) \
                              AND NOT g.tgisinternal AND g.tgtype & 32 <> 0) AS truncate_trigger, \
                    NOT EXISTS (SELECT 1 FROM {table}) AS empty \
             FROM pg_class c WHERE c.oid = $1::regclass"
        ))
        .bind(table)
        .fetch_one(&mut *conn)
        .await
        .map_err(fail)?;
        candidates.push(candidate);
    }
    let mut truncated: BTreeSet<&str> = candidates
        .iter()
        .filter(|c| c.empty && !c.truncate_trigger)
        .map(|c| c.regclass.as_str())
        .collect();
    // A table stays only while everything referencing it stays.
    loop {
        let before = truncated.len();
        truncated = candidates
            .iter()
            .filter(|c| truncated.contains(c.regclass.as_str()) && c.referenced_by.iter().all(|r| truncated.contains(r.as_str())))
            .map(|c| c.regclass.as_str())
            .collect();
        if truncated.len() == before {
            break;
        }
    }
    if truncated.is_empty() {
        return Ok(BTreeSet::new());
    }
    let list: Vec<&str> = truncated.iter().copied().collect();
    sqlx::raw_sql(&format!("TRUNCATE {}", list.join(", ")))
        .execute(&mut *conn)
        .await
        .map_err(fail)?;
    Ok(candidates
        .iter()
        .filter(|c| !c.partitioned && truncated.contains(c.regclass.as_str()))
        .map(|c| c.name.clone())
        .collect())
}
