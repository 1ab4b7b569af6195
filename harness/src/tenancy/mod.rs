//! Which tables hold tenant rows, which setting carries the tenant, and which
//! role the application uses: given by the scenario, else inferred from the
//! catalogs of all tiers together. The one place that decides tenancy, so
//! checks, seeding and probes agree on it.
//!
//! Each tier has its own tenant column and setting (`columns`): most
//! systems use one name everywhere, but an analytics tier keyed on
//! `account_id` beside an OLTP tier keyed on `tenant_id` is common, and a
//! table may name it otherwise than its tier (`[tenancy.columns]`).
//!
//! A table holds tenant rows in one of three ways (`TenantScope`):
//! - it carries the tenant column (`Column`);
//! - it is the tenants table, whose key is the tenant id (`Root`);
//! - it carries neither, and its tenant is found by following FKs up to a
//!   table that does (`Path`, see `paths`).
//!
//! Tables outside the tenancy are classified once (`shared`): global by
//! design, or of an unknown tenancy that a run reports rather than passes.

pub mod acting;
mod columns;
mod describe;
pub mod inputs;
pub mod model;
mod origin;
pub mod owners;
mod paths;
mod policies;
mod roles;
mod scope;
pub mod shared;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use indexmap::IndexMap;

use crate::catalog::{Catalog, QualName, Table};
use crate::error::{HarnessError, Result};
use crate::scenario::{ContextMechanism, Scenario, TierColumn, TierTable};

pub use columns::{TenantOf, TierTenancy};
pub use origin::Origin;
pub use model::{Membership, Model};
pub use scope::{KeyTenants, PathHop, RemoteTenant, TenantPath, TenantScope};
pub use shared::{Class, Unscoped};

#[derive(Debug, Clone, Default)]
pub struct Tenancy {
    /// Each tier's tenant column and setting, in the scenario's order.
    tiers: IndexMap<String, TierTenancy>,
    pub app_role: Option<String>,
    pub app_role_origin: Option<Origin>,
    /// The role named or inferred when it cannot log in: `app_role` is then
    /// the login role that is a member of it, as the application logs in.
    pub login_for: Option<String>,
    /// The role the probes log in as when it is not `app_role`: PostgREST's
    /// `authenticator`, which takes the JWT's role (`authenticated`, `anon`).
    pub login: Option<String>,
    /// Tenant-scoped tables per tier (partitions excluded: they are reached
    /// through their parent).
    scoped: BTreeMap<String, BTreeMap<QualName, TenantScope>>,
    /// Tables of every tier outside the tenancy, and why.
    unscoped: Vec<Unscoped>,
    /// Tables whose own tenant column the scenario declares.
    declared_columns: Vec<TierTable>,
}

impl Tenancy {
    /// Fails on a `[tenancy.paths]` declaration the catalog contradicts, and
    /// on a context function the catalog does not have.
    pub fn infer(scenario: &Scenario, catalogs: &[Catalog]) -> Result<Tenancy> {
        let hints = &scenario.tenancy;
        let overall = columns::Overall::of(catalogs);
        let tiers: IndexMap<String, TierTenancy> = catalogs.iter().map(|c| (c.tier.clone(), TierTenancy::infer(hints, c, &overall))).collect();
        let shared = |tier: &str, table: &QualName| hints.shared.iter().any(|s| s == &TierTable::of(tier, table));
        // The tenant column each table would carry: declared for it, else
        // its tier's if it has it, else one its policies compare with the
        // tier's setting.
        let column_of = |tier: &str, table: &Table| -> Option<String> {
            if let Some(column) = hints.table_column(tier, &table.name) {
                return Some(column.to_string());
            }
            let tenancy = &tiers[tier];
            let column = tenancy.column.as_ref()?;
            if table.column(column).is_some() {
                return Some(column.clone());
            }
            columns::table_policy_column(table, tenancy.guc.as_deref()?)
        };
        let mut scoped: BTreeMap<String, BTreeMap<QualName, TenantScope>> = BTreeMap::new();
        for catalog in catalogs {
            let tier = scoped.entry(catalog.tier.clone()).or_default();
            for table in catalog.tables.iter().filter(|t| !t.is_partition()) {
                let Some(column) = column_of(&catalog.tier, table) else { continue };
                if !shared(&catalog.tier, &table.name) {
                    tier.insert(table.name.clone(), TenantScope::Column(column.clone()));
                }
                // The target of a tenant-column FK is the tenants table.
                for (constraint, fk) in table.foreign_keys() {
                    if constraint.columns == [column.clone()] {
                        tier.insert(fk.target.clone(), TenantScope::Root(fk.target_columns[0].clone()));
                    }
                }
            }
        }
        // Likewise the target of a reference of the tenant column alone,
        // from another tier; unless that target carries a tenant itself:
        // then the referring tier's tenants are its rows (`tenant_of`).
        let mut tiers = tiers;
        for reference in &scenario.references {
            let from = &reference.from.table;
            let Some(Some(TenantScope::Column(column))) = scoped.get(&from.tier).map(|t| t.get(&from.qual_name())) else {
                continue;
            };
            if reference.from.columns != [column.clone()] {
                continue;
            }
            let to = &reference.to;
            let target = scoped.get(&to.table.tier).and_then(|t| t.get(&to.table.qual_name()));
            let keys = match target {
                Some(TenantScope::Column(tenant_column)) if to.table.tier != from.tier => {
                    KeyTenants::of(catalogs, &to.table.tier, to.table.qual_name(), &to.columns[0], tenant_column)
                }
                _ => None,
            };
            match keys {
                Some(keys) => {
                    let tier = tiers.get_mut(&from.tier).expect("every tier is inferred");
                    tier.tenant_of.get_or_insert(TenantOf { keys, origin: Origin::Inferred });
                }
                None => {
                    let root = TenantScope::Root(to.columns[0].clone());
                    scoped.entry(to.table.tier.clone()).or_default().insert(to.table.qual_name(), root);
                }
            }
        }
        for (name, tier) in tiers.iter_mut() {
            if let Some(declared) = hints.tiers.get(name).and_then(|h| h.tenant_of.as_ref()) {
                tier.tenant_of = Some(declared_tenant_of(declared, catalogs, &scoped)?);
            }
        }
        // Paths last: they end at the tables scoped above, in any tier's
        // own catalog.
        for catalog in catalogs {
            let tier = scoped.entry(catalog.tier.clone()).or_default();
            let mut declared = hints.paths.iter().filter(|p| p.table.tier == catalog.tier).peekable();
            let Some(column) = &tiers[&catalog.tier].column else {
                if let Some(path) = declared.peek() {
                    return Err(HarnessError::input(format!(
                        "tenancy.paths \"{}\": no tenant column was given or inferred for the path to end at (set tenancy.column, or column under [tiers.{}.tenancy])",
                        path.table, catalog.tier
                    )));
                }
                continue;
            };
            paths::declare_paths(catalog, column, declared, tier)?;
            paths::infer_paths(catalog, tier, |t| shared(&catalog.tier, t));
        }
        // Last, a table still without a tenant whose declared reference
        // names a tenant table of another tier belongs to that row's tenant
        // (not in a tier whose tenants are another tier's rows: its
        // principals are those rows, not the tenants this would name).
        for reference in &scenario.references {
            let (from, to) = (&reference.from, &reference.to);
            let unscoped = scoped.get(&from.table.tier).is_none_or(|t| !t.contains_key(&from.table.qual_name()));
            let of_tenants = tiers.get(&from.table.tier).is_some_and(|t| t.tenant_of.is_none());
            if !unscoped || !of_tenants || shared(&from.table.tier, &from.table.qual_name()) || from.columns.len() != 1 || from.table.tier == to.table.tier {
                continue;
            }
            let Some(Some(TenantScope::Column(tenant_column))) = scoped.get(&to.table.tier).map(|t| t.get(&to.table.qual_name())) else { continue };
            let Some(of) = KeyTenants::of(catalogs, &to.table.tier, to.table.qual_name(), &to.columns[0], tenant_column) else { continue };
            let remote = RemoteTenant { column: from.columns[0].clone(), of };
            scoped.entry(from.table.tier.clone()).or_default().insert(from.table.qual_name(), TenantScope::Remote(remote));
        }
        let mut tenancy = Tenancy {
            tiers,
            scoped,
            declared_columns: hints.columns.iter().map(|(t, _)| t.clone()).collect(),
            ..Tenancy::default()
        };
        // Signed-in users act as `authenticated`, the role PostgREST takes.
        let jwt = tenancy.tiers.values().any(|t| t.model.jwt());
        let (app_role, origin) = match &hints.app_role {
            Some(role) => (Some(role.clone()), Origin::Declared),
            None if jwt => (Some(model::AUTHENTICATED.to_string()), Origin::Inferred),
            None => (roles::infer_app_role(&tenancy, catalogs), Origin::Inferred),
        };
        if let Some(role) = app_role {
            // PostgREST logs in as its authenticator and takes the JWT's
            // role itself: that role is the one to act as.
            let login = if jwt { role.clone() } else { roles::login_role(catalogs, &role) };
            tenancy.app_role = Some(login.clone());
            tenancy.app_role_origin = Some(origin);
            tenancy.login_for = (login != role).then_some(role);
        }
        if jwt {
            tenancy.login = roles::authenticator(catalogs, tenancy.app_role.as_deref());
        }
        if let ContextMechanism::Function(function) = &hints.context {
            for catalog in catalogs.iter().filter(|c| tenancy.scoped_tables(c).next().is_some()) {
                roles::check_context_function(catalog, function, tenancy.app_role.as_deref())?;
            }
        }
        tenancy.unscoped = catalogs.iter().flat_map(|c| shared::unscoped(scenario, &tenancy, c)).collect();
        Ok(tenancy)
    }

    /// The other tier's table whose rows `tier`'s tenants are, if any.
    pub fn tenant_of(&self, tier: &str) -> Option<&TenantOf> {
        self.tier(tier)?.tenant_of.as_ref()
    }

    /// The tenant column and setting of `tier`, and where they came from.
    pub fn tier(&self, tier: &str) -> Option<&TierTenancy> {
        self.tiers.get(tier)
    }

    /// The tenant column of `tier` (a table may carry its own: see `scope`).
    pub fn column(&self, tier: &str) -> Option<&str> {
        self.tier(tier)?.column.as_deref()
    }

    /// The setting that carries the tenant on `tier`.
    pub fn guc(&self, tier: &str) -> Option<&str> {
        self.tier(tier)?.guc.as_deref()
    }

    /// Who the application acts as on `tier`.
    pub fn model(&self, tier: &str) -> &Model {
        self.tier(tier).map_or(&Model::Setting, |t| &t.model)
    }

    /// This tenancy with every key of another tier's table read together
    /// with its tenant ([`KeyTenants::read`]), as the checks need it: those
    /// of a tier whose tenants are such keys (`tenant_of`), and those of
    /// tables whose tenant is read through a reference (`Remote`). A table
    /// whose mapping cannot be read is of an unknown tenancy, reported and
    /// not probed, rather than no tenant's; a tier's, the checks that need
    /// it report (`orphan.tenant_mismatch`).
    pub async fn with_remote_mappings(&self, tiers: &[(&Catalog, &sqlx::PgPool)]) -> Tenancy {
        let mut resolved = self.clone();
        for tier in resolved.tiers.values_mut() {
            if let Some(of) = &mut tier.tenant_of {
                of.keys.read(tiers).await;
            }
        }
        for (tier, tables) in resolved.scoped.iter_mut() {
            let mut unreadable = Vec::new();
            for (name, scope) in tables.iter_mut() {
                let TenantScope::Remote(remote) = scope else { continue };
                remote.of.read(tiers).await;
                if let Some(Err(problem)) = &remote.of.mapping {
                    unreadable.push((name.clone(), format!("its tenant is read through {remote}, and that could not be read: {problem}")));
                }
            }
            for (name, why) in unreadable {
                tables.remove(&name);
                resolved.unscoped.push(Unscoped { tier: tier.clone(), table: name.to_string(), class: Class::Unknown, why });
            }
        }
        resolved
    }

    /// Every table whose tenant is read through another tier, per tier.
    pub fn remotes(&self) -> impl Iterator<Item = (&str, &QualName, &RemoteTenant)> {
        self.scoped.iter().flat_map(|(tier, tables)| {
            tables.iter().filter_map(move |(name, scope)| match scope {
                TenantScope::Remote(remote) => Some((tier.as_str(), name, remote)),
                _ => None,
            })
        })
    }

    /// Every table scoped through an FK path, per tier: what a run prints so
    /// people can see (and, if wrong, declare) what was inferred.
    pub fn paths(&self) -> impl Iterator<Item = (&str, &QualName, &TenantPath)> {
        self.scoped.iter().flat_map(|(tier, tables)| {
            tables.iter().filter_map(move |(name, scope)| match scope {
                TenantScope::Path(path) => Some((tier.as_str(), name, path)),
                _ => None,
            })
        })
    }

    /// Tables of `tier` that carry the tenant in a column other than the
    /// tier's, with that column and whether the scenario declares it.
    pub fn own_columns<'t>(&'t self, tier: &'t str) -> impl Iterator<Item = (&'t QualName, &'t str, Origin)> {
        let tier_column = self.column(tier);
        self.scoped.get(tier).into_iter().flatten().filter_map(move |(name, scope)| match scope {
            TenantScope::Column(c) if Some(c.as_str()) != tier_column => {
                let declared = self.declared_columns.contains(&TierTable::of(tier, name));
                Some((name, c.as_str(), if declared { Origin::Declared } else { Origin::Inferred }))
            }
            _ => None,
        })
    }

    pub fn scope(&self, tier: &str, table: &QualName) -> Option<&TenantScope> {
        self.scoped.get(tier)?.get(table)
    }

    /// Tenant-scoped tables of a tier, in name order.
    pub fn scoped_tables<'c>(&'c self, catalog: &'c Catalog) -> impl Iterator<Item = (&'c Table, &'c TenantScope)> {
        catalog
            .tables
            .iter()
            .filter_map(move |t| self.scope(&catalog.tier, &t.name).map(|s| (t, s)))
    }

    /// Tables outside the tenancy, of every tier, in catalog order.
    pub fn unscoped(&self) -> &[Unscoped] {
        &self.unscoped
    }
}

/// A declared `tenant_of`, checked: it must name a column of a table that
/// carries the tenant in its own tier.
fn declared_tenant_of(declared: &TierColumn, catalogs: &[Catalog], scoped: &BTreeMap<String, BTreeMap<QualName, TenantScope>>) -> Result<TenantOf> {
    let table = declared.table.qual_name();
    let has_key = catalogs.iter().filter(|c| c.tier == declared.table.tier).flat_map(|c| c.table(&table)).any(|t| t.column(&declared.column).is_some());
    if !has_key {
        return Err(HarnessError::input(format!("tenant_of {declared}: tier {} has no such table and column", declared.table.tier)));
    }
    let tenant_column = match scoped.get(&declared.table.tier).and_then(|t| t.get(&table)) {
        Some(TenantScope::Column(tenant_column)) => Some(tenant_column),
        _ => None,
    };
    match tenant_column.and_then(|c| KeyTenants::of(catalogs, &declared.table.tier, table, &declared.column, c)) {
        Some(keys) => Ok(TenantOf { keys, origin: Origin::Declared }),
        None => Err(HarnessError::input(format!(
            "tenant_of {declared}: {} carries no tenant column in tier {}, so its rows cannot say whose a tenant of another tier is",
            declared.table, declared.table.tier
        ))),
    }
}
