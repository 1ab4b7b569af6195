//! `rls.write_leak`: acting as tenant A, no statement may change another
//! tenant's rows. Every way a statement reaches rows is tried, simplest
//! first: insert a row of B; update one of B's rows by key, and every row
//! with a WHERE that reads no column (PostgreSQL adds the SELECT policy
//! only when a statement reads columns); move one of A's rows to B (its
//! references move with it, or a composite foreign key refuses the move
//! before any policy is asked); `INSERT ... ON CONFLICT DO UPDATE` and
//! `MERGE` on B's key; delete by key and unqualified; and TRUNCATE, which
//! ignores row level security altogether.
//!
//! Each write is judged by its effect on the other tenants' rows (see
//! `effect`), never by whether it was accepted, and a way counts as proven
//! only when its positive control held: A made the same kind of write to
//! its own rows. A constraint that refuses a write (a foreign key, a CHECK)
//! is set aside inside the probe's transaction and the write tried again;
//! when something else still refuses it, the verdict says so instead of
//! passing.

mod refusals;
mod statements;

use std::collections::HashSet;
use std::fmt::Write as _;

use refusals::{by_policy, refused_by, set_aside, MAX_SET_ASIDE};
use crate::sql::sqlstate::FEATURE_NOT_SUPPORTED;
pub use statements::insert_row;
use statements::{Kind, KINDS};

use super::act::{Context, Outcome, Truth};
use super::effect::{self, Change, Effect, Ledger, Observed};
use super::Prober;
use crate::catalog::{Command, RefAction, Table};
use crate::sql::quote_ident;
use crate::tenancy::TenantScope;
use crate::checks::{CheckId, Finding, Severity, TierContext};

pub const WRITE_LEAK: CheckId = CheckId::new(
    "rls.write_leak",
    Severity::Error,
    r#"acting as A, a write changes, adds or removes rows of B: insert a row of B; update B's row by key, or every row with a WHERE that reads no column (PostgreSQL adds the SELECT policy only when a statement reads columns); move A's rows to B by key and unqualified (the row's references move with it); `INSERT ... ON CONFLICT DO UPDATE` and `MERGE` on B's key; delete by key and unqualified; or TRUNCATE granted to the app role (directly, through a role it belongs to, or by `GRANT ALL`), which ignores row level security. B's rows are watched in the table and in every table outside the tenancy that holds copies of tenant rows (recognised by their canary markers), also when A writes only its own rows (a trigger rewriting B's copy). See [Write probes](#write-probes)"#,
);

/// What one way of writing came to.
#[derive(Debug)]
enum Verdict {
    /// The app role lacks the privilege: the path does not exist.
    NotGranted,
    /// No statement of this kind can be made for the table (and why).
    NotApplicable(&'static str),
    /// Another tenant's rows changed.
    Leak(Box<Leak>),
    /// A's own write went through and B's rows held.
    Proven,
    /// A's own rows cannot be written this way either (a policy refuses):
    /// nothing shows the policies hold.
    Closed(String),
    /// The cross-tenant write was refused by something other than a
    /// policy, and setting it aside did not help.
    Inconclusive(String),
    /// A's own write failed for a reason other than a policy.
    Broken(String),
}

#[derive(Debug)]
struct Leak {
    case: super::act::Case,
    actor: String,
    changes: Vec<Change>,
    observed: Observed,
    /// What else the message must say (TRUNCATE granted but refused).
    note: Option<String>,
}

/// `copies`: tables outside the tenancy holding tenants' data (see
/// `canary::copies`), observed beside the table itself.
pub async fn check(
    ctx: &TierContext<'_>,
    prober: &Prober,
    table: &Table,
    scope: &TenantScope,
    truth: &Truth,
    ledger: &Ledger,
    copies: &[Observed],
) -> Finding {
    let tier = ctx.tier();
    if ctx.read_only {
        return WRITE_LEAK.skip(tier, &table.name, "external server: write probes are not run, even rolled back");
    }
    let observed = Observed::new(table, scope);
    let with_rows = with_rows(prober, ledger, table);
    if with_rows.len() < 2 {
        return WRITE_LEAK.skip(tier, &table.name, super::too_few_tenants(scope, ledger.tally(&table.name).rows(), with_rows.len()));
    }
    let held = match held_by_children(ctx, table).await {
        Ok(held) => held,
        Err(e) => return WRITE_LEAK.error(tier, &table.name, format!("could not read which rows other rows hold: {e}")),
    };
    let writer = Writer {
        ctx,
        prober,
        table,
        scope,
        truth,
        held: &held,
        observed: &observed,
        copies,
        ledger,
        pairs: pairs(ctx, table, &with_rows),
        elevation: None,
    };
    let mut verdicts = Vec::new();
    for kind in KINDS {
        let verdict = writer.verdict(kind).await;
        let leaked = matches!(verdict, Verdict::Leak(_));
        verdicts.push((kind, verdict));
        if leaked {
            break; // the first leak, in order of simplicity, is the minimal case
        }
    }
    writer.finding(verdicts).await
}

/// A write that changes another tenant's rows only with one more setting
/// or claim set (`rls.claim_escalation`).
pub struct Escalated {
    /// The tenant that wrote.
    pub actor: String,
    pub kind: &'static str,
    /// Other tenants' rows the write changed, added or removed.
    pub rows: usize,
    pub case: super::act::Case,
}

/// Acting as a tenant with rows (the `turn`th, in rotation, on the next
/// one's rows) and `input` = `value`, the first way of writing (in the order of the plain probes; TRUNCATE aside, a
/// grant no claim changes) that changes another tenant's rows, judged by
/// effect as the plain probes are; None when no way leaked (a way that
/// proves nothing under the input, say the tenant's own write failing on
/// a policy that casts an unset setting, is no leak either). `held`: the
/// table's [`held_by_children`]. Callers leave out tables where the plain
/// probe already leaks, and external servers.
#[allow(clippy::too_many_arguments)]
pub async fn escalated(
    ctx: &TierContext<'_>,
    prober: &Prober,
    table: &Table,
    scope: &TenantScope,
    truth: &Truth,
    held: &HashSet<String>,
    ledger: &Ledger,
    copies: &[Observed],
    turn: usize,
    (input, value): (&str, &str),
) -> Option<Escalated> {
    let with_rows = with_rows(prober, ledger, table);
    if with_rows.len() < 2 {
        return None;
    }
    let (actor, victim) = (with_rows[turn % with_rows.len()], with_rows[(turn + 1) % with_rows.len()]);
    let observed = Observed::new(table, scope);
    let writer = Writer {
        ctx,
        prober,
        table,
        scope,
        truth,
        held,
        observed: &observed,
        copies,
        ledger,
        pairs: vec![(actor, victim)],
        elevation: Some((input, value)),
    };
    for kind in KINDS.into_iter().filter(|k| *k != Kind::Truncate) {
        if let Verdict::Leak(leak) = writer.verdict(kind).await {
            return Some(Escalated { actor: prober.tenants[actor].clone(), kind: kind.describe(), rows: changed_rows(&leak.changes), case: leak.case });
        }
    }
    None
}

/// The acting tenants (by index) that have rows in `table`.
fn with_rows(prober: &Prober, ledger: &Ledger, table: &Table) -> Vec<usize> {
    let tally = ledger.tally(&table.name);
    let present: Vec<&String> = tally.tenants().collect();
    (0..prober.tenants.len()).filter(|&i| present.contains(&&prober.tenants[i])).collect()
}

/// Tenant pairs (actor, victim) by index: the first two tenants with rows
/// (the minimal case), and one more drawn from the run seed.
fn pairs(ctx: &TierContext<'_>, table: &Table, with_rows: &[usize]) -> Vec<(usize, usize)> {
    let mut pairs = vec![(with_rows[0], with_rows[1])];
    if with_rows.len() > 2 {
        let draw = crate::rng::stream(ctx.scenario.seed, &["write_leak", ctx.tier(), &table.name.to_string()]);
        let n = with_rows.len() as u64;
        let a = (draw % n) as usize;
        let b = (a + 1 + ((draw / n) % (n - 1)) as usize) % with_rows.len();
        if (with_rows[a], with_rows[b]) != pairs[0] {
            pairs.push((with_rows[a], with_rows[b]));
        }
    }
    pairs
}

/// Rows of `table` that a foreign key refusing deletes (RESTRICT or NO
/// ACTION) holds: a row a child still references cannot be deleted by
/// anyone, so a delete probe aimed at it proves nothing either way. Which
/// rows those are depends on the seed only; the first row by physical
/// position would also depend on the server version.
pub async fn held_by_children(ctx: &TierContext<'_>, table: &Table) -> Result<HashSet<String>, sqlx::Error> {
    let mut held = HashSet::new();
    for child in &ctx.catalog.tables {
        let holding = child.constraints.iter().filter_map(|c| Some((&c.columns, c.foreign_key.as_ref()?))).filter(|(_, fk)| {
            fk.target == table.name && matches!(fk.on_delete, RefAction::Restrict | RefAction::NoAction)
        });
        for (columns, fk) in holding {
            let pairs: Vec<String> = columns
                .iter()
                .zip(&fk.target_columns)
                .map(|(c, t)| format!("c.{} = t.{}", quote_ident(c), quote_ident(t)))
                .collect();
            let sql = format!(
                "SELECT {} FROM {} t WHERE EXISTS (SELECT 1 FROM {} c WHERE {})",
                super::act::ROW_ID,
                table.name.sql(),
                child.name.sql(),
                pairs.join(" AND ")
            );
            held.extend(sqlx::query_scalar::<_, String>(&sql).fetch_all(ctx.pool).await?);
        }
    }
    Ok(held)
}

struct Writer<'a> {
    ctx: &'a TierContext<'a>,
    prober: &'a Prober,
    table: &'a Table,
    scope: &'a TenantScope,
    truth: &'a Truth,
    /// Rows a child's RESTRICT or NO ACTION foreign key holds.
    held: &'a HashSet<String>,
    observed: &'a Observed,
    copies: &'a [Observed],
    ledger: &'a Ledger,
    pairs: Vec<(usize, usize)>,
    /// One more setting or claim and its value, set beside the tenant
    /// (`rls.claim_escalation`'s writes); None for the plain probes.
    elevation: Option<(&'a str, &'a str)>,
}

/// One write's run: what it did, and the case that ran it.
struct Run {
    effect: Effect,
    case: super::act::Case,
}

impl Writer<'_> {
    async fn verdict(&self, kind: Kind) -> Verdict {
        let role = &self.prober.actor.role;
        let granted = |privilege: &str| match kind {
            // As the owner it may TRUNCATE too, but owning the table is
            // rls.privileged_role's finding: only grants to others count here.
            Kind::Truncate => {
                let grants: Vec<_> = self.table.grants.iter().filter(|g| g.grantee != self.table.owner).cloned().collect();
                self.ctx.catalog.granted(role, &grants, privilege)
            }
            _ => self.ctx.catalog.has_table_privilege(role, self.table, privilege),
        };
        // Under JWT claims every API role is granted every command, and a
        // command no policy allows is refused by design (see rls.no_policy).
        let allowed = |privilege: &str| {
            let refused_by_design = self.ctx.tenancy.model(self.ctx.tier()).jwt()
                && self.table.rls_enabled
                && Command::of_privilege(privilege).is_some_and(|cmd| !super::no_policy::has_permissive_policy(self.ctx, role, self.table, cmd));
            granted(privilege) && !refused_by_design
        };
        if !kind.privileges().iter().all(|p| allowed(p)) {
            return Verdict::NotGranted;
        }
        if kind == Kind::Truncate {
            return self.truncate().await;
        }
        let mut closed = None;
        for &(a, b) in &self.pairs {
            let actor = &self.prober.tenants[a];
            let Some(statement) = self.statement(kind, a, b) else {
                return Verdict::NotApplicable(self.why_not(kind));
            };
            let run = match self.run(a, statement).await {
                Ok(run) => run,
                Err(e) => return Verdict::Broken(format!("probe failed: {e}")),
            };
            let changes = run.effect.others_changed(self.ledger, actor, &self.prober.tenants);
            if !changes.is_empty() {
                return Verdict::Leak(Box::new(self.leak(run.case, actor, changes, None)));
            }
            // The positive control: the same write to A's own rows.
            let control = if kind.unqualified() {
                control_of(&run, run.effect.own_changed(self.ledger, actor, &self.table.name))
            } else {
                let Some(statement) = self.statement(kind, a, a) else {
                    return Verdict::NotApplicable(self.why_not(kind));
                };
                let own = match self.run(a, statement).await {
                    Ok(own) => own,
                    Err(e) => return Verdict::Broken(format!("probe failed: {e}")),
                };
                // A's write to its own rows must leave B's data alone too
                // (a trigger that rewrites a copy of B's row, say).
                let changes = own.effect.others_changed(self.ledger, actor, &self.prober.tenants);
                if !changes.is_empty() {
                    return Verdict::Leak(Box::new(self.leak(own.case, actor, changes, None)));
                }
                control_of(&own, own.effect.own_changed(self.ledger, actor, &self.table.name))
            };
            match (control, &run.effect.outcome) {
                (Err((false, why)), _) => return Verdict::Broken(why),
                (_, Outcome::Refused(refusal)) if !by_policy(refusal) => {
                    return Verdict::Inconclusive(format!("{}: {}", refused_by(refusal), refusal.message));
                }
                (Err((true, why)), _) => closed = Some(why),
                (Ok(()), _) => {}
            }
        }
        match closed {
            Some(why) => Verdict::Closed(why),
            None => Verdict::Proven,
        }
    }

    /// TRUNCATE granted is the defect, whatever the rows say today: the
    /// statement's effect (with CASCADE when other tables reference this
    /// one), or what refuses it now, is the evidence.
    async fn truncate(&self) -> Verdict {
        let a = self.pairs[0].0;
        let actor = &self.prober.tenants[a];
        let table = self.table.name.sql();
        let mut run = match self.run(a, format!("TRUNCATE {table}")).await {
            Ok(run) => run,
            Err(e) => return Verdict::Broken(format!("probe failed: {e}")),
        };
        if matches!(&run.effect.outcome, Outcome::Refused(r) if r.code == FEATURE_NOT_SUPPORTED) {
            // Other tables reference this one: TRUNCATE takes them along.
            run = match self.run(a, format!("TRUNCATE {table} CASCADE")).await {
                Ok(run) => run,
                Err(e) => return Verdict::Broken(format!("probe failed: {e}")),
            };
        }
        let note = match &run.effect.outcome {
            Outcome::Refused(refusal) => Some(format!("granted, though refused today: {}", refusal.message)),
            _ => None,
        };
        let changes = run.effect.others_changed(self.ledger, actor, &self.prober.tenants);
        Verdict::Leak(Box::new(self.leak(run.case, actor, changes, note)))
    }

    /// Runs `statement` as tenant number `a`, setting aside the foreign
    /// keys and CHECKs that refuse it, until it runs or something else
    /// refuses it.
    async fn run(&self, a: usize, statement: String) -> Result<Run, sqlx::Error> {
        let tenant = self.prober.tenants[a].clone();
        let context = match self.elevation {
            Some((input, value)) => Context::Elevated { tenant, input: input.to_string(), value: value.to_string() },
            None => Context::Tenant(tenant),
        };
        let mut case = self.prober.case(context, statement, true);
        loop {
            let observed: Vec<&Observed> = std::iter::once(self.observed).chain(self.copies).collect();
            let effect = effect::observe(self.ctx.pool, &case, &observed).await?;
            let Outcome::Refused(refusal) = &effect.outcome else { return Ok(Run { effect, case }) };
            match set_aside(self.ctx, refusal) {
                Some(statement) if case.setup.len() < MAX_SET_ASIDE && !case.setup.contains(&statement) => case.setup.push(statement),
                _ => return Ok(Run { effect, case }),
            }
        }
    }

    fn leak(&self, mut case: super::act::Case, actor: &str, changes: Vec<Change>, note: Option<String>) -> Leak {
        // The evidence is the first victim's rows where they changed.
        let observed = changes
            .first()
            .and_then(|c| std::iter::once(self.observed).chain(self.copies).find(|o| o.table == c.table))
            .unwrap_or(self.observed);
        if let Some(victim) = changes.first() {
            case.observe = Some(observed.sql_for(&victim.tenant));
        }
        Leak {
            case,
            actor: actor.to_string(),
            changes,
            observed: observed.clone(),
            note,
        }
    }

    async fn finding(&self, verdicts: Vec<(Kind, Verdict)>) -> Finding {
        let (tier, name) = (self.ctx.tier(), &self.table.name);
        let list = |wanted: fn(&Verdict) -> bool| -> Vec<&'static str> {
            verdicts.iter().filter(|(_, v)| wanted(v)).map(|(k, _)| k.describe()).collect()
        };
        if let Some((kind, Verdict::Leak(leak))) = verdicts.iter().find(|(_, v)| matches!(v, Verdict::Leak(_))) {
            return self.failure(*kind, leak).await;
        }
        if let Some((kind, Verdict::Broken(why))) = verdicts.iter().find(|(_, v)| matches!(v, Verdict::Broken(_))) {
            return WRITE_LEAK.error(
                tier,
                name,
                format!("{name}: tenant {}'s own {} failed, so its cross-tenant twin proves nothing: {why}", self.prober.tenants[self.pairs[0].0], kind.describe()),
            );
        }
        let mut reasons = String::new();
        for (kind, verdict) in &verdicts {
            match verdict {
                Verdict::Inconclusive(why) => write!(reasons, "{} refused, not by a policy ({why}); ", kind.describe()),
                Verdict::Closed(why) => write!(reasons, "{}: {why}; ", kind.describe()),
                Verdict::NotApplicable(why) => write!(reasons, "{}: {why}; ", kind.describe()),
                _ => Ok(()),
            }
            .expect("writing to a String");
        }
        let proven = list(|v| matches!(v, Verdict::Proven));
        let not_granted = list(|v| matches!(v, Verdict::NotGranted));
        let inconclusive = verdicts.iter().any(|(_, v)| matches!(v, Verdict::Inconclusive(_)));
        let granted_something = not_granted.len() < KINDS.len();
        if inconclusive || (granted_something && proven.is_empty()) {
            let reasons = reasons.trim_end_matches("; ");
            return WRITE_LEAK.skip(tier, name, format!("{name}: no proof either way for {reasons}"));
        }
        let mut message = if proven.is_empty() {
            match self.ctx.tenancy.model(tier).jwt() {
                true => "the signed-in role may not insert, update, delete or truncate here: not granted, or no policy allows it".to_string(),
                false => "the application role may not insert, update, delete or truncate here".to_string(),
            }
        } else {
            format!("other tenants' rows held, and each tenant's own write went through: {}", proven.join(", "))
        };
        if !reasons.is_empty() {
            message.push_str(&format!("; not probed: {}", reasons.trim_end_matches("; ")));
        }
        WRITE_LEAK.pass(tier, name, message).detail("proven", proven).detail("not_granted", not_granted)
    }

    async fn failure(&self, kind: Kind, leak: &Leak) -> Finding {
        let case = leak.case.clone();
        let name = &self.table.name;
        let victim = leak.changes.first().map(|c| c.tenant.clone());
        // Run the case once more to name the victim's rows it reached.
        let rows = match &victim {
            Some(victim) => effect::observe_rows(self.ctx.pool, &case, &[&leak.observed], Some(victim)).await.map(|(_, rows)| rows).unwrap_or_default(),
            None => Vec::new(),
        };
        let mut what = leak.changes.iter().map(Change::describe).collect::<Vec<_>>().join(", ");
        if kind == Kind::Truncate {
            let effect = if what.is_empty() { String::new() } else { format!(": {what}") };
            what = format!("TRUNCATE ignores row level security and {} holds it{effect}", self.prober.actor.role);
        }
        if let Some(note) = &leak.note {
            what.push_str(&format!(" ({note})"));
        }
        let message = format!("{name}: {} as tenant {}: {what} ({})", kind.describe(), leak.actor, case.describe());
        let count = if rows.is_empty() { changed_rows(&leak.changes) } else { rows.len() };
        let samples: Vec<String> = rows.into_iter().take(10).collect();
        self.prober
            .failure(WRITE_LEAK, self.ctx, name, message, case, count, samples)
            .detail("kind", kind.describe())
            .detail("actor", leak.actor.clone())
            .detail("victim", victim.unwrap_or_default())
    }
}

/// Rows of other tenants the changes added, removed or rewrote.
fn changed_rows(changes: &[Change]) -> usize {
    changes.iter().map(|c| (c.before.rows - c.after.rows).abs().max(c.after.written)).sum::<i64>() as usize
}

/// A control's run: Ok when A's own rows changed; else (refused by a
/// policy?, why).
fn control_of(run: &Run, own_changed: bool) -> Result<(), (bool, String)> {
    match &run.effect.outcome {
        Outcome::Refused(refusal) if by_policy(refusal) => Err((true, format!("tenant's own write refused too ({})", refusal.message))),
        Outcome::Refused(refusal) => Err((false, format!("{}: {} ({})", refused_by(refusal), refusal.message, run.case.statement))),
        _ if own_changed => Ok(()),
        _ => Err((true, "the tenant's own rows are not reached either".to_string())),
    }
}

