//! Which schema statement created each table, view and function: the file
//! and line a finding about that object points at (SARIF locations, GitHub
//! annotations), read from the statements as they load.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;

/// Where an object was created.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

/// A tier's objects (`schema.name`) and where each was created; the first
/// file loaded stands for objects created elsewhere.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Origins {
    created: BTreeMap<String, Origin>,
    first_file: Option<String>,
}

impl Origins {
    /// Notes the object `sql` creates, if it creates one.
    pub fn note(&mut self, file: &str, line: usize, sql: &str) {
        self.first_file.get_or_insert_with(|| file.to_string());
        if let Some(name) = created(sql) {
            self.created.entry(name).or_insert(Origin { file: file.to_string(), line });
        }
    }

    /// Where a finding's object comes from: the object itself, else the
    /// object it belongs to (`schema.table.column` → `schema.table`), a
    /// `file:line` as it is, else line 1 of the tier's first file.
    pub fn of(&self, object: &str) -> Option<Origin> {
        if let Some((file, line)) = object.rsplit_once(':').and_then(|(f, l)| Some((f, l.parse().ok()?))) {
            return Some(Origin { file: file.to_string(), line });
        }
        let mut name = object;
        loop {
            if let Some(origin) = self.created.get(name) {
                return Some(origin.clone());
            }
            match name.rsplit_once('.') {
                Some((owner, _)) => name = owner,
                None => break,
            }
        }
        self.first_file.as_ref().map(|file| Origin { file: file.clone(), line: 1 })
    }
}

/// `schema.name` of the table, view or function a statement creates
/// (unqualified names are in `public`, as on a fresh server).
fn created(sql: &str) -> Option<String> {
    static CREATE: OnceLock<Regex> = OnceLock::new();
    let create = CREATE.get_or_init(|| {
        let name = r#"((?:"[^"]+"|[\w$]+)(?:\s*\.\s*(?:"[^"]+"|[\w$]+))?)"#;
        Regex::new(&format!(
            r"(?is)^\s*create\s+(?:or\s+replace\s+)?(?:(?:global|local)\s+)?(?:temp\s+|temporary\s+|unlogged\s+)?(?:materialized\s+)?(?:table|view|function|procedure)\s+(?:if\s+not\s+exists\s+)?{name}"
        ))
        .expect("valid regex")
    });
    let name = create.captures(sql)?.get(1)?.as_str();
    let parts: Vec<String> = name
        .split('.')
        .map(str::trim)
        .map(|p| match p.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
            Some(quoted) => quoted.to_string(),
            None => p.to_lowercase(),
        })
        .collect();
    Some(match parts.as_slice() {
        [name] => format!("public.{name}"),
        _ => parts.join("."),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_created_object_is_named_as_findings_name_it() {
        assert_eq!(created("CREATE TABLE Leads (id int)").as_deref(), Some("public.leads"));
        assert_eq!(created("create unlogged table if not exists app.\"Jobs\" (id int)").as_deref(), Some("app.Jobs"));
        assert_eq!(created("CREATE OR REPLACE FUNCTION app.set_tenant(uuid) RETURNS void").as_deref(), Some("app.set_tenant"));
        assert_eq!(created("CREATE MATERIALIZED VIEW stats AS SELECT 1").as_deref(), Some("public.stats"));
        assert_eq!(created("CREATE INDEX leads_idx ON leads (id)"), None);
    }

    #[test]
    fn a_finding_points_at_its_object_or_the_object_it_belongs_to() {
        let mut origins = Origins::default();
        origins.note("db/core.sql", 3, "CREATE TABLE leads (id int)");
        origins.note("db/core.sql", 9, "CREATE POLICY p ON leads USING (true)");
        let at = |file: &str, line| Some(Origin { file: file.to_string(), line });
        assert_eq!(origins.of("public.leads"), at("db/core.sql", 3));
        assert_eq!(origins.of("public.leads.tenant_id"), at("db/core.sql", 3));
        assert_eq!(origins.of("db/other.sql:17"), at("db/other.sql", 17));
        assert_eq!(origins.of("lead_by_email"), at("db/core.sql", 1));
    }
}
