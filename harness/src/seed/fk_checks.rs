//! Foreign-key checks during a bulk load. Checked row by row, they cost
//! about half of the load (each row runs a planned query, re-planned per
//! row when the parent is partitioned). The seeder draws every reference
//! from real parent keys, so while it loads, the referencing side's check
//! triggers are off; afterwards one anti-join per foreign key proves what
//! they would have, and a seeded row without its parent stops the run.
//! Only triggers that were enabled are touched, and all come back on.
//! Seeding only runs on disposable servers, so nothing else sees the gap.

use sqlx::PgConnection;

use crate::error::{HarnessError, Result};
use crate::sql::quote_ident;

/// Check triggers switched off by `pause`: (table, trigger).
pub struct Paused {
    tier: String,
    triggers: Vec<(String, String)>,
}

/// Switches off the enabled insert/update check triggers of every foreign
/// key in the database.
pub async fn pause(conn: &mut PgConnection, tier: &str) -> Result<Paused> {
    let fail = |e: sqlx::Error| HarnessError::database(tier, e);
    let triggers: Vec<(String, String)> = sqlx::query_as(
        "SELECT t.tgrelid::regclass::text, t.tgname::text FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid \
         WHERE t.tgisinternal AND t.tgenabled = 'O' AND p.proname IN ('RI_FKey_check_ins', 'RI_FKey_check_upd') \
         ORDER BY 1, 2",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(fail)?;
    for (table, trigger) in &triggers {
        sqlx::raw_sql(&format!("ALTER TABLE {table} DISABLE TRIGGER {}", quote_ident(trigger)))
            .execute(&mut *conn)
            .await
            .map_err(fail)?;
    }
    Ok(Paused {
        tier: tier.to_string(),
        triggers,
    })
}

impl Paused {
    /// Switches the triggers back on, then looks for rows of the paused
    /// foreign keys whose parent is missing.
    pub async fn resume(self, conn: &mut PgConnection) -> Result<()> {
        let fail = |e: sqlx::Error| HarnessError::database(&self.tier, e);
        for (table, trigger) in &self.triggers {
            sqlx::raw_sql(&format!("ALTER TABLE {table} ENABLE TRIGGER {}", quote_ident(trigger)))
                .execute(&mut *conn)
                .await
                .map_err(fail)?;
        }
        let tables: Vec<&str> = self.triggers.iter().map(|(table, _)| table.as_str()).collect();
        // Top-level constraints only: on a partitioned table, one query
        // covers every partition.
        let constraints: Vec<ForeignKey> = sqlx::query_as(
            "SELECT c.conname::text AS name, c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent, \
                    ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i) \
                          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i) AS columns, \
                    ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i) \
                          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i) AS parent_columns, \
                    c.confmatchtype = 'f' AS match_full \
             FROM pg_constraint c \
             WHERE c.contype = 'f' AND c.conparentid = 0 AND c.convalidated AND c.conrelid::regclass::text = ANY($1) \
             ORDER BY 2, 1",
        )
        .bind(&tables)
        .fetch_all(&mut *conn)
        .await
        .map_err(fail)?;
        for fk in constraints {
            let missing: i64 = sqlx::query_scalar(&fk.missing_parent_sql())
                .fetch_one(&mut *conn)
                .await
                .map_err(fail)?;
            if missing > 0 {
                return Err(HarnessError::Database {
                    tier: self.tier.clone(),
                    message: format!(
                        "seeding {}: {missing} row(s) break foreign key {} (a tierguard bug: please report it with the seed)",
                        fk.child, fk.name
                    ),
                });
            }
        }
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct ForeignKey {
    name: String,
    child: String,
    parent: String,
    columns: Vec<String>,
    parent_columns: Vec<String>,
    match_full: bool,
}

impl ForeignKey {
    /// Counts the rows the foreign key would refuse: all columns set and no
    /// parent row, or (MATCH FULL) some columns set and others not.
    fn missing_parent_sql(&self) -> String {
        let child_column = |c: &String| format!("c.{}", quote_ident(c));
        let set: Vec<String> = self.columns.iter().map(|c| format!("{} IS NOT NULL", child_column(c))).collect();
        let join: Vec<String> = self
            .columns
            .iter()
            .zip(&self.parent_columns)
            .map(|(c, p)| format!("p.{} = {}", quote_ident(p), child_column(c)))
            .collect();
        let mut broken = format!(
            "({} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {}))",
            set.join(" AND "),
            self.parent,
            join.join(" AND ")
        );
        if self.match_full && self.columns.len() > 1 {
            let nulls = self.columns.iter().map(child_column).collect::<Vec<_>>().join(", ");
            broken.push_str(&format!(" OR num_nulls({nulls}) BETWEEN 1 AND {}", self.columns.len() - 1));
        }
        format!("SELECT count(*) FROM {} c WHERE {broken}", self.child)
    }
}
