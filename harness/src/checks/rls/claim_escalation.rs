//! `rls.claim_escalation`: policies that read more than the tenant from the
//! context (`app.user_role`, `app.is_admin`, a JWT claim such as
//! `user_metadata.is_admin`) open other tenants' rows to whoever sets it.
//! Acting as tenant A, each such setting or claim is set in turn to each
//! value the policies compare it with (and `true`), and every table is
//! read: a combination under which A sees another tenant's rows is
//! reported, naming the input and value and listing the tables it opens.
//! Only rows beyond those the tenant sees without the input count (those
//! are `rls.read_leak`'s). Combinations the scenario declares in `[tenancy.privileged]` (a
//! platform admin) are reported as `info` passes, listing what they open;
//! any other fails.

use std::collections::BTreeMap;

use super::act::{self, Case, Context, Outcome, Truth, ROW_ID};
use super::Prober;
use crate::catalog::Table;
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::tenancy::inputs::context_inputs;
use crate::tenancy::TenantScope;

pub const CLAIM_ESCALATION: CheckId = CheckId::new(
    "rls.claim_escalation",
    Severity::Error,
    r#"acting as tenant A with one more setting or JWT claim the policies read (`app.user_role`, `app.is_admin`, `user_metadata.is_admin`) set to a value they compare it with (or `true`), rows of other tenants beyond those A sees anyway become visible; the object names the input and value (`app.user_role=supervisor`), `details.tables` what it opens. Values declared in `[tenancy.privileged]` are `info` passes listing what they open"#,
);

/// What one input value opened: table → rows of other tenants seen, and
/// the first case that showed it.
type Opened = BTreeMap<String, (usize, Case)>;

pub async fn check(ctx: &TierContext<'_>, prober: &Prober, tables: &[(&Table, &TenantScope, Truth)]) -> Vec<Finding> {
    let tier = ctx.tier();
    let Some(tenancy) = ctx.tenancy.tier(tier) else { return Vec::new() };
    let inputs = context_inputs(ctx.catalog, tenancy);
    if inputs.is_empty() {
        return vec![CLAIM_ESCALATION.pass(tier, "*", "the policies read no setting or claim besides the tenant")];
    }
    let tenant = prober.tenants[0].clone();
    // Each table's ground truth, and the other tenants' rows the tenant
    // sees plainly (rls.read_leak's finding): an input opens only rows
    // beyond those.
    let mut truths = Vec::new();
    for (table, _, truth) in tables {
        let plain = prober.case(Context::Tenant(tenant.clone()), format!("SELECT {ROW_ID} FROM {}", table.name.sql()), false);
        let seen_plainly = match act::run(ctx.acting_pool(), &plain).await {
            Ok(Outcome::Rows(seen)) => truth.foreign(&seen, &tenant).len(),
            Ok(_) => 0,
            Err(e) => return vec![CLAIM_ESCALATION.error(tier, &table.name, format!("probe failed: {e}"))],
        };
        truths.push((table, truth, seen_plainly));
    }
    let mut findings = Vec::new();
    let mut tried = 0;
    for input in &inputs {
        for value in &input.values {
            let mut opened = Opened::new();
            for (table, truth, seen_plainly) in &truths {
                let context = Context::Elevated { tenant: tenant.clone(), input: input.name.clone(), value: value.clone() };
                let case = prober.case(context, format!("SELECT {ROW_ID} FROM {}", table.name.sql()), false);
                tried += 1;
                match act::run(ctx.acting_pool(), &case).await {
                    Ok(Outcome::Rows(seen)) => {
                        let foreign = truth.foreign(&seen, &tenant).len().saturating_sub(*seen_plainly);
                        if foreign > 0 {
                            opened.insert(table.name.to_string(), (foreign, case));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return vec![CLAIM_ESCALATION.error(tier, &table.name, format!("probe failed: {e}"))],
                }
            }
            if !opened.is_empty() {
                findings.push(finding(ctx, prober, &input.name, value, &tenant, opened));
            }
        }
    }
    if findings.is_empty() {
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        findings.push(CLAIM_ESCALATION.pass(
            tier,
            "*",
            format!("{tried} case(s): no value the policies compare {} with opens another tenant's rows", names.join(", ")),
        ));
    }
    findings
}

fn finding(ctx: &TierContext<'_>, prober: &Prober, input: &str, value: &str, tenant: &str, opened: Opened) -> Finding {
    let object = format!("{input}={value}");
    let tables: Vec<String> = opened.keys().cloned().collect();
    let rows: usize = opened.values().map(|(n, _)| n).sum();
    let declared = ctx.scenario.tenancy.privileged(input, value);
    let (_, (_, case)) = opened.into_iter().next().expect("something was opened");
    let message = format!(
        "acting as tenant {tenant} with {input} = '{value}', {rows} row(s) of other tenants are visible in {}",
        tables.join(", ")
    );
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
            format!("{message}: whoever can set {input} reads every tenant (declare it in [tenancy.privileged] if intended)"),
            case,
            rows,
            Vec::new(),
        )
    };
    finding = finding.detail("tables", tables).detail("input", input).detail("value", value);
    finding
}
