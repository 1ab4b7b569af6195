//! `rls.context_bleed`: the tenant context set by one use of a pooled
//! connection must not be there for the next. With `set_config(..., true)`
//! it ends with the transaction; a session-level `SET` (scenario
//! `[tenancy] context = "session"`) survives unless the pool's reset query
//! (`reset = "DISCARD ALL"`) clears it.

use sqlx::{Acquire, Row};

use super::act::ROW_ID;
use super::Prober;
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::provision::quote_ident;
use crate::scenario::ContextMechanism;

pub const CONTEXT_BLEED: CheckId = CheckId::new("rls.context_bleed", Severity::Error);

pub async fn check(ctx: &TierContext<'_>, prober: &Prober) -> Finding {
    let tier = ctx.tier();
    let object = prober.guc.clone();
    let Some((table, _)) = ctx.tenancy.scoped_tables(ctx.catalog).find(|(t, _)| !t.is_partition()) else {
        return CONTEXT_BLEED.skip(tier, object, "no tenant table on this tier");
    };
    let tenancy = &ctx.scenario.tenancy;
    let result: Result<Option<(String, usize)>, sqlx::Error> = async {
        let mut pooled = ctx.pool.acquire().await?;
        let conn = pooled.acquire().await?;
        let role = quote_ident(&prober.role);
        let tenant = &prober.tenants[0];
        // First use: the application sets the context its way.
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(&format!("SET LOCAL ROLE {role}")).execute(&mut *tx).await?;
        let session = match &tenancy.context {
            ContextMechanism::Local => "true",
            ContextMechanism::Session => "false",
        };
        sqlx::query(&format!("SELECT set_config($1, $2, {session})")).bind(&prober.guc).bind(tenant).execute(&mut *tx).await?;
        tx.commit().await?;
        if let Some(reset) = &tenancy.reset {
            sqlx::raw_sql(reset).execute(&mut *conn).await?;
        }
        // Next use of the same connection: no context set.
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(&format!("SET LOCAL ROLE {role}")).execute(&mut *tx).await?;
        let left = sqlx::query("SELECT current_setting($1, true)").bind(&prober.guc).fetch_one(&mut *tx).await?;
        let left: Option<String> = left.try_get(0)?;
        let visible = sqlx::query(&format!("SELECT {ROW_ID} FROM {}", table.name.sql())).fetch_all(&mut *tx).await;
        tx.rollback().await?;
        let visible = visible.map(|rows| rows.len()).unwrap_or(0);
        Ok(left.filter(|v| !v.is_empty()).map(|v| (v, visible)))
    }
    .await;
    match result {
        Ok(None) => CONTEXT_BLEED.pass(tier, object, "the tenant setting does not outlive its transaction"),
        Ok(Some((value, visible))) => CONTEXT_BLEED
            .fail(
                tier,
                object,
                format!(
                    "the next use of a pooled connection still has {} = {value}: it sees {visible} row(s) of {} as that tenant",
                    prober.guc, table.name
                ),
            )
            .detail("mechanism", format!("{:?}", tenancy.context).to_lowercase())
            .detail("count", visible)
            .detail(
                "fix",
                "set the tenant with set_config(name, value, true) inside each transaction, or reset the session (DISCARD ALL) when the pool hands it out",
            ),
        Err(e) => CONTEXT_BLEED.error(tier, object, format!("probe failed: {e}")),
    }
}
