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

use std::fmt::Write as _;

use super::act::{Context, Outcome, Refusal, Truth};
use super::effect::{self, Change, Effect, Ledger, Observed};
use super::Prober;
use crate::catalog::{ConstraintKind, QualName, Table, TenantScope};
use crate::checks::sandbox::root_of;
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::provision::quote_ident;

pub const WRITE_LEAK: CheckId = CheckId::new("rls.write_leak", Severity::Error);

/// SQLSTATEs: refused by a policy or a missing privilege; by a constraint
/// the probe may set aside; TRUNCATE of a table others reference.
const INSUFFICIENT_PRIVILEGE: &str = "42501";
const FOREIGN_KEY_VIOLATION: &str = "23503";
const CHECK_VIOLATION: &str = "23514";
const UNIQUE_VIOLATION: &str = "23505";
const NOT_NULL_VIOLATION: &str = "23502";
const EXCLUSION_VIOLATION: &str = "23P01";
const FEATURE_NOT_SUPPORTED: &str = "0A000";
/// Constraints one write may set aside before it is called inconclusive.
const MAX_SET_ASIDE: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Insert,
    UpdateKeyed,
    UpdateAll,
    Move,
    MoveAll,
    Upsert,
    Merge,
    DeleteKeyed,
    DeleteAll,
    Truncate,
}

const KINDS: [Kind; 10] = [
    Kind::Insert,
    Kind::UpdateKeyed,
    Kind::UpdateAll,
    Kind::Move,
    Kind::MoveAll,
    Kind::Upsert,
    Kind::Merge,
    Kind::DeleteKeyed,
    Kind::DeleteAll,
    Kind::Truncate,
];

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Insert => "insert",
            Kind::UpdateKeyed => "update by key",
            Kind::UpdateAll => "unqualified update",
            Kind::Move => "move to another tenant by key",
            Kind::MoveAll => "unqualified move to another tenant",
            Kind::Upsert => "insert on conflict do update",
            Kind::Merge => "merge",
            Kind::DeleteKeyed => "delete by key",
            Kind::DeleteAll => "unqualified delete",
            Kind::Truncate => "truncate",
        }
    }

    fn privileges(self) -> &'static [&'static str] {
        match self {
            Kind::Insert => &["INSERT"],
            Kind::UpdateKeyed | Kind::UpdateAll | Kind::Move | Kind::MoveAll | Kind::Merge => &["UPDATE"],
            Kind::Upsert => &["INSERT", "UPDATE"],
            Kind::DeleteKeyed | Kind::DeleteAll => &["DELETE"],
            Kind::Truncate => &["TRUNCATE"],
        }
    }

    /// Statements that reach every row they may: one run is both the
    /// cross-tenant probe and the control.
    fn unqualified(self) -> bool {
        matches!(self, Kind::UpdateAll | Kind::DeleteAll | Kind::Truncate)
    }
}

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

pub async fn check(ctx: &TierContext<'_>, prober: &Prober, table: &Table, scope: &TenantScope, ledger: &Ledger) -> Finding {
    let tier = ctx.tier();
    if ctx.read_only {
        return WRITE_LEAK.skip(tier, &table.name, "external server: write probes are not run, even rolled back");
    }
    let truth = match Truth::read(ctx.pool, table, scope).await {
        Ok(t) => t,
        Err(e) => return WRITE_LEAK.error(tier, &table.name, format!("could not read the ground truth: {e}")),
    };
    let observed = Observed::new(table, scope);
    let tally = ledger.tally(&table.name);
    let present: Vec<&String> = tally.tenants().collect();
    let with_rows: Vec<usize> = (0..prober.tenants.len()).filter(|&i| present.contains(&&prober.tenants[i])).collect();
    if with_rows.len() < 2 {
        return WRITE_LEAK.skip(tier, &table.name, super::too_few_tenants(scope, tally.rows(), with_rows.len()));
    }
    let writer = Writer {
        ctx,
        prober,
        table,
        scope,
        truth: &truth,
        observed: &observed,
        ledger,
        pairs: pairs(ctx, table, &with_rows),
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

/// Tenant pairs (actor, victim) by index: the first two tenants with rows
/// (the minimal case), and one more drawn from the run seed.
fn pairs(ctx: &TierContext<'_>, table: &Table, with_rows: &[usize]) -> Vec<(usize, usize)> {
    let mut pairs = vec![(with_rows[0], with_rows[1])];
    if with_rows.len() > 2 {
        let draw = crate::seed::stream(ctx.scenario.seed, &["write_leak", ctx.tier(), &table.name.to_string()]);
        let n = with_rows.len() as u64;
        let a = (draw % n) as usize;
        let b = (a + 1 + ((draw / n) % (n - 1)) as usize) % with_rows.len();
        if (with_rows[a], with_rows[b]) != pairs[0] {
            pairs.push((with_rows[a], with_rows[b]));
        }
    }
    pairs
}

struct Writer<'a> {
    ctx: &'a TierContext<'a>,
    prober: &'a Prober,
    table: &'a Table,
    scope: &'a TenantScope,
    truth: &'a Truth,
    observed: &'a Observed,
    ledger: &'a Ledger,
    pairs: Vec<(usize, usize)>,
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
        if !kind.privileges().iter().all(|p| granted(p)) {
            return Verdict::NotGranted;
        }
        let mut closed = None;
        for &(a, b) in &self.pairs {
            let actor = &self.prober.tenants[a];
            let Some(statement) = self.statement(kind, a, b) else {
                return Verdict::NotApplicable(self.why_not(kind));
            };
            let mut run = match self.run(a, statement).await {
                Ok(run) => run,
                Err(e) => return Verdict::Broken(format!("probe failed: {e}")),
            };
            if kind == Kind::Truncate {
                if matches!(&run.effect.outcome, Outcome::Refused(r) if r.code == FEATURE_NOT_SUPPORTED) {
                    // Other tables reference this one: TRUNCATE takes them along.
                    match self.run(a, format!("TRUNCATE {} CASCADE", self.table.name.sql())).await {
                        Ok(cascade) => run = cascade,
                        Err(e) => return Verdict::Broken(format!("probe failed: {e}")),
                    }
                }
                // Granted is the defect; what it did (or what refused it today) is evidence.
                let note = match &run.effect.outcome {
                    Outcome::Refused(refusal) => Some(format!("granted, though refused today: {}", refusal.message)),
                    _ => None,
                };
                let changes = self.others_changed(&run, actor);
                return Verdict::Leak(Box::new(self.leak(run.case, actor, changes, note)));
            }
            let changes = self.others_changed(&run, actor);
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
                match self.run(a, statement).await {
                    Ok(own) => control_of(&own, own.effect.own_changed(self.ledger, actor, &self.table.name)),
                    Err(e) => return Verdict::Broken(format!("probe failed: {e}")),
                }
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

    /// Known tenants other than `actor` whose rows of any observed table changed.
    fn others_changed(&self, run: &Run, actor: &str) -> Vec<Change> {
        let changes = run.effect.others_changed(self.ledger, actor);
        changes.into_iter().filter(|c| self.prober.tenants.contains(&c.tenant)).collect()
    }

    /// Runs `statement` as tenant number `a`, setting aside the foreign
    /// keys and CHECKs that refuse it, until it runs or something else
    /// refuses it.
    async fn run(&self, a: usize, statement: String) -> Result<Run, sqlx::Error> {
        let mut case = self.prober.case(Context::Tenant(self.prober.tenants[a].clone()), statement, true);
        loop {
            let effect = effect::observe(self.ctx.pool, &case, &[self.observed]).await?;
            let Outcome::Refused(refusal) = &effect.outcome else { return Ok(Run { effect, case }) };
            match set_aside(self.ctx, refusal) {
                Some(statement) if case.setup.len() < MAX_SET_ASIDE && !case.setup.contains(&statement) => case.setup.push(statement),
                _ => return Ok(Run { effect, case }),
            }
        }
    }

    /// The statement of `kind` that tenant number `a` runs against rows of
    /// (or values for) tenant number `target`; `target == a` is the control.
    fn statement(&self, kind: Kind, a: usize, target: usize) -> Option<String> {
        let t = self.table.name.sql();
        let (owner, victim) = (&self.prober.tenants[a], &self.prober.tenants[target]);
        let set = || self.assignment();
        Some(match kind {
            // A new tenant row is no row of A's or B's.
            Kind::Insert if matches!(self.scope, TenantScope::Root(_)) => return None,
            Kind::Insert => insert_row(self.ctx, self.table, target, &[])?,
            Kind::UpdateKeyed => format!("UPDATE {t} SET {} WHERE {}", set()?, self.truth.by_key(victim)?),
            Kind::UpdateAll => format!("UPDATE {t} SET {}", set()?),
            // A tenant's own row cannot become another tenant's.
            Kind::Move | Kind::MoveAll if matches!(self.scope, TenantScope::Root(_)) => return None,
            // Keyed, the statement reads columns, so the moved row must also
            // pass the SELECT policy; unqualified, only the UPDATE policy's
            // WITH CHECK judges where the rows go.
            Kind::Move => format!("UPDATE {t} SET {} WHERE {}", self.moved_to(target)?, self.truth.by_key(owner)?),
            Kind::MoveAll => format!("UPDATE {t} SET {}", self.moved_to(target)?),
            Kind::Upsert => {
                let key = self.key_columns();
                let row = self.truth.rows_of(victim).next()?;
                let values = self.truth.key_values.get(row)?;
                let pinned: Vec<(String, String)> = key.iter().cloned().zip(values.iter().cloned()).collect();
                let (column, _) = self.plain_column()?;
                let column = quote_ident(&column);
                let keys: Vec<String> = key.iter().map(|c| quote_ident(c)).collect();
                format!(
                    "{} ON CONFLICT ({}) DO UPDATE SET {column} = EXCLUDED.{column}",
                    insert_row(self.ctx, self.table, a, &pinned)?,
                    keys.join(", ")
                )
            }
            Kind::Merge => format!(
                "MERGE INTO {t} USING (SELECT 1) AS probe(one) ON {} WHEN MATCHED THEN UPDATE SET {}",
                self.truth.by_key(victim)?,
                set()?
            ),
            Kind::DeleteKeyed => format!("DELETE FROM {t} WHERE {}", self.truth.by_key(victim)?),
            Kind::DeleteAll => format!("DELETE FROM {t}"),
            Kind::Truncate => format!("TRUNCATE {t}"),
        })
    }

    fn why_not(&self, kind: Kind) -> &'static str {
        match kind {
            Kind::Insert | Kind::Move | Kind::MoveAll if matches!(self.scope, TenantScope::Root(_)) => "the tenants table itself",
            Kind::Insert | Kind::Move | Kind::MoveAll | Kind::Upsert if self.ctx.seeded.is_none() => "no seeded rows to make new ones from",
            Kind::UpdateKeyed | Kind::DeleteKeyed | Kind::Merge | Kind::Upsert if self.truth.key_expr.is_none() => "no primary key",
            Kind::UpdateKeyed | Kind::UpdateAll | Kind::Merge | Kind::Upsert => "no column outside keys and constraints to set",
            _ => "no valid row could be made",
        }
    }

    /// `(columns) = ROW(values)`: every column but the key set to a fresh
    /// row of tenant number `target`, so the row's references move with
    /// its tenant (a composite FK refuses a tenant column moved alone).
    fn moved_to(&self, target: usize) -> Option<String> {
        let fresh = self.ctx.seeded?.fresh_row(self.ctx.tier(), &self.table.name, target)?;
        let key = self.key_columns();
        let moved: Vec<_> = fresh.into_iter().filter(|(c, _, _)| !key.contains(c)).collect();
        let columns: Vec<String> = moved.iter().map(|(c, _, _)| quote_ident(c)).collect();
        let values: Vec<String> = moved.iter().map(|(_, ty, v)| value_literal(v.as_deref(), ty)).collect();
        Some(format!("({}) = ROW({})", columns.join(", "), values.join(", ")))
    }

    fn key_columns(&self) -> Vec<String> {
        self.table.primary_key().map(|pk| pk.columns.clone()).unwrap_or_default()
    }

    /// A column a write may set to one value on every row: outside keys,
    /// unique indexes, foreign keys and the tenant column, not generated;
    /// those without CHECKs first.
    fn plain_column(&self) -> Option<(String, String)> {
        let constrained = |name: &str, kinds: &[ConstraintKind]| {
            self.table.constraints.iter().any(|c| kinds.contains(&c.kind) && c.columns.iter().any(|k| k == name))
        };
        let keyed = [ConstraintKind::PrimaryKey, ConstraintKind::Unique, ConstraintKind::ForeignKey, ConstraintKind::Exclusion];
        let fresh = self
            .ctx
            .seeded
            .and_then(|s| s.fresh_row(self.ctx.tier(), &self.table.name, 0))
            .unwrap_or_default();
        let mut candidates: Vec<(bool, String, String)> = self
            .table
            .columns
            .iter()
            .filter(|c| !c.generated && !c.identity && Some(c.name.as_str()) != self.scope.column())
            .filter(|c| !constrained(&c.name, &keyed))
            .filter(|c| !self.table.indexes.iter().any(|i| i.unique && i.columns.iter().any(|k| k.as_deref() == Some(c.name.as_str()))))
            .filter_map(|c| {
                let value = match fresh.iter().find(|(name, _, _)| name == &c.name) {
                    Some((_, ty, Some(v))) => super::act::literal(v, ty),
                    _ if c.default.is_some() => "DEFAULT".into(),
                    _ if !c.not_null => "NULL".into(),
                    _ => return None,
                };
                Some((constrained(&c.name, &[ConstraintKind::Check]), c.name.clone(), value))
            })
            .collect();
        candidates.sort_by_key(|(checked, _, _)| *checked);
        candidates.into_iter().next().map(|(_, name, value)| (name, value))
    }

    /// `column = value` for [`Writer::plain_column`].
    fn assignment(&self) -> Option<String> {
        self.plain_column().map(|(column, value)| format!("{} = {value}", quote_ident(&column)))
    }

    fn leak(&self, mut case: super::act::Case, actor: &str, changes: Vec<Change>, note: Option<String>) -> Leak {
        if let Some(victim) = changes.first() {
            case.observe = Some(self.observed.sql_for(&victim.tenant));
        }
        Leak {
            case,
            actor: actor.to_string(),
            changes,
            observed: self.observed.clone(),
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
            "the application role may not insert, update, delete or truncate here".to_string()
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
        let count = if rows.is_empty() { leak.changes.iter().map(|c| (c.before.rows - c.after.rows).abs().max(c.after.written)).sum::<i64>() as usize } else { rows.len() };
        let samples: Vec<String> = rows.into_iter().take(10).collect();
        self.prober
            .failure(WRITE_LEAK, self.ctx, name, message, case, count, samples)
            .detail("kind", kind.describe())
            .detail("actor", leak.actor.clone())
            .detail("victim", victim.unwrap_or_default())
    }
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

/// The statement that sets aside the constraint behind `refusal` inside
/// the probe's transaction (rows stay as they are, so the ground truth
/// still holds), or None when a policy, a privilege or a trigger refused.
fn set_aside(ctx: &TierContext<'_>, refusal: &Refusal) -> Option<String> {
    let table = refusal.table.as_ref()?;
    if refusal.code == NOT_NULL_VIOLATION {
        // A column the fresh row leaves empty (one added after seeding).
        let column = refusal.column.as_ref()?;
        return Some(format!("ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL", root_of(ctx.catalog, table).sql(), quote_ident(column)));
    }
    let constraint = refusal.constraint.as_ref()?;
    match refusal.code.as_str() {
        // A partition's CHECK or FK is inherited: it can only go on the root.
        FOREIGN_KEY_VIOLATION | CHECK_VIOLATION => Some(format!(
            "ALTER TABLE {} DROP CONSTRAINT {}",
            root_of(ctx.catalog, table).sql(),
            quote_ident(constraint)
        )),
        // The server names the index; a partition's comes from its root's,
        // and a key other tables reference takes their FKs along.
        UNIQUE_VIOLATION | EXCLUSION_VIOLATION => {
            let index = crate::provision::quote_literal(&QualName { schema: table.schema.clone(), name: constraint.clone() }.sql());
            Some(format!(
                "DO $set_aside$ DECLARE i regclass := {index}::regclass; up regclass; c record; BEGIN \
                 LOOP SELECT inhparent INTO up FROM pg_inherits WHERE inhrelid = i; EXIT WHEN up IS NULL; i := up; END LOOP; \
                 SELECT conname, conrelid::regclass AS rel INTO c FROM pg_constraint WHERE conindid = i AND contype IN ('p', 'u', 'x') \
                   AND conrelid = (SELECT indrelid FROM pg_index WHERE indexrelid = i); \
                 IF FOUND THEN EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I CASCADE', c.rel, c.conname); \
                 ELSE EXECUTE format('DROP INDEX %s CASCADE', i); END IF; END $set_aside$"
            ))
        }
        _ => None,
    }
}

/// Refused by a row level security policy: what the probes are about. A
/// missing privilege shares the SQLSTATE (a sequence, a table a trigger
/// reads), but is no verdict on the policies.
fn by_policy(refusal: &Refusal) -> bool {
    refusal.code == INSUFFICIENT_PRIVILEGE && refusal.message.contains("row-level security")
}

fn refused_by(refusal: &Refusal) -> String {
    match (&refusal.constraint, &refusal.table) {
        (Some(constraint), Some(table)) => format!("refused by {table}.{constraint}"),
        (Some(constraint), None) => format!("refused by {constraint}"),
        _ if refusal.code == FEATURE_NOT_SUPPORTED => "refused by the server".to_string(),
        _ if refusal.context.is_some() => format!("refused in {}", refusal.context.as_deref().unwrap_or_default().replace('\n', "; ")),
        _ => format!("refused (SQLSTATE {})", refusal.code),
    }
}

/// A literal for a fresh row's value (NULL typed like the column).
fn value_literal(value: Option<&str>, data_type: &str) -> String {
    value.map_or(format!("NULL::{data_type}"), |v| super::act::literal(v, data_type))
}

/// `INSERT` of a new, otherwise valid row owned by tenant number `owner`,
/// with `values` (column, text) in place of the fresh ones; None when the
/// table has no fresh row or lacks one of those columns.
pub fn insert_row(ctx: &TierContext<'_>, table: &Table, owner: usize, values: &[(String, String)]) -> Option<String> {
    let mut row = ctx.seeded?.fresh_row(ctx.tier(), &table.name, owner)?;
    for (column, value) in values {
        row.iter_mut().find(|(c, _, _)| c == column)?.2 = Some(value.clone());
    }
    let columns: Vec<String> = row.iter().map(|(c, _, _)| quote_ident(c)).collect();
    let values: Vec<String> = row.iter().map(|(_, ty, v)| value_literal(v.as_deref(), ty)).collect();
    Some(format!("INSERT INTO {} ({}) VALUES ({})", table.name.sql(), columns.join(", "), values.join(", ")))
}
