//! tierguard: integrity and tenant-isolation audit harness for multi-tenant
//! PostgreSQL systems split over several databases.
//!
//! The modules follow a run: [`scenario`] → [`provision`] → [`load`] →
//! [`catalog`] → [`tenancy`] → [`seed`] → [`checks`] → [`report`]; [`run`]
//! strings them together.
//! [`sql`] holds the quoting every one of them uses. [`Audit`] is the way
//! in for a project's own tests.

pub mod accept;
pub mod audit;
pub mod canary;
pub mod catalog;
pub mod checks;
pub mod cli;
pub mod diff;
pub mod error;
pub mod load;
pub mod merge;
pub mod names;
pub mod provision;
pub mod replay;
pub mod report;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod seed;
pub mod sql;
pub mod tenancy;
pub mod truth;
pub mod verdict;

pub use audit::{Audit, AuditBuilder, Audited};

/// Imports flow one way, down the layers of a run: a module may use the
/// modules of the layers below its own, never one above or beside it (a
/// circle would tie the rooms together so that none can change alone).
#[cfg(test)]
mod layers {
    use std::collections::BTreeSet;
    use std::path::Path;

    /// Top to bottom.
    const LAYERS: &[&[&str]] = &[
        &["audit", "diff", "merge", "replay"],
        &["run"],
        &["cli", "report", "names", "accept"],
        &["checks"],
        &["seed"],
        &["tenancy", "truth"],
        &["catalog"],
        &["provision", "load"],
        &["scenario", "canary"],
        &["sql", "verdict", "error", "rng"],
    ];

    fn layer(module: &str) -> usize {
        LAYERS.iter().position(|l| l.contains(&module)).unwrap_or_else(|| panic!("module `{module}` is on no layer of lib.rs's list"))
    }

    /// (module, file) of every source file under `dir`.
    fn files(dir: &Path, out: &mut Vec<(String, std::path::PathBuf)>) {
        for entry in std::fs::read_dir(dir).expect("src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
                let relative = path.strip_prefix(&src).expect("under src");
                let first = relative.components().next().expect("a name").as_os_str().to_string_lossy().to_string();
                out.push((first.trim_end_matches(".rs").to_string(), path));
            }
        }
    }

    #[test]
    fn imports_flow_down_the_layers() {
        let mut sources = Vec::new();
        files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut sources);
        let crate_path = regex::Regex::new(r"crate::([a-z_]+)").expect("regex");
        let mut upward = BTreeSet::new();
        for (module, file) in sources.iter().filter(|(m, _)| m != "lib" && m != "main") {
            let text = std::fs::read_to_string(file).expect("source");
            for used in crate_path.captures_iter(&text).map(|c| c[1].to_string()) {
                if used != *module && layer(&used) <= layer(module) {
                    upward.insert(format!("{} uses crate::{used}", file.display()));
                }
            }
        }
        assert!(upward.is_empty(), "imports against the layers: {upward:#?}");
    }
}
