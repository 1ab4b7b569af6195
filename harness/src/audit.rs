//! The library's front door: an audit from a scenario file or built in
//! code, run from a project's own tests, with the report to assert on.
//!
//! ```no_run
//! use tierguard::Audit;
//!
//! let outcome = Audit::builder()
//!     .tier("app", ["db/migrations"])
//!     .seed(7)
//!     .build()?
//!     .run_blocking()?;
//! assert!(outcome.failures().next().is_none(), "{}", outcome.summary());
//! # Ok::<(), tierguard::error::HarnessError>(())
//! ```
//!
//! Servers start when the audit runs and are gone when it returns, also
//! when it fails; `run_blocking` is for synchronous tests (an `rstest`
//! `#[once]` fixture shares one run between tests, see
//! `harness/tests/library.rs`), `run` for async ones.

use std::path::{Path, PathBuf};

use crate::checks::{Family, Finding, Gate, Severity};
use crate::error::{HarnessError, Result};
use crate::report::terminal;
use crate::run::{self, Outcome};
use crate::scenario::{BackendChoice, Format, Overrides, Scenario};

/// One audit, ready to run.
#[derive(Debug, Clone)]
pub struct Audit {
    scenario: Scenario,
}

impl Audit {
    /// The audit a scenario file describes, as `tierguard run FILE` runs it.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Audit> {
        Audit::builder().scenario(path).build()
    }

    /// An audit described in code (and optionally a scenario file); what
    /// is left out is inferred, as on the command line.
    pub fn builder() -> AuditBuilder {
        AuditBuilder::default()
    }

    /// The scenario as resolved (flags merged, checked).
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub async fn run(&self) -> Result<Audited> {
        let outcome = run::run(&self.scenario).await?;
        Ok(Audited { outcome, gate: Gate::of(&self.scenario) })
    }

    /// Runs on a runtime of its own, for tests that are not async.
    pub fn run_blocking(&self) -> Result<Audited> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| HarnessError::input(format!("cannot start an async runtime: {e}")))?;
        runtime.block_on(self.run())
    }
}

/// A finished audit: the report (as written to `report.json`), where the
/// files are, and what fails the gate.
#[derive(Debug)]
pub struct Audited {
    pub outcome: Outcome,
    gate: Gate,
}

impl Audited {
    /// Every finding.
    pub fn findings(&self) -> &[Finding] {
        &self.outcome.report.findings
    }

    /// The root findings that fail the gate (what `tierguard run` exits 1 for).
    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings().iter().filter(move |f| self.gate.fails(f))
    }

    /// The summary `tierguard run` prints, for an assertion's message.
    pub fn summary(&self) -> String {
        terminal::summary(&self.outcome.report, &self.outcome.dir, self.gate)
    }

    /// The report folder.
    pub fn dir(&self) -> &Path {
        &self.outcome.dir
    }
}

/// What [`Audit::builder`] collects: the command line's flags, as methods.
#[derive(Debug, Default)]
pub struct AuditBuilder {
    scenario: Option<PathBuf>,
    overrides: Overrides,
}

impl AuditBuilder {
    /// A scenario file (TOML); what the builder says wins over it.
    pub fn scenario(mut self, path: impl AsRef<Path>) -> Self {
        self.scenario = Some(path.as_ref().to_path_buf());
        self
    }

    /// A tier and its schema: `.sql` files or a migrations folder.
    pub fn tier<P: AsRef<Path>>(mut self, name: &str, schema: impl IntoIterator<Item = P>) -> Self {
        self.overrides.tiers.push((name.to_string(), schema.into_iter().map(|p| p.as_ref().to_path_buf()).collect()));
        self
    }

    /// Fixed rows for a tier, loaded after its schema.
    pub fn data<P: AsRef<Path>>(mut self, name: &str, files: impl IntoIterator<Item = P>) -> Self {
        self.overrides.data.push((name.to_string(), files.into_iter().map(|p| p.as_ref().to_path_buf()).collect()));
        self
    }

    pub fn backend(mut self, backend: BackendChoice) -> Self {
        self.overrides.backend = Some(backend);
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.overrides.seed = Some(seed);
        self
    }

    pub fn tenants(mut self, tenants: u32) -> Self {
        self.overrides.tenants = Some(tenants);
        self
    }

    pub fn rows(mut self, rows: u64) -> Self {
        self.overrides.rows = Some(rows);
        self
    }

    pub fn only(mut self, families: impl IntoIterator<Item = Family>) -> Self {
        self.overrides.only = Some(families.into_iter().collect());
        self
    }

    pub fn fail_on(mut self, severity: Severity) -> Self {
        self.overrides.fail_on = Some(severity);
        self
    }

    pub fn report_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.overrides.report_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    pub fn formats(mut self, formats: impl IntoIterator<Item = Format>) -> Self {
        self.overrides.formats = Some(formats.into_iter().collect());
        self
    }

    /// No progress lines on standard error.
    pub fn quiet(mut self) -> Self {
        self.overrides.quiet = true;
        self
    }

    /// The scenario resolved and checked, as `tierguard run` would before
    /// starting anything.
    pub fn build(self) -> Result<Audit> {
        Ok(Audit { scenario: Scenario::resolve(self.scenario.as_deref(), self.overrides)? })
    }
}
