//! Every table and column the scenario and flags name must be one the
//! loaded schema holds. Checked as soon as the catalog is read, before any
//! row is seeded or probed: a typo is one error (exit 2) naming the
//! declaration and the closest name that exists, never a full run that
//! ends in an error finding or silently audits nothing.

use crate::catalog::Catalog;
use crate::error::{HarnessError, Result};
use crate::scenario::{Scenario, TierColumn, TierTable};

pub fn check(scenario: &Scenario, catalogs: &[Catalog]) -> Result<()> {
    let declared_in = scenario.path.as_ref().map_or("the flags".into(), |p| p.display().to_string());
    let mut tables: Vec<(TierTable, String)> = Vec::new();
    let mut columns: Vec<(TierColumn, String)> = Vec::new();
    for reference in &scenario.references {
        let what = format!("reference {}={}", reference.from, reference.to);
        for side in [&reference.from, &reference.to] {
            for column in &side.columns {
                columns.push((TierColumn { table: side.table.clone(), column: column.clone() }, what.clone()));
            }
        }
    }
    tables.extend(scenario.tenancy.shared.iter().map(|t| (t.clone(), format!("tenancy.shared entry {t}"))));
    columns.extend(scenario.tenancy.columns.iter().map(|(t, c)| {
        (TierColumn { table: t.clone(), column: c.clone() }, format!("tenancy.columns entry {t}"))
    }));
    tables.extend(scenario.tenancy.membership.iter().map(|t| (t.clone(), format!("tenancy.membership {t}"))));
    if let (Some(table), Some(user)) = (&scenario.tenancy.membership, &scenario.tenancy.membership_user) {
        columns.push((TierColumn { table: table.clone(), column: user.clone() }, "tenancy.membership_user".to_string()));
    }
    tables.extend(scenario.seeding.table_rows.keys().map(|t| (t.clone(), format!("seeding.tables entry {t}"))));
    columns.extend(scenario.seeding.columns.keys().map(|c| (c.clone(), format!("seeding.columns entry {c}"))));
    columns.extend(scenario.fk_allow_missing.iter().map(|c| (c.clone(), format!("fk.allow_missing entry {c}"))));
    columns.extend(scenario.expectations.columns().map(|(c, what)| (c.clone(), what)));
    tables.extend(columns.iter().map(|(c, what)| (c.table.clone(), what.clone())));
    for (table, what) in &tables {
        if let Some(problem) = missing_table(catalogs, table) {
            return Err(HarnessError::input(format!("{what} in {declared_in}: {problem}")));
        }
    }
    for (column, what) in &columns {
        if let Some(problem) = missing_column(catalogs, column) {
            return Err(HarnessError::input(format!("{what} in {declared_in}: {problem}")));
        }
    }
    Ok(())
}

fn missing_table(catalogs: &[Catalog], table: &TierTable) -> Option<String> {
    let Some(catalog) = catalogs.iter().find(|c| c.tier == table.tier) else {
        let tiers: Vec<&str> = catalogs.iter().map(|c| c.tier.as_str()).collect();
        return Some(format!("tier `{}` does not exist{}", table.tier, closest(&table.tier, tiers)));
    };
    let name = table.qual_name();
    if catalog.table(&name).is_some() {
        return None;
    }
    let names: Vec<String> = catalog.tables.iter().map(|t| t.name.to_string()).collect();
    Some(format!("tier {} has no table {name}{}", table.tier, closest(&name.to_string(), names.iter().map(String::as_str))))
}

fn missing_column(catalogs: &[Catalog], column: &TierColumn) -> Option<String> {
    let catalog = catalogs.iter().find(|c| c.tier == column.table.tier)?;
    let table = catalog.table(&column.table.qual_name())?;
    if table.column(&column.column).is_some() {
        return None;
    }
    let names = table.columns.iter().map(|c| c.name.as_str());
    Some(format!(
        "table {} of tier {} has no column `{}`{}",
        table.name,
        column.table.tier,
        column.column,
        closest(&column.column, names)
    ))
}

/// `; did you mean `x`?` for the name nearest `wanted` (by edit distance,
/// within a third of its length), else nothing.
fn closest<'a>(wanted: &str, names: impl IntoIterator<Item = &'a str>) -> String {
    let limit = wanted.chars().count().div_ceil(3).max(1);
    names
        .into_iter()
        .map(|name| (distance(wanted, name), name))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, name)| format!("; did you mean `{name}`?"))
        .unwrap_or_default()
}

/// Levenshtein distance between two names.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closest_name_is_offered_when_it_is_close() {
        assert_eq!(distance("campaign_id", "campaign_id"), 0);
        assert_eq!(distance("campain_id", "campaign_id"), 1);
        assert_eq!(closest("public.campains", ["public.campaigns", "public.leads"]), "; did you mean `public.campaigns`?");
        assert_eq!(closest("tenant", ["organization_id"]), "");
    }
}
