//! `orphan.tenant_mismatch`: rows whose reference finds its target, but the
//! target belongs to another tenant: tenant A's message counts toward tenant
//! B's campaign, and whatever follows the reference crosses tenants. Checked
//! wherever both tables are tenant-scoped (`Tenancy`: the tenant column, or
//! for the tenants table its key) and the reference does not itself pair
//! the two tenant columns. The cross-tier merge and the same-tier anti-join
//! find these along with the orphans.

use crate::checks::{CheckId, Severity};

pub const ID: CheckId = CheckId::new("orphan.tenant_mismatch", Severity::Error);
