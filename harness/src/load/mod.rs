//! Applies a tier's schema and fixed-row files, statement by statement, as
//! the superuser. An error names the tier, file, line and the server's words.

mod split;

use std::path::{Path, PathBuf};

use regex::Regex;
use sqlx::postgres::{PgDatabaseError, PgErrorPosition};
use sqlx::PgConnection;

use crate::error::{HarnessError, Result};

pub use split::{statements, Statement};

/// `.sql` files in the order they apply: a folder contributes its `.sql`
/// files sorted by name.
pub fn expand(tier: &str, paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let missing = |e: std::io::Error| HarnessError::Sql {
            tier: tier.to_string(),
            file: path.display().to_string(),
            line: None,
            message: format!("cannot read: {e}"),
        };
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(missing)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "sql"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(missing(std::io::Error::other("folder holds no .sql file")));
            }
            files.extend(found);
        } else {
            std::fs::metadata(path).map_err(missing)?;
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Supabase's `auth` schema stand-in (`auth_stub.sql`).
pub const AUTH_STUB: &str = include_str!("auth_stub.sql");

/// Applies a tier's schema files. When they use Supabase's `auth.*`
/// (`auth.uid()`, `auth.jwt()`, `auth.role()`, `auth.users`) and neither
/// create the `auth` schema nor find one, a stand-in is installed first
/// (`auth_stub.sql`); the answer says whether it was, so the run can say so.
pub async fn apply_schema(conn: &mut PgConnection, tier: &str, files: &[PathBuf]) -> Result<bool> {
    let mut texts = Vec::new();
    for file in files {
        texts.push(std::fs::read_to_string(file).unwrap_or_default());
    }
    let uses = Regex::new(r"\bauth\.(?:uid|jwt|role)\s*\(|\bauth\.users\b").expect("valid regex");
    let creates = Regex::new(r#"(?i)\bcreate\s+schema\s+(?:if\s+not\s+exists\s+)?"?auth"?[\s;]"#).expect("valid regex");
    let needs_stub = texts.iter().any(|t| uses.is_match(t)) && !texts.iter().any(|t| creates.is_match(t));
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth')")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| HarnessError::database(tier, e))?;
    let install = needs_stub && !exists;
    if install {
        apply_script(conn, tier, Path::new("(tierguard's auth stub)"), AUTH_STUB).await?;
    }
    apply(conn, tier, files).await?;
    Ok(install)
}

/// Runs every statement of every file, in order, each in its own implicit
/// transaction (as psql does without --single-transaction).
pub async fn apply(conn: &mut PgConnection, tier: &str, files: &[PathBuf]) -> Result<()> {
    for file in files {
        let script = std::fs::read_to_string(file).map_err(|e| HarnessError::Sql {
            tier: tier.to_string(),
            file: file.display().to_string(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        apply_script(conn, tier, file, &script).await?;
    }
    Ok(())
}

pub async fn apply_script(conn: &mut PgConnection, tier: &str, file: &Path, script: &str) -> Result<()> {
    for statement in statements(script) {
        let done = match statement.rows {
            Some(rows) => copy_in(conn, statement.sql, rows).await,
            None => sqlx::raw_sql(statement.sql).execute(&mut *conn).await.map(drop),
        };
        if let Err(error) = done {
            let (line, message) = describe_error(&statement, &error);
            return Err(HarnessError::Sql {
                tier: tier.to_string(),
                file: file.display().to_string(),
                line: Some(line),
                message,
            });
        }
    }
    Ok(())
}

/// `COPY ... FROM stdin` with the rows the script holds after it.
async fn copy_in(conn: &mut PgConnection, sql: &str, rows: &str) -> std::result::Result<(), sqlx::Error> {
    let mut copy = conn.copy_in_raw(sql).await?;
    copy.send(rows.as_bytes()).await?;
    copy.finish().await.map(drop)
}

/// The line of the error inside the file, and the server's message.
fn describe_error(statement: &Statement<'_>, error: &sqlx::Error) -> (usize, String) {
    let Some(db) = error.as_database_error() else {
        return (statement.line, error.to_string());
    };
    let pg = db.try_downcast_ref::<PgDatabaseError>();
    let offset = pg.and_then(|pg| match pg.position() {
        // 1-based character position inside the statement we sent.
        Some(PgErrorPosition::Original(position)) => Some(position),
        _ => None,
    });
    let line = offset
        .map(|position| {
            let before: String = statement.sql.chars().take(position.saturating_sub(1)).collect();
            statement.line + before.matches('\n').count()
        })
        .unwrap_or(statement.line);
    let mut message = format!("ERROR: {}", db.message());
    if let Some(pg) = pg {
        if let Some(detail) = pg.detail() {
            message.push_str(&format!(" (DETAIL: {detail})"));
        }
        if let Some(PgErrorPosition::Internal { query, .. }) = pg.position() {
            message.push_str(&format!(" (in: {query})"));
        }
        if let Some(context) = pg.r#where() {
            message.push_str(&format!(" (CONTEXT: {})", context.lines().next().unwrap_or("")));
        }
    }
    (line, message)
}
