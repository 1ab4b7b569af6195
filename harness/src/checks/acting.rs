//! Acting as the application: the one place that takes the application role
//! and sets the tenant context the way the application does (`[tenancy]
//! context`: `set_config(..., true)`, a session `SET`, or the schema's own
//! function). The isolation probes, the writing integrity probes (sandbox)
//! and the pooled-connection probe all act through [`Actor::enter`], so
//! every probe sees the tenant exactly as the application sets it.

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgDatabaseError;
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};

use crate::catalog::{Catalog, QualName};
use crate::checks::TierContext;
use crate::sql::{quote_ident, quote_literal};
use crate::scenario::ContextMechanism;

/// The tenant context a probe runs under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Context {
    Tenant(String),
    /// The setting set to the empty string.
    Empty,
    /// The setting never set in this session.
    Unset,
}

impl Context {
    pub fn describe(&self) -> String {
        match self {
            Context::Tenant(t) => format!("tenant {t}"),
            Context::Empty => "an empty tenant setting".into(),
            Context::Unset => "no tenant setting".into(),
        }
    }
}

/// Who the probes act as, and how the application sets its tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Actor {
    pub role: String,
    /// The setting the policies read.
    pub guc: String,
    #[serde(default)]
    pub mechanism: ContextMechanism,
}

/// SQLSTATEs of meeting another transaction: deadlock, serialization
/// failure, lock wait given up.
const TRANSIENT: [&str; 3] = ["40P01", "40001", "55P03"];
/// Times a probe or read runs when it keeps meeting another transaction.
pub const ATTEMPTS: usize = 3;

/// Runs `run` again while it only met another transaction (a concurrent
/// probe or audit of the same database): a result `met_another` says so,
/// or such a server error. Up to [`ATTEMPTS`] times; the last answer stands.
pub async fn settled<T>(
    mut run: impl AsyncFnMut() -> Result<T, sqlx::Error>,
    met_another: impl Fn(&T) -> bool,
) -> Result<T, sqlx::Error> {
    for _ in 1..ATTEMPTS {
        match run().await {
            Ok(done) if met_another(&done) => continue,
            Err(sqlx::Error::Database(e)) if e.code().is_some_and(|c| TRANSIENT.contains(&c.as_ref())) => continue,
            done => return done,
        }
    }
    run().await
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

impl Actor {
    /// The application as the tier's tenancy and the scenario describe it;
    /// None when no app role or tenant setting is given or inferred.
    pub fn of(ctx: &TierContext<'_>) -> Option<Actor> {
        Some(Actor {
            role: ctx.tenancy.app_role.clone()?,
            guc: ctx.tenancy.guc(ctx.tier())?.to_string(),
            mechanism: ctx.scenario.tenancy.context.clone(),
        })
    }

    /// The statements that take the role and set `context`. Run in a
    /// transaction (or savepoint), all of it ends with it — except what a
    /// session-scoped mechanism leaves behind when that transaction commits.
    pub fn statements(&self, context: &Context) -> Vec<String> {
        let role = format!("SET LOCAL ROLE {}", quote_ident(&self.role));
        let set_config = |value: &str, local: bool| {
            format!(
                "SELECT set_config({}, {}, {local})",
                quote_literal(&self.guc),
                quote_literal(value)
            )
        };
        let context = match (context, &self.mechanism) {
            (Context::Tenant(t), ContextMechanism::Local) => set_config(t, true),
            (Context::Tenant(t), ContextMechanism::Session) => set_config(t, false),
            // An untyped literal: it takes the argument type the function declares.
            (Context::Tenant(t), ContextMechanism::Function(function)) => {
                format!("SELECT {}({})", function.sql(), quote_literal(t))
            }
            // An empty setting is a state of the connection, however the
            // application usually fills it.
            (Context::Empty, _) => set_config("", true),
            (Context::Unset, _) => return vec![role],
        };
        vec![role, context]
    }

    /// Takes the role and sets the context in the open transaction (or
    /// savepoint) on `conn`, in one round trip. The server refusing (a
    /// context function that rejects an unknown tenant) is a refusal, not
    /// an error.
    pub async fn enter(
        &self,
        conn: &mut PgConnection,
        context: &Context,
    ) -> Result<Result<(), Refusal>, sqlx::Error> {
        match sqlx::raw_sql(&self.statements(context).join("; "))
            .execute(conn)
            .await
        {
            Ok(_) => Ok(Ok(())),
            Err(error) => Refusal::from_error(error).map(Err),
        }
    }

    /// Opens a transaction on a pooled connection and enters `context` in
    /// it: BEGIN, the role and the context in one round trip.
    pub async fn begin(
        &self,
        pool: &PgPool,
        context: &Context,
    ) -> Result<Result<Transaction<'static, Postgres>, Refusal>, sqlx::Error> {
        match pool.begin_with(self.opening(context)).await {
            Ok(tx) => Ok(Ok(tx)),
            Err(error) => Refusal::from_error(error).map(Err),
        }
    }

    /// [`Actor::begin`] on a connection the caller holds (to use it again).
    pub async fn begin_on<'c>(
        &self,
        conn: &'c mut PgConnection,
        context: &Context,
    ) -> Result<Result<Transaction<'c, Postgres>, Refusal>, sqlx::Error> {
        match conn.begin_with(self.opening(context)).await {
            Ok(tx) => Ok(Ok(tx)),
            Err(error) => Refusal::from_error(error).map(Err),
        }
    }

    fn opening(&self, context: &Context) -> String {
        format!("BEGIN; {}", self.statements(context).join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(mechanism: ContextMechanism) -> Actor {
        Actor {
            role: "app".into(),
            guc: "app.tenant".into(),
            mechanism,
        }
    }

    #[test]
    fn each_mechanism_enters_a_tenant_its_own_way() {
        let tenant = Context::Tenant("o'brien".into());
        let function = ContextMechanism::Function(QualName {
            schema: "app".into(),
            name: "set_tenant".into(),
        });
        assert_eq!(
            actor(ContextMechanism::Local).statements(&tenant),
            [
                "SET LOCAL ROLE \"app\"",
                "SELECT set_config('app.tenant', 'o''brien', true)"
            ]
        );
        assert_eq!(
            actor(ContextMechanism::Session).statements(&tenant)[1],
            "SELECT set_config('app.tenant', 'o''brien', false)"
        );
        assert_eq!(
            actor(function.clone()).statements(&tenant)[1],
            "SELECT \"app\".\"set_tenant\"('o''brien')"
        );
        // No tenant and an empty one are states of the setting, whatever the mechanism.
        assert_eq!(
            actor(function.clone()).statements(&Context::Unset),
            ["SET LOCAL ROLE \"app\""]
        );
        assert_eq!(
            actor(function).statements(&Context::Empty)[1],
            "SELECT set_config('app.tenant', '', true)"
        );
    }
}
