//! Row count and content checksum of every table, so two runs with the same
//! seed can be compared table by table (design.md: same seed, same checksum).

use sqlx::PgPool;

use super::TableStat;
use crate::catalog::Catalog;

/// Partitions are counted in their parent, not listed again.
pub async fn tables(catalog: &Catalog, pool: &PgPool) -> Result<Vec<TableStat>, sqlx::Error> {
    let mut stats = Vec::new();
    for table in catalog.tables.iter().filter(|t| !t.is_partition()) {
        // A sum of row hashes is independent of physical order without a
        // sort: sorting every row's digest of a large staging table took
        // most of a certification run's time (and could outlast the
        // statement timeout).
        let sql = format!(
            "SELECT count(*), md5(COALESCE({}::text, '')) FROM {} t",
            crate::sql::row_hash_sum("t"),
            table.name.sql()
        );
        let (rows, checksum): (i64, String) = sqlx::query_as(&sql).fetch_one(pool).await?;
        stats.push(TableStat {
            name: table.name.to_string(),
            rows,
            checksum,
        });
    }
    Ok(stats)
}
