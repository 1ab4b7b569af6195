//! The scenario's named queries with latency targets (`[[latency]]`): what
//! to run, how its parameters are bound each iteration, how long to measure
//! and which statistic must stay under which target. Everything here is
//! checked when the scenario loads, before any server starts.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use regex::Regex;
use serde::Deserialize;

/// Measurement effort when neither the entry nor the profile says.
const DEFAULT_WARMUP: u32 = 5;
const DEFAULT_ITERATIONS: u32 = 50;
const DEFAULT_CONCURRENCY: u32 = 1;
/// Tables with more rows than this must not be scanned sequentially.
const DEFAULT_SEQ_SCAN_ROWS: u64 = 10_000;

/// One `[[latency]]` entry, resolved.
#[derive(Debug, Clone)]
pub struct LatencyQuery {
    pub tier: String,
    /// Unique per tier; the findings' object.
    pub name: String,
    /// The statement, `$1`-style parameters.
    pub sql: String,
    /// What binds `$1`, `$2`, ... in order (a date range binds two).
    pub params: Vec<Param>,
    pub statistic: Statistic,
    pub target_ms: f64,
    /// What the entry says about effort; the profile fills the rest.
    pub measure: MeasureOverride,
}

/// How one iteration's parameters are drawn, always for the tenant the
/// iteration acts as.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// The tenant id itself.
    Tenant,
    /// `row:SCHEMA.TABLE.COLUMN`: the column of a seeded row of that tenant.
    Row { schema: String, table: String, column: String },
    /// `value:TEXT`: a fixed value, cast by the server to the parameter's type.
    Value(String),
    /// `date_range:DAYS`: two dates, DAYS apart, ending within the last DAYS days.
    DateRange(u32),
}

impl Param {
    /// How many `$n` placeholders this binds.
    pub fn width(&self) -> usize {
        match self {
            Param::DateRange(_) => 2,
            _ => 1,
        }
    }
}

impl FromStr for Param {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, arg) = s.split_once(':').unwrap_or((s, ""));
        match (kind, arg) {
            ("tenant", "") => Ok(Param::Tenant),
            ("value", value) => Ok(Param::Value(value.to_string())),
            ("row", column) => match column.split('.').collect::<Vec<_>>()[..] {
                [schema, table, column] if [schema, table, column].iter().all(|p| !p.is_empty()) => {
                    Ok(Param::Row { schema: schema.into(), table: table.into(), column: column.into() })
                }
                _ => Err(format!("`{s}`: row parameters name SCHEMA.TABLE.COLUMN (`row:public.leads.id`)")),
            },
            ("date_range", days) => match days.parse::<u32>() {
                Ok(days) if days > 0 => Ok(Param::DateRange(days)),
                _ => Err(format!("`{s}`: a date range is `date_range:DAYS` with DAYS >= 1")),
            },
            _ => Err(format!("unknown parameter `{s}` (tenant, row:SCHEMA.TABLE.COLUMN, value:TEXT, date_range:DAYS)")),
        }
    }
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Param::Tenant => f.write_str("tenant"),
            Param::Row { schema, table, column } => write!(f, "row:{schema}.{table}.{column}"),
            Param::Value(v) => write!(f, "value:{v}"),
            Param::DateRange(days) => write!(f, "date_range:{days}"),
        }
    }
}

/// The statistic a target holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Statistic {
    P50,
    #[default]
    P95,
    P99,
    Mean,
    Max,
}

impl fmt::Display for Statistic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Statistic::P50 => "p50",
            Statistic::P95 => "p95",
            Statistic::P99 => "p99",
            Statistic::Mean => "mean",
            Statistic::Max => "max",
        })
    }
}

/// Measurement effort, as one entry or one profile states it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MeasureOverride {
    /// Unmeasured runs per connection first (plans cached, pages in memory).
    pub warmup: Option<u32>,
    /// Measured runs in all, spread over the connections.
    pub iterations: Option<u32>,
    /// Connections running the query at once.
    pub concurrency: Option<u32>,
    pub seq_scan_rows: Option<u64>,
}

impl MeasureOverride {
    /// `self` where it speaks, else `under`.
    pub fn over(self, under: MeasureOverride) -> MeasureOverride {
        MeasureOverride {
            warmup: self.warmup.or(under.warmup),
            iterations: self.iterations.or(under.iterations),
            concurrency: self.concurrency.or(under.concurrency),
            seq_scan_rows: self.seq_scan_rows.or(under.seq_scan_rows),
        }
    }

    pub fn resolve(self) -> Measure {
        Measure {
            warmup: self.warmup.unwrap_or(DEFAULT_WARMUP),
            iterations: self.iterations.unwrap_or(DEFAULT_ITERATIONS),
            concurrency: self.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            seq_scan_rows: self.seq_scan_rows.unwrap_or(DEFAULT_SEQ_SCAN_ROWS),
        }
    }
}

/// Measurement effort for one query, every value known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    pub warmup: u32,
    pub iterations: u32,
    pub concurrency: u32,
    pub seq_scan_rows: u64,
}

/// `[[latency]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyFile {
    tier: String,
    name: String,
    sql: Option<String>,
    /// A file of `-- name:` blocks (relative to the scenario file)...
    file: Option<PathBuf>,
    /// ...and the block to take (default: `name`).
    query: Option<String>,
    #[serde(default)]
    params: Vec<String>,
    #[serde(default)]
    statistic: Statistic,
    target_ms: f64,
    // Spelled out: serde cannot deny unknown keys through `flatten`.
    warmup: Option<u32>,
    iterations: Option<u32>,
    concurrency: Option<u32>,
    seq_scan_rows: Option<u64>,
}

impl LatencyFile {
    /// Checks the entry and reads its statement; `base` is the scenario's folder.
    pub fn resolve(self, base: &Path) -> Result<LatencyQuery, String> {
        let at = format!("latency `{}` (tier {})", self.name, self.tier);
        if self.query.is_some() && self.file.is_none() {
            return Err(format!("{at}: `query` names a block of `file`, and there is no file"));
        }
        let sql = match (self.sql, &self.file) {
            (Some(sql), None) => sql,
            (None, Some(file)) => {
                let path = if file.is_absolute() { file.clone() } else { base.join(file) };
                let text =
                    std::fs::read_to_string(&path).map_err(|e| format!("{at}: cannot read {}: {e}", path.display()))?;
                let wanted = self.query.as_deref().unwrap_or(&self.name);
                named_query(&text, wanted)
                    .ok_or_else(|| format!("{at}: {} has no `-- name: {wanted}` block", path.display()))?
            }
            _ => return Err(format!("{at}: give either `sql` or `file` (with `query`)")),
        };
        let params = self
            .params
            .iter()
            .map(|p| p.parse())
            .collect::<Result<Vec<Param>, _>>()
            .map_err(|m| format!("{at}: {m}"))?;
        let bound: usize = params.iter().map(Param::width).sum();
        let placeholders = placeholders(&sql);
        if bound != placeholders {
            return Err(format!(
                "{at}: the statement uses {placeholders} parameter(s) ($1..${placeholders}) and `params` binds {bound}"
            ));
        }
        if !(self.target_ms.is_finite() && self.target_ms > 0.0) {
            return Err(format!("{at}: target_ms must be a positive number of milliseconds"));
        }
        let measure = MeasureOverride {
            warmup: self.warmup,
            iterations: self.iterations,
            concurrency: self.concurrency,
            seq_scan_rows: self.seq_scan_rows,
        };
        check_effort(&at, &measure)?;
        if self.name.is_empty() || self.name.contains(|c: char| c.is_whitespace()) {
            return Err(format!("{at}: the name must be one word"));
        }
        Ok(LatencyQuery {
            tier: self.tier,
            name: self.name,
            sql,
            params,
            statistic: self.statistic,
            target_ms: self.target_ms,
            measure,
        })
    }
}

/// Zero iterations or connections would measure nothing and pass.
pub fn check_effort(at: &str, measure: &MeasureOverride) -> Result<(), String> {
    if measure.iterations == Some(0) || measure.concurrency == Some(0) {
        return Err(format!("{at}: iterations and concurrency must be at least 1"));
    }
    Ok(())
}

/// The statement after `-- name: NAME` up to the next block: comment lines
/// dropped, the final `;` too (it is sent inside PREPARE).
fn named_query(text: &str, name: &str) -> Option<String> {
    let mut lines = text.lines().skip_while(|l| l.strip_prefix("-- name:").map(str::trim) != Some(name));
    lines.next()?;
    let body: Vec<&str> =
        lines.take_while(|l| !l.starts_with("-- name:")).filter(|l| !l.trim_start().starts_with("--")).collect();
    let sql = body.join("\n");
    let sql = sql.trim().trim_end_matches(';').trim_end();
    (!sql.is_empty()).then(|| sql.to_string())
}

/// The highest `$n` in a statement (PostgreSQL numbers them from 1).
fn placeholders(sql: &str) -> usize {
    let re = Regex::new(r"\$(\d+)").expect("valid regex");
    re.captures_iter(sql).filter_map(|c| c[1].parse().ok()).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse_and_name_their_kinds_when_unknown() {
        assert_eq!("tenant".parse(), Ok(Param::Tenant));
        assert_eq!("value:new".parse(), Ok(Param::Value("new".into())));
        assert_eq!("date_range:30".parse(), Ok(Param::DateRange(30)));
        assert_eq!(
            "row:public.leads.id".parse(),
            Ok(Param::Row { schema: "public".into(), table: "leads".into(), column: "id".into() })
        );
        assert!("row:leads.id".parse::<Param>().is_err());
        assert!("tenants".parse::<Param>().unwrap_err().contains("unknown parameter `tenants`"));
    }

    #[test]
    fn named_blocks_are_cut_at_the_next_name() {
        let text = "-- name: a\n-- about a\nSELECT $1;\n\n-- name: b\nSELECT 2\nFROM t;\n";
        assert_eq!(named_query(text, "a").as_deref(), Some("SELECT $1"));
        assert_eq!(named_query(text, "b").as_deref(), Some("SELECT 2\nFROM t"));
        assert_eq!(named_query(text, "c"), None);
        assert_eq!(placeholders("SELECT $1, $2, $1"), 2);
    }
}
