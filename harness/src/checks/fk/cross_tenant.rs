//! `fk.cross_tenant`: a row of tenant A can point at a parent row of tenant
//! B. A plain FK only asks that the parent exists, and its check runs
//! without row level security, so it finds B's row happily; only an FK that
//! includes the tenant column (`(tenant_id, x_id) REFERENCES p (tenant_id,
//! id)`), or something else (a trigger, a policy), stops it. Shown by acting
//! as the application: in tenant A's context, the app role inserts a copy
//! of one of A's rows whose reference is B's real parent row, in a
//! rolled-back transaction. Passes when the insert is refused.
//!
//! Either side's tenant may come from its tenant column or up its tenant
//! path. A row's tenant is decided by its anchor: the tenant column, or
//! the first hop of its path (a comment belongs to its task's tenant); the
//! copy keeps the anchor, so an FK made only of anchor columns is not
//! probed (re-pointing it moves the row to B instead of crossing over).
//! A shortcut column beside the path (`task_comments.workspace_id` next to
//! `task_id`) is probed like any other reference. For a one-to-one
//! reference (a unique key of the child), B's parent is one without a child
//! yet, or one whose child is removed first inside the same transaction.

use serde_json::{Map, Value};

use crate::catalog::{mentions, Constraint, ConstraintKind, ForeignKey, Table};
use crate::tenancy::TenantScope;
use crate::tenancy::acting::{Actor, Context};
use crate::checks::rows::copy_row;
use crate::checks::sandbox::{Outcome, Sandbox};
use crate::sql::sqlstate;
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::sql::{quote_ident, quote_literal};

pub const ID: CheckId = CheckId::new(
    "fk.cross_tenant",
    Severity::Error,
    r#"acting as tenant A (app role, tenant setting), a row pointing at tenant B's parent row is accepted; either side's tenant may come up its tenant path, so a shortcut column beside the path (`task_comments.workspace_id` next to `task_id`) is probed too"#,
);

/// Refusals that say the copied row was wrong, not that the reference was
/// stopped: nothing is shown by them.
const INCONCLUSIVE: [&str; 3] = [sqlstate::UNIQUE_VIOLATION, sqlstate::NOT_NULL_VIOLATION, "22"];

pub async fn check(ctx: &TierContext<'_>, external: bool) -> Vec<Finding> {
    let tier = ctx.tier();
    let mut findings = Vec::new();
    for (table, scope) in ctx.tenancy.scoped_tables(ctx.catalog) {
        let anchor: Vec<String> = match scope {
            TenantScope::Column(column) | TenantScope::Root(column) => vec![column.clone()],
            TenantScope::Path(path) => path.hops[0].columns.clone(),
            TenantScope::Remote(remote) => vec![remote.column.clone()],
        };
        for (constraint, fk) in table.foreign_keys() {
            if constraint.columns.iter().all(|c| anchor.contains(c)) {
                continue;
            }
            let Some(parent_scope) = ctx.tenancy.scope(tier, &fk.target) else { continue };
            let object = format!("{}.{}", table.name, constraint.name);
            if let Some(check) = another_tenant_by_design(table, constraint, &anchor) {
                findings.push(ID.pass(
                    tier,
                    object,
                    format!("CHECK {} sets {} apart from the row's own tenant: it names another tenant's row by design", check.name, constraint.columns.join(", ")),
                ));
                continue;
            }
            let finding = match ctx.actor {
                _ if external => ID.skip(tier, object, "external databases are audited read-only: no insert is tried"),
                Some(actor) => {
                    let probe = Probe { ctx, table, scope, anchor: &anchor, constraint, fk, parent_scope, actor };
                    probe.run(&object).await.unwrap_or_else(|e| ID.error(tier, &object, format!("the probe could not run: {e}")))
                }
                _ => ID.skip(tier, object, "no app role or tenant setting known (--app-role, --tenant-guc): cannot act as a tenant"),
            };
            findings.push(finding);
        }
    }
    findings
}

/// A CHECK comparing the reference with the anchor by `<>` (`CHECK
/// (tenant_id <> partner_tenant_id)`): a link between tenants, where
/// pointing at another tenant's row is the point.
fn another_tenant_by_design<'t>(table: &'t Table, constraint: &Constraint, anchor: &[String]) -> Option<&'t Constraint> {
    table.constraints.iter().filter(|c| c.kind == ConstraintKind::Check).find(|check| {
        check.definition.contains("<>")
            && anchor.iter().any(|a| mentions(&check.definition, a))
            && constraint.columns.iter().filter(|c| !anchor.contains(c)).any(|c| mentions(&check.definition, c))
    })
}

struct Probe<'a> {
    ctx: &'a TierContext<'a>,
    table: &'a Table,
    scope: &'a TenantScope,
    /// The columns that decide the row's tenant (kept in the copy).
    anchor: &'a [String],
    constraint: &'a Constraint,
    fk: &'a ForeignKey,
    parent_scope: &'a TenantScope,
    actor: &'a Actor,
}

impl Probe<'_> {
    async fn run(&self, object: &str) -> Result<Finding, sqlx::Error> {
        let (ctx, table) = (self.ctx, self.table);
        let tier = ctx.tier();
        if !ctx.catalog.has_table_privilege(&self.actor.role, table, "INSERT") {
            return Ok(if ctx.catalog.has_table_privilege(&self.actor.role, table, "UPDATE") {
                ID.skip(tier, object, format!("{} may update but not insert into {}: only inserts are tried", self.actor.role, table.name))
            } else {
                ID.pass(tier, object, format!("{} may neither insert into nor update {}", self.actor.role, table.name))
            });
        }
        let mut sandbox = Sandbox::open(ctx.pool).await?;
        // Tenant A: the first tenant with a row to copy; B: the first other tenant with a parent row.
        let (tenant, parent_tenant) = (self.scope.tenant_sql("c"), self.parent_scope.tenant_sql("p"));
        let anchor_values: Vec<String> = self.anchor.iter().map(|c| format!("{}, c.{}", quote_literal(c), quote_ident(c))).collect();
        // Under MATCH SIMPLE a reference with a NULL in any column is not
        // checked at all: the copied anchor and B's key must be all set,
        // or an accepted row would prove nothing.
        let anchor_set: String = self.anchor.iter().map(|c| format!(" AND c.{} IS NOT NULL", quote_ident(c))).collect();
        let key_set: String = self.fk.target_columns.iter().map(|c| format!(" AND p.{} IS NOT NULL", quote_ident(c))).collect();
        let first_tenant = format!(
            "SELECT ({tenant})::text, jsonb_build_object({}) FROM {} c WHERE ({tenant}) IS NOT NULL{anchor_set} ORDER BY {tenant} LIMIT 1",
            anchor_values.join(", "),
            table.name.sql()
        );
        let Some((tenant_a, Value::Object(anchor))) =
            sqlx::query_as::<_, (String, Value)>(&first_tenant).fetch_optional(sandbox.conn()).await?
        else {
            return Ok(ID.skip(tier, object, format!("{} has no row to copy", table.name)));
        };
        // One-to-one (the reference is a unique key of the child): B's parent
        // must have no child yet, or the copy collides with it instead.
        let (has_child, free_first) = match self.one_to_one() {
            true => {
                let has_child = format!(
                    "EXISTS (SELECT 1 FROM {} c WHERE {})",
                    table.name.sql(),
                    self.fk.join_on(&self.constraint.columns, "c", "p")
                );
                (has_child.clone(), format!("{has_child}, "))
            }
            false => ("false".to_string(), String::new()),
        };
        let other_parent = format!(
            "SELECT ({parent_tenant})::text, to_jsonb(p), p.ctid::text, {has_child} FROM {} p \
             WHERE ({parent_tenant})::text <> $1{key_set} ORDER BY {free_first}{parent_tenant} LIMIT 1",
            self.fk.target.sql()
        );
        let Some((tenant_b, Value::Object(parent), parent_row, taken)) =
            sqlx::query_as::<_, (String, Value, String, bool)>(&other_parent).bind(&tenant_a).fetch_optional(sandbox.conn()).await?
        else {
            return Ok(ID.skip(tier, object, format!("{} has no row of a tenant other than {tenant_a}", self.fk.target)));
        };
        if taken && !self.free_parent(&mut sandbox, &parent_row).await? {
            return Ok(ID.skip(
                tier,
                object,
                format!("every row of {} of tenants other than {tenant_a} has its one {} already, and it cannot be removed inside the probe", self.fk.target, table.name),
            ));
        }
        // The reference takes B's parent key; the row keeps its anchor, so A stays its tenant.
        let mut overrides = Map::new();
        for (column, target) in self.constraint.columns.iter().zip(&self.fk.target_columns) {
            if !self.anchor.contains(column) {
                overrides.insert(column.clone(), parent.get(target).cloned().unwrap_or(Value::Null));
            }
        }
        let salt = format!("{}:{}", ctx.scenario.seed, self.constraint.name);
        let Some(row) = copy_row(sandbox.conn(), table, self.scope.column(), (&anchor, &self.constraint.columns), &overrides, &salt).await? else {
            return Ok(ID.skip(tier, object, format!("{} has no row of tenant {tenant_a}", table.name)));
        };
        let acting = (self.actor, &Context::Tenant(tenant_a.clone()));
        let target = (&table.name, self.constraint.name.as_str());
        let (outcome, set_aside) = sandbox.isolate(ctx.catalog, Some(acting), &row.insert, &row.row, target).await?;
        Ok(match outcome {
            Outcome::Accepted { .. } => ID
                .fail(
                    tier,
                    object,
                    format!(
                        "acting as tenant {tenant_a}, {} inserted a row of {} that references {} of tenant {tenant_b}: \
                         {} does not include {}",
                        self.actor.role,
                        table.name,
                        self.fk.target,
                        self.constraint.name,
                        self.anchor.join(", ")
                    ),
                )
                .detail("tenant_a", tenant_a)
                .detail("tenant_b", tenant_b)
                .detail("reference", Value::Object(overrides))
                .detail("row", row.row)
                .detail("statement", row.insert)
                .detail("set_aside", set_aside)
                .detail("fix", self.fix()),
            Outcome::Refused(refusal) if INCONCLUSIVE.iter().any(|code| refusal.code.starts_with(code)) => ID.error(
                tier,
                object,
                format!("the copied row was refused for an unrelated reason, so nothing is shown: {}", refusal.message),
            ),
            Outcome::Refused(refusal) => ID.pass(
                tier,
                object,
                format!("a row of tenant {tenant_a} pointing at tenant {tenant_b}'s {} is refused: {}", self.fk.target, refusal.message),
            ),
        })
    }

    /// Whether the reference's own columns hold a unique key of the child:
    /// each parent has at most one child, of any tenant. (A key that also
    /// holds the anchor, `UNIQUE (tenant_id, user_id)`, does not collide:
    /// the copy keeps A's anchor.)
    fn one_to_one(&self) -> bool {
        let reference: Vec<&str> = self.constraint.columns.iter().filter(|c| !self.anchor.contains(c)).map(String::as_str).collect();
        self.table.unique_keys().iter().any(|key| key.iter().all(|c| reference.contains(c)))
    }

    /// Removes, inside the probe's transaction (so never for real), the
    /// child that the parent at `parent_row` (a ctid) already has; false
    /// when something refuses (an FK to that child without cascade).
    async fn free_parent(&self, sandbox: &mut Sandbox, parent_row: &str) -> Result<bool, sqlx::Error> {
        let delete = format!(
            "DELETE FROM {} c USING {} p WHERE p.ctid = $1::tid AND {}",
            self.table.name.sql(),
            self.fk.target.sql(),
            self.fk.join_on(&self.constraint.columns, "c", "p")
        );
        sqlx::raw_sql("SAVEPOINT free_parent").execute(sandbox.conn()).await?;
        match sqlx::query(&delete).bind(parent_row).execute(sandbox.conn()).await {
            Ok(_) => Ok(true),
            Err(_) => {
                sqlx::raw_sql("ROLLBACK TO SAVEPOINT free_parent").execute(sandbox.conn()).await?;
                Ok(false)
            }
        }
    }

    fn fix(&self) -> String {
        match (self.scope, self.parent_scope.column()) {
            (TenantScope::Path(path), _) => format!(
                "{}'s tenant comes through {} -> {}: reach {} along that path instead of a column of its own, \
                 or make {} a composite reference that includes {}",
                self.table.name,
                self.anchor.join(", "),
                path.hops[0].target,
                self.fk.target,
                self.constraint.name,
                self.anchor.join(", ")
            ),
            (_, Some(parent_tenant_column)) => format!(
                "reference ({}, ...) REFERENCES {} ({parent_tenant_column}, ...) backed by a UNIQUE ({parent_tenant_column}, ...) on the parent",
                self.anchor.join(", "),
                self.fk.target
            ),
            (_, None) => format!(
                "{} reaches its tenant through a path: reference the row its path starts from together with the tenant, \
                 or check the tenant in a trigger",
                self.fk.target
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constraint(name: &str, kind: ConstraintKind, columns: &[&str], definition: &str) -> Constraint {
        Constraint {
            name: name.into(),
            kind,
            columns: columns.iter().map(|c| c.to_string()).collect(),
            validated: true,
            definition: definition.into(),
            foreign_key: None,
        }
    }

    #[test]
    fn a_check_keeping_the_reference_apart_from_the_tenant_makes_it_a_link_between_tenants() {
        let partner = constraint("partner_fk", ConstraintKind::ForeignKey, &["partner_tenant_id"], "");
        let anchor = ["tenant_id".to_string()];
        let mut table = Table::plain("public", "partnerships");
        table.constraints.push(constraint("amount_positive", ConstraintKind::Check, &["amount"], "CHECK ((amount > 0))"));
        assert!(another_tenant_by_design(&table, &partner, &anchor).is_none());
        table.constraints.push(constraint("not_self", ConstraintKind::Check, &[], "CHECK ((tenant_id <> partner_tenant_id))"));
        assert_eq!(another_tenant_by_design(&table, &partner, &anchor).map(|c| c.name.as_str()), Some("not_self"));
    }
}
