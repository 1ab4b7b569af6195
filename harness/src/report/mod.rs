//! What a run leaves behind: `report.json` and `junit.xml` in the report
//! folder (design.md fixes both), and a short summary on the terminal.

pub mod junit;
pub mod repro;
pub mod stats;
pub mod terminal;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;

use crate::checks::{Finding, Status};
use crate::error::{HarnessError, Result};
use crate::provision::BackendKind;

#[derive(Debug, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    pub seed: u64,
    pub scenario: Option<String>,
    pub tiers: Vec<TierReport>,
    pub findings: Vec<Finding>,
    pub summary: Summary,
    /// Milliseconds per phase.
    pub timings: IndexMap<String, u64>,
    /// Probe transactions run (each acting as a tenant, rolled back).
    pub probes: u64,
    /// Tables not read as tenant tables: shared by design, or of a tenancy
    /// tierguard could not find (not probed until declared).
    pub unscoped: Vec<crate::tenancy::Unscoped>,
}

#[derive(Debug, Serialize)]
pub struct TierReport {
    pub name: String,
    pub backend: BackendKind,
    pub server_version: String,
    pub tables: Vec<TableStat>,
}

#[derive(Debug, Serialize)]
pub struct TableStat {
    pub name: String,
    pub rows: i64,
    pub checksum: String,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub error: usize,
}

impl Summary {
    pub fn of(findings: &[Finding]) -> Summary {
        let mut summary = Summary::default();
        for f in findings {
            match f.status {
                Status::Pass => summary.pass += 1,
                Status::Fail => summary.fail += 1,
                Status::Skip => summary.skip += 1,
                Status::Error => summary.error += 1,
            }
        }
        summary
    }
}

/// `reports/<timestamp>-<pid>/` unless the user named a folder: two runs finishing in the same second (a
/// CI matrix on one machine) never share a folder.
pub fn default_dir() -> PathBuf {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    Path::new("reports").join(format!("{stamp}-{}", std::process::id()))
}

/// Whether the report can be written to `dir`, found before any work: the
/// folder is a writable folder, or the first of its ancestors that exists
/// is. Nothing is created here (a run that fails later leaves no empty
/// report folder).
pub fn check_writable(dir: &Path) -> Result<()> {
    let fail = |message: String| HarnessError::Report {
        path: dir.to_path_buf(),
        message,
    };
    let mut existing = dir;
    loop {
        match std::fs::metadata(existing) {
            Ok(meta) if !meta.is_dir() => {
                return Err(fail(format!("{} is a file, not a folder", existing.display())));
            }
            Ok(_) => break,
            Err(_) => match existing.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => existing = parent,
                _ => {
                    existing = Path::new(".");
                    break;
                }
            },
        }
    }
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(existing.as_os_str().as_bytes()).map_err(|e| fail(e.to_string()))?;
    // SAFETY: path is NUL-terminated.
    if unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        return Err(fail(format!("{} is not writable: {}", existing.display(), std::io::Error::last_os_error())));
    }
    Ok(())
}

/// Writes `report.json`, `junit.xml` and the findings' attachments (query
/// plans) into `dir` (created if needed).
pub fn write(report: &Report, dir: &Path) -> Result<()> {
    let fail = |e: String| HarnessError::Report {
        path: dir.to_path_buf(),
        message: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let json = serde_json::to_string_pretty(report).map_err(|e| fail(e.to_string()))?;
    std::fs::write(dir.join("report.json"), json + "\n").map_err(|e| fail(e.to_string()))?;
    let file = std::fs::File::create(dir.join("junit.xml")).map_err(|e| fail(e.to_string()))?;
    junit::write(report, std::io::BufWriter::new(file)).map_err(|e| fail(e.to_string()))?;
    for attachment in report.findings.iter().filter_map(|f| f.attachment.as_deref()) {
        let path = dir.join(&attachment.file);
        std::fs::create_dir_all(path.parent().unwrap_or(dir)).map_err(|e| fail(e.to_string()))?;
        let json = serde_json::to_string_pretty(&attachment.content).map_err(|e| fail(e.to_string()))?;
        std::fs::write(&path, json + "\n").map_err(|e| fail(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}
