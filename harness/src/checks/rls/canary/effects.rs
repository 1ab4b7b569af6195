//! The application's own side effects before A reads: tenant B writes its
//! own rows the way the application would — one of its marker-holding rows
//! updated to the values it has, in every table with an UPDATE trigger; a
//! new row of its own in every table with an INSERT trigger — so history,
//! audit and outbox triggers make their copies of B's data. Inside the
//! probe's transaction, rolled back with it (the notification probe alone
//! has to commit such a write: see `notify`).

use sqlx::{PgConnection, Row};

use super::{refusable, Canaries};
use crate::checks::rls::act::Context;
use crate::checks::rls::writes::insert_row;
use crate::checks::rls::Prober;
use crate::checks::TierContext;
use crate::sql::{quote_ident, quote_literal, QualName};

/// A table with triggers of the user's own.
pub struct Triggered {
    pub name: QualName,
    /// A column the role may update (to itself), if any.
    pub column: Option<String>,
    pub on_update: bool,
    pub on_insert: bool,
    /// Whether an UPDATE trigger's function sends notifications.
    pub notifies: bool,
}

/// Tables of the user's schemas with INSERT or UPDATE triggers.
pub async fn triggered(ctx: &TierContext<'_>, role: &str) -> Result<Vec<Triggered>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT n.nspname, c.relname,
                (SELECT a.attname::text FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                    AND a.attidentity <> 'a' AND has_column_privilege($1, c.oid, a.attnum, 'UPDATE')
                  ORDER BY a.attnum LIMIT 1),
                bool_or(t.tgtype & 16 <> 0), bool_or(t.tgtype & 4 <> 0),
                bool_or(t.tgtype & 16 <> 0 AND p.prosrc ~* 'notify')
           FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_proc p ON p.oid = t.tgfoid
          WHERE NOT t.tgisinternal AND t.tgtype & 20 <> 0
          GROUP BY n.nspname, c.relname, c.oid ORDER BY 1, 2",
    )
    .bind(role)
    .fetch_all(ctx.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|row| Triggered {
            name: QualName {
                schema: row.get(0),
                name: row.get(1),
            },
            column: row.get(2),
            on_update: row.get(3),
            on_insert: row.get(4),
            notifies: row.get(5),
        })
        .collect())
}

/// The tenant whose rows are written (the last one acted for) and its number.
pub fn victim(prober: &Prober, canaries: &Canaries<'_>) -> Option<(String, usize)> {
    let victim = prober.tenants.last()?;
    Some((victim.clone(), canaries.tenants.iter().position(|t| t == victim)?))
}

/// `UPDATE` of one row of `table` holding the marker tag `tag`, setting
/// `column` to its own value: a write that changes nothing but fires the
/// table's triggers.
pub fn touch(table: &QualName, column: &str, tag: &str) -> String {
    format!(
        "UPDATE {t} SET {c} = {c} WHERE ctid = (SELECT ctid FROM {t} x WHERE x::text LIKE {} LIMIT 1)",
        quote_literal(&format!("%tgc{tag}%")),
        t = table.sql(),
        c = quote_ident(column)
    )
}

/// B's writes on `conn` (a transaction), acting as B; returns those that
/// went through. The connection is left acting as B: the caller enters its
/// own principal again.
pub async fn victim_writes(
    conn: &mut PgConnection,
    ctx: &TierContext<'_>,
    prober: &Prober,
    canaries: &Canaries<'_>,
    tables: &[Triggered],
) -> Result<Vec<String>, sqlx::Error> {
    let Some((victim, index)) = victim(prober, canaries).filter(|_| !ctx.read_only) else { return Ok(Vec::new()) };
    if tables.is_empty() || prober.actor.enter(conn, &Context::Tenant(victim)).await?.is_err() {
        return Ok(Vec::new());
    }
    let mut written = Vec::new();
    for table in tables {
        let update = table.column.as_ref().filter(|_| table.on_update).map(|c| touch(&table.name, c, &canaries.tags[index]));
        let insert = match ctx.catalog.tables.iter().find(|t| t.name == table.name) {
            Some(t) if table.on_insert => insert_row(ctx, t, index, &[]),
            _ => None,
        };
        for statement in update.into_iter().chain(insert) {
            if wrote(conn, &statement).await? {
                written.push(statement);
            }
        }
    }
    Ok(written)
}

/// Runs a write under a savepoint: true when it changed a row; a refusal
/// undoes only itself.
async fn wrote(conn: &mut PgConnection, statement: &str) -> Result<bool, sqlx::Error> {
    let done = refusable(conn, async |conn| sqlx::raw_sql(statement).execute(conn).await).await?;
    Ok(done.is_some_and(|done| done.rows_affected() > 0))
}
