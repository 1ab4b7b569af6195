//! `orphan.cross_tier`: rows whose declared reference to another tier
//! (scenario `[[references]]`, `--reference`) finds no target row. No
//! foreign key can cross databases, so nothing else notices when a campaign
//! is deleted in OLTP while its messages live on in Content.
//!
//! Each server sends its side sorted by key (`COPY ... TO STDOUT`, binary),
//! the referencing side grouped by key and tenant with a row count, and
//! `merge` walks both: constant memory, nothing written anywhere, so it
//! runs the same on a read-only external server as on disposable ones.
//! The price is the referencing server's sort. Copying the target keys into
//! a table beside the referencing rows and letting that server hash
//! anti-join is faster (`ci/bench/orphans` measures both) but needs writes
//! and, to count both verdicts in one pass, unique target keys.
//! Loading the target keys into a hash table here instead and streaming
//! the referencing rows unsorted and ungrouped against it was measured too
//! and was no faster: sending every row costs the referencing server about
//! what grouping them does (README, "Speed").

use anyhow::{Context, Result};
use futures::try_join;
use serde_json::Value;
use sqlx::PgPool;

use super::copy::CopyRows;
use super::link::{End, KeyKind, Link, SAMPLES};
use super::merge::{merge, Merged, Tally};
use super::{Offenders, Probed};
use crate::checks::{CheckId, Severity};

pub const ID: CheckId = CheckId::new("orphan.cross_tier", Severity::Error);

pub async fn probe(link: &Link<'_>, from_pool: &PgPool, to_pool: &PgPool) -> Result<Probed> {
    let tenant_kind = link.tenant_kind();
    let merged = merged(link, tenant_kind, from_pool, to_pool)
        .await
        .with_context(|| format!("streaming the keys of {}", link.describe()))?;
    // Without an index on the referencing columns each sample query scans
    // the whole table: the two scans run at the same time.
    let (orphan_samples, mismatch_samples) = try_join!(
        samples(link, from_pool, &merged.orphans, false),
        samples(link, from_pool, &merged.mismatches, true)
    )?;
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

/// Streams both sides and merges them. Holds one connection per tier, and
/// only while streaming: probes run side by side on shared pools.
async fn merged(link: &Link<'_>, tenant_kind: Option<KeyKind>, from_pool: &PgPool, to_pool: &PgPool) -> Result<Merged> {
    let (mut from_conn, mut to_conn) = try_join!(from_pool.acquire(), to_pool.acquire())?;
    // The merge stops reading the target side once the referencing side
    // ends; a connection left inside a COPY cannot serve another query.
    from_conn.close_on_drop();
    to_conn.close_on_drop();
    let (from_sql, to_sql) = (referencing_stream(link), target_stream(link));
    // Both servers sort at the same time.
    let (from_rows, to_rows) = try_join!(from_conn.copy_out_raw(&from_sql), to_conn.copy_out_raw(&to_sql))?;
    let merged = merge(&link.kinds(), tenant_kind, &mut CopyRows::new(from_rows), &mut CopyRows::new(to_rows)).await?;
    Ok(merged)
}

/// Referencing side: `key..., [tenant], count`, one row per key and tenant.
fn referencing_stream(link: &Link<'_>) -> String {
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
    format!(
        "COPY (SELECT {}, count(*) FROM {} c WHERE {} GROUP BY {} ORDER BY {}) TO STDOUT (FORMAT binary)",
        select.join(", "),
        from.table.name.sql(),
        from.present("c"),
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

/// The first offending rows: those with the first keys the merge met.
async fn samples(link: &Link<'_>, pool: &PgPool, tally: &Tally, mismatch: bool) -> Result<Vec<Value>> {
    if tally.first.is_empty() {
        return Ok(Vec::new());
    }
    let width = link.from.columns.len();
    let mut names: Vec<String> = (0..width).map(|i| format!("k{i}")).collect();
    let mut on: Vec<String> = (0..width)
        .map(|i| format!("{} = s.k{i}::{}", link.from.column("c", i), link.from.columns[i].data_type))
        .collect();
    if let (true, Some(tenant)) = (mismatch, link.from.tenant_text("c")) {
        names.extend(["tenant".to_string(), "target_tenant".to_string()]);
        on.push(format!("{tenant} IS NOT DISTINCT FROM s.tenant"));
    }
    let arrays: Vec<String> = (1..=names.len()).map(|n| format!("${n}::text[]")).collect();
    let sql = format!(
        "SELECT {} FROM {} c JOIN unnest({}) AS s({}) ON {} ORDER BY {} LIMIT {SAMPLES}",
        link.sample_json("c", mismatch.then_some("s.target_tenant")),
        link.from.table.name.sql(),
        arrays.join(", "),
        names.join(", "),
        on.join(" AND "),
        link.listing_order("c", mismatch)
    );
    let mut query = sqlx::query_scalar::<_, Value>(&sql);
    for i in 0..width {
        query = query.bind(tally.first.iter().map(|s| s.key[i].clone()).collect::<Vec<_>>());
    }
    if mismatch {
        query = query
            .bind(tally.first.iter().map(|s| s.tenant.clone()).collect::<Vec<_>>())
            .bind(tally.first.iter().map(|s| s.target_tenant.clone()).collect::<Vec<_>>());
    }
    query
        .fetch_all(pool)
        .await
        .with_context(|| format!("fetching sample rows of {}", link.from.name()))
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
            format!("{}, {}", gather(to.key_text("t"), "target_keys"), gather(pair(to, "t"), "target_pairs")),
            format!(
                "{} = ANY (:'target_keys'::text[]) AND {} <> ALL (:'target_pairs'::text[])",
                from.key_text("c"),
                pair(from, "c")
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
