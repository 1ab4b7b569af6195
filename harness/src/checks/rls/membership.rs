//! `rls.membership`: in the membership model (a signed-in user reaches its
//! tenants through a membership table), a user that is a member of two
//! tenants sees exactly the rows of both, and a user that is a member of
//! none sees no tenant row. The other probes act for one tenant through a
//! user that is a member of it alone; these two users are where a policy
//! that reads one membership (`LIMIT 1`, `= (SELECT ...)`) or trusts any
//! signed-in user shows. On the membership table itself, a user that is a
//! member of one tenant tries to add itself to another (an insert policy
//! checking only `user_id = auth.uid()` lets it). Judged against the
//! membership rows and the rows' tenants as the database holds them.

use std::collections::BTreeSet;

use sqlx::PgPool;

use super::act::{self, Context, Outcome, Truth, ROW_ID};
use super::writes::insert_row;
use super::Prober;
use crate::catalog::Table;
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::sql::quote_ident;
use crate::tenancy::{Membership, Model};

pub const MEMBERSHIP: CheckId = CheckId::new(
    "rls.membership",
    Severity::Error,
    r#"membership model (users reach tenants through a membership table): a user that is a member of two tenants sees rows of another tenant or misses rows of its own, a user that is a member of none sees tenant rows, or a member of one tenant inserts a membership of its own in another"#,
);

/// The users these probes act as.
pub struct Users {
    membership: Membership,
    /// The first user (by id) with two memberships or more, and its tenants.
    pub of_several: Option<(String, BTreeSet<String>)>,
    /// A user with no membership: the first such row of the users table,
    /// else an id nobody has.
    pub of_none: String,
}

impl Users {
    pub async fn read(ctx: &TierContext<'_>) -> Option<Users> {
        let Model::Membership(membership) = ctx.tenancy.model(ctx.tier()) else { return None };
        Some(Users {
            membership: membership.clone(),
            of_several: of_several(ctx.pool, membership).await.ok().flatten(),
            of_none: of_none(ctx, membership).await.unwrap_or_else(|| "00000000-0000-4000-8000-00000000dead".into()),
        })
    }
}

pub async fn check(ctx: &TierContext<'_>, prober: &Prober, users: &Users, table: &Table, truth: &Truth) -> Finding {
    let tier = ctx.tier();
    let read = format!("SELECT {ROW_ID} FROM {}", table.name.sql());
    let none = prober.case(Context::User(users.of_none.clone()), read.clone(), false);
    match act::run(ctx.acting_pool(), &none).await {
        Ok(Outcome::Rows(seen)) if !seen.is_empty() => {
            let message = format!("{}: {} row(s) visible to a user that is a member of no tenant ({})", table.name, seen.len(), none.describe());
            return prober.failure(MEMBERSHIP, ctx, &table.name, message, none, seen.len(), seen.into_iter().take(10).collect());
        }
        Err(e) => return MEMBERSHIP.error(tier, &table.name, format!("probe failed: {e}")),
        _ => {}
    }
    let joining = match table.name == users.membership.table && !ctx.read_only {
        true => match joins_another_tenant(ctx, prober, users, table).await {
            Joining::Joined(finding) => return *finding,
            Joining::Held(what) => Some(what),
        },
        false => None,
    };
    let joined = joining.map(|what| format!("; {what}")).unwrap_or_default();
    let Some((user, tenants)) = &users.of_several else {
        return MEMBERSHIP.skip(tier, &table.name, format!("a user of no tenant sees nothing; no user is a member of two tenants, so seeing both was not tried{joined}"));
    };
    let several = prober.case(Context::User(user.clone()), read, false);
    let seen = match act::run(ctx.acting_pool(), &several).await {
        Ok(Outcome::Rows(seen)) => seen,
        Ok(_) => Vec::new(),
        Err(e) => return MEMBERSHIP.error(tier, &table.name, format!("probe failed: {e}")),
    };
    let theirs = |owner: &String| tenants.contains(owner);
    let foreign: Vec<String> = seen.iter().filter(|id| truth.owner.get(*id).is_some_and(|o| !o.is_empty() && !theirs(o))).cloned().collect();
    let own: Vec<&String> = truth.owner.iter().filter(|(_, o)| theirs(o)).map(|(id, _)| id).collect();
    let missing = own.iter().filter(|id| !seen.contains(id)).count();
    let tenants_list = tenants.iter().cloned().collect::<Vec<_>>().join(", ");
    if !foreign.is_empty() {
        let message = format!("{}: user {user}, a member of {tenants_list}, sees {} row(s) of other tenants ({})", table.name, foreign.len(), several.describe());
        return prober.failure(MEMBERSHIP, ctx, &table.name, message, several, foreign.len(), foreign.into_iter().take(10).collect());
    }
    if missing > 0 {
        let message = format!("{}: user {user}, a member of {tenants_list}, does not see {missing} of its tenants' {} row(s) ({})", table.name, own.len(), several.describe());
        return prober.failure(MEMBERSHIP, ctx, &table.name, message, several, missing, Vec::new());
    }
    if own.is_empty() {
        return MEMBERSHIP.skip(tier, &table.name, format!("a user of no tenant sees nothing; the tenants of user {user} ({tenants_list}) have no rows here{joined}"));
    }
    MEMBERSHIP.pass(
        tier,
        &table.name,
        format!("user {user}, a member of {tenants_list}, sees exactly their {} row(s); a user of no tenant sees none{joined}", own.len()),
    )
}

/// What became of a member of one tenant adding itself to another.
enum Joining {
    /// It went through (a failing finding), or the probe failed (an error).
    Joined(Box<Finding>),
    /// Refused, or not tried and why: what the verdict says.
    Held(String),
}

/// As the sole member of the first tenant that has one, a membership of its
/// own in another tenant (the last other one): a failing finding when the
/// insert goes through; else the refusal, or why it was not tried, for the
/// verdict to say, so that a pass never claims a probe that did not run.
async fn joins_another_tenant(ctx: &TierContext<'_>, prober: &Prober, users: &Users, table: &Table) -> Joining {
    let members = prober.actor.members.as_ref();
    let Some((own, user)) = prober.tenants.iter().find_map(|t| Some((t, members?.get(t)?))) else {
        return Joining::Held("no user is a member of one tenant alone, so joining another was not tried".into());
    };
    let Some(other) = prober.tenants.iter().rev().find(|t| *t != own) else {
        return Joining::Held("one tenant only: joining another was not tried".into());
    };
    let seeded = ctx.seeded.map(|s| s.tenants(ctx.tier())).unwrap_or_default();
    let insert = seeded
        .iter()
        .position(|t| t == other)
        .and_then(|other_index| insert_row(ctx, table, other_index, &[(users.membership.user_column.clone(), user.clone())]));
    let Some(insert) = insert else {
        return Joining::Held(format!("no valid membership row of tenant {other} could be made, so joining it was not tried"));
    };
    let case = prober.case(Context::Tenant(own.clone()), insert, true);
    let tried = format!("user {user}, a member of {own} alone, could not add itself to tenant {other}");
    match act::run(ctx.acting_pool(), &case).await {
        Ok(Outcome::Affected(n)) if n > 0 => {
            let message = format!("{}: user {user}, a member of {own} alone, added itself to tenant {other} ({})", table.name, case.describe());
            Joining::Joined(Box::new(prober.failure(MEMBERSHIP, ctx, &table.name, message, case, n as usize, Vec::new())))
        }
        Ok(Outcome::Refused(refusal)) => Joining::Held(format!("{tried} (refused: {})", refusal.message)),
        Ok(_) => Joining::Held(format!("{tried} (no row inserted)")),
        Err(e) => Joining::Joined(Box::new(MEMBERSHIP.error(ctx.tier(), &table.name, format!("probe failed: {e}")))),
    }
}

/// The first user (by id) with two memberships or more, and its tenants.
async fn of_several(pool: &PgPool, membership: &Membership) -> Result<Option<(String, BTreeSet<String>)>, sqlx::Error> {
    let (user, tenant) = (quote_ident(&membership.user_column), quote_ident(&membership.tenant_column));
    let sql = format!(
        "SELECT {user}::text, array_agg(DISTINCT {tenant}::text) FROM {} WHERE {tenant} IS NOT NULL
         GROUP BY {user} HAVING count(DISTINCT {tenant}) > 1 ORDER BY {user}::text LIMIT 1",
        membership.table.sql()
    );
    let row: Option<(String, Vec<String>)> = sqlx::query_as(&sql).fetch_optional(pool).await?;
    Ok(row.map(|(user, tenants)| (user, tenants.into_iter().collect())))
}

/// The first row of the users table (the membership user column's FK
/// target) without a membership.
async fn of_none(ctx: &TierContext<'_>, membership: &Membership) -> Option<String> {
    let table = ctx.catalog.table(&membership.table)?;
    let (_, fk) = table.foreign_keys().find(|(c, _)| c.columns == [membership.user_column.clone()])?;
    let key = quote_ident(fk.target_columns.first()?);
    let sql = format!(
        "SELECT u.{key}::text FROM {} u WHERE NOT EXISTS (SELECT 1 FROM {} m WHERE m.{} = u.{key}) ORDER BY 1 LIMIT 1",
        fk.target.sql(),
        membership.table.sql(),
        quote_ident(&membership.user_column)
    );
    sqlx::query_scalar(&sql).fetch_optional(ctx.pool).await.ok().flatten()
}
