//! The access matrix: per tier, each tenant table against each command,
//! what the probes observed. The HTML page draws it; `tierguard diff`
//! compares two runs' matrices cell by cell.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::Report;
use crate::checks::{Finding, Status};

/// The columns, in order.
pub const COLUMNS: [&str; 8] = ["SELECT", "INSERT", "UPDATE", "DELETE", "UPSERT / MERGE", "TRUNCATE", "no tenant set", "canary"];

/// How a column's verdict is read from a table's findings.
fn source(column: &str) -> Source {
    match column {
        "SELECT" => Source::Check("rls.read_leak"),
        "INSERT" => Source::Write(&["insert"]),
        "UPDATE" => Source::Write(&["update by key", "unqualified update", "move to another tenant by key", "unqualified move to another tenant"]),
        "DELETE" => Source::Write(&["delete by key", "unqualified delete"]),
        "UPSERT / MERGE" => Source::Write(&["insert on conflict do update", "merge"]),
        "TRUNCATE" => Source::Write(&["truncate"]),
        "no tenant set" => Source::Check("rls.unset_context"),
        _ => Source::Check("rls.canary_leak"),
    }
}

#[derive(Clone, Copy)]
enum Source {
    /// The verdict of one check on the table.
    Check(&'static str),
    /// `rls.write_leak`'s verdict on these kinds of write.
    Write(&'static [&'static str]),
}

/// What the probes observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Another tenant's rows stayed out of reach; the own write went through.
    Held,
    /// A tenant read or changed another's rows.
    Leak,
    /// The application may not do this here.
    NotGranted,
    /// Skipped, could not run, or not probed (a write probe stops at its
    /// first leak).
    NotProven,
    /// No verdict on this table.
    None,
}

impl State {
    pub fn class(self) -> &'static str {
        match self {
            State::Held => "held",
            State::Leak => "leak",
            State::NotGranted => "denied",
            State::NotProven => "unknown",
            State::None => "none",
        }
    }

    /// Whether the probes proved something either way.
    pub fn definite(self) -> bool {
        matches!(self, State::Held | State::Leak | State::NotGranted)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub state: State,
    pub text: String,
    /// Why: the finding's message.
    pub title: String,
}

/// (tier, table, column) → cell, for every tenant table (one the read
/// probe judged).
pub fn cells(report: &Report) -> BTreeMap<(String, String, &'static str), Cell> {
    let mut out = BTreeMap::new();
    for tier in &report.tiers {
        let mut tables: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
        for finding in report.findings.iter().filter(|f| f.tier == tier.name && f.family() == "rls") {
            tables.entry(finding.object.as_str()).or_default().push(finding);
        }
        // A verdict on the whole tier (the canary's search) speaks for each table.
        let tier_wide = tables.remove("*").unwrap_or_default();
        tables.retain(|_, findings| findings.iter().any(|f| f.check == "rls.read_leak"));
        for (table, findings) in tables {
            for column in COLUMNS {
                out.insert((tier.name.clone(), table.to_string(), column), cell(&findings, &tier_wide, source(column)));
            }
        }
    }
    out
}

fn cell(findings: &[&Finding], tier_wide: &[&Finding], source: Source) -> Cell {
    let made = |state: State, text: &str, title: &str| Cell { state, text: text.to_string(), title: title.to_string() };
    let leak = |finding: &Finding| made(State::Leak, &pair(finding).unwrap_or_else(|| "leak".into()), &finding.message);
    match source {
        Source::Check(check) => {
            let own = findings.iter().find(|f| f.check == check);
            let Some(finding) = own.or_else(|| tier_wide.iter().find(|f| f.check == check && f.status == Status::Pass)) else {
                return made(State::None, "–", "no verdict on this table");
            };
            match finding.status {
                Status::Pass => made(State::Held, "held", &finding.message),
                Status::Fail => leak(finding),
                Status::Skip if finding.accepted.is_some() => made(State::Leak, "leak (accepted)", &finding.message),
                // Found, and explained by another failure on the table.
                Status::Skip if finding.caused_by.is_some() => made(State::Leak, "leak (follows)", &finding.message),
                _ => made(State::NotProven, "not proven", &finding.message),
            }
        }
        Source::Write(kinds) => {
            let Some(finding) = findings.iter().find(|f| f.check == "rls.write_leak") else {
                return made(State::None, "–", "no verdict on this table");
            };
            let listed = |key: &str| -> Vec<String> {
                finding.details.get(key).and_then(Value::as_array).map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default()
            };
            let kind_failed = finding.details.get("kind").and_then(Value::as_str).is_some_and(|k| kinds.contains(&k));
            match finding.status {
                Status::Fail if kind_failed => leak(finding),
                Status::Skip if kind_failed && finding.accepted.is_some() => made(State::Leak, "leak (accepted)", &finding.message),
                Status::Pass => {
                    let proven = listed("proven");
                    let held: Vec<&str> = kinds.iter().copied().filter(|k| proven.iter().any(|p| p == k)).collect();
                    if !held.is_empty() {
                        made(State::Held, "held", &format!("held: {}", held.join(", ")))
                    } else if kinds.iter().all(|k| listed("not_granted").iter().any(|n| n == k)) {
                        made(State::NotGranted, "not granted", &finding.message)
                    } else {
                        made(State::NotProven, "not proven", &finding.message)
                    }
                }
                // The table's writes stopped at another kind's leak, or could not be proven.
                _ => made(State::NotProven, "not proven", &finding.message),
            }
        }
    }
}

/// `leak A → B` from a failure's details (the actor, else the tenant the
/// failing case acted in), ids shortened.
fn pair(finding: &Finding) -> Option<String> {
    let short = |value: Option<&Value>| value.and_then(Value::as_str).filter(|s| !s.is_empty()).map(|s| s.chars().take(8).collect::<String>());
    let actor = short(finding.details.get("actor")).or_else(|| short(finding.details.get("context").and_then(|c| c.get("value"))))?;
    Some(format!("leak {actor} → {}", short(finding.details.get("victim")).unwrap_or_else(|| "others".into())))
}
