//! `orphan.tenant_mismatch`: rows whose reference finds its target, but the
//! target belongs to another tenant: tenant A's message counts toward tenant
//! B's campaign, and whatever follows the reference crosses tenants. Checked
//! wherever both tables are tenant-scoped (`Tenancy`: the tenant column,
//! for the tenants table its key, or for a table without either the column
//! at the end of its FK path) and a match is not the same tenant by
//! construction (`Link::tenant_kind`). The cross-tier merge and the
//! same-tier anti-join find these along with the orphans.

use crate::checks::{CheckId, Severity};

pub const ID: CheckId = CheckId::new(
    "orphan.tenant_mismatch",
    Severity::Error,
    r#"rows whose reference finds a target row of another tenant"#,
);
