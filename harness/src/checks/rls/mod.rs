//! Tenant isolation. The catalog checks here read RLS flags, policies,
//! owners and grants; they need to know which tables hold tenant rows and
//! which role the application uses (catalog::tenancy).

mod disabled;
mod no_policy;
mod not_forced;
mod privileged_role;

use super::{Finding, TierContext};

pub fn run(ctx: &TierContext<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.extend(disabled::check(ctx));
    findings.extend(not_forced::check(ctx));
    findings.extend(no_policy::check(ctx));
    findings.extend(privileged_role::check(ctx));
    findings
}
