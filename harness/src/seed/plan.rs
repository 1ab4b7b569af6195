//! The seeding plan for every table of every tier, made from the catalogs
//! alone. Row `j` of a table belongs to tenant `j % N`; every value is a
//! pure function of (seed, table, column, row), so a child — in the same
//! tier or another — computes the key of the same-tenant parent it picks
//! instead of reading it back. That keeps memory flat at any volume.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::domain::{Domains, Relation};
use crate::rng::{stream, RowRng};
use super::value::{Kind, Value};
use super::Settings;
use crate::catalog::references::Inferred;
use crate::catalog::{mentions, Catalog, ConstraintKind, QualName, Table, TableKind};
use crate::tenancy::{Model, Tenancy, TenantScope};
use crate::error::{HarnessError, Result};
use crate::scenario::TierTable;

/// Nullable, unconstrained columns are NULL this often, so data looks real.
const NULL_RATIO: f64 = 0.1;

pub struct Plan {
    pub tenants: Vec<Value>,
    pub tables: Vec<TablePlan>,
    index: HashMap<(String, QualName), usize>,
}

pub struct TablePlan {
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
    /// side is not tenant-scoped), as (count, nth) so nothing is stored.
    fn candidates(&self, table: &TablePlan, tenant: Option<usize>) -> Candidates {
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
            Source::Tenant => tenant.map_or(Value::Null, |t| self.tenants[t].clone()),
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
                let kind = leaf_kind.unwrap_or(kind);
                kind.sample(&mut rng, ordinal)
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
        Some(if same_table { tenant.map_or(nth, |t| t as u64 + nth * self.tenants.len() as u64) } else { candidates.nth(nth) })
    }
}

enum Candidates {
    Range(u64),
    Strided { first: u64, stride: u64, count: u64 },
    Listed(Vec<u64>),
}

impl Candidates {
    fn len(&self) -> u64 {
        match self {
            Candidates::Range(n) => *n,
            Candidates::Strided { count, .. } => *count,
            Candidates::Listed(v) => v.len() as u64,
        }
    }

    fn nth(&self, i: u64) -> u64 {
        match self {
            Candidates::Range(_) => i,
            Candidates::Strided { first, stride, .. } => first + i * stride,
            Candidates::Listed(v) => v[i as usize],
        }
    }
}

/// Everything `build` needs to know about one tier.
pub struct TierInput<'a> {
    pub catalog: &'a Catalog,
    /// Tables that hold rows before seeding, with their row count.
    pub existing_rows: BTreeMap<QualName, u64>,
    /// Tenant tables among those whose rows belong to one tenant at most:
    /// seeded on top of them, as if the scenario asked for their rows.
    pub topped_up: BTreeSet<QualName>,
    /// Next value and increment of each identity/serial sequence.
    pub sequences: BTreeMap<String, (i64, i64)>,
    /// Columns that look like references but have no FK: seeded with keys
    /// that exist, so tierguard never writes an orphan of its own.
    pub inferred: Vec<Inferred<'a>>,
}

pub fn build(settings: &Settings, tenancy: &Tenancy, tiers: &[TierInput<'_>], references: &[crate::scenario::Reference]) -> Result<Plan> {
    let n = settings.tenants.max(1) as u64;
    let mut plan = Plan {
        tenants: Vec::new(),
        tables: Vec::new(),
        index: HashMap::new(),
    };
    // First every table, so links can name their targets by index.
    for tier in tiers {
        for table in seedable(tier.catalog) {
            let scope = tenancy.scope(&tier.catalog.tier, &table.name);
            let root = matches!(scope, Some(TenantScope::Root(_)));
            let configured = settings.rows_for(&TierTable {
                tier: tier.catalog.tier.clone(),
                schema: table.name.schema.clone(),
                table: table.name.name.clone(),
            });
            let existing = tier.existing_rows.get(&table.name).copied().unwrap_or(0);
            let rows = if existing > 0 && configured.is_none() && !tier.topped_up.contains(&table.name) {
                0 // fixed rows: read, not added to
            } else if root {
                n
            } else {
                configured.unwrap_or(settings.rows).max(if scope.is_some() { n } else { 1 })
            };
            plan.index.insert((tier.catalog.tier.clone(), table.name.clone()), plan.tables.len());
            plan.tables.push(TablePlan {
                tier: tier.catalog.tier.clone(),
                name: table.name.clone(),
                tenant_scoped: scope.is_some(),
                tenant_column: scope.and_then(TenantScope::column).map(str::to_string),
                root,
                rows,
                fixed: None,
                preexisting: existing,
                columns: Vec::new(),
                links: Vec::new(),
                relations: Vec::new(),
                unknown_checks: Vec::new(),
                checks: Vec::new(),
                primary_key: table.primary_key().map(|k| k.columns.clone()).unwrap_or_default(),
                key_capacities: Vec::new(),
                leaves: Vec::new(),
                leaf_digit: None,
                unsatisfiable: None,
                stream: table_stream(settings.seed, &tier.catalog.tier, &table.name),
            });
        }
    }
    for tier in tiers {
        let inferred = followed(settings, tier, references);
        for table in seedable(tier.catalog) {
            let index = plan.index[&(tier.catalog.tier.clone(), table.name.clone())];
            let tenant_column = tenancy.scope(&tier.catalog.tier, &table.name).and_then(TenantScope::column);
            let mut links = links_of(&plan, tier, table, tenant_column, references, &inferred);
            let tenant_hop = match tenancy.scope(&tier.catalog.tier, &table.name) {
                Some(TenantScope::Path(path)) => path.hops.first(),
                _ => None,
            };
            let membership = match tenancy.model(&tier.catalog.tier) {
                Model::Membership(m) if m.table == table.name => Some(&m.user_column),
                _ => None,
            };
            for (i, link) in links.iter_mut().enumerate() {
                link.stream = link_stream(plan.tables[index].stream, i);
                if let Some(user) = membership {
                    // Memberships are not enumerated: their user picks are
                    // distinct per tenant by construction (member_of_row).
                    link.enumerated = None;
                    if link.columns == [user.clone()] {
                        link.members = true;
                        link.draw_null = false;
                    }
                }
                // A nullable hop of the tenant path: seeded rows always have a tenant.
                if tenant_hop.is_some_and(|hop| hop.columns == link.columns && plan.tables[link.target].name == hop.target) {
                    link.draw_null = false;
                }
            }
            let shape = columns_of(settings, tenancy, tier, table, &links)?;
            for link in &mut links {
                // `a IS NOT NULL OR b IS NOT NULL` and the like: never leave these NULL.
                let needed = |c: &String| {
                    shape.domains.columns.get(c).is_some_and(|d| d.not_null) || shape.domains.unknown.iter().any(|u| mentions(u, c))
                };
                link.draw_null &= !link.columns.iter().any(needed);
                link.redraw_other_tenant = tenant_column.is_some_and(|tenant| {
                    shape.domains.unknown.iter().any(|u| mentions(u, tenant) && link.columns.iter().any(|c| mentions(u, c)))
                });
            }
            let t = &mut plan.tables[index];
            t.links = links;
            t.columns = shape.columns;
            t.relations = shape.domains.relations;
            t.unknown_checks = shape.domains.unknown;
            t.checks = shape.checks;
            t.key_capacities = shape.key_capacities;
            t.leaves = shape.leaves;
            t.leaf_digit = shape.leaf_digit;
            t.unsatisfiable = shape.unsatisfiable;
        }
        defer_cycles(&mut plan, &tier.catalog.tier)?;
    }
    Ok(plan)
}

impl Plan {
    /// Completes the plan once the rows already in the database are known:
    /// those tables are not seeded, their rows are picked from as they are,
    /// and a pre-filled tenants table defines the tenants. A table no row
    /// can be made for stops the run, or is skipped when the scenario
    /// allows it.
    pub fn finish(&mut self, settings: &Settings, fixed: Vec<(usize, FixedRows)>) -> Result<()> {
        for (index, rows) in fixed {
            self.tables[index].rows = rows.tenant_values.len() as u64;
            self.tables[index].unsatisfiable = None; // its rows exist: nothing to make
            self.tables[index].fixed = Some(rows);
        }
        self.tenants = match self.tables.iter().find(|t| t.root).and_then(|t| t.fixed.as_ref()) {
            Some(root) => root.tenant_values.clone(),
            None => tenant_values(settings, self),
        };
        let tenants = self.tenants.clone();
        for table in &mut self.tables {
            if let Some(fixed) = &mut table.fixed {
                fixed.tenants = fixed.tenant_values.iter().map(|v| tenants.iter().position(|t| t.text() == v.text())).collect();
            }
        }
        cap_rows(self);
        for index in 0..self.tables.len() {
            let table = &self.tables[index];
            let Some(why) = table.unsatisfiable.clone().filter(|_| table.rows > 0) else { continue };
            if !settings.skip_unsatisfiable {
                return Err(HarnessError::input(format!(
                    "tier {}: cannot seed {}: column {}: {}; give it a generator in the scenario \
                     ([seeding.columns]), set [seeding] on_unsatisfiable = \"skip\", or seed with --rows 0",
                    table.tier, table.name, why.column, why.constraint
                )));
            }
            self.skip(index, why);
        }
        Ok(())
    }

    /// Leaves table `index` empty, and with it every table whose rows
    /// cannot exist without a row of it (a reference that may not be NULL);
    /// references that may be NULL are left NULL.
    pub fn skip(&mut self, index: usize, why: Unsatisfiable) {
        let mut pending = vec![(index, why)];
        while let Some((index, why)) = pending.pop() {
            let table = &mut self.tables[index];
            if table.rows == 0 && table.fixed.is_none() {
                continue; // already empty
            }
            table.rows = 0;
            table.unsatisfiable = Some(why);
            let parent = format!("{}.{}", table.tier, table.name);
            for (child, t) in self.tables.iter().enumerate().filter(|(_, t)| t.fixed.is_none() && t.rows > 0) {
                let needed = t.links.iter().find(|l| {
                    l.target == index && !l.target_is_self && !l.deferred && (!l.draw_null || l.enumerated.is_some())
                });
                if let Some(link) = needed {
                    let constraint = format!("{} (its parent {parent} is not seeded)", link.name);
                    pending.push((child, Unsatisfiable { column: link.columns.join(", "), constraint }));
                }
            }
        }
    }
}

/// Tables rows go into: partitions are filled through their parent.
pub fn seedable(catalog: &Catalog) -> impl Iterator<Item = &Table> {
    catalog.tables.iter().filter(|t| !t.is_partition())
}

fn links_of(
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
fn followed<'t, 'a>(settings: &Settings, tier: &'t TierInput<'a>, references: &[crate::scenario::Reference]) -> Vec<&'t Inferred<'a>> {
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

/// Column sets that must be unique: PK, UNIQUE constraints, unique indexes.
fn unique_keys(table: &Table) -> Vec<Vec<String>> {
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
struct Shape {
    columns: Vec<ColumnPlan>,
    domains: Domains,
    checks: Vec<(String, String)>,
    leaves: Vec<BTreeMap<String, Kind>>,
    leaf_digit: Option<Digit>,
    key_capacities: Vec<(Ordinal, u64)>,
    unsatisfiable: Option<Unsatisfiable>,
}

fn columns_of(settings: &Settings, tenancy: &Tenancy, tier: &TierInput<'_>, table: &Table, links: &[Link]) -> Result<Shape> {
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
                kind: Kind::from_override(o, &column.name, &column.base_type).map_err(|m| super::override_error(&full, m))?,
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

/// Orders a tier's tables parents-first; a cycle is broken at a nullable
/// link, which is loaded NULL and filled once both sides exist.
fn defer_cycles(plan: &mut Plan, tier: &str) -> Result<()> {
    loop {
        match order(plan, tier) {
            Ok(_) => return Ok(()),
            Err(cycle) => {
                let breakable = cycle.iter().find_map(|&t| {
                    plan.tables[t]
                        .links
                        .iter()
                        .position(|l| cycle.contains(&l.target) && l.target != t && l.nullable && !l.deferred)
                        .map(|l| (t, l))
                });
                match breakable {
                    Some((t, l)) => plan.tables[t].links[l].deferred = true,
                    None => {
                        let names: Vec<String> = cycle.iter().map(|&t| plan.tables[t].name.to_string()).collect();
                        return Err(HarnessError::input(format!(
                            "tier {tier}: cannot seed the foreign-key cycle {} : no nullable foreign key to break it",
                            names.join(" → ")
                        )));
                    }
                }
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

/// Tenant ids: the tenants table's keys when it is seeded (generated, or
/// assigned by its identity), else values of the tenant column's type.
fn tenant_values(settings: &Settings, plan: &Plan) -> Vec<Value> {
    let n = settings.tenants.max(1) as u64;
    let generate = |data_type: &str| {
        let kind = Kind::for_column("tenant", data_type, None, &Default::default()).unwrap_or(Kind::Uuid);
        (0..n).map(|t| kind.sample(&mut RowRng::new(stream(settings.seed, &["#tenant"]), t), Some(t))).collect()
    };
    let tenant_columns = plan.tables.iter().filter_map(|t| {
        let column = t.columns.iter().find(|c| Some(&c.name) == t.tenant_column.as_ref())?;
        Some((t, column))
    });
    let mut any_type = None;
    for (table, column) in tenant_columns {
        match (&column.source, table.root) {
            (Source::ServerAssigned { next, step, .. }, true) => return (0..n as i64).map(|t| Value::Int(next + t * step)).collect(),
            (_, true) => return generate(&column.data_type),
            _ => any_type = any_type.or(Some(column.data_type.clone())),
        }
    }
    generate(any_type.as_deref().unwrap_or("uuid"))
}

/// A table cannot hold more rows than its unique keys have distinct values:
/// keys enumerated over parents are bounded by the parent combinations each
/// tenant has, and unique columns by the values their domain allows.
fn cap_rows(plan: &mut Plan) {
    let tenants = plan.tenants.len() as u64;
    for i in 0..plan.tables.len() {
        let table = &plan.tables[i];
        if table.fixed.is_some() {
            continue;
        }
        let mut capacity = u64::MAX;
        if table.links.iter().any(|l| l.enumerated.is_some()) {
            let per_tenant = (0..tenants as usize)
                .map(|t| {
                    table
                        .links
                        .iter()
                        .filter(|l| l.enumerated.is_some())
                        .map(|l| plan.candidates(&plan.tables[l.target], table.tenant_scoped.then_some(t)).len())
                        .product::<u64>()
                })
                .min()
                .unwrap_or(0);
            capacity = if table.tenant_scoped { per_tenant * tenants } else { per_tenant };
        }
        for (ordinal, distinct) in &table.key_capacities {
            let bound = match ordinal {
                Ordinal::Row => *distinct,
                Ordinal::WithinTenant => distinct.saturating_mul(tenants),
            };
            capacity = capacity.min(bound);
        }
        if plan.tables[i].rows > capacity {
            plan.tables[i].rows = capacity;
        }
    }
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
