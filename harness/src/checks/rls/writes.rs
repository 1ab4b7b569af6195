//! `rls.write_leak`: acting as tenant A (every write rolled back), none of
//! these may succeed: insert a valid row carrying tenant B; move one of A's
//! rows to B with a WHERE clause, and every visible row without one (some
//! policies stop the first and pass the second); update or delete one of
//! B's rows by its key.

use super::act::{self, Case, Context, Outcome, Truth};
use super::property::falsify;
use super::Prober;
use crate::catalog::{Table, TenantScope};
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::provision::quote_ident;

pub const WRITE_LEAK: CheckId = CheckId::new("rls.write_leak", Severity::Error);

const ATTEMPTS: [&str; 5] = ["insert_for_other", "move_own_row", "move_all_rows", "update_others_row", "delete_others_row"];

pub async fn check(ctx: &TierContext<'_>, prober: &Prober, table: &Table, scope: &TenantScope) -> Finding {
    let tier = ctx.tier();
    if ctx.read_only {
        return WRITE_LEAK.skip(tier, &table.name, "external server: write probes are not run, even rolled back");
    }
    let truth = match Truth::read(ctx.pool, table, scope).await {
        Ok(t) => t,
        Err(e) => return WRITE_LEAK.error(tier, &table.name, format!("could not read the ground truth: {e}")),
    };
    let n = prober.tenants.len();
    let truth = &truth;
    let case_of = |&(a, b, attempt): &(usize, usize, usize)| build(ctx, prober, table, scope, truth, a, b, ATTEMPTS[attempt]);
    let failure = falsify(ctx.scenario.seed, &format!("write_leak/{tier}/{}", table.name), (0..n, 0..n, 0..ATTEMPTS.len()), |v| async move {
        let Some(case) = case_of(&v) else { return Ok(()) };
        match act::run(ctx.acting_pool(), &case).await {
            Ok(Outcome::Affected(rows)) if rows > 0 => Err(format!("{rows} row(s) written")),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("probe failed: {e}")),
        }
    })
    .await;
    match failure {
        None => WRITE_LEAK.pass(tier, &table.name, "no write reached another tenant's rows"),
        Some((value, reason)) => {
            let case = case_of(&value).expect("failing case exists");
            prober.failure(
                WRITE_LEAK,
                ctx,
                &table.name,
                format!("{}: {reason} across tenants ({} — {})", table.name, ATTEMPTS[value.2], case.describe()),
                case,
                1,
                Vec::new(),
            )
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn build(
    ctx: &TierContext<'_>,
    prober: &Prober,
    table: &Table,
    scope: &TenantScope,
    truth: &Truth,
    a: usize,
    b: usize,
    attempt: &str,
) -> Option<Case> {
    let n = prober.tenants.len();
    let b = if a == b { (b + 1) % n } else { b };
    let (tenant, other) = (&prober.tenants[a], &prober.tenants[b]);
    let t = table.name.sql();
    // Moving a row to another tenant needs a tenant column; path-scoped
    // rows are reached by the other attempts.
    let tenant_column = scope.column().and_then(|c| table.column(c));
    let move_to = |other: &str| tenant_column.map(|c| (quote_ident(&c.name), act::literal(other, &c.data_type)));
    let by_key = |owner: &str| -> Option<String> {
        let key_expr = truth.key_expr.as_ref()?;
        let row = truth.rows_of(owner).next()?;
        Some(format!("{key_expr} = '{}'", truth.key.get(row)?.replace('\'', "''")))
    };
    let statement = match attempt {
        "insert_for_other" => insert_row(ctx, table, b, &[])?,
        "move_own_row" => {
            let (column, value) = move_to(other)?;
            format!("UPDATE {t} SET {column} = {value} WHERE {}", by_key(tenant)?)
        }
        "move_all_rows" => {
            let (column, value) = move_to(other)?;
            format!("UPDATE {t} SET {column} = {value}")
        }
        "update_others_row" => {
            // A no-op assignment: any row it reaches counts.
            let first = quote_ident(&table.columns.first()?.name);
            format!("UPDATE {t} SET {first} = {first} WHERE {}", by_key(other)?)
        }
        _ => format!("DELETE FROM {t} WHERE {}", by_key(other)?),
    };
    Some(prober.case(Context::Tenant(tenant.clone()), statement, true))
}

/// `INSERT` of a new, otherwise valid row owned by tenant number `owner`,
/// with `values` (column, text) in place of the fresh ones; None when the
/// table has no fresh row or lacks one of those columns.
pub fn insert_row(ctx: &TierContext<'_>, table: &Table, owner: usize, values: &[(String, String)]) -> Option<String> {
    let mut row = ctx.seeded?.fresh_row(ctx.tier(), &table.name, owner)?;
    for (column, value) in values {
        row.iter_mut().find(|(c, _, _)| c == column)?.2 = Some(value.clone());
    }
    let columns: Vec<String> = row.iter().map(|(c, _, _)| quote_ident(c)).collect();
    let values: Vec<String> = row
        .iter()
        .map(|(_, ty, v)| v.as_ref().map_or(format!("NULL::{ty}"), |v| act::literal(v, ty)))
        .collect();
    Some(format!("INSERT INTO {} ({}) VALUES ({})", table.name.sql(), columns.join(", "), values.join(", ")))
}
