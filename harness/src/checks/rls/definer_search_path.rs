//! `rls.definer_search_path` (warning): a SECURITY DEFINER function runs
//! with its owner's rights but, without `SET search_path` of its own,
//! resolves unqualified names through the caller's search_path: a caller
//! who can create objects anywhere on that path can put its own table or
//! operator in front of the one the function means, and have it run with
//! the owner's rights.

use crate::checks::{CheckId, Finding, Severity, TierContext};

pub const DEFINER_SEARCH_PATH: CheckId = CheckId::new(
    "rls.definer_search_path",
    Severity::Warning,
    r#"a SECURITY DEFINER function without a `search_path` of its own (`SET search_path = ...`)"#,
);

pub fn check(ctx: &TierContext<'_>) -> Vec<Finding> {
    ctx.catalog
        .functions
        .iter()
        .filter(|f| f.security_definer)
        .map(|f| {
            let object = format!("{}({})", f.name, f.arguments);
            if f.fixes_search_path() {
                DEFINER_SEARCH_PATH.pass(ctx.tier(), object, "runs with a search_path of its own")
            } else {
                DEFINER_SEARCH_PATH.fail(
                    ctx.tier(),
                    &object,
                    format!("{object}: SECURITY DEFINER without a fixed search_path; add `SET search_path = pg_catalog, pg_temp` (and qualify names) or the schemas it needs"),
                )
            }
        })
        .collect()
}
