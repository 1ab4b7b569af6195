//! What CHECK constraints (and partition constraints, and domain CHECKs)
//! allow, read from PostgreSQL's own rendering of them
//! (`pg_get_constraintdef`, `pg_get_partition_constraintdef`). The common
//! forms become per-column domains the generator honours by construction;
//! anything else is kept as "unknown" and left to the oracle (oracle.rs),
//! which asks PostgreSQL itself.

use std::collections::BTreeMap;

use regex::Regex;

use crate::catalog::mentions;

/// A literal as PostgreSQL printed it, without quotes and cast.
pub type Literal = String;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnDomain {
    /// `col = ANY (ARRAY[...])` / `col IN (...)`
    pub one_of: Option<Vec<Literal>>,
    pub lower: Option<(Literal, bool)>,
    pub upper: Option<(Literal, bool)>,
    pub regex: Option<String>,
    pub min_len: Option<usize>,
    pub max_len: Option<usize>,
    pub not_null: bool,
    /// `jsonb_typeof(col) = 'array'` and the like.
    pub json_type: Option<String>,
}

/// `a >= b` between two columns of the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub greater: String,
    pub lesser: String,
    pub strict: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Domains {
    pub columns: BTreeMap<String, ColumnDomain>,
    pub relations: Vec<Relation>,
    /// Conjuncts not understood; the columns they mention are never left NULL.
    pub unknown: Vec<String>,
}

impl Domains {
    /// Adds one constraint expression (with or without `CHECK (...)`).
    pub fn add(&mut self, expression: &str, columns: &[String]) {
        let patterns = Patterns::get();
        let body = expression.trim().trim_end_matches(" NOT VALID");
        let body = body.strip_prefix("CHECK ").unwrap_or(body);
        for conjunct in split_and(strip_parens(body)) {
            if !self.understand(patterns, strip_parens(conjunct)) {
                self.unknown.push(conjunct.to_string());
                for column in columns.iter().filter(|c| mentions(conjunct, c)) {
                    self.columns.entry(column.clone()).or_default().not_null = true;
                }
            }
        }
    }

    fn understand(&mut self, p: &Patterns, c: &str) -> bool {
        // `x IS NULL OR <condition>`: generating x so that the condition holds satisfies it.
        if let Some(m) = p.null_or.captures(c) {
            let condition = m[2].to_string();
            return self.understand(p, strip_parens(&condition));
        }
        if let Some(m) = p.is_not_null.captures(c) {
            self.column(&m[1]).not_null = true;
            return true;
        }
        if let Some(m) = p.any_array.captures(c) {
            let values = literals(&m[2]);
            let domain = self.column(&m[1]);
            domain.one_of = Some(match domain.one_of.take() {
                // Two lists (CHECK and partition): only values in both.
                Some(old) => old.into_iter().filter(|v| values.contains(v)).collect(),
                None => values,
            });
            return true;
        }
        if let Some(m) = p.regex.captures(c) {
            self.column(&m[1]).regex = Some(unquote(&m[3]));
            return true;
        }
        if let Some(m) = p.length.captures(c) {
            let n: usize = m[4].parse().unwrap_or(0);
            let domain = self.column(&m[2]);
            match &m[3] {
                "<=" => domain.max_len = Some(n),
                "<" => domain.max_len = Some(n.saturating_sub(1)),
                ">=" => domain.min_len = Some(n),
                ">" => domain.min_len = Some(n + 1),
                _ => return false,
            }
            return true;
        }
        if let Some(m) = p.json_type.captures(c) {
            self.column(&m[1]).json_type = Some(m[2].to_string());
            return true;
        }
        if let Some(m) = p.not_empty.captures(c) {
            self.column(&m[1]).min_len = Some(1);
            return true;
        }
        if let Some(m) = p.two_columns.captures(c) {
            let (a, op, b) = (m[1].to_string(), &m[2], m[3].to_string());
            let (greater, lesser) = if op.starts_with('>') { (a, b) } else { (b, a) };
            self.relations.push(Relation {
                greater,
                lesser,
                strict: !op.ends_with('='),
            });
            return true;
        }
        if let Some(m) = p.compare.captures(c) {
            let value = unquote(&m[3]);
            let domain = self.column(&m[1]);
            match &m[2] {
                ">=" => tighten_lower(domain, value, true),
                ">" => tighten_lower(domain, value, false),
                "<=" => tighten_upper(domain, value, true),
                "<" => tighten_upper(domain, value, false),
                "=" => domain.one_of = Some(vec![value]),
                _ => return false,
            }
            return true;
        }
        false
    }

    fn column(&mut self, name: &str) -> &mut ColumnDomain {
        self.columns.entry(name.to_string()).or_default()
    }
}

// Numeric bounds can be compared here; other literals (times) keep the last one.
fn tighten_lower(domain: &mut ColumnDomain, value: Literal, inclusive: bool) {
    let tighter = match (&domain.lower, value.parse::<f64>()) {
        (Some((old, _)), Ok(new)) => old.parse::<f64>().map_or(true, |old| new > old),
        _ => true,
    };
    if tighter {
        domain.lower = Some((value, inclusive));
    }
}

fn tighten_upper(domain: &mut ColumnDomain, value: Literal, inclusive: bool) {
    let tighter = match (&domain.upper, value.parse::<f64>()) {
        (Some((old, _)), Ok(new)) => old.parse::<f64>().map_or(true, |old| new < old),
        _ => true,
    };
    if tighter {
        domain.upper = Some((value, inclusive));
    }
}

struct Patterns {
    null_or: Regex,
    is_not_null: Regex,
    any_array: Regex,
    regex: Regex,
    length: Regex,
    not_empty: Regex,
    json_type: Regex,
    two_columns: Regex,
    compare: Regex,
}

impl Patterns {
    fn get() -> &'static Patterns {
        static PATTERNS: std::sync::OnceLock<Patterns> = std::sync::OnceLock::new();
        // A column as PostgreSQL prints it: `name` or `(name)::type`.
        const COL: &str = r#"\(?"?(\w+)"?\)?(?:::[\w ]+(?:\(\d+(?:,\d+)?\))?)?"#;
        const LIT: &str = r"(\(?'(?:[^']|'')*'(?:::[\w ]+(?:\[\])?)?\)?|\(?-?\d+(?:\.\d+)?\)?(?:::[\w ]+)?)";
        PATTERNS.get_or_init(|| Patterns {
            null_or: Regex::new(&format!(r"^\({COL} IS NULL\) OR (.+)$")).expect("regex"),
            is_not_null: Regex::new(&format!(r"^{COL} IS NOT NULL$")).expect("regex"),
            any_array: Regex::new(&format!(r"^{COL} = ANY \(\(?ARRAY\[(.*)\]\)?(?:::[\w \[\]]+)?\)$")).expect("regex"),
            regex: Regex::new(&format!(r"^{COL} (~\*?) ('(?:[^']|'')*')(?:::text)?$")).expect("regex"),
            length: Regex::new(
                r#"^(char_length|length|character_length)\(\(?"?(\w+)"?\)?(?:::[\w ]+)?\) (<=|<|>=|>) \(?(\d+)\)?$"#,
            )
            .expect("regex"),
            json_type: Regex::new(r#"^jsonb?_typeof\(\(?"?(\w+)"?\)?\) = '(\w+)'(?:::text)?$"#).expect("regex"),
            not_empty: Regex::new(&format!(r"^{COL} <> ''(?:::[\w ]+)?$")).expect("regex"),
            two_columns: Regex::new(r#"^\(?"?(\w+)"?\)?(?:::[\w ]+)? (>=|>|<=|<) \(?"?([a-z_]\w*)"?\)?(?:::[\w ]+)?$"#)
                .expect("regex"),
            compare: Regex::new(&format!(r"^{COL} (>=|>|<=|<|=) {LIT}$")).expect("regex"),
        })
    }
}

/// `'a'::text, 'b'::text` → [a, b]
fn literals(list: &str) -> Vec<Literal> {
    let item = Regex::new(r"'((?:[^']|'')*)'|(-?\d+(?:\.\d+)?)").expect("regex");
    item.captures_iter(list)
        .map(|c| match (c.get(1), c.get(2)) {
            (Some(s), _) => s.as_str().replace("''", "'"),
            (_, Some(n)) => n.as_str().to_string(),
            _ => String::new(),
        })
        .collect()
}

/// `'-100'::integer` → `-100`, `(0)::numeric` → `0`, `'x''y'` → `x'y`
fn unquote(literal: &str) -> Literal {
    let s = literal.trim();
    let s = s.strip_prefix('(').unwrap_or(s);
    let s = match s.rfind("::") {
        Some(i) if !s[i..].contains('\'') => &s[..i],
        _ => s,
    };
    let s = s.trim_end_matches(')');
    match s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        Some(inner) => inner.replace("''", "'"),
        None => s.to_string(),
    }
}

/// Removes parentheses that wrap the whole expression.
fn strip_parens(mut s: &str) -> &str {
    loop {
        s = s.trim();
        if s.starts_with('(') && s.ends_with(')') && closing_paren(s) == Some(s.len() - 1) {
            s = &s[1..s.len() - 1];
        } else {
            return s;
        }
    }
}

fn closing_paren(s: &str) -> Option<usize> {
    let mut depth = 0i32;
    let mut quoted = false;
    for (i, ch) in s.char_indices() {
        match ch {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits on top-level ` AND `.
fn split_and(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            b' ' if !quoted && depth == 0 && s[i..].starts_with(" AND ") => {
                parts.push(&s[start..i]);
                start = i + 5;
                i += 4;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains(exprs: &[&str]) -> Domains {
        let columns: Vec<String> = ["status", "score", "email", "name", "a", "b", "created_at", "q"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut d = Domains::default();
        for e in exprs {
            d.add(e, &columns);
        }
        d
    }

    #[test]
    fn reads_lists_ranges_regexes_lengths_and_relations() {
        let d = domains(&[
            "CHECK (((status)::text = ANY ((ARRAY['queued'::character varying, 'done'::character varying])::text[])))",
            "CHECK (((score >= 0) AND (score <= 100)))",
            "CHECK ((email ~* '^[a-z]+@[a-z]+\\.com$'::text))",
            "CHECK ((char_length(name) <= 40))",
            "CHECK ((b >= a))",
        ]);
        assert_eq!(d.columns["status"].one_of, Some(vec!["queued".into(), "done".into()]));
        assert_eq!(d.columns["score"].lower, Some(("0".into(), true)));
        assert_eq!(d.columns["score"].upper, Some(("100".into(), true)));
        assert_eq!(d.columns["email"].regex.as_deref(), Some("^[a-z]+@[a-z]+\\.com$"));
        assert_eq!(d.columns["name"].max_len, Some(40));
        assert_eq!(
            d.relations,
            vec![Relation {
                greater: "b".into(),
                lesser: "a".into(),
                strict: false
            }]
        );
        assert!(d.unknown.is_empty(), "{:?}", d.unknown);
    }

    #[test]
    fn reads_negative_and_cast_bounds_and_partition_constraints() {
        let d = domains(&[
            "CHECK (((a >= '-100'::integer) AND (a <= 100)))",
            "CHECK ((b > (0)::numeric))",
            "((created_at IS NOT NULL) AND (created_at >= '2026-08-01 00:00:00+00'::timestamp with time zone) AND (created_at < '2026-09-01 00:00:00+00'::timestamp with time zone) AND (q IS NOT NULL) AND ((q)::text = ANY ((ARRAY['x'::character varying])::text[])))",
        ]);
        assert_eq!(d.columns["a"].lower, Some(("-100".into(), true)));
        assert_eq!(d.columns["b"].lower, Some(("0".into(), false)));
        assert_eq!(d.columns["created_at"].lower, Some(("2026-08-01 00:00:00+00".into(), true)));
        assert_eq!(d.columns["created_at"].upper, Some(("2026-09-01 00:00:00+00".into(), false)));
        assert!(d.columns["q"].not_null);
        assert_eq!(d.columns["q"].one_of, Some(vec!["x".into()]));
    }

    #[test]
    fn a_null_or_condition_is_met_through_its_condition() {
        let d = domains(&["CHECK (((b IS NULL) OR (b >= a)))"]);
        assert!(d.unknown.is_empty(), "{:?}", d.unknown);
        assert_eq!(d.relations.len(), 1);
    }

    #[test]
    fn unknown_forms_make_their_columns_not_null() {
        let d = domains(&["CHECK (((a IS NOT NULL) OR (b IS NOT NULL)))"]);
        assert_eq!(d.unknown.len(), 1);
        assert!(d.columns["a"].not_null && d.columns["b"].not_null);
    }
}
