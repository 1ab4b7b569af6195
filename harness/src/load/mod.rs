//! Applies a tier's schema and fixed-row files, statement by statement, as
//! the superuser, in the order their migration layout gives (`layout`).
//! What commonly stops a real schema from loading is met here (`obstacles`):
//! roles it grants to but never creates, extensions the server lacks. A
//! statement that still fails names the tier, file, line, the statement and
//! the server's words; with `--keep-going` it is recorded and the rest loads.

mod layout;
mod obstacles;
mod origins;
mod split;

use std::path::Path;

use sqlx::postgres::{PgDatabaseError, PgErrorPosition};
use sqlx::PgConnection;

use crate::error::{HarnessError, Result};
use crate::scenario::Loading;

pub use layout::{data, schema, Files, Folder, Source};
pub use obstacles::{check_stubs, AUTH_STUB};
pub use origins::{Origin, Origins};
pub use split::{statements, Statement};

/// What loading a tier's schema took beyond its own statements.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Supabase's `auth` schema stand-in was installed first.
    pub auth_stub: bool,
    /// Roles the schema refers to but never creates, created NOLOGIN.
    pub created_roles: Vec<String>,
    /// Extensions replaced by a stand-in (`--stub-extension`).
    pub stubbed: Vec<String>,
    /// Statements left out because they need what a stand-in lacks (an
    /// index access method of the stubbed extension).
    pub skipped: Vec<Failure>,
    /// With `--keep-going`: the statements that failed.
    pub failed: Vec<Failure>,
    /// Where each table, view and function was created.
    pub origins: Origins,
}

/// A statement that did not load.
#[derive(Debug, Clone)]
pub struct Failure {
    pub file: String,
    pub line: usize,
    /// The statement's first line.
    pub statement: String,
    pub message: String,
}

/// Applies a tier's schema files. The stand-ins and created roles are in
/// the answer, so the run can say what it did to make the schema load.
/// `advice` says how to get a missing extension on the server in use.
pub async fn apply_schema(conn: &mut PgConnection, tier: &str, files: &Files, loading: &Loading, advice: &dyn Fn(&str) -> String) -> Result<Loaded> {
    let mut loaded = Loaded { auth_stub: obstacles::install_auth_stub(conn, tier, files).await?, ..Loaded::default() };
    let mut obstacles = obstacles::Obstacles::new(loading, advice);
    for source in &files.sources {
        for statement in statements(&source.text) {
            let error = match obstacles.run(conn, &statement, &mut loaded).await {
                Ok(obstacles::Ran::Done) => {
                    loaded.origins.note(&source.path.display().to_string(), statement.line, statement.sql);
                    continue;
                }
                Ok(obstacles::Ran::Skipped(why)) => {
                    let Failure { file, line, statement, .. } = describe(&source.path, &statement);
                    loaded.skipped.push(Failure { file, line, statement, message: why });
                    continue;
                }
                Err(error) => error,
            };
            let failure = describe_error(&source.path, &statement, &error);
            if !loading.keep_going {
                return Err(HarnessError::Sql {
                    tier: tier.to_string(),
                    file: failure.file,
                    line: Some(failure.line),
                    message: format!(
                        "{}\n  in the statement: {}\n  (--keep-going loads the rest and reports each failing statement as load.statement)",
                        obstacles.explain(&error, failure.message),
                        failure.statement
                    ),
                });
            }
            // A failure inside the file's own BEGIN ... COMMIT leaves the
            // transaction aborted: end it, so the statements after it load.
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
            loaded.failed.push(Failure { message: obstacles.explain(&error, failure.message.clone()), ..failure });
        }
    }
    Ok(loaded)
}

/// Runs every statement of every file, in order, each in its own implicit
/// transaction (as psql does without --single-transaction); the first
/// error stops.
pub async fn apply(conn: &mut PgConnection, tier: &str, files: &Files) -> Result<()> {
    for source in &files.sources {
        apply_script(conn, tier, &source.path, &source.text).await?;
    }
    Ok(())
}

pub async fn apply_script(conn: &mut PgConnection, tier: &str, file: &Path, script: &str) -> Result<()> {
    for statement in statements(script) {
        if let Err(error) = execute(conn, &statement).await {
            let failure = describe_error(file, &statement, &error);
            return Err(HarnessError::Sql {
                tier: tier.to_string(),
                file: failure.file,
                line: Some(failure.line),
                message: format!("{}\n  in the statement: {}", failure.message, failure.statement),
            });
        }
    }
    Ok(())
}

async fn execute(conn: &mut PgConnection, statement: &Statement<'_>) -> std::result::Result<(), sqlx::Error> {
    match statement.rows {
        Some(rows) => copy_in(conn, statement.sql, rows).await,
        None => sqlx::raw_sql(statement.sql).execute(&mut *conn).await.map(drop),
    }
}

/// `COPY ... FROM stdin` with the rows the script holds after it.
async fn copy_in(conn: &mut PgConnection, sql: &str, rows: &str) -> std::result::Result<(), sqlx::Error> {
    let mut copy = conn.copy_in_raw(sql).await?;
    copy.send(rows.as_bytes()).await?;
    copy.finish().await.map(drop)
}

/// The statement's place and first line (comments skipped).
fn describe(file: &Path, statement: &Statement<'_>) -> Failure {
    let first_line = statement.sql.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with("--")).unwrap_or("");
    Failure { file: file.display().to_string(), line: statement.line, statement: first_line.to_string(), message: String::new() }
}

/// Where in the file the error is, the statement's first line, and the
/// server's message with its detail, hint and context.
fn describe_error(file: &Path, statement: &Statement<'_>, error: &sqlx::Error) -> Failure {
    let mut failure = Failure { message: error.to_string(), ..describe(file, statement) };
    let Some(db) = error.as_database_error() else {
        return failure;
    };
    let pg = db.try_downcast_ref::<PgDatabaseError>();
    let offset = pg.and_then(|pg| match pg.position() {
        // 1-based character position inside the statement we sent.
        Some(PgErrorPosition::Original(position)) => Some(position),
        _ => None,
    });
    if let Some(position) = offset {
        let before: String = statement.sql.chars().take(position.saturating_sub(1)).collect();
        failure.line = statement.line + before.matches('\n').count();
    }
    let mut message = format!("ERROR: {}", db.message());
    if let Some(pg) = pg {
        if let Some(detail) = pg.detail() {
            message.push_str(&format!(" (DETAIL: {detail})"));
        }
        if let Some(hint) = pg.hint() {
            message.push_str(&format!(" (HINT: {hint})"));
        }
        if let Some(PgErrorPosition::Internal { query, .. }) = pg.position() {
            message.push_str(&format!(" (in: {query})"));
        }
        if let Some(context) = pg.r#where() {
            message.push_str(&format!(" (CONTEXT: {})", context.lines().next().unwrap_or("")));
        }
    }
    failure.message = message;
    failure
}
