//! Indexes during a bulk load. Every row COPY adds goes into each index
//! of its table as it arrives, one random leaf page at a time; building
//! the index once over the loaded rows sorts them instead, at a fraction
//! of the cost (pg_restore loads the same way). So indexes are dropped
//! before the load and rebuilt after it, under their own names and
//! definitions: plain indexes (a partitioned one is rebuilt level by level
//! and its partitions' indexes attached again, as pg_dump restores them),
//! and the primary key, unique and exclusion constraints of plain tables
//! when no foreign key or view stands on them. A unique key that cannot
//! be rebuilt means the seeder made duplicates, and stops the run as the
//! bug it is. Seeding only runs on disposable servers, so nothing else
//! sees the gap.

use sqlx::PgConnection;

use crate::error::{HarnessError, Result};
use crate::sql::quote_ident;

/// Memory for each rebuild's sort: the tiers' servers are ours alone.
const REBUILD_MEMORY: &str = "256MB";

/// Indexes dropped by `drop_for_load`, in the order they are rebuilt.
pub struct Dropped {
    tier: String,
    indexes: Vec<DroppedIndex>,
}

#[derive(sqlx::FromRow)]
struct DroppedIndex {
    table: String,
    /// The constraint the index backs, rebuilt by adding it again.
    constraint: Option<String>,
    /// The index a partition's index is attached to.
    parent: Option<String>,
    name: String,
    /// `CREATE INDEX ...`, or the constraint's definition.
    definition: String,
    /// Dropping a top-level index drops the partitions' indexes with it.
    top_level: bool,
}

/// Drops the indexes of `tables` (and of their partitions) that can be
/// rebuilt as they were. Left alone: indexes a foreign key references or
/// something else depends on, constraint indexes of partitioned tables
/// and partitions, invalid, replica identity and clustering indexes, and
/// indexes or constraints with a comment.
pub async fn drop_for_load(conn: &mut PgConnection, tier: &str, tables: &[String]) -> Result<Dropped> {
    let fail = |e: sqlx::Error| HarnessError::database(tier, format!("setting indexes aside for the load: {e}"));
    let indexes: Vec<DroppedIndex> = sqlx::query_as(
        "WITH loaded AS ( \
             SELECT t.name::regclass AS relid FROM unnest($1::text[]) t(name) \
             UNION SELECT tree.relid FROM unnest($1::text[]) t(name), pg_partition_tree(t.name::regclass) tree), \
         top AS ( \
             SELECT i.indexrelid, i.indrelid, k.oid AS constraint_oid FROM pg_index i \
             JOIN pg_class t ON t.oid = i.indrelid \
             LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x') \
             WHERE i.indrelid IN (SELECT relid FROM loaded) \
               AND i.indisvalid AND NOT i.indisreplident AND NOT i.indisclustered \
               AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid) \
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.oid IS DISTINCT FROM k.oid) \
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.deptype = 'n' \
                               AND (d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indexrelid \
                                    OR d.refclassid = 'pg_constraint'::regclass AND d.refobjid = k.oid)) \
               AND obj_description(i.indexrelid, 'pg_class') IS NULL \
               AND (k.oid IS NULL OR t.relkind = 'r' AND NOT t.relispartition \
                    AND obj_description(k.oid, 'pg_constraint') IS NULL)), \
         tree AS ( \
             SELECT top.indexrelid AS top, top.indexrelid AS relid, NULL::regclass AS parentrelid, 0 AS level FROM top \
             UNION SELECT top.indexrelid, tree.relid, tree.parentrelid, tree.level \
             FROM top, pg_partition_tree(top.indexrelid) tree WHERE tree.level > 0) \
         SELECT top.indrelid::regclass::text AS table, k.conname::text AS constraint, \
                tree.parentrelid::text AS parent, tree.relid::regclass::text AS name, \
                coalesce(pg_get_constraintdef(k.oid), pg_get_indexdef(tree.relid)) AS definition, tree.level = 0 AS top_level \
         FROM tree JOIN top ON top.indexrelid = tree.top LEFT JOIN pg_constraint k ON k.oid = top.constraint_oid \
         ORDER BY tree.top::regclass::text, tree.level, tree.relid::regclass::text",
    )
    .bind(tables)
    .fetch_all(&mut *conn)
    .await
    .map_err(fail)?;
    for index in indexes.iter().filter(|i| i.top_level) {
        let drop = match &index.constraint {
            Some(constraint) => format!("ALTER TABLE {} DROP CONSTRAINT {}", index.table, quote_ident(constraint)),
            None => format!("DROP INDEX {}", index.name),
        };
        sqlx::raw_sql(&drop).execute(&mut *conn).await.map_err(fail)?;
    }
    Ok(Dropped {
        tier: tier.to_string(),
        indexes,
    })
}

impl Dropped {
    /// Builds every dropped index again over the loaded rows.
    pub async fn rebuild(self, conn: &mut PgConnection) -> Result<()> {
        let fail = |e: sqlx::Error| HarnessError::Database {
            tier: self.tier.clone(),
            message: format!("rebuilding the indexes set aside for seeding: {e} (a tierguard bug: please report it with the seed)"),
        };
        sqlx::raw_sql(&format!("SET maintenance_work_mem = '{REBUILD_MEMORY}'"))
            .execute(&mut *conn)
            .await
            .map_err(fail)?;
        for index in &self.indexes {
            let build = match &index.constraint {
                Some(constraint) => format!("ALTER TABLE {} ADD CONSTRAINT {} {}", index.table, quote_ident(constraint), index.definition),
                None => index.definition.clone(),
            };
            sqlx::raw_sql(&build).execute(&mut *conn).await.map_err(fail)?;
            if let Some(parent) = &index.parent {
                sqlx::raw_sql(&format!("ALTER INDEX {parent} ATTACH PARTITION {}", index.name))
                    .execute(&mut *conn)
                    .await
                    .map_err(fail)?;
            }
        }
        sqlx::raw_sql("RESET maintenance_work_mem").execute(&mut *conn).await.map_err(fail)?;
        Ok(())
    }
}
