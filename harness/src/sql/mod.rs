//! SQL text every room builds statements with: quoted identifiers,
//! literals and schema-qualified names. Depends on nothing of ours, so any
//! module may use it.

pub mod sqlstate;

use std::fmt;

use serde::{Deserialize, Serialize};

/// `name` as a quoted identifier: `"Mixed ""Case"""`.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as a string literal: `'it''s'`.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The content of the rows aliased `alias` as one number, a sum of their
/// text's 64-bit hashes: it changes when any value does and does not
/// depend on the order rows are read in, with no sort (NULL for no rows).
pub fn row_hash_sum(alias: &str) -> String {
    format!("sum(hashtextextended({alias}::text, 0))")
}

/// `schema.name`
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QualName {
    pub schema: String,
    pub name: String,
}

impl fmt::Display for QualName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

impl QualName {
    /// Quoted for use in SQL text.
    pub fn sql(&self) -> String {
        format!(
            "{}.{}",
            quote_ident(&self.schema),
            quote_ident(&self.name)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_doubled() {
        assert_eq!(quote_ident(r#"Mixed "Case""#), r#""Mixed ""Case""""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
