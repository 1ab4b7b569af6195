//! `rls.existence_oracle` (warning): acting as tenant A, a new row of A's
//! whose unique key takes the value one of B's rows holds is refused as a
//! duplicate, while the same row with its own fresh values is accepted. RLS
//! hides B's rows from A's reads, but a unique index sees every row, so the
//! error tells A that B has that value (an email, a domain name, a code).
//! The usual cause is a key not scoped by tenant: `UNIQUE (email)` where
//! `UNIQUE (tenant_id, email)` was meant.
//!
//! Keys probed: unique constraints and indexes of a tenant table that leave
//! out the tenant column (for a table reached through a tenant path: the
//! columns of its first hop, since a parent row belongs to one tenant),
//! where A can guess B's value: natural keys (email, slug, invoice number,
//! domain), short codes, numbers a person picks. Keys with an unguessable
//! column are left out, since to collide on one A must already know B's
//! value (the primary key of a partitioned table, `(id, created_at)`, is
//! such a key):
//! - random ids: uuids (but not time-and-host `uuid_generate_v1`), and
//!   text ids a random default draws (cuid, nanoid, ulid, gen_random_bytes)
//!   or whose values all look like such tokens (16 or more letters and
//!   digits, mixed: 64 bits and more), as ids the application draws do;
//! - numbers the server draws from a sequence (identity, serial): every
//!   number below the sequence's position is taken by some tenant anyway,
//!   so a collision tells A nothing it did not know.
//!
//! FK errors are not probed as an oracle: an FK check runs without RLS, so
//! B's parent id is either accepted, which `fk.cross_tenant` reports (as an
//! error), or refused by a tenant-scoped FK or a WITH CHECK policy (checked
//! first) exactly as an id that never existed is.

use super::act::{self, Context, Outcome};
use super::property::falsify;
use super::writes::insert_row;
use super::Prober;
use crate::catalog::{ConstraintKind, Table};
use crate::tenancy::TenantScope;
use crate::checks::{CheckId, Finding, Severity, TierContext};
use crate::sql::quote_ident;

pub const EXISTENCE_ORACLE: CheckId = CheckId::new(
    "rls.existence_oracle",
    Severity::Warning,
    r#"acting as A, a new row carrying a value of B's in a unique key is refused as a duplicate while the same row with A's own values is accepted: the error tells A that B has it (e.g. `UNIQUE (email)` where `UNIQUE (tenant_id, email)` was meant)"#,
);

use crate::sql::sqlstate::UNIQUE_VIOLATION;

/// A unique key that does not include the tenant.
struct Key {
    name: String,
    columns: Vec<String>,
    /// The WHERE clause of a partial unique index: only rows matching it collide.
    predicate: Option<String>,
}

pub async fn check(
    ctx: &TierContext<'_>,
    prober: &Prober,
    table: &Table,
    scope: &TenantScope,
) -> Finding {
    let tier = ctx.tier();
    let mut keys = unscoped_keys(table, scope);
    let mut random = Vec::new();
    for key in &keys {
        for column in &key.columns {
            if !random.contains(column) && random_tokens(ctx, table, column).await {
                random.push(column.clone());
            }
        }
    }
    keys.retain(|key| !key.columns.iter().any(|c| random.contains(c)));
    if keys.is_empty() {
        let why = match random.as_slice() {
            [] => "every unique key includes the tenant, or an id nobody can guess (a random uuid, a sequence number)".to_string(),
            columns => format!(
                "every unique key includes the tenant, or an id nobody can guess ({} hold(s) random tokens of 64 bits or more)",
                columns.join(", ")
            ),
        };
        return EXISTENCE_ORACLE.pass(tier, &table.name, why);
    }
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    if ctx.read_only {
        return EXISTENCE_ORACLE.skip(
            tier,
            &table.name,
            "external server: write probes are not run, even rolled back",
        );
    }
    if !ctx
        .catalog
        .has_table_privilege(&prober.actor.role, table, "INSERT")
    {
        return EXISTENCE_ORACLE.pass(
            tier,
            &table.name,
            format!(
                "{} cannot insert, so {} cannot answer it",
                prober.actor.role,
                names.join(", ")
            ),
        );
    }
    let n = prober.tenants.len();
    let keys = &keys;
    let failure = falsify(
        ctx.scenario.seed,
        &format!("existence_oracle/{tier}/{}", table.name),
        (0..n, 0..n, 0..keys.len()),
        |v| async move {
            match collide(ctx, prober, table, scope, v, keys).await {
                Ok(None) => Ok(()),
                Ok(Some(collision)) => Err(collision.constraint),
                Err(e) => Err(format!("probe failed: {e}")),
            }
        },
    )
    .await;
    let Some((value, reason)) = failure else {
        return EXISTENCE_ORACLE.pass(
            tier,
            &table.name,
            format!(
                "no key tells one tenant another's values ({})",
                names.join(", ")
            ),
        );
    };
    let collision = match collide(ctx, prober, table, scope, value, keys).await {
        Ok(Some(collision)) => collision,
        Ok(None) => {
            return EXISTENCE_ORACLE.error(
                tier,
                &table.name,
                format!("a collision ({reason}) did not happen again"),
            )
        }
        Err(e) => return EXISTENCE_ORACLE.error(tier, &table.name, format!("probe failed: {e}")),
    };
    let key = &keys[value.2];
    let tenant_column = scope.column().unwrap_or("the tenant's reference");
    let shown = format!(
        "({}) = ({})",
        key.columns.join(", "),
        collision.values.join(", ")
    );
    prober
        .failure(
            EXISTENCE_ORACLE,
            ctx,
            &table.name,
            format!(
                "{}: acting as tenant {}, a new row with {shown}, a value only tenant {} has, is refused as a duplicate by {} while the same row with its own values is accepted: the error tells one tenant what another has",
                table.name, collision.tenant_a, collision.tenant_b, collision.constraint
            ),
            collision.case,
            1,
            vec![format!("{shown} (tenant {})", collision.tenant_b)],
        )
        .detail("tenant_a", collision.tenant_a)
        .detail("tenant_b", collision.tenant_b)
        .detail("constraint", collision.constraint)
        .detail("error", collision.message)
        .detail("value", shown)
        .detail("fix", format!("make the key per tenant: UNIQUE ({tenant_column}, {})", key.columns.join(", ")))
}

/// What tenant A learned about tenant B.
struct Collision {
    tenant_a: String,
    tenant_b: String,
    values: Vec<String>,
    constraint: String,
    message: String,
    case: act::Case,
}

/// Tries one case: tenant number `a` inserts a fresh row (the control),
/// then the same row carrying key `k`'s values from one of tenant `b`'s rows.
async fn collide(
    ctx: &TierContext<'_>,
    prober: &Prober,
    table: &Table,
    scope: &TenantScope,
    (a, b, k): (usize, usize, usize),
    keys: &[Key],
) -> Result<Option<Collision>, sqlx::Error> {
    let n = prober.tenants.len();
    let b = if a == b { (b + 1) % n } else { b };
    let (tenant_a, tenant_b) = (&prober.tenants[a], &prober.tenants[b]);
    let key = &keys[k];
    let Some(values) = value_of_other(ctx, table, scope, key, tenant_a, tenant_b).await? else {
        return Ok(None);
    };
    let (Some(control), Some(probe)) = (
        insert_row(ctx, table, a, &[]),
        insert_row(
            ctx,
            table,
            a,
            &key.columns
                .iter()
                .cloned()
                .zip(values.iter().cloned())
                .collect::<Vec<_>>(),
        ),
    ) else {
        return Ok(None);
    };
    let context = Context::Tenant(tenant_a.clone());
    // A row A may not insert at all shows nothing about B.
    if !matches!(
        act::run(ctx.acting_pool(), &prober.case(context.clone(), control, true)).await?,
        Outcome::Affected(_)
    ) {
        return Ok(None);
    }
    let case = prober.case(context, probe, true);
    Ok(match act::run(ctx.acting_pool(), &case).await? {
        Outcome::Refused(refusal) if refusal.code == UNIQUE_VIOLATION => Some(Collision {
            tenant_a: tenant_a.clone(),
            tenant_b: tenant_b.clone(),
            values,
            constraint: refusal.constraint.unwrap_or_else(|| key.name.clone()),
            message: refusal.message,
            case,
        }),
        _ => None,
    })
}

/// Key values (as text) of one of tenant B's rows that no row of tenant A
/// holds, the lowest first; None when B has no such row.
async fn value_of_other(
    ctx: &TierContext<'_>,
    table: &Table,
    scope: &TenantScope,
    key: &Key,
    tenant_a: &str,
    tenant_b: &str,
) -> Result<Option<Vec<String>>, sqlx::Error> {
    let column = |alias: &str, c: &String| format!("{alias}.{}", quote_ident(c));
    let texts: Vec<String> = key
        .columns
        .iter()
        .map(|c| format!("{}::text", column("b", c)))
        .collect();
    let not_null: Vec<String> = key
        .columns
        .iter()
        .map(|c| format!("{} IS NOT NULL", column("b", c)))
        .collect();
    let same: Vec<String> = key
        .columns
        .iter()
        .map(|c| format!("{} = {}", column("a", c), column("b", c)))
        .collect();
    let sql = format!(
        "SELECT ARRAY[{texts}] FROM {t} b WHERE ({tenant_b})::text = $1 AND {not_null} AND ({predicate}) \
         AND NOT EXISTS (SELECT 1 FROM {t} a WHERE ({tenant_a})::text = $2 AND {same}) ORDER BY 1 LIMIT 1",
        texts = texts.join(", "),
        t = table.name.sql(),
        tenant_b = scope.tenant_sql("b"),
        tenant_a = scope.tenant_sql("a"),
        not_null = not_null.join(" AND "),
        predicate = key.predicate.as_deref().unwrap_or("true"),
        same = same.join(" AND "),
    );
    sqlx::query_scalar(&sql)
        .bind(tenant_b)
        .bind(tenant_a)
        .fetch_optional(ctx.pool)
        .await
}

/// Unique constraints and indexes of `table` that leave the tenant out and
/// whose values a person could guess.
fn unscoped_keys(table: &Table, scope: &TenantScope) -> Vec<Key> {
    let scoped_by: Vec<&str> = match scope {
        TenantScope::Column(c) | TenantScope::Root(c) => vec![c.as_str()],
        TenantScope::Path(path) => path.hops[0].columns.iter().map(String::as_str).collect(),
        TenantScope::Remote(remote) => vec![remote.column.as_str()],
    };
    let constraints = table
        .constraints
        .iter()
        .filter(|c| matches!(c.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique))
        .map(|c| Key {
            name: c.name.clone(),
            columns: c.columns.clone(),
            predicate: None,
        });
    // A constraint's own index has the constraint's name; expression keys cannot be filled in.
    let indexes = table
        .indexes
        .iter()
        .filter(|i| i.unique && i.valid && !table.constraints.iter().any(|c| c.name == i.name))
        .filter_map(|i| {
            Some(Key {
                name: i.name.clone(),
                columns: i.columns.iter().cloned().collect::<Option<_>>()?,
                predicate: i.predicate.clone(),
            })
        });
    constraints
        .chain(indexes)
        .filter(|key| !scoped_by.iter().all(|c| key.columns.iter().any(|k| k == c)))
        .filter(|key| !key.columns.iter().any(|c| unguessable(table, c)))
        .collect()
}

/// Functions whose result nobody can guess, in a column default.
const RANDOM_DEFAULTS: [&str; 8] =
    ["gen_random_uuid", "uuid_generate_v4", "gen_random_bytes", "random()", "cuid", "nanoid", "ulid", "uuid_generate_v7"];

/// Values nobody picks, told by the column's type and default: random
/// uuids, text drawn by a random function, numbers the server draws from
/// a sequence (see the module's comment).
fn unguessable(table: &Table, column: &str) -> bool {
    table.column(column).is_none_or(|c| {
        let default = c.default.as_deref().unwrap_or_default();
        (c.base_type == "uuid" && !default.contains("uuid_generate_v1"))
            || c.identity
            || default.starts_with("nextval(")
            || RANDOM_DEFAULTS.iter().any(|f| default.contains(f))
    })
}

/// Whether every value of a text column looks like a random token (a cuid,
/// nanoid or ulid the application draws, with no default to say so): 16 or
/// more letters, digits, `_` or `-`, where letters and digits alternate as
/// they do in random text (on average two changes or more between a letter
/// and a digit per value; a slug made unique by a number has one). Judged
/// on a sample of the rows, those seeded and those given; no rows, no
/// judgement.
async fn random_tokens(ctx: &TierContext<'_>, table: &Table, column: &str) -> bool {
    const TOKEN: &str = "^[A-Za-z0-9_-]{16,}$";
    let text = table
        .column(column)
        .is_some_and(|c| ["text", "character varying", "character", "citext", "varchar", "bpchar"].contains(&c.base_type.as_str()));
    if !text {
        return false;
    }
    let sql = format!(
        "SELECT count(*) > 0 AND bool_and(v ~ '{TOKEN}') AND avg(regexp_count(v, '[0-9][A-Za-z]|[A-Za-z][0-9]')) >= 2 \
         FROM (SELECT {c}::text AS v FROM {t} t WHERE {c} IS NOT NULL ORDER BY {order} LIMIT 200) sample",
        c = quote_ident(column),
        t = table.name.sql(),
        order = table.key_order("t")
    );
    sqlx::query_scalar::<_, Option<bool>>(&sql).fetch_one(ctx.pool).await.ok().flatten().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, Constraint, Index};

    fn unique(name: &str, columns: &[&str]) -> Constraint {
        Constraint {
            name: name.into(),
            kind: ConstraintKind::Unique,
            columns: columns.iter().map(|c| c.to_string()).collect(),
            validated: true,
            definition: String::new(),
            foreign_key: None,
        }
    }

    fn users() -> Table {
        let mut number = Column::plain("number", "bigint", true);
        number.default = Some("nextval('users_number_seq'::regclass)".into());
        Table {
            columns: vec![
                Column::plain("id", "uuid", true),
                Column::plain("tenant_id", "uuid", true),
                Column::plain("email", "text", true),
                Column::plain("handle", "text", true),
                number,
            ],
            constraints: vec![
                Constraint {
                    kind: ConstraintKind::PrimaryKey,
                    ..unique("users_pkey", &["id"])
                },
                unique("users_tenant_id_email_key", &["tenant_id", "email"]),
                unique("users_email_key", &["email"]),
                unique("users_id_email_key", &["id", "email"]),
                unique("users_number_handle_key", &["number", "handle"]),
            ],
            indexes: vec![Index {
                name: "users_handle_idx".into(),
                columns: vec![Some("handle".into())],
                unique: true,
                primary: false,
                predicate: Some("handle <> ''".into()),
                valid: true,
            }],
            ..Table::plain("public", "users")
        }
    }

    #[test]
    fn keys_leaving_out_the_tenant_with_guessable_values_are_tried() {
        let keys = unscoped_keys(&users(), &TenantScope::Column("tenant_id".into()));
        let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
        // Not the PK (a uuid), not the per-tenant key, not keys holding an id or a sequence number.
        assert_eq!(names, ["users_email_key", "users_handle_idx"]);
        assert_eq!(keys[1].predicate.as_deref(), Some("handle <> ''"));
    }
}
