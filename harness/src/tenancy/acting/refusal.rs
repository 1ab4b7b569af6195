//! Why the server refused a probe's statement, and running a probe again
//! when it only met another transaction.

use sqlx::postgres::PgDatabaseError;

use crate::catalog::{Catalog, QualName};
use crate::sql::sqlstate::TRANSIENT;

/// Times a probe or read runs when it keeps meeting another transaction.
pub const ATTEMPTS: u32 = 6;

/// Runs `run` again while it only met another transaction (a concurrent
/// probe or audit of the same database): a result `met_another` says so,
/// or such a server error. Up to [`ATTEMPTS`] times; the last answer stands.
///
/// Between attempts it waits, twice as long each time and by a random
/// share more: two audits whose probes deadlock keep meeting if both try
/// again at once, and a reader that is busy with the tables a probe
/// locks is usually done within a second or two.
pub async fn settled<T>(
    mut run: impl AsyncFnMut() -> Result<T, sqlx::Error>,
    met_another: impl Fn(&T) -> bool,
) -> Result<T, sqlx::Error> {
    for attempt in 1..ATTEMPTS {
        match run().await {
            Ok(done) if met_another(&done) => {}
            Err(sqlx::Error::Database(e)) if e.code().is_some_and(|c| TRANSIENT.contains(&c.as_ref())) => {}
            done => return done,
        }
        tokio::time::sleep(backoff(attempt)).await;
    }
    run().await
}

/// The wait after the `attempt`th try: 50 ms, 100 ms, 200 ms, ... each up
/// to twice that.
fn backoff(attempt: u32) -> std::time::Duration {
    let base = 50u64 << (attempt - 1);
    std::time::Duration::from_millis(base + rand::random_range(0..=base))
}

/// Why the server refused a statement.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: String,
    pub message: String,
    pub constraint: Option<String>,
    /// The table the server names (a partition, for partitioned tables).
    pub table: Option<QualName>,
    /// Where it happened, when in a function or trigger (`PL/pgSQL
    /// function f() line 3 at RAISE`).
    pub context: Option<String>,
    /// The column the server names (a NOT NULL violation).
    pub column: Option<String>,
}

impl Refusal {
    /// A server error as a refusal; anything else (the connection died) is
    /// our problem and stays an error.
    pub fn from_error(error: sqlx::Error) -> Result<Refusal, sqlx::Error> {
        let sqlx::Error::Database(db) = error else {
            return Err(error);
        };
        let pg = db.try_downcast_ref::<PgDatabaseError>();
        Ok(Refusal {
            code: db.code().map(|c| c.into_owned()).unwrap_or_default(),
            message: db.message().to_string(),
            constraint: db.constraint().map(str::to_string),
            context: pg.and_then(|pg| pg.r#where()).map(str::to_string),
            column: pg.and_then(|pg| pg.column()).map(str::to_string),
            table: pg.and_then(|pg| {
                Some(QualName {
                    schema: pg.schema()?.to_string(),
                    name: pg.table()?.to_string(),
                })
            }),
        })
    }

    /// A deadlock or a lock wait given up: the probe met another
    /// transaction (a concurrent probe or audit), not a verdict; run it again.
    pub fn is_transient(&self) -> bool {
        TRANSIENT.contains(&self.code.as_str())
    }

    /// Whether `target` (table, constraint) is what refused.
    pub fn is_by(&self, catalog: &Catalog, target: (&QualName, &str)) -> bool {
        let table = self
            .table
            .as_ref()
            .map(|t| catalog.root_of(t));
        table.as_ref() == Some(target.0) && self.constraint.as_deref() == Some(target.1)
    }
}

