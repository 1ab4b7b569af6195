//! Triggers that make every seeded row fail: an audit trigger reading a
//! setting the application sets but seeding never does, a notification to
//! a queue that does not exist. The seeder finds them by experiment (a
//! table's COPY fails; with its insert triggers off it loads), loads that
//! table with them off, turns them back on as they were, and says which
//! they were and why, so the probes meet the schema as it is.

use sqlx::PgConnection;

use crate::sql::{quote_ident, QualName};

/// A table seeded with its insert triggers off because with them on no
/// row could be.
#[derive(Debug, Clone)]
pub struct BrokenTrigger {
    pub tier: String,
    pub table: QualName,
    pub triggers: Vec<String>,
    /// What the server said when the triggers were on.
    pub error: String,
}

impl BrokenTrigger {
    pub(super) fn new(tier: &str, table: QualName, switched: SwitchedOff) -> BrokenTrigger {
        BrokenTrigger {
            tier: tier.to_string(),
            table,
            triggers: switched.triggers.into_iter().map(|t| t.name).collect(),
            error: switched.error,
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "seeding {} failed in its trigger(s) {} ({}): seeded it with them off",
            self.table,
            self.triggers.join(", "),
            self.error
        )
    }
}

/// A user trigger and how it is enabled (`O` origin, `A` always), to be
/// put back as it was.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct Trigger {
    name: String,
    enabled: String,
}

/// A table of the seeding plan loaded with these triggers off, and what
/// the server said when they were on.
pub(super) struct SwitchedOff {
    pub index: usize,
    pub triggers: Vec<Trigger>,
    pub error: String,
}

/// The user triggers that fire on a table's inserts.
pub(super) async fn firing_on_insert(conn: &mut PgConnection, table: &str) -> Result<Vec<Trigger>, sqlx::Error> {
    // tgtype bit 2 (value 4): fires on INSERT (pg_trigger.h, TRIGGER_TYPE_INSERT).
    sqlx::query_as(
        "SELECT tgname::text AS name, tgenabled::text AS enabled FROM pg_trigger \
         WHERE tgrelid = $1::regclass AND NOT tgisinternal AND tgenabled IN ('O', 'A') AND tgtype & 4 <> 0 ORDER BY tgname",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await
}

/// Turns the triggers off, inside the seeding transaction.
pub(super) async fn pause(conn: &mut PgConnection, table: &str, triggers: &[Trigger]) -> Result<(), sqlx::Error> {
    for trigger in triggers {
        sqlx::raw_sql(&format!("ALTER TABLE {table} DISABLE TRIGGER {}", quote_ident(&trigger.name))).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Puts the triggers back as they were.
pub(super) async fn resume(conn: &mut PgConnection, table: &str, triggers: &[Trigger]) -> Result<(), sqlx::Error> {
    for trigger in triggers {
        let how = if trigger.enabled == "A" { "ENABLE ALWAYS" } else { "ENABLE" };
        sqlx::raw_sql(&format!("ALTER TABLE {table} {how} TRIGGER {}", quote_ident(&trigger.name))).execute(&mut *conn).await?;
    }
    Ok(())
}
