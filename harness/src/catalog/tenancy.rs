//! Which tables hold tenant rows, which setting carries the tenant, and which
//! role the application uses: given by the scenario, else inferred from the
//! catalogs of all tiers together. The one place that decides tenancy, so
//! checks, seeding and probes agree on it.
//!
//! A table holds tenant rows in one of three ways (`TenantScope`):
//! - it carries the tenant column (`Column`);
//! - it is the tenants table, whose key is the tenant id (`Root`);
//! - it carries neither, and its tenant is found by following FKs up to a
//!   table that does (`Path`): `task_comments.task_id -> workspace_tasks.id`,
//!   `workspace_tasks.workspace_id -> workspaces.id`, ... `-> projects`,
//!   which carries `organization_id`.
//!
//! Paths are declared in the scenario (`[tenancy.paths]`) or inferred: for a
//! table that is neither tenant-carrying nor `shared`, the shortest chain of
//! FKs whose columns are all NOT NULL to a table whose tenant is known;
//! failing that, the shortest chain through nullable FKs too (a row with
//! NULL there belongs to no tenant: it is left out of the verdicts and
//! counted, and seeded rows always fill the hop). Ties go to the chain whose
//! hops sort first by (columns, target table), so the same catalog always
//! gives the same path. Shared tables are never crossed. A declared path
//! wins over inference and pins the path an RLS policy follows even if a
//! shorter FK appears later; inferred paths may end at a table with a
//! declared path, and continue along it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use regex::Regex;

use super::{Catalog, Constraint, QualName, Table};
use crate::error::{HarnessError, Result};
use crate::sql::quote_ident;
use crate::scenario::{ContextMechanism, DeclaredPath, Scenario, TierTable};

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

/// How a table's rows belong to a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    /// The table carries the tenant in this column.
    Column(String),
    /// The table is the tenants table itself: this key column is the tenant id.
    Root(String),
    /// The table has no tenant column: its rows' tenant is found by
    /// following these FK hops.
    Path(TenantPath),
}

impl TenantScope {
    /// The column of this table that holds the tenant id; `None` for a path.
    pub fn column(&self) -> Option<&str> {
        match self {
            TenantScope::Column(c) | TenantScope::Root(c) => Some(c),
            TenantScope::Path(_) => None,
        }
    }

    /// An SQL expression for the tenant of the row aliased `row` (an alias
    /// the caller's query gives the table, used as is).
    pub fn tenant_sql(&self, row: &str) -> String {
        match self {
            TenantScope::Column(c) | TenantScope::Root(c) => format!("{row}.{}", quote_ident(c)),
            TenantScope::Path(path) => path.tenant_sql(row),
        }
    }

    /// Where the tenant is read, for messages: `column tenant_id`, `the path ...`.
    pub fn source(&self) -> String {
        match self {
            TenantScope::Column(c) | TenantScope::Root(c) => format!("column {c}"),
            TenantScope::Path(path) => format!("the path {path}"),
        }
    }
}

/// A chain of FK hops from a table without the tenant column to a table
/// that carries it (or to the tenants table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantPath {
    /// In order: the first starts at the scoped table, each next one at the
    /// previous hop's target.
    pub hops: Vec<PathHop>,
    /// The column of the last hop's target that holds the tenant id.
    pub tenant_column: String,
    /// Declared in the scenario (`[tenancy.paths]`) rather than inferred.
    pub declared: bool,
    /// A hop's columns may be NULL: such rows belong to no tenant.
    pub nullable: bool,
}

/// One hop: `columns` of the current table reference `target_columns` of
/// `target` (same tier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathHop {
    pub columns: Vec<String>,
    pub target: QualName,
    pub target_columns: Vec<String>,
    /// The FK enforcing the hop. Always set on inferred hops; `None` on a
    /// declared hop that no FK backs (the reference is only logical).
    pub constraint: Option<String>,
}

impl TenantPath {
    /// The table at the end of the path, which holds `tenant_column`.
    pub fn end(&self) -> &QualName {
        &self.hops.last().expect("a tenant path has at least one hop").target
    }

    /// A scalar subquery giving the tenant of the row aliased `row`: one
    /// join per hop, `hop1`..`hopN`.
    pub fn tenant_sql(&self, row: &str) -> String {
        let columns = |alias: &str, cols: &[String]| -> Vec<String> {
            cols.iter().map(|c| format!("{alias}.{}", quote_ident(c))).collect()
        };
        let equal = |left: Vec<String>, right: Vec<String>| -> String {
            left.iter()
                .zip(&right)
                .map(|(l, r)| format!("{l} = {r}"))
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        let mut from = String::new();
        let mut previous = row.to_string();
        let mut condition = String::new();
        for (i, hop) in self.hops.iter().enumerate() {
            let alias = format!("hop{}", i + 1);
            let on = equal(columns(&alias, &hop.target_columns), columns(&previous, &hop.columns));
            if i == 0 {
                from = format!("{} {alias}", hop.target.sql());
                condition = on;
            } else {
                from.push_str(&format!(" JOIN {} {alias} ON {on}", hop.target.sql()));
            }
            previous = alias;
        }
        format!(
            "(SELECT {previous}.{} FROM {from} WHERE {condition})",
            quote_ident(&self.tenant_column)
        )
    }
}

impl std::fmt::Display for TenantPath {
    /// `task_id -> public.workspace_tasks.id, ... => public.projects.organization_id`
    /// (the hops in the scenario's syntax, then where the tenant is read).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |c: &[String]| {
            if c.len() == 1 {
                c[0].clone()
            } else {
                format!("({})", c.join(", "))
            }
        };
        let hops: Vec<String> = self
            .hops
            .iter()
            .map(|h| match h.target_columns.len() {
                1 => format!("{} -> {}.{}", list(&h.columns), h.target, h.target_columns[0]),
                _ => format!("{} -> {}{}", list(&h.columns), h.target, list(&h.target_columns)),
            })
            .collect();
        write!(f, "{} => {}.{}", hops.join(", "), self.end(), self.tenant_column)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Tenancy {
    pub column: Option<String>,
    pub guc: Option<String>,
    pub app_role: Option<String>,
    /// The role named or inferred when it cannot log in: `app_role` is then
    /// the login role that is a member of it, as the application logs in.
    pub login_for: Option<String>,
    /// Tenant-scoped tables per tier (partitions excluded: they are reached
    /// through their parent).
    scoped: BTreeMap<String, BTreeMap<QualName, TenantScope>>,
}

impl Tenancy {
    /// Fails on a `[tenancy.paths]` declaration the catalog contradicts, and
    /// on a context function the catalog does not have.
    pub fn infer(scenario: &Scenario, catalogs: &[Catalog]) -> Result<Tenancy> {
        let hints = &scenario.tenancy;
        let column = hints.column.clone().or_else(|| infer_column(catalogs));
        let guc = hints.guc.clone().or_else(|| infer_guc(catalogs));
        let mut scoped: BTreeMap<String, BTreeMap<QualName, TenantScope>> = BTreeMap::new();
        if let Some(column) = &column {
            let shared = |tier: &str, table: &QualName| {
                hints.shared.iter().any(|s| {
                    s == &TierTable {
                        tier: tier.to_string(),
                        schema: table.schema.clone(),
                        table: table.name.clone(),
                    }
                })
            };
            for catalog in catalogs {
                let tier = scoped.entry(catalog.tier.clone()).or_default();
                for table in catalog.tables.iter().filter(|t| !t.is_partition()) {
                    if table.column(column).is_some() && !shared(&catalog.tier, &table.name) {
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
            // Likewise the target of a reference of the tenant column alone.
            for reference in scenario.references.iter().filter(|r| r.from.columns == [column.clone()]) {
                let to = &reference.to;
                scoped.entry(to.table.tier.clone()).or_default().insert(
                    QualName {
                        schema: to.table.schema.clone(),
                        name: to.table.table.clone(),
                    },
                    TenantScope::Root(to.columns[0].clone()),
                );
            }
            // Paths last: they end at the tables scoped above, in any tier's
            // own catalog.
            for catalog in catalogs {
                let tier = scoped.entry(catalog.tier.clone()).or_default();
                let declared = hints.paths.iter().filter(|p| p.table.tier == catalog.tier);
                declare_paths(catalog, column, declared, tier)?;
                infer_paths(catalog, tier, |t| shared(&catalog.tier, t));
            }
        } else if let Some(path) = hints.paths.first() {
            return Err(HarnessError::input(format!(
                "tenancy.paths \"{}\": no tenant column was given or inferred for the path to end at (set tenancy.column)",
                path.table
            )));
        }
        let mut tenancy = Tenancy {
            column,
            guc,
            app_role: None,
            login_for: None,
            scoped,
        };
        let app_role = hints.app_role.clone().or_else(|| tenancy.infer_app_role(catalogs));
        if let Some(role) = app_role {
            let login = login_role(catalogs, &role);
            tenancy.app_role = Some(login.clone());
            tenancy.login_for = (login != role).then_some(role);
        }
        if let ContextMechanism::Function(function) = &hints.context {
            for catalog in catalogs.iter().filter(|c| tenancy.scoped_tables(c).next().is_some()) {
                check_context_function(catalog, function, tenancy.app_role.as_deref())?;
            }
        }
        Ok(tenancy)
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

    /// The role granted most privileges on tenant tables, not counting
    /// owners, superusers and PUBLIC.
    fn infer_app_role(&self, catalogs: &[Catalog]) -> Option<String> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for catalog in catalogs {
            for (table, _) in self.scoped_tables(catalog) {
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
}

/// The role the application logs in as, for `role`: itself when it can log
/// in (or is unknown); else the login role that is a member of it, and of
/// the most other roles when there are several (policies and grants of
/// every role it belongs to apply to it, so that one sees the most).
fn login_role(catalogs: &[Catalog], role: &str) -> String {
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
fn check_context_function(catalog: &Catalog, name: &QualName, app_role: Option<&str>) -> Result<()> {
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

/// Checks each declared path against the catalog and scopes its table.
fn declare_paths<'a>(
    catalog: &Catalog,
    column: &str,
    declared: impl Iterator<Item = &'a DeclaredPath>,
    scoped: &mut BTreeMap<QualName, TenantScope>,
) -> Result<()> {
    for declaration in declared {
        let err = |message: String| HarnessError::input(format!("tenancy.paths \"{}\": {message}", declaration.table));
        let name = QualName {
            schema: declaration.table.schema.clone(),
            name: declaration.table.table.clone(),
        };
        let table = catalog
            .table(&name)
            .ok_or_else(|| err(format!("tier {} has no table {name}", catalog.tier)))?;
        if let Some(parent) = &table.partition_of {
            return Err(err(format!("{name} is a partition: declare the path of {parent}")));
        }
        if let Some(TenantScope::Column(c) | TenantScope::Root(c)) = scoped.get(&name) {
            return Err(err(format!(
                "{name} holds the tenant itself ({c}): a path is for tables without it"
            )));
        }
        let mut current = table;
        let mut hops = Vec::new();
        let mut nullable = false;
        for (i, spec) in declaration.hops.iter().enumerate() {
            let at = |message: String| err(format!("hop {} `{spec}`: {message}", i + 1));
            let target_name = QualName {
                schema: spec.schema.clone(),
                name: spec.table.clone(),
            };
            let target = catalog
                .table(&target_name)
                .ok_or_else(|| at(format!("tier {} has no table {target_name}", catalog.tier)))?;
            for (table, columns) in [(current, &spec.columns), (target, &spec.target_columns)] {
                if let Some(missing) = columns.iter().find(|c| table.column(c).is_none()) {
                    return Err(at(format!("{} has no column {missing}", table.name)));
                }
            }
            let constraint = current
                .foreign_keys()
                .find(|(c, fk)| {
                    c.columns == spec.columns && fk.target == target.name && fk.target_columns == spec.target_columns
                })
                .map(|(c, _)| c.name.clone());
            nullable |= spec.columns.iter().any(|c| current.column(c).is_some_and(|c| !c.not_null));
            hops.push(PathHop {
                columns: spec.columns.clone(),
                target: target.name.clone(),
                target_columns: spec.target_columns.clone(),
                constraint,
            });
            current = target;
        }
        let tenant_column = match scoped.get(&current.name) {
            Some(TenantScope::Column(c) | TenantScope::Root(c)) => c.clone(),
            _ => {
                return Err(err(format!(
                    "the last hop ends at {}, which neither carries {column} nor is the tenants table: continue the path to one that does",
                    current.name
                )))
            }
        };
        scoped.insert(
            name,
            TenantScope::Path(TenantPath {
                hops,
                tenant_column,
                declared: true,
                nullable,
            }),
        );
    }
    Ok(())
}

/// Scopes every table that is neither scoped nor shared through its
/// shortest required-FK path, if it has one; then the tables left through
/// their shortest path with nullable hops.
fn infer_paths(catalog: &Catalog, scoped: &mut BTreeMap<QualName, TenantScope>, shared: impl Fn(&QualName) -> bool) {
    for through_nullable in [false, true] {
        // Paths of one pass end at tables scoped before it, never at one
        // another: the result does not depend on the order tables are visited.
        let known = scoped.clone();
        for table in catalog.tables.iter().filter(|t| !t.is_partition()) {
            if known.contains_key(&table.name) || shared(&table.name) {
                continue;
            }
            if let Some(path) = shortest_path(catalog, table, &known, &shared, through_nullable) {
                scoped.insert(table.name.clone(), TenantScope::Path(path));
            }
        }
    }
}

/// Breadth-first over FKs whose columns are all NOT NULL (or any FK, with
/// `through_nullable`), edges in a fixed order, so the first known table
/// reached is at the fewest hops and, among those, along the hops that sort
/// first.
fn shortest_path(
    catalog: &Catalog,
    start: &Table,
    known: &BTreeMap<QualName, TenantScope>,
    shared: &impl Fn(&QualName) -> bool,
    through_nullable: bool,
) -> Option<TenantPath> {
    let mut seen = BTreeSet::from([start.name.clone()]);
    let mut queue = VecDeque::from([(start, Vec::<PathHop>::new(), false)]);
    while let Some((table, hops, nullable_so_far)) = queue.pop_front() {
        let nullable = |c: &Constraint| c.columns.iter().any(|col| table.column(col).is_none_or(|c| !c.not_null));
        let mut edges: Vec<_> = table.foreign_keys().filter(|(c, _)| through_nullable || !nullable(c)).collect();
        edges.sort_by(|(a, fa), (b, fb)| {
            (&a.columns, &fa.target, &fa.target_columns, &a.name).cmp(&(
                &b.columns,
                &fb.target,
                &fb.target_columns,
                &b.name,
            ))
        });
        for (constraint, fk) in edges {
            if seen.contains(&fk.target) || shared(&fk.target) {
                continue;
            }
            let Some(target) = catalog.table(&fk.target) else {
                continue;
            };
            let nullable = nullable_so_far || nullable(constraint);
            let mut path = hops.clone();
            path.push(PathHop {
                columns: constraint.columns.clone(),
                target: fk.target.clone(),
                target_columns: fk.target_columns.clone(),
                constraint: Some(constraint.name.clone()),
            });
            let (tenant_column, nullable) = match known.get(&fk.target) {
                Some(TenantScope::Column(c) | TenantScope::Root(c)) => (c.clone(), nullable),
                Some(TenantScope::Path(rest)) => {
                    path.extend(rest.hops.iter().cloned());
                    (rest.tenant_column.clone(), nullable || rest.nullable)
                }
                None => {
                    seen.insert(fk.target.clone());
                    queue.push_back((target, path, nullable));
                    continue;
                }
            };
            return Some(TenantPath {
                hops: path,
                tenant_column,
                declared: false,
                nullable,
            });
        }
    }
    None
}

/// The candidate column present in the most tables (ties: the likelier name).
fn infer_column(catalogs: &[Catalog]) -> Option<String> {
    TENANT_COLUMN_CANDIDATES
        .iter()
        .map(|candidate| {
            let count = catalogs
                .iter()
                .flat_map(|c| &c.tables)
                .filter(|t| t.column(candidate).is_some())
                .count();
            (candidate, count)
        })
        .filter(|(_, count)| *count > 0)
        .max_by(|a, b| a.1.cmp(&b.1).then(std::cmp::Ordering::Greater))
        .map(|(candidate, _)| candidate.to_string())
}

/// The setting that policies read with `current_setting()` most often.
fn infer_guc(catalogs: &[Catalog]) -> Option<String> {
    let pattern = Regex::new(r"current_setting\('([^']+)'").expect("valid regex");
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for policy in catalogs.iter().flat_map(|c| &c.tables).flat_map(|t| &t.policies) {
        for expr in [&policy.using, &policy.with_check].into_iter().flatten() {
            for capture in pattern.captures_iter(expr) {
                *counts.entry(capture[1].to_string()).or_default() += 1;
            }
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(guc, _)| guc)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::catalog::{Column, Constraint, ConstraintKind, ForeignKey, RefAction};
    use crate::scenario::{Overrides, Scenario};

    /// `name`: `schema.table`; `columns`: (name, NOT NULL); `fks`:
    /// (constraint, columns, target table, target columns).
    fn table(name: &str, columns: &[(&str, bool)], fks: &[(&str, &[&str], &str, &[&str])]) -> Table {
        let qual = |n: &str| {
            let (schema, name) = n.split_once('.').expect("schema.table");
            QualName {
                schema: schema.into(),
                name: name.into(),
            }
        };
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (schema, table) = name.split_once('.').expect("schema.table");
        Table {
            columns: columns
                .iter()
                .map(|(c, not_null)| Column::plain(c, "uuid", *not_null))
                .collect(),
            constraints: fks
                .iter()
                .map(|(constraint, cols, target, target_cols)| Constraint {
                    name: constraint.to_string(),
                    kind: ConstraintKind::ForeignKey,
                    columns: strings(cols),
                    validated: true,
                    definition: String::new(),
                    foreign_key: Some(ForeignKey {
                        target: qual(target),
                        target_columns: strings(target_cols),
                        on_delete: RefAction::Cascade,
                        on_update: RefAction::NoAction,
                        triggers_enabled: true,
                    }),
                })
                .collect(),
            ..Table::plain(schema, table)
        }
    }

    fn catalog(tables: Vec<Table>) -> Catalog {
        Catalog {
            tier: "events".into(),
            tables,
            views: Vec::new(),
            functions: Vec::new(),
            roles: Vec::new(),
        }
    }

    #[test]
    fn a_role_that_cannot_log_in_is_acted_as_through_its_widest_login_member() {
        let role = |name: &str, can_login: bool, member_of: &[&str]| crate::catalog::Role {
            name: name.into(),
            superuser: false,
            bypass_rls: false,
            can_login,
            member_of: member_of.iter().map(|m| m.to_string()).collect(),
        };
        let mut tier = catalog(Vec::new());
        tier.roles = vec![
            role("app", false, &[]),
            role("web", true, &["app"]),
            role("web_reporting", true, &["app", "reporting"]),
            role("batch", true, &[]),
        ];
        let catalogs = [tier];
        assert_eq!(login_role(&catalogs, "app"), "web_reporting");
        assert_eq!(login_role(&catalogs, "web"), "web", "a login role is itself");
        assert_eq!(login_role(&catalogs, "unknown"), "unknown");
        let mut alone = catalogs[0].clone();
        alone.roles.retain(|r| r.name == "app");
        assert_eq!(login_role(&[alone], "app"), "app", "no login member: the role itself");
    }

    /// The seed's hierarchy, cut down: organizations > projects > workspaces
    /// > tasks > comments, plus a global users table.
    fn hierarchy() -> Vec<Table> {
        vec![
            table("public.organizations", &[("id", true)], &[]),
            table("auth.users", &[("id", true)], &[]),
            table(
                "public.projects",
                &[("id", true), ("organization_id", true), ("owner_id", true)],
                &[
                    (
                        "projects_organization_fk",
                        &["organization_id"],
                        "public.organizations",
                        &["id"],
                    ),
                    ("projects_owner_fk", &["owner_id"], "auth.users", &["id"]),
                ],
            ),
            table(
                "public.workspaces",
                &[("id", true), ("project_id", true), ("owner_id", true)],
                &[
                    ("workspaces_project_fk", &["project_id"], "public.projects", &["id"]),
                    ("workspaces_owner_fk", &["owner_id"], "auth.users", &["id"]),
                ],
            ),
            table(
                "public.workspace_tasks",
                &[("id", true), ("workspace_id", true), ("assigned_to", false)],
                &[
                    (
                        "workspace_tasks_workspace_fk",
                        &["workspace_id"],
                        "public.workspaces",
                        &["id"],
                    ),
                    (
                        "workspace_tasks_assigned_to_fk",
                        &["assigned_to"],
                        "auth.users",
                        &["id"],
                    ),
                ],
            ),
            table(
                "public.task_comments",
                &[("id", true), ("task_id", true)],
                &[("task_comments_task_fk", &["task_id"], "public.workspace_tasks", &["id"])],
            ),
        ]
    }

    fn scenario(shared: &[&str], paths: &[(&str, &[&str])]) -> Scenario {
        let overrides = Overrides {
            tiers: vec![("events".into(), vec![PathBuf::from("schema.sql")])],
            ..Overrides::default()
        };
        let mut scenario = Scenario::resolve(None, overrides).expect("scenario");
        scenario.tenancy.column = Some("organization_id".into());
        scenario.tenancy.shared = shared.iter().map(|s| s.parse().expect("tier table")).collect();
        scenario.tenancy.paths = paths
            .iter()
            .map(|(table, hops)| DeclaredPath {
                table: table.parse().expect("tier table"),
                hops: hops.iter().map(|h| h.parse().expect("hop")).collect(),
            })
            .collect();
        scenario
    }

    fn scope<'t>(tenancy: &'t Tenancy, table: &str) -> Option<&'t TenantScope> {
        let (schema, name) = table.split_once('.').unwrap();
        tenancy.scope(
            "events",
            &QualName {
                schema: schema.into(),
                name: name.into(),
            },
        )
    }

    fn path<'t>(tenancy: &'t Tenancy, table: &str) -> &'t TenantPath {
        match scope(tenancy, table) {
            Some(TenantScope::Path(path)) => path,
            other => panic!("{table}: expected a path, got {other:?}"),
        }
    }

    fn targets(path: &TenantPath) -> Vec<String> {
        path.hops
            .iter()
            .map(|h| format!("{}:{}", h.columns.join("+"), h.target))
            .collect()
    }

    #[test]
    fn tables_without_the_tenant_column_get_the_fk_path_up_to_one_that_has_it() {
        let tenancy = Tenancy::infer(&scenario(&["events.auth.users"], &[]), &[catalog(hierarchy())]).unwrap();
        assert_eq!(
            scope(&tenancy, "public.projects"),
            Some(&TenantScope::Column("organization_id".into()))
        );
        assert_eq!(
            scope(&tenancy, "public.organizations"),
            Some(&TenantScope::Root("id".into()))
        );
        let comments = path(&tenancy, "public.task_comments");
        assert_eq!(
            targets(comments),
            [
                "task_id:public.workspace_tasks",
                "workspace_id:public.workspaces",
                "project_id:public.projects"
            ]
        );
        assert_eq!(comments.tenant_column, "organization_id");
        assert_eq!(comments.end().name, "projects");
        assert!(!comments.declared);
        assert_eq!(comments.hops[0].constraint.as_deref(), Some("task_comments_task_fk"));
        assert_eq!(
            targets(path(&tenancy, "public.workspaces")),
            ["project_id:public.projects"]
        );
        // global tables are neither scoped nor crossed
        assert_eq!(scope(&tenancy, "auth.users"), None);
        assert_eq!(tenancy.paths().count(), 3);
    }

    #[test]
    fn nullable_fks_are_followed_only_where_no_required_path_exists() {
        let mut tables = hierarchy();
        // a note whose workspace is optional: when it is NULL, no tenant
        tables.push(table(
            "public.loose_notes",
            &[("id", true), ("workspace_id", false)],
            &[("loose_notes_workspace_fk", &["workspace_id"], "public.workspaces", &["id"])],
        ));
        // a comment with a required task and an optional shortcut to the project
        tables.push(table(
            "public.task_notes",
            &[("id", true), ("task_id", true), ("project_id", false)],
            &[
                ("task_notes_task_fk", &["task_id"], "public.workspace_tasks", &["id"]),
                ("task_notes_project_fk", &["project_id"], "public.projects", &["id"]),
            ],
        ));
        let tenancy = Tenancy::infer(&scenario(&["events.auth.users"], &[]), &[catalog(tables)]).unwrap();
        let loose = path(&tenancy, "public.loose_notes");
        assert!(loose.nullable && !loose.declared, "{loose}");
        assert_eq!(loose.hops[0].columns, ["workspace_id"]);
        let required = path(&tenancy, "public.task_notes");
        assert!(!required.nullable, "the NOT NULL path wins over a shorter nullable one: {required}");
        assert_eq!(required.hops[0].columns, ["task_id"]);
    }

    #[test]
    fn the_shortest_path_wins_and_ties_break_the_same_way_whatever_the_catalog_order() {
        let mut tables = hierarchy();
        // two ways up: via the task (3 hops to projects) or straight to the
        // workspace (2 hops) and, equally short, via a second workspace FK
        tables.push(table(
            "public.task_links",
            &[
                ("id", true),
                ("task_id", true),
                ("workspace_id", true),
                ("mirror_workspace_id", true),
            ],
            &[
                ("task_links_task_fk", &["task_id"], "public.workspace_tasks", &["id"]),
                (
                    "task_links_workspace_fk",
                    &["workspace_id"],
                    "public.workspaces",
                    &["id"],
                ),
                (
                    "task_links_mirror_fk",
                    &["mirror_workspace_id"],
                    "public.workspaces",
                    &["id"],
                ),
            ],
        ));
        let shared = ["events.auth.users"];
        let forward = Tenancy::infer(&scenario(&shared, &[]), &[catalog(tables.clone())]).unwrap();
        tables.reverse();
        for t in &mut tables {
            t.constraints.reverse();
        }
        let backward = Tenancy::infer(&scenario(&shared, &[]), &[catalog(tables)]).unwrap();
        for tenancy in [&forward, &backward] {
            assert_eq!(
                targets(path(tenancy, "public.task_links")),
                ["mirror_workspace_id:public.workspaces", "project_id:public.projects"]
            );
        }
        assert_eq!(
            path(&forward, "public.task_comments"),
            path(&backward, "public.task_comments")
        );
    }

    #[test]
    fn a_path_may_end_at_the_tenants_table() {
        let tables = vec![
            table("public.organizations", &[("id", true)], &[]),
            table(
                "public.projects",
                &[("id", true), ("organization_id", true)],
                &[(
                    "projects_organization_fk",
                    &["organization_id"],
                    "public.organizations",
                    &["id"],
                )],
            ),
            // references the tenant under another name
            table(
                "public.invitations",
                &[("id", true), ("inviting_org", true)],
                &[("invitations_org_fk", &["inviting_org"], "public.organizations", &["id"])],
            ),
        ];
        let tenancy = Tenancy::infer(&scenario(&[], &[]), &[catalog(tables)]).unwrap();
        let invitations = path(&tenancy, "public.invitations");
        assert_eq!(targets(invitations), ["inviting_org:public.organizations"]);
        assert_eq!(invitations.tenant_column, "id");
    }

    #[test]
    fn fk_cycles_that_never_reach_a_tenant_end_the_search() {
        let tables = vec![
            table(
                "public.a",
                &[("id", true), ("b_id", true)],
                &[("a_b_fk", &["b_id"], "public.b", &["id"])],
            ),
            table(
                "public.b",
                &[("id", true), ("a_id", true)],
                &[("b_a_fk", &["a_id"], "public.a", &["id"])],
            ),
        ];
        let tenancy = Tenancy::infer(&scenario(&[], &[]), &[catalog(tables)]).unwrap();
        assert_eq!(tenancy.paths().count(), 0);
    }

    #[test]
    fn a_declared_path_wins_over_inference_and_inferred_paths_continue_along_it() {
        let mut tables = hierarchy();
        // the shortcut a redundant column would add: inference would take it
        tables[5].columns.push(Column::plain("workspace_id", "uuid", true));
        tables[5].constraints.extend(
            table(
                "public.task_comments",
                &[],
                &[(
                    "task_comments_workspace_fk",
                    &["workspace_id"],
                    "public.workspaces",
                    &["id"],
                )],
            )
            .constraints,
        );
        tables.push(table(
            "public.comment_reactions",
            &[("id", true), ("comment_id", true)],
            &[(
                "comment_reactions_comment_fk",
                &["comment_id"],
                "public.task_comments",
                &["id"],
            )],
        ));
        let declared: &[&str] = &[
            "task_id -> public.workspace_tasks.id",
            "workspace_id -> public.workspaces.id",
            "project_id -> public.projects.id",
        ];
        let scenario = scenario(&["events.auth.users"], &[("events.public.task_comments", declared)]);
        let tenancy = Tenancy::infer(&scenario, &[catalog(tables)]).unwrap();
        let comments = path(&tenancy, "public.task_comments");
        assert!(comments.declared);
        assert_eq!(
            targets(comments),
            [
                "task_id:public.workspace_tasks",
                "workspace_id:public.workspaces",
                "project_id:public.projects"
            ]
        );
        assert_eq!(
            comments.hops[1].constraint.as_deref(),
            Some("workspace_tasks_workspace_fk")
        );
        let reactions = path(&tenancy, "public.comment_reactions");
        assert_eq!(targets(reactions)[0], "comment_id:public.task_comments");
        assert_eq!(reactions.hops[1..], comments.hops[..]);
        assert!(!reactions.declared);
    }

    #[test]
    fn a_declared_hop_without_fk_is_kept_as_a_logical_reference() {
        let mut tables = hierarchy();
        tables[5].constraints.clear(); // comments lost their FK to tasks
        let declared: &[&str] = &[
            "task_id -> public.workspace_tasks.id",
            "workspace_id -> public.workspaces.id",
            "project_id -> public.projects.id",
        ];
        let scenario = scenario(&["events.auth.users"], &[("events.public.task_comments", declared)]);
        let tenancy = Tenancy::infer(&scenario, &[catalog(tables)]).unwrap();
        assert_eq!(path(&tenancy, "public.task_comments").hops[0].constraint, None);
    }

    #[test]
    fn declared_paths_the_catalog_contradicts_are_refused_with_the_reason() {
        let cases: [(&str, &[&str], &str); 6] = [
            (
                "events.public.nope",
                &["task_id -> public.workspace_tasks.id"],
                "tier events has no table public.nope",
            ),
            (
                "events.public.task_comments",
                &["task_ref -> public.workspace_tasks.id"],
                "public.task_comments has no column task_ref",
            ),
            (
                "events.public.task_comments",
                &["task_id -> public.tasks.id"],
                "tier events has no table public.tasks",
            ),
            (
                "events.public.task_comments",
                &["task_id -> public.workspace_tasks.uuid"],
                "public.workspace_tasks has no column uuid",
            ),
            (
                "events.public.task_comments",
                &["task_id -> public.workspace_tasks.id"],
                "the last hop ends at public.workspace_tasks, which neither carries organization_id",
            ),
            (
                "events.public.projects",
                &["owner_id -> auth.users.id"],
                "holds the tenant itself (organization_id)",
            ),
        ];
        for (table, hops, message) in cases {
            let error = Tenancy::infer(&scenario(&[], &[(table, hops)]), &[catalog(hierarchy())]).unwrap_err();
            let text = error.to_string();
            assert!(text.starts_with(&format!("tenancy.paths \"{table}\": ")), "{text}");
            assert!(text.contains(message), "{text} does not say: {message}");
        }
    }

    #[test]
    fn tenant_sql_joins_up_the_path() {
        let tenancy = Tenancy::infer(&scenario(&["events.auth.users"], &[]), &[catalog(hierarchy())]).unwrap();
        assert_eq!(
            path(&tenancy, "public.workspace_tasks").tenant_sql("t"),
            r#"(SELECT hop2."organization_id" FROM "public"."workspaces" hop1 JOIN "public"."projects" hop2 ON hop2."id" = hop1."project_id" WHERE hop1."id" = t."workspace_id")"#
        );
        assert_eq!(
            scope(&tenancy, "public.projects").unwrap().tenant_sql("p"),
            r#"p."organization_id""#
        );
        assert_eq!(
            path(&tenancy, "public.workspace_tasks").to_string(),
            "workspace_id -> public.workspaces.id, project_id -> public.projects.id => public.projects.organization_id"
        );
    }

    #[test]
    fn hops_parse_in_single_and_composite_form() {
        let single: crate::scenario::HopSpec = "task_id -> public.workspace_tasks.id".parse().unwrap();
        assert_eq!(
            (single.columns, single.schema, single.table, single.target_columns),
            (
                vec!["task_id".into()],
                "public".into(),
                "workspace_tasks".into(),
                vec!["id".into()]
            )
        );
        let composite: crate::scenario::HopSpec =
            "(activation_id, parent_workspace_id) -> public.workspaces(activation_id, id)"
                .parse()
                .unwrap();
        assert_eq!(composite.columns, ["activation_id", "parent_workspace_id"]);
        assert_eq!(composite.target_columns, ["activation_id", "id"]);
        assert_eq!(
            composite.to_string(),
            "(activation_id, parent_workspace_id) -> public.workspaces(activation_id, id)"
        );
        for bad in [
            "task_id",
            "task_id -> workspace_tasks.id",
            "task_id -> public.workspace_tasks",
            "(a, b) -> public.t(x)",
            " -> public.t.id",
        ] {
            assert!(
                bad.parse::<crate::scenario::HopSpec>().is_err(),
                "{bad} should not parse"
            );
        }
    }

    #[test]
    fn scenario_files_declare_paths_under_tenancy_paths() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| {
            let file = dir.path().join("s.toml");
            std::fs::write(&file, text).unwrap();
            Scenario::resolve(Some(&file), Overrides::default())
        };
        let base = "[tiers.events]\nschema = [\"x.sql\"]\n[tenancy]\nshared = [\"events.auth.users\"]\n";
        let scenario = write(&format!(
            "{base}[tenancy.paths]\n\"events.public.task_comments\" = [\"task_id -> public.workspace_tasks.id\"]\n"
        ))
        .unwrap();
        assert_eq!(scenario.tenancy.paths.len(), 1);
        assert_eq!(
            scenario.tenancy.paths[0].table.to_string(),
            "events.public.task_comments"
        );
        let refused = [
            (
                "\"events.public.c\" = [\"task_id => public.t.id\"]",
                "tenancy.paths \"events.public.c\": `task_id => public.t.id` is not",
            ),
            ("\"events.public.c\" = []", "no hops"),
            (
                "\"other.public.c\" = [\"a -> public.t.id\"]",
                "names unknown tier `other`",
            ),
            (
                "\"events.auth.users\" = [\"a -> public.t.id\"]",
                "is in tenancy.shared and in tenancy.paths",
            ),
        ];
        for (entry, message) in refused {
            let error = write(&format!("{base}[tenancy.paths]\n{entry}\n"))
                .unwrap_err()
                .to_string();
            assert!(error.contains(message), "{error} does not say: {message}");
        }
    }
}
