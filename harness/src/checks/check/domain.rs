//! `check.domain`: a column's constraints disagree with the domain the
//! scenario declares for it (`[domains]`): a value outside is accepted (a
//! CHECK too weak: `OR` for `AND`, a bound off by one, a missing CHECK), or
//! a value inside is refused (too strict: a status left out of the list).
//! Reading CHECK text cannot tell this reliably, so values are tried: each
//! is written by an UPDATE of one existing row, as the superuser (RLS is
//! not the question here), under a savepoint that is rolled back.
//!
//! Boundaries are tried explicitly (for `range [0, 100]`: 0 and 100 must be
//! accepted, -1 and 101 refused), then random values on each side,
//! property-based with proptest, seeded from the run seed. A failing side
//! is shrunk to its minimal value, which is what the finding reports.

use std::cell::{Cell, RefCell};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestCaseError, TestError, TestRunner};
use regex::Regex;
use serde_json::Value;
use tokio::runtime::Handle;

use crate::catalog::{Column, Table};
use crate::checks::sandbox::{Outcome, Sandbox};
use crate::sql::sqlstate;
use crate::checks::{CheckId, Finding, Severity, Status, TierContext};
use crate::truth::SeedTruth;
use crate::scenario::expectations::Domain;
use crate::sql::{quote_ident, quote_literal};

pub const ID: CheckId = CheckId::new(
    "check.domain",
    Severity::Error,
    r#"a value outside the declared `[domains]` entry is accepted, or one inside refused (the minimal such value is reported)"#,
);

/// A `skip` finding (warning) for each table, or rows of one, that seeding
/// could not make: `check.domain` is the closest stable id, since it
/// judges which values a column's constraints accept, and here they accept
/// none the seeder could make (or the table's parent is empty for that
/// reason). Reported whatever families run: every check that reads such a
/// table sees it empty or short.
pub fn unseeded(seeded: &dyn SeedTruth) -> Vec<Finding> {
    seeded
        .unseeded()
        .into_iter()
        .map(|u| {
            let finding = Finding::new(ID.id, &u.tier, &u.object, Status::Skip, Severity::Warning).message(u.message.clone());
            match u.rows.len() {
                0 => finding,
                count => finding.detail("count", count).detail("samples", u.samples()),
            }
        })
        .collect()
}

/// Random values tried on each side of a domain (besides the boundaries).
const CASES: u32 = 32;
/// Shrinking steps allowed per failing side; each is one UPDATE.
const MAX_SHRINK_STEPS: u32 = 256;
/// Refusals for unrelated reasons (a unique key, an FK) tolerated per side.
const MAX_UNRELATED: u32 = 256;
/// Refusals that are not about the value's domain: they show nothing.
const UNRELATED: [&str; 5] = [
    sqlstate::UNIQUE_VIOLATION,
    sqlstate::FOREIGN_KEY_VIOLATION,
    sqlstate::RESTRICT_VIOLATION,
    sqlstate::EXCLUSION_VIOLATION,
    sqlstate::STRING_DATA_RIGHT_TRUNCATION,
];

/// Where a value lies relative to the declared domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Inside,
    Outside,
}

/// What the database did with one value.
enum Verdict {
    Accepted,
    Refused(String),
    /// Refused for a reason that says nothing about the domain.
    Unrelated(String),
}

/// The values to try for one column.
struct Trials {
    boundaries: Vec<(String, Side)>,
    /// Named random properties; each is shrunk on its own.
    properties: Vec<(&'static str, Side, SBoxedStrategy<String>)>,
}

/// What the trials showed.
#[derive(Default)]
struct Results {
    accepted_outside: Vec<String>,
    /// Value and the server's reason.
    refused_inside: Vec<(String, String)>,
    /// Why a side could not be judged.
    unjudged: Vec<String>,
    tried: usize,
}

pub async fn check(ctx: &TierContext<'_>, external: bool) -> Vec<Finding> {
    let tier = ctx.tier();
    let mut findings = Vec::new();
    for declared in ctx.scenario.expectations.domains.iter().filter(|d| d.column.table.tier == tier) {
        let name = &declared.column;
        let object = format!("{}.{}.{}", name.table.schema, name.table.table, name.column);
        let found = ctx.catalog.table(&name.table.qual_name());
        let Some((table, column)) = found.and_then(|t| Some((t, t.column(&name.column)?))) else {
            findings.push(ID.error(tier, object, format!("{name} is not a column of this tier")));
            continue;
        };
        if external {
            findings.push(ID.skip(tier, object, "external databases are audited read-only: no value is written"));
            continue;
        }
        let salt = format!("{}:{tier}.{object}", ctx.scenario.seed);
        let trials = match trials(&declared.domain, column) {
            Ok(trials) => trials,
            Err(why) => {
                findings.push(ID.error(tier, object, why));
                continue;
            }
        };
        findings.push(match run(ctx, table, column, trials, salt).await {
            Ok(Some((results, statement))) => verdict(tier, &object, &declared.domain, results, &statement),
            Ok(None) => ID.skip(tier, object, format!("{} has no row to update", table.name)),
            Err(e) => ID.error(tier, object, format!("values could not be tried: {e}")),
        });
    }
    findings
}

fn verdict(tier: &str, object: &str, domain: &Domain, results: Results, statement: &str) -> Finding {
    let mut problems = Vec::new();
    if let Some(value) = results.accepted_outside.first() {
        problems.push(format!("accepts {} (outside)", quote_literal(value)));
    }
    if let Some((value, why)) = results.refused_inside.first() {
        problems.push(format!("refuses {} (inside: {why})", quote_literal(value)));
    }
    if problems.is_empty() {
        return match results.unjudged.first() {
            Some(why) => ID.error(tier, object, format!("the domain could not be judged: {why}")),
            None => ID.pass(tier, object, format!("{} values tried: inside the domain ({domain}) accepted, outside refused", results.tried)),
        };
    }
    let minimal = results.accepted_outside.first().or(results.refused_inside.first().map(|(v, _)| v)).expect("a problem");
    ID.fail(tier, object, format!("{object} {}; declared: {domain}", problems.join(" and ")))
        .detail("declared", domain.to_string())
        .detail("accepted_outside", results.accepted_outside.clone())
        .detail("refused_inside", results.refused_inside.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>())
        .detail("statement", statement.replace("$1 #>> '{}'", &quote_literal(minimal)))
        .detail("tried", results.tried)
}

/// Tries every value on one row, in a sandbox, from a blocking thread:
/// proptest's runner is synchronous, so each value's UPDATE is driven
/// with the runtime's `block_on`. None when the table has no row.
async fn run(ctx: &TierContext<'_>, table: &Table, column: &Column, trials: Trials, salt: String) -> Result<Option<(Results, String)>, sqlx::Error> {
    let mut sandbox = Sandbox::open(ctx.pool).await?;
    // The first row by key that every CHECK holds for (an old row that
    // breaks a NOT VALID CHECK would refuse every value); tableoid too: a
    // ctid is unique only within one partition.
    let holds: Vec<String> = table.constraints.iter().filter_map(|c| c.check_expression()).map(|e| format!("({e}) IS NOT FALSE")).collect();
    let locate = format!(
        "SELECT tableoid::regclass::text, ctid::text FROM {} t ORDER BY {}{} LIMIT 1",
        table.name.sql(),
        if holds.is_empty() { String::new() } else { format!("({}) DESC, ", holds.join(" AND ")) },
        table.key_order("t")
    );
    let Some((partition, ctid)) = sqlx::query_as::<_, (String, String)>(&locate).fetch_optional(sandbox.conn()).await? else {
        return Ok(None);
    };
    let statement = format!(
        "UPDATE {table} SET {column} = CAST($1 #>> '{{}}' AS {data_type}) WHERE tableoid = {partition}::regclass AND ctid = {ctid}::tid",
        table = table.name.sql(),
        column = quote_ident(&column.name),
        data_type = column.data_type,
        partition = quote_literal(&partition),
        ctid = quote_literal(&ctid),
    );
    let handle = Handle::current();
    let update = statement.clone();
    let results = tokio::task::spawn_blocking(move || {
        let sandbox = RefCell::new(sandbox);
        let error: RefCell<Option<sqlx::Error>> = RefCell::new(None);
        let tried = Cell::new(0usize);
        let try_value = |value: &str| -> Option<Verdict> {
            tried.set(tried.get() + 1);
            match handle.block_on(attempt(&mut sandbox.borrow_mut(), &update, value)) {
                Ok(verdict) => Some(verdict),
                Err(e) => {
                    error.borrow_mut().get_or_insert(e);
                    None
                }
            }
        };
        let mut results = Results::default();
        for (value, side) in &trials.boundaries {
            match (side, try_value(value)) {
                (Side::Outside, Some(Verdict::Accepted)) => results.accepted_outside.push(value.clone()),
                (Side::Inside, Some(Verdict::Refused(why))) => results.refused_inside.push((value.clone(), why)),
                _ => {}
            }
        }
        for (name, side, strategy) in &trials.properties {
            let mut runner = TestRunner::new(Config {
                cases: CASES,
                max_shrink_iters: MAX_SHRINK_STEPS,
                max_global_rejects: MAX_UNRELATED,
                failure_persistence: None,
                rng_algorithm: RngAlgorithm::ChaCha,
                rng_seed: RngSeed::Fixed(crate::rng::stream(0, &[&salt, name])),
                ..Config::default()
            });
            let outcome = runner.run(strategy, |value| match (side, try_value(&value)) {
                (_, None) => Err(TestCaseError::fail("database error")),
                (_, Some(Verdict::Unrelated(why))) => Err(TestCaseError::reject(why)),
                (Side::Inside, Some(Verdict::Refused(why))) => Err(TestCaseError::fail(why)),
                (Side::Outside, Some(Verdict::Accepted)) => Err(TestCaseError::fail("accepted")),
                _ => Ok(()),
            });
            match outcome {
                Ok(()) => {}
                Err(TestError::Fail(why, value)) => match side {
                    Side::Outside => results.accepted_outside.push(value),
                    Side::Inside => results.refused_inside.push((value, why.message().to_string())),
                },
                Err(TestError::Abort(why)) => results.unjudged.push(format!("{name}: {}", why.message())),
            }
        }
        results.tried = tried.get();
        match error.into_inner() {
            Some(e) => Err(e),
            None => Ok(results),
        }
    })
    .await
    .map_err(|e| sqlx::Error::Protocol(format!("the trials stopped: {e}")))??;
    Ok(Some((results, statement)))
}

/// Writes one value and undoes it.
async fn attempt(sandbox: &mut Sandbox, update: &str, value: &str) -> Result<Verdict, sqlx::Error> {
    Ok(match sandbox.attempt(None, update, &Value::String(value.to_string())).await? {
        Outcome::Accepted { .. } => {
            sandbox.undo().await?;
            Verdict::Accepted
        }
        Outcome::Refused(refusal) if UNRELATED.contains(&refusal.code.as_str()) => Verdict::Unrelated(refusal.message),
        Outcome::Refused(refusal) => Verdict::Refused(refusal.message),
    })
}

// ---------------------------------------------------------------------------
// The values to try, by domain and column type.

/// A numeric column's values: `units / 10^scale`, `min..=max` units.
#[derive(Debug, Clone, Copy)]
struct Grid {
    scale: u32,
    min: i128,
    max: i128,
}

impl Grid {
    /// None for non-numeric types. Unscaled numerics and floats are tried
    /// in hundredths, within bounds their precision keeps exact enough.
    fn of(base_type: &str) -> Option<Grid> {
        let numeric = Regex::new(r"^numeric\((\d+)(?:,(\d+))?\)$").expect("valid regex");
        let bounded = |scale: u32, digits: u32| Grid { scale, min: -(10i128.pow(digits) - 1), max: 10i128.pow(digits) - 1 };
        Some(match base_type {
            "smallint" => Grid { scale: 0, min: i16::MIN.into(), max: i16::MAX.into() },
            "integer" => Grid { scale: 0, min: i32::MIN.into(), max: i32::MAX.into() },
            "bigint" => Grid { scale: 0, min: i64::MIN.into(), max: i64::MAX.into() },
            "real" => bounded(2, 8),
            "numeric" | "double precision" => bounded(2, 15),
            _ => {
                let m = numeric.captures(base_type)?;
                let precision: u32 = m[1].parse().ok()?;
                let scale: u32 = m.get(2).map_or(Some(0), |s| s.as_str().parse().ok())?;
                bounded(scale, precision)
            }
        })
    }

    /// `units` written as a decimal.
    fn render(&self, units: i128) -> String {
        if self.scale == 0 {
            return units.to_string();
        }
        let scale = self.scale as usize;
        let digits = format!("{:0>width$}", units.unsigned_abs(), width = scale + 1);
        let (whole, fraction) = digits.split_at(digits.len() - scale);
        format!("{}{whole}.{fraction}", if units < 0 { "-" } else { "" })
    }

    /// A decimal in units, rounded toward `up` (ceil) or down (floor).
    fn units(&self, value: f64, up: bool) -> i128 {
        let scaled = value * 10f64.powi(self.scale as i32);
        let rounded = if up { scaled.ceil() } else { scaled.floor() };
        (rounded as i128).clamp(self.min, self.max)
    }

    /// Values `from`, `from ± 1`, ... up to `to` (either direction): small
    /// steps from the boundary as often as far ones, shrinking to `from`.
    fn walk(self, from: i128, to: i128) -> SBoxedStrategy<String> {
        let span = (to - from).abs();
        let direction = if to >= from { 1 } else { -1 };
        prop_oneof![0..=span.min(1000), 0..=span]
            .prop_map(move |step| self.render(from + direction * step))
            .sboxed()
    }
}

fn trials(domain: &Domain, column: &Column) -> Result<Trials, String> {
    let grid = Grid::of(&column.base_type);
    match (domain, grid) {
        (Domain::Range { .. } | Domain::Positive | Domain::NonNegative, Some(grid)) => Ok(interval_trials(domain, grid)),
        (Domain::Range { .. } | Domain::Positive | Domain::NonNegative, None) => {
            Err(format!("{domain} is declared for a column of type {}, which is not numeric", column.data_type))
        }
        (Domain::List(values), Some(grid)) => numeric_list_trials(values, grid),
        (Domain::List(values), None) => Ok(text_list_trials(values)),
        (Domain::Regex(regex), _) => regex_trials(regex),
        (Domain::Email, _) => Ok(email_trials()),
    }
}

fn interval_trials(domain: &Domain, grid: Grid) -> Trials {
    let (low, high) = match domain {
        Domain::Range { min, max } => (grid.units(*min, true), grid.units(*max, false)),
        Domain::Positive => (1, grid.max),
        Domain::NonNegative => (0, grid.max),
        _ => unreachable!("numeric domains only"),
    };
    let mut trials = Trials {
        boundaries: vec![(grid.render(low), Side::Inside), (grid.render(high), Side::Inside)],
        properties: vec![("inside", Side::Inside, grid.walk(low, high))],
    };
    if low > grid.min {
        trials.boundaries.push((grid.render(low - 1), Side::Outside));
        trials.properties.push(("below", Side::Outside, grid.walk(low - 1, grid.min)));
    }
    if high < grid.max {
        trials.boundaries.push((grid.render(high + 1), Side::Outside));
        trials.properties.push(("above", Side::Outside, grid.walk(high + 1, grid.max)));
    }
    trials
}

/// Every listed value inside; numbers around and between them outside.
fn numeric_list_trials(values: &[String], grid: Grid) -> Result<Trials, String> {
    let listed = values
        .iter()
        .map(|v| v.parse::<f64>().map(|f| grid.units(f, true)).map_err(|_| format!("`{v}` is not a number")))
        .collect::<Result<Vec<i128>, String>>()?;
    let (low, high) = (*listed.iter().min().expect("lists are not empty"), *listed.iter().max().expect("lists are not empty"));
    let mut boundaries: Vec<(String, Side)> = listed.iter().map(|u| (grid.render(*u), Side::Inside)).collect();
    boundaries.extend([low - 1, high + 1].into_iter().filter(|u| (grid.min..=grid.max).contains(u)).map(|u| (grid.render(u), Side::Outside)));
    let around = (low.saturating_sub(1000).max(grid.min))..=(high.saturating_add(1000).min(grid.max));
    let unlisted = around.prop_filter("not listed", move |u| !listed.contains(u)).prop_map(move |u| grid.render(u)).sboxed();
    Ok(Trials { boundaries, properties: vec![("unlisted", Side::Outside, unlisted)] })
}

/// Every listed value inside; near misses (case, padding, empty) and
/// random words outside.
fn text_list_trials(values: &[String]) -> Trials {
    let mut boundaries: Vec<(String, Side)> = values.iter().map(|v| (v.clone(), Side::Inside)).collect();
    let near_misses = values.iter().flat_map(|v| [v.to_uppercase(), format!("{v} "), format!(" {v}")]).chain([String::new()]);
    for miss in near_misses {
        if !values.contains(&miss) && !boundaries.iter().any(|(b, _)| *b == miss) {
            boundaries.push((miss, Side::Outside));
        }
    }
    let listed = values.to_vec();
    let unlisted = "[a-z_]{0,12}".prop_filter("not listed", move |v| !listed.contains(v)).sboxed();
    Trials { boundaries, properties: vec![("unlisted", Side::Outside, unlisted)] }
}

fn regex_trials(regex: &str) -> Result<Trials, String> {
    let unanchored = Domain::unanchored(regex);
    let whole = Regex::new(&format!("^(?:{unanchored})$")).map_err(|e| crate::error::regex_message(&e))?;
    let inside = proptest::string::string_regex(unanchored).map_err(|e| e.to_string())?.sboxed();
    let matches = whole.clone();
    let outside = "[ -~]{0,16}".prop_filter("does not match", move |v| !matches.is_match(v)).sboxed();
    let boundaries = if whole.is_match("") { Vec::new() } else { vec![(String::new(), Side::Outside)] };
    Ok(Trials { boundaries, properties: vec![("matching", Side::Inside, inside), ("not matching", Side::Outside, outside)] })
}

/// `local@domain.tld`: the shortest valid address inside; each way of
/// breaking the shape outside.
fn email_trials() -> Trials {
    let boundaries = [("a@b.co", Side::Inside), ("", Side::Outside), ("@", Side::Outside), ("a@", Side::Outside), ("@b.co", Side::Outside), ("a@b", Side::Outside), ("a b@c.co", Side::Outside), ("a@@b.co", Side::Outside)]
        .into_iter()
        .map(|(v, side)| (v.to_string(), side))
        .collect();
    let generate = |pattern: &str| proptest::string::string_regex(pattern).expect("valid pattern").sboxed();
    let inside = generate(r"[a-z][a-z0-9]{0,9}(\.[a-z0-9]{1,6})?@[a-z][a-z0-9]{0,9}\.(com|org|net|io|dev)");
    let outside = prop_oneof![
        generate(r"[a-z0-9.]{1,12}"),                          // no @
        generate(r"[a-z]{1,8}@"),                              // no domain
        generate(r"@[a-z]{1,8}\.com"),                         // no local part
        generate(r"[a-z]{1,8}@[a-z]{1,8}"),                    // no top-level domain
        generate(r"[a-z]{1,5} [a-z]{1,5}@[a-z]{2,8}\.com"),    // a space
        generate(r"[a-z]{1,5}@[a-z]{1,5}@[a-z]{2,8}\.com"),    // two @
    ]
    .sboxed();
    Trials { boundaries, properties: vec![("valid address", Side::Inside, inside), ("malformed address", Side::Outside, outside)] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_follow_the_column_type() {
        let money = Grid::of("numeric(12,2)").expect("numeric");
        assert_eq!((money.scale, money.max), (2, 999_999_999_999));
        assert_eq!(money.render(-5), "-0.05");
        assert_eq!(money.render(12345), "123.45");
        assert_eq!(money.units(0.001, true), 1);
        assert_eq!(Grid::of("smallint").expect("integer").max, 32767);
        assert!(Grid::of("text").is_none());
    }

    #[test]
    fn boundaries_sit_on_both_sides_of_each_bound() {
        let trials = interval_trials(&Domain::Range { min: 0.0, max: 100.0 }, Grid::of("integer").expect("integer"));
        let by_side = |side| trials.boundaries.iter().filter(|(_, s)| *s == side).map(|(v, _)| v.as_str()).collect::<Vec<_>>();
        assert_eq!(by_side(Side::Inside), ["0", "100"]);
        assert_eq!(by_side(Side::Outside), ["-1", "101"]);
        let positive = interval_trials(&Domain::Positive, Grid::of("numeric(10,2)").expect("numeric"));
        assert_eq!(positive.boundaries[0].0, "0.01");
        assert!(positive.boundaries.contains(&("0.00".to_string(), Side::Outside)));
    }
}
