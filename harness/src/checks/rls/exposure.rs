//! Paths around a table's policies: views (`rls.view_bypass`), materialized
//! views (`rls.matview_exposed`) and partitions read directly
//! (`rls.partition_bypass`); SECURITY DEFINER functions are in `definer`.
//! Each readable path is probed like a table: as tenant A, every row that
//! carries a tenant must be A's; a view without the tenant column must not
//! show a tenant every row of the tenant tables it reads.

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
        } else if relation_has_column(ctx, &view.name, &column).await {
            findings.push(probe_relation(ctx, prober, VIEW_BYPASS, &view.name, &column).await);
        } else {
            findings.push(untagged_view(ctx, prober, &view.name, &column).await);
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

/// A view without the tenant column: its rows cannot be told apart by
/// tenant. Reading only tables shared by design, it has nothing of a
/// tenant's to leak. Else, as each tenant, it must show fewer rows than it
/// holds (a policy filters them: the canary search, which needs no tenant
/// column, judges the rest by the tenants' markers); a tenant that sees
/// every row of a view over tenant tables sees the other tenants' rows.
async fn untagged_view(ctx: &TierContext<'_>, prober: &Prober, name: &QualName, column: &str) -> Finding {
    let tier = ctx.tier();
    let tables = match tables_read(ctx, name).await {
        Ok(tables) => tables,
        Err(e) => return VIEW_BYPASS.error(tier, name, format!("could not read what the view reads: {e}")),
    };
    let shared = |t: &QualName| ctx.tenancy.unscoped().iter().any(|u| u.tier == tier && u.table == t.to_string() && u.class == crate::tenancy::Class::Shared);
    let tenant_tables: Vec<String> = tables.iter().filter(|t| !shared(&ctx.catalog.root_of(t))).map(|t| t.to_string()).collect();
    if tenant_tables.is_empty() {
        return VIEW_BYPASS.pass(tier, name, "reads only tables shared by design: nothing of a tenant's to leak");
    }
    let count = format!("SELECT count(*)::text FROM {}", name.sql());
    let total: i64 = match sqlx::query_scalar::<_, String>(&count).fetch_one(ctx.pool).await {
        Ok(n) => n.parse().unwrap_or(0),
        Err(e) => return VIEW_BYPASS.error(tier, name, format!("could not count its rows: {e}")),
    };
    for tenant in &prober.tenants {
        let case = prober.case(Context::Tenant(tenant.clone()), count.clone(), false);
        let seen: i64 = match act::run(ctx.acting_pool(), &case).await {
            Ok(Outcome::Rows(rows)) => rows.first().and_then(|n| n.parse().ok()).unwrap_or(0),
            Ok(_) => continue,
            Err(e) => return VIEW_BYPASS.error(tier, name, format!("probe failed: {e}")),
        };
        if total > 0 && seen == total && prober.tenants.len() > 1 {
            return prober.failure(
                VIEW_BYPASS,
                ctx,
                name,
                format!(
                    "{name}: tenant {tenant} sees all {total} row(s) of a view over tenant tables ({}) that has no {column} column: no tenant filter applies ({})",
                    tenant_tables.join(", "),
                    case.describe()
                ),
                case,
                total as usize,
                Vec::new(),
            );
        }
    }
    VIEW_BYPASS.pass(
        tier,
        name,
        format!("no {column} column to tell its rows apart, and no tenant sees all of them (the canary search reads it by markers); reads {}", tenant_tables.join(", ")),
    )
}

/// The tables a view reads, through the views it reads.
async fn tables_read(ctx: &TierContext<'_>, view: &QualName) -> Result<Vec<QualName>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "WITH RECURSIVE reads(rel) AS (
             SELECT $1::regclass::oid
             UNION
             SELECT d.refobjid FROM reads
               JOIN pg_rewrite r ON r.ev_class = reads.rel
               JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                               AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> reads.rel)
         SELECT DISTINCT n.nspname::text, c.relname::text FROM reads
           JOIN pg_class c ON c.oid = reads.rel JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p', 'f', 'm') ORDER BY 1, 2",
    )
    .bind(view.sql())
    .fetch_all(ctx.pool)
    .await?;
    Ok(rows.into_iter().map(|(schema, name)| QualName { schema, name }).collect())
}

/// Reads a relation as each tenant; any row carrying another tenant fails.
async fn probe_relation(ctx: &TierContext<'_>, prober: &Prober, id: CheckId, name: &QualName, column: &str) -> Finding {
    let statement = format!("SELECT {}::text FROM {}", quote_ident(column), name.sql());
    expose(ctx, prober, id, name, statement).await
}

/// Runs `statement` as every tenant; rows whose first column (the
/// tenant) is another tenant fail.
pub(super) async fn expose(ctx: &TierContext<'_>, prober: &Prober, id: CheckId, name: &QualName, statement: String) -> Finding {
    let tier = ctx.tier();
    for tenant in &prober.tenants {
        let case = prober.case(Context::Tenant(tenant.clone()), statement.clone(), false);
        match act::run(ctx.acting_pool(), &case).await {
            Ok(Outcome::Rows(rows)) => {
                let foreign: Vec<&String> = rows.iter().filter(|r| *r != tenant).collect();
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
