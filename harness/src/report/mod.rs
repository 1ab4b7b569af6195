//! What a run leaves behind in the report folder (design.md fixes the
//! files): `report.json`, `junit.xml`, `tierguard.sarif`, `summary.md`,
//! `report.html`, `gl-code-quality.json` as `--format` chooses; under GitHub Actions the
//! step summary and annotations; and a short summary on the terminal.

pub mod annotations;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod matrix;
pub mod repro;
pub mod sarif;
pub mod shard;
pub mod stats;
pub mod terminal;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::checks::{Finding, Gate, Status};
use crate::error::{HarnessError, Result};
use crate::load::Origins;
use crate::provision::BackendKind;
use crate::scenario::{Format, Output};

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
    /// Per tier: where each object was created, for the findings' locations.
    #[serde(skip)]
    pub origins: std::collections::BTreeMap<String, Origins>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TierReport {
    pub name: String,
    pub backend: BackendKind,
    pub server_version: String,
    pub tables: Vec<TableStat>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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

impl Report {
    /// The findings that follow from `root` (their `caused_by` names it).
    pub fn following<'r>(&'r self, root: &Finding) -> impl Iterator<Item = &'r Finding> + 'r {
        let key = root.key();
        self.findings.iter().filter(move |f| f.caused_by.as_deref() == Some(key.as_str()))
    }
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

/// Writes the formats `output` asks for and the findings' attachments
/// (query plans) into `dir` (created if needed).
pub fn write(report: &Report, dir: &Path, output: &Output, gate: Gate) -> Result<()> {
    let fail = |e: String| HarnessError::Report {
        path: dir.to_path_buf(),
        message: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    if output.writes(Format::Json) {
        write_json(dir, "report.json", report)?;
    }
    if output.writes(Format::Sarif) {
        write_json(dir, "tierguard.sarif", &sarif::document(report))?;
    }
    if output.writes(Format::Gitlab) {
        write_json(dir, "gl-code-quality.json", &annotations::gitlab(report))?;
    }
    if output.writes(Format::Html) {
        std::fs::write(dir.join("report.html"), html::page(report, gate)).map_err(|e| fail(format!("report.html: {e}")))?;
    }
    if output.writes(Format::Md) {
        std::fs::write(dir.join("summary.md"), markdown::summary(report, gate)).map_err(|e| fail(format!("summary.md: {e}")))?;
    }
    if output.writes(Format::Junit) {
        let file = std::fs::File::create(dir.join("junit.xml")).map_err(|e| fail(e.to_string()))?;
        junit::write(report, std::io::BufWriter::new(file)).map_err(|e| fail(e.to_string()))?;
    }
    for attachment in report.findings.iter().filter_map(|f| f.attachment.as_deref()) {
        let path = dir.join(&attachment.file);
        std::fs::create_dir_all(path.parent().unwrap_or(dir)).map_err(|e| fail(e.to_string()))?;
        let json = serde_json::to_string_pretty(&attachment.content).map_err(|e| fail(e.to_string()))?;
        std::fs::write(&path, json + "\n").map_err(|e| fail(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// Under GitHub Actions: the summary appended to the job's step summary,
/// and one annotation per failing root on standard output (where the
/// runner reads workflow commands).
pub fn publish(report: &Report, gate: Gate) -> std::io::Result<()> {
    if std::env::var("GITHUB_ACTIONS").as_deref() != Ok("true") {
        return Ok(());
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        writeln!(file, "{}", markdown::summary(report, gate))?;
    }
    let mut stdout = std::io::stdout().lock();
    for line in annotations::github(report) {
        use std::io::Write;
        writeln!(stdout, "{line}")?;
    }
    Ok(())
}

/// `value` as pretty JSON in `dir/name`.
fn write_json(dir: &Path, name: &str, value: &impl Serialize) -> Result<()> {
    let fail = |message: String| HarnessError::Report { path: dir.to_path_buf(), message: format!("{name}: {message}") };
    let json = serde_json::to_string_pretty(value).map_err(|e| fail(e.to_string()))?;
    std::fs::write(dir.join(name), json + "\n").map_err(|e| fail(e.to_string()))
}
