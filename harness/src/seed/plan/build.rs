//! Building the plan from the catalogs: every table's rows, columns and
//! links, then the tenants, the row caps unique keys impose, and FK cycles
//! broken at a nullable link.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use super::{FixedRows, Ordinal, Plan, Source, TablePlan, Unsatisfiable, link_stream, order, table_stream};
use crate::canary;
use crate::catalog::{Catalog, QualName, Table, mentions};
use crate::catalog::references::Inferred;
use crate::error::{HarnessError, Result};
use crate::rng::{RowRng, stream};
use crate::scenario::TierTable;
use crate::seed::Settings;
use crate::seed::kind::Kind;
use crate::seed::value::Value;
use crate::tenancy::{Model, Tenancy, TenantScope};
use super::columns::columns_of;
use super::links::{followed, links_of};

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
        canary_tags: Vec::new(),
        tables: Vec::new(),
        index: HashMap::new(),
        tenant_of: HashMap::new(),
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
                position: plan.tables.len(),
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
                gaps: Vec::new(),
                stream: table_stream(settings.seed, &tier.catalog.tier, &table.name),
            });
        }
    }
    for tier in tiers {
        let name = &tier.catalog.tier;
        if let Some(of) = tenancy.tenant_of(name) {
            if let Some(&index) = plan.index.get(&(of.keys.tier.clone(), of.keys.table.clone())) {
                plan.tenant_of.insert(name.clone(), (index, of.keys.key.clone()));
            }
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
        self.canary_tags = (0..self.tenants.len()).map(|t| canary::tag(settings.seed, t)).collect();
        // Rows already there belong to the tenant their tenant column
        // names; a tier whose tenants are another tier's rows names them by
        // those rows' keys, so those tiers come second.
        for second in [false, true] {
            for index in 0..self.tables.len() {
                let table = &self.tables[index];
                if self.tenant_of.contains_key(&table.tier) != second || table.fixed.is_none() {
                    continue;
                }
                let names: Vec<Option<String>> = (0..self.tenants.len()).map(|t| self.tenant_value(&table.tier, t).text()).collect();
                let fixed = self.tables[index].fixed.as_mut().expect("checked above");
                fixed.tenants = fixed.tenant_values.iter().map(|v| names.iter().position(|t| *t == v.text())).collect();
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
