//! `rls.definer_bypass`: a SECURITY DEFINER function runs with its owner's
//! rights, so the policies that hold the caller to its tenant may not apply
//! inside it. Each one the application role can call is called as tenant A
//! with arguments that name tenant B: B's tenant id, or, for an argument
//! named after a tenant table (`p_workspace_id`), the key of one of B's
//! rows there.
//! - A function returning rows that carry the tenant column fails when one
//!   of them is not A's.
//! - Any other fails when A gets B's own answer (B calling with the same
//!   arguments) and that answer differs from the one for ids no row has:
//!   the function read B's rows for A. Ids the arguments pass are read as
//!   placeholders, so a function that only echoes its input passes.
//! - Every one (procedures too, by `CALL`) fails when the call, made inside
//!   a rolled-back transaction, changed, added or removed any of B's rows
//!   in any tenant table (see `effect`): a write by id that trusts its
//!   argument returns nothing, and only B's rows show it.
//!
//! The scenario's context function is left out: entering another tenant
//! is what it is for.

use super::act::{self, Context, Outcome};
use super::effect::{self, Ledger, Observed};
use super::exposure::expose;
use super::Prober;
use crate::catalog::Function;
use crate::tenancy::TenantScope;
use crate::catalog::references::{key_column, plural_forms};
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::sql::quote_ident;
use crate::scenario::ContextMechanism;

pub const DEFINER_BYPASS: CheckId = CheckId::new(
    "rls.definer_bypass",
    Severity::Error,
    r#"a SECURITY DEFINER function or procedure the app can call, called as tenant A with B's tenant id (or, for an argument named after a tenant table such as `p_workspace_id`, the key of one of B's rows there), returns rows of another tenant, answers A what it answers B and not what it answers for ids no row has, or changes, adds or removes any of B's rows in any tenant table (the scenario's context function is left out)"#,
);

pub async fn check(ctx: &TierContext<'_>, prober: &Prober, observed: &[Observed], ledger: &Ledger) -> Vec<Finding> {
    let Some(column) = ctx.tenancy.column(ctx.tier()).map(str::to_string) else { return Vec::new() };
    let context_function = match &ctx.scenario.tenancy.context {
        ContextMechanism::Function(name) => Some(name),
        _ => None,
    };
    let mut findings = Vec::new();
    for function in ctx.catalog.functions.iter().filter(|f| f.security_definer) {
        let callable = function.executable_by.iter().any(|r| r == "public" || ctx.catalog.acts_as(&prober.actor.role, r));
        if !callable || Some(&function.name) == context_function {
            continue;
        }
        let (actor, victim) = (&prober.tenants[0], prober.tenants.last().expect("two tenants or more"));
        let arguments = arguments(&function.arguments);
        let named = naming(ctx, &arguments, victim).await;
        let returns_tenant_rows = function.result.contains(&column) || function.result.starts_with("SETOF") || function.result.starts_with("TABLE");
        let mut finding = if function.procedure {
            DEFINER_BYPASS.pass(ctx.tier(), &function.name, "a procedure: it returns nothing to read")
        } else if returns_tenant_rows {
            let statement = format!("SELECT {}::text FROM {} f", quote_ident(&column), call(function, &named));
            expose(ctx, prober, DEFINER_BYPASS, &function.name, statement).await
        } else {
            let nobody: Vec<String> = arguments.iter().map(|a| a.nobody()).collect();
            answers(ctx, prober, function, (actor, victim), &named, &nobody).await
        };
        if finding.status == crate::checks::Status::Pass && !ctx.read_only {
            finding = side_effects(ctx, prober, function, (actor, victim), &named, observed, ledger).await.unwrap_or(finding);
        }
        finding.object = format!("{}({})", function.name, function.arguments);
        findings.push(finding);
    }
    findings
}

/// The scalar or composite answer probe (see the module comment).
async fn answers(
    ctx: &TierContext<'_>,
    prober: &Prober,
    function: &Function,
    (actor, victim): (&String, &String),
    named: &[String],
    nobody: &[String],
) -> Finding {
    let answer = |values: &[String]| format!("SELECT f::text FROM {} f", call(function, values));
    let as_tenant = |tenant: &String, values: &[String]| prober.case(Context::Tenant(tenant.clone()), answer(values), false);
    let case = as_tenant(actor, named);
    let mut seen = Vec::new();
    for (case, values) in [(case.clone(), named), (as_tenant(victim, named), named), (as_tenant(actor, nobody), nobody)] {
        seen.push(match act::run(ctx.acting_pool(), &case).await {
            Ok(Outcome::Rows(rows)) => Some(placeholders(rows, values)),
            Ok(_) => None,
            Err(e) => return DEFINER_BYPASS.error(ctx.tier(), &function.name, format!("probe failed: {e}")),
        });
    }
    let [as_actor, as_victim, for_nobody] = <[Option<Vec<String>>; 3]>::try_from(seen).expect("three calls");
    let Some(leaked) = as_actor.filter(|a| Some(a) == as_victim.as_ref() && Some(a) != for_nobody.as_ref()) else {
        return DEFINER_BYPASS.pass(ctx.tier(), &function.name, "callable, but answers another tenant's ids as it answers ids no row has");
    };
    prober.failure(
        DEFINER_BYPASS,
        ctx,
        &function.name,
        format!(
            "{}: tenant {actor} gets tenant {victim}'s own answer ({}), not the answer for ids no row has: the function reads {victim}'s rows past row level security",
            function.name,
            case.describe()
        ),
        case,
        leaked.len(),
        leaked.into_iter().take(10).collect(),
    )
}

/// The call as tenant A with B's ids, judged by B's rows afterwards: a
/// failure when any of them changed, None when they all held.
async fn side_effects(
    ctx: &TierContext<'_>,
    prober: &Prober,
    function: &Function,
    (actor, victim): (&String, &String),
    named: &[String],
    observed: &[Observed],
    ledger: &Ledger,
) -> Option<Finding> {
    let statement = if function.procedure {
        format!("CALL {}", call(function, named))
    } else {
        format!("SELECT NULL FROM {} f", call(function, named))
    };
    let mut case = prober.case(Context::Tenant(actor.clone()), statement, true);
    let tables: Vec<&Observed> = observed.iter().collect();
    let effect = match effect::observe(ctx.pool, &case, &tables).await {
        Ok(effect) => effect,
        Err(e) => return Some(DEFINER_BYPASS.error(ctx.tier(), &function.name, format!("probe failed: {e}"))),
    };
    let changes = effect.others_changed(ledger, actor, &prober.tenants);
    let first = changes.first()?;
    let table = observed.iter().find(|o| o.table == first.table)?;
    case.observe = Some(table.sql_for(&first.tenant));
    let rows = effect::observe_rows(ctx.pool, &case, &[table], Some(&first.tenant)).await.map(|(_, rows)| rows).unwrap_or_default();
    let what: Vec<String> = changes.iter().map(effect::Change::describe).collect();
    let count = rows.len().max(1);
    Some(
        prober
            .failure(
                DEFINER_BYPASS,
                ctx,
                &function.name,
                format!(
                    "{}: called by tenant {actor} with tenant {victim}'s ids, it changed another tenant's rows: {} ({})",
                    function.name,
                    what.join(", "),
                    case.describe()
                ),
                case,
                count,
                rows.into_iter().take(10).collect(),
            )
            .detail("actor", actor.clone())
            .detail("victim", first.tenant.clone()),
    )
}

pub(super) fn call(function: &Function, values: &[String]) -> String {
    format!("{}({})", function.name.sql(), values.join(", "))
}

/// The answer rows in order, with the ids the call passed read as `$n`.
fn placeholders(mut rows: Vec<String>, values: &[String]) -> Vec<String> {
    rows.sort();
    for (n, value) in values.iter().enumerate() {
        let Some(id) = value.strip_prefix('\'').and_then(|v| v.split_once('\'')).map(|(id, _)| id) else { continue };
        if id.len() >= 32 {
            rows.iter_mut().for_each(|row| *row = row.replace(id, &format!("${}", n + 1)));
        }
    }
    rows
}

/// One argument of a function's signature.
pub(super) struct Argument {
    pub name: String,
    pub data_type: String,
}

impl Argument {
    /// A value that names nothing: an id no row has, else the same value
    /// as [`naming`] gives.
    fn nobody(&self) -> String {
        match self.data_type.as_str() {
            "uuid" => act::literal(&act::nonexistent_tenant("uuid"), "uuid"),
            "integer" | "bigint" | "smallint" => "-1".into(),
            _ => self.plain(),
        }
    }

    /// The value of an argument that names no tenant: a match-all pattern
    /// for text, a date far ahead (inside every "up to" window), true.
    pub(super) fn plain(&self) -> String {
        match self.data_type.as_str() {
            "text" | "character varying" => "'%'".into(),
            "integer" | "bigint" | "smallint" => "1000".into(),
            "boolean" => "true".into(),
            t @ ("date" | "timestamp with time zone" | "timestamp without time zone") => act::literal("9999-12-31", t),
            t => format!("NULL::{t}"),
        }
    }
}

/// `pg_get_function_identity_arguments()` split: `name type` or just `type`
/// (types may have spaces: `character varying`).
pub(super) fn arguments(signature: &str) -> Vec<Argument> {
    signature
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|argument| {
            let argument = argument.strip_prefix("IN ").unwrap_or(argument);
            match argument.split_once(' ') {
                Some((name, ty)) if !name.contains('(') && ty.trim() != "varying" => Argument { name: name.into(), data_type: ty.trim().into() },
                _ => Argument { name: String::new(), data_type: argument.into() },
            }
        })
        .collect()
}

/// Values that name `victim`: for an id argument named after a tenant
/// table, the key of one of the victim's rows there; for other ids of the
/// tenant id's type, the victim's tenant id.
async fn naming(ctx: &TierContext<'_>, arguments: &[Argument], victim: &str) -> Vec<String> {
    let tenant_type = tenant_type(ctx);
    let mut values = Vec::new();
    for argument in arguments {
        let value = match victim_row_key(ctx, argument, victim).await {
            Some(key) => act::literal(&key, &argument.data_type),
            None if argument.data_type == tenant_type => act::literal(victim, tenant_type),
            None => argument.plain(),
        };
        values.push(value);
    }
    values
}

/// The type of the tier's tenant ids (that of the first tenant table's
/// tenant column; uuid when none has one).
pub(super) fn tenant_type<'c>(ctx: &'c TierContext<'_>) -> &'c str {
    ctx.tenancy
        .scoped_tables(ctx.catalog)
        .find_map(|(table, scope)| scope.column().and_then(|c| table.column(c)))
        .map_or("uuid", |c| c.data_type.as_str())
}

/// `p_workspace_id` / `workspace_id`: the key of the first of the victim's
/// rows in a tenant table `workspace`/`workspaces` keyed by that type.
async fn victim_row_key(ctx: &TierContext<'_>, argument: &Argument, victim: &str) -> Option<String> {
    let name = argument.name.trim_start_matches('_');
    let name = name.strip_prefix("p_").or_else(|| name.strip_prefix("in_")).unwrap_or(name);
    let stem = name.strip_suffix("_id").filter(|s| !s.is_empty())?;
    let forms = plural_forms(stem);
    let (table, scope) = ctx.tenancy.scoped_tables(ctx.catalog).find(|(t, _)| forms.contains(&t.name.name))?;
    let key = key_column(table).filter(|k| table.column(k).is_some_and(|c| c.data_type == argument.data_type))?;
    if matches!(scope, TenantScope::Root(_)) {
        return None; // the tenants table: its key is the tenant id itself
    }
    let sql = format!(
        "SELECT t.{key}::text FROM {} t WHERE ({})::text = $1 ORDER BY 1 LIMIT 1",
        table.name.sql(),
        scope.tenant_sql("t"),
        key = quote_ident(key)
    );
    sqlx::query_scalar(&sql).bind(victim).fetch_optional(ctx.pool).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_split_into_names_and_types() {
        let parsed = arguments("p_organization_id uuid, p_as_of date, character varying, label character varying");
        let pairs: Vec<(&str, &str)> = parsed.iter().map(|a| (a.name.as_str(), a.data_type.as_str())).collect();
        assert_eq!(
            pairs,
            [("p_organization_id", "uuid"), ("p_as_of", "date"), ("", "character varying"), ("label", "character varying")]
        );
        assert!(arguments("").is_empty());
    }

    #[test]
    fn passed_ids_read_as_placeholders() {
        let id = "0b3c2f4e-8a5d-4c1e-9f7a-123456789abc";
        let rows = vec![format!("{{\"organization_id\": \"{id}\", \"changes\": 3}}")];
        let read = placeholders(rows, &[format!("'{id}'::uuid"), "'%'".into()]);
        assert_eq!(read, ["{\"organization_id\": \"$1\", \"changes\": 3}"]);
    }
}
