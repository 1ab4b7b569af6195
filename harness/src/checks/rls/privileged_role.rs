//! `rls.privileged_role`: the application role skips RLS altogether when it
//! is a superuser, has BYPASSRLS, or owns a tenant table without FORCE —
//! and owning one at all lets it ALTER the table and drop its policies.
//! One finding per tier: the cause is the role, whatever number of tables
//! it reaches (`details.tables`, absent when it bypasses RLS everywhere).
//! Under JWT claims (Supabase), `service_role` bypasses RLS by design: it
//! is said so in a pass of its own, not failed.

use serde_json::json;

use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::tenancy::model::SERVICE_ROLE;

pub const ID: CheckId = CheckId::new(
    "rls.privileged_role",
    Severity::Error,
    r#"the app role is superuser, has BYPASSRLS, or owns tenant tables (one finding per tier, the owned tables in `details.tables`)"#,
);

pub fn check(ctx: &TierContext<'_>) -> Vec<Finding> {
    let mut findings = app_role(ctx);
    let service = ctx.catalog.role(SERVICE_ROLE).filter(|r| r.bypass_rls || r.superuser);
    if let (true, Some(service)) = (ctx.tenancy.model(ctx.tier()).jwt(), service) {
        findings.push(ID.pass(
            ctx.tier(),
            &service.name,
            format!("`{SERVICE_ROLE}` bypasses RLS by design (Supabase's server-side key): an expected bypass, not probed; keep its key off clients"),
        ));
    }
    findings
}

fn app_role(ctx: &TierContext<'_>) -> Vec<Finding> {
    let Some(app) = ctx.tenancy.app_role.as_deref() else {
        return vec![ID.skip(ctx.tier(), "*", "no application role given or inferred (--app-role)")];
    };
    let tier = ctx.tier();
    let Some(role) = ctx.catalog.role(app) else {
        return vec![ID.error(tier, app, format!("application role `{app}` does not exist on this tier"))];
    };
    // Role attributes are never inherited: a member of a superuser role is
    // no superuser, but may SET ROLE to it and bypass RLS from there.
    let (mut bypasses, mut fixes) = (Vec::new(), Vec::new());
    for name in std::iter::once(&role.name).chain(&role.member_of) {
        let Some(r) = ctx.catalog.role(name) else { continue };
        let traits: Vec<&str> = [(r.superuser, "is a superuser"), (r.bypass_rls, "has BYPASSRLS")].into_iter().filter(|(has, _)| *has).map(|(_, what)| what).collect();
        if traits.is_empty() {
            continue;
        }
        if r.name == app {
            bypasses.push(traits.join(" and "));
            fixes.push(format!("ALTER ROLE {app} NOSUPERUSER NOBYPASSRLS;"));
        } else {
            bypasses.push(format!("can SET ROLE to `{}`, which {}", r.name, traits.join(" and ")));
            fixes.push(format!("REVOKE {} FROM {app};", r.name));
        }
    }
    let itself = role.superuser || role.bypass_rls;
    let owned: Vec<_> = ctx
        .tenancy
        .scoped_tables(ctx.catalog)
        .map(|(table, _)| table)
        .filter(|table| ctx.catalog.acts_as(app, &table.owner))
        .collect();
    if !bypasses.is_empty() {
        return vec![ID
            .fail(
                tier,
                app,
                match itself {
                    true => format!("application role `{app}` {}: RLS never applies to it, on any table", bypasses.join("; it ")),
                    false => format!("application role `{app}` {}: one SET ROLE leaves RLS behind, on every table", bypasses.join("; it ")),
                },
            )
            .detail("fix", fixes.join("\n"))];
    }
    if owned.is_empty() {
        return vec![ID.pass(tier, app, format!("`{app}` is not superuser, has no BYPASSRLS and owns no tenant table"))];
    }
    let names: Vec<String> = owned.iter().map(|t| t.name.to_string()).collect();
    let shown = match names.as_slice() {
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} and {} other table(s)", rest.len()),
        [] => unreachable!("owned is not empty"),
    };
    vec![ID
        .fail(
            tier,
            app,
            format!("application role `{app}` owns {shown}: it can alter them and drop their policies, and bypasses RLS where it is not forced"),
        )
        .detail("tables", json!(names))
        .detail("owners", json!(owned.iter().map(|t| t.owner.clone()).collect::<std::collections::BTreeSet<_>>()))
        .detail(
            "fix",
            owned.iter().map(|t| format!("ALTER TABLE {} OWNER TO <a role the application does not use>;", t.name.sql())).collect::<Vec<_>>().join("\n"),
        )]
}
