//! Paths around a table's policies: views (`rls.view_bypass`), materialized
//! views (`rls.matview_exposed`) and partitions read directly
//! (`rls.partition_bypass`); SECURITY DEFINER functions are in `definer`.
//! Each readable path is probed like a table: as tenant A, every row that
//! carries a tenant must be A's.

use super::act::{self, Context, Outcome};
use super::Prober;
use crate::catalog::{QualName, Table};
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::sql::quote_ident;

pub const VIEW_BYPASS: CheckId = CheckId::new(
    "rls.view_bypass",
    Severity::Error,
    r#"a view the app can read returns other tenants' rows"#,
);
pub const MATVIEW_EXPOSED: CheckId = CheckId::new(
    "rls.matview_exposed",
    Severity::Error,
    r#"a materialized view holding tenant rows is readable by the app"#,
);
pub const PARTITION_BYPASS: CheckId = CheckId::new(
    "rls.partition_bypass",
    Severity::Error,
    r#"a partition the app can read directly returns other tenants' rows"#,
);

pub async fn check(ctx: &TierContext<'_>, prober: &Prober) -> Vec<Finding> {
    let mut findings = Vec::new();
    let tier = ctx.tier();
    let Some(column) = ctx.tenancy.column(tier).map(str::to_string) else { return findings };
    for view in &ctx.catalog.views {
        if !ctx.catalog.granted(&prober.actor.role, &view.grants, "SELECT") && !ctx.catalog.acts_as(&prober.actor.role, &view.owner) {
            findings.push(if view.materialized {
                MATVIEW_EXPOSED.pass(tier, &view.name, "not readable by the application role")
            } else {
                VIEW_BYPASS.pass(tier, &view.name, "not readable by the application role")
            });
            continue;
        }
        if view.materialized {
            findings.push(matview(ctx, prober, &view.name, &column).await);
        } else {
            findings.push(probe_relation(ctx, prober, VIEW_BYPASS, &view.name, &column).await);
        }
    }
    // A partition carries the tenant where its parent does.
    let partitions = ctx.catalog.tables.iter().filter_map(|t| {
        let parent = t.partition_of.as_ref()?;
        let column = ctx.tenancy.scope(tier, &ctx.catalog.root_of(parent))?.column()?;
        Some((t, column)).filter(|_| t.column(column).is_some())
    });
    for (partition, column) in partitions {
        if !ctx.catalog.has_table_privilege(&prober.actor.role, partition, "SELECT") {
            findings.push(PARTITION_BYPASS.pass(tier, &partition.name, "not readable directly by the application role"));
            continue;
        }
        findings.push(probe_relation(ctx, prober, PARTITION_BYPASS, &partition.name, column).await);
    }
    findings
}

/// A readable materialized view that holds a tenant column exposes every
/// tenant's rows as soon as it is refreshed: it has no policies of its own.
async fn matview(ctx: &TierContext<'_>, prober: &Prober, name: &QualName, column: &str) -> Finding {
    if !relation_has_column(ctx, name, column).await {
        return MATVIEW_EXPOSED.pass(ctx.tier(), name, format!("readable, but holds no {column} column"));
    }
    let case = prober.case(Context::Tenant(prober.tenants[0].clone()), format!("SELECT count(*)::text FROM {}", name.sql()), false);
    let rows = match act::run(ctx.acting_pool(), &case).await {
        Ok(Outcome::Rows(r)) => r.first().and_then(|c| c.parse::<usize>().ok()).unwrap_or(0),
        _ => 0,
    };
    prober.failure(
        MATVIEW_EXPOSED,
        ctx,
        name,
        format!(
            "{name} holds {column} rows and `{}` can read it: materialized views have no row level security ({rows} row(s) readable now, every tenant's after each refresh)",
            prober.actor.role
        ),
        case,
        rows,
        Vec::new(),
    )
}

/// Reads a relation as each tenant; any row carrying another tenant fails.
async fn probe_relation(ctx: &TierContext<'_>, prober: &Prober, id: CheckId, name: &QualName, column: &str) -> Finding {
    let has_tenant = relation_has_column(ctx, name, column).await;
    let select = if has_tenant { format!("{}::text", quote_ident(column)) } else { "'?'".to_string() };
    let statement = format!("SELECT {select} FROM {}", name.sql());
    expose(ctx, prober, id, name, statement, has_tenant).await
}

/// Runs `statement` as every tenant; rows whose first column is another
/// tenant fail. A relation without a tenant column fails when readable at
/// all while it holds rows (a materialized copy has no policy of its own).
pub(super) async fn expose(ctx: &TierContext<'_>, prober: &Prober, id: CheckId, name: &QualName, statement: String, has_tenant: bool) -> Finding {
    let tier = ctx.tier();
    for tenant in &prober.tenants {
        let case = prober.case(Context::Tenant(tenant.clone()), statement.clone(), false);
        match act::run(ctx.acting_pool(), &case).await {
            Ok(Outcome::Rows(rows)) => {
                let foreign: Vec<&String> = rows.iter().filter(|r| !has_tenant || *r != tenant).collect();
                if !foreign.is_empty() {
                    let samples: Vec<String> = foreign.iter().take(10).map(|t| format!("row of tenant {t}")).collect();
                    return prober.failure(
                        id,
                        ctx,
                        name,
                        format!("{name}: tenant {tenant} reads {} row(s) of other tenants ({})", foreign.len(), case.describe()),
                        case,
                        foreign.len(),
                        samples,
                    );
                }
            }
            Ok(_) => {}
            Err(e) => return id.error(tier, name, format!("probe failed: {e}")),
        }
    }
    id.pass(tier, name, "readable, but only ever the tenant's own rows")
}

async fn relation_has_column(ctx: &TierContext<'_>, name: &QualName, column: &str) -> bool {
    sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped)",
    )
    .bind(name.sql())
    .bind(column)
    .fetch_one(ctx.pool)
    .await
    .unwrap_or(false)
}

/// Tables a probe can read through (used to skip tables the app cannot read at all).
pub fn readable(ctx: &TierContext<'_>, prober: &Prober, table: &Table) -> bool {
    ctx.catalog.has_table_privilege(&prober.actor.role, table, "SELECT")
}
