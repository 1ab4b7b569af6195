//! Tenancy inference on hand-built catalogs: paths (`paths`), tenant
//! columns and settings per tier (`columns`), models (`models`).

mod columns;
mod models;
mod paths;

use std::path::PathBuf;

use super::roles::login_role;
use super::*;
use crate::catalog::{Column, Constraint, ConstraintKind, ForeignKey, RefAction};
use crate::catalog::{Command, Policy};
use crate::scenario::{DeclaredPath, Overrides, Scenario, TierTenancyHints};

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

/// A policy on `table` whose USING is `expression`, as Postgres prints it.
fn with_policy(mut table: Table, expression: &str) -> Table {
    table.policies.push(Policy {
        name: format!("{}_policy", table.name.name),
        command: Command::All,
        roles: vec!["public".into()],
        permissive: true,
        using: Some(expression.into()),
        with_check: None,
    });
    table
}

