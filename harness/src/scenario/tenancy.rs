//! What a scenario says about tenancy (`[tenancy]`, `[tenancy.paths]`,
//! `[tenancy.columns]`, `[tenancy.privileged]`, `[tiers.NAME.tenancy]`):
//! read from the file and checked against the tiers; anything left out is
//! inferred from the catalog (the tenancy module, a layer above).

use std::collections::BTreeMap;
use std::fmt;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::file::{ContextKind, TenancyFile, TierFile};
use super::{DeclaredPath, TierColumn, TierTable};
use crate::error::{HarnessError, Result};
use crate::sql::QualName;

/// What the user says about tenancy; anything left out is inferred from the catalog.
#[derive(Debug, Clone, Default)]
pub struct TenancyHints {
    pub column: Option<String>,
    pub guc: Option<String>,
    pub app_role: Option<String>,
    /// Global tables that carry no tenant.
    pub shared: Vec<TierTable>,
    /// How the application sets the tenant on a connection.
    pub context: ContextMechanism,
    /// What the connection pool runs when it hands a connection out again.
    pub reset: Option<String>,
    /// Tables without a tenant column whose tenant is reached through FK
    /// hops (`[tenancy.paths]`); others are inferred (`tenancy`).
    pub paths: Vec<DeclaredPath>,
    /// A tier's own tenant column and setting (`[tiers.NAME.tenancy]`),
    /// over `column` and `guc`: `tenant_id` in OLTP, `account_id` in OLAP.
    pub tiers: BTreeMap<String, TierTenancyHints>,
    /// A table's own tenant column (`[tenancy.columns]`), over its tier's.
    pub columns: Vec<(TierTable, String)>,
    /// Who the application acts as (`[tenancy] model`).
    pub model: Option<ModelKind>,
    /// Where the tenant id sits in the JWT claims, dotted
    /// (`app_metadata.tenant_id`), for `model = "supabase"`.
    pub claim: Option<String>,
    /// The table whose rows make a user a member of a tenant, and its user
    /// column, for `model = "membership"`.
    pub membership: Option<TierTable>,
    pub membership_user: Option<String>,
    /// Values of other settings or claims meant to open other tenants'
    /// rows (`[tenancy.privileged]`: a platform admin): what they open is
    /// reported as `info`, not failed. A claim is written `jwt.PATH`.
    pub privileged: Vec<(String, Vec<String>)>,
}

/// Who the application acts as, and what its context carries
/// (`[tenancy] model`): `setting` = a tenant, its id in a setting (or
/// passed to the context function); `supabase` = a signed-in user whose
/// JWT claims (as PostgREST sets them, role `authenticated`) carry the
/// tenant id; `membership` = a signed-in user (JWT `sub`) whose tenants
/// are the rows of a membership table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Setting,
    Supabase,
    Membership,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TierTenancyHints {
    pub column: Option<String>,
    pub guc: Option<String>,
    /// The key of another tier's tenant table whose rows this tier's
    /// tenants are (`tenant_of = "oltp.public.companies.id"`).
    pub tenant_of: Option<TierColumn>,
}

/// How the application sets the tenant (`[tenancy] context`): `local` =
/// `set_config(guc, id, true)` per transaction (default); `session` = a
/// session-level `SET`; `function` = a function of the schema called with
/// the tenant id (`context_function = "SCHEMA.NAME"`), whatever it does
/// inside. Saved in repro files, so a replay acts the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContextMechanism {
    #[default]
    Local,
    Session,
    Function(QualName),
}

impl fmt::Display for ContextMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextMechanism::Local => f.write_str("local"),
            ContextMechanism::Session => f.write_str("session"),
            ContextMechanism::Function(name) => write!(f, "function {name}"),
        }
    }
}

impl TenancyHints {
    /// The tenant column `[tenancy.columns]` declares for `table` of `tier`.
    pub fn table_column(&self, tier: &str, table: &QualName) -> Option<&str> {
        self.columns.iter().find(|(t, _)| t.tier == tier && t.qual_name() == *table).map(|(_, c)| c.as_str())
    }

    /// Whether `[tenancy.privileged]` declares `input = value` an intended
    /// cross-tenant role.
    pub fn privileged(&self, input: &str, value: &str) -> bool {
        self.privileged.iter().any(|(name, values)| name == input && values.iter().any(|v| v == value))
    }

    /// The hints of a scenario file; `err` says which file is wrong.
    pub(super) fn from_file(tenancy: TenancyFile, tiers: &IndexMap<String, TierFile>, err: impl Fn(String) -> HarnessError + Copy) -> Result<TenancyHints> {
        let parse_all = |key: &str, items: &[String]| -> Result<Vec<TierTable>> {
            items.iter().map(|s| s.parse().map_err(|m| err(format!("{key}: {m}")))).collect()
        };
        Ok(TenancyHints {
            column: tenancy.column,
            guc: tenancy.guc,
            app_role: tenancy.app_role,
            shared: parse_all("tenancy.shared", &tenancy.shared)?,
            context: context_mechanism(tenancy.context, tenancy.context_function).map_err(err)?,
            reset: tenancy.reset,
            paths: tenancy
                .paths
                .iter()
                .map(|(table, hops)| {
                    let key = |m: String| err(format!("tenancy.paths \"{table}\": {m}"));
                    if hops.is_empty() {
                        return Err(key("no hops: list at least one `COLUMN -> SCHEMA.TABLE.COLUMN`".into()));
                    }
                    Ok(DeclaredPath {
                        table: table.parse().map_err(key)?,
                        hops: hops
                            .iter()
                            .map(|h| h.parse())
                            .collect::<std::result::Result<_, _>>()
                            .map_err(key)?,
                    })
                })
                .collect::<Result<_>>()?,
            tiers: tiers
                .iter()
                .filter_map(|(name, tier)| Some((name, tier.tenancy.as_ref()?)))
                .map(|(name, hints)| {
                    let tenant_of = hints.tenant_of.as_ref().map(|t| t.parse().map_err(|m| err(format!("tiers.{name}.tenancy.tenant_of: {m}"))));
                    Ok((name.clone(), TierTenancyHints { column: hints.column.clone(), guc: hints.guc.clone(), tenant_of: tenant_of.transpose()? }))
                })
                .collect::<Result<_>>()?,
            columns: tenancy
                .columns
                .iter()
                .map(|(table, column)| {
                    let table = table.parse().map_err(|m| err(format!("tenancy.columns \"{table}\": {m}")))?;
                    Ok((table, column.clone()))
                })
                .collect::<Result<_>>()?,
            model: tenancy.model,
            claim: tenancy.claim,
            membership: tenancy
                .membership
                .map(|t| t.parse().map_err(|m| err(format!("tenancy.membership: {m}"))))
                .transpose()?,
            membership_user: tenancy.membership_user,
            privileged: tenancy.privileged.into_iter().collect(),
        })
    }

    /// Every tier named must exist (`known`), and a table is declared one way only.
    pub(super) fn validate(&self, known: &impl Fn(&str, &str) -> Result<()>, where_: &str) -> Result<()> {
        for t in &self.shared {
            known(&t.tier, &format!("tenancy.shared entry {t}"))?;
        }
        for (t, _) in &self.columns {
            known(&t.tier, &format!("tenancy.columns entry {t}"))?;
            if self.shared.contains(t) || self.paths.iter().any(|p| &p.table == t) {
                return Err(HarnessError::input(format!(
                    "{t} is in tenancy.columns and in tenancy.shared or tenancy.paths{where_}: a table either carries the tenant, is reached through a path, or is global"
                )));
            }
        }
        let model = self.model;
        let only_with = |key: &str, set: bool, wanted: ModelKind| -> Result<()> {
            if set && model.is_some_and(|m| m != wanted) {
                let wanted = serde_json::to_value(wanted).unwrap_or_default();
                return Err(HarnessError::input(format!("tenancy.{key} is only used with tenancy.model = {wanted}{where_}")));
            }
            Ok(())
        };
        only_with("claim", self.claim.is_some(), ModelKind::Supabase)?;
        only_with("membership", self.membership.is_some(), ModelKind::Membership)?;
        only_with("membership_user", self.membership_user.is_some(), ModelKind::Membership)?;
        if let Some(table) = &self.membership {
            known(&table.tier, &format!("tenancy.membership {table}"))?;
        }
        for (tier, hints) in &self.tiers {
            if let Some(of) = &hints.tenant_of {
                known(&of.table.tier, &format!("tiers.{tier}.tenancy.tenant_of {of}"))?;
                if &of.table.tier == tier {
                    return Err(HarnessError::input(format!(
                        "tiers.{tier}.tenancy.tenant_of {of} is in tier {tier} itself{where_}: it names the table of another tier whose rows this tier's tenants are"
                    )));
                }
            }
        }
        for p in &self.paths {
            known(&p.table.tier, &format!("tenancy.paths entry {}", p.table))?;
            if self.shared.contains(&p.table) {
                return Err(HarnessError::input(format!(
                    "{} is in tenancy.shared and in tenancy.paths{where_}: a table is either global or reached through a tenant path",
                    p.table
                )));
            }
        }
        Ok(())
    }
}

fn context_mechanism(kind: ContextKind, function: Option<String>) -> std::result::Result<ContextMechanism, String> {
    match (kind, function) {
        (ContextKind::Local, None) => Ok(ContextMechanism::Local),
        (ContextKind::Session, None) => Ok(ContextMechanism::Session),
        (ContextKind::Function, Some(name)) => match name.split('.').collect::<Vec<_>>()[..] {
            [schema, function] if !schema.is_empty() && !function.is_empty() => Ok(ContextMechanism::Function(QualName {
                schema: schema.to_string(),
                name: function.to_string(),
            })),
            _ => Err(format!("tenancy.context_function: `{name}` is not SCHEMA.NAME")),
        },
        (ContextKind::Function, None) => Err(
            "tenancy.context = \"function\" needs tenancy.context_function = \"SCHEMA.NAME\": the function the application calls with the tenant id".into(),
        ),
        (_, Some(name)) => Err(format!(
            "tenancy.context_function = \"{name}\" is only used with tenancy.context = \"function\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Overrides, Scenario};

    #[test]
    fn context_function_is_named_exactly_when_the_mechanism_is_function() {
        let function = context_mechanism(ContextKind::Function, Some("app.set_tenant".into()));
        let expected = QualName {
            schema: "app".into(),
            name: "set_tenant".into(),
        };
        assert_eq!(function, Ok(ContextMechanism::Function(expected)));
        assert_eq!(context_mechanism(ContextKind::Session, None), Ok(ContextMechanism::Session));
        let unnamed = context_mechanism(ContextKind::Function, None).unwrap_err();
        assert!(unnamed.contains("tenancy.context_function"), "{unnamed}");
        let unused = context_mechanism(ContextKind::Local, Some("app.set_tenant".into())).unwrap_err();
        assert!(unused.contains("only used with tenancy.context = \"function\""), "{unused}");
        let unqualified = context_mechanism(ContextKind::Function, Some("set_tenant".into())).unwrap_err();
        assert!(unqualified.contains("not SCHEMA.NAME"), "{unqualified}");
    }

    #[test]
    fn a_tier_and_a_table_may_name_their_own_tenant_column() {
        let resolved = |toml: &str| {
            let dir = tempfile::tempdir().expect("tmp");
            let path = dir.path().join("s.toml");
            std::fs::write(&path, toml).expect("write");
            Scenario::resolve(Some(&path), Overrides::default())
        };
        let base = "[tiers.oltp]\nschema = [\"a.sql\"]\n[tiers.olap]\nschema = [\"b.sql\"]\n";
        let scenario = resolved(&format!(
            "{base}[tiers.olap.tenancy]\ncolumn = \"account_id\"\nguc = \"warehouse.account_id\"\n[tenancy.columns]\n\"olap.public.billing_lines\" = \"payer_account\"\n"
        ))
        .unwrap();
        let olap = &scenario.tenancy.tiers["olap"];
        assert_eq!((olap.column.as_deref(), olap.guc.as_deref()), (Some("account_id"), Some("warehouse.account_id")));
        assert!(!scenario.tenancy.tiers.contains_key("oltp"));
        assert_eq!(scenario.tenancy.columns, [("olap.public.billing_lines".parse().unwrap(), "payer_account".to_string())]);
        let scenario = resolved(&format!("{base}[tiers.olap.tenancy]\ncolumn = \"company_id\"\ntenant_of = \"oltp.public.companies.id\"\n")).unwrap();
        assert_eq!(scenario.tenancy.tiers["olap"].tenant_of, Some("oltp.public.companies.id".parse().unwrap()));
        let refused = [
            ("[tenancy.columns]\n\"dw.public.t\" = \"c\"\n", "tenancy.columns entry dw.public.t names unknown tier `dw`"),
            ("[tiers.olap.tenancy]\ntenant_of = \"oltp.companies\"\n", "tiers.olap.tenancy.tenant_of: `oltp.companies` is not TIER.SCHEMA.TABLE.COLUMN"),
            ("[tiers.olap.tenancy]\ntenant_of = \"dw.public.companies.id\"\n", "tiers.olap.tenancy.tenant_of dw.public.companies.id names unknown tier `dw`"),
            ("[tiers.olap.tenancy]\ntenant_of = \"olap.public.companies.id\"\n", "is in tier olap itself"),
            ("[tenancy.columns]\n\"olap.t\" = \"c\"\n", "tenancy.columns \"olap.t\""),
            ("[tiers.olap.tenancy]\ncolumns = \"x\"\n", "unknown field `columns`"),
            (
                "[tenancy]\nshared = [\"olap.public.t\"]\n[tenancy.columns]\n\"olap.public.t\" = \"c\"\n",
                "olap.public.t is in tenancy.columns and in tenancy.shared",
            ),
        ];
        for (toml, message) in refused {
            let error = resolved(&format!("{base}{toml}")).unwrap_err().to_string();
            assert!(error.contains(message), "{error} does not say: {message}");
        }
    }
}
