//! The reading pass, in one transaction on the application's login acting
//! as tenant A, rolled back: the materialized views it owns refreshed,
//! every readable relation searched; tenant B's own writes made (their
//! triggers copy B's rows: `effects`); every callable function called and
//! its result searched; every relation searched again (a trigger or a call
//! may have made a copy), and large objects opened.

use sqlx::{ConnectOptions, Connection, PgConnection};

use super::effects::{self, Triggered};
use super::search::{foreign_markers, prefix, Readable};
use super::{leak, refusable, Canaries, Covered, Read, Seen, Surface};
use crate::catalog::Function;
use crate::checks::rls::act::{self, Context};
use crate::checks::rls::definer::{arguments, call, tenant_type};
use crate::checks::rls::Prober;
use crate::checks::{Finding, TierContext};
use crate::scenario::ContextMechanism;

/// Text arguments are tried as a wildcard, then as injections that close
/// a quoted literal or end a numeric one and make the filter true.
const TEXT_VALUES: [&str; 3] = ["%", "%' OR TRUE --", "0 OR TRUE --"];

/// A statement that runs longer than this is given up (a function that
/// loops or sleeps must not stall the audit).
const STATEMENT_TIMEOUT: &str = "10s";

pub async fn everything(ctx: &TierContext<'_>, prober: &Prober, canaries: &Canaries<'_>, surface: &Surface, covered: &mut Covered) -> Result<Vec<Finding>, sqlx::Error> {
    let relations = &surface.relations;
    let functions: Vec<&Function> = if ctx.read_only { Vec::new() } else { callable(ctx, prober) };
    // The application's own login, as its reads would run (a policy may
    // read session_user).
    let acting = Context::Tenant(prober.tenants[0].clone());
    let failure = |object: String, what: &str, statement: String, seen: Seen| {
        leak(ctx, prober, canaries, &acting, Read { object, what: what.to_string(), statement, seen })
    };
    let mut conn = ctx.acting_pool().acquire().await?;
    let mut tx = conn.begin().await?;
    let mut findings = Vec::new();
    // A refusal to act (a context function rejecting the tenant) leaves
    // nothing to read: the other probes report it.
    if !prepare(&mut tx, ctx, prober, &acting).await? {
        return Ok(findings);
    }
    let mut leaking = Vec::new();
    covered.relations = relations.len();
    for relation in relations {
        let seen = searched(&mut tx, canaries, &relation.rows()).await?;
        covered.with_own_markers += usize::from(seen.own > 0);
        if let Some(first) = seen.markers.first() {
            let statement = relation.showing(first);
            findings.push(failure(relation.name.to_string(), "reads", statement, seen));
            leaking.push(relation.name.clone());
        }
    }
    // B's own writes fire the schema's triggers (history, audit, outbox);
    // then back to A.
    let writes = effects::victim_writes(&mut tx, ctx, prober, canaries, &surface.triggered).await?;
    if prober.actor.enter(&mut tx, &acting).await?.is_err() {
        return Ok(findings);
    }
    for function in &functions {
        let (calls, result) = called(&mut tx, ctx, prober, canaries, function).await?;
        covered.calls += calls;
        if let Some((statement, seen)) = result {
            let object = format!("{}({})", function.name, function.arguments);
            findings.push(failure(object, "gets from the call", statement, seen));
        }
    }
    // Relations that leak only after B's writes or the calls (a history
    // table, a cache, an outbox).
    let mut after_calls = Vec::new();
    if !functions.is_empty() || !writes.is_empty() {
        for relation in relations.iter().filter(|r| !leaking.contains(&r.name)) {
            let seen = searched(&mut tx, canaries, &relation.rows()).await?;
            if !seen.markers.is_empty() {
                after_calls.push((relation, seen));
            }
        }
    }
    findings.extend(large_objects(&mut tx, ctx, prober, canaries, covered).await?);
    tx.rollback().await?;
    drop(conn);
    for (relation, seen) in after_calls {
        let (what, before) = match culprit(ctx, prober, canaries, &surface.triggered, &functions, relation).await? {
            Some(Culprit::Writes(writes)) => {
                let victim = prober.tenants.last().cloned().unwrap_or_default();
                (format!("after tenant {victim} writes its own rows (no-op writes that fire the triggers), reads"), format!("-- as tenant {victim}:\n{}", writes.join(";\n")))
            }
            Some(Culprit::Call(call)) => (format!("after `{call}`, reads"), call),
            None => ("after the other tenant's writes and the calls it can make, reads".to_string(), String::new()),
        };
        let statement = format!("{before};\n{}", relation.showing(&seen.markers[0]));
        findings.push(failure(relation.name.to_string(), &what, statement, seen));
    }
    Ok(findings)
}

/// Reads every relation under `context` (another principal): each that
/// returns another tenant's marker, as a [`Read`]. On a session of its
/// own: a pooled one may still carry a tenant a session-level context left
/// behind (that is `rls.context_bleed`'s finding, not a principal's).
pub async fn relations_as(ctx: &TierContext<'_>, prober: &Prober, canaries: &Canaries<'_>, relations: &[Readable], context: &Context) -> Result<Vec<Read>, sqlx::Error> {
    let mut conn = ctx.acting_pool().connect_options().connect().await?;
    let reads = relations_on(&mut conn, prober, canaries, context, relations).await;
    conn.close().await?;
    reads
}

async fn relations_on(conn: &mut PgConnection, prober: &Prober, canaries: &Canaries<'_>, context: &Context, relations: &[Readable]) -> Result<Vec<Read>, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let mut reads = Vec::new();
    sqlx::raw_sql(&format!("SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")).execute(&mut *tx).await?;
    if prober.actor.enter(&mut tx, context).await?.is_err() {
        return Ok(reads); // refused outright: nothing readable
    }
    for relation in relations {
        let seen = searched(&mut tx, canaries, &relation.rows()).await?;
        if let Some(first) = seen.markers.first() {
            let statement = relation.showing(first);
            reads.push(Read { object: relation.name.to_string(), what: "reads".into(), statement, seen });
        }
    }
    tx.rollback().await?;
    Ok(reads)
}

/// Opens the acting state on a fresh transaction: the advisory lock writing
/// probes share, a time limit, the materialized views the role may refresh
/// (it owns them) refreshed, then A's role and context. False when the
/// server refuses A's context.
async fn prepare(conn: &mut PgConnection, ctx: &TierContext<'_>, prober: &Prober, acting: &Context) -> Result<bool, sqlx::Error> {
    sqlx::raw_sql(&format!("SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")).execute(&mut *conn).await?;
    if ctx.read_only {
        return Ok(prober.actor.enter(conn, acting).await?.is_ok());
    }
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(crate::checks::sandbox::PROBE_LOCK).execute(&mut *conn).await?;
    let refreshable = ctx.catalog.views.iter().filter(|v| v.materialized && ctx.catalog.acts_as(&prober.actor.role, &v.owner));
    for view in refreshable {
        invoked(conn, &format!("REFRESH MATERIALIZED VIEW {}", view.name.sql())).await?;
    }
    Ok(prober.actor.enter(conn, acting).await?.is_ok())
}

/// [`foreign_markers`] under a savepoint: a read the server refuses (a
/// column privilege, a function that raises) finds nothing.
async fn searched(conn: &mut PgConnection, canaries: &Canaries<'_>, select: &str) -> Result<Seen, sqlx::Error> {
    Ok(refusable(conn, async |conn| foreign_markers(conn, canaries, select).await).await?.unwrap_or_default())
}

/// Functions and procedures the role can execute, but not trigger
/// functions or the scenario's context function (entering a tenant is its
/// purpose).
fn callable<'c>(ctx: &'c TierContext<'_>, prober: &Prober) -> Vec<&'c Function> {
    let context_function = match &ctx.scenario.tenancy.context {
        ContextMechanism::Function(name) => Some(name),
        _ => None,
    };
    ctx.catalog
        .functions
        .iter()
        .filter(|f| !matches!(f.result.as_str(), "trigger" | "event_trigger"))
        .filter(|f| Some(&f.name) != context_function)
        .filter(|f| f.executable_by.iter().any(|r| r == "public" || ctx.catalog.acts_as(&prober.actor.role, r)))
        .collect()
}

/// The argument lists a function is called with: A's tenant id for
/// arguments of the tenant id's type, each of [`TEXT_VALUES`] for text
/// (one list per value; one list in all without text arguments).
fn argument_lists(ctx: &TierContext<'_>, function: &Function, actor: &str) -> Vec<Vec<String>> {
    let tenant_type = tenant_type(ctx);
    let arguments = arguments(&function.arguments);
    let has_text = arguments.iter().any(|a| matches!(a.data_type.as_str(), "text" | "character varying"));
    let variants = if has_text { TEXT_VALUES.len() } else { 1 };
    (0..variants)
        .map(|variant| {
            arguments
                .iter()
                .map(|a| match a.data_type.as_str() {
                    t if t == tenant_type => act::literal(actor, t),
                    t @ ("text" | "character varying") => act::literal(TEXT_VALUES[variant], t),
                    _ => a.plain(),
                })
                .collect()
        })
        .collect()
}

/// The statement that calls `function` with `values` for its effects
/// (`CALL` for a procedure).
fn invocation(function: &Function, values: &[String]) -> String {
    match function.procedure {
        true => format!("CALL {}", call(function, values)),
        false => format!("SELECT {}", call(function, values)),
    }
}

/// Runs `statement` under a savepoint, for its effects: a refusal undoes
/// only itself.
async fn invoked(conn: &mut PgConnection, statement: &str) -> Result<(), sqlx::Error> {
    refusable(conn, async |conn| sqlx::raw_sql(statement).execute(conn).await).await?;
    Ok(())
}

/// Calls `function` with each argument list in turn, keeping its effects
/// (a cache it fills stays filled for the second search), and returns the
/// first call whose result holds another tenant's marker, with the number
/// of calls made. A procedure returns nothing: it is called for its effects.
async fn called(
    conn: &mut PgConnection,
    ctx: &TierContext<'_>,
    prober: &Prober,
    canaries: &Canaries<'_>,
    function: &Function,
) -> Result<(usize, Option<(String, Seen)>), sqlx::Error> {
    let mut calls = 0;
    for values in argument_lists(ctx, function, &prober.tenants[0]) {
        calls += 1;
        let select = format!("SELECT f::text AS v FROM {} f", call(function, &values));
        let seen = match function.procedure {
            true => {
                invoked(conn, &invocation(function, &values)).await?;
                Seen::default()
            }
            false => searched(conn, canaries, &select).await?,
        };
        // A function may change the role or settings: back to A.
        if prober.actor.enter(conn, &Context::Tenant(prober.tenants[0].clone())).await?.is_err() {
            return Ok((calls, None));
        }
        if let Some(first) = seen.markers.first() {
            let statement = format!("{select} WHERE f::text LIKE '%{}%'", prefix(first));
            return Ok((calls, Some((statement, seen))));
        }
    }
    Ok((calls, None))
}

/// What alone makes a relation show another tenant's markers.
enum Culprit {
    /// Tenant B's own writes (their triggers copied B's rows).
    Writes(Vec<String>),
    /// One call of A's.
    Call(String),
}

/// Which single cause makes `relation` show another tenant's markers —
/// B's writes, else one call — each tried alone in a fresh transaction:
/// the minimal reproduction.
async fn culprit(
    ctx: &TierContext<'_>,
    prober: &Prober,
    canaries: &Canaries<'_>,
    triggered: &[Triggered],
    functions: &[&Function],
    relation: &Readable,
) -> Result<Option<Culprit>, sqlx::Error> {
    let acting = Context::Tenant(prober.tenants[0].clone());
    let mut conn = ctx.acting_pool().acquire().await?;
    let mut causes = vec![None];
    for function in functions {
        causes.extend(argument_lists(ctx, function, &prober.tenants[0]).into_iter().map(|values| Some(invocation(function, &values))));
    }
    for cause in causes {
        let mut tx = conn.begin().await?;
        if !prepare(&mut tx, ctx, prober, &acting).await? {
            return Ok(None);
        }
        let culprit = match &cause {
            None => Culprit::Writes(effects::victim_writes(&mut tx, ctx, prober, canaries, triggered).await?),
            Some(statement) => {
                invoked(&mut tx, statement).await?;
                Culprit::Call(statement.clone())
            }
        };
        prober.actor.enter(&mut tx, &acting).await?.ok();
        let seen = searched(&mut tx, canaries, &relation.rows()).await?;
        tx.rollback().await?;
        if !seen.markers.is_empty() {
            return Ok(Some(culprit));
        }
    }
    Ok(None)
}

/// Large objects A can open, searched one by one (one A may not open is
/// refused under its own savepoint).
async fn large_objects(
    conn: &mut PgConnection,
    ctx: &TierContext<'_>,
    prober: &Prober,
    canaries: &Canaries<'_>,
    covered: &mut Covered,
) -> Result<Vec<Finding>, sqlx::Error> {
    let objects: Vec<sqlx::postgres::types::Oid> = sqlx::query_scalar("SELECT oid FROM pg_largeobject_metadata ORDER BY oid LIMIT 1000").fetch_all(ctx.pool).await?;
    covered.large_objects = objects.len();
    let mut findings = Vec::new();
    for oid in objects {
        let select = format!("SELECT encode(lo_get({}), 'escape') AS v", oid.0);
        let seen = searched(conn, canaries, &select).await?;
        if !seen.markers.is_empty() {
            let read = Read { object: format!("large object {}", oid.0), what: "reads".into(), statement: select, seen };
            findings.push(leak(ctx, prober, canaries, &Context::Tenant(prober.tenants[0].clone()), read));
        }
    }
    Ok(findings)
}
