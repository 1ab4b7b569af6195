//! The seeding plan for every table of every tier, made from the catalogs
//! alone. Row `j` of a table belongs to tenant `j % N`; every value is a
//! pure function of (seed, table, column, row), so a child — in the same
//! tier or another — computes the key of the same-tenant parent it picks
//! instead of reading it back. That keeps memory flat at any volume.

mod build;
mod columns;
mod links;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::domain::Relation;
use super::kind::Kind;
use super::value::Value;
use crate::canary;
use crate::catalog::QualName;
use crate::rng::{stream, RowRng};

pub use build::{build, seedable, TierInput};

/// Nullable, unconstrained columns are NULL this often, so data looks real.
const NULL_RATIO: f64 = 0.1;

pub struct Plan {
    pub tenants: Vec<Value>,
    /// Each tenant's canary tag (see `crate::canary`), by tenant number.
    pub canary_tags: Vec<String>,
    pub tables: Vec<TablePlan>,
    index: HashMap<(String, QualName), usize>,
    /// Tiers whose tenants are rows of another tier's table (`tenancy::TenantOf`):
    /// that table and its key column. Such a tier names tenant `t` by the
    /// key of the table's first row of `t`.
    tenant_of: HashMap<String, (usize, String)>,
}

pub struct TablePlan {
    /// Its index in [`Plan::tables`]: the table number canaries carry.
    pub position: usize,
    pub tier: String,
    pub name: QualName,
    /// Whether rows belong to tenants (`j % N`); shared tables' rows do not.
    pub tenant_scoped: bool,
    /// The column holding the tenant (the key, for the tenants table itself).
    pub tenant_column: Option<String>,
    pub root: bool,
    pub rows: u64,
    /// Rows already there before seeding (fixed rows, lookups): not seeded.
    pub fixed: Option<FixedRows>,
    /// Rows the table held before seeding (fixed rows, whether or not rows
    /// were seeded on top of them).
    pub preexisting: u64,
    pub columns: Vec<ColumnPlan>,
    pub links: Vec<Link>,
    pub relations: Vec<Relation>,
    /// CHECK conjuncts only PostgreSQL can judge (see copy.rs).
    pub unknown_checks: Vec<String>,
    /// Every CHECK the rows must pass (table and domain CHECKs): name, expression.
    pub checks: Vec<(String, String)>,
    pub primary_key: Vec<String>,
    /// Rows each fully bounded unique key can tell apart (per tenant or in all).
    pub key_capacities: Vec<(Ordinal, u64)>,
    /// Partition key columns per leaf partition, when rows must pick one.
    pub leaves: Vec<BTreeMap<String, Kind>>,
    /// When a partition key column is in a unique key, the leaf follows the
    /// row's ordinal (not chance), so rows spread without colliding.
    pub leaf_digit: Option<Digit>,
    pub stream: u64,
    /// Why no row can be made for this table; once the plan is finished,
    /// such a table holds no rows (it is skipped) or the run stops.
    pub unsatisfiable: Option<Unsatisfiable>,
    /// Rows of a referenced table that no drawn value makes pass a CHECK
    /// only PostgreSQL can judge (found before loading, ascending): they
    /// are left out, and children pick among the other rows instead.
    pub gaps: Vec<u64>,
}

/// The column and constraint that keep a table from being seeded.
#[derive(Debug, Clone)]
pub struct Unsatisfiable {
    pub column: String,
    pub constraint: String,
}

pub struct ColumnPlan {
    pub name: String,
    pub data_type: String,
    pub source: Source,
    /// Mentioned by a CHECK only PostgreSQL can judge: redrawn per attempt.
    pub redrawn: bool,
    /// The random stream of its values at attempt 0, named once here
    /// rather than hashed again for every value.
    pub stream: u64,
}

pub enum Source {
    Tenant,
    Value { kind: Kind, null_ratio: f64, unique: Option<Digit> },
    /// The `position`-th column of link `link`; when that link is left NULL
    /// and the column may not be, the column of another link that covers it.
    Link { link: usize, position: usize, fallback: Option<(usize, usize)> },
    /// Identity or serial: the server assigns `next + j * step`.
    ServerAssigned { sequence: String, next: i64, step: i64 },
    /// Generated column or a default we leave to the server.
    Default,
    Null,
}

/// A unique column's share of the row's ordinal: `(ordinal / divisor)`,
/// which the generator wraps to its domain.
#[derive(Debug, Clone, Copy)]
pub struct Digit {
    pub ordinal: Ordinal,
    pub divisor: u64,
}

/// What makes a unique column's values distinct.
#[derive(Debug, Clone, Copy)]
pub enum Ordinal {
    /// The row number: distinct across the table.
    Row,
    /// The row's number within its tenant: distinct per tenant.
    WithinTenant,
}

/// An FK, a declared reference, or a column that looks like a reference
/// (see `catalog::references`): a row's columns take a parent row's key.
pub struct Link {
    /// The FK constraint's name, or the declared reference.
    pub name: String,
    /// The random stream of its picks (see [`link_stream`]).
    pub stream: u64,
    pub target: usize,
    pub columns: Vec<String>,
    pub target_columns: Vec<String>,
    pub nullable: bool,
    /// Whether picks may leave it NULL: not when a CHECK needs its columns.
    pub draw_null: bool,
    /// Position in a unique key made only of links: picks enumerate parents.
    pub enumerated: Option<usize>,
    /// Part of an FK cycle: NULL during COPY, filled afterwards.
    pub deferred: bool,
    /// Points at its own table (a tree: parent rows).
    pub target_is_self: bool,
    /// A CHECK tierguard cannot read ties it to the tenant column (`CHECK
    /// (tenant_id <> partner_tenant_id)`): a redrawn row picks its parent
    /// from another tenant.
    pub redraw_other_tenant: bool,
    /// The user column of the membership table: picks make most users a
    /// member of one tenant, some of two and some of none (see
    /// [`member_of_row`]).
    pub members: bool,
}

/// The user (row of the users table) membership row `j` names: row `j`'s
/// own user, except every fourth row of a tenant takes the previous row's
/// user (of another tenant), so that user belongs to two tenants and its
/// own stays a member of none.
pub fn member_of_row(j: u64, tenants: u64) -> u64 {
    match (j / tenants) % 4 {
        3 => j - 1,
        _ => j,
    }
}

pub struct FixedRows {
    /// The tenant value of each row (NULL for shared tables).
    pub tenant_values: Vec<Value>,
    /// Tenant number of each row (None: not one of the seeded tenants).
    pub tenants: Vec<Option<usize>>,
    /// Values of the columns other tables reference, by column.
    pub values: BTreeMap<String, Vec<Value>>,
}

impl Plan {
    pub fn table(&self, tier: &str, name: &QualName) -> Option<&TablePlan> {
        self.index.get(&(tier.to_string(), name.clone())).map(|&i| &self.tables[i])
    }

    /// How tier `tier` names tenant `t`: its id, or where the tier's
    /// tenants are another tier's rows, the key of the first such row of `t`.
    pub fn tenant_value(&self, tier: &str, t: usize) -> Value {
        match self.tenant_of.get(tier) {
            Some((table, key)) => {
                let table = &self.tables[*table];
                let rows = self.candidates(table, Some(t));
                if rows.len() == 0 {
                    return Value::Null;
                }
                self.value(table, rows.nth(0), key, 0)
            }
            None => self.tenants[t].clone(),
        }
    }

    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// Tenant number of row `j`.
    pub fn tenant_of(&self, table: &TablePlan, j: u64) -> Option<usize> {
        match &table.fixed {
            Some(fixed) => fixed.tenants.get(j as usize).copied().flatten(),
            None if table.tenant_scoped => Some((j % self.tenants.len() as u64) as usize),
            None => None,
        }
    }

    /// Row numbers of `table` that belong to `tenant` (all rows when either
    /// side is not tenant-scoped) and are loaded, as (count, nth) so
    /// nothing is stored but the few gaps.
    fn candidates(&self, table: &TablePlan, tenant: Option<usize>) -> Candidates {
        let all = self.every_candidate(table, tenant);
        if table.gaps.is_empty() {
            return all;
        }
        let skipped = match &all {
            Candidates::Strided { first, stride, .. } => {
                table.gaps.iter().filter(|&&g| g >= *first && (g - first) % stride == 0).map(|g| (g - first) / stride).collect()
            }
            Candidates::Range(_) => table.gaps.clone(),
            Candidates::Listed(_) | Candidates::Gapped { .. } => Vec::new(), // fixed rows are never left out
        };
        Candidates::Gapped { all: Box::new(all), skipped }
    }

    /// [`Plan::candidates`], gaps included.
    fn every_candidate(&self, table: &TablePlan, tenant: Option<usize>) -> Candidates {
        let n = self.tenants.len() as u64;
        match (&table.fixed, tenant.filter(|_| table.tenant_scoped)) {
            (Some(fixed), Some(t)) => Candidates::Listed(
                fixed.tenants.iter().enumerate().filter(|(_, owner)| **owner == Some(t)).map(|(i, _)| i as u64).collect(),
            ),
            (Some(fixed), None) => Candidates::Range(fixed.tenants.len() as u64),
            (None, Some(t)) => {
                let t = t as u64;
                let count = table.rows / n + u64::from(t < table.rows % n);
                Candidates::Strided { first: t, stride: n, count }
            }
            (None, None) => Candidates::Range(table.rows),
        }
    }

    /// The value of `column` in row `j` of `table`: what the row was (or
    /// will be) loaded with. Pure: this is how children find parent keys.
    pub fn value(&self, table: &TablePlan, j: u64, column: &str, attempt: u32) -> Value {
        if let Some(fixed) = &table.fixed {
            return fixed.values.get(column).and_then(|v| v.get(j as usize)).cloned().unwrap_or(Value::Null);
        }
        match table.columns.iter().find(|c| c.name == column) {
            Some(plan) => self.column_value(table, j, plan, attempt),
            None => Value::Null,
        }
    }

    /// [`Plan::value`] for a column of a seeded table, already looked up.
    pub fn column_value(&self, table: &TablePlan, j: u64, plan: &ColumnPlan, attempt: u32) -> Value {
        let column = plan.name.as_str();
        let tenant = self.tenant_of(table, j);
        match &plan.source {
            Source::Tenant => tenant.map_or(Value::Null, |t| self.tenant_value(&table.tier, t)),
            Source::Null | Source::Default => Value::Null,
            Source::ServerAssigned { next, step, .. } => Value::Int(next + j as i64 * step),
            Source::Link { link, position, fallback } => match (self.linked(table, j, *link, *position, attempt), fallback) {
                (Value::Null, Some((link, position))) => self.linked(table, j, *link, *position, attempt),
                (value, _) => value,
            },
            Source::Value { kind, null_ratio, unique } => {
                let attempt = if plan.redrawn { attempt } else { 0 };
                let values = match attempt {
                    0 => plan.stream,
                    _ => column_stream(table.stream, column, attempt),
                };
                let mut rng = RowRng::new(values, j);
                if *null_ratio > 0.0 && rand::Rng::random_bool(&mut rng, *null_ratio) {
                    return Value::Null;
                }
                let leaf_kind = self.leaf_kind(table, j, column);
                let ordinal = unique.map(|digit| {
                    let position = self.ordinal(j, digit);
                    // Leaf-bound keys: the leaf took the low part of the ordinal.
                    match (leaf_kind, table.leaf_digit) {
                        (Some(_), Some(_)) => position / table.leaves.len() as u64,
                        _ => position,
                    }
                });
                match (leaf_kind, tenant) {
                    (Some(leaf), _) => leaf.sample(&mut rng, ordinal),
                    // Columns a CHECK only PostgreSQL can judge stay as drawn:
                    // a marker could be what that CHECK refuses.
                    (None, Some(tenant)) if !plan.redrawn => {
                        let marker = canary::marker(&self.canary_tags[tenant], table.position, j);
                        kind.with_marker(kind.sample(&mut rng, ordinal), &marker)
                    }
                    (None, _) => kind.sample(&mut rng, ordinal),
                }
            }
        }
    }

    /// A partitioned table's row lands in one leaf: its key columns follow
    /// that leaf's bounds.
    fn leaf_kind<'p>(&self, table: &'p TablePlan, j: u64, column: &str) -> Option<&'p Kind> {
        if table.leaves.is_empty() {
            return None;
        }
        let leaf = match table.leaf_digit {
            Some(digit) => (self.ordinal(j, digit) % table.leaves.len() as u64) as usize,
            None => rand::Rng::random_range(&mut RowRng::new(stream(table.stream, &["#leaf"]), j), 0..table.leaves.len()),
        };
        table.leaves[leaf].get(column)
    }

    /// A unique column's digit of row `j`'s ordinal.
    fn ordinal(&self, j: u64, digit: Digit) -> u64 {
        let position = match digit.ordinal {
            Ordinal::Row => j,
            Ordinal::WithinTenant => j / self.tenants.len() as u64,
        };
        position / digit.divisor
    }

    fn linked(&self, table: &TablePlan, j: u64, link_index: usize, position: usize, attempt: u32) -> Value {
        let link = &table.links[link_index];
        if link.deferred {
            return Value::Null;
        }
        let tenant = self.tenant_of(table, j).map(|t| match link.redraw_other_tenant {
            true => (t + attempt as usize) % self.tenants.len(),
            false => t,
        });
        match self.pick_for(table, j, link_index, tenant) {
            Some(parent_row) => {
                let target = &self.tables[link.target];
                self.value(target, parent_row, &link.target_columns[position], attempt)
            }
            None => Value::Null,
        }
    }

    /// The parent row link `link_index` of row `j` points at.
    pub fn pick(&self, table: &TablePlan, j: u64, link_index: usize) -> Option<u64> {
        self.pick_for(table, j, link_index, self.tenant_of(table, j))
    }

    /// [`Plan::pick`] among the parents of `tenant`.
    fn pick_for(&self, table: &TablePlan, j: u64, link_index: usize, tenant: Option<usize>) -> Option<u64> {
        let link = &table.links[link_index];
        let target = &self.tables[link.target];
        let same_table = std::ptr::eq(table, target);
        if same_table && table.links.iter().enumerate().any(|(i, l)| i != link_index && l.columns.iter().any(|c| link.columns.contains(c))) {
            // A parent that must share columns the row takes from other
            // links (same activation, say) is not known to exist: leave it NULL.
            return None;
        }
        let candidates = self.candidates(target, tenant);
        let count = if same_table {
            // Self-references point at an earlier row of the same tenant (or itself).
            let within = j / if tenant.is_some() { self.tenants.len() as u64 } else { 1 };
            within + 1
        } else {
            candidates.len()
        };
        if count == 0 {
            return None;
        }
        let mut rng = RowRng::new(link.stream, j);
        if link.draw_null && !same_table && link.enumerated.is_none() && rand::Rng::random_bool(&mut rng, NULL_RATIO) {
            return None;
        }
        let nth = match link.enumerated {
            _ if link.members => member_of_row(j, self.tenants.len() as u64) % count,
            Some(radix_position) => {
                let per_tenant = if tenant.is_some() { j / self.tenants.len() as u64 } else { j };
                let below: u64 = table
                    .links
                    .iter()
                    .filter(|l| l.enumerated.is_some_and(|p| p < radix_position))
                    .map(|l| self.candidates(&self.tables[l.target], tenant).len().max(1))
                    .product();
                (per_tenant / below) % count
            }
            None => rand::Rng::random_range(&mut rng, 0..count),
        };
        if !same_table {
            return Some(candidates.nth(nth));
        }
        // An earlier row of the same tenant; past a gap, the next one up
        // (at worst the row itself).
        let stride = if tenant.is_some() { self.tenants.len() as u64 } else { 1 };
        let first = tenant.map_or(0, |t| t as u64);
        let mut parent = first + nth * stride;
        while parent < j && table.gaps.binary_search(&parent).is_ok() {
            parent += stride;
        }
        Some(parent)
    }
}

enum Candidates {
    Range(u64),
    Strided { first: u64, stride: u64, count: u64 },
    Listed(Vec<u64>),
    /// `all` but the positions `skipped` (ascending) in it.
    Gapped { all: Box<Candidates>, skipped: Vec<u64> },
}

impl Candidates {
    fn len(&self) -> u64 {
        match self {
            Candidates::Range(n) => *n,
            Candidates::Strided { count, .. } => *count,
            Candidates::Listed(v) => v.len() as u64,
            Candidates::Gapped { all, skipped } => all.len() - skipped.len() as u64,
        }
    }

    fn nth(&self, i: u64) -> u64 {
        match self {
            Candidates::Range(_) => i,
            Candidates::Strided { first, stride, .. } => first + i * stride,
            Candidates::Listed(v) => v[i as usize],
            Candidates::Gapped { all, skipped } => {
                let mut position = i;
                for &gap in skipped {
                    if gap > position {
                        break;
                    }
                    position += 1;
                }
                all.nth(position)
            }
        }
    }
}

/// Table indexes of one tier, parents before children; Err(cycle members).
pub fn order(plan: &Plan, tier: &str) -> std::result::Result<Vec<usize>, Vec<usize>> {
    let members: Vec<usize> = (0..plan.tables.len()).filter(|&i| plan.tables[i].tier == tier).collect();
    let mut done: BTreeSet<usize> = BTreeSet::new();
    let mut ordered = Vec::new();
    while ordered.len() < members.len() {
        let ready: Vec<usize> = members
            .iter()
            .copied()
            .filter(|i| !done.contains(i))
            .filter(|&i| {
                plan.tables[i].links.iter().all(|l| {
                    l.deferred || l.target == i || plan.tables[l.target].tier != tier || done.contains(&l.target)
                })
            })
            .collect();
        if ready.is_empty() {
            return Err(members.into_iter().filter(|i| !done.contains(i)).collect());
        }
        for i in ready {
            done.insert(i);
            ordered.push(i);
        }
    }
    Ok(ordered)
}

/// Columns of `table` that other tables' links point at.
pub fn referenced_columns(plan: &Plan, table: usize) -> BTreeSet<String> {
    plan.tables
        .iter()
        .flat_map(|t| &t.links)
        .filter(|l| l.target == table)
        .flat_map(|l| l.target_columns.iter().cloned())
        .collect()
}

/// The random streams values are drawn from: per table, per column and
/// attempt, per link. Renaming any of them changes every seeded database.
fn table_stream(seed: u64, tier: &str, table: &QualName) -> u64 {
    stream(seed, &[tier, &table.schema, &table.name])
}

fn column_stream(table: u64, column: &str, attempt: u32) -> u64 {
    stream(table, &[column, &attempt.to_string()])
}

fn link_stream(table: u64, link: usize) -> u64 {
    stream(table, &["#link", &link.to_string()])
}

pub fn index_of(plan: &Plan, tier: &str, name: &QualName) -> Option<usize> {
    plan.index.get(&(tier.to_string(), name.clone())).copied()
}
