//! `rls.no_policy`: RLS is on and the app role is granted a command, but no
//! permissive policy applies to that command for the app role. PostgreSQL
//! then denies every row: the application is broken for that command, and
//! the usual "fix" under pressure is to switch RLS off. Under JWT claims
//! (Supabase) every API role is granted every command by default and a
//! missing write policy is how a write is refused: there only a read
//! without a policy fails.

use crate::catalog::{Command, Table};
use crate::checks::{CheckId, Severity, Finding, TierContext};

pub const ID: CheckId = CheckId::new(
    "rls.no_policy",
    Severity::Error,
    r#"the app role is granted a command but no permissive policy applies to it"#,
);

pub fn check(ctx: &TierContext<'_>) -> Vec<Finding> {
    let Some(app) = ctx.tenancy.app_role.as_deref() else {
        return vec![ID.skip(ctx.tier(), "*", "no application role given or inferred (--app-role)")];
    };
    ctx.tenancy
        .scoped_tables(ctx.catalog)
        .filter(|(table, _)| table.rls_enabled)
        .map(|(table, _)| {
            let refused_by_design = |cmd: &Command| ctx.tenancy.model(ctx.tier()).jwt() && *cmd != Command::Select;
            let uncovered: Vec<&str> = Command::WRITES_AND_READS
                .into_iter()
                .filter(|cmd| ctx.catalog.has_table_privilege(app, table, cmd.privilege()))
                .filter(|cmd| !refused_by_design(cmd))
                .filter(|cmd| !has_permissive_policy(ctx, app, table, *cmd))
                .map(Command::privilege)
                .collect();
            if uncovered.is_empty() {
                ID.pass(ctx.tier(), &table.name, "every granted command has a permissive policy")
            } else {
                ID.fail(
                    ctx.tier(),
                    &table.name,
                    format!(
                        "`{app}` is granted {} on {} but no permissive policy applies: RLS denies every row",
                        uncovered.join(", "),
                        table.name
                    ),
                )
                .detail("commands", uncovered)
            }
        })
        .collect()
}

pub(super) fn has_permissive_policy(ctx: &TierContext<'_>, app: &str, table: &Table, command: Command) -> bool {
    table.policies.iter().any(|p| {
        p.permissive
            && p.command.covers(command)
            && p.roles.iter().any(|r| r == "public" || ctx.catalog.acts_as(app, r))
    })
}
