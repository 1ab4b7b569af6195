//! `rls.not_forced`: RLS is on but not forced, and the owner is a role an
//! application could use. Owners bypass non-forced RLS, so a connection as
//! the owner (a migration or worker role, or the app role itself) reads all
//! tenants. Superuser owners bypass RLS even when forced, so forcing would
//! change nothing for them; `rls.privileged_role` covers the app side.

use crate::checks::{CheckId, Finding, Severity, TierContext};

pub const ID: CheckId = CheckId::new(
    "rls.not_forced",
    Severity::Error,
    r#"RLS is not forced and the owner is a non-superuser role (error when the app role is or can act as the owner, else warning)"#,
);

pub fn check(ctx: &TierContext<'_>) -> Vec<Finding> {
    let app_role = ctx.tenancy.app_role.as_deref();
    ctx.tenancy
        .scoped_tables(ctx.catalog)
        .filter(|(table, _)| table.rls_enabled)
        .map(|(table, _)| {
            let owner_is_superuser = ctx.catalog.role(&table.owner).is_some_and(|r| r.superuser);
            if table.rls_forced || owner_is_superuser {
                return ID.pass(ctx.tier(), &table.name, "owner cannot bypass row level security");
            }
            let app_is_owner = app_role.is_some_and(|app| ctx.catalog.acts_as(app, &table.owner));
            let mut finding = ID
                .fail(
                    ctx.tier(),
                    &table.name,
                    if app_is_owner {
                        format!(
                            "{} is owned by `{}`, which the application role uses, and RLS is not forced: the application reads all tenants",
                            table.name, table.owner
                        )
                    } else {
                        format!(
                            "{} is owned by non-superuser `{}` and RLS is not forced: any connection as `{}` bypasses tenant isolation",
                            table.name, table.owner, table.owner
                        )
                    },
                )
                .detail("owner", table.owner.clone())
                .detail("fix", format!("ALTER TABLE {} FORCE ROW LEVEL SECURITY;", table.name.sql()));
            if !app_is_owner {
                finding.severity = Severity::Warning;
            }
            finding
        })
        .collect()
}
