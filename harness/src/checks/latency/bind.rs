//! Each iteration's parameters, drawn before timing starts (so drawing
//! costs nothing inside the measurement): a tenant to act as, then every
//! parameter for that tenant from the seeded ground truth. The draws follow
//! the run seed, so a run repeats with the same tenants and rows.

use rand::RngCore;

use crate::catalog::QualName;
use crate::checks::rls::act;
use crate::checks::TierContext;
use crate::rng::{stream, RowRng};
use crate::scenario::workload::{LatencyQuery, Param};

/// One iteration: the tenant it acts as and its parameters as text (`None`
/// is NULL), cast by the server to each parameter's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub tenant: String,
    pub args: Vec<Option<String>>,
}

/// Why a query cannot be bound on this run (its findings are skipped).
pub struct Unbound(pub String);

/// `iterations` bindings for `query`.
pub async fn bindings(ctx: &TierContext<'_>, query: &LatencyQuery) -> Result<Vec<Binding>, Unbound> {
    let tenants = act::tenants(ctx).await;
    if tenants.is_empty() {
        return Err(Unbound("no tenants to act as: nothing seeded and no tenant rows found".into()));
    }
    let needs_rows = query.params.iter().any(|p| matches!(p, Param::Row { .. }));
    if needs_rows && ctx.seeded.is_none() {
        return Err(Unbound(
            "row parameters are drawn from seeded rows, and this run seeds none (--rows 0 or an external tier)".into(),
        ));
    }
    let stream = stream(ctx.scenario.seed, &["latency", ctx.tier(), &query.name]);
    let today = chrono::Local::now().date_naive();
    let iterations = ctx.scenario.measure(query).iterations as u64;
    (0..iterations)
        .map(|i| {
            let mut rng = RowRng::new(stream, i);
            let tenant = rng.next_u64() as usize % tenants.len();
            let mut args = Vec::new();
            for param in &query.params {
                match param {
                    Param::Tenant => args.push(Some(tenants[tenant].clone())),
                    Param::Value(v) => args.push(Some(v.clone())),
                    Param::DateRange(days) => {
                        let end = today - chrono::Days::new(rng.next_u64() % *days as u64);
                        args.push(Some((end - chrono::Days::new(*days as u64)).to_string()));
                        args.push(Some(end.to_string()));
                    }
                    Param::Row { schema, table, column } => {
                        let table = QualName { schema: schema.clone(), name: table.clone() };
                        args.push(row_value(ctx, &table, column, &tenants[tenant], rng.next_u64())?);
                    }
                }
            }
            Ok(Binding { tenant: tenants[tenant].clone(), args })
        })
        .collect()
}

/// `column` of a seeded row of `tenant` in `table`: the first one owned by
/// the tenant from a drawn starting row on.
fn row_value(
    ctx: &TierContext<'_>,
    table: &QualName,
    column: &str,
    tenant: &str,
    draw: u64,
) -> Result<Option<String>, Unbound> {
    let seeded = ctx.seeded.expect("checked by the caller");
    let tier = ctx.tier();
    let owner = seeded.tenants(tier).iter().position(|t| t == tenant);
    let rows = seeded.rows(tier, table);
    let start = if rows == 0 { 0 } else { draw % rows };
    (0..rows)
        .map(|k| (start + k) % rows)
        .find(|&row| owner.is_some() && seeded.owner(tier, table, row) == owner)
        .map(|row| seeded.value(tier, table, row, column))
        .ok_or_else(|| Unbound(format!("tenant {tenant} has no seeded row in {table} to bind a parameter from")))
}
