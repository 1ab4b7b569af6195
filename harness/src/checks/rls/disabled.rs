//! `rls.disabled`: a tenant-scoped table without row level security. Every
//! role with a grant on it sees every tenant's rows.

use crate::checks::{CheckId, Severity, Finding, TierContext};

pub const ID: CheckId = CheckId::new(
    "rls.disabled",
    Severity::Error,
    r#"a tenant-scoped table has row level security off"#,
);

pub fn check(ctx: &TierContext<'_>) -> Vec<Finding> {
    ctx.tenancy
        .scoped_tables(ctx.catalog)
        .map(|(table, _)| {
            if table.rls_enabled {
                ID.pass(ctx.tier(), &table.name, "row level security is enabled")
            } else {
                ID.fail(
                    ctx.tier(),
                    &table.name,
                    format!("{} holds tenant rows but row level security is off: every role with a grant reads all tenants", table.name),
                )
                .detail("fix", format!("ALTER TABLE {} ENABLE ROW LEVEL SECURITY;", table.name.sql()))
            }
        })
        .collect()
}
