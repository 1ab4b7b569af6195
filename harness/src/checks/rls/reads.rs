//! `rls.read_leak` and `rls.own_rows_hidden`: acting as tenant A, with
//! random A, table and query shape (full scan, another tenant's row by key,
//! a filter on another tenant, ORDER BY/LIMIT, count, a join along an FK),
//! every row returned belongs to A, and all of A's rows are visible.

use std::collections::HashMap;

use proptest::prelude::*;

use super::act::{self, Case, Context, Outcome, Truth, ROW_ID};
use super::property::falsify;
use super::Prober;
use crate::catalog::Table;
use crate::tenancy::TenantScope;
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::tenancy::inputs::context_inputs;

pub const READ_LEAK: CheckId = CheckId::new(
    "rls.read_leak",
    Severity::Error,
    r#"acting as tenant A (full scan, another tenant's row by key, a filter on another tenant, ORDER BY/LIMIT, count, a join along an FK), a row of another tenant is returned"#,
);
pub const OWN_ROWS_HIDDEN: CheckId = CheckId::new(
    "rls.own_rows_hidden",
    Severity::Error,
    r#"acting as tenant A, some of A's own rows are not visible"#,
);

#[derive(Debug, Clone)]
enum Shape {
    FullScan,
    OthersRowByKey,
    FilterOnOtherTenant,
    OrderByLimit,
    Count,
    /// Join to the parent of FK number n.
    JoinParent(usize),
}

pub async fn check(ctx: &TierContext<'_>, prober: &Prober, table: &Table, scope: &TenantScope, truth: &Truth) -> Vec<Finding> {
    let tier = ctx.tier();
    let owners: std::collections::BTreeSet<&String> = truth.owner.values().filter(|o| prober.tenants.contains(o)).collect();
    if owners.len() < 2 {
        let why = super::too_few_tenants(scope, truth.owner.len(), owners.len());
        return vec![READ_LEAK.skip(tier, &table.name, why.clone()), OWN_ROWS_HIDDEN.skip(tier, &table.name, why)];
    }
    let mut shapes = vec![Shape::FullScan, Shape::OthersRowByKey, Shape::FilterOnOtherTenant, Shape::OrderByLimit, Shape::Count];
    for (i, (_, fk)) in table.foreign_keys().enumerate() {
        if ctx.tenancy.scope(tier, &fk.target).is_some() {
            shapes.push(Shape::JoinParent(i));
        }
    }
    let n = prober.tenants.len();
    let strategy = (0..n, 0..n, 0..shapes.len());
    let shapes = &shapes;
    let case_of = |&(a, b, s): &(usize, usize, usize)| build(prober, table, scope, truth, a, b, &shapes[s]);
    // One connection for every case: a statement that comes again (most
    // shapes do not depend on the tenant) is prepared and planned once.
    let mut conn = match ctx.acting_pool().acquire().await {
        Ok(conn) => conn,
        Err(e) => return vec![READ_LEAK.error(tier, &table.name, format!("no connection to probe with: {e}"))],
    };

    // The positive control: a read that never returns the tenant's own rows
    // proves nothing about the others'.
    let mut saw_own = false;
    let leak = falsify(ctx.scenario.seed, &format!("read_leak/{tier}/{}", table.name), strategy.clone(), async |v| {
        let Some((case, tenant)) = case_of(&v) else { return Ok(()) };
        match act::run_on(&mut conn, &case).await {
            Ok(Outcome::Rows(seen)) => {
                // A sampled truth learns the owners of rows outside its sample as they come.
                let looked_up = truth.look_up(ctx.pool, table, scope, &seen).await.map_err(|e| format!("could not read whose rows were returned: {e}"))?;
                saw_own |= seen.iter().any(|id| owner_of(truth, &looked_up, id) == Some(&tenant));
                let foreign = foreign_rows(&case, truth, &looked_up, &seen, &tenant);
                if foreign.is_empty() { Ok(()) } else { Err(format!("{} row(s) of other tenants", foreign.len())) }
            }
            Ok(_) => Ok(()),
            Err(e) => Err(format!("probe failed: {e}")),
        }
    })
    .await;
    let hidden_strategy = (0..n, 0..n, prop_oneof![Just(0usize), Just(4usize)]);
    let hidden = falsify(ctx.scenario.seed, &format!("own_rows_hidden/{tier}/{}", table.name), hidden_strategy, async |v| {
        let Some((case, tenant)) = case_of(&v) else { return Ok(()) };
        // A sampled truth: the sampled own rows the statement names.
        let own: Vec<&String> = truth.rows_of(&tenant).take(sampled_rows(truth)).collect();
        match act::run_on(&mut conn, &case).await {
            Ok(Outcome::Rows(seen)) if case.statement.starts_with("SELECT count") => {
                let (counted, own) = (seen.first().and_then(|c| c.parse().ok()).unwrap_or(0), truth.count_of(&tenant));
                if counted >= own { Ok(()) } else { Err(format!("counts {counted} of its {own} rows")) }
            }
            Ok(Outcome::Rows(seen)) => {
                let missing = own.iter().filter(|r| !seen.contains(r)).count();
                if missing == 0 { Ok(()) } else { Err(format!("{missing} of its {} rows are not visible", own.len())) }
            }
            Ok(Outcome::Refused(refusal)) if !own.is_empty() => Err(format!("refused: {}", refusal.message)),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("probe failed: {e}")),
        }
    })
    .await;

    let mut findings = Vec::new();
    findings.push(match leak {
        None if !saw_own => READ_LEAK.skip(
            tier,
            &table.name,
            "no probe returned any of the tenant's own rows, so seeing none of the others' proves nothing (see rls.own_rows_hidden)",
        ),
        None => {
            let held = format!("{} cases: no tenant saw another's rows, each saw its own", super::property::CASES);
            let (held, sampled) = match confidence(prober, truth) {
                Some((statement, detail)) => (format!("{held}; {statement}"), Some(detail)),
                None => (held, None),
            };
            let pass = match truth.tenantless() {
                0 => READ_LEAK.pass(tier, &table.name, held),
                tenantless => READ_LEAK
                    .pass(tier, &table.name, format!("{held}; {tenantless} row(s) belong to no tenant (NULL along {}) and were left out (see orphan.tenantless)", scope.source()))
                    .detail("tenantless", tenantless),
            };
            match sampled {
                Some(detail) => pass.detail("sample", detail),
                None => pass,
            }
        }
        Some((value, reason)) => {
            let (case, tenant) = case_of(&value).expect("failing case exists");
            let seen = match act::run_on(&mut conn, &case).await.ok() {
                Some(Outcome::Rows(seen)) => seen,
                _ => Vec::new(),
            };
            let looked_up = truth.look_up(ctx.pool, table, scope, &seen).await.unwrap_or_default();
            let foreign = foreign_rows(&case, truth, &looked_up, &seen, &tenant);
            prober.failure(
                READ_LEAK,
                ctx,
                &table.name,
                format!("{}: tenant {tenant} sees {reason} ({})", table.name, case.describe()),
                case,
                foreign.len(),
                foreign.iter().take(10).map(|r| format!("{r} (tenant {})", owner_of(truth, &looked_up, r).cloned().unwrap_or_default())).collect(),
            )
        }
    });
    findings.push(match hidden {
        None => OWN_ROWS_HIDDEN.pass(tier, &table.name, "every tenant sees all of its own rows"),
        Some((value, reason)) => {
            let (case, tenant) = case_of(&value).expect("failing case exists");
            let own: Vec<String> = truth.rows_of(&tenant).take(sampled_rows(truth)).cloned().collect();
            if let Some(gate) = gated_by_input(ctx, &mut conn, &case, &tenant, &own).await {
                findings.push(OWN_ROWS_HIDDEN.pass(
                    tier,
                    &table.name,
                    format!("{reason} for tenant {tenant} without more context, and all of them with {gate}: gated within the tenant, not lost"),
                ));
                return findings;
            }
            prober.failure(
                OWN_ROWS_HIDDEN,
                ctx,
                &table.name,
                format!("{}: tenant {tenant} {reason} ({})", table.name, case.describe()),
                case,
                own.len(),
                own.into_iter().take(10).collect(),
            )
        }
    });
    findings
}

/// When the policies read more than the tenant (`app.user_role`), rows a
/// tenant cannot see may be meant for some of its users only: the first
/// `input = 'value'` under which the case shows all of `own`, if any.
async fn gated_by_input(ctx: &TierContext<'_>, conn: &mut sqlx::PgConnection, case: &Case, tenant: &str, own: &[String]) -> Option<String> {
    let inputs = context_inputs(ctx.catalog, ctx.tenancy.tier(ctx.tier())?);
    for input in &inputs {
        for value in input.values.iter().filter(|v| !ctx.scenario.tenancy.privileged(&input.name, v)) {
            let mut elevated = case.clone();
            elevated.context = Context::Elevated { tenant: tenant.to_string(), input: input.name.clone(), value: value.clone() };
            if let Ok(Outcome::Rows(seen)) = act::run_on(conn, &elevated).await {
                let counted = || seen.first().and_then(|c| c.parse::<usize>().ok()).unwrap_or(0) >= own.len();
                let all_seen = if case.statement.starts_with("SELECT count") { counted() } else { own.iter().all(|r| seen.contains(r)) };
                if all_seen {
                    return Some(format!("{} = '{value}'", input.name));
                }
            }
        }
    }
    None
}

/// Whose row `id` is: as `truth` knows, else as looked up.
fn owner_of<'a>(truth: &'a Truth, looked_up: &'a HashMap<String, String>, id: &str) -> Option<&'a String> {
    truth.owner.get(id).or_else(|| looked_up.get(id))
}

/// Rows other tenants own among those a read returned (their owners in
/// `truth`, else `looked_up`); a count compares sizes.
fn foreign_rows<'s>(case: &Case, truth: &Truth, looked_up: &HashMap<String, String>, seen: &'s [String], tenant: &str) -> Vec<&'s String> {
    if case.statement.starts_with("SELECT count") {
        let counted: usize = seen.first().and_then(|c| c.parse().ok()).unwrap_or(0);
        let visible = truth.count_of(tenant) + truth.tenantless();
        return if counted > visible { seen.iter().collect() } else { Vec::new() };
    }
    let mut foreign = truth.foreign(seen, tenant);
    foreign.extend(seen.iter().filter(|id| looked_up.get(*id).is_some_and(|o| !o.is_empty() && o != tenant)));
    foreign
}

/// On a sampled table, what the pass is worth: each probe of the sampled
/// rows names k rows of the other tenant, drawn independently of one
/// another, so a policy that shows tenant A a share p of tenant B's rows
/// goes unseen by one such probe with probability (1 - p)^k, under 5% once
/// p >= 3/k (the rule of three).
fn confidence(prober: &Prober, truth: &Truth) -> Option<(String, serde_json::Value)> {
    let sample = truth.sample.as_ref()?;
    // Over the tenants that own rows here: one with rows but none sampled is probed by key, filter and count only.
    let owners = prober.tenants.iter().filter(|t| truth.count_of(t) > 0);
    let k = owners.map(|t| truth.rows_of(t).take(PROBED_SAMPLE).count()).min()?;
    let drawn = format!(
        "probed on a sample of {} of the table's {} rows (TABLESAMPLE BERNOULLI ({}) REPEATABLE ({})), each tenant's rows counted exactly",
        truth.owner.len(),
        sample.table_rows,
        sample.percent,
        sample.seed
    );
    let statement = match k {
        0 => format!("{drawn}: some tenant with rows here has none in the sample, so no confidence is stated; raise --sample-rows"),
        k => format!(
            "{drawn}: every probe of the sampled rows names {k} or more of the other tenant's, so a policy that shows one tenant {:.1}% or more of another's rows \
             is caught by one such probe with 95% confidence",
            300.0 / k as f64
        ),
    };
    let detail = serde_json::json!({ "rows": truth.owner.len(), "table_rows": sample.table_rows, "percent": sample.percent, "seed": sample.seed, "rows_per_tenant_probed": k });
    Some((statement, detail))
}

/// Rows of each tenant a probe of a sampled table names (all rows of a
/// table read whole).
fn sampled_rows(truth: &Truth) -> usize {
    if truth.sample.is_some() { PROBED_SAMPLE } else { usize::MAX }
}

/// A probe of a sampled table names at most this many sampled rows of
/// each of its two tenants: enough that a policy showing one tenant 0.6%
/// (3/500) of another's rows is caught with 95% confidence, in a statement
/// that stays readable in a repro file.
const PROBED_SAMPLE: usize = 500;

/// Rows a shape that could return a whole table returns at most, on a sampled table.
const SAMPLED_LIMIT: usize = 100;

/// The statement for one case, acting as tenant `a` (and targeting `b`).
fn build(prober: &Prober, table: &Table, scope: &TenantScope, truth: &Truth, a: usize, b: usize, shape: &Shape) -> Option<(Case, String)> {
    let n = prober.tenants.len();
    let b = if a == b { (b + 1) % n } else { b };
    let (tenant, other) = (prober.tenants[a].clone(), &prober.tenants[b]);
    let t = table.name.sql();
    let limit = if truth.sample.is_some() { format!(" LIMIT {SAMPLED_LIMIT}") } else { String::new() };
    let statement = match shape {
        // On a sampled table: the sampled rows of both tenants, by their ctids.
        Shape::FullScan if truth.sample.is_some() => {
            let ctids: Vec<String> = [truth.ctids_of(&tenant, PROBED_SAMPLE), truth.ctids_of(other, PROBED_SAMPLE)].concat().iter().map(|c| format!("\"{c}\"")).collect();
            format!("SELECT {ROW_ID} FROM {t} WHERE ctid = ANY('{{{}}}'::tid[])", ctids.join(","))
        }
        Shape::FullScan => format!("SELECT {ROW_ID} FROM {t}"),
        Shape::OthersRowByKey => format!("SELECT {ROW_ID} FROM {t} WHERE {}", truth.by_key(other)?),
        Shape::FilterOnOtherTenant => format!(
            "SELECT {ROW_ID} FROM {t} t WHERE ({})::text = '{}'{limit}",
            scope.tenant_sql("t"),
            other.replace('\'', "''")
        ),
        Shape::OrderByLimit => format!("SELECT {ROW_ID} FROM {t} ORDER BY 1 DESC LIMIT 5"),
        Shape::Count => format!("SELECT count(*)::text FROM {t}"),
        Shape::JoinParent(i) => {
            let (constraint, fk) = table.foreign_keys().nth(*i)?;
            format!(
                "SELECT (c.tableoid::regclass::text || '/' || c.ctid::text) FROM {t} c JOIN {} p ON {}{limit}",
                fk.target.sql(),
                fk.join_on(&constraint.columns, "c", "p")
            )
        }
    };
    Some((prober.case(Context::Tenant(tenant.clone()), statement, false), tenant))
}

