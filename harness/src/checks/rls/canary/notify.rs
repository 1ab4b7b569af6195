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

use super::effects::{self, Triggered};
use super::{leak, Canaries, Covered, Read, Seen};
use crate::canary::SQL_PATTERN;
use crate::checks::rls::act::Context;
use crate::checks::rls::Prober;
use crate::checks::{Finding, TierContext};
use crate::sql::quote_ident;

/// How long A waits for the notifications of B's writes after they commit.
const WAIT: Duration = Duration::from_millis(500);

static CHANNEL: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?i)pg_notify\s*\(\s*'([^']+)'|\bnotify\s+([a-z_][a-z0-9_$]*)").expect("channel pattern"));
static MARKER: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(SQL_PATTERN).expect("marker pattern"));

pub async fn check(ctx: &TierContext<'_>, prober: &Prober, canaries: &Canaries<'_>, triggered: &[Triggered], covered: &mut Covered) -> Result<Vec<Finding>, sqlx::Error> {
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
    let Some((victim, index)) = effects::victim(prober, canaries) else { return Ok(Vec::new()) };
    let mut listener = PgListener::connect_with(ctx.acting_pool()).await?;
    listener.listen_all(channels.iter().map(String::as_str)).await?;
    let mut writes = Vec::new();
    let notifying = triggered.iter().filter(|t| t.notifies);
    for table in notifying {
        let Some(column) = &table.column else { continue };
        let statement = effects::touch(&table.name, column, &canaries.tags[index]);
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
