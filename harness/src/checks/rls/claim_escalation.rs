//! `rls.claim_escalation`: policies that read more than the tenant from the
//! context (`app.user_role`, `app.is_admin`, a JWT claim such as
//! `user_metadata.is_admin`) open other tenants' rows to whoever sets it.
//! Acting as each tenant in turn (up to `ACTING_TENANTS`: a policy may
//! open rows only for some tenants, `... OR (role = 'partner' AND tenant_id
//! = ANY (partners))`), each such setting or claim is set to each value the
//! policies compare it with (and `true`), and every table is read; the
//! writes (the write probes' ways, judged by their effect, heavier) act as
//! one tenant per value, in rotation. A combination under which a tenant
//! sees or changes another tenant's rows is reported, naming the input and
//! value, the tenants it opened rows to, and the tables it opens.
//! Only rows beyond those the tenant sees without the input count, and
//! only tables where the plain write probe held (the rest are
//! `rls.read_leak`'s and `rls.write_leak`'s). Combinations the scenario declares in `[tenancy.privileged]` (a
//! platform admin) are reported as `info` passes, listing what they open;
//! any other fails.

use super::act::{self, Case, Context, Outcome, Truth, ROW_ID};
use super::effect::{Ledger, Observed};
use super::{writes, Prober};
use crate::catalog::Table;
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::tenancy::inputs::context_inputs;
use crate::tenancy::TenantScope;

pub const CLAIM_ESCALATION: CheckId = CheckId::new(
    "rls.claim_escalation",
    Severity::Error,
    r#"acting as tenant A with one more setting or JWT claim the policies read (`app.user_role`, `app.is_admin`, `user_metadata.is_admin`) set to a value they compare it with (or `true`), rows of other tenants beyond those A sees anyway become visible, or a write (the write probes' ways, TRUNCATE aside) changes, adds or removes them where the plain write probe held; the object names the input and value (`app.user_role=supervisor`), `details.tables` what it opens and `details.writes` the writes. Values declared in `[tenancy.privileged]` are `info` passes listing what they open"#,
);

/// Tenants acting with each value for the reads: enough to see a policy
/// that opens rows to some tenants only, few enough on a server holding
/// many.
const ACTING_TENANTS: usize = 8;

/// What one input value opened in one table: other tenants' rows read
/// (beyond those the tenant sees anyway) or changed by a write, the tenant
/// acting, and the first case that showed it.
struct Opening {
    table: String,
    tenant: String,
    /// `read`, or the kind of write (`update by key`, ...).
    how: &'static str,
    rows: usize,
    case: Case,
}

/// The tables (`schema.table`) where the plain write probe already leaks:
/// a write there proves nothing about the input.
pub type WriteLeaking = std::collections::BTreeSet<String>;

#[allow(clippy::too_many_arguments)]
pub async fn check(
    ctx: &TierContext<'_>,
    prober: &Prober,
    tables: &[(&Table, &TenantScope, Truth)],
    ledger: &Ledger,
    copies: &[Observed],
    write_leaking: &WriteLeaking,
) -> Vec<Finding> {
    let tier = ctx.tier();
    let Some(tenancy) = ctx.tenancy.tier(tier) else { return Vec::new() };
    let inputs = context_inputs(ctx.catalog, tenancy);
    if inputs.is_empty() {
        return vec![CLAIM_ESCALATION.pass(tier, "*", "the policies read no setting or claim besides the tenant")];
    }
    let acting = &prober.tenants[..prober.tenants.len().min(ACTING_TENANTS)];
    // Other tenants' rows each tenant sees plainly (rls.read_leak's
    // finding), per table: an input opens only rows beyond those.
    let mut seen_plainly = Vec::new();
    for (table, _, truth) in tables {
        let mut per_tenant = Vec::new();
        for tenant in acting {
            let plain = prober.case(Context::Tenant(tenant.clone()), format!("SELECT {ROW_ID} FROM {}", table.name.sql()), false);
            per_tenant.push(match act::run(ctx.acting_pool(), &plain).await {
                Ok(Outcome::Rows(seen)) => truth.foreign(&seen, tenant).len(),
                Ok(_) => 0,
                Err(e) => return vec![CLAIM_ESCALATION.error(tier, &table.name, format!("probe failed: {e}"))],
            });
        }
        seen_plainly.push(per_tenant);
    }
    // What each table's writes need, read once for every input value: the
    // rows other rows hold. None where no write is tried (an external
    // server, or the plain write probe already leaks there).
    let mut held = Vec::new();
    for (table, _, _) in tables {
        held.push(match ctx.read_only || write_leaking.contains(&table.name.to_string()) {
            true => None,
            false => match writes::held_by_children(ctx, table).await {
                Ok(rows) => Some(rows),
                Err(e) => return vec![CLAIM_ESCALATION.error(tier, &table.name, format!("could not read which rows other rows hold: {e}"))],
            },
        });
    }
    let mut findings = Vec::new();
    let (mut reads, mut writes) = (0, 0);
    let combinations = inputs.iter().flat_map(|input| input.values.iter().map(move |value| (input, value)));
    for (k, (input, value)) in combinations.enumerate() {
        let mut opened = Vec::new();
        for (((table, scope, truth), seen_plainly), held) in tables.iter().zip(&seen_plainly).zip(&held) {
            for (tenant, seen_plainly) in acting.iter().zip(seen_plainly) {
                let context = Context::Elevated { tenant: tenant.clone(), input: input.name.clone(), value: value.clone() };
                let case = prober.case(context, format!("SELECT {ROW_ID} FROM {}", table.name.sql()), false);
                reads += 1;
                match act::run(ctx.acting_pool(), &case).await {
                    Ok(Outcome::Rows(seen)) => {
                        let foreign = truth.foreign(&seen, tenant).len().saturating_sub(*seen_plainly);
                        if foreign > 0 {
                            opened.push(Opening { table: table.name.to_string(), tenant: tenant.clone(), how: "read", rows: foreign, case });
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return vec![CLAIM_ESCALATION.error(tier, &table.name, format!("probe failed: {e}"))],
                }
            }
            let Some(held) = held else { continue };
            writes += 1;
            if let Some(write) = writes::escalated(ctx, prober, table, scope, truth, held, ledger, copies, k, (&input.name, value)).await {
                opened.push(Opening { table: table.name.to_string(), tenant: write.actor, how: write.kind, rows: write.rows, case: write.case });
            }
        }
        if !opened.is_empty() {
            findings.push(finding(ctx, prober, &input.name, value, opened));
        }
    }
    if findings.is_empty() {
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        findings.push(CLAIM_ESCALATION.pass(
            tier,
            "*",
            format!(
                "{reads} read(s) as {} tenant(s) and {writes} table(s) written: no value the policies compare {} with opens another tenant's rows",
                acting.len(),
                names.join(", ")
            ),
        ));
    }
    findings
}

fn finding(ctx: &TierContext<'_>, prober: &Prober, input: &str, value: &str, opened: Vec<Opening>) -> Finding {
    let object = format!("{input}={value}");
    let mut tables: Vec<String> = opened.iter().map(|o| o.table.clone()).collect();
    tables.dedup();
    let mut tenants: Vec<String> = opened.iter().map(|o| o.tenant.clone()).collect();
    tenants.sort();
    tenants.dedup();
    let written: Vec<String> = opened.iter().filter(|o| o.how != "read").map(|o| format!("{}: {}", o.table, o.how)).collect();
    let rows: usize = opened.iter().map(|o| o.rows).sum();
    let what: Vec<String> = opened
        .iter()
        .map(|o| match o.how {
            "read" => format!("{} read in {} as {}", o.rows, o.table, o.tenant),
            how => format!("{} changed by {how} in {} as {}", o.rows, o.table, o.tenant),
        })
        .collect();
    let declared = ctx.scenario.tenancy.privileged(input, value);
    let case = opened.into_iter().next().expect("something was opened").case;
    let message = format!("acting as tenant {} with {input} = '{value}', rows of other tenants are reached: {}", tenants.join(", "), what.join("; "));
    let mut finding = if declared {
        // Intended: what it opens is said, as information, and holds.
        let mut f = CLAIM_ESCALATION.pass(ctx.tier(), &object, format!("{message} (declared in [tenancy.privileged]: an intended cross-tenant role)"));
        f.severity = Severity::Info;
        f
    } else {
        prober.failure(
            CLAIM_ESCALATION,
            ctx,
            &object,
            format!("{message}: whoever can set {input} reaches every tenant (declare it in [tenancy.privileged] if intended)"),
            case,
            rows,
            Vec::new(),
        )
    };
    finding = finding.detail("tables", tables).detail("writes", written).detail("input", input).detail("value", value).detail("tenants", tenants);
    finding
}
