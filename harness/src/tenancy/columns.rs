//! Which column holds the tenant and which setting carries it, per tier
//! and per table. A tier takes what the scenario declares; else the column
//! most tables of all tiers carry, if this tier has it, else the one its own
//! policies compare with a setting (an OLAP tier keyed on `account_id`
//! beside an OLTP tier keyed on `tenant_id`); likewise the setting. A table
//! without its tier's column takes the candidate column its own policy
//! compares with the tier's setting, so `org_id` on one legacy table is
//! read as that table's tenant rather than left unknown.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{self, Model};
use super::scope::KeyTenants;
use super::policies::{compares_with, settings_in};
use super::Origin;
use crate::catalog::{mentions, Catalog, Table};
use crate::scenario::TenancyHints;

/// Column names that usually carry the tenant, most likely first.
const TENANT_COLUMN_CANDIDATES: [&str; 8] = [
    "tenant_id",
    "organization_id",
    "org_id",
    "account_id",
    "company_id",
    "workspace_id",
    "customer_id",
    "team_id",
];

/// A tier's tenancy model, tenant column and setting, and where each came from.
#[derive(Debug, Clone, Serialize)]
pub struct TierTenancy {
    pub model: Model,
    pub model_origin: Origin,
    pub column: Option<String>,
    pub column_origin: Origin,
    /// The setting the context goes in (`request.jwt.claims` for JWT models).
    pub guc: Option<String>,
    pub guc_origin: Origin,
    /// Set when this tier's tenants are rows of another tier's tenant table
    /// (a reporting tier keyed on `company_id`, each company an OLTP
    /// tenant's): a row's tenant there is found through that table.
    pub tenant_of: Option<TenantOf>,
}

/// The table of another tier whose rows a tier's tenants are: their key
/// there, and the tenant each belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct TenantOf {
    pub keys: KeyTenants,
    pub origin: Origin,
}

/// What all tiers together say: the candidate column most tables carry and
/// the setting policies read most. Read once; each tier's inference starts
/// from it.
pub(super) struct Overall {
    column: Option<String>,
    setting: Option<String>,
}

impl Overall {
    pub(super) fn of(catalogs: &[Catalog]) -> Overall {
        Overall {
            column: most_carried_column(catalogs),
            setting: most_read(settings_read(catalogs, None)),
        }
    }
}

impl TierTenancy {
    /// A tier's own declaration wins. Else the scenario's column if this
    /// tier carries it, the column most tables of all tiers carry if this
    /// tier does, the one this tier's policies compare with a setting.
    /// The setting of a tier keyed on its own column is the one its
    /// policies compare that column with; else the scenario's setting if
    /// this tier's policies read it (or read none), the setting most
    /// policies read if they do, the one they read most.
    pub(super) fn infer(hints: &TenancyHints, catalog: &Catalog, overall: &Overall) -> TierTenancy {
        let own = hints.tiers.get(&catalog.tier).cloned().unwrap_or_default();
        let general = |declared: &Option<String>, inferred: &Option<String>| {
            [(declared.clone(), Origin::Declared), (inferred.clone(), Origin::Inferred)]
                .into_iter()
                .filter_map(|(value, origin)| Some((value?, origin)))
                .collect::<Vec<_>>()
        };
        let columns = general(&hints.column, &overall.column);
        let carried = |c: &String| catalog.tables.iter().any(|t| t.column(c).is_some());
        let (column, column_origin) = match own.column.clone() {
            Some(c) => (Some(c), Origin::Declared),
            None => match (columns.iter().find(|(c, _)| carried(c)), policies_column(catalog)) {
                (Some((c, origin)), _) => (Some(c.clone()), *origin),
                (None, Some(c)) => (Some(c), Origin::TierPolicies),
                (None, None) => columns.first().map_or((None, Origin::Inferred), |(c, o)| (Some(c.clone()), *o)),
            },
        };
        let (model, model_origin) = model::infer(hints, catalog, column.as_deref());
        let context_setting = match &model {
            Model::Membership(m) => m.user_setting.clone(),
            _ => None,
        }
        .or_else(|| model.jwt().then(|| model::JWT_CLAIMS.to_string()));
        if let Some(setting) = context_setting {
            let (guc, guc_origin) = match own.guc {
                Some(declared) => (declared, Origin::Declared),
                None => (setting, model_origin),
            };
            return TierTenancy {
                model,
                model_origin,
                column,
                column_origin,
                guc: Some(guc),
                guc_origin,
                tenant_of: None,
            };
        }
        let settings = general(&hints.guc, &overall.setting);
        let read = settings_read(std::slice::from_ref(catalog), None);
        // A tier keyed on its own column: the setting its policies compare
        // that column with, whatever the other tiers read.
        let own_model = own.column.is_some() || column_origin == Origin::TierPolicies;
        let compared = column.as_deref().filter(|_| own_model).and_then(|c| most_read(settings_read(std::slice::from_ref(catalog), Some(c))));
        let (guc, guc_origin) = match (own.guc, compared) {
            (Some(g), _) => (Some(g), Origin::Declared),
            (None, Some(g)) => (Some(g), Origin::TierPolicies),
            (None, None) => match settings.iter().find(|(g, _)| read.is_empty() || read.contains_key(g)) {
                Some((g, origin)) => (Some(g.clone()), *origin),
                None if !read.is_empty() => (most_read(read), Origin::TierPolicies),
                None => (None, Origin::Inferred),
            },
        };
        TierTenancy {
            model,
            model_origin,
            column,
            column_origin,
            guc,
            guc_origin,
            tenant_of: None,
        }
    }
}

/// A tenant column for a table that lacks its tier's: the first candidate
/// name it carries that one of its policies compares with the tenant
/// setting. Only candidate names: a policy comparing `created_by` with the
/// tenant setting is a defect to probe, not a tenancy to adopt.
pub(super) fn table_policy_column(table: &Table, guc: &str) -> Option<String> {
    TENANT_COLUMN_CANDIDATES
        .iter()
        .find(|candidate| table.column(candidate).is_some() && compares_with(table, candidate, Some(guc)))
        .map(|c| c.to_string())
}

/// The candidate column present in the most tables (ties: the likelier name).
fn most_carried_column(catalogs: &[Catalog]) -> Option<String> {
    most_common_candidate(|candidate| {
        catalogs.iter().flat_map(|c| &c.tables).filter(|t| t.column(candidate).is_some()).count()
    })
}

/// The column that the most tables of the tier compare with a setting in
/// their policies: a candidate name if any is, else any `*_id` column that
/// at least two tables' policies compare (a schema keyed on `clinic_id`
/// says so in every policy; one table's odd comparison is not a tenancy).
fn policies_column(catalog: &Catalog) -> Option<String> {
    let compared_in = |column: &str| {
        let compared = |t: &&Table| t.column(column).is_some() && compares_with(t, column, None);
        catalog.tables.iter().filter(compared).count()
    };
    most_common_candidate(compared_in).or_else(|| {
        let mut names: Vec<&str> = catalog.tables.iter().flat_map(|t| t.columns.iter().map(|c| c.name.as_str())).filter(|n| n.ends_with("_id")).collect();
        names.sort_unstable();
        names.dedup();
        names.into_iter().map(|n| (compared_in(n), n)).filter(|(count, _)| *count >= 2).max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(a.1))).map(|(_, n)| n.to_string())
    })
}

/// The candidate with the highest count above zero (ties: the likelier name).
fn most_common_candidate(count: impl Fn(&str) -> usize) -> Option<String> {
    TENANT_COLUMN_CANDIDATES
        .iter()
        .map(|candidate| (candidate, count(candidate)))
        .filter(|(_, count)| *count > 0)
        .max_by(|a, b| a.1.cmp(&b.1).then(std::cmp::Ordering::Greater))
        .map(|(candidate, _)| candidate.to_string())
}

fn most_read(counts: BTreeMap<String, usize>) -> Option<String> {
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(guc, _)| guc)
}

/// How often policies read each setting with `current_setting()`, in
/// expressions that name `column` when given.
fn settings_read(catalogs: &[Catalog], column: Option<&str>) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for policy in catalogs.iter().flat_map(|c| &c.tables).flat_map(|t| &t.policies) {
        let expressions = [&policy.using, &policy.with_check].into_iter().flatten();
        for expr in expressions.filter(|e| column.is_none_or(|c| mentions(e, c))) {
            for setting in settings_in(expr) {
                *counts.entry(setting.to_string()).or_default() += 1;
            }
        }
    }
    counts
}
