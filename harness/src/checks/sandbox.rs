//! Probes that act on the database: a transaction that is never committed.
//! Each attempt runs under a savepoint and is undone; dropping the sandbox
//! rolls everything back, so no probe persists a write.
//!
//! To show that one constraint holds, a probe writes a row that breaks only
//! that constraint. When another constraint refuses the row first (a CHECK
//! or FK the row breaks on the way), [`Sandbox::isolate`] drops that other
//! constraint inside the transaction and tries again: the verdict is then
//! about the constraint under test alone.

use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::tenancy::acting::{self, Actor, Context, Refusal};
use crate::sql::sqlstate;
use crate::catalog::{Catalog, QualName};
use crate::sql::quote_ident;

/// Key of the advisory lock writing probes hold ("tierguard").
pub(crate) const PROBE_LOCK: i64 = 0x7469_6572_6775_6172;
/// Constraints one probe may set aside before giving up.
const MAX_SET_ASIDE: usize = 16;

pub struct Sandbox {
    tx: Transaction<'static, Postgres>,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// The statement ran; its effects stay visible until [`Sandbox::undo`].
    Accepted { rows: u64 },
    Refused(Refusal),
}

impl Sandbox {
    pub async fn open(pool: &PgPool) -> Result<Sandbox, sqlx::Error> {
        let mut tx = pool.begin().await?;
        // One writing probe at a time per database: concurrent audits of the
        // same database (parallel tests, two runs) would otherwise wait on,
        // or deadlock with, each other's uncommitted rows and dropped constraints.
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PROBE_LOCK).execute(&mut *tx).await?;
        // A deferred constraint would only be checked at a commit that never comes.
        sqlx::raw_sql("SET CONSTRAINTS ALL IMMEDIATE").execute(&mut *tx).await?;
        Ok(Sandbox { tx })
    }

    /// The transaction's connection (superuser, or the external user).
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Runs `sql` (with `$1` bound to `arg` as jsonb) under a savepoint,
    /// acting as the application in a tenant's context when `acting` says
    /// so (the role and context end with the savepoint). A refusal is
    /// undone at once; an accepted statement stays visible until
    /// [`Sandbox::undo`], so its effects can be observed.
    pub async fn attempt(&mut self, acting: Option<(&Actor, &Context)>, sql: &str, arg: &Value) -> Result<Outcome, sqlx::Error> {
        // A deadlock with another audit of the database (a reader holding a
        // table this probe must lock) is no outcome: the attempt runs again.
        let met_another = |o: &Outcome| matches!(o, Outcome::Refused(r) if r.is_transient());
        acting::settled(async || self.attempt_once(acting, sql, arg).await, met_another).await
    }

    async fn attempt_once(&mut self, acting: Option<(&Actor, &Context)>, sql: &str, arg: &Value) -> Result<Outcome, sqlx::Error> {
        sqlx::raw_sql("SAVEPOINT probe").execute(&mut *self.tx).await?;
        let entered = match acting {
            Some((actor, context)) => actor.enter(&mut self.tx, context).await?,
            None => Ok(()),
        };
        let result = match entered {
            Ok(()) => match sqlx::query(sql).bind(arg).execute(&mut *self.tx).await {
                Ok(done) => Ok(done.rows_affected()),
                Err(error) => Err(Refusal::from_error(error)?),
            },
            Err(refusal) => Err(refusal),
        };
        match result {
            Ok(rows) => Ok(Outcome::Accepted { rows }),
            Err(refusal) => {
                self.undo().await?;
                Ok(Outcome::Refused(refusal))
            }
        }
    }

    /// Undoes the last accepted attempt.
    pub async fn undo(&mut self) -> Result<(), sqlx::Error> {
        sqlx::raw_sql("ROLLBACK TO SAVEPOINT probe; RELEASE SAVEPOINT probe")
            .execute(&mut *self.tx)
            .await
            .map(drop)
    }

    /// Like [`Sandbox::attempt`], but a refusal by a CHECK or FK other than
    /// `target` (table, constraint) sets that constraint aside (drops it inside this
    /// transaction) and tries again, so the outcome is `target`'s alone.
    /// Returns the outcome and the constraints set aside.
    pub async fn isolate(
        &mut self,
        catalog: &Catalog,
        acting: Option<(&Actor, &Context)>,
        sql: &str,
        arg: &Value,
        target: (&QualName, &str),
    ) -> Result<(Outcome, Vec<String>), sqlx::Error> {
        let mut set_aside = Vec::new();
        loop {
            let outcome = self.attempt(acting, sql, arg).await?;
            let Outcome::Refused(refusal) = &outcome else { return Ok((outcome, set_aside)) };
            // Refusals another constraint may cause.
            let removable = refusal.code == sqlstate::CHECK_VIOLATION || sqlstate::by_reference(&refusal.code);
            let (Some(constraint), Some(table), true) = (&refusal.constraint, &refusal.table, removable) else {
                return Ok((outcome, set_aside));
            };
            if refusal.is_by(catalog, target) || set_aside.len() == MAX_SET_ASIDE {
                return Ok((outcome, set_aside));
            }
            // A partition's constraint is inherited: it can only go on the root.
            let root = catalog.root_of(table);
            let drop = format!("ALTER TABLE {} DROP CONSTRAINT {}", root.sql(), quote_ident(constraint));
            sqlx::raw_sql(&drop).execute(&mut *self.tx).await?;
            set_aside.push(format!("{root}.{constraint}"));
        }
    }
}
