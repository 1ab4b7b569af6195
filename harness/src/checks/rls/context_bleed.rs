//! `rls.context_bleed`: the tenant context set by one use of a pooled
//! connection must not be there for the next. With `set_config(..., true)`
//! it ends with the transaction; a session-level `SET` (scenario
//! `[tenancy] context = "session"`, or a context function that calls
//! `set_config(..., false)`) survives unless the pool's reset query
//! (`reset = "DISCARD ALL"`) clears it.

use sqlx::{Acquire, Row};

use super::act::{Context, Refusal, ROW_ID};
use super::Prober;
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::scenario::ContextMechanism;

pub const CONTEXT_BLEED: CheckId = CheckId::new(
    "rls.context_bleed",
    Severity::Error,
    r#"the tenant setting survives into the next use of a pooled connection"#,
);

pub async fn check(ctx: &TierContext<'_>, prober: &Prober) -> Finding {
    let tier = ctx.tier();
    let actor = &prober.actor;
    let object = actor.guc.clone();
    let Some((table, _)) = ctx.tenancy.scoped_tables(ctx.catalog).find(|(t, _)| !t.is_partition()) else {
        return CONTEXT_BLEED.skip(tier, object, "no tenant table on this tier");
    };
    let reset = &ctx.scenario.tenancy.reset;
    let tenant = Context::Tenant(prober.tenants[0].clone());
    let result: Result<Result<Option<(String, usize)>, Refusal>, sqlx::Error> = async {
        let mut pooled = ctx.acting_pool().acquire().await?;
        let conn = pooled.acquire().await?;
        // First use: the application sets the context its way, and commits.
        match actor.begin_on(&mut *conn, &tenant).await? {
            Ok(tx) => tx.commit().await?,
            Err(refusal) => return Ok(Err(refusal)),
        }
        if let Some(reset) = reset {
            sqlx::raw_sql(reset).execute(&mut *conn).await?;
        }
        // Next use of the same connection: the role, no context set.
        let mut tx = match actor.begin_on(&mut *conn, &Context::Unset).await? {
            Ok(tx) => tx,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let left = sqlx::query("SELECT current_setting($1, true)").bind(&actor.guc).fetch_one(&mut *tx).await?;
        let left: Option<String> = left.try_get(0)?;
        let visible = sqlx::query(&format!("SELECT {ROW_ID} FROM {}", table.name.sql())).fetch_all(&mut *tx).await;
        tx.rollback().await?;
        let visible = visible.map(|rows| rows.len()).unwrap_or(0);
        Ok(Ok(left.filter(|v| !v.is_empty()).map(|v| (v, visible))))
    }
    .await;
    let fix = match &actor.mechanism {
        ContextMechanism::Function(function) => format!(
            "make {function} set the tenant with set_config(name, value, true) (transaction scope), or reset the session (DISCARD ALL) when the pool hands it out"
        ),
        _ => "set the tenant with set_config(name, value, true) inside each transaction, or reset the session (DISCARD ALL) when the pool hands it out".to_string(),
    };
    match result {
        Ok(Ok(None)) => CONTEXT_BLEED.pass(tier, object, "the tenant setting does not outlive its transaction"),
        Ok(Ok(Some((value, visible)))) => CONTEXT_BLEED
            .fail(
                tier,
                object,
                format!(
                    "the next use of a pooled connection still has {} = {value}: it sees {visible} row(s) of {} as that tenant",
                    actor.guc, table.name
                ),
            )
            .detail("mechanism", actor.mechanism.to_string())
            .detail("first_use", actor.statements(&tenant).join("; "))
            .detail("count", visible)
            .detail("fix", fix),
        Ok(Err(refusal)) => CONTEXT_BLEED.error(tier, object, format!("setting the tenant context was refused: {}", refusal.message)),
        Err(e) => CONTEXT_BLEED.error(tier, object, format!("probe failed: {e}")),
    }
}
