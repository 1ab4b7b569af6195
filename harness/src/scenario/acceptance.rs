//! What a team accepts today so the gate can be switched on: `[[accept]]`
//! entries in the scenario (a check on an object, with a reason and
//! optionally a date it must be fixed by), and a baseline file of the
//! failures a run recorded (`--baseline`, `--write-baseline`).

use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Deserialize;

/// `[[accept]]` as the file spells it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AcceptFile {
    pub(super) check: String,
    pub(super) object: String,
    pub(super) tier: Option<String>,
    pub(super) reason: Option<String>,
    pub(super) until: Option<String>,
}

/// One accepted failure: the check on the object (in one tier, or any).
#[derive(Debug, Clone)]
pub struct Accept {
    pub check: String,
    pub object: String,
    pub tier: Option<String>,
    pub reason: String,
    /// After this day the failure fails the gate again.
    pub until: Option<NaiveDate>,
}

impl Accept {
    /// An entry without a reason is no decision, and an unreadable date no
    /// deadline: both are refused before anything starts.
    pub(super) fn from_file(index: usize, file: AcceptFile) -> Result<Accept, String> {
        let at = format!("accept[{index}] ({} on {})", file.check, file.object);
        let reason = file.reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty()).ok_or_else(|| {
            format!("{at}: a reason is required (reason = \"why this is accepted, and who decided\")")
        })?;
        let until = file
            .until
            .map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|e| format!("{at}: until = \"{d}\": {e} (expected YYYY-MM-DD)")))
            .transpose()?;
        Ok(Accept { check: file.check, object: file.object, tier: file.tier, reason, until })
    }

    pub fn matches(&self, check: &str, tier: &str, object: &str) -> bool {
        self.check == check && self.object == object && self.tier.as_deref().is_none_or(|t| t == tier)
    }
}

/// `--baseline FILE` and `--write-baseline FILE`.
#[derive(Debug, Clone, Default)]
pub struct Baselines {
    pub read: Option<PathBuf>,
    pub write: Option<PathBuf>,
}
