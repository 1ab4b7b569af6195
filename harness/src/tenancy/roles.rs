//! The role tierguard acts as (the one the application logs in as) and the
//! context function the application calls, checked against the catalog.

use std::collections::HashMap;

use super::Tenancy;
use crate::catalog::{Catalog, QualName};
use crate::error::{HarnessError, Result};

/// The role granted most privileges on tenant tables, not counting
/// owners, superusers and PUBLIC.
pub(super) fn infer_app_role(tenancy: &Tenancy, catalogs: &[Catalog]) -> Option<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for catalog in catalogs {
        for (table, _) in tenancy.scoped_tables(catalog) {
            for grant in &table.grants {
                let superuser = catalog.role(&grant.grantee).is_some_and(|r| r.superuser);
                if grant.grantee != "public" && grant.grantee != table.owner && !superuser {
                    *counts.entry(grant.grantee.clone()).or_default() += grant.privileges.len();
                }
            }
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .map(|(role, _)| role)
}

/// The role the application logs in as, for `role`: itself when it can log
/// in (or is unknown); else the login role that is a member of it, and of
/// the most other roles when there are several (policies and grants of
/// every role it belongs to apply to it, so that one sees the most).
pub(super) fn login_role(catalogs: &[Catalog], role: &str) -> String {
    let roles = || catalogs.iter().flat_map(|c| &c.roles);
    if roles().find(|r| r.name == role).is_none_or(|r| r.can_login) {
        return role.to_string();
    }
    roles()
        .filter(|r| r.can_login && !r.superuser && r.member_of.iter().any(|m| m == role))
        .max_by(|a, b| a.member_of.len().cmp(&b.member_of.len()).then_with(|| b.name.cmp(&a.name)))
        .map_or_else(|| role.to_string(), |r| r.name.clone())
}

/// The context function (`[tenancy] context_function`) must exist on every
/// tier with tenant tables, take one argument (the tenant id) and be
/// callable by the app role: the probes call it as the application would.
pub(super) fn check_context_function(catalog: &Catalog, name: &QualName, app_role: Option<&str>) -> Result<()> {
    let tier = &catalog.tier;
    let overloads: Vec<_> = catalog.functions.iter().filter(|f| &f.name == name).collect();
    let usage = format!("the probes call it as `SELECT {name}(tenant_id)`");
    let Some(function) = overloads.iter().find(|f| !f.arguments.trim().is_empty() && !f.arguments.contains(',')) else {
        let found = match overloads.first() {
            Some(f) => format!("only {name}({}) exists", f.arguments),
            None => "no such function exists".to_string(),
        };
        return Err(HarnessError::input(format!(
            "tenancy.context_function `{name}` on tier `{tier}`: {found}; it must take one argument, the tenant id ({usage})"
        )));
    };
    if let Some(role) = app_role {
        if !function.executable_by.iter().any(|r| r == "public" || catalog.acts_as(role, r)) {
            return Err(HarnessError::input(format!(
                "tenancy.context_function `{name}({})` on tier `{tier}`: the app role `{role}` may not execute it ({usage}; GRANT EXECUTE ON FUNCTION {name} TO {role})",
                function.arguments
            )));
        }
    }
    Ok(())
}

/// PostgREST's login role, `authenticator`, when it exists, can log in and
/// may take `role` (and `anon`): the role PostgREST connects as.
pub(super) fn authenticator(catalogs: &[Catalog], role: Option<&str>) -> Option<String> {
    let role = role?;
    let found = catalogs.iter().flat_map(|c| &c.roles).find(|r| r.name == "authenticator")?;
    (found.can_login && found.member_of.iter().any(|m| m == role)).then(|| found.name.clone())
}
