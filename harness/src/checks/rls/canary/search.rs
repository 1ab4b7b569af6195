//! Looking for markers: what the application role can read, and the one
//! query shape that searches any text for other tenants' markers on the
//! server (only the foreign ones come back).

use sqlx::{PgConnection, PgPool, Row};

use super::{Canaries, Seen};
use crate::canary::own_prefixes;
use crate::sql::{quote_ident, quote_literal, QualName};

/// A relation the role can read some columns of.
pub struct Readable {
    pub name: QualName,
    /// `ROW(t.a, t.b)::text`: the columns the role may select, as one text.
    pub row_text: String,
}

impl Readable {
    /// `SELECT` of the readable text of every row.
    pub fn rows(&self) -> String {
        format!("SELECT {} AS v FROM {} t", self.row_text, self.name.sql())
    }

    /// The statement a person runs to see the rows holding `marker`.
    pub fn showing(&self, marker: &str) -> String {
        format!("{} WHERE {} LIKE {}", self.rows(), self.row_text, quote_literal(&format!("%{}%", prefix(marker))))
    }
}

/// Tables, views, materialized views, partitions and foreign tables of the
/// user's schemas with the columns `role` may select, in name order.
pub async fn readable(pool: &PgPool, role: &str) -> Result<Vec<Readable>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT n.nspname, c.relname, array_agg(a.attname::text ORDER BY a.attnum)
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
          WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
            AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
            AND has_column_privilege($1, c.oid, a.attnum, 'SELECT')
          GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(role)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let columns: Vec<String> = row.get(2);
            let columns: Vec<String> = columns.iter().map(|c| format!("t.{}", quote_ident(c))).collect();
            Readable {
                name: QualName {
                    schema: row.get(0),
                    name: row.get(1),
                },
                row_text: format!("ROW({})::text", columns.join(", ")),
            }
        })
        .collect())
}

/// Runs `select` (one text column `v`) on `conn` and returns the markers of
/// other tenants in it, and how many of A's own it holds.
pub async fn foreign_markers(conn: &mut PgConnection, canaries: &Canaries<'_>, select: &str) -> Result<Seen, sqlx::Error> {
    // The principal's own markers start with its tags (plain or as hex).
    let (plain, hex): (Vec<String>, Vec<String>) = canaries.own_tags().into_iter().map(own_prefixes).unzip();
    let length = |prefixes: &[String]| prefixes.first().map_or(0, |p| p.len() as i32);
    let sql = format!(
        "SELECT count(*) FILTER (WHERE own), count(*) FILTER (WHERE NOT own),
                (array_agg(DISTINCT m) FILTER (WHERE NOT own))[1:10]
           FROM (SELECT m, left(m, $1) = ANY($2) OR left(m, $3) = ANY($4) AS own
                   FROM (SELECT (regexp_matches(s.v, {}, 'g'))[1] AS m FROM ({select}) s) x
                  WHERE m LIKE 'tgc%' OR m LIKE '746763%' OR m IN (SELECT unnest($5::text[]))) y",
        quote_literal(&canaries.pattern())
    );
    let row = sqlx::query(&sql)
        .bind(length(&plain))
        .bind(&plain)
        .bind(length(&hex))
        .bind(&hex)
        .bind(canaries.foreign_keys())
        .fetch_one(conn)
        .await?;
    // Markers of another run's seed are nobody's.
    let markers: Vec<String> = row.get::<Option<Vec<String>>, _>(2).unwrap_or_default().into_iter().filter(|m| canaries.foreign(m).is_some()).collect();
    let count = if markers.is_empty() { 0 } else { row.get::<i64, _>(1) };
    Ok(Seen { markers, count, own: row.get(0) })
}

/// How a marker starts as it was found: tag included (plain or hex).
pub fn prefix(marker: &str) -> &str {
    let length = if marker.starts_with("746763") { 22 } else { 11 };
    marker.get(..length).unwrap_or(marker)
}
