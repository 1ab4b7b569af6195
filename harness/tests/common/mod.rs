//! Shared by the integration tests: one async runtime per test binary (sqlx
//! pools belong to the runtime that made them), paths, psql on a new
//! database, and the defect fixtures' header format.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod binary;
pub mod lab;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{Map, Value};
use sqlx::{Connection, Executor, PgConnection};
use tierguard::checks::{Finding, Status};
use tierguard::provision::Server;
use tierguard::sql::quote_ident;

pub fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime")
    })
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// A new, empty database on `server` and a psql URL to it, as a superuser
/// login whose password the test knows (a server's own is never shown).
pub async fn psql_database(server: &Server, database: &str) -> String {
    let mut admin = PgConnection::connect_with(&server.options_for("postgres")).await.expect("connect");
    admin
        .execute(
            "DO $$ BEGIN CREATE ROLE psql_runner LOGIN SUPERUSER PASSWORD 'psql_runner'; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
        )
        .await
        .expect("role");
    // A message of its own: CREATE DATABASE cannot run in a multi-statement one.
    admin.execute(format!("CREATE DATABASE {}", quote_ident(database)).as_str()).await.expect("database");
    let options = &server.options;
    format!("postgresql://psql_runner:psql_runner@{}:{}/{database}", options.get_host(), options.get_port())
}

/// Runs `files` with psql on `url`, one after the other, stopping at the
/// first error, as a person would; returns what it printed (rows unaligned,
/// without headers). Fails the test when psql fails.
pub fn psql_files(url: &str, files: &[PathBuf]) -> String {
    // One at a time: schema files alter cluster-wide roles, and two
    // concurrent ALTER ROLEs of one role fail ("tuple concurrently updated").
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let output = std::process::Command::new("psql")
        .arg(url)
        .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"])
        .args(files.iter().flat_map(|f| [Path::new("-f"), f.as_path()]))
        .output()
        .expect("psql runs (postgresql-client)");
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "psql failed:\n{printed}");
    printed
}

/// design.md's machine-checkable shape, shipped beside the repo in shared/.
pub fn validate_against_contract(report: &Value) {
    let schema_path = repo().join("../shared/report.schema.json");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(&schema_path).unwrap_or_else(|e| panic!("{}: {e}", schema_path.display())),
    )
    .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("valid schema");
    let errors: Vec<String> = validator.iter_errors(report).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "report.json breaks the contract: {errors:#?}");
}

/// (check, tier, object) of every failing finding (`fail`, or `error`: a
/// check that could not prove anything fails the gate too), with objects named by
/// `expected` patterns (`prefix*`, for names that depend on the date)
/// replaced by the pattern.
pub fn failing(findings: &[Finding], expected: &BTreeSet<FindingKey>) -> BTreeSet<FindingKey> {
    findings
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::Error))
        .map(|f| {
            let object = expected
                .iter()
                .filter_map(|(check, _, o)| o.strip_suffix('*').filter(|p| check == f.check && f.object.starts_with(p)).map(|_| o.clone()))
                .next()
                .unwrap_or_else(|| f.object.clone());
            (f.check.to_string(), f.tier.clone(), object)
        })
        .collect()
}

/// (check, tier, object)
pub type FindingKey = (String, String, String);

/// Scenario a defect applies to when its header names none.
pub const DEFAULT_SCENARIO: &str = "penguinmails";

/// A file of `fixtures/defects/`: SQL that introduces one known defect, with
/// a header saying which scenario and tiers it applies to and what must be
/// reported:
///
/// ```text
/// -- defect: what is wrong, and why it matters
/// -- scenario: NAME                  scenarios/NAME.toml (default penguinmails)
/// -- tier: TIER                      the SQL below applies to TIER; may repeat
/// -- expect: CHECK OBJECT [tier=TIER] [status=error] [count=N] [samples=JSON to the line's end]
/// -- expect: nothing                 no failing finding at all
/// -- follows: CHECK OBJECT [tier=TIER] a finding that follows from an expected
///                                    one: `skip`, its root in `caused_by`
/// -- toml: LINE                      added to the scenario file (a defect in
///                                    its declarations, e.g. a latency target)
/// ```
///
/// Expect lines name every failing finding, follows lines every finding that
/// follows from one of them (design.md: only roots fail); their tier is the first
/// `-- tier:` unless they say otherwise, and the details they pin must be
/// the finding's. An object ending in `*` stands for names with that prefix.
pub struct Defect {
    pub path: PathBuf,
    /// Name of `scenarios/<scenario>.toml`.
    pub scenario: String,
    /// The first `-- tier:`.
    pub tier: String,
    pub sql: String,
    pub expect: BTreeSet<FindingKey>,
    /// (tier, SQL) in file order: each `-- tier:` line starts a section.
    pub sections: Vec<(String, String)>,
    /// Details the expect lines pin (`count`, `samples`).
    pub details: BTreeMap<FindingKey, Map<String, Value>>,
    /// Findings that follow from an expected one (`caused_by`): `skip`, not failures.
    pub follows: BTreeSet<FindingKey>,
    /// `-- toml:` lines, added to the scenario file for this defect.
    pub toml: String,
}

impl Defect {
    pub fn read(path: &Path) -> Defect {
        let sql = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let header = |key: &str| -> Vec<String> {
            sql.lines()
                .filter_map(|l| l.strip_prefix(&format!("-- {key}:")))
                .map(|v| v.trim().to_string())
                .collect()
        };
        let scenario = header("scenario").pop().unwrap_or_else(|| DEFAULT_SCENARIO.to_string());
        let mut sections: Vec<(String, String)> = Vec::new();
        for line in sql.lines() {
            if let Some(tier) = line.strip_prefix("-- tier:") {
                sections.push((tier.trim().to_string(), String::new()));
            }
            if let Some((_, section)) = sections.last_mut() {
                section.push_str(line);
                section.push('\n');
            }
        }
        let tier = sections
            .first()
            .map(|(tier, _)| tier.clone())
            .unwrap_or_else(|| panic!("{}: no `-- tier:` line", path.display()));
        assert!(!header("defect").is_empty(), "{}: no `-- defect:` line", path.display());
        let parse = |key: &str, line: &str| -> (FindingKey, Map<String, Value>) {
            let bad = |what: &str| -> ! { panic!("{}: `-- {key}: {line}`: {what}", path.display()) };
            let (words, samples) = match line.split_once(" samples=") {
                Some((words, samples)) => (words, Some(samples)),
                None => (line, None),
            };
            // Attributes trail the object, which may hold spaces (a function's signature).
            let mut words: Vec<&str> = words.split_whitespace().collect();
            let attribute = |w: &&str| ["tier=", "count=", "status="].iter().any(|a| w.starts_with(a));
            let split = words.iter().rposition(|w| !attribute(w)).map_or(0, |i| i + 1);
            let attributes = words.split_off(split);
            let (Some((check, object)), false) = (words.split_first(), words.len() < 2) else { bad("not CHECK OBJECT") };
            let object = object.join(" ");
            let mut finding_tier = tier.clone();
            let mut pinned = Map::new();
            for attribute in attributes {
                match attribute.split_once('=') {
                    Some(("tier", name)) => finding_tier = name.to_string(),
                    Some(("status", status)) => {
                        pinned.insert("status".into(), status.into());
                    }
                    Some(("count", count)) => {
                        let count: u64 = count.parse().unwrap_or_else(|_| bad("count is not a number"));
                        pinned.insert("count".into(), count.into());
                    }
                    _ => bad(&format!("unknown attribute `{attribute}`")),
                }
            }
            if let Some(samples) = samples {
                let samples: Value = serde_json::from_str(samples).unwrap_or_else(|e| bad(&format!("samples: {e}")));
                pinned.insert("samples".into(), samples);
            }
            ((check.to_string(), finding_tier, object), pinned)
        };
        let mut expect = BTreeSet::new();
        let mut details = BTreeMap::new();
        for line in header("expect").into_iter().filter(|e| e != "nothing") {
            let (key, pinned) = parse("expect", &line);
            if !pinned.is_empty() {
                details.insert(key.clone(), pinned);
            }
            expect.insert(key);
        }
        let mut follows = BTreeSet::new();
        for line in header("follows") {
            let (key, pinned) = parse("follows", &line);
            if !pinned.is_empty() {
                details.insert(key.clone(), pinned);
            }
            follows.insert(key);
        }
        assert!(!header("expect").is_empty(), "{}: no `-- expect:` line (use `nothing` for none)", path.display());
        let toml = header("toml").join("\n");
        Defect {
            path: path.to_path_buf(),
            scenario,
            tier,
            sql,
            expect,
            sections,
            details,
            follows,
            toml,
        }
    }

    /// The check family the defect is filed under (its folder).
    pub fn family(&self) -> String {
        self.path.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
    }

    /// Where a finding's details differ from what an expect line pins.
    pub fn detail_differences(&self, findings: &[Finding]) -> Vec<String> {
        let mut differences = Vec::new();
        for ((check, tier, object), pinned) in &self.details {
            let Some(finding) = findings.iter().find(|f| f.check == check && &f.tier == tier && &f.object == object) else {
                differences.push(format!("{check} {tier} {object}: no such finding"));
                continue;
            };
            for (key, expected) in pinned {
                let status = serde_json::to_value(finding.status).expect("status serialises");
                let actual = if key == "status" { &status } else { finding.details.get(key).unwrap_or(&Value::Null) };
                if actual != expected {
                    differences.push(format!("{check} {tier} {object}: {key} is {actual}, expected {expected}"));
                }
            }
        }
        differences
    }
}
