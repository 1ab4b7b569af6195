//! Shared by the integration tests: one async runtime per test binary (sqlx
//! pools belong to the runtime that made them), paths, and the defect
//! fixtures' header format.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod lab;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tierguard::checks::{Finding, Status};

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

/// (check, tier, object) of every failing finding, with objects named by
/// `expected` patterns (`prefix*`, for names that depend on the date)
/// replaced by the pattern.
pub fn failing(findings: &[Finding], expected: &BTreeSet<(String, String, String)>) -> BTreeSet<(String, String, String)> {
    findings
        .iter()
        .filter(|f| f.status == Status::Fail)
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

/// Scenario a defect applies to when its header names none.
pub const DEFAULT_SCENARIO: &str = "penguinmails";

/// A file of `fixtures/defects/`: SQL that introduces one known defect, with
/// a header saying which scenario (`-- scenario:`, default penguinmails) and
/// tier it applies to, what must be reported, and optionally TOML to add to
/// the scenario (`-- toml:`).
pub struct Defect {
    pub path: PathBuf,
    /// Name of `scenarios/<scenario>.toml`.
    pub scenario: String,
    pub tier: String,
    pub sql: String,
    pub expect: BTreeSet<(String, String, String)>,
    /// `-- toml:` lines: added to the scenario file for this defect (a
    /// defect in the scenario's declarations, such as a latency target).
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
        let tier = header("tier").pop().unwrap_or_else(|| panic!("{}: no `-- tier:` line", path.display()));
        assert!(!header("defect").is_empty(), "{}: no `-- defect:` line", path.display());
        let expect: BTreeSet<_> = header("expect")
            .into_iter()
            .filter(|e| e != "nothing")
            .map(|e| {
                let (check, object) = e
                    .split_once(' ')
                    .unwrap_or_else(|| panic!("{}: `-- expect: CHECK OBJECT`", path.display()));
                (check.to_string(), tier.clone(), object.trim().to_string())
            })
            .collect();
        assert!(!header("expect").is_empty(), "{}: no `-- expect:` line (use `nothing` for none)", path.display());
        let toml = header("toml").join("\n");
        Defect {
            path: path.to_path_buf(),
            scenario,
            tier,
            sql,
            expect,
            toml,
        }
    }
}
