//! Tenant isolation. The catalog checks read RLS flags, policies, owners
//! and grants; the probes then act as each tenant on the seeded rows and
//! compare what they see and change with who owns what (the ground truth).

pub mod act;
mod canary;
mod claim_escalation;
mod context_bleed;
mod definer;
mod definer_search_path;
mod disabled;
pub mod effect;
mod existence_oracle;
mod exposure;
mod membership;
mod no_policy;
mod not_forced;
mod privileged_role;
pub mod probe_log;
mod property;
mod reads;
mod unset_context;
mod writes;

use futures::stream::{self, StreamExt};

use super::{timed, CheckId, Finding, Repro, TierContext};
use crate::tenancy::TenantScope;
use act::{Actor, Case, Context, Truth};

/// The checks of this family, in the order the docs list them.
pub const CHECKS: &[crate::checks::CheckId] = &[
    disabled::ID,
    not_forced::ID,
    no_policy::ID,
    privileged_role::ID,
    reads::READ_LEAK,
    reads::OWN_ROWS_HIDDEN,
    writes::WRITE_LEAK,
    unset_context::UNSET_CONTEXT,
    claim_escalation::CLAIM_ESCALATION,
    membership::MEMBERSHIP,
    context_bleed::CONTEXT_BLEED,
    exposure::VIEW_BYPASS,
    exposure::MATVIEW_EXPOSED,
    exposure::PARTITION_BYPASS,
    definer::DEFINER_BYPASS,
    definer_search_path::DEFINER_SEARCH_PATH,
    existence_oracle::EXISTENCE_ORACLE,
    canary::CANARY_LEAK,
];

/// Ids of the probes, for the `skip` findings when probing is impossible.
const PROBES: [CheckId; 12] = [
    claim_escalation::CLAIM_ESCALATION,
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
    canary::CANARY_LEAK,
];

pub async fn run(ctx: &TierContext<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.extend(disabled::check(ctx));
    findings.extend(not_forced::check(ctx));
    findings.extend(no_policy::check(ctx));
    findings.extend(privileged_role::check(ctx));
    findings.extend(definer_search_path::check(ctx));
    findings.extend(probe(ctx).await);
    // Said once per table, not as a pass: whose rows they are is unknown.
    findings.extend(
        ctx.tenancy
            .unscoped()
            .iter()
            .filter(|t| t.tier == ctx.tier() && t.class == crate::tenancy::Class::Unknown)
            .map(|t| reads::READ_LEAK.skip(ctx.tier(), &t.table, format!("not probed: tenancy unknown: {}", t.why))),
    );
    findings
}

/// Why a table's rows cannot be probed across tenants: fewer than two
/// tenants own rows there, as tierguard reads the tenant. When the table
/// has rows, that reading may be wrong, and the message says how to fix it.
pub fn too_few_tenants(scope: &TenantScope, rows: usize, tenants: usize) -> String {
    if rows == 0 {
        return "the table is empty: a cross-tenant probe needs rows of two tenants (seed with --rows, or add fixed rows)".into();
    }
    let read_from = scope.source();
    format!(
        "{rows} row(s), owned by {tenants} tenant(s) as tierguard reads the tenant ({read_from}): \
         a cross-tenant probe needs two. If the tenant lives elsewhere, declare it ([tenancy] column, [tenancy.paths]); else seed with --tenants 2 or more"
    )
}

/// Why nothing can be probed without an application role or setting.
pub const NO_ACTOR: &str = "no application role or tenant setting was given or could be inferred: pass --app-role NAME (the role the application logs in as) and --tenant-guc NAME (the setting its policies read)";

/// Tables whose read probes run at once on a tier (each holds one pooled
/// connection; the writing probes use one more): the application pool's
/// size follows from it (`login`).
pub(crate) const CONCURRENT_READERS: usize = 3;

/// What the probes of one tier share: who to act as, and how.
pub struct Prober {
    pub actor: Actor,
    pub tenants: Vec<String>,
    /// Membership model: the users the membership probes act as.
    pub members: Option<membership::Users>,
}

impl Prober {
    pub fn case(&self, context: Context, statement: String, write: bool) -> Case {
        Case {
            actor: self.actor.clone(),
            context,
            statement,
            write,
            setup: Vec::new(),
            observe: None,
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
    if ctx.tenancy.scoped_tables(ctx.catalog).next().is_none() {
        return Vec::new();
    }
    let Some(actor) = ctx.actor.cloned() else {
        // One finding for the tier, not one per probe and table: the cause is one.
        return vec![reads::READ_LEAK.error(tier, "*", format!("{}; no isolation probe ran on this tier", NO_ACTOR))];
    };
    let tenants = act::tenants(ctx).await;
    if tenants.len() < 2 {
        return skip_all("fewer than two tenants have rows: nothing can leak between them (seed with --tenants 2 or more)");
    }
    // Membership: a tenant is acted for by a user that is a member of it alone.
    let tenants: Vec<String> = tenants.into_iter().filter(|t| actor.can_act_for(t)).collect();
    if tenants.len() < 2 {
        return skip_all(&format!(
            "fewer than two tenants have a user that is a member of that tenant alone ({}): no user can act for one tenant",
            ctx.tenancy.model(tier)
        ));
    }
    let members = membership::Users::read(ctx).await;
    let prober = Prober { actor, tenants, members };
    // Writes are judged against the committed rows of every tenant table,
    // read once: every probe is rolled back.
    // Tables outside the tenancy that hold copies of tenants' rows (by
    // their canary markers) are observed too: a write is judged by what it
    // did to other tenants' data wherever it lives.
    let copies = match canary::copies(ctx).await {
        Ok(copies) => copies,
        Err(e) => return vec![writes::WRITE_LEAK.error(tier, "*", format!("could not find the copies of tenant rows: {e}"))],
    };
    let mut observed: Vec<effect::Observed> = ctx.tenancy.scoped_tables(ctx.catalog).map(|(t, s)| effect::Observed::new(t, s)).collect();
    observed.extend(copies.iter().cloned());
    let ledger = if ctx.read_only {
        effect::Ledger::default()
    } else {
        match effect::Ledger::read(ctx.pool, &observed).await {
            Ok(ledger) => ledger,
            Err(e) => return vec![writes::WRITE_LEAK.error(tier, "*", format!("could not read the ground truth: {e}"))],
        }
    };
    let ledger = &ledger;
    // Tables with nothing granted are left to rls.no_policy and the catalog
    // checks. Each table's ground truth is read once for every probe: they
    // roll back what they write, so the committed rows stay as read.
    let granted: Vec<_> = ctx
        .tenancy
        .scoped_tables(ctx.catalog)
        .filter(|(table, _)| exposure::readable(ctx, &prober, table))
        .collect();
    let truths = stream::iter(&granted)
        .map(|&(table, scope)| Truth::read(ctx.pool, table, scope, &ctx.scenario.certification, ctx.scenario.seed))
        .buffered(CONCURRENT_READERS)
        .collect::<Vec<_>>()
        .await;
    let mut findings = Vec::new();
    let mut tables = Vec::new();
    for (&(table, scope), truth) in granted.iter().zip(truths) {
        match truth {
            Ok(truth) => tables.push((table, scope, truth)),
            Err(e) => findings.push(reads::READ_LEAK.error(tier, &table.name, format!("could not read the ground truth, so no probe ran on it: {e}"))),
        }
    }
    // Reads take no row locks and see only committed rows, so the read
    // probes of several tables run at once, beside the writing ones. The
    // writing probes stay one at a time: rolled-back writes to two tables
    // can still wait on (or deadlock with) each other's row locks through
    // FKs, cascades and triggers, and outcomes would depend on timing.
    let reading = stream::iter(&tables)
        .map(|(table, scope, truth)| timed(reads::check(ctx, &prober, table, scope, truth)))
        .buffered(CONCURRENT_READERS)
        .collect::<Vec<_>>();
    let writing = async {
        let mut per_table = Vec::new();
        for (table, scope, truth) in &tables {
            let mut findings = timed(writes::check(ctx, &prober, table, scope, truth, ledger, &copies)).await;
            findings.extend(timed(unset_context::check(ctx, &prober, table, scope)).await);
            findings.extend(timed(existence_oracle::check(ctx, &prober, table, scope)).await);
            if let Some(users) = &prober.members {
                findings.extend(timed(membership::check(ctx, &prober, users, table, truth)).await);
            }
            per_table.push(findings);
        }
        per_table
    };
    let (read, written) = futures::join!(reading, writing);
    for (read, written) in read.into_iter().zip(written) {
        findings.extend(read);
        findings.extend(written);
    }
    findings.extend(timed(context_bleed::check(ctx, &prober)).await);
    let write_leaking: claim_escalation::WriteLeaking =
        findings.iter().filter(|f| f.check == writes::WRITE_LEAK.id && f.status == crate::verdict::Status::Fail).map(|f| f.object.clone()).collect();
    findings.extend(timed(claim_escalation::check(ctx, &prober, &tables, ledger, &copies, &write_leaking)).await);
    findings.extend(timed(exposure::check(ctx, &prober)).await);
    findings.extend(timed(definer::check(ctx, &prober, &observed, ledger)).await);
    // Last: its notification probe commits a write (see canary::notify).
    findings.extend(timed(canary::check(ctx, &prober)).await);
    findings
}
