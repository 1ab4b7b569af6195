//! Notifications: `LISTEN` needs no privilege and knows no tenant, so a
//! trigger that sends row data to a fixed channel tells every listener
//! what any tenant writes. Tenant A listens on every channel a function
//! names (`pg_notify('channel', ...)`, `NOTIFY channel`); tenant B then
//! updates one of its own rows (one holding its marker) to the values it
//! already has, in every table with an UPDATE trigger whose function sends
//! notifications. A payload with B's marker that reaches A is a leak.
//!
//! PostgreSQL delivers a notification only when the writing transaction
//! commits, so B's write is committed: it changes no value, but the
//! triggers it fires keep their effects (an audit row). Disposable servers
//! only; never on an external one.

use std::sync::LazyLock;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::Row;

use super::{leak, Canaries, Covered, Read, Seen};
use crate::canary::SQL_PATTERN;
use crate::checks::rls::act::Context;
use crate::checks::rls::Prober;
use crate::checks::{Finding, TierContext};
use crate::sql::{quote_ident, quote_literal, QualName};

/// How long A waits for the notifications of B's writes after they commit.
const WAIT: Duration = Duration::from_millis(1500);

static CHANNEL: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?i)pg_notify\s*\(\s*'([^']+)'|\bnotify\s+([a-z_][a-z0-9_$]*)").expect("channel pattern"));
static MARKER: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(SQL_PATTERN).expect("marker pattern"));

pub async fn check(ctx: &TierContext<'_>, prober: &Prober, canaries: &Canaries<'_>, covered: &mut Covered) -> Result<Vec<Finding>, sqlx::Error> {
    let mut channels: Vec<String> = ctx
        .catalog
        .functions
        .iter()
        .flat_map(|f| CHANNEL.captures_iter(&f.source).filter_map(|c| c.get(1).or(c.get(2)).map(|m| m.as_str().to_string())).collect::<Vec<_>>())
        .collect();
    channels.sort();
    channels.dedup();
    covered.channels = channels.len();
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    let victim = prober.tenants.last().expect("two tenants or more");
    let Some(victim_tag) = canaries.tenants.iter().position(|t| t == victim).map(|i| canaries.tags[i].clone()) else {
        return Ok(Vec::new());
    };
    let mut listener = PgListener::connect_with(ctx.acting_pool()).await?;
    listener.listen_all(channels.iter().map(String::as_str)).await?;
    let mut writes = Vec::new();
    for (table, column) in notifying_tables(ctx, &prober.actor.role).await? {
        let marked = format!("t::text LIKE {}", quote_literal(&format!("%tgc{victim_tag}%")));
        let statement = format!(
            "UPDATE {table} SET {column} = {column} WHERE ctid = (SELECT ctid FROM {table} t WHERE {marked} LIMIT 1)",
            table = table.sql(),
            column = quote_ident(&column)
        );
        let Ok(mut tx) = prober.actor.begin(ctx.acting_pool(), &Context::Tenant(victim.clone())).await? else { continue };
        if sqlx::query(&statement).execute(&mut *tx).await.is_ok_and(|done| done.rows_affected() > 0) {
            tx.commit().await?;
            writes.push(statement);
        }
    }
    let mut received: Vec<(String, String)> = Vec::new();
    while let Ok(Ok(notification)) = tokio::time::timeout(WAIT, listener.recv()).await {
        received.push((notification.channel().to_string(), notification.payload().to_string()));
    }
    let mut findings = Vec::new();
    for channel in &channels {
        let markers: Vec<String> = received
            .iter()
            .filter(|(c, _)| c == channel)
            .flat_map(|(_, payload)| MARKER.find_iter(payload).map(|m| m.as_str().to_string()).collect::<Vec<_>>())
            .filter(|m| canaries.foreign(m).is_some())
            .collect();
        if markers.is_empty() {
            continue;
        }
        let seen = Seen {
            count: markers.len() as i64,
            markers: markers.into_iter().take(10).collect(),
            own: 0,
        };
        let statement = format!(
            "LISTEN {};\n-- then, acting as tenant {victim} in another session, a write of its own row that changes nothing:\n{};\nCOMMIT",
            quote_ident(channel),
            writes.join(";\n")
        );
        let what = format!("listening on `{channel}` while tenant {victim} writes its own rows, receives");
        let read = Read { object: format!("channel {channel}"), what, statement, seen };
        findings.push(leak(ctx, prober, canaries, &Context::Tenant(prober.tenants[0].clone()), read));
    }
    Ok(findings)
}

/// Tables with an UPDATE trigger whose function sends notifications, each
/// with a column `role` may update (set to itself).
async fn notifying_tables(ctx: &TierContext<'_>, role: &str) -> Result<Vec<(QualName, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT DISTINCT n.nspname, c.relname,
                (SELECT a.attname::text FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                    AND a.attidentity <> 'a' AND has_column_privilege($1, c.oid, a.attnum, 'UPDATE')
                  ORDER BY a.attnum LIMIT 1)
           FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_proc p ON p.oid = t.tgfoid
          WHERE NOT t.tgisinternal AND t.tgtype & 16 <> 0 AND p.prosrc ~* 'notify'
          ORDER BY 1, 2",
    )
    .bind(role)
    .fetch_all(ctx.pool)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let column: Option<String> = row.get(2);
            Some((
                QualName {
                    schema: row.get(0),
                    name: row.get(1),
                },
                column?,
            ))
        })
        .collect())
}
