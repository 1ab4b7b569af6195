//! `rls.canary_leak`: every other probe starts from tierguard's reading of
//! the tenancy (which column, which setting, which tables). This one needs
//! none of it. The seeder writes each tenant's marker into the text of its
//! rows (`crate::canary`); acting as tenant A, the probe reads everything
//! the application role can read and looks for another tenant's marker:
//!
//! - every table, view, materialized view, partition and foreign table,
//!   in the columns the role may select (`search`), the materialized views
//!   the role owns refreshed first;
//! - the result of every function it can execute, its arguments filled
//!   with A's tenant id and, for text, a wildcard and two injection
//!   attempts (procedures are called for their effects);
//! - every relation again after tenant B wrote its own rows (no-op updates
//!   and new rows that fire the schema's triggers: `effects`) and after the
//!   calls, naming the one cause that made the difference (`calls`);
//! - large objects it can open;
//! - on disposable servers, the payloads of the notifications a trigger
//!   sends when B writes one of its own rows, received by A (`notify`);
//! - then every relation as the other principals: no tenant, `anon`, users
//!   of no and of two tenants.
//!
//! A marker of B's that A reads is a leak wherever it was read: an audit
//! table without a tenant column, a JSON copy, a definer function's query
//! built from text. The finding names the object, the statement that read
//! it, and where the marker was seeded (tier, table, row). Everything runs
//! in a rolled-back transaction, except the notification write (see
//! `notify`); on external servers only the reads run.
//!
//! The other direction, writes, is judged by the write probes: `copies`
//! gives them the tables outside the tenancy that hold markers.

mod calls;
mod copies;
mod effects;
mod notify;
mod search;

pub use copies::copies;

use std::collections::BTreeMap;

use serde_json::json;
use sqlx::PgConnection;

use super::act::Context;
use super::Prober;
use crate::canary::Marker;
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::truth::SeedTruth;

pub const CANARY_LEAK: CheckId = CheckId::new(
    "rls.canary_leak",
    Severity::Error,
    r#"acting as tenant A, a marker seeded into tenant B's rows is read anywhere the app can read: a table, view, materialized view (refreshed when the app owns it), partition or foreign table; a function's result (arguments: A's tenant id; text also as a wildcard and as an injection attempt), or a relation after B writes its own rows (firing the schema's triggers) or after such a call or a procedure's (a history, a cache, an outbox); a large object; or the payload of a notification a trigger sends when B writes its own row. The relations are read again as the other principals: with no tenant set, as `anon` under JWT claims, and in the membership model as a user of no tenant (any marker fails) and as a user of two tenants (another tenant's marker fails). Needs no model of the tenancy; see [docs/canaries.md](docs/canaries.md)"#,
);

/// Whose markers count as foreign, and where each came from.
#[derive(Clone)]
pub(super) struct Canaries<'a> {
    seeded: &'a dyn SeedTruth,
    tenants: Vec<String>,
    tags: Vec<String>,
    /// Keys standing in for markers (see `SeedTruth::key_canaries`): key →
    /// (tenant number, where it was seeded).
    keys: BTreeMap<String, (usize, String)>,
    /// The acting principal's tenants (by number): their markers and keys
    /// are what it should see (none without a tenant: every one is foreign).
    own: Vec<usize>,
}

impl<'a> Canaries<'a> {
    fn new(seeded: &'a dyn SeedTruth, tier: &str, actor: &str) -> Option<Canaries<'a>> {
        let tenants = seeded.tenants(tier);
        let tags = seeded.canary_tags();
        let own = tenants.iter().position(|t| t == actor).filter(|&i| i < tags.len())?;
        let keys = (0..tenants.len())
            .flat_map(|t| seeded.key_canaries(t).into_iter().map(move |(key, origin)| (key, (t, origin))))
            .collect();
        Some(Canaries { seeded, tenants, tags, keys, own: vec![own] })
    }

    /// The same canaries, read by a principal of `tenants` (none: every
    /// marker is foreign).
    fn read_by(&self, tenants: &[String]) -> Canaries<'a> {
        let own = self.tenants.iter().enumerate().filter(|(_, t)| tenants.contains(t)).map(|(i, _)| i).collect();
        Canaries { own, ..self.clone() }
    }

    /// The marker tags of the principal's own tenants.
    fn own_tags(&self) -> Vec<&str> {
        self.own.iter().map(|&t| self.tags[t].as_str()).collect()
    }

    /// What a search looks for: any marker, and (when there are key
    /// canaries) any uuid, kept only when it is one of [`Canaries::foreign_keys`].
    fn pattern(&self) -> String {
        const UUID: &str = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
        match self.keys.is_empty() {
            true => crate::canary::SQL_PATTERN.to_string(),
            false => format!("{}|{UUID}", crate::canary::SQL_PATTERN),
        }
    }

    /// The key canaries of tenants other than the principal's.
    fn foreign_keys(&self) -> Vec<String> {
        self.keys.iter().filter(|(_, (t, _))| !self.own.contains(t)).map(|(key, _)| key.clone()).collect()
    }

    /// A found marker's or key's tenant and origin (`tier schema.table row
    /// #j (key=value)`), unless it is the acting tenant's own or not one of this run's.
    fn foreign(&self, found: &str) -> Option<(String, String)> {
        let (tenant, origin) = match Marker::parse(found) {
            Some(marker) => {
                let tenant = self.tags.iter().position(|t| *t == marker.tag)?;
                (tenant, self.seeded.canary_origin(&marker)?)
            }
            None => self.keys.get(found).cloned()?,
        };
        (!self.own.contains(&tenant)).then(|| (self.tenants[tenant].clone(), origin))
    }
}

/// Markers of other tenants one read returned: the first ten (in order),
/// and how many; and how many of A's own it returned.
#[derive(Debug, Default)]
pub(super) struct Seen {
    pub markers: Vec<String>,
    pub count: i64,
    pub own: i64,
}

/// What the reading pass covered, for a pass to say what it proved.
#[derive(Debug, Default)]
pub(super) struct Covered {
    pub relations: usize,
    /// Relations where A's own markers were read: the canaries are there.
    pub with_own_markers: usize,
    pub calls: usize,
    pub large_objects: usize,
    pub channels: usize,
    /// Other principals the relations were searched as (no tenant,
    /// `anon`, users of no or of two tenants).
    pub contexts: usize,
}

/// What the application role can reach on the tier, read once for every
/// pass of the probe: the relations it may read, and the tables whose
/// triggers B's writes fire.
struct Surface {
    relations: Vec<search::Readable>,
    triggered: Vec<effects::Triggered>,
}

impl Surface {
    async fn read(ctx: &TierContext<'_>, role: &str) -> Result<Surface, sqlx::Error> {
        Ok(Surface {
            relations: search::readable(ctx.pool, role).await?,
            triggered: effects::triggered(ctx, role).await?,
        })
    }
}

pub async fn check(ctx: &TierContext<'_>, prober: &Prober) -> Vec<Finding> {
    let tier = ctx.tier();
    let actor = &prober.tenants[0];
    let Some(canaries) = ctx.seeded.and_then(|seeded| Canaries::new(seeded, ctx.tier(), actor)) else {
        return vec![CANARY_LEAK.skip(tier, "*", "no canaries: tierguard did not seed this tier's rows (or does not know the acting tenant)")];
    };
    let surface = match Surface::read(ctx, &prober.actor.role).await {
        Ok(surface) => surface,
        Err(e) => return vec![CANARY_LEAK.error(tier, "*", format!("could not read what the application role can reach: {e}"))],
    };
    let mut covered = Covered::default();
    let mut findings = match calls::everything(ctx, prober, &canaries, &surface, &mut covered).await {
        Ok(findings) => findings,
        Err(e) => return vec![CANARY_LEAK.error(tier, "*", format!("canary probe failed: {e}"))],
    };
    if !ctx.read_only {
        match notify::check(ctx, prober, &canaries, &surface.triggered, &mut covered).await {
            Ok(found) => findings.extend(found),
            Err(e) => findings.push(CANARY_LEAK.error(tier, "notifications", format!("notification probe failed: {e}"))),
        }
    }
    // Other principals: with no tenant (no setting; under JWT claims also
    // `anon`) no marker may be readable; in the membership model, a user
    // of no tenant sees none either, and a user of two tenants only theirs.
    // A relation already failing is not reported twice.
    for (context, canaries) in principals(ctx, prober, &canaries) {
        let failing: Vec<String> = findings.iter().map(|f| f.object.clone()).collect();
        match calls::relations_as(ctx, prober, &canaries, &surface.relations, &context).await {
            Ok(reads) => findings.extend(reads.into_iter().filter(|r| !failing.contains(&r.object)).map(|r| leak(ctx, prober, &canaries, &context, r))),
            Err(e) => findings.push(CANARY_LEAK.error(tier, "*", format!("canary probe with {} failed: {e}", context.describe()))),
        }
        covered.contexts += 1;
    }
    if !findings.is_empty() {
        return findings;
    }
    let message = format!(
        "acting as tenant {actor}, no marker of another tenant was read: {} relation(s) searched (its own markers read in {}), \
         {} function call(s), {} large object(s), {} notification channel(s); and none as {} other principal(s) (no tenant, anon, users of no or two tenants){}",
        covered.relations,
        covered.with_own_markers,
        covered.calls,
        covered.large_objects,
        covered.channels,
        covered.contexts,
        if ctx.read_only { " (external server: no call, refresh or write)" } else { "" }
    );
    vec![CANARY_LEAK
        .pass(tier, "*", message)
        .detail("relations", covered.relations)
        .detail("relations_with_own_markers", covered.with_own_markers)
        .detail("calls", covered.calls)
        .detail("large_objects", covered.large_objects)
        .detail("channels", covered.channels)]
}

/// The principals besides tenant A, each with the tenants whose markers
/// it may read.
fn principals<'a>(ctx: &TierContext<'_>, prober: &Prober, canaries: &Canaries<'a>) -> Vec<(Context, Canaries<'a>)> {
    let nobody = canaries.read_by(&[]);
    let mut principals = vec![(Context::Unset, nobody.clone())];
    if ctx.tenancy.model(ctx.tier()).jwt() {
        principals.push((Context::Anonymous, nobody.clone()));
    }
    if let Some(users) = &prober.members {
        principals.push((Context::User(users.of_none.clone()), nobody));
        if let Some((user, tenants)) = &users.of_several {
            let tenants: Vec<String> = tenants.iter().cloned().collect();
            principals.push((Context::User(user.clone()), canaries.read_by(&tenants)));
        }
    }
    principals
}

/// Runs `work` under a savepoint: what the server refuses (a privilege, a
/// constraint, a function that raises) undoes only itself and gives None;
/// the transaction goes on.
async fn refusable<T>(conn: &mut PgConnection, work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>) -> Result<Option<T>, sqlx::Error> {
    sqlx::raw_sql("SAVEPOINT canary").execute(&mut *conn).await?;
    match work(&mut *conn).await {
        Ok(value) => {
            sqlx::raw_sql("RELEASE SAVEPOINT canary").execute(&mut *conn).await?;
            Ok(Some(value))
        }
        Err(sqlx::Error::Database(_)) => {
            sqlx::raw_sql("ROLLBACK TO SAVEPOINT canary").execute(&mut *conn).await?;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// One read that returned other tenants' markers: where, how it is said
/// ("reads", "gets from the call"), the statement that shows them.
pub(super) struct Read {
    pub object: String,
    pub what: String,
    pub statement: String,
    pub seen: Seen,
}

/// The failure for a read that returned other tenants' markers under `context`.
fn leak(ctx: &TierContext<'_>, prober: &Prober, canaries: &Canaries<'_>, context: &Context, read: Read) -> Finding {
    let Read { object, what, statement, seen } = read;
    let origins: Vec<serde_json::Value> = seen
        .markers
        .iter()
        .filter_map(|m| canaries.foreign(m).map(|(tenant, origin)| json!({"marker": m, "tenant": tenant, "seeded_in": origin})))
        .collect();
    let first = origins.first().map(|o| format!(" (first: tenant {}'s {})", o["tenant"].as_str().unwrap_or_default(), o["seeded_in"].as_str().unwrap_or_default())).unwrap_or_default();
    let who = match context {
        Context::Tenant(tenant) => format!("acting as tenant {tenant}"),
        other => format!("with {}", other.describe()),
    };
    let case = prober.case(context.clone(), statement, false);
    let other = if canaries.own.is_empty() { "tenants'" } else { "other tenants'" };
    prober
        .failure(
            CANARY_LEAK,
            ctx,
            &object,
            format!("{who}, {what} {} marker(s) seeded into {other} rows{first}", seen.count),
            case,
            seen.count as usize,
            seen.markers.clone(),
        )
        .detail("origins", origins)
}
