//! What a scenario expects of its constraints beyond their existence: the
//! value domain of columns (`[domains]`), the ON DELETE behaviour of
//! relationships (`[[cascade]]` and `[cascade_rules]`), and the columns that
//! may go without a CHECK (`[check] allow_missing`). Read with the scenario
//! file; once the catalogs are read, every name must match a column, so a
//! typo stops the run (exit 2) instead of silently checking nothing.

use std::fmt;
use std::str::FromStr;

use indexmap::IndexMap;
use serde::Deserialize;

use crate::error::{HarnessError, Result};
use crate::scenario::TierColumn;

#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub domains: Vec<DeclaredDomain>,
    pub cascades: Vec<DeclaredCascade>,
    pub cascade_rules: CascadeRules,
    /// Status-like columns that are free-form on purpose (`check.missing`).
    pub check_allow_missing: Vec<TierColumn>,
}

/// The values a column must accept, and so every value it must refuse.
#[derive(Debug, Clone, PartialEq)]
pub enum Domain {
    /// Inclusive numeric range.
    Range { min: f64, max: f64 },
    Positive,
    NonNegative,
    List(Vec<String>),
    /// The whole value matches (anchors are implied).
    Regex(String),
    /// `local@domain.tld`, no spaces, one `@`.
    Email,
}

#[derive(Debug, Clone)]
pub struct DeclaredDomain {
    pub column: TierColumn,
    pub domain: Domain,
}

/// What deleting a parent does to the rows that reference it, as observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// The children are deleted with the parent.
    Cascade,
    /// The children stay and their reference becomes NULL.
    SetNull,
    /// The children stay and their reference becomes the column default.
    SetDefault,
    /// The delete is refused while children exist (RESTRICT or NO ACTION).
    Restrict,
}

#[derive(Debug, Clone)]
pub struct DeclaredCascade {
    /// A referencing column of the FK (not the tenant column of a composite FK).
    pub from: TierColumn,
    pub on_delete: OnDelete,
}

/// Expected ON DELETE behaviour by kind of relationship; a `[[cascade]]`
/// entry for the relationship wins.
#[derive(Debug, Clone, Copy, Default)]
pub struct CascadeRules {
    pub required: Option<OnDelete>,
    pub optional: Option<OnDelete>,
    pub lookup: Option<OnDelete>,
}

/// How a relationship is classified for `[cascade_rules]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    /// Some referencing column is nullable: the child can live without the parent.
    Optional,
    /// Every referencing column is NOT NULL and the parent holds no tenant
    /// rows (a catalog such as plans or queues).
    Lookup,
    /// Every referencing column is NOT NULL: parent and child.
    Required,
}

impl CascadeRules {
    pub fn for_kind(&self, kind: RelationKind) -> Option<OnDelete> {
        match kind {
            RelationKind::Required => self.required,
            RelationKind::Optional => self.optional,
            RelationKind::Lookup => self.lookup,
        }
    }
}

impl FromStr for OnDelete {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cascade" => Ok(OnDelete::Cascade),
            "set_null" => Ok(OnDelete::SetNull),
            "set_default" => Ok(OnDelete::SetDefault),
            "restrict" | "no_action" => Ok(OnDelete::Restrict),
            _ => Err(format!("unknown ON DELETE behaviour `{s}` (cascade, set_null, set_default, restrict)")),
        }
    }
}

impl fmt::Display for OnDelete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnDelete::Cascade => "cascade",
            OnDelete::SetNull => "set_null",
            OnDelete::SetDefault => "set_default",
            OnDelete::Restrict => "restrict",
        })
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Domain::Range { min, max } => write!(f, "range [{min}, {max}]"),
            Domain::Positive => f.write_str("positive"),
            Domain::NonNegative => f.write_str("non_negative"),
            Domain::List(values) => write!(f, "one of [{}]", values.join(", ")),
            Domain::Regex(regex) => write!(f, "matching /{regex}/"),
            Domain::Email => f.write_str("email"),
        }
    }
}

// ---------------------------------------------------------------------------
// The file format (part of the scenario file).

/// `"TIER.SCHEMA.TABLE.COLUMN" = { range = [0, 100] }`, or `list`, `regex`,
/// `kind = "positive" | "non_negative" | "email"`: exactly one.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct DomainFile {
    range: Option<(f64, f64)>,
    list: Option<Vec<toml::Value>>,
    regex: Option<String>,
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CascadeFile {
    from: String,
    on_delete: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct CascadeRulesFile {
    required: Option<String>,
    optional: Option<String>,
    lookup: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckFile {
    #[serde(default)]
    allow_missing: Vec<String>,
}

impl Expectations {
    /// From the scenario file's sections; `err` names the file.
    pub(crate) fn from_file(
        domains: IndexMap<String, DomainFile>,
        cascades: Vec<CascadeFile>,
        rules: CascadeRulesFile,
        check: CheckFile,
        err: impl Fn(String) -> HarnessError,
    ) -> Result<Expectations> {
        let mut expectations = Expectations::default();
        for (key, file) in domains {
            let at = |m: String| err(format!("domains.\"{key}\": {m}"));
            expectations.domains.push(DeclaredDomain {
                column: key.parse().map_err(at)?,
                domain: file.domain().map_err(at)?,
            });
        }
        for (i, c) in cascades.iter().enumerate() {
            let at = |m: String| err(format!("cascade[{}] ({}): {m}", i + 1, c.from));
            expectations.cascades.push(DeclaredCascade {
                from: c.from.parse().map_err(at)?,
                on_delete: c.on_delete.parse().map_err(at)?,
            });
        }
        let rule = |key: &str, value: Option<String>| {
            value.map(|v| v.parse().map_err(|m| err(format!("cascade_rules.{key}: {m}")))).transpose()
        };
        expectations.cascade_rules = CascadeRules {
            required: rule("required", rules.required)?,
            optional: rule("optional", rules.optional)?,
            lookup: rule("lookup", rules.lookup)?,
        };
        expectations.check_allow_missing = check
            .allow_missing
            .iter()
            .map(|c| c.parse().map_err(|m| err(format!("check.allow_missing: {m}"))))
            .collect::<Result<_>>()?;
        Ok(expectations)
    }

    /// Every column named, with where it was named.
    pub fn columns(&self) -> impl Iterator<Item = (&TierColumn, String)> {
        let domains = self.domains.iter().map(|d| (&d.column, format!("[domains] \"{}\"", d.column)));
        let cascades = self.cascades.iter().map(|c| (&c.from, format!("[[cascade]] from = \"{}\"", c.from)));
        let allowed = self.check_allow_missing.iter().map(|c| (c, format!("[check] allow_missing \"{c}\"")));
        domains.chain(cascades).chain(allowed)
    }
}

impl Domain {
    /// The regex without the `^`/`$` a user may write: matching is always
    /// whole-value, and the generator does not take anchors.
    pub fn unanchored(regex: &str) -> &str {
        let regex = regex.strip_prefix('^').unwrap_or(regex);
        match regex.strip_suffix('$') {
            Some(inner) if !inner.ends_with('\\') => inner,
            _ => regex,
        }
    }
}

impl DomainFile {
    fn domain(self) -> std::result::Result<Domain, String> {
        let given = [self.range.is_some(), self.list.is_some(), self.regex.is_some(), self.kind.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err("give exactly one of range, list, regex, kind".into());
        }
        if let Some((min, max)) = self.range {
            if min.is_nan() || max.is_nan() || min > max {
                return Err(format!("range [{min}, {max}] is empty"));
            }
            return Ok(Domain::Range { min, max });
        }
        if let Some(list) = self.list {
            let values = list
                .into_iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s),
                    toml::Value::Integer(i) => Ok(i.to_string()),
                    toml::Value::Float(f) => Ok(f.to_string()),
                    other => Err(format!("list values are strings or numbers, not {}", other.type_str())),
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            if values.is_empty() {
                return Err("the list is empty".into());
            }
            return Ok(Domain::List(values));
        }
        if let Some(regex) = self.regex {
            regex::Regex::new(&regex).map_err(|e| format!("invalid regex `{regex}`: {}", crate::error::regex_message(&e)))?;
            // Values inside are generated from it: it must be generatable.
            let _generator = proptest::string::string_regex(Domain::unanchored(&regex))
                .map_err(|e| format!("cannot generate values from this regex: {e}"))?;
            return Ok(Domain::Regex(regex));
        }
        match self.kind.as_deref() {
            Some("positive") => Ok(Domain::Positive),
            Some("non_negative") => Ok(Domain::NonNegative),
            Some("email") => Ok(Domain::Email),
            Some(other) => Err(format!("unknown kind `{other}` (positive, non_negative, email)")),
            None => unreachable!("exactly one field is given"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<Expectations> {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            domains: IndexMap<String, DomainFile>,
            #[serde(default)]
            cascade: Vec<CascadeFile>,
            #[serde(default)]
            cascade_rules: CascadeRulesFile,
            #[serde(default)]
            check: CheckFile,
        }
        let file: File = toml::from_str(toml_text).expect("valid TOML");
        Expectations::from_file(file.domains, file.cascade, file.cascade_rules, file.check, HarnessError::input)
    }

    fn error(toml_text: &str) -> String {
        parse(toml_text).expect_err("refused").to_string()
    }

    #[test]
    fn domains_cascades_and_rules_are_read() {
        let e = parse(
            r#"
            [domains]
            "t.s.leads.score" = { range = [0, 100] }
            "t.s.jobs.priority" = { list = [1, 2, 3] }
            "t.s.users.email" = { kind = "email" }
            "t.s.codes.code" = { regex = "^[A-Z]{3}$" }
            [[cascade]]
            from = "t.s.leads.company_id"
            on_delete = "no_action"
            [cascade_rules]
            optional = "set_null"
            [check]
            allow_missing = ["t.s.leads.source_type"]
            "#,
        )
        .expect("valid");
        let domains: Vec<&Domain> = e.domains.iter().map(|d| &d.domain).collect();
        assert_eq!(
            domains,
            [
                &Domain::Range { min: 0.0, max: 100.0 },
                &Domain::List(vec!["1".into(), "2".into(), "3".into()]),
                &Domain::Email,
                &Domain::Regex("^[A-Z]{3}$".into()),
            ]
        );
        assert_eq!(e.cascades[0].on_delete, OnDelete::Restrict);
        assert_eq!(e.cascade_rules.for_kind(RelationKind::Optional), Some(OnDelete::SetNull));
        assert_eq!(e.cascade_rules.for_kind(RelationKind::Required), None);
        assert_eq!(e.columns().count(), 6);
    }

    #[test]
    fn unclear_declarations_are_refused_with_their_key() {
        let two = error(r#"domains."t.s.a.b" = { range = [0, 1], kind = "positive" }"#);
        assert!(two.contains(r#"domains."t.s.a.b""#) && two.contains("exactly one"), "{two}");
        assert!(error(r#"domains."t.s.a.b" = { range = [5, 1] }"#).contains("empty"));
        assert!(error(r#"domains."t.s.a.b" = { kind = "even" }"#).contains("unknown kind `even`"));
        assert!(error(r#"domains."t.s.a" = { kind = "email" }"#).contains("TIER.SCHEMA.TABLE.COLUMN"));
        assert!(error(r#"domains."t.s.a.b" = { regex = "(" }"#).contains("invalid regex"));
        let rule = error(r#"cascade_rules = { lookup = "protect" }"#);
        assert!(rule.contains("cascade_rules.lookup") && rule.contains("`protect`"), "{rule}");
    }

    #[test]
    fn anchors_are_implied() {
        assert_eq!(Domain::unanchored("^[a-z]+$"), "[a-z]+");
        assert_eq!(Domain::unanchored("[a-z]+"), "[a-z]+");
        assert_eq!(Domain::unanchored(r"a\$"), r"a\$");
    }
}
