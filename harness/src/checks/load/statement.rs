//! `load.statement`: one finding per schema statement that failed to load
//! under `--keep-going`, at the file and line it starts on, with the
//! server's words. A run that left part of the schema out fails the gate:
//! what the missing statement would have created (a policy, a constraint)
//! is exactly what the other checks would have judged.

use crate::checks::{CheckId, Finding, Severity};
use crate::load::Failure;

pub const ID: CheckId = CheckId::new(
    "load.statement",
    Severity::Error,
    "with `--keep-going`: a schema statement that failed to load",
);

pub fn findings(tier: &str, failures: &[Failure]) -> Vec<Finding> {
    failures
        .iter()
        .map(|failure| {
            ID.fail(tier, format!("{}:{}", failure.file, failure.line), format!("did not load: {}", failure.message))
                .detail("file", failure.file.clone())
                .detail("line", failure.line as u64)
                .detail("statement", failure.statement.clone())
        })
        .collect()
}
