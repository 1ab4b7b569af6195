//! The `external` backend: existing servers by DSN. Sessions are read-only
//! by default (`default_transaction_read_only`), so nothing tierguard runs
//! can persist a write to a user's database by accident.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use super::{describe, BackendKind, Guard, Server};
use crate::error::{HarnessError, Result};
use crate::scenario::TierSpec;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Connects to `tier`'s server; every session is read-only and, with
/// `statement_timeout`, cancels any statement that runs longer (a probe of
/// a large staging table must not hold the server for hours).
pub async fn connect(tier: &TierSpec, statement_timeout: Option<Duration>) -> Result<Server> {
    let fail = |message: String| HarnessError::Provision {
        tier: tier.name.clone(),
        message,
    };
    let dsn = tier
        .dsn
        .as_deref()
        .ok_or_else(|| fail("no DSN given (--dsn NAME=URL)".into()))?;
    // sqlx's parse errors do not echo the URL, so no password can leak here.
    let options = PgConnectOptions::from_str(dsn)
        .map_err(|e| fail(format!("invalid DSN: {e}")))?
        .options([("default_transaction_read_only", "on")]);
    let options = match statement_timeout {
        Some(limit) => options.options([("statement_timeout", format!("{}ms", limit.as_millis()))]),
        None => options,
    };
    let where_ = describe(&options);
    let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
        .await
        .map_err(|_| fail(format!("cannot connect to {where_}: no answer in {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| fail(format!("cannot connect to {where_}: {e}")))?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let _ = conn.close().await;
    Ok(Server {
        tier: tier.name.clone(),
        backend: BackendKind::External,
        options,
        version,
        password: None,
        _guard: Guard::External,
    })
}
