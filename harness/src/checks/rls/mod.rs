//! Tenant isolation. The catalog checks read RLS flags, policies, owners
//! and grants; the probes then act as each tenant on the seeded rows and
//! compare what they see and change with who owns what (the ground truth).

pub mod act;
mod context_bleed;
mod definer;
mod disabled;
mod existence_oracle;
mod exposure;
mod no_policy;
mod not_forced;
mod privileged_role;
mod property;
mod reads;
mod unset_context;
mod writes;

use super::{CheckId, Finding, Repro, TierContext};
use act::{Actor, Case, Context};

/// Ids of the probes, for the `skip` findings when probing is impossible.
const PROBES: [CheckId; 10] = [
    reads::READ_LEAK,
    reads::OWN_ROWS_HIDDEN,
    writes::WRITE_LEAK,
    unset_context::UNSET_CONTEXT,
    context_bleed::CONTEXT_BLEED,
    exposure::VIEW_BYPASS,
    exposure::MATVIEW_EXPOSED,
    exposure::PARTITION_BYPASS,
    definer::DEFINER_BYPASS,
    existence_oracle::EXISTENCE_ORACLE,
];

pub async fn run(ctx: &TierContext<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.extend(disabled::check(ctx));
    findings.extend(not_forced::check(ctx));
    findings.extend(no_policy::check(ctx));
    findings.extend(privileged_role::check(ctx));
    findings.extend(probe(ctx).await);
    findings
}

/// What the probes of one tier share: who to act as, and how.
pub struct Prober {
    pub actor: Actor,
    pub tenants: Vec<String>,
}

impl Prober {
    pub fn case(&self, context: Context, statement: String, write: bool) -> Case {
        Case {
            actor: self.actor.clone(),
            context,
            statement,
            write,
        }
    }

    /// A failing finding with its minimal case, ready for a repro file.
    #[allow(clippy::too_many_arguments)]
    pub fn failure(
        &self,
        id: CheckId,
        ctx: &TierContext<'_>,
        object: impl std::fmt::Display,
        message: String,
        case: Case,
        count: usize,
        samples: Vec<String>,
    ) -> Finding {
        let mut finding = id
            .fail(ctx.tier(), object, message)
            .detail("count", count)
            .detail("samples", samples)
            .detail("statement", case.statement.clone())
            .detail("context", serde_json::to_value(&case.context).unwrap_or_default());
        finding.repro = Some(Repro {
            seed: ctx.scenario.seed,
            file: None,
            command: String::new(),
        });
        finding.case = Some(Box::new(case));
        finding
    }
}

async fn probe(ctx: &TierContext<'_>) -> Vec<Finding> {
    let tier = ctx.tier();
    let skip_all = |why: &str| PROBES.iter().map(|id| id.skip(tier, "*", why)).collect::<Vec<_>>();
    let Some(actor) = Actor::of(ctx) else {
        return skip_all("no application role or tenant setting given or inferred (--app-role, --tenant-guc)");
    };
    if ctx.tenancy.scoped_tables(ctx.catalog).next().is_none() {
        return Vec::new();
    }
    let tenants = act::tenants(ctx).await;
    if tenants.len() < 2 {
        return skip_all("fewer than two tenants have rows: nothing can leak between them (seed with --tenants 2 or more)");
    }
    let prober = Prober { actor, tenants };
    let mut findings = Vec::new();
    for (table, scope) in ctx.tenancy.scoped_tables(ctx.catalog) {
        if !exposure::readable(ctx, &prober, table) {
            continue; // nothing granted: rls.no_policy and the catalog checks speak for it
        }
        findings.extend(reads::check(ctx, &prober, table, scope).await);
        findings.push(writes::check(ctx, &prober, table, scope).await);
        findings.push(unset_context::check(ctx, &prober, table, scope).await);
        findings.push(existence_oracle::check(ctx, &prober, table, scope).await);
    }
    findings.push(context_bleed::check(ctx, &prober).await);
    findings.extend(exposure::check(ctx, &prober).await);
    findings.extend(definer::check(ctx, &prober).await);
    findings
}
