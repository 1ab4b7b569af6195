//! Judging a write by what it did to other tenants' rows, not by whether
//! the statement was accepted (an unqualified `UPDATE` under a tight SELECT
//! policy reports its rows like any other).
//!
//! A [`Tally`] is each tenant's rows of a table as a count and how many of
//! them the open transaction wrote (a no-op `SET c = c` still writes a
//! row); for copies of tenants' rows outside the tenancy, where only a
//! change of content counts, a content hash instead. The ground truth ([`Ledger`]) is the tally of the
//! committed rows, read once: every probe is rolled back, so it holds for
//! the whole run. A writing probe runs on a superuser connection: it takes
//! the application's identity for its statement (`SET LOCAL SESSION
//! AUTHORIZATION`, so `session_user` and `current_user` are the app role, as
//! when it logs in), gives it back, tallies the rows of the tables the
//! statement changed (by the transaction's own statistics) inside the same
//! transaction, and rolls everything back.

use std::collections::{BTreeMap, HashMap};

use sqlx::{PgConnection, PgPool, Row};

use super::act::{Case, Outcome, Refusal, PROBES_RUN};
use super::probe_log;
use crate::catalog::{QualName, Table};
use crate::tenancy::TenantScope;
use crate::sql::quote_ident;

/// The rows' content as one number (rows aliased `t`; 0 for none).
fn content_hash() -> String {
    format!("COALESCE({}, 0)", crate::sql::row_hash_sum("t"))
}

/// Each tenant's rows of one table: tenant → count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally(BTreeMap<String, Count>);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Count {
    pub rows: i64,
    /// Sum of the rows' text hashes, which changes when any value does
    /// (copies outside the tenancy; "0" for tenant tables, where `written`
    /// says it).
    pub hash: String,
    /// Rows the open transaction wrote (inserted or updated).
    pub written: i64,
}

impl Count {
    pub fn differs(&self, truth: &Count) -> bool {
        self.rows != truth.rows || self.hash != truth.hash || self.written > 0
    }
}

impl Tally {
    pub fn of(&self, tenant: &str) -> Count {
        self.0.get(tenant).cloned().unwrap_or_default()
    }

    /// Rows of every tenant, and of none.
    pub fn rows(&self) -> usize {
        self.0.values().map(|c| c.rows as usize).sum()
    }

    /// Tenants with at least one row, in order.
    pub fn tenants(&self) -> impl Iterator<Item = &String> {
        self.0.iter().filter(|(t, c)| !t.is_empty() && c.rows > 0).map(|(t, _)| t)
    }
}

/// What one table needs to be tallied and its rows compared.
#[derive(Debug, Clone)]
pub struct Observed {
    pub table: QualName,
    from: String,
    tenant: String,
    /// `SELECT tenant, rows, hash, written ...` grouped by tenant.
    tally_sql: String,
    /// One tenant's rows (`$1`) as (key, content hash).
    rows_sql: String,
}

impl Observed {
    pub fn new(table: &Table, scope: &TenantScope) -> Observed {
        let written = written_here("t.xmin");
        // No content hash: a row whose content changed is a row the
        // transaction wrote (a new version, its xmin), and rows deleted or
        // added change the count. Hashing every row's text was most of a
        // tally's cost on a large table.
        Observed::with(table, scope.tenant_sql("t"), &written, "'0'")
    }

    /// A table outside the tenancy whose rows hold copies of tenants' data,
    /// each row attributed by `tenant` (an expression over `t`, NULL for a
    /// row of no one tenant: see `canary::copies`). Only a change of
    /// content counts: a trigger rewriting a copy as it was harms no one.
    pub fn by_content(table: &Table, tenant: String) -> Observed {
        Observed::with(table, tenant, "false", &content_hash())
    }

    fn with(table: &Table, tenant: String, written: &str, hash: &str) -> Observed {
        let key = super::act::key_text(table).unwrap_or_else(|| "t.ctid::text".into());
        Observed {
            table: table.name.clone(),
            from: table.name.sql(),
            tenant: tenant.clone(),
            tally_sql: format!(
                "SELECT ({tenant})::text AS tenant, count(*) AS rows, {hash}::text AS hash, \
                 count(*) FILTER (WHERE {written}) AS written FROM {} t GROUP BY 1",
                table.name.sql()
            ),
            rows_sql: format!(
                "SELECT {key}, md5(t::text) FROM {} t WHERE ({tenant})::text = $1 ORDER BY 1",
                table.name.sql()
            ),
        }
    }

    /// A query a person can run before and after the statement to see
    /// `tenant`'s rows change (the repro scripts show it).
    pub fn sql_for(&self, tenant: &str) -> String {
        format!(
            "SELECT count(*) AS rows_of_tenant, {} AS content_hash FROM {} t WHERE ({})::text = {}",
            content_hash(),
            self.from,
            self.tenant,
            crate::sql::quote_literal(tenant)
        )
    }

    async fn rows_of(&self, conn: &mut PgConnection, tenant: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
        sqlx::query_as(&self.rows_sql).bind(tenant).fetch_all(conn).await
    }
}

/// Tallies `observed` in one round trip.
async fn tally_all(conn: &mut PgConnection, observed: &[&Observed]) -> Result<Vec<(QualName, Tally)>, sqlx::Error> {
    let mut tallies: Vec<(QualName, Tally)> = observed.iter().map(|o| (o.table.clone(), Tally::default())).collect();
    if observed.is_empty() {
        return Ok(tallies);
    }
    let rows = sqlx::raw_sql(&tally_sql(observed)).fetch_all(conn).await?;
    for row in rows {
        let n: i32 = row.try_get("n")?;
        let tenant: Option<String> = row.try_get("tenant")?;
        let count = Count { rows: row.try_get("rows")?, hash: row.try_get("hash")?, written: row.try_get("written")? };
        tallies[n as usize].1 .0.insert(tenant.unwrap_or_default(), count);
    }
    Ok(tallies)
}

/// Whether the row version whose `xmin` is given was written by the open
/// transaction or one of its subtransactions (a trigger's EXCEPTION block):
/// an xmin from the transaction's own xid on (32 bits, as xmin shows it; a
/// subtransaction's xid comes after its parent's; a row another
/// transaction committed since would be a change all the same). NULL
/// before the transaction wrote anything.
fn written_here(xmin: &str) -> String {
    format!("{xmin}::text::bigint >= pg_current_xact_id_if_assigned()::text::bigint % 4294967296")
}

/// The positions in `observed` of the tables the open transaction changed:
/// rows it inserted, updated or deleted (the transaction's own statistics,
/// which count those of triggers and cascades too, per partition), or a
/// catalog row it wrote (TRUNCATE and table rewrites give a table new
/// storage, which those counters miss; a constraint set aside shows up too,
/// and is merely tallied for nothing). Tallying every table after every
/// write was most of a write probe's time on large tables.
fn touched_sql(observed: &[&Observed]) -> String {
    let names: Vec<String> = observed.iter().map(|o| crate::sql::quote_literal(&o.from)).collect();
    format!(
        "SELECT (o.i - 1)::int FROM unnest(ARRAY[{}]::text[]) WITH ORDINALITY AS o(name, i) WHERE EXISTS (\
           SELECT FROM pg_class c LEFT JOIN pg_stat_xact_all_tables s ON s.relid = c.oid \
           WHERE (c.oid = o.name::regclass OR c.oid IN (SELECT relid FROM pg_partition_tree(o.name::regclass))) \
             AND (coalesce(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0) > 0 \
                  OR {}))",
        names.join(", "),
        written_here("c.xmin")
    )
}

/// One query tallying every table of `observed`.
fn tally_sql(observed: &[&Observed]) -> String {
    let union: Vec<String> = observed
        .iter()
        .enumerate()
        .map(|(i, o)| format!("SELECT {i} AS n, tenant, rows, hash, written FROM ({}) t{i}", o.tally_sql))
        .collect();
    union.join(" UNION ALL ")
}

/// The committed rows of every table a probe may observe.
#[derive(Debug, Default)]
pub struct Ledger(HashMap<QualName, Tally>);

impl Ledger {
    pub async fn read(pool: &PgPool, tables: &[Observed]) -> Result<Ledger, sqlx::Error> {
        let tables: Vec<&Observed> = tables.iter().collect();
        let tallies = super::act::settled(async || {
            let mut conn = pool.acquire().await?;
            tally_all(&mut conn, &tables).await
        }, |_| false)
        .await?;
        Ok(Ledger(tallies.into_iter().collect()))
    }

    pub fn tally(&self, table: &QualName) -> Tally {
        self.0.get(table).cloned().unwrap_or_default()
    }
}

/// What a writing probe did.
#[derive(Debug)]
pub struct Effect {
    pub outcome: Outcome,
    /// The rows after the statement of each observed table it changed
    /// (empty when refused): the others hold their committed rows.
    pub after: Vec<(QualName, Tally)>,
}

/// A tenant whose rows a statement changed.
#[derive(Debug, Clone)]
pub struct Change {
    pub table: QualName,
    pub tenant: String,
    pub before: Count,
    pub after: Count,
}

impl Change {
    pub fn describe(&self) -> String {
        let (before, after) = (self.before.rows, self.after.rows);
        let what = if after > before {
            format!("{} row(s) appeared", after - before)
        } else if after < before {
            format!("{} row(s) vanished", before - after)
        } else {
            format!("{} row(s) rewritten", self.after.written.max(1))
        };
        format!("{what} of tenant {} in {}", self.tenant, self.table)
    }
}

impl Effect {
    /// Tenants of `tenants` other than `actor` whose rows differ from the
    /// ground truth (rows of no tenant, or of one the run does not act as,
    /// are no other tenant's).
    pub fn others_changed(&self, ledger: &Ledger, actor: &str, tenants: &[String]) -> Vec<Change> {
        self.changes(ledger).into_iter().filter(|c| c.tenant != actor && tenants.contains(&c.tenant)).collect()
    }

    /// Whether `actor`'s own rows of `table` changed.
    pub fn own_changed(&self, ledger: &Ledger, actor: &str, table: &QualName) -> bool {
        self.changes(ledger).iter().any(|c| c.tenant == actor && &c.table == table)
    }

    fn changes(&self, ledger: &Ledger) -> Vec<Change> {
        let mut changes = Vec::new();
        for (table, after) in &self.after {
            let before = ledger.tally(table);
            let tenants: std::collections::BTreeSet<&String> = before.0.keys().chain(after.0.keys()).collect();
            for tenant in tenants {
                let (was, is) = (before.of(tenant), after.of(tenant));
                if is.differs(&was) {
                    changes.push(Change { table: table.clone(), tenant: tenant.clone(), before: was, after: is });
                }
            }
        }
        changes
    }
}

/// Runs a writing case on a superuser connection of `pool` (see the module
/// comment) and tallies `observed` inside its transaction; then rolls back.
pub async fn observe(pool: &PgPool, case: &Case, observed: &[&Observed]) -> Result<Effect, sqlx::Error> {
    Ok(observe_rows(pool, case, observed, None).await?.0)
}

/// [`observe`], also listing `victim`'s rows of the first observed table
/// whose content differs from the committed ones (key and what happened),
/// for the evidence of a failure.
pub async fn observe_rows(
    pool: &PgPool,
    case: &Case,
    observed: &[&Observed],
    victim: Option<&str>,
) -> Result<(Effect, Vec<String>), sqlx::Error> {
    let met_another = |(effect, _): &(Effect, Vec<String>)| matches!(&effect.outcome, Outcome::Refused(r) if r.is_transient());
    super::act::settled(async || observe_once(pool, case, observed, victim).await, met_another).await
}

async fn observe_once(
    pool: &PgPool,
    case: &Case,
    observed: &[&Observed],
    victim: Option<&str>,
) -> Result<(Effect, Vec<String>), sqlx::Error> {
    PROBES_RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut conn = pool.acquire().await?;
    let committed = match (victim, observed.first()) {
        (Some(victim), Some(first)) => first.rows_of(&mut conn, victim).await?,
        _ => Vec::new(),
    };
    // In one message: one writing probe at a time per database (concurrent
    // audits of one database would wait on, or deadlock with, each other's
    // set-asides); deferred constraints checked now, not at a commit that
    // never comes; the set-asides; then the application's identity and context.
    let mut opening = vec![
        "BEGIN".to_string(),
        format!("SELECT pg_advisory_xact_lock({})", crate::checks::sandbox::PROBE_LOCK),
        "SET CONSTRAINTS ALL IMMEDIATE".to_string(),
    ];
    opening.extend(case.setup.iter().cloned());
    opening.push(format!("SET LOCAL SESSION AUTHORIZATION {}", quote_ident(&case.actor.role)));
    opening.extend(case.actor.statements(&case.context));
    // The transaction is ours to end: whatever happens in it, it is rolled back.
    let mut sent = Vec::new();
    let done = acted(&mut conn, opening, case, observed, victim, &committed, &mut sent).await;
    sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await?;
    sent.push(vec!["ROLLBACK".to_string()]);
    probe_log::record(probe_log::Connection::Writes, || sent);
    done
}

/// The probe's transaction from its opening on; `sent` collects the
/// messages as they go (for the probe log).
async fn acted(
    conn: &mut PgConnection,
    opening: Vec<String>,
    case: &Case,
    observed: &[&Observed],
    victim: Option<&str>,
    committed: &[(String, String)],
    sent: &mut Vec<Vec<String>>,
) -> Result<(Effect, Vec<String>), sqlx::Error> {
    let opened = sqlx::raw_sql(&opening.join("; ")).execute(&mut *conn).await;
    sent.push(opening);
    if let Err(error) = opened {
        return Ok((refused(Refusal::from_error(error)?), Vec::new()));
    }
    sent.push(vec![case.statement.clone()]);
    let outcome = match sqlx::raw_sql(&case.statement).execute(&mut *conn).await {
        Ok(done) => Outcome::Affected(done.rows_affected()),
        // The transaction is aborted: nothing the statement did survives.
        Err(error) => return Ok((refused(Refusal::from_error(error)?), Vec::new())),
    };
    // Only the tables the statement changed are tallied: the others hold their committed rows.
    let touching = vec!["RESET SESSION AUTHORIZATION".to_string(), touched_sql(observed)];
    let touched: Vec<i32> = sqlx::raw_sql(&touching.join("; ")).fetch_all(&mut *conn).await?.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?;
    sent.push(touching);
    let touched: Vec<&Observed> = touched.into_iter().filter_map(|i| observed.get(i as usize).copied()).collect();
    if !touched.is_empty() {
        sent.push(vec![tally_sql(&touched)]);
    }
    let after = tally_all(conn, &touched).await?;
    let rows = match (victim, observed.first()) {
        (Some(victim), Some(first)) => differing(committed, &first.rows_of(conn, victim).await?),
        _ => Vec::new(),
    };
    Ok((Effect { outcome, after }, rows))
}

fn refused(refusal: Refusal) -> Effect {
    Effect { outcome: Outcome::Refused(refusal), after: Vec::new() }
}

/// Keys of rows that changed, vanished or appeared between two listings
/// of one tenant's rows (both sorted by key).
fn differing(before: &[(String, String)], after: &[(String, String)]) -> Vec<String> {
    let before: BTreeMap<&String, &String> = before.iter().map(|(k, h)| (k, h)).collect();
    let after: BTreeMap<&String, &String> = after.iter().map(|(k, h)| (k, h)).collect();
    let mut keys = Vec::new();
    for (key, hash) in &before {
        match after.get(key) {
            None => keys.push(format!("{key} deleted")),
            Some(now) if now != hash => keys.push(format!("{key} changed")),
            Some(_) => {}
        }
    }
    keys.extend(after.keys().filter(|k| !before.contains_key(*k)).map(|k| format!("{k} added")));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differing_rows_are_named_by_key_and_what_happened() {
        let row = |k: &str, h: &str| (k.to_string(), h.to_string());
        let before = [row("(1)", "a"), row("(2)", "b"), row("(3)", "c")];
        let after = [row("(1)", "a"), row("(2)", "B"), row("(4)", "d")];
        assert_eq!(differing(&before, &after), ["(2) changed", "(3) deleted", "(4) added"]);
    }

    #[test]
    fn a_written_row_differs_even_with_the_same_content() {
        let truth = Count { rows: 3, hash: "42".into(), written: 0 };
        assert!(!truth.differs(&truth));
        assert!(Count { written: 1, ..truth.clone() }.differs(&truth));
        assert!(Count { rows: 2, ..truth.clone() }.differs(&truth));
    }
}
