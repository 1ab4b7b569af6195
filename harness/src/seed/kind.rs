//! Generators for one column: chosen from its type, its CHECK domain, its
//! name (the `fake` crate makes emails look like emails) and the
//! scenario's overrides.

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use fake::faker::internet::en::IPv4;
use fake::faker::lorem::en::Word;
use fake::Fake;
use rand::{Rng, RngCore};

use super::domain::ColumnDomain;
use super::pattern::Pattern;
use super::realism::Realism;
use super::value::Value;
use crate::rng::RowRng;
use crate::scenario::ColumnOverride;

/// Data that does not depend on the day it was generated: times spread
/// over the year before this instant (unless a domain says otherwise).
const EPOCH: &str = "2025-11-01 00:00:00";
const SPREAD_DAYS: i64 = 365;

/// A column's generator.
#[derive(Debug, Clone)]
pub enum Kind {
    Int { min: i64, max: i64 },
    Decimal { min: i128, max: i128, scale: u32 },
    Float { min: f64, max: f64 },
    Bool,
    Text { realism: Realism, min_len: usize, max_len: Option<usize> },
    Pattern(Box<Pattern>),
    OneOf(Vec<String>),
    Uuid,
    Date { min: NaiveDate, days: i64 },
    Timestamp { min: NaiveDateTime, seconds: i64, tz: bool },
    Time,
    Interval,
    /// A JSON array of words, or an object.
    Json { array: bool },
    Inet,
    Bytea,
    Array(Box<Kind>),
    Constant(String),
}

impl Kind {
    /// The generator a column's type, name and CHECK domain call for.
    /// `None` when tierguard cannot make values of the type.
    pub fn for_column(name: &str, base_type: &str, enum_labels: Option<&[String]>, domain: &ColumnDomain) -> Option<Kind> {
        if let Some(values) = &domain.one_of {
            return Some(Kind::OneOf(values.clone()));
        }
        if let Some(labels) = enum_labels {
            return Some(Kind::OneOf(labels.to_vec()));
        }
        if let Some(element) = base_type.strip_suffix("[]") {
            let inner = Kind::for_column(name, element, None, &ColumnDomain::default())?;
            return Some(Kind::Array(Box::new(inner)));
        }
        if let Some(regex) = &domain.regex {
            let realism = Some(Realism::from_name(name)).filter(|r| *r != Realism::Word);
            if let Ok(pattern) = Pattern::compile(regex, realism) {
                return Some(Kind::Pattern(Box::new(pattern)));
            }
        }
        let base = base_type.split('(').next().unwrap_or(base_type).trim();
        let n = name.to_ascii_lowercase();
        Some(match base {
            "smallint" | "integer" | "bigint" => {
                let (lo, hi) = number_range(&n, base == "smallint");
                let min = bound(&domain.lower, lo as f64, 1.0).ceil() as i64;
                let max = bound_upper(&domain.upper, hi as f64, 1.0).floor() as i64;
                Kind::Int { min, max: max.max(min) }
            }
            "numeric" | "decimal" => {
                let (precision, scale) = precision_scale(base_type);
                let unit = 10f64.powi(scale as i32);
                let (lo, hi) = number_range(&n, false);
                let ceiling = precision.map_or(hi as f64, |p| (10f64.powi((p - scale) as i32) - 1.0).min(hi as f64));
                let step = 1.0 / unit;
                let min = (bound(&domain.lower, lo as f64, step) * unit).ceil() as i128;
                let max = (bound_upper(&domain.upper, ceiling, step) * unit).floor() as i128;
                Kind::Decimal { min, max: max.max(min), scale }
            }
            "real" | "double precision" => {
                let (lo, hi) = number_range(&n, false);
                Kind::Float {
                    min: bound(&domain.lower, lo as f64, 0.001),
                    max: bound_upper(&domain.upper, hi as f64, 0.001),
                }
            }
            "boolean" => Kind::Bool,
            "text" | "character varying" | "character" | "citext" | "name" | "varchar" | "bpchar" => {
                let declared = type_length(base_type);
                let max_len = match (declared, domain.max_len) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                Kind::Text {
                    realism: Realism::from_name(name),
                    min_len: domain.min_len.unwrap_or(0),
                    max_len,
                }
            }
            "uuid" => Kind::Uuid,
            "date" => {
                let epoch = NaiveDateTime::parse_from_str(EPOCH, "%Y-%m-%d %H:%M:%S").expect("epoch").date();
                let min = parse_time(&domain.lower).map(|t| t.date()).unwrap_or(epoch - Duration::days(SPREAD_DAYS));
                let max = parse_time(&domain.upper).map(|t| t.date()).unwrap_or(epoch);
                Kind::Date { min, days: (max - min).num_days().max(1) }
            }
            "timestamp with time zone" | "timestamp without time zone" | "timestamp" | "timestamptz" => {
                let epoch = NaiveDateTime::parse_from_str(EPOCH, "%Y-%m-%d %H:%M:%S").expect("epoch");
                let min = parse_time(&domain.lower).unwrap_or(epoch - Duration::days(SPREAD_DAYS));
                let max = parse_time(&domain.upper).unwrap_or(epoch);
                Kind::Timestamp {
                    min,
                    seconds: (max - min).num_seconds().max(1),
                    tz: base.contains("with time zone") || base == "timestamptz",
                }
            }
            "time without time zone" | "time" => Kind::Time,
            "interval" => Kind::Interval,
            "json" | "jsonb" => Kind::Json {
                array: match domain.json_type.as_deref() {
                    Some(kind) => kind == "array",
                    None => ["tags", "labels", "items", "list", "ids", "keywords"].iter().any(|w| n.contains(w)),
                },
            },
            "inet" | "cidr" => Kind::Inet,
            "bytea" => Kind::Bytea,
            // A document's lexemes: plain words are valid tsvector input.
            "tsvector" => Kind::Text { realism: Realism::Subject, min_len: 1, max_len: None },
            _ => return None,
        })
    }

    /// The generator a scenario's `[seeding.columns]` entry describes.
    pub fn from_override(o: &ColumnOverride, name: &str, base_type: &str) -> Result<Kind, String> {
        if let Some(value) = &o.constant {
            return Ok(Kind::Constant(value.clone()));
        }
        if let Some(values) = &o.list {
            if values.is_empty() {
                return Err("list is empty".into());
            }
            return Ok(Kind::OneOf(values.clone()));
        }
        if let Some(pattern) = &o.regex {
            return Pattern::compile(pattern, None)
                .map(|p| Kind::Pattern(Box::new(p)))
                .map_err(|e| format!("regex `{pattern}`: {e}"));
        }
        let mut domain = ColumnDomain::default();
        if let Some((lo, hi)) = o.range {
            if lo > hi {
                return Err(format!("range [{lo}, {hi}] is empty"));
            }
            domain.lower = Some((lo.to_string(), true));
            domain.upper = Some((hi.to_string(), true));
        }
        let named = o.fake.as_deref().unwrap_or(name);
        let kind = Kind::for_column(named, base_type, None, &domain)
            .ok_or_else(|| format!("no generator for type `{base_type}`"))?;
        if o.range.is_some() && !matches!(kind, Kind::Int { .. } | Kind::Decimal { .. } | Kind::Float { .. }) {
            return Err(format!("range needs a numeric column, not `{base_type}`"));
        }
        Ok(kind)
    }

    /// One value. `ordinal`, when given, must make the value distinct from
    /// every other ordinal's (unique columns).
    pub fn sample(&self, rng: &mut RowRng, ordinal: Option<u64>) -> Value {
        match self {
            Kind::Int { min, max } => match ordinal {
                Some(o) => Value::Int(min + (o % self.distinct_values().unwrap_or(u64::MAX)) as i64),
                None => Value::Int(rng.random_range(*min..=*max)),
            },
            Kind::Decimal { min, max, scale } => match ordinal {
                Some(o) => Value::Decimal(min + (o % self.distinct_values().unwrap_or(u64::MAX)) as i128, *scale),
                None => Value::Decimal(rng.random_range(*min..=*max), *scale),
            },
            Kind::Float { min, max } => {
                Value::Float(ordinal.map_or_else(|| rng.random_range(*min..=*max), |o| min + o as f64))
            }
            Kind::Bool => Value::Bool(ordinal.map_or_else(|| rng.random_bool(0.5), |o| o % 2 == 1)),
            Kind::Text { realism, min_len, max_len } => {
                let mut text = realism.sample(rng);
                if let Some(o) = ordinal {
                    text = realism.unique(text, o);
                }
                Value::Text(fit(text, *min_len, *max_len, ordinal))
            }
            Kind::Pattern(pattern) => Value::Text(pattern.sample(rng, ordinal)),
            Kind::OneOf(values) => {
                let i = ordinal.map_or_else(|| rng.random_range(0..values.len()), |o| o as usize % values.len());
                Value::Raw(values[i].clone())
            }
            // With an ordinal the low half is the ordinal itself: distinct by construction.
            Kind::Uuid => Value::Uuid(((rng.next_u64() as u128) << 64) | ordinal.unwrap_or_else(|| rng.next_u64()) as u128),
            Kind::Date { min, days } => Value::Date(*min + Duration::days(ordinal.map_or_else(|| rng.random_range(0..*days), |o| o as i64 % days))),
            Kind::Timestamp { min, seconds, tz } => {
                let offset = ordinal.map_or_else(|| rng.random_range(0..*seconds), |o| o as i64 % seconds);
                Value::Timestamp(*min + Duration::seconds(offset), *tz)
            }
            Kind::Time => Value::Raw(
                NaiveTime::from_num_seconds_from_midnight_opt(rng.random_range(0..86_400), 0)
                    .expect("in range")
                    .format("%H:%M:%S")
                    .to_string(),
            ),
            Kind::Interval => Value::Raw(format!("{} minutes", rng.random_range(1..10_000))),
            Kind::Json { array: true } => Value::Raw(format!(
                r#"["{}", "{}"]"#,
                Word().fake_with_rng::<String, _>(rng),
                Word().fake_with_rng::<String, _>(rng)
            )),
            Kind::Json { array: false } => Value::Raw(format!(
                r#"{{"source": "{}", "score": {}, "tags": ["{}", "{}"]}}"#,
                Word().fake_with_rng::<String, _>(rng),
                rng.random_range(0..100),
                Word().fake_with_rng::<String, _>(rng),
                Word().fake_with_rng::<String, _>(rng)
            )),
            Kind::Inet => Value::Raw(IPv4().fake_with_rng(rng)),
            Kind::Bytea => {
                let bytes: [u8; 8] = rng.random();
                Value::Raw(format!("\\x{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
            }
            Kind::Array(inner) => {
                let items: Vec<String> = (0..rng.random_range(0..4))
                    .filter_map(|_| inner.sample(rng, None).text())
                    .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
                    .collect();
                Value::Raw(format!("{{{}}}", items.join(",")))
            }
            Kind::Constant(value) => Value::Raw(value.clone()),
        }
    }

    /// How many distinct values ordinals can make (`None`: unbounded).
    pub fn distinct_values(&self) -> Option<u64> {
        match self {
            Kind::Bool => Some(2),
            Kind::Date { days, .. } => Some(*days as u64),
            Kind::Timestamp { seconds, .. } => Some(*seconds as u64),
            Kind::OneOf(values) => Some(values.len() as u64),
            Kind::Int { min, max } => Some((max - min).unsigned_abs() + 1),
            Kind::Decimal { min, max, .. } => Some((max - min).unsigned_abs() as u64 + 1),
            Kind::Constant(_) => Some(1),
            Kind::Pattern(pattern) => pattern.distinct_values(),
            _ => None,
        }
    }
}

/// Fits text to length limits, keeping a unique suffix intact.
fn fit(mut text: String, min_len: usize, max_len: Option<usize>, ordinal: Option<u64>) -> String {
    while text.chars().count() < min_len.max(1) {
        text.push('x');
    }
    if let Some(max) = max_len {
        if text.chars().count() > max {
            let suffix = ordinal.map(|o| format!("-{o}")).unwrap_or_default();
            let keep = max.saturating_sub(suffix.chars().count());
            text = text.chars().take(keep).collect::<String>() + &suffix;
            text = text.chars().rev().take(max).collect::<Vec<_>>().into_iter().rev().collect();
        }
    }
    text
}

/// Typical ranges by column name, so amounts, scores and counts look real.
fn number_range(name: &str, small: bool) -> (i64, i64) {
    let has = |words: &[&str]| words.iter().any(|w| name.contains(w));
    if has(&["score", "percent", "rate", "ratio", "confidence", "probability"]) {
        (0, 100)
    } else if has(&["amount", "price", "budget", "value", "revenue", "cost", "total", "balance", "salary", "fee"]) {
        (0, 100_000)
    } else if has(&["count", "attempt", "retries", "_num", "number", "quantity", "size", "depth", "sent", "opened", "clicked"]) {
        (0, 1_000)
    } else if has(&["priority", "level", "order", "position", "rank", "step"]) {
        (0, 10)
    } else if has(&["port"]) {
        (1, 65_535)
    } else if small {
        (0, 1_000)
    } else {
        (0, 1_000_000)
    }
}

/// The inclusive lower end: the CHECK's bound when there is one (`> 0`
/// becomes `>= step`), else the name-based default.
fn bound(lower: &Option<(String, bool)>, default: f64, step: f64) -> f64 {
    match lower.as_ref().and_then(|(v, inclusive)| Some((v.parse::<f64>().ok()?, *inclusive))) {
        Some((v, true)) => v,
        Some((v, false)) => v + step,
        None => default,
    }
}

/// The inclusive upper end, likewise.
fn bound_upper(upper: &Option<(String, bool)>, default: f64, step: f64) -> f64 {
    match upper.as_ref().and_then(|(v, inclusive)| Some((v.parse::<f64>().ok()?, *inclusive))) {
        Some((v, true)) => v,
        Some((v, false)) => v - step,
        None => default,
    }
}

fn parse_time(bound: &Option<(String, bool)>) -> Option<NaiveDateTime> {
    let (text, _) = bound.as_ref()?;
    let text = text.trim();
    let without_zone = text.trim_end_matches(|c: char| c == '+' || c == '-' || c.is_ascii_digit() || c == ':');
    let candidates = [text, without_zone];
    for candidate in candidates {
        for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(candidate, format) {
                return Some(t);
            }
            if let Ok(d) = NaiveDate::parse_from_str(candidate, format) {
                return d.and_hms_opt(0, 0, 0);
            }
        }
    }
    // `2026-08-01 00:00:00+00`: cut the zone after the seconds.
    let cut = text.get(..19)?;
    NaiveDateTime::parse_from_str(cut, "%Y-%m-%d %H:%M:%S").ok()
}

/// `numeric(12,2)` → (Some(12), 2)
fn precision_scale(data_type: &str) -> (Option<u32>, u32) {
    let inner = data_type.split_once('(').and_then(|(_, r)| r.strip_suffix(')'));
    match inner.map(|i| i.split(',').map(|p| p.trim().parse::<u32>().ok()).collect::<Vec<_>>()) {
        Some(parts) if parts.len() == 2 => (parts[0], parts[1].unwrap_or(0)),
        Some(parts) if parts.len() == 1 => (parts[0], 0),
        _ => (None, 2),
    }
}

/// `character varying(100)` → Some(100)
fn type_length(data_type: &str) -> Option<usize> {
    data_type.split_once('(')?.1.strip_suffix(')')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::domain::Domains;

    fn kind(name: &str, ty: &str, checks: &[&str]) -> Kind {
        let mut domains = Domains::default();
        for c in checks {
            domains.add(c, &[name.to_string()]);
        }
        Kind::for_column(name, ty, None, domains.columns.get(name).unwrap_or(&ColumnDomain::default())).expect("kind")
    }

    #[test]
    fn honours_ranges_lists_lengths_and_regexes() {
        let mut rng = RowRng::new(1, 1);
        let score = kind("score", "integer", &["CHECK (((score >= 0) AND (score <= 100)))"]);
        let points = kind("points", "integer", &["CHECK (((points >= '-100'::integer) AND (points <= 100)))"]);
        let budget = kind("budget", "numeric(12,2)", &["CHECK ((budget > (0)::numeric))"]);
        let code = kind("code", "character varying(6)", &[]);
        let email = kind("email", "text", &["CHECK ((email ~* '^[a-z]{3,8}@example\\.org$'::text))"]);
        for row in 0..500 {
            let mut rng = RowRng::new(9, row);
            match score.sample(&mut rng, None) {
                Value::Int(v) => assert!((0..=100).contains(&v)),
                v => panic!("{v:?}"),
            }
            match points.sample(&mut rng, None) {
                Value::Int(v) => assert!((-100..=100).contains(&v)),
                v => panic!("{v:?}"),
            }
            match budget.sample(&mut rng, None) {
                Value::Decimal(d, 2) => assert!((1..=9_999_999_999).contains(&d)),
                v => panic!("{v:?}"),
            }
            let c = code.sample(&mut rng, Some(row)).text().unwrap();
            assert!(c.chars().count() <= 6, "{c}");
            let e = email.sample(&mut rng, None).text().unwrap();
            assert!(e.ends_with("@example.org"), "{e}");
        }
        assert_eq!(Value::Decimal(-1234, 2).text().unwrap(), "-12.34");
        assert!(matches!(kind("status", "text", &["CHECK ((status = ANY (ARRAY['a'::text, 'b'::text])))"]).sample(&mut rng, None), Value::Raw(s) if s == "a" || s == "b"));
    }

    #[test]
    fn unique_ordinals_give_distinct_text_that_fits() {
        let k = kind("email", "character varying(20)", &[]);
        let values: std::collections::HashSet<String> =
            (0..1000).map(|o| k.sample(&mut RowRng::new(3, o), Some(o)).text().unwrap()).collect();
        assert_eq!(values.len(), 1000);
        assert!(values.iter().all(|v| v.chars().count() <= 20));
    }
}
