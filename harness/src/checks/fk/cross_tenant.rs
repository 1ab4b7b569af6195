//! `fk.cross_tenant`: a row of tenant A can point at a parent row of tenant
//! B. A plain FK only asks that the parent exists, and its check runs
//! without row level security, so it finds B's row happily; only an FK that
//! includes the tenant column (`(tenant_id, x_id) REFERENCES p (tenant_id,
//! id)`), or something else (a trigger, a policy), stops it. Shown by acting
//! as the application: in tenant A's context, the app role inserts a copy
//! of one of A's rows whose reference is B's real parent row, in a
//! rolled-back transaction. Passes when the insert is refused.

use serde_json::{Map, Value};

use crate::checks::rows::copy_row;
use crate::catalog::{Constraint, ForeignKey, Table};
use crate::checks::acting::{Actor, Context};
use crate::checks::sandbox::{Outcome, Sandbox};
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::provision::quote_ident;

pub const ID: CheckId = CheckId::new("fk.cross_tenant", Severity::Error);

/// Refusals that say the copied row was wrong, not that the reference was
/// stopped: nothing is shown by them.
const INCONCLUSIVE: [&str; 3] = ["23505", "23502", "22"];

pub async fn check(ctx: &TierContext<'_>, external: bool) -> Vec<Finding> {
    let tier = ctx.tier();
    let mut findings = Vec::new();
    for (table, scope) in ctx.tenancy.scoped_tables(ctx.catalog) {
        // Rows copied and re-pointed need a tenant column; tables reached
        // through a tenant path are covered by the probes of their parents.
        let Some(tenant_column) = scope.column() else { continue };
        for (constraint, fk) in table.foreign_keys() {
            // The FK to the tenants table itself: pointing elsewhere moves the row to another tenant.
            if constraint.columns.iter().all(|c| c == tenant_column) {
                continue;
            }
            let Some(parent_tenant_column) = ctx.tenancy.scope(tier, &fk.target).and_then(|s| s.column()) else { continue };
            let object = format!("{}.{}", table.name, constraint.name);
            let finding = match Actor::of(ctx) {
                _ if external => ID.skip(tier, object, "external databases are audited read-only: no insert is tried"),
                Some(actor) => {
                    let probe = Probe { ctx, table, tenant_column, constraint, fk, parent_tenant_column, actor: &actor };
                    probe.run(&object).await.unwrap_or_else(|e| ID.error(tier, &object, format!("the probe could not run: {e}")))
                }
                _ => ID.skip(tier, object, "no app role or tenant setting known (--app-role, --tenant-guc): cannot act as a tenant"),
            };
            findings.push(finding);
        }
    }
    findings
}

struct Probe<'a> {
    ctx: &'a TierContext<'a>,
    table: &'a Table,
    tenant_column: &'a str,
    constraint: &'a Constraint,
    fk: &'a ForeignKey,
    parent_tenant_column: &'a str,
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
        let first_tenant = format!(
            "SELECT c.{column}::text, to_jsonb(c.{column}) FROM {table} c ORDER BY c.{column} LIMIT 1",
            column = quote_ident(self.tenant_column),
            table = table.name.sql()
        );
        let Some((tenant_a, tenant_a_value)) = sqlx::query_as::<_, (String, Value)>(&first_tenant).fetch_optional(sandbox.conn()).await?
        else {
            return Ok(ID.skip(tier, object, format!("{} has no row to copy", table.name)));
        };
        let other_parent = format!(
            "SELECT p.{column}::text, to_jsonb(p) FROM {parent} p WHERE p.{column}::text <> $1 ORDER BY p.{column} LIMIT 1",
            column = quote_ident(self.parent_tenant_column),
            parent = self.fk.target.sql()
        );
        let Some((tenant_b, Value::Object(parent))) =
            sqlx::query_as::<_, (String, Value)>(&other_parent).bind(&tenant_a).fetch_optional(sandbox.conn()).await?
        else {
            return Ok(ID.skip(tier, object, format!("{} has no row of a tenant other than {tenant_a}", self.fk.target)));
        };
        // The reference takes B's parent key; the row keeps A as its tenant.
        let mut overrides = Map::new();
        for (column, target) in self.constraint.columns.iter().zip(&self.fk.target_columns) {
            if column != self.tenant_column {
                overrides.insert(column.clone(), parent.get(target).cloned().unwrap_or(Value::Null));
            }
        }
        let salt = format!("{}:{}", ctx.scenario.seed, self.constraint.name);
        let only = Some((self.tenant_column, &tenant_a_value));
        let Some(row) = copy_row(sandbox.conn(), table, Some(self.tenant_column), only, &overrides, &salt).await? else {
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
                        self.actor.role, table.name, self.fk.target, self.constraint.name, self.tenant_column
                    ),
                )
                .detail("tenant_a", tenant_a)
                .detail("tenant_b", tenant_b)
                .detail("reference", Value::Object(overrides))
                .detail("row", row.row)
                .detail("statement", row.insert)
                .detail("set_aside", set_aside)
                .detail(
                    "fix",
                    format!(
                        "reference ({}, ...) REFERENCES {} ({}, ...) backed by a UNIQUE ({}, ...) on the parent",
                        self.tenant_column, self.fk.target, self.parent_tenant_column, self.parent_tenant_column
                    ),
                ),
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
}
