//! Connecting as the application. On disposable servers tierguard gives the
//! application role a login (a random password, never printed) and the
//! isolation probes and latency queries connect as it, as the application
//! does: `session_user` is the app role, and a policy or function that
//! reads it is probed faithfully. External servers are never altered:
//! there the probes take the role with `SET LOCAL ROLE` on the given
//! connection, as do the integrity probes everywhere (they prepare their
//! case as superuser in the same transaction).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::sync::Mutex;

use crate::provision::disposable_password;
use crate::sql::{quote_ident, quote_literal};

/// Connections of one tier's application pool: as many as the isolation
/// probes use at once (the tables read at once, and the writing probes).
/// Every further connection is one more backend that loads the catalog and
/// policies of every table again.
const CONNECTIONS: u32 = super::rls::CONCURRENT_READERS as u32 + 1;

/// A pool logged in as `role` on the server and database of `admin` (a
/// superuser pool), or None when the server refuses (the caller then
/// acts with `SET LOCAL ROLE`).
pub async fn app_pool(admin: &PgPool, role: &str) -> Option<PgPool> {
    let password = password_for(admin, role).await?;
    let options = admin.connect_options().as_ref().clone().username(role).password(&password);
    match PgPoolOptions::new()
        .max_connections(CONNECTIONS)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
    {
        Ok(pool) => Some(pool),
        Err(e) => {
            tracing::warn!("cannot log in as {role}: {e}; acting with SET LOCAL ROLE instead");
            None
        }
    }
}

/// The role's password on this server, set once per server and process:
/// roles belong to the server, and audits of several databases on one
/// server (the tests' clones) share it; concurrent ALTER ROLEs of one role
/// would fail.
async fn password_for(admin: &PgPool, role: &str) -> Option<String> {
    type Passwords = Mutex<BTreeMap<(String, u16, String), String>>;
    static PASSWORDS: OnceLock<Passwords> = OnceLock::new();
    let options = admin.connect_options();
    let key = (options.get_host().to_string(), options.get_port(), role.to_string());
    let mut passwords = PASSWORDS.get_or_init(Default::default).lock().await;
    if let Some(password) = passwords.get(&key) {
        return Some(password.clone());
    }
    let password = disposable_password();
    let sql = format!("ALTER ROLE {} LOGIN PASSWORD {}", quote_ident(role), quote_literal(&password));
    if let Err(e) = sqlx::raw_sql(&sql).execute(admin).await {
        tracing::warn!("cannot give {role} a login: {e}; acting with SET LOCAL ROLE instead");
        return None;
    }
    passwords.insert(key, password.clone());
    Some(password)
}
