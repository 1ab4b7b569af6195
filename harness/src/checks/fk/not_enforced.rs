//! `fk.not_enforced`: an FK that does not stop a row pointing at nothing.
//! The catalog tells part of it (NOT VALID: existing rows were never
//! checked; a disabled system trigger: new rows are not checked), but not
//! all: `session_replication_role = replica` set on a role or database
//! silences enabled triggers too. So every FK is shown by acting: a copy of
//! one of its rows, pointing at a key its parent does not have, is inserted
//! in a rolled-back transaction; a working FK refuses it. The rows that
//! already violate a suspect FK are counted.

use serde_json::{Map, Value};
use sqlx::PgPool;

use crate::checks::rows::{copy_row, fresh_value, shown_fields};
use crate::catalog::{Catalog, Constraint, ForeignKey, Table};
use crate::tenancy::TenantScope;
use crate::checks::sandbox::{Outcome, Sandbox};
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::sql::quote_ident;

pub const ID: CheckId = CheckId::new(
    "fk.not_enforced",
    Severity::Error,
    r#"an FK is NOT VALID, its triggers are disabled, or a copied row pointing at a missing parent is accepted (existing violators counted)"#,
);

/// Rows shown per finding.
const SAMPLES: i64 = 10;

/// What the violating insert showed.
enum Probe {
    Refused,
    Accepted { row: Value },
    /// Nothing to copy, or no value of the column's type is sure to be missing.
    NotTried(String),
    /// Refused, but not by this FK: nothing shown either way.
    Inconclusive(String),
}

pub async fn check(ctx: &TierContext<'_>, external: bool) -> Vec<Finding> {
    let tier = ctx.tier();
    let mut findings = Vec::new();
    for table in ctx.catalog.tables.iter().filter(|t| !t.is_partition()) {
        for (constraint, fk) in table.foreign_keys() {
            let object = format!("{}.{}", table.name, constraint.name);
            let probe = if external {
                Probe::NotTried("external databases are audited read-only: no violating insert is tried".into())
            } else {
                match probe(ctx, table, constraint, fk).await {
                    Ok(probe) => probe,
                    Err(e) => {
                        findings.push(ID.error(tier, object, format!("the violating insert could not run: {e}")));
                        continue;
                    }
                }
            };
            let mut reasons = Vec::new();
            if !constraint.validated {
                reasons.push("it is NOT VALID: rows that existed when it was added were never checked".to_string());
            }
            if !fk.triggers_enabled {
                reasons.push("its system triggers are disabled: new rows are not checked".to_string());
            }
            if let Probe::Accepted { .. } = probe {
                reasons.push(format!("a row pointing at a key {} does not have was accepted", fk.target));
            }
            if reasons.is_empty() {
                findings.push(match probe {
                    Probe::Refused => ID.pass(tier, object, format!("a row pointing at a key {} does not have is refused", fk.target)),
                    Probe::NotTried(why) => ID.skip(tier, object, why),
                    Probe::Inconclusive(why) => ID.error(tier, object, why),
                    Probe::Accepted { .. } => unreachable!("an accepted row is a reason"),
                });
                continue;
            }
            let mut finding = ID.fail(tier, &object, format!("{object} does not hold: {}", reasons.join("; ")));
            match violators(ctx.pool, table, constraint, fk).await {
                Ok((count, samples)) => finding = finding.detail("count", count).detail("samples", samples),
                Err(e) => finding = finding.detail("count_error", e.to_string()),
            }
            if let Probe::Accepted { row } = probe {
                finding = finding.detail("accepted_row", row);
            }
            let fix = if constraint.validated {
                format!("ALTER TABLE {} ENABLE TRIGGER ALL;", table.name.sql())
            } else {
                format!("ALTER TABLE {} VALIDATE CONSTRAINT {};", table.name.sql(), quote_ident(&constraint.name))
            };
            findings.push(finding.detail("fix", fix));
        }
    }
    findings
}

/// Inserts a copy of a child row whose reference points at a key the
/// parent does not have, in a rolled-back transaction.
async fn probe(ctx: &TierContext<'_>, table: &Table, constraint: &Constraint, fk: &ForeignKey) -> Result<Probe, sqlx::Error> {
    // The tenants table's key is its own to change: a copy is another tenant.
    let tenant_column = match ctx.tenancy.scope(ctx.tier(), &table.name) {
        Some(TenantScope::Column(column)) => Some(column.as_str()),
        Some(TenantScope::Root(_) | TenantScope::Path(_) | TenantScope::Remote(_)) | None => None,
    };
    let salt = format!("{}:{}", ctx.scenario.seed, constraint.name);
    let Some((column, missing)) = column_to_break(ctx.catalog, table, constraint, fk, tenant_column, &salt) else {
        return Ok(Probe::NotTried(format!(
            "no column of {} has a type for which tierguard can name a key {} lacks",
            constraint.name, fk.target
        )));
    };
    let mut sandbox = Sandbox::open(ctx.pool).await?;
    let missing: Value = sqlx::query_scalar(&format!("SELECT to_jsonb({missing})")).fetch_one(sandbox.conn()).await?;
    let overrides = Map::from_iter([(column.to_string(), missing)]);
    // Under MATCH SIMPLE a reference with a NULL in any column is not
    // checked at all: the copy must have every column of the FK set.
    let Some(row) = copy_row(sandbox.conn(), table, tenant_column, (&Map::new(), &constraint.columns), &overrides, &salt).await? else {
        return Ok(Probe::NotTried(format!("{} has no row with every column of {} set to copy", table.name, constraint.name)));
    };
    let (outcome, _) = sandbox.isolate(ctx.catalog, None, &row.insert, &row.row, (&table.name, &constraint.name)).await?;
    Ok(match outcome {
        Outcome::Accepted { .. } => Probe::Accepted { row: row.row },
        Outcome::Refused(refusal) if refusal.is_by(ctx.catalog, (&table.name, &constraint.name)) => Probe::Refused,
        Outcome::Refused(refusal) => Probe::Inconclusive(format!(
            "the violating insert was refused for another reason, so nothing is shown: {}",
            refusal.message
        )),
    })
}

/// The FK column to point at nothing, and SQL for a value its parent
/// column does not hold: not the tenant (changing it breaks every composite
/// FK), preferably a column no other FK uses, of a type with such a value.
fn column_to_break<'f>(
    catalog: &Catalog,
    table: &Table,
    constraint: &'f Constraint,
    fk: &ForeignKey,
    tenant_column: Option<&str>,
    salt: &str,
) -> Option<(&'f str, String)> {
    let parent = catalog.table(&fk.target)?;
    let other_fks = |column: &str| {
        table
            .foreign_keys()
            .filter(|(c, _)| c.name != constraint.name && c.columns.iter().any(|k| k == column))
            .count()
    };
    constraint
        .columns
        .iter()
        .zip(&fk.target_columns)
        // Salted apart from the copy's own fresh keys: a self-reference must not find its own row.
        .filter_map(|(c, t)| Some((c.as_str(), fresh_value(parent.column(t)?, &fk.target, None, &format!("{salt}:missing"))?)))
        .min_by_key(|(c, _)| (Some(*c) == tenant_column, other_fks(c)))
}

/// Existing rows whose reference (all columns set: MATCH SIMPLE) has no
/// parent, and up to ten of them.
async fn violators(pool: &PgPool, table: &Table, constraint: &Constraint, fk: &ForeignKey) -> Result<(i64, Vec<String>), sqlx::Error> {
    let set: Vec<String> = constraint.columns.iter().map(|c| format!("c.{} IS NOT NULL", quote_ident(c))).collect();
    let joined: Vec<String> = constraint
        .columns
        .iter()
        .zip(&fk.target_columns)
        .map(|(c, t)| format!("p.{} = c.{}", quote_ident(t), quote_ident(c)))
        .collect();
    let sql = format!(
        "WITH v AS (SELECT jsonb_build_object({shown}) AS row FROM {child} c
                    WHERE {set} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {joined}))
         SELECT (SELECT count(*) FROM v),
                (SELECT COALESCE(array_agg(s.row::text), '{{}}') FROM (SELECT row FROM v ORDER BY row::text LIMIT {SAMPLES}) s)",
        shown = shown_fields(table, &constraint.columns),
        child = table.name.sql(),
        parent = fk.target.sql(),
        set = set.join(" AND "),
        joined = joined.join(" AND "),
    );
    sqlx::query_as(&sql).fetch_one(pool).await
}
