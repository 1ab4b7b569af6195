//! Adopting the gate on a system that already has failures: what the team
//! accepted (`[[accept]]` entries with reasons, a baseline file of the
//! failures a run recorded) turns those failures into `skip`s that fail no
//! gate, so only what a change makes worse fails. Matched by fingerprint
//! (check, tier, object), never by message or seed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::checks::{Acceptance, Finding, Gate, Status};
use crate::error::{HarnessError, Result};
use crate::scenario::Accept;

/// A baseline file: sorted, one entry per failure, so that its diff in a
/// pull request reads as "these failures were fixed / accepted".
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    #[serde(skip)]
    path: PathBuf,
    /// What the file is, for whoever opens it.
    about: String,
    failures: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    check: String,
    tier: String,
    object: String,
    fingerprint: String,
    /// The message when it was recorded, for a reader; not matched.
    message: String,
}

impl Baseline {
    /// Read before anything starts: a missing or malformed file is exit 2.
    pub fn read(path: &Path) -> Result<Baseline> {
        let fail = |message: String| HarnessError::input(format!("--baseline {}: {message}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let mut baseline: Baseline = serde_json::from_str(&text).map_err(|e| fail(format!("not a tierguard baseline: {e}")))?;
        baseline.path = path.to_path_buf();
        Ok(baseline)
    }

    /// Today's failing roots, as a baseline to be written to `path`.
    pub fn of(findings: &[Finding], gate: Gate, path: &Path) -> Baseline {
        let mut failures: Vec<Entry> = findings
            .iter()
            .filter(|f| gate.fails(f))
            .map(|f| Entry {
                check: f.check.to_string(),
                tier: f.tier.clone(),
                object: f.object.clone(),
                fingerprint: f.fingerprint(),
                message: f.message.clone(),
            })
            .collect();
        failures.sort();
        failures.dedup();
        Baseline {
            path: path.to_path_buf(),
            about: "failures tierguard accepts until they are fixed (tierguard run --baseline THIS_FILE); remove an entry once it is fixed".to_string(),
            failures,
        }
    }

    pub fn write(&self) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("a baseline serialises");
        std::fs::write(&self.path, json + "\n")
            .map_err(|e| HarnessError::Report { path: self.path.clone(), message: format!("cannot write the baseline: {e}") })
    }

    pub fn len(&self) -> usize {
        self.failures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Marks the failures `accepts` and `baseline` accept. Returns what the run
/// should say: acceptances that expired (their failures fail again),
/// `[[accept]]` entries that match nothing, baseline entries that no longer
/// occur (fixed: remove them).
pub fn apply(findings: &mut [Finding], accepts: &[Accept], baseline: Option<&Baseline>, gate: Gate, today: NaiveDate) -> Vec<String> {
    let mut notes = Vec::new();
    let mut used = BTreeSet::new();
    for finding in findings.iter_mut().filter(|f| f.caused_by.is_none() && matches!(f.status, Status::Fail | Status::Error)) {
        if let Some((index, accept)) = accepts.iter().enumerate().find(|(_, a)| a.matches(finding.check, &finding.tier, &finding.object)) {
            used.insert(index);
            match accept.until {
                Some(until) if until < today => {
                    finding.message.push_str(&format!(" (accepted until {until}, which has passed: fix it, or extend the date with a reason)"));
                    notes.push(format!("accept: {} {} {} was accepted until {until}: it fails the gate again", finding.check, finding.tier, finding.object));
                }
                _ => accept_finding(finding, "scenario", &accept.reason, accept.until.map(|d| d.to_string())),
            }
            continue;
        }
        if let Some(baseline) = baseline.filter(|_| gate.fails(finding)) {
            let fingerprint = finding.fingerprint();
            if baseline.failures.iter().any(|e| e.fingerprint == fingerprint) {
                accept_finding(finding, &format!("baseline {}", baseline.path.display()), "recorded in the baseline", None);
            }
        }
    }
    for (index, accept) in accepts.iter().enumerate().filter(|(i, _)| !used.contains(i)) {
        notes.push(format!(
            "warning: accept[{index}] ({} on {}{}) matches no failure: fixed? remove it",
            accept.check,
            accept.object,
            accept.tier.as_ref().map(|t| format!(" in {t}")).unwrap_or_default()
        ));
    }
    if let Some(baseline) = baseline {
        // Accepted or not, what still fails.
        let failing: BTreeSet<String> =
            findings.iter().filter(|f| f.accepted.is_some() || matches!(f.status, Status::Fail | Status::Error)).map(Finding::fingerprint).collect();
        for entry in baseline.failures.iter().filter(|e| !failing.contains(&e.fingerprint)) {
            notes.push(format!(
                "baseline: {} {} {} no longer fails: remove it from {}",
                entry.check,
                entry.tier,
                entry.object,
                baseline.path.display()
            ));
        }
    }
    notes
}

fn accept_finding(finding: &mut Finding, by: &str, reason: &str, until: Option<String>) {
    finding.status = Status::Skip;
    finding.message = format!("accepted ({by}: {reason}): {}", finding.message);
    finding.accepted = Some(Acceptance { by: by.to_string(), reason: reason.to_string(), until });
}
