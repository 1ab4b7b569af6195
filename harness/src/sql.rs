//! SQL text every room builds statements with: quoted identifiers and
//! literals. Depends on nothing of ours, so any module may use it.

/// `name` as a quoted identifier: `"Mixed ""Case"""`.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as a string literal: `'it''s'`.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
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
