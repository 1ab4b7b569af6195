//! `fk.cascade`: deleting a parent does not do to its children what the
//! scenario declares (`[[cascade]]` per relationship, else `[cascade_rules]`
//! by kind: required, optional, lookup). Observed, not read from
//! `confdeltype`: a parent row that has children is deleted in a
//! rolled-back transaction, and the children are looked at again: deleted,
//! their reference nulled or reset to its default, left dangling, or the
//! delete refused. A trigger that rewrites or blocks the delete, or a
//! disabled action trigger, shows up here where the catalog would not.

use serde_json::Value;

use crate::catalog::{Constraint, ForeignKey, Table};
use crate::tenancy::Tenancy;
use crate::tenancy::acting::settled;
use crate::checks::sandbox::{Outcome, Sandbox};
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::scenario::expectations::{OnDelete, RelationKind};
use crate::sql::quote_ident;

pub const ID: CheckId = CheckId::new(
    "fk.cascade",
    Severity::Error,
    r#"deleting a parent does not do what `[cascade_rules]`/`[[cascade]]` declare (observed: children deleted, nulled, reset, left, or the delete refused)"#,
);

/// What happened to the children when their parent was deleted.
enum Observed {
    Did(OnDelete),
    /// The children still point at the deleted parent: nothing enforced the FK.
    LeftDangling,
    Mixed { deleted: i64, nulled: i64, changed: i64, dangling: i64 },
}

pub async fn check(ctx: &TierContext<'_>, external: bool) -> Vec<Finding> {
    let tier = ctx.tier();
    let expectations = &ctx.scenario.expectations;
    let mut findings = Vec::new();
    for table in ctx.catalog.tables.iter().filter(|t| !t.is_partition()) {
        for (constraint, fk) in table.foreign_keys() {
            let Some((declared, declared_by)) = declared(ctx, table, constraint, fk) else { continue };
            let object = format!("{}.{}", table.name, constraint.name);
            if external {
                findings.push(ID.skip(tier, object, "external databases are audited read-only: no parent is deleted"));
                continue;
            }
            // A deadlock with another audit of the database is no answer: again.
            let finding = match settled(async || observe(ctx, table, constraint, fk).await, |_| false).await {
                Ok(Ok((observed, evidence))) => verdict(tier, &object, fk, declared, observed).detail("declared_by", declared_by).detail("evidence", evidence),
                Ok(Err(why)) => ID.skip(tier, object, why),
                Err(e) => ID.error(tier, object, format!("the delete could not be observed: {e}")),
            };
            findings.push(finding);
        }
    }
    // A declared relationship without an FK: no delete of the parent can act on the children.
    for declaration in expectations.cascades.iter().filter(|c| c.from.table.tier == tier) {
        let from = &declaration.from;
        let Some(table) = ctx.catalog.table(&from.table.qual_name()) else {
            continue; // named tables are checked before the run starts
        };
        let covered = table.foreign_keys().any(|(c, _)| reference_columns(ctx.tenancy, tier, table, c).contains(&from.column.as_str()));
        if !covered {
            findings.push(ID.fail(
                tier,
                format!("{}.{}", table.name, from.column),
                format!(
                    "ON DELETE {} is declared for {}.{}, but no foreign key enforces that reference: deleting its parent leaves it dangling",
                    declaration.on_delete, table.name, from.column
                ),
            ));
        }
    }
    findings
}

/// The expected behaviour and where it comes from: a `[[cascade]]` entry
/// naming one of the FK's reference columns, else the rule for its kind.
fn declared(ctx: &TierContext<'_>, table: &Table, constraint: &Constraint, fk: &ForeignKey) -> Option<(OnDelete, String)> {
    let tier = ctx.tier();
    let expectations = &ctx.scenario.expectations;
    let columns = reference_columns(ctx.tenancy, tier, table, constraint);
    let explicit = expectations.cascades.iter().find(|c| {
        c.from.table.tier == tier
            && c.from.table.schema == table.name.schema
            && c.from.table.table == table.name.name
            && columns.contains(&c.from.column.as_str())
    });
    if let Some(c) = explicit {
        return Some((c.on_delete, format!("[[cascade]] from = \"{}\"", c.from)));
    }
    let nullable = constraint.columns.iter().any(|c| table.column(c).is_some_and(|c| !c.not_null));
    let kind = match (nullable, ctx.tenancy.scope(tier, &fk.target)) {
        (true, _) => RelationKind::Optional,
        (false, None) => RelationKind::Lookup,
        (false, Some(_)) => RelationKind::Required,
    };
    let rule = expectations.cascade_rules.for_kind(kind)?;
    let kind = match kind {
        RelationKind::Optional => "optional",
        RelationKind::Lookup => "lookup",
        RelationKind::Required => "required",
    };
    Some((rule, format!("[cascade_rules] {kind}")))
}

/// The FK's columns that name the parent: all but the tenant column of a
/// composite `(tenant_id, x_id)` FK.
fn reference_columns<'c>(tenancy: &Tenancy, tier: &str, table: &Table, constraint: &'c Constraint) -> Vec<&'c str> {
    let tenant = tenancy.scope(tier, &table.name).and_then(|s| s.column());
    let columns: Vec<&str> = constraint.columns.iter().map(String::as_str).filter(|c| Some(*c) != tenant).collect();
    if columns.is_empty() {
        constraint.columns.iter().map(String::as_str).collect()
    } else {
        columns
    }
}

fn verdict(tier: &str, object: &str, fk: &ForeignKey, declared: OnDelete, observed: Observed) -> Finding {
    let seen = match &observed {
        Observed::Did(OnDelete::Cascade) => "deletes its children".to_string(),
        Observed::Did(OnDelete::SetNull) => "sets the children's reference to NULL".to_string(),
        Observed::Did(OnDelete::SetDefault) => "resets the children's reference to its default".to_string(),
        Observed::Did(OnDelete::Restrict) => "is refused while children exist".to_string(),
        Observed::LeftDangling => "leaves the children pointing at the deleted row".to_string(),
        Observed::Mixed { deleted, nulled, changed, dangling } => {
            format!("deletes {deleted}, nulls {nulled}, changes {changed} and leaves {dangling} child row(s) dangling")
        }
    };
    let message = format!("deleting a row of {} {seen}", fk.target);
    match observed {
        Observed::Did(did) if did == declared => ID.pass(tier, object, format!("{message}, as declared ({declared})")),
        _ => ID.fail(tier, object, format!("{message}; declared: {declared}")).detail("declared", declared.to_string()),
    }
}

/// Deletes one parent row that has children, in a rolled-back transaction,
/// and sees what became of them. `Ok(Err(why))` when there is nothing to observe.
async fn observe(
    ctx: &TierContext<'_>,
    table: &Table,
    constraint: &Constraint,
    fk: &ForeignKey,
) -> Result<Result<(Observed, Value), String>, sqlx::Error> {
    let Some(identity) = table.primary_key().map(|pk| &pk.columns) else {
        return Ok(Err(format!("{} has no primary key to follow its rows by", table.name)));
    };
    let parent = fk.target.sql();
    let child = table.name.sql();
    let matches = |left: &str, right: &str| {
        constraint
            .columns
            .iter()
            .zip(&fk.target_columns)
            .map(|(c, t)| format!("{left}.{} = {right}.{}", quote_ident(c), quote_ident(t)))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let mut sandbox = Sandbox::open(ctx.pool).await?;
    // The first such parent by key: the same run after run (physical order is not).
    let by_key: Vec<String> = fk.target_columns.iter().map(|t| format!("p.{}", quote_ident(t))).collect();
    let with_children = format!(
        "SELECT to_jsonb(p) FROM {parent} p WHERE EXISTS (SELECT 1 FROM {child} c WHERE {}) ORDER BY {} LIMIT 1",
        matches("c", "p"),
        by_key.join(", ")
    );
    let mut staged = Value::Null;
    let parent_row = match sqlx::query_scalar::<_, Value>(&with_children).fetch_optional(sandbox.conn()).await? {
        Some(parent_row) => parent_row,
        None => match stage_child(&mut sandbox, table, constraint, fk, identity).await? {
            Ok((parent_row, child_row)) => {
                staged = child_row;
                parent_row
            }
            Err(why) => return Ok(Err(why)),
        },
    };
    let children_sql = format!(
        "SELECT jsonb_agg(to_jsonb(c)) FROM {child} c, jsonb_populate_record(NULL::{parent}, $1) k WHERE {}",
        matches("c", "k")
    );
    let children: Value = sqlx::query_scalar(&children_sql).bind(&parent_row).fetch_one(sandbox.conn()).await?;
    let target_key: Vec<String> = fk.target_columns.iter().map(|t| format!("p.{t} = k.{t}", t = quote_ident(t))).collect();
    let delete = format!(
        "DELETE FROM {parent} p USING jsonb_populate_record(NULL::{parent}, $1) k WHERE {}",
        target_key.join(" AND ")
    );
    let (outcome, set_aside) = sandbox.isolate(ctx.catalog, None, &delete, &parent_row, (&table.name, &constraint.name)).await?;
    let mut evidence = serde_json::json!({ "parent": parent_row, "statement": delete, "set_aside": set_aside });
    if !staged.is_null() {
        evidence["staged_child"] = staged;
    }
    if let Outcome::Refused(refusal) = outcome {
        evidence["refused"] = refusal.message.into();
        return Ok(Ok((Observed::Did(OnDelete::Restrict), evidence)));
    }
    let same_row = same_values(identity, "c", "r");
    let any_null: Vec<String> = constraint.columns.iter().map(|c| format!("c.{} IS NULL", quote_ident(c))).collect();
    let unchanged = same_values(&constraint.columns, "c", "r");
    let after = format!(
        "SELECT count(*) FILTER (WHERE c.ctid IS NULL),
                count(*) FILTER (WHERE c.ctid IS NOT NULL AND ({any_null})),
                count(*) FILTER (WHERE c.ctid IS NOT NULL AND NOT ({any_null}) AND NOT ({unchanged})),
                count(*) FILTER (WHERE c.ctid IS NOT NULL AND {unchanged})
         FROM jsonb_populate_recordset(NULL::{child}, $1) r LEFT JOIN {child} c ON {same_row}",
        any_null = any_null.join(" OR "),
    );
    let (deleted, nulled, changed, dangling): (i64, i64, i64, i64) = sqlx::query_as(&after).bind(&children).fetch_one(sandbox.conn()).await?;
    sandbox.undo().await?;
    let total = deleted + nulled + changed + dangling;
    let observed = match (deleted, nulled, changed, dangling) {
        _ if deleted == total => Observed::Did(OnDelete::Cascade),
        _ if nulled == total => Observed::Did(OnDelete::SetNull),
        _ if changed == total => Observed::Did(OnDelete::SetDefault),
        _ if dangling == total => Observed::LeftDangling,
        _ => Observed::Mixed { deleted, nulled, changed, dangling },
    };
    Ok(Ok((observed, evidence)))
}

/// With no child in the data (a self-reference the seeder leaves NULL
/// because its parent must share another column, say), points one row at a
/// parent inside the sandbox: a row whose non-NULL reference columns
/// already agree with that parent, so only its NULL ones are set. Returns
/// the parent and the child as it was, or why no such pair exists.
async fn stage_child(
    sandbox: &mut Sandbox,
    table: &Table,
    constraint: &Constraint,
    fk: &ForeignKey,
    identity: &[String],
) -> Result<Result<(Value, Value), String>, sqlx::Error> {
    let (parent, child) = (fk.target.sql(), table.name.sql());
    let pairs: Vec<(String, String)> = constraint.columns.iter().zip(&fk.target_columns).map(|(c, t)| (quote_ident(c), quote_ident(t))).collect();
    let mut agree: Vec<String> = pairs.iter().map(|(c, t)| format!("(c.{c} IS NULL OR c.{c} = p.{t})")).collect();
    if fk.target == table.name {
        agree.push(format!("NOT ({})", same_values(identity, "c", "p")));
    }
    // The referenced columns are a key of the parent: first by them, then by the child's key.
    let parent_key: Vec<String> = pairs.iter().map(|(_, t)| format!("p.{t}")).collect();
    let pair = format!(
        "SELECT jsonb_build_object('parent', to_jsonb(p), 'child', to_jsonb(c)) FROM {child} c, {parent} p WHERE {} ORDER BY {}, {} LIMIT 1",
        agree.join(" AND "),
        parent_key.join(", "),
        table.key_order("c")
    );
    let nothing = format!("no row of {} references a row of {}, and none can be pointed at one: nothing to observe", table.name, fk.target);
    let Some(pair) = sqlx::query_scalar::<_, Value>(&pair).fetch_optional(sandbox.conn()).await? else {
        return Ok(Err(nothing));
    };
    let assignments: Vec<String> = pairs.iter().map(|(c, t)| format!("{c} = k.{t}")).collect();
    let point = format!(
        "UPDATE {child} c SET {} FROM jsonb_populate_record(NULL::{parent}, $1->'parent') k, jsonb_populate_record(NULL::{child}, $1->'child') r WHERE {}",
        assignments.join(", "),
        same_values(identity, "c", "r")
    );
    match sandbox.attempt(None, &point, &pair).await? {
        Outcome::Accepted { .. } => Ok(Ok((pair["parent"].clone(), pair["child"].clone()))),
        Outcome::Refused(refusal) => Ok(Err(format!("{nothing} ({})", refusal.message))),
    }
}

/// `left.a = right.a AND ...` over `columns`.
fn same_values(columns: &[String], left: &str, right: &str) -> String {
    columns
        .iter()
        .map(|c| format!("{left}.{c} = {right}.{c}", c = quote_ident(c)))
        .collect::<Vec<_>>()
        .join(" AND ")
}
