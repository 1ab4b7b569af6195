//! The statements of the write probes: each way of writing, for tenant A
//! against tenant B's rows (or values), and its twin against A's own.

use super::Writer;
use crate::catalog::{ConstraintKind, Table};
use crate::tenancy::TenantScope;
use crate::checks::rls::act;
use crate::checks::TierContext;
use crate::sql::quote_ident;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Insert,
    UpdateKeyed,
    UpdateAll,
    Move,
    MoveAll,
    Upsert,
    Merge,
    DeleteKeyed,
    DeleteAll,
    Truncate,
}

pub(super) const KINDS: [Kind; 10] = [
    Kind::Insert,
    Kind::UpdateKeyed,
    Kind::UpdateAll,
    Kind::Move,
    Kind::MoveAll,
    Kind::Upsert,
    Kind::Merge,
    Kind::DeleteKeyed,
    Kind::DeleteAll,
    Kind::Truncate,
];

impl Kind {
    pub(super) fn describe(self) -> &'static str {
        match self {
            Kind::Insert => "insert",
            Kind::UpdateKeyed => "update by key",
            Kind::UpdateAll => "unqualified update",
            Kind::Move => "move to another tenant by key",
            Kind::MoveAll => "unqualified move to another tenant",
            Kind::Upsert => "insert on conflict do update",
            Kind::Merge => "merge",
            Kind::DeleteKeyed => "delete by key",
            Kind::DeleteAll => "unqualified delete",
            Kind::Truncate => "truncate",
        }
    }

    pub(super) fn privileges(self) -> &'static [&'static str] {
        match self {
            Kind::Insert => &["INSERT"],
            Kind::UpdateKeyed | Kind::UpdateAll | Kind::Move | Kind::MoveAll | Kind::Merge => &["UPDATE"],
            Kind::Upsert => &["INSERT", "UPDATE"],
            Kind::DeleteKeyed | Kind::DeleteAll => &["DELETE"],
            Kind::Truncate => &["TRUNCATE"],
        }
    }

    /// Statements that reach every row they may: one run is both the
    /// cross-tenant probe and the control.
    pub(super) fn unqualified(self) -> bool {
        matches!(self, Kind::UpdateAll | Kind::DeleteAll | Kind::Truncate)
    }
}

impl Writer<'_> {
    /// The statement of `kind` that tenant number `a` runs against rows of
    /// (or values for) tenant number `target`; `target == a` is the control.
    pub(super) fn statement(&self, kind: Kind, a: usize, target: usize) -> Option<String> {
        let t = self.table.name.sql();
        let (owner, victim) = (&self.prober.tenants[a], &self.prober.tenants[target]);
        let set = || self.assignment();
        Some(match kind {
            // A new tenant row is no row of A's or B's.
            Kind::Insert if matches!(self.scope, TenantScope::Root(_)) => return None,
            Kind::Insert => insert_row(self.ctx, self.table, target, &[])?,
            Kind::UpdateKeyed => format!("UPDATE {t} SET {} WHERE {}", set()?, self.truth.by_key(victim)?),
            Kind::UpdateAll => format!("UPDATE {t} SET {}", set()?),
            // A tenant's own row cannot become another tenant's.
            Kind::Move | Kind::MoveAll if matches!(self.scope, TenantScope::Root(_)) => return None,
            // Keyed, the statement reads columns, so the moved row must also
            // pass the SELECT policy; unqualified, only the UPDATE policy's
            // WITH CHECK judges where the rows go.
            Kind::Move => format!("UPDATE {t} SET {} WHERE {}", self.moved_to(target)?, self.truth.by_key(owner)?),
            Kind::MoveAll => format!("UPDATE {t} SET {}", self.moved_to(target)?),
            Kind::Upsert => {
                let key = self.key_columns();
                let row = self.truth.rows_of(victim).next()?;
                let values = self.truth.key_values.get(row)?;
                let pinned: Vec<(String, String)> = key.iter().cloned().zip(values.iter().cloned()).collect();
                let (column, _) = self.plain_column()?;
                let column = quote_ident(&column);
                let keys: Vec<String> = key.iter().map(|c| quote_ident(c)).collect();
                format!(
                    "{} ON CONFLICT ({}) DO UPDATE SET {column} = EXCLUDED.{column}",
                    insert_row(self.ctx, self.table, a, &pinned)?,
                    keys.join(", ")
                )
            }
            Kind::Merge => format!(
                "MERGE INTO {t} USING (SELECT 1) AS probe(one) ON {} WHEN MATCHED THEN UPDATE SET {}",
                self.truth.by_key(victim)?,
                set()?
            ),
            // A row a child holds cannot be deleted by its own tenant either.
            Kind::DeleteKeyed => format!("DELETE FROM {t} WHERE {}", self.truth.by_key_free(victim, self.held)?),
            Kind::DeleteAll => format!("DELETE FROM {t}"),
            Kind::Truncate => return None, // see Writer::truncate
        })
    }

    pub(super) fn why_not(&self, kind: Kind) -> &'static str {
        match kind {
            Kind::Insert | Kind::Move | Kind::MoveAll if matches!(self.scope, TenantScope::Root(_)) => "the tenants table itself",
            Kind::Insert | Kind::Move | Kind::MoveAll | Kind::Upsert if self.ctx.seeded.is_none() => "no seeded rows to make new ones from",
            Kind::UpdateKeyed | Kind::DeleteKeyed | Kind::Merge | Kind::Upsert if self.truth.key_expr.is_none() => "no primary key",
            Kind::UpdateKeyed | Kind::UpdateAll | Kind::Merge | Kind::Upsert => "no column outside keys and constraints to set",
            _ => "no valid row could be made",
        }
    }

    /// `(columns) = ROW(values)`: every column but the key set to a fresh
    /// row of tenant number `target`, so the row's references move with
    /// its tenant (a composite FK refuses a tenant column moved alone).
    fn moved_to(&self, target: usize) -> Option<String> {
        let fresh = self.ctx.seeded?.fresh_row(self.ctx.tier(), &self.table.name, target)?;
        let key = self.key_columns();
        let moved: Vec<_> = fresh.into_iter().filter(|(c, _, _)| !key.contains(c)).collect();
        let columns: Vec<String> = moved.iter().map(|(c, _, _)| quote_ident(c)).collect();
        let values: Vec<String> = moved.iter().map(|(_, ty, v)| value_literal(v.as_deref(), ty)).collect();
        Some(format!("({}) = ROW({})", columns.join(", "), values.join(", ")))
    }

    fn key_columns(&self) -> Vec<String> {
        self.table.primary_key().map(|pk| pk.columns.clone()).unwrap_or_default()
    }

    /// A column a write may set to one value on every row: outside keys,
    /// unique indexes, foreign keys and the tenant column, not generated;
    /// those without CHECKs first.
    fn plain_column(&self) -> Option<(String, String)> {
        let constrained = |name: &str, kinds: &[ConstraintKind]| {
            self.table.constraints.iter().any(|c| kinds.contains(&c.kind) && c.columns.iter().any(|k| k == name))
        };
        let keyed = [ConstraintKind::PrimaryKey, ConstraintKind::Unique, ConstraintKind::ForeignKey, ConstraintKind::Exclusion];
        let fresh = self
            .ctx
            .seeded
            .and_then(|s| s.fresh_row(self.ctx.tier(), &self.table.name, 0))
            .unwrap_or_default();
        let mut candidates: Vec<(bool, String, String)> = self
            .table
            .columns
            .iter()
            .filter(|c| !c.generated && !c.identity && Some(c.name.as_str()) != self.scope.column())
            .filter(|c| !constrained(&c.name, &keyed))
            .filter(|c| !self.table.indexes.iter().any(|i| i.unique && i.columns.iter().any(|k| k.as_deref() == Some(c.name.as_str()))))
            .filter_map(|c| {
                let value = match fresh.iter().find(|(name, _, _)| name == &c.name) {
                    Some((_, ty, Some(v))) => act::literal(v, ty),
                    _ if c.default.is_some() => "DEFAULT".into(),
                    _ if !c.not_null => "NULL".into(),
                    _ => return None,
                };
                Some((constrained(&c.name, &[ConstraintKind::Check]), c.name.clone(), value))
            })
            .collect();
        candidates.sort_by_key(|(checked, _, _)| *checked);
        candidates.into_iter().next().map(|(_, name, value)| (name, value))
    }

    /// `column = value` for [`Writer::plain_column`].
    fn assignment(&self) -> Option<String> {
        self.plain_column().map(|(column, value)| format!("{} = {value}", quote_ident(&column)))
    }

}

/// A literal for a fresh row's value (NULL typed like the column).
fn value_literal(value: Option<&str>, data_type: &str) -> String {
    value.map_or(format!("NULL::{data_type}"), |v| act::literal(v, data_type))
}

/// `INSERT` of a new, otherwise valid row owned by tenant number `owner`,
/// with `values` (column, text) in place of the fresh ones; None when the
/// table has no fresh row or lacks one of those columns.
pub fn insert_row(ctx: &TierContext<'_>, table: &Table, owner: usize, values: &[(String, String)]) -> Option<String> {
    let mut row = ctx.seeded?.fresh_row(ctx.tier(), &table.name, owner)?;
    for (column, value) in values {
        row.iter_mut().find(|(c, _, _)| c == column)?.2 = Some(value.clone());
    }
    let columns: Vec<String> = row.iter().map(|(c, _, _)| quote_ident(c)).collect();
    let values: Vec<String> = row.iter().map(|(_, ty, v)| value_literal(v.as_deref(), ty)).collect();
    Some(format!("INSERT INTO {} ({}) VALUES ({})", table.name.sql(), columns.join(", "), values.join(", ")))
}
