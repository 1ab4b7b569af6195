//! Tenant paths: for a table without the tenant column, the FK hops up to
//! one that has it, declared in the scenario (`[tenancy.paths]`, checked
//! against the catalog) or inferred as the shortest chain.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{PathHop, TenantPath, TenantScope};
use crate::catalog::{Catalog, Constraint, QualName, Table};
use crate::error::{HarnessError, Result};
use crate::scenario::DeclaredPath;

/// Checks each declared path against the catalog and scopes its table.
pub(super) fn declare_paths<'a>(
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
pub(super) fn infer_paths(catalog: &Catalog, scoped: &mut BTreeMap<QualName, TenantScope>, shared: impl Fn(&QualName) -> bool) {
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
                // Remote scopes are found after every path: none is known yet.
                Some(TenantScope::Remote(_)) | None => {
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
