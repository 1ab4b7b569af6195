//! Tables, columns, references and tenant-path hops across tiers, as a
//! scenario and the flags spell them (`tier.schema.table.column`,
//! `tier.schema.table.(a,b)`, `column -> schema.table.column`), parsed and
//! printed back the same way.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::sql::QualName;

/// A declared tenant path: from `table`, follow `hops` in order to a table
/// that carries the tenant column (or to the tenants table itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredPath {
    pub table: TierTable,
    pub hops: Vec<HopSpec>,
}

/// One hop of a declared path, in the tier of the table it starts from:
/// `column -> schema.table.column`, or for a composite key
/// `(a, b) -> schema.table(x, y)`. Each hop starts at the previous hop's
/// target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopSpec {
    pub columns: Vec<String>,
    pub schema: String,
    pub table: String,
    pub target_columns: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct TierSpec {
    pub name: String,
    pub schema: Vec<PathBuf>,
    pub data: Vec<PathBuf>,
    /// Connection string for the external backend.
    pub dsn: Option<String>,
}

/// A logical reference between tiers (or a soft one inside a tier): no FK
/// enforces it. `from.columns[i]` pairs with `to.columns[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub from: TierColumns,
    pub to: TierColumns,
}

/// `tier.schema.table`
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TierTable {
    pub tier: String,
    pub schema: String,
    pub table: String,
}

/// `tier.schema.table.column`
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TierColumn {
    pub table: TierTable,
    pub column: String,
}

impl TierTable {
    /// `table` of the catalog of `tier`.
    pub fn of(tier: &str, table: &QualName) -> TierTable {
        TierTable {
            tier: tier.to_string(),
            schema: table.schema.clone(),
            table: table.name.clone(),
        }
    }

    /// The table as the catalog names it.
    pub fn qual_name(&self) -> QualName {
        QualName {
            schema: self.schema.clone(),
            name: self.table.clone(),
        }
    }
}

impl TierColumn {
    /// `column` of the catalog's `table` in `tier`.
    pub fn new(tier: &str, table: &QualName, column: &str) -> TierColumn {
        TierColumn {
            table: TierTable {
                tier: tier.to_string(),
                schema: table.schema.clone(),
                table: table.name.clone(),
            },
            column: column.to_string(),
        }
    }
}

/// `tier.schema.table.column`, or `tier.schema.table.(column,column)`: the
/// columns of one table that a (composite) reference reads, in order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TierColumns {
    pub table: TierTable,
    pub columns: Vec<String>,
}

impl TierColumns {
    /// Whether `column` is one of these.
    pub fn includes(&self, column: &TierColumn) -> bool {
        self.table == column.table && self.columns.contains(&column.column)
    }

    /// Columns written `tier.schema.table.column`, all of one table.
    pub(super) fn of(columns: Vec<TierColumn>) -> std::result::Result<TierColumns, String> {
        let mut columns = columns.into_iter();
        let first = columns.next().ok_or("no column given")?;
        let mut joined = TierColumns {
            table: first.table,
            columns: vec![first.column],
        };
        for next in columns {
            if next.table != joined.table {
                return Err(format!(
                    "the columns of one reference must be in one table: {} and {}",
                    joined.table, next.table
                ));
            }
            joined.columns.push(next.column);
        }
        Ok(joined)
    }
}

impl fmt::Display for TierTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.tier, self.schema, self.table)
    }
}

impl fmt::Display for TierColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.table, self.column)
    }
}

impl fmt::Display for TierColumns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.columns.as_slice() {
            [one] => write!(f, "{}.{one}", self.table),
            many => write!(f, "{}.({})", self.table, many.join(",")),
        }
    }
}

impl FromStr for TierTable {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.split('.').collect::<Vec<_>>()[..] {
            [tier, schema, table] if [tier, schema, table].iter().all(|p| !p.is_empty()) => {
                Ok(TierTable {
                    tier: tier.into(),
                    schema: schema.into(),
                    table: table.into(),
                })
            }
            _ => Err(format!("`{s}` is not TIER.SCHEMA.TABLE")),
        }
    }
}

impl FromStr for TierColumn {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (table, column) = s
            .rsplit_once('.')
            .filter(|(_, c)| !c.is_empty())
            .ok_or_else(|| format!("`{s}` is not TIER.SCHEMA.TABLE.COLUMN"))?;
        let table = table
            .parse()
            .map_err(|_| format!("`{s}` is not TIER.SCHEMA.TABLE.COLUMN"))?;
        Ok(TierColumn {
            table,
            column: column.into(),
        })
    }
}

impl fmt::Display for HopSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.columns[..], &self.target_columns[..]) {
            ([from], [to]) => write!(f, "{from} -> {}.{}.{to}", self.schema, self.table),
            (from, to) => write!(
                f,
                "({}) -> {}.{}({})",
                from.join(", "),
                self.schema,
                self.table,
                to.join(", ")
            ),
        }
    }
}

impl FromStr for HopSpec {
    type Err = String;
    /// `column -> schema.table.column` or `(a, b) -> schema.table(x, y)`
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("`{s}` is not `COLUMN -> SCHEMA.TABLE.COLUMN` or `(A, B) -> SCHEMA.TABLE(X, Y)`");
        let names = |list: &str| -> Option<Vec<String>> {
            let names: Vec<String> = list.split(',').map(|n| n.trim().to_string()).collect();
            names
                .iter()
                .all(|n| !n.is_empty() && !n.contains(|c: char| c.is_whitespace() || "().".contains(c)))
                .then_some(names)
        };
        let (from, to) = s.split_once("->").ok_or_else(bad)?;
        let from = from.trim();
        let from = from.strip_prefix('(').and_then(|f| f.strip_suffix(')')).unwrap_or(from);
        let columns = names(from).ok_or_else(bad)?;
        let to = to.trim();
        let (table, target_columns) = match to.split_once('(') {
            Some((table, list)) => (table.trim(), names(list.strip_suffix(')').ok_or_else(bad)?)),
            None => to.rsplit_once('.').map(|(t, c)| (t, names(c))).ok_or_else(bad)?,
        };
        let target_columns = target_columns.ok_or_else(bad)?;
        let (schema, table) = table.split_once('.').ok_or_else(bad)?;
        if names(schema).is_none_or(|n| n.len() != 1) || names(table).is_none_or(|n| n.len() != 1) {
            return Err(bad());
        }
        if columns.len() != target_columns.len() {
            return Err(format!(
                "`{s}`: {} column(s) point at {} column(s)",
                columns.len(),
                target_columns.len()
            ));
        }
        Ok(HopSpec {
            columns,
            schema: schema.to_string(),
            table: table.to_string(),
            target_columns,
        })
    }
}

impl FromStr for TierColumns {
    type Err = String;
    /// `TIER.SCHEMA.TABLE.COLUMN` or `TIER.SCHEMA.TABLE.(COLUMN,COLUMN...)`
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let Some((table, list)) = s.strip_suffix(')').and_then(|s| s.split_once(".(")) else {
            return TierColumns::of(vec![s.parse()?]);
        };
        let table: TierTable = table
            .parse()
            .map_err(|_| format!("`{s}` is not TIER.SCHEMA.TABLE.(COLUMN,COLUMN...)"))?;
        let columns: Vec<String> = list.split(',').map(|c| c.trim().to_string()).collect();
        if columns.iter().any(String::is_empty) {
            return Err(format!("`{s}` has an empty column name"));
        }
        Ok(TierColumns { table, columns })
    }
}

impl Reference {
    pub(super) fn new(from: TierColumns, to: TierColumns) -> std::result::Result<Reference, String> {
        if from.columns.len() != to.columns.len() {
            return Err(format!(
                "reference {from}={to} pairs {} column(s) with {}",
                from.columns.len(),
                to.columns.len()
            ));
        }
        Ok(Reference { from, to })
    }
}

impl FromStr for Reference {
    type Err = String;
    /// `FROM=TO`, each side `TIER.SCHEMA.TABLE.COLUMN` or `TIER.SCHEMA.TABLE.(COLUMN,COLUMN...)`
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (from, to) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not FROM=TO"))?;
        Reference::new(from.trim().parse()?, to.trim().parse()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Overrides, Scenario};

    #[test]
    fn hops_parse_in_single_and_composite_form() {
        let single: HopSpec = "task_id -> public.workspace_tasks.id".parse().unwrap();
        assert_eq!(
            (single.columns, single.schema, single.table, single.target_columns),
            (
                vec!["task_id".into()],
                "public".into(),
                "workspace_tasks".into(),
                vec!["id".into()]
            )
        );
        let composite: HopSpec =
            "(activation_id, parent_workspace_id) -> public.workspaces(activation_id, id)"
                .parse()
                .unwrap();
        assert_eq!(composite.columns, ["activation_id", "parent_workspace_id"]);
        assert_eq!(composite.target_columns, ["activation_id", "id"]);
        assert_eq!(
            composite.to_string(),
            "(activation_id, parent_workspace_id) -> public.workspaces(activation_id, id)"
        );
        for bad in [
            "task_id",
            "task_id -> workspace_tasks.id",
            "task_id -> public.workspace_tasks",
            "(a, b) -> public.t(x)",
            " -> public.t.id",
        ] {
            assert!(
                bad.parse::<HopSpec>().is_err(),
                "{bad} should not parse"
            );
        }
    }

    #[test]
    fn scenario_files_declare_paths_under_tenancy_paths() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| {
            let file = dir.path().join("s.toml");
            std::fs::write(&file, text).unwrap();
            Scenario::resolve(Some(&file), Overrides::default())
        };
        let base = "[tiers.events]\nschema = [\"x.sql\"]\n[tenancy]\nshared = [\"events.auth.users\"]\n";
        let scenario = write(&format!(
            "{base}[tenancy.paths]\n\"events.public.task_comments\" = [\"task_id -> public.workspace_tasks.id\"]\n"
        ))
        .unwrap();
        assert_eq!(scenario.tenancy.paths.len(), 1);
        assert_eq!(
            scenario.tenancy.paths[0].table.to_string(),
            "events.public.task_comments"
        );
        let refused = [
            (
                "\"events.public.c\" = [\"task_id => public.t.id\"]",
                "tenancy.paths \"events.public.c\": `task_id => public.t.id` is not",
            ),
            ("\"events.public.c\" = []", "no hops"),
            (
                "\"other.public.c\" = [\"a -> public.t.id\"]",
                "names unknown tier `other`",
            ),
            (
                "\"events.auth.users\" = [\"a -> public.t.id\"]",
                "is in tenancy.shared and in tenancy.paths",
            ),
        ];
        for (entry, message) in refused {
            let error = write(&format!("{base}[tenancy.paths]\n{entry}\n"))
                .unwrap_err()
                .to_string();
            assert!(error.contains(message), "{error} does not say: {message}");
        }
    }
}
