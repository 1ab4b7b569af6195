//! The links of a table: its FKs, the declared references from it, and
//! the inferred references the seeder follows, each a parent a row's
//! columns take their values from.

use std::collections::{BTreeMap, BTreeSet};
use super::{Link, Plan, TierInput, seedable};
use crate::catalog::{QualName, Table};
use crate::catalog::references::Inferred;
use crate::seed::Settings;
use super::columns::unique_keys;

pub(super) fn links_of(
    plan: &Plan,
    tier: &TierInput<'_>,
    table: &Table,
    tenant_column: Option<&str>,
    references: &[crate::scenario::Reference],
    inferred: &[&Inferred<'_>],
) -> Vec<Link> {
    // MATCH SIMPLE: a reference with any NULL column is not checked, so one
    // nullable column (say, beside a NOT NULL tenant column) makes it optional.
    let nullable = |columns: &[String]| columns.iter().any(|c| table.column(c).is_some_and(|c| !c.not_null));
    let mut links: Vec<Link> = table
        .foreign_keys()
        .filter_map(|(constraint, fk)| {
            let target = *plan.index.get(&(tier.catalog.tier.clone(), fk.target.clone()))?;
            Some(Link {
                name: format!("FOREIGN KEY {}", constraint.name),
                stream: 0,
                target,
                nullable: nullable(&constraint.columns),
                draw_null: nullable(&constraint.columns),
                columns: constraint.columns.clone(),
                target_columns: fk.target_columns.clone(),
                enumerated: None,
                deferred: false,
                target_is_self: fk.target == table.name,
                redraw_other_tenant: false,
                members: false,
            })
        })
        .collect();
    for reference in references {
        let from = &reference.from;
        let here = from.table.tier == tier.catalog.tier
            && from.table.schema == table.name.schema
            && from.table.table == table.name.name;
        let covered = links.iter().any(|l| from.columns.iter().any(|c| l.columns.contains(c)));
        let target = plan.index.get(&(
            reference.to.table.tier.clone(),
            QualName {
                schema: reference.to.table.schema.clone(),
                name: reference.to.table.table.clone(),
            },
        ));
        if let (true, false, Some(&target)) = (here, covered, target) {
            links.push(Link {
                name: format!("reference {from} → {}", reference.to),
                stream: 0,
                target,
                nullable: nullable(&from.columns),
                draw_null: nullable(&from.columns),
                columns: from.columns.clone(),
                target_columns: reference.to.columns.clone(),
                enumerated: None,
                deferred: false,
                target_is_self: false,
                redraw_other_tenant: false,
                members: false,
            });
        }
    }
    add_inferred(plan, tier, table, tenant_column, inferred, &mut links);
    // A unique key made only of links (and the tenant): enumerate parent
    // combinations instead of drawing them, so rows never collide.
    for key in unique_keys(table) {
        let covering: Vec<usize> = links
            .iter()
            .enumerate()
            .filter(|(_, l)| l.columns.iter().all(|c| key.contains(c)))
            .map(|(i, _)| i)
            .collect();
        let free = key
            .iter()
            .any(|c| !covering.iter().any(|&i| links[i].columns.contains(c)) && Some(c.as_str()) != tenant_column);
        if !free && !covering.is_empty() && links.iter().all(|l| l.enumerated.is_none()) {
            for (position, &i) in covering.iter().enumerate() {
                links[i].enumerated = Some(position);
            }
        }
    }
    links
}

/// The inferred references of a tier the seeder follows: not the tenant
/// column, a column the server fills or a generator override names, and
/// not one that would close a cycle of references (no FK lets such a cycle
/// load in two steps). A column left out is drawn like any other value;
/// `orphan.intra` never reports rows tierguard wrote through an inferred
/// reference, so that costs no false alarm.
pub(super) fn followed<'t, 'a>(settings: &Settings, tier: &'t TierInput<'a>, references: &[crate::scenario::Reference]) -> Vec<&'t Inferred<'a>> {
    let name = |table: &crate::scenario::TierTable| QualName {
        schema: table.schema.clone(),
        name: table.table.clone(),
    };
    let mut edges: BTreeMap<QualName, BTreeSet<QualName>> = BTreeMap::new();
    for table in seedable(tier.catalog) {
        for (_, fk) in table.foreign_keys().filter(|(_, fk)| fk.target != table.name) {
            edges.entry(table.name.clone()).or_default().insert(fk.target.clone());
        }
    }
    let here = |t: &crate::scenario::TierTable| t.tier == tier.catalog.tier;
    for reference in references.iter().filter(|r| here(&r.from.table) && here(&r.to.table)) {
        edges.entry(name(&reference.from.table)).or_default().insert(name(&reference.to.table));
    }
    let reaches = |edges: &BTreeMap<QualName, BTreeSet<QualName>>, from: &QualName, to: &QualName| {
        let (mut seen, mut pending) = (BTreeSet::new(), vec![from.clone()]);
        while let Some(next) = pending.pop() {
            if &next == to {
                return true;
            }
            if seen.insert(next.clone()) {
                pending.extend(edges.get(&next).into_iter().flatten().cloned());
            }
        }
        false
    };
    let mut followed = Vec::new();
    for reference in tier.inferred.iter().filter(|r| !r.covered) {
        let column = reference.column;
        let server_fills = column.generated || column.identity || column.default.as_deref().is_some_and(|d| d.contains("nextval"));
        let overridden = settings.column_override(&tier.catalog.tier, &reference.table.name, &column.name).is_some();
        if server_fills || overridden || reaches(&edges, &reference.target.name, &reference.table.name) {
            continue;
        }
        edges.entry(reference.table.name.clone()).or_default().insert(reference.target.name.clone());
        followed.push(reference);
    }
    followed
}

/// The inferred references of `table` among those followed, as links
/// (after its FKs and declared references, which win on a shared column).
fn add_inferred(plan: &Plan, tier: &TierInput<'_>, table: &Table, tenant_column: Option<&str>, followed: &[&Inferred<'_>], links: &mut Vec<Link>) {
    for reference in followed.iter().filter(|r| r.table.name == table.name && Some(r.column.name.as_str()) != tenant_column) {
        let column = &reference.column.name;
        let target = plan.index.get(&(tier.catalog.tier.clone(), reference.target.name.clone()));
        let (Some(&target), false) = (target, links.iter().any(|l| l.columns.contains(column))) else { continue };
        links.push(Link {
            name: format!("inferred reference {}.{column} → {}.{}", table.name, reference.target.name, reference.key),
            stream: 0,
            target,
            columns: vec![column.clone()],
            target_columns: vec![reference.key.to_string()],
            nullable: !reference.column.not_null,
            draw_null: !reference.column.not_null,
            enumerated: None,
            deferred: false,
            target_is_self: false,
            redraw_other_tenant: false,
            members: false,
        });
    }
}
