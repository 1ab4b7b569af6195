//! `rls.unset_context`: with no tenant setting, an empty one, or the id of
//! a tenant that does not exist, no tenant row is visible and no write
//! succeeds (an error is fine; rows are not). Catches policies that fall
//! back to all rows, e.g. `current_setting(...) = '' OR tenant_id = ...`.

use super::act::{self, Case, Context, Outcome, ROW_ID};
use super::writes::insert_row;
use super::Prober;
use crate::catalog::Table;
use crate::tenancy::TenantScope;
use crate::checks::{CheckId, Finding, Severity, TierContext};

pub const UNSET_CONTEXT: CheckId = CheckId::new(
    "rls.unset_context",
    Severity::Error,
    r#"with no, an empty, or an unknown tenant setting (under JWT claims also as `anon` without a JWT), rows are visible or a write succeeds"#,
);

pub async fn check(ctx: &TierContext<'_>, prober: &Prober, table: &Table, scope: &TenantScope) -> Finding {
    let tier = ctx.tier();
    let data_type = scope
        .column()
        .and_then(|c| table.column(c))
        .map(|c| c.data_type.clone())
        .unwrap_or_else(|| "text".into());
    let mut contexts = vec![Context::Unset, Context::Empty, Context::Tenant(act::nonexistent_tenant(&data_type))];
    // Under JWT claims, a request without any JWT: PostgREST's `anon`.
    if ctx.tenancy.model(tier).jwt() {
        contexts.push(Context::Anonymous);
    }
    let mut cases: Vec<Case> = contexts
        .iter()
        .map(|context| prober.case(context.clone(), format!("SELECT {ROW_ID} FROM {}", table.name.sql()), false))
        .collect();
    if !ctx.read_only {
        if let Some(insert) = insert_row(ctx, table, 0, &[]) {
            cases.extend(contexts.iter().map(|context| prober.case(context.clone(), insert.clone(), true)));
        }
    }
    for case in cases {
        let leaked = match act::run(ctx.acting_pool(), &case).await {
            Ok(Outcome::Rows(rows)) if !rows.is_empty() => Some((format!("{} row(s) visible", rows.len()), rows)),
            Ok(Outcome::Affected(n)) if n > 0 => Some((format!("{n} row(s) written"), Vec::new())),
            Ok(_) => None,
            Err(e) => return UNSET_CONTEXT.error(tier, &table.name, format!("probe failed: {e}")),
        };
        if let Some((what, rows)) = leaked {
            let samples: Vec<String> = rows.iter().take(10).cloned().collect();
            return prober.failure(
                UNSET_CONTEXT,
                ctx,
                &table.name,
                format!("{}: {what} ({})", table.name, case.describe()),
                case,
                rows.len().max(1),
                samples,
            );
        }
    }
    UNSET_CONTEXT.pass(tier, &table.name, "no rows and no writes without a valid tenant")
}
