//! `orphan.cross_tier`: rows whose declared reference to another tier
//! (scenario `[[references]]`, `--reference`) finds no target row. No
//! foreign key can cross databases, so nothing else notices when a campaign
//! is deleted in OLTP while its messages live on in Content.
//!
//! Each server sends its side sorted by key (`COPY ... TO STDOUT`, binary),
//! the referencing side grouped by key and tenant with a row count, and
//! `merge` walks both: constant memory, nothing written anywhere, so it
//! runs the same on a read-only external server as on disposable ones.
//! The price is the referencing server's grouping; for a large table it
//! runs as two key ranges on two connections at once, read one after the
//! other. Copying the target keys into a table beside the referencing rows
//! and letting that server hash anti-join needs writes and, to count both
//! verdicts in one pass, unique target keys (`ci/bench/orphans` measures it).
//! Loading the target keys into a hash table here instead and streaming
//! the referencing rows unsorted and ungrouped against it was measured too
//! and was no faster: sending every row costs the referencing server about
//! what grouping them does (docs/performance.md, "Orphan checks").

use anyhow::{Context, Result};
use futures::try_join;
use tokio::sync::oneshot;
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};

use super::copy::{Chained, CopyRows};
use super::link::{End, KeyKind, Link, SAMPLES};
use super::merge::{merge, Merged, Sample};
use super::{Offenders, Probed};
use crate::checks::{CheckId, Severity};
use crate::sql::quote_literal;

pub const ID: CheckId = CheckId::new(
    "orphan.cross_tier",
    Severity::Error,
    r#"rows whose declared cross-tier reference finds no target row"#,
);

pub async fn probe(link: &Link<'_>, from_pool: &PgPool, to_pool: &PgPool) -> Result<Probed> {
    let tenant_kind = link.tenant_kind();
    // The sample rows are fetched as soon as the merge knows their keys,
    // usually early in the walk: that scan overlaps the rest of the streams.
    let (known, first) = oneshot::channel::<(Vec<Sample>, Vec<Sample>)>();
    let first_known = move |merged: &Merged| {
        let _ = known.send((merged.orphans.first.clone(), merged.mismatches.first.clone()));
    };
    let merging = async {
        merged(link, tenant_kind, from_pool, to_pool, first_known)
            .await
            .with_context(|| format!("streaming the keys of {}", link.describe()))
    };
    let sampling = async {
        match first.await {
            Ok((orphans, mismatches)) => samples(link, from_pool, &orphans, &mismatches).await,
            Err(_) => Ok(Default::default()), // the merge failed and says why
        }
    };
    let (merged, (orphan_samples, mismatch_samples)) = try_join!(merging, sampling)?;
    Ok(Probed {
        orphans: Offenders {
            count: merged.orphans.count,
            samples: orphan_samples,
            sql: listing_script(link, false),
        },
        mismatches: tenant_kind.map(|_| Offenders {
            count: merged.mismatches.count,
            samples: mismatch_samples,
            sql: listing_script(link, true),
        }),
    })
}

/// Referencing tables with at least this many rows (the planner's
/// estimate) are grouped in two key ranges on two connections at once,
/// each range's rows read after the other's: measured on 10M rows, the two
/// halves finish in about 60% of the time one grouping query takes (its
/// parallel workers' partial groups all meet in one serial finalize).
const SPLIT_ROWS: f32 = 100_000.0;
/// What each half's aggregate and sort may hold before spilling to disk.
const HALF_WORK_MEM: &str = "64MB";

/// Streams both sides and merges them. Holds one connection per tier (two
/// on the referencing side when it is split), and only while streaming:
/// probes run side by side on shared pools.
async fn merged(
    link: &Link<'_>,
    tenant_kind: Option<KeyKind>,
    from_pool: &PgPool,
    to_pool: &PgPool,
    first_known: impl FnOnce(&Merged),
) -> Result<Merged> {
    let (mut from_conn, mut to_conn) = try_join!(from_pool.acquire(), to_pool.acquire())?;
    // The merge stops reading the target side once the referencing side
    // ends; a connection left inside a COPY cannot serve another query.
    from_conn.close_on_drop();
    to_conn.close_on_drop();
    let kinds = link.kinds();
    let to_sql = target_stream(link);
    // The upper range gets a connection of its own, not one from the pool:
    // waiting for a second pooled connection while holding the first could
    // wait forever on probes that wait the same way. A server that refuses
    // one more connection gets the one query.
    let split = match pivot(link, &mut from_conn).await? {
        Some(below) => PgConnection::connect_with(&from_pool.connect_options()).await.ok().map(|conn| (below, conn)),
        None => None,
    };
    let Some((below, mut upper_conn)) = split else {
        let from_sql = referencing_stream(link, None);
        // Both servers sort at the same time.
        let (from_rows, to_rows) = try_join!(from_conn.copy_out_raw(&from_sql), to_conn.copy_out_raw(&to_sql))?;
        let merged = merge(&kinds, tenant_kind, &mut CopyRows::new(from_rows), &mut CopyRows::new(to_rows), first_known).await?;
        return Ok(merged);
    };
    let memory = format!("SET work_mem = '{HALF_WORK_MEM}'");
    try_join!(sqlx::raw_sql(&memory).execute(&mut *from_conn), sqlx::raw_sql(&memory).execute(&mut upper_conn))?;
    let (lower_sql, upper_sql) = (referencing_stream(link, Some(&below)), referencing_stream(link, Some(&format!("NOT ({below})"))));
    let (lower, upper, to_rows) = try_join!(
        from_conn.copy_out_raw(&lower_sql),
        upper_conn.copy_out_raw(&upper_sql),
        to_conn.copy_out_raw(&to_sql)
    )?;
    let mut from = Chained::new(CopyRows::new(lower), CopyRows::new(upper));
    let merged = merge(&kinds, tenant_kind, &mut from, &mut CopyRows::new(to_rows), first_known).await?;
    drop(from); // the upper range was read to its end
    upper_conn.close().await?;
    Ok(merged)
}

/// For a large referencing table with a one-column key: the condition
/// `key < middle key`, the middle taken from a 1% sample of its pages (the
/// same pages every run). Which rows fall on which side changes nothing
/// found: the two ranges together are every row, in key order.
async fn pivot(link: &Link<'_>, conn: &mut PgConnection) -> Result<Option<String>> {
    let from = &link.from;
    if from.columns.len() != 1 {
        return Ok(None);
    }
    let estimated: f32 = sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE oid = $1::regclass")
        .bind(from.table.name.sql())
        .fetch_one(&mut *conn)
        .await?;
    if estimated < SPLIT_ROWS {
        return Ok(None);
    }
    let order = &link.key_order(from, "c")[0];
    let sql = format!(
        "SELECT (percentile_disc(0.5) WITHIN GROUP (ORDER BY {order}))::text \
         FROM {} c TABLESAMPLE SYSTEM (1) REPEATABLE (0) WHERE {}",
        from.table.name.sql(),
        from.present("c")
    );
    let middle: Option<String> = sqlx::query_scalar(&sql).fetch_one(&mut *conn).await?;
    Ok(middle.map(|middle| match link.kinds()[0] {
        KeyKind::Text => format!("{order} < {}", quote_literal(&middle)),
        KeyKind::Integer | KeyKind::Uuid => format!("{order} < {}::{}", quote_literal(&middle), from.columns[0].data_type),
    }))
}

/// Referencing side: `key..., [tenant], count`, one row per key and
/// tenant; with `range`, only the rows that meet that condition.
fn referencing_stream(link: &Link<'_>, range: Option<&str>) -> String {
    let from = &link.from;
    let mut select = link.key_output(from, "c");
    let mut group: Vec<String> = (0..from.columns.len()).map(|i| from.column("c", i)).collect();
    let mut order = link.key_order(from, "c");
    if let (Some(kind), Some(tenant)) = (link.tenant_kind(), from.tenant_sql("c")) {
        select.push(kind.output(&tenant));
        group.push(tenant.clone());
        // The tenant's own order, as the samples are listed in.
        order.push(tenant);
    }
    let mut conditions = from.present("c");
    if let Some(range) = range {
        conditions.push_str(&format!(" AND {range}"));
    }
    format!(
        "COPY (SELECT {}, count(*) FROM {} c WHERE {} GROUP BY {} ORDER BY {}) TO STDOUT (FORMAT binary)",
        select.join(", "),
        from.table.name.sql(),
        conditions,
        group.join(", "),
        order.join(", ")
    )
}

/// Target side: `key..., [tenant]`, sorted by key.
fn target_stream(link: &Link<'_>) -> String {
    let to = &link.to;
    let mut select = link.key_output(to, "t");
    if let (Some(kind), Some(tenant)) = (link.tenant_kind(), to.tenant_sql("t")) {
        select.push(kind.output(&tenant));
    }
    format!(
        "COPY (SELECT {} FROM {} t WHERE {} ORDER BY {}) TO STDOUT (FORMAT binary)",
        select.join(", "),
        to.table.name.sql(),
        to.present("t"),
        link.key_order(to, "t").join(", ")
    )
}

/// The first offending rows of both kinds, ten of each in listing order:
/// rows with the first orphan keys the merge met, and rows with the first
/// mismatched (key, tenant) pairs. One query, so that without an index on
/// the referencing columns the table is scanned once, not once per kind.
async fn samples(link: &Link<'_>, pool: &PgPool, orphans: &[Sample], mismatches: &[Sample]) -> Result<(Vec<Value>, Vec<Value>)> {
    let wanted: Vec<(bool, &Sample)> = [(false, orphans), (true, mismatches)]
        .into_iter()
        .flat_map(|(mismatch, first)| first.iter().map(move |sample| (mismatch, sample)))
        .collect();
    if wanted.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let width = link.from.columns.len();
    let mut names: Vec<String> = (0..width).map(|i| format!("k{i}")).collect();
    names.extend(["tenant".to_string(), "target_tenant".to_string()]);
    let mut on: Vec<String> = (0..width)
        .map(|i| format!("{} = s.k{i}::{}", link.from.column("c", i), link.from.columns[i].data_type))
        .collect();
    if let Some(tenant) = link.from.tenant_text("c") {
        on.push(format!("(NOT s.mismatch OR {tenant} IS NOT DISTINCT FROM s.tenant)"));
    }
    let arrays: Vec<String> = (2..=names.len() + 1).map(|n| format!("${n}::text[]")).collect();
    let sql = format!(
        "SELECT mismatch, sample FROM ( \
             SELECT s.mismatch, CASE WHEN s.mismatch THEN {mismatch_json} ELSE {orphan_json} END AS sample, \
                    CASE WHEN s.mismatch THEN row_number() OVER (PARTITION BY s.mismatch ORDER BY {mismatch_order}) \
                         ELSE row_number() OVER (PARTITION BY s.mismatch ORDER BY {orphan_order}) END AS n \
             FROM {table} c JOIN unnest($1::bool[], {arrays}) AS s(mismatch, {names}) ON {on}) ranked \
         WHERE n <= {SAMPLES} ORDER BY mismatch, n",
        mismatch_json = link.sample_json("c", Some("s.target_tenant")),
        orphan_json = link.sample_json("c", None),
        mismatch_order = link.listing_order("c", true),
        orphan_order = link.listing_order("c", false),
        table = link.from.table.name.sql(),
        arrays = arrays.join(", "),
        names = names.join(", "),
        on = on.join(" AND "),
    );
    let mut query = sqlx::query_as::<_, (bool, Value)>(&sql).bind(wanted.iter().map(|(mismatch, _)| *mismatch).collect::<Vec<_>>());
    for i in 0..width {
        query = query.bind(wanted.iter().map(|(_, s)| s.key[i].clone()).collect::<Vec<_>>());
    }
    let rows = query
        .bind(wanted.iter().map(|(_, s)| s.tenant.clone()).collect::<Vec<_>>())
        .bind(wanted.iter().map(|(_, s)| s.target_tenant.clone()).collect::<Vec<_>>())
        .fetch_all(pool)
        .await
        .with_context(|| format!("fetching sample rows of {}", link.from.name()))?;
    let (mismatches, orphans): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(mismatch, _)| *mismatch);
    let values = |rows: Vec<(bool, Value)>| rows.into_iter().map(|(_, sample)| sample).collect();
    Ok((values(orphans), values(mismatches)))
}

/// A psql variable name for a tier's DSN.
fn dsn_variable(tier: &str) -> String {
    tier.replace('-', "_")
}

/// The psql script that lists the offending rows (orphans, or with
/// `mismatch` tenant mismatches) of a cross-tier reference: the target
/// server's keys go into psql variables, which survive `\connect`, and the
/// referencing server lists the rows that fail against them.
fn listing_script(link: &Link<'_>, mismatch: bool) -> String {
    let (from, to) = (&link.from, &link.to);
    let pair = |end: &End<'_>, alias: &str| {
        format!("ROW({}, {})::text", end.key_text(alias), end.tenant_text(alias).unwrap_or_default())
    };
    let gather = |values: String, variable: &str| format!("coalesce(array_agg({values}), '{{}}') AS {variable}");
    let (what, gathered, failing) = if mismatch {
        (
            format!("names a row of {} that belongs to another tenant", to.name()),
            // Targets of no tenant are nobody's: naming one is no mismatch.
            format!(
                "{}, {}, coalesce(array_agg({}) FILTER (WHERE {} IS NULL), '{{}}') AS tenantless_keys",
                gather(to.key_text("t"), "target_keys"),
                gather(pair(to, "t"), "target_pairs"),
                to.key_text("t"),
                to.tenant_text("t").unwrap_or_default()
            ),
            format!(
                "{key} = ANY (:'target_keys'::text[]) AND {key} <> ALL (:'tenantless_keys'::text[]) \
                 AND {tenant} IS NOT NULL AND {} <> ALL (:'target_pairs'::text[])",
                pair(from, "c"),
                key = from.key_text("c"),
                tenant = from.tenant_text("c").unwrap_or_default(),
            ),
        )
    } else {
        (
            format!("has no row in {}", to.name()),
            gather(to.key_text("t"), "target_keys"),
            format!("{} <> ALL (:'target_keys'::text[])", from.key_text("c")),
        )
    };
    let (from_var, to_var) = (dsn_variable(from.tier), dsn_variable(to.tier));
    format!(
        "-- Rows of {from_name} whose {columns_label} {what}.\n\
         -- The tables are on two servers; psql keeps variables across \\connect:\n\
         --   psql -v {from_var}=DSN_OF_{from_upper} -v {to_var}=DSN_OF_{to_upper} -f this.sql\n\
         -- 1. On {to_tier}: the keys of {to_name}{and_tenants}.\n\
         \\connect :{to_var}\n\
         SELECT {gathered} FROM {to_sql} t WHERE {to_present} \\gset\n\
         -- 2. On {from_tier}: the rows of {from_name} that fail against them.\n\
         \\connect :{from_var}\n\
         SELECT {columns} FROM {from_sql} c WHERE {from_present} AND {failing} ORDER BY {order};\n",
        from_name = from.name(),
        columns_label = from.columns_label(),
        from_upper = from_var.to_uppercase(),
        to_upper = to_var.to_uppercase(),
        to_tier = to.tier,
        to_name = to.name(),
        and_tenants = if mismatch { " with their tenants" } else { "" },
        to_sql = to.table.name.sql(),
        to_present = to.present("t"),
        from_tier = from.tier,
        columns = link.listing_columns("c", mismatch),
        from_sql = from.table.name.sql(),
        from_present = from.present("c"),
        order = link.listing_order("c", mismatch),
    )
}
