//! What a tier's database holds, read from pg_catalog once after loading:
//! tables, columns, keys, FKs, CHECKs, indexes, RLS flags and policies,
//! owners and grants, views, functions, partitions and roles. Checks read
//! this model instead of querying the catalog themselves.

mod queries;
pub mod references;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::error::{HarnessError, Result};

pub use crate::sql::QualName;

/// Whether an SQL expression (a CHECK, a policy) names `column` as a word.
pub fn mentions(expression: &str, column: &str) -> bool {
    expression.split(|c: char| !(c.is_alphanumeric() || c == '_')).any(|word| word == column)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalog {
    pub tier: String,
    pub tables: Vec<Table>,
    pub views: Vec<View>,
    pub functions: Vec<Function>,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    Ordinary,
    Partitioned,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    pub name: QualName,
    pub kind: TableKind,
    pub owner: String,
    pub rls_enabled: bool,
    pub rls_forced: bool,
    /// The parent when this table is a partition.
    pub partition_of: Option<QualName>,
    /// `FOR VALUES ...` / `DEFAULT` when this table is a partition.
    pub partition_bound: Option<String>,
    /// The expression a row must satisfy to land in this partition (all levels).
    pub partition_constraint: Option<String>,
    /// `RANGE (created_at)` when this table is partitioned.
    pub partition_key: Option<String>,
    pub columns: Vec<Column>,
    pub constraints: Vec<Constraint>,
    pub indexes: Vec<Index>,
    pub policies: Vec<Policy>,
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// `format_type()`: `uuid`, `character varying(100)`, ...
    pub data_type: String,
    pub not_null: bool,
    pub default: Option<String>,
    pub identity: bool,
    /// `GENERATED ALWAYS AS IDENTITY`: the server must choose the value.
    pub identity_always: bool,
    pub generated: bool,
    /// The sequence behind an identity or serial column.
    pub sequence: Option<String>,
    /// The type values really have: a domain's base type, else `data_type`.
    pub base_type: String,
    /// CHECKs of the column's domain, written with `VALUE`.
    pub domain_checks: Vec<String>,
    /// Labels of the column's enum type, in order.
    pub enum_labels: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Constraint {
    pub name: String,
    pub kind: ConstraintKind,
    pub columns: Vec<String>,
    pub validated: bool,
    /// `pg_get_constraintdef()`
    pub definition: String,
    pub foreign_key: Option<ForeignKey>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    ForeignKey,
    Check,
    Exclusion,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForeignKey {
    pub target: QualName,
    pub target_columns: Vec<String>,
    pub on_delete: RefAction,
    pub on_update: RefAction,
    /// False when any of the FK's system triggers is disabled.
    pub triggers_enabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefAction {
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    /// Key columns in order; `None` for an expression.
    pub columns: Vec<Option<String>>,
    pub unique: bool,
    pub primary: bool,
    /// The WHERE clause of a partial index.
    pub predicate: Option<String>,
    /// False while a concurrent build failed half way.
    pub valid: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    All,
    Select,
    Insert,
    Update,
    Delete,
}

impl Command {
    pub const WRITES_AND_READS: [Command; 4] =
        [Command::Select, Command::Insert, Command::Update, Command::Delete];

    pub fn privilege(self) -> &'static str {
        match self {
            Command::All => "ALL",
            Command::Select => "SELECT",
            Command::Insert => "INSERT",
            Command::Update => "UPDATE",
            Command::Delete => "DELETE",
        }
    }

    /// The command a table privilege allows (`SELECT` → Select); None for
    /// privileges no policy governs (TRUNCATE, REFERENCES, TRIGGER).
    pub fn of_privilege(privilege: &str) -> Option<Command> {
        Command::WRITES_AND_READS.into_iter().find(|c| c.privilege() == privilege)
    }

    /// Whether a policy for `self` governs `command`.
    pub fn covers(self, command: Command) -> bool {
        self == Command::All || self == command
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    pub command: Command,
    /// Role names; `public` means every role.
    pub roles: Vec<String>,
    pub permissive: bool,
    pub using: Option<String>,
    pub with_check: Option<String>,
}

/// Privileges granted to one role (`public` for PUBLIC) on an object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: String,
    pub privileges: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct View {
    pub name: QualName,
    pub materialized: bool,
    pub owner: String,
    pub security_invoker: bool,
    pub security_barrier: bool,
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Function {
    pub name: QualName,
    /// `pg_get_function_identity_arguments()`
    pub arguments: String,
    pub result: String,
    pub security_definer: bool,
    /// The body (`prosrc`), for what it reads: a membership helper's table.
    #[serde(default)]
    pub source: String,
    /// A procedure (`CALL`), not a function.
    #[serde(default)]
    pub procedure: bool,
    /// Settings the function runs with (`proconfig`: `search_path=...`).
    #[serde(default)]
    pub config: Vec<String>,
    pub owner: String,
    /// Roles with EXECUTE (`public` when PUBLIC has it).
    pub executable_by: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub superuser: bool,
    pub bypass_rls: bool,
    pub can_login: bool,
    /// Every role this one is a member of, directly or through others.
    pub member_of: Vec<String>,
}

impl Function {
    /// Whether it runs with a `search_path` of its own (`SET search_path`).
    pub fn fixes_search_path(&self) -> bool {
        self.config.iter().any(|c| c.starts_with("search_path="))
    }
}

impl Catalog {
    /// The partitioned table at the top of a partition's tree (the table itself otherwise).
    pub fn root_of(&self, table: &QualName) -> QualName {
        let mut name = table.clone();
        while let Some(parent) = self.table(&name).and_then(|t| t.partition_of.clone()) {
            name = parent;
        }
        name
    }

    pub async fn read(tier: &str, pool: &PgPool) -> Result<Catalog> {
        queries::read(pool)
            .await
            .map(|(tables, views, functions, roles)| Catalog {
                tier: tier.to_string(),
                tables,
                views,
                functions,
                roles,
            })
            .map_err(|e| HarnessError::database(tier, format!("reading the catalog: {e}")))
    }

    pub fn table(&self, name: &QualName) -> Option<&Table> {
        self.tables.iter().find(|t| &t.name == name)
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// Whether `role` acts with `other`'s rights (is it, or is a member of it).
    pub fn acts_as(&self, role: &str, other: &str) -> bool {
        role == other || self.role(role).is_some_and(|r| r.member_of.iter().any(|m| m == other))
    }

    /// Whether `role` holds `privilege` on the table, directly, through a
    /// role it belongs to, through PUBLIC, or as the owner.
    pub fn has_table_privilege(&self, role: &str, table: &Table, privilege: &str) -> bool {
        self.acts_as(role, &table.owner) || self.granted(role, &table.grants, privilege)
    }

    pub fn granted(&self, role: &str, grants: &[Grant], privilege: &str) -> bool {
        grants.iter().any(|g| {
            (g.grantee == "public" || self.acts_as(role, &g.grantee))
                && g.privileges.iter().any(|p| p == privilege)
        })
    }
}

impl ForeignKey {
    /// `child.a = parent.x AND ...`: the FK as a join condition between aliases.
    pub fn join_on(&self, columns: &[String], child: &str, parent: &str) -> String {
        columns
            .iter()
            .zip(&self.target_columns)
            .map(|(c, p)| {
                format!(
                    "{child}.{} = {parent}.{}",
                    crate::sql::quote_ident(c),
                    crate::sql::quote_ident(p)
                )
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }
}

impl Column {
    /// A column of a base type with nothing special about it (tests build
    /// catalogs from these).
    #[cfg(test)]
    pub fn plain(name: &str, data_type: &str, not_null: bool) -> Column {
        Column {
            name: name.to_string(),
            data_type: data_type.to_string(),
            not_null,
            default: None,
            identity: false,
            identity_always: false,
            generated: false,
            sequence: None,
            base_type: data_type.to_string(),
            domain_checks: Vec::new(),
            enum_labels: None,
        }
    }
}

impl Constraint {
    /// A CHECK's boolean expression: `pg_get_constraintdef()` less `CHECK`
    /// and the trailing `NO INHERIT` / `NOT VALID` it appends.
    pub fn check_expression(&self) -> Option<&str> {
        if self.kind != ConstraintKind::Check {
            return None;
        }
        let definition = self.definition.trim();
        let definition = definition.strip_suffix(" NOT VALID").unwrap_or(definition);
        let definition = definition.strip_suffix(" NO INHERIT").unwrap_or(definition);
        definition.strip_prefix("CHECK ")
    }
}

impl Table {
    /// An ordinary table, RLS enabled and forced, with nothing in it yet
    /// (tests build catalogs from these).
    #[cfg(test)]
    pub fn plain(schema: &str, name: &str) -> Table {
        Table {
            name: QualName { schema: schema.into(), name: name.into() },
            kind: TableKind::Ordinary,
            owner: "owner".into(),
            rls_enabled: true,
            rls_forced: true,
            partition_of: None,
            partition_bound: None,
            partition_constraint: None,
            partition_key: None,
            columns: Vec::new(),
            constraints: Vec::new(),
            indexes: Vec::new(),
            policies: Vec::new(),
            grants: Vec::new(),
        }
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn foreign_keys(&self) -> impl Iterator<Item = (&Constraint, &ForeignKey)> {
        self.constraints
            .iter()
            .filter_map(|c| c.foreign_key.as_ref().map(|fk| (c, fk)))
    }

    pub fn is_partition(&self) -> bool {
        self.partition_of.is_some()
    }

    /// Whether some unique key (PK, UNIQUE constraint or unique index) is
    /// exactly these columns, in any order.
    pub fn has_unique_key(&self, columns: &[&str]) -> bool {
        let same = |key: &[String]| key.len() == columns.len() && key.iter().all(|k| columns.contains(&k.as_str()));
        self.constraints
            .iter()
            .filter(|c| matches!(c.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique))
            .any(|c| same(&c.columns))
            || self.indexes.iter().filter(|i| i.unique && i.predicate.is_none()).any(|i| {
                let cols: Option<Vec<String>> = i.columns.iter().cloned().collect();
                cols.is_some_and(|c| same(&c))
            })
    }

    /// Column sets that must be unique: primary key, UNIQUE constraints and
    /// unique indexes on plain columns.
    pub fn unique_keys(&self) -> Vec<Vec<&str>> {
        let constraints = self
            .constraints
            .iter()
            .filter(|c| matches!(c.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique))
            .map(|c| c.columns.iter().map(String::as_str).collect::<Vec<_>>());
        let indexes = self
            .indexes
            .iter()
            .filter(|i| i.unique)
            .filter_map(|i| i.columns.iter().map(|c| c.as_deref()).collect::<Option<Vec<_>>>());
        let mut keys: Vec<Vec<&str>> = Vec::new();
        for key in constraints.chain(indexes) {
            if !keys.iter().any(|k| k.len() == key.len() && k.iter().all(|c| key.contains(c))) {
                keys.push(key);
            }
        }
        keys
    }

    /// An ORDER BY list that picks the same row of the table (aliased
    /// `alias`) every run: its primary key, else the whole row as text.
    pub fn key_order(&self, alias: &str) -> String {
        match self.primary_key() {
            Some(pk) => pk.columns.iter().map(|c| format!("{alias}.{}", crate::sql::quote_ident(c))).collect::<Vec<_>>().join(", "),
            None => format!("{alias}::text"),
        }
    }

    pub fn primary_key(&self) -> Option<&Constraint> {
        self.constraints.iter().find(|c| c.kind == ConstraintKind::PrimaryKey)
    }
}
