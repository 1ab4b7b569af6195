//! Where each column's values come from (a generator, a link, the tenant,
//! the server), made distinct where unique keys ask it and within the
//! bounds of the partitions that exist.

use std::collections::{BTreeMap, BTreeSet};
use super::{ColumnPlan, Digit, Link, NULL_RATIO, Ordinal, Source, TierInput, Unsatisfiable, column_stream, table_stream};
use crate::catalog::{Catalog, ConstraintKind, Table, TableKind, mentions};
use crate::error::Result;
use crate::seed::Settings;
use crate::seed::domain::Domains;
use crate::seed::kind::Kind;
use crate::tenancy::{Tenancy, TenantScope};

/// Column sets that must be unique: PK, UNIQUE constraints, unique indexes.
pub(super) fn unique_keys(table: &Table) -> Vec<Vec<String>> {
    let mut keys: BTreeSet<Vec<String>> = table
        .constraints
        .iter()
        .filter(|c| matches!(c.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique))
        .map(|c| c.columns.clone())
        .collect();
    for index in table.indexes.iter().filter(|i| i.unique) {
        if let Some(columns) = index.columns.iter().cloned().collect::<Option<Vec<String>>>() {
            keys.insert(columns);
        }
    }
    keys.into_iter().collect()
}

/// How a table's rows are made, column by column.
pub(super) struct Shape {
    pub(super) columns: Vec<ColumnPlan>,
    pub(super) domains: Domains,
    pub(super) checks: Vec<(String, String)>,
    pub(super) leaves: Vec<BTreeMap<String, Kind>>,
    pub(super) leaf_digit: Option<Digit>,
    pub(super) key_capacities: Vec<(Ordinal, u64)>,
    pub(super) unsatisfiable: Option<Unsatisfiable>,
}

pub(super) fn columns_of(settings: &Settings, tenancy: &Tenancy, tier: &TierInput<'_>, table: &Table, links: &[Link]) -> Result<Shape> {
    let column_names: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
    let mut checks: Vec<(String, String)> = table
        .constraints
        .iter()
        .filter(|c| c.kind == ConstraintKind::Check)
        .map(|c| (c.name.clone(), c.definition.clone()))
        .collect();
    for column in &table.columns {
        checks.extend(
            column
                .domain_checks
                .iter()
                .map(|check| (format!("domain of {} ({})", column.name, column.data_type), replace_value(check, &column.name))),
        );
    }
    let mut domains = Domains::default();
    for (_, check) in &checks {
        domains.add(check, &column_names);
    }
    let checks = checks
        .into_iter()
        .map(|(name, c)| {
            let c = c.trim().trim_end_matches(" NOT VALID");
            (name, c.strip_prefix("CHECK ").unwrap_or(c).to_string())
        })
        .collect();
    let scope = tenancy.scope(&tier.catalog.tier, &table.name);
    let keys = unique_keys(table);
    let tenant_column = scope.and_then(TenantScope::column);
    let unknown_columns: BTreeSet<&str> = column_names
        .iter()
        .filter(|c| domains.unknown.iter().any(|u| mentions(u, c)))
        .map(String::as_str)
        .collect();

    let mut columns = Vec::new();
    let mut unsatisfiable = None;
    for column in &table.columns {
        let in_key = keys.iter().any(|k| k.contains(&column.name));
        let domain = domains.columns.get(&column.name).cloned().unwrap_or_default();
        // A column in several links (overlapping composite FKs) follows the
        // widest one, so the whole parent key comes from one parent row.
        let mut covering: Vec<(usize, usize)> = links
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.columns.iter().position(|c| c == &column.name).map(|p| (i, p)))
            .collect();
        // Self-references come last: a parent row of the same table cannot
        // decide columns the row shares with its other links.
        covering.sort_by_key(|&(i, _)| (links[i].target_is_self, std::cmp::Reverse(links[i].columns.len()), i));
        let link = covering.first().copied();
        let fallback = covering.get(1).copied().filter(|_| column.not_null);
        let serial = column.sequence.as_ref().filter(|_| {
            column.identity || column.default.as_deref().is_some_and(|d| d.contains("nextval"))
        });
        let source = if column.generated {
            Source::Default
        } else if let Some(sequence) = serial {
            // Also for the tenants table's key: tenant ids are then the values the server assigns.
            server_assigned(tier, sequence)
        } else if Some(column.name.as_str()) == tenant_column {
            Source::Tenant
        } else if let Some((link, position)) = link {
            Source::Link { link, position, fallback }
        } else if let Some(o) = settings.column_override(&tier.catalog.tier, &table.name, &column.name) {
            let full = format!("{}.{}.{}", tier.catalog.tier, table.name, column.name);
            Source::Value {
                kind: Kind::from_override(o, &column.name, &column.base_type).map_err(|m| super::super::override_error(&full, m))?,
                null_ratio: o.null_ratio.unwrap_or(0.0),
                unique: None,
            }
        } else {
            match Kind::for_column(&column.name, &column.base_type, column.enum_labels.as_deref(), &domain) {
                Some(kind) => Source::Value {
                    kind,
                    null_ratio: if column.not_null || domain.not_null || in_key || unknown_columns.contains(column.name.as_str()) {
                        0.0
                    } else {
                        NULL_RATIO
                    },
                    unique: None,
                },
                None if column.default.is_some() => Source::Default,
                None if !column.not_null => Source::Null,
                None => {
                    unsatisfiable.get_or_insert(Unsatisfiable {
                        column: column.name.clone(),
                        constraint: format!("NOT NULL, no default, and no generator for type `{}`", column.data_type),
                    });
                    Source::Null
                }
            }
        };
        columns.push(ColumnPlan {
            stream: column_stream(table_stream(settings.seed, &tier.catalog.tier, &table.name), &column.name, 0),
            name: column.name.clone(),
            data_type: column.data_type.clone(),
            redrawn: unknown_columns.contains(column.name.as_str()),
            source,
        });
    }
    let mut key_capacities = make_keys_distinct(&keys, tenant_column, links, &mut columns);
    let leaves = leaves_of(tier.catalog, table, &columns);
    let leaf_digit = columns.iter().find_map(|c| match &c.source {
        Source::Value { unique: Some(digit), .. } if leaves.first().is_some_and(|l| l.contains_key(&c.name)) => {
            Some((c.name.clone(), *digit))
        }
        _ => None,
    });
    if let Some((column, digit)) = &leaf_digit {
        // That key tells apart as many rows as all leaves together hold.
        let per_leaf = leaves.iter().filter_map(|l| l.get(column)?.distinct_values()).min().unwrap_or(u64::MAX);
        let distinct = digit.divisor.saturating_mul(per_leaf).saturating_mul(leaves.len() as u64);
        key_capacities.push((digit.ordinal, distinct));
    }
    Ok(Shape {
        columns,
        domains,
        checks,
        leaves,
        leaf_digit: leaf_digit.map(|(_, d)| d),
        key_capacities,
        unsatisfiable,
    })
}

/// Makes every unique key that links do not enumerate distinct by
/// construction: the row's ordinal is spread over the key's free columns
/// in mixed radix (bounded domains first), e.g. (stat_date, storage_tier)
/// walks 4 tiers per day. Returns, per key whose columns are all bounded,
/// how many rows it can tell apart.
fn make_keys_distinct(
    keys: &[Vec<String>],
    tenant_column: Option<&str>,
    links: &[Link],
    columns: &mut [ColumnPlan],
) -> Vec<(Ordinal, u64)> {
    let mut capacities = Vec::new();
    for key in keys {
        let enumerated = |c: &String| links.iter().any(|l| (l.enumerated.is_some() || l.members) && l.columns.contains(c));
        if key.iter().all(|c| enumerated(c) || Some(c.as_str()) == tenant_column) {
            continue;
        }
        let ordinal = if tenant_column.is_some_and(|t| key.iter().any(|c| c == t)) {
            Ordinal::WithinTenant
        } else {
            Ordinal::Row
        };
        let is_free = |c: &ColumnPlan| key.contains(&c.name) && matches!(c.source, Source::Value { .. });
        let already_distinct = columns.iter().any(|c| is_free(c) && matches!(c.source, Source::Value { unique: Some(_), .. }));
        if already_distinct {
            continue;
        }
        let mut free: Vec<usize> = (0..columns.len()).filter(|&i| is_free(&columns[i])).collect();
        if free.is_empty() {
            continue; // identity or reference columns make it distinct already
        }
        free.sort_by_key(|&i| match &columns[i].source {
            Source::Value { kind, .. } => kind.distinct_values().is_none(),
            _ => true,
        });
        let mut divisor = 1u64;
        let mut bounded = true;
        for i in free {
            if let Source::Value { kind, unique, .. } = &mut columns[i].source {
                *unique = Some(Digit { ordinal, divisor });
                match kind.distinct_values() {
                    Some(d) => divisor = divisor.saturating_mul(d.max(1)),
                    None => {
                        bounded = false;
                        break;
                    }
                }
            }
        }
        if bounded {
            capacities.push((ordinal, divisor));
        }
    }
    capacities
}

fn server_assigned(tier: &TierInput<'_>, sequence: &str) -> Source {
    let (next, step) = tier.sequences.get(sequence).copied().unwrap_or((1, 1));
    Source::ServerAssigned {
        sequence: sequence.to_string(),
        next,
        step,
    }
}

/// `CHECK ((VALUE > 0))` of a domain, as a CHECK on `column`.
fn replace_value(check: &str, column: &str) -> String {
    let pattern = regex::Regex::new(r"\bVALUE\b").expect("regex");
    pattern.replace_all(check, column).into_owned()
}

/// For a partitioned table: per leaf partition, generators for the
/// partition key columns that keep a row inside that leaf.
fn leaves_of(catalog: &Catalog, table: &Table, columns: &[ColumnPlan]) -> Vec<BTreeMap<String, Kind>> {
    if table.kind != TableKind::Partitioned {
        return Vec::new();
    }
    let mut leaves = Vec::new();
    let mut pending = vec![table.name.clone()];
    while let Some(parent) = pending.pop() {
        for child in catalog.tables.iter().filter(|t| t.partition_of.as_ref() == Some(&parent)) {
            if child.kind == TableKind::Partitioned {
                pending.push(child.name.clone());
                continue;
            }
            if child.partition_bound.as_deref() == Some("DEFAULT") {
                continue;
            }
            let mut domains = Domains::default();
            let names: Vec<String> = child.columns.iter().map(|c| c.name.clone()).collect();
            domains.add(child.partition_constraint.as_deref().unwrap_or(""), &names);
            if !domains.unknown.is_empty() {
                return Vec::new(); // hash partitions: any value routes somewhere
            }
            let mut kinds = BTreeMap::new();
            for (name, domain) in &domains.columns {
                let Some(column) = child.column(name) else { continue };
                let generated_here = columns.iter().any(|c| &c.name == name && matches!(c.source, Source::Value { .. }));
                if let (true, Some(kind)) = (generated_here, Kind::for_column(name, &column.base_type, None, domain)) {
                    kinds.insert(name.clone(), kind);
                }
            }
            leaves.push(kinds);
        }
    }
    // Deterministic order whatever the catalog's order.
    leaves.sort_by_key(|k| format!("{k:?}"));
    leaves
}
