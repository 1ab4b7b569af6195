//! `rls.privileged_role`: the application role skips RLS altogether when it
//! is a superuser, has BYPASSRLS, or owns a tenant table without FORCE —
//! and owning one at all lets it ALTER the table and drop its policies.

use crate::checks::{CheckId, Severity, Finding, TierContext};

pub const ID: CheckId = CheckId::new("rls.privileged_role", Severity::Error);

pub fn check(ctx: &TierContext<'_>) -> Vec<Finding> {
    let Some(app) = ctx.tenancy.app_role.as_deref() else {
        return vec![ID.skip(ctx.tier(), "*", "no application role given or inferred (--app-role)")];
    };
    let tier = ctx.tier();
    let Some(role) = ctx.catalog.role(app) else {
        return vec![ID.error(tier, app, format!("application role `{app}` does not exist on this tier"))];
    };
    let mut findings = Vec::new();
    let effective = std::iter::once(&role.name).chain(&role.member_of);
    for name in effective {
        let Some(r) = ctx.catalog.role(name) else { continue };
        let via = if r.name == app { String::new() } else { format!(" (through membership in `{}`)", r.name) };
        if r.superuser {
            findings.push(ID.fail(tier, app, format!("application role `{app}` is a superuser{via}: RLS never applies to it")));
        }
        if r.bypass_rls {
            findings.push(ID.fail(tier, app, format!("application role `{app}` has BYPASSRLS{via}: RLS never applies to it")));
        }
    }
    for (table, _) in ctx.tenancy.scoped_tables(ctx.catalog) {
        if ctx.catalog.acts_as(app, &table.owner) {
            findings.push(
                ID.fail(
                    tier,
                    &table.name,
                    format!("application role `{app}` owns {} (as `{}`): it can alter the table and drop its policies", table.name, table.owner),
                )
                .detail("fix", format!("ALTER TABLE {} OWNER TO <a role the application does not use>;", table.name.sql())),
            );
        }
    }
    if findings.is_empty() {
        findings.push(ID.pass(tier, app, format!("`{app}` is not superuser, has no BYPASSRLS and owns no tenant table")));
    }
    findings
}
