//! What stops real schemas from loading on a fresh server, and the way past
//! it: roles the schema grants to but never creates (created NOLOGIN, as
//! the platform that runs the schema would have them), Supabase's `auth`
//! schema (a stand-in), and extensions the server lacks (named with how to
//! get them, or replaced by a stand-in with `--stub-extension`).

use regex::Regex;
use sqlx::PgConnection;

use super::{execute, Files, Loaded, Statement};
use crate::error::{HarnessError, Result};
use crate::scenario::Loading;
use crate::sql::quote_ident;

/// Supabase's `auth` schema stand-in.
pub const AUTH_STUB: &str = include_str!("stubs/auth.sql");

/// An extension tierguard can stand in for.
struct Stub {
    extension: &'static str,
    /// Its script; `@extschema@` is the schema it goes into.
    sql: &'static str,
    /// The types it defines: a schema that uses one without creating the
    /// extension (a platform that preinstalls it) gets the stand-in too.
    types: &'static [&'static str],
    /// Index access methods it brings, which a stand-in cannot: indexes
    /// using them are left out, and listed.
    access_methods: &'static [&'static str],
}

const STUBS: &[Stub] = &[Stub {
    extension: "vector",
    sql: include_str!("stubs/vector.sql"),
    types: &["vector"],
    access_methods: &["hnsw", "ivfflat"],
}];

/// Every `--stub-extension` names an extension tierguard has a stand-in for.
pub fn check_stubs(names: &[String]) -> Result<()> {
    for name in names {
        if !STUBS.iter().any(|s| s.extension == name) {
            let known: Vec<&str> = STUBS.iter().map(|s| s.extension).collect();
            return Err(HarnessError::input(format!(
                "--stub-extension {name}: tierguard has no stand-in for it (it has: {}); install the extension on the server instead",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// Installs the `auth` stand-in when the schema uses Supabase's `auth.*`
/// (`auth.uid()`, `auth.jwt()`, `auth.role()`, `auth.users`) and neither
/// creates the `auth` schema nor finds one.
pub(super) async fn install_auth_stub(conn: &mut PgConnection, tier: &str, files: &Files) -> Result<bool> {
    let uses = Regex::new(r"\bauth\.(?:uid|jwt|role)\s*\(|\bauth\.users\b").expect("valid regex");
    let creates = Regex::new(r#"(?i)\bcreate\s+schema\s+(?:if\s+not\s+exists\s+)?"?auth"?[\s;]"#).expect("valid regex");
    // A comment saying the schema does not use auth.uid() is no use of it.
    let comment = Regex::new(r"--[^\n]*|(?s)/\*.*?\*/").expect("valid regex");
    let code: Vec<String> = files.sources.iter().map(|s| comment.replace_all(&s.text, "").into_owned()).collect();
    let needs_stub = code.iter().any(|t| uses.is_match(t)) && !code.iter().any(|t| creates.is_match(t));
    if !needs_stub {
        return Ok(false);
    }
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth')")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| HarnessError::database(tier, e))?;
    if exists {
        return Ok(false);
    }
    super::apply_script(conn, tier, std::path::Path::new("(tierguard's auth stub)"), AUTH_STUB).await?;
    Ok(true)
}

/// How a statement ended when it did not fail.
pub(super) enum Ran {
    Done,
    /// Left out: it needs an access method of a stubbed extension.
    Skipped(String),
}

/// Runs statements past the obstacles it knows, remembering what it did.
pub(super) struct Obstacles<'a> {
    loading: &'a Loading,
    advice: &'a dyn Fn(&str) -> String,
    installed: Vec<&'static Stub>,
}

/// The most roles one statement may need created (a GRANT to a list).
const ROLES_PER_STATEMENT: usize = 32;

impl<'a> Obstacles<'a> {
    pub fn new(loading: &'a Loading, advice: &'a dyn Fn(&str) -> String) -> Self {
        Obstacles { loading, advice, installed: Vec::new() }
    }

    pub async fn run(&mut self, conn: &mut PgConnection, statement: &Statement<'_>, loaded: &mut Loaded) -> std::result::Result<Ran, sqlx::Error> {
        let mut roles = 0;
        loop {
            let Err(error) = execute(conn, statement).await else {
                return Ok(Ran::Done);
            };
            let message = server_message(&error);
            if let Some(role) = capture(r#"^role "([^"]+)" does not exist$"#, &message).filter(|_| roles < ROLES_PER_STATEMENT) {
                sqlx::raw_sql(&format!("CREATE ROLE {} NOLOGIN", quote_ident(&role))).execute(&mut *conn).await?;
                loaded.created_roles.push(role);
                roles += 1;
                continue;
            }
            if let Some(stub) = missing_extension(&message).and_then(|name| self.wanted(&name)) {
                if !self.is_installed(stub) {
                    let schema = capture(r#"(?i)\bschema\s+("[^"]+"|[\w$]+)"#, statement.sql).unwrap_or_else(|| "public".to_string());
                    self.install(conn, stub, &schema, loaded).await?;
                }
                return Ok(Ran::Done);
            }
            let missing_type = capture(r#"^type "(?:[^".]+\.)?([^"]+)" does not exist$"#, &message);
            if let Some(stub) = missing_type.and_then(|t| STUBS.iter().find(|s| s.types.contains(&t.as_str()))).and_then(|s| self.wanted(s.extension)) {
                if !self.is_installed(stub) {
                    self.install(conn, stub, "public", loaded).await?;
                    continue;
                }
            }
            if let Some(method) = capture(r#"^access method "([^"]+)" does not exist$"#, &message) {
                if let Some(stub) = self.installed.iter().find(|s| s.access_methods.contains(&method.as_str())) {
                    return Ok(Ran::Skipped(format!(
                        "uses the index method {method} of {}, which its stand-in does not have",
                        stub.extension
                    )));
                }
            }
            return Err(error);
        }
    }

    /// The server's message, with the way out when it is a missing extension.
    pub fn explain(&self, error: &sqlx::Error, message: String) -> String {
        let Some(name) = missing_extension(&server_message(error)) else {
            return message;
        };
        let mut out = format!("{message}\n  the extension `{name}` is not installed: {}", (self.advice)(&name));
        if STUBS.iter().any(|s| s.extension == name) {
            out.push_str(&format!(
                "\n  or run with --stub-extension {name}: a stand-in for an audit that does not depend on it"
            ));
        }
        out
    }

    fn wanted(&self, extension: &str) -> Option<&'static Stub> {
        STUBS.iter().find(|s| s.extension == extension && self.loading.stub_extensions.iter().any(|n| n == extension))
    }

    fn is_installed(&self, stub: &Stub) -> bool {
        self.installed.iter().any(|s| s.extension == stub.extension)
    }

    async fn install(&mut self, conn: &mut PgConnection, stub: &'static Stub, schema: &str, loaded: &mut Loaded) -> std::result::Result<(), sqlx::Error> {
        sqlx::raw_sql(&stub.sql.replace("@extschema@", schema)).execute(&mut *conn).await?;
        self.installed.push(stub);
        loaded.stubbed.push(stub.extension.to_string());
        Ok(())
    }
}

/// The extension a CREATE EXTENSION could not find (PostgreSQL 15 names
/// its control file; 16 and later say "is not available").
fn missing_extension(message: &str) -> Option<String> {
    capture(r#"extension control file "[^"]*/([^/"]+)\.control""#, message).or_else(|| capture(r#"^extension "([^"]+)" is not available"#, message))
}

fn server_message(error: &sqlx::Error) -> String {
    error.as_database_error().map(|e| e.message().to_string()).unwrap_or_default()
}

fn capture(pattern: &str, text: &str) -> Option<String> {
    let re = Regex::new(pattern).expect("valid regex");
    re.captures(text).map(|c| c[1].trim_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_extension_is_named_on_every_version() {
        let pg15 = r#"could not open extension control file "/usr/share/postgresql/15/extension/vector.control": No such file or directory"#;
        assert_eq!(missing_extension(pg15).as_deref(), Some("vector"));
        assert_eq!(missing_extension(r#"extension "postgis" is not available"#).as_deref(), Some("postgis"));
        assert_eq!(missing_extension(r#"relation "x" does not exist"#), None);
    }

    #[test]
    fn only_known_stand_ins_are_accepted() {
        assert!(check_stubs(&["vector".to_string()]).is_ok());
        let err = check_stubs(&["postgis".to_string()]).expect_err("no stand-in");
        assert!(err.to_string().contains("has: vector"), "{err}");
    }
}
