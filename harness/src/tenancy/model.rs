//! Who the application acts as on a tier, and what its context carries:
//! a tenant whose id sits in a setting (`Setting`, the default); a signed-in
//! Supabase/PostgREST user whose JWT claims carry the tenant id (`Claim`);
//! or a signed-in user (JWT `sub`) whose tenants are the rows of a
//! membership table (`Membership`). Declared with `[tenancy] model`, else
//! read from the tier's policies and the functions they call: `auth.uid()`,
//! `auth.jwt()` or the `request.jwt.claims` setting mean JWT claims; a
//! claim path compared with the tenant column means `Claim`; a table
//! holding both a user column and the tenant column, read together with
//! `auth.uid()`, means `Membership`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::Origin;
use crate::catalog::{mentions, Catalog, QualName, Table};
use crate::scenario::{ModelKind, TenancyHints};

/// The setting PostgREST puts the JWT claims in.
pub const JWT_CLAIMS: &str = "request.jwt.claims";
/// The role PostgREST takes for a signed-in user.
pub const AUTHENTICATED: &str = "authenticated";
/// The role PostgREST takes without a JWT.
pub const ANON: &str = "anon";
/// Supabase's role that bypasses RLS by design.
pub const SERVICE_ROLE: &str = "service_role";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Model {
    Setting,
    /// JWT claims carry the tenant id at this path (`app_metadata`, `tenant_id`).
    Claim { path: Vec<String> },
    /// JWT claims carry a user in `sub`; its tenants are its membership rows.
    Membership(Membership),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub table: QualName,
    pub user_column: String,
    pub tenant_column: String,
    /// The setting that holds the user (`app.user_id`); `None`: the JWT's `sub`.
    pub user_setting: Option<String>,
    /// A column naming what the membership grants (`role`: owner, admin,
    /// member), when the table has one.
    pub role_column: Option<String>,
}

impl Model {
    /// Whether the context is JWT claims as PostgREST sets them.
    pub fn jwt(&self) -> bool {
        match self {
            Model::Setting => false,
            Model::Claim { .. } => true,
            Model::Membership(m) => m.user_setting.is_none(),
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Model::Setting => f.write_str("a setting holds the tenant"),
            Model::Claim { path } => write!(f, "JWT claims (role {AUTHENTICATED}) hold the tenant at `{}`", path.join(".")),
            Model::Membership(m) => {
                match &m.user_setting {
                    None => write!(f, "JWT claims (role {AUTHENTICATED}) hold a user in `sub`")?,
                    Some(setting) => write!(f, "the setting {setting} holds a user")?,
                }
                write!(f, ", a member of the tenants of {} ({} -> {})", m.table, m.user_column, m.tenant_column)
            }
        }
    }
}

/// The tier's model and where it came from; `column` is the tier's tenant
/// column (a membership table must carry it).
pub(super) fn infer(hints: &TenancyHints, catalog: &Catalog, column: Option<&str>) -> (Model, Origin) {
    let texts = policy_texts(catalog);
    let declared = hints.model.is_some() || hints.claim.is_some() || hints.membership.is_some();
    let origin = if declared { Origin::Declared } else { Origin::Inferred };
    let uses_jwt = texts.iter().any(|t| reads_jwt(t));
    let wanted = hints.model.or(if hints.claim.is_some() {
        Some(ModelKind::Supabase)
    } else if hints.membership.is_some() {
        Some(ModelKind::Membership)
    } else {
        None
    });
    if wanted == Some(ModelKind::Setting) {
        return (Model::Setting, origin);
    }
    if !uses_jwt {
        // A user in a setting, reaching tenants through a membership table:
        // only where no policy compares the tenant column with a setting
        // itself (then a setting holds the tenant).
        let tenant_in_setting = column.is_some_and(|c| catalog.tables.iter().any(|t| super::policies::compares_with(t, c, None)));
        let by_setting = match (wanted, tenant_in_setting) {
            (Some(ModelKind::Membership), _) | (None, false) => column.and_then(|c| membership_by_setting(hints, catalog, &texts, c)),
            _ => None,
        };
        return (by_setting.map_or(Model::Setting, Model::Membership), origin);
    }
    let claim = || {
        hints
            .claim
            .as_ref()
            .map(|c| c.split('.').map(str::to_string).collect())
            .or_else(|| claim_path(&texts, column?))
    };
    let membership = || membership_table(hints, catalog, &texts, column?, "auth.uid()", None);
    let model = match wanted {
        Some(ModelKind::Supabase) => claim().map(|path| Model::Claim { path }),
        Some(ModelKind::Membership) => membership().map(Model::Membership),
        _ => claim().map(|path| Model::Claim { path }).or_else(|| membership().map(Model::Membership)),
    };
    // JWT claims with neither a tenant claim nor a membership table: no
    // way to act as a tenant is known; the setting model then finds no
    // setting, and the probes say so.
    (model.unwrap_or(Model::Setting), origin)
}

/// Policy expressions of the tier and the bodies of the functions they call.
pub(super) fn policy_texts(catalog: &Catalog) -> Vec<String> {
    let expressions: Vec<&String> = catalog
        .tables
        .iter()
        .flat_map(|t| &t.policies)
        .flat_map(|p| p.using.iter().chain(&p.with_check))
        .collect();
    let called = catalog
        .functions
        .iter()
        .filter(|f| expressions.iter().any(|e| mentions(e, &f.name.name)))
        .map(|f| f.source.clone());
    expressions.iter().map(|e| e.to_string()).chain(called).collect()
}

fn reads_jwt(text: &str) -> bool {
    text.contains("auth.uid()") || text.contains("auth.jwt()") || text.contains(JWT_CLAIMS) || text.contains("request.jwt.claim")
}

/// The claim path most compared with the tenant column:
/// `(auth.jwt() -> 'app_metadata'::text) ->> 'tenant_id'::text` gives
/// `app_metadata.tenant_id`.
fn claim_path(texts: &[String], column: &str) -> Option<Vec<String>> {
    let mut counts: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for text in texts.iter().filter(|t| mentions(t, column)) {
        for path in claim_paths(text).into_iter().filter(|p| p != &["sub"] && p != &["role"]) {
            *counts.entry(path).or_default() += 1;
        }
    }
    counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0))).map(|(path, _)| path)
}

/// Every claim path `text` reads from the JWT: `auth.jwt() -> 'a' ->> 'b'`
/// or the claims setting cast to JSON, as Postgres prints them.
pub(super) fn claim_paths(text: &str) -> Vec<Vec<String>> {
    static START: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"auth\.jwt\(\)|current_setting\('request\.jwt\.claims'[^)]*\)(?:::jsonb?)?").expect("valid regex"));
    static STEP: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[)\s]*->>?\s*'([^']+)'(?:::text)?").expect("valid regex"));
    let (start, step) = (&*START, &*STEP);
    let mut paths = Vec::new();
    for found in start.find_iter(text) {
        let mut rest = &text[found.end()..];
        let mut path = Vec::new();
        while let Some(key) = step.captures(rest) {
            path.push(key[1].to_string());
            rest = &rest[key.get(0).expect("whole match").end()..];
        }
        if !path.is_empty() {
            paths.push(path);
        }
    }
    paths
}

/// The declared membership table, else the tier's table that the policy
/// texts reading the user (`reader`: `auth.uid()`, or a setting) name most
/// and that carries the tenant column and a user column (compared with
/// the setting, when the user sits in one).
fn membership_table(hints: &TenancyHints, catalog: &Catalog, texts: &[String], column: &str, reader: &str, user_setting: Option<&str>) -> Option<Membership> {
    let of = |table: &Table| -> Option<Membership> {
        let tenant_column = hints.table_column(&catalog.tier, &table.name).unwrap_or(column).to_string();
        table.column(&tenant_column)?;
        let user_column = match &hints.membership_user {
            Some(user) => user.clone(),
            None => user_column(table)?,
        };
        if let Some(setting) = user_setting {
            let (reads, compared) = (reads_table(&table.name), super::policies::comparison(&user_column, Some(setting), true));
            let compared = texts.iter().any(|t| reads.is_match(t) && compared.is_match(t));
            if !compared && hints.membership.is_none() {
                return None;
            }
        }
        let role_column = ["role", "member_role", "membership_role"].into_iter().find(|c| table.column(c).is_some()).map(str::to_string);
        Some(Membership {
            table: table.name.clone(),
            user_column,
            tenant_column,
            user_setting: user_setting.map(str::to_string),
            role_column,
        })
    };
    if let Some(declared) = hints.membership.as_ref().filter(|t| t.tier == catalog.tier) {
        return catalog.table(&declared.qual_name()).and_then(of);
    }
    let reading: Vec<&String> = texts.iter().filter(|t| t.contains(reader)).collect();
    catalog
        .tables
        .iter()
        .filter_map(|table| {
            let reads = reads_table(&table.name);
            let named = reading.iter().filter(|t| reads.is_match(t)).count();
            (named > 0).then(|| of(table).map(|m| (named, m))).flatten()
        })
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.table.cmp(&a.1.table)))
        .map(|(_, m)| m)
}

/// Membership with the user in a setting: the declared setting (`guc`)
/// or each setting the policy texts read, tried in name order, the first
/// that some membership table's user column is compared with.
fn membership_by_setting(hints: &TenancyHints, catalog: &Catalog, texts: &[String], column: &str) -> Option<Membership> {
    let mut settings: Vec<&str> = texts.iter().flat_map(|t| super::policies::settings_in(t)).collect();
    settings.sort();
    settings.dedup();
    let candidates = hints.guc.as_deref().into_iter().chain(settings);
    candidates.into_iter().find_map(|setting| membership_table(hints, catalog, texts, column, &format!("current_setting('{setting}'"), Some(setting)))
}

/// A column of a membership table naming the user: the one with an FK to
/// `auth.users`, else one named `user_id`.
fn user_column(table: &Table) -> Option<String> {
    let to_users = table
        .foreign_keys()
        .find(|(c, fk)| c.columns.len() == 1 && fk.target.schema == "auth" && fk.target.name == "users")
        .map(|(c, _)| c.columns[0].clone());
    to_users.or_else(|| table.column("user_id").map(|c| c.name.clone()))
}

/// `FROM public.memberships m`, `JOIN memberships`: a text reading `table`.
fn reads_table(table: &QualName) -> Regex {
    let pattern = format!(
        r#"(?i)\b(?:from|join)\s+(?:"?{}"?\.)?"?{}"?\b"#,
        regex::escape(&table.schema),
        regex::escape(&table.name)
    );
    Regex::new(&pattern).expect("valid regex")
}
