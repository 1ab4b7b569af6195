//! `[certification]`: how tierguard probes volumes too large to compare
//! row by row, and how long any one of its statements may run on a
//! server it does not own (`--sample-rows`, `--statement-timeout`).

use std::time::Duration;

/// Rows above which a table is probed on a sample (`sample_rows`).
pub const DEFAULT_SAMPLE_ROWS: u64 = 100_000;
/// The longest statement on an external tier, unless the scenario says.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certification {
    /// A table holding more rows than this is probed on a seeded random
    /// sample of about this many (its ground truth is read for the sample
    /// only, and per-tenant counts in one pass); 0: never sample.
    pub sample_rows: u64,
    /// Every statement on an external tier is cancelled after this long
    /// (`statement_timeout`); None: the server's own setting.
    pub statement_timeout: Option<Duration>,
}

impl Default for Certification {
    fn default() -> Self {
        Certification { sample_rows: DEFAULT_SAMPLE_ROWS, statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT) }
    }
}

impl Certification {
    /// Whether a table of `rows` rows is probed on a sample.
    pub fn samples(&self, rows: u64) -> bool {
        self.sample_rows > 0 && rows > self.sample_rows
    }
}
