//! `tierguard replay FILE`: rebuilds a fresh environment from a repro file
//! (same scenario, same seed, so the same data and probe sequence) and says
//! whether the saved failure still happens.

use std::path::Path;

use crate::checks::Status;
use crate::error::{HarnessError, Result};
use crate::report::repro::ReproFile;
use crate::run;
use crate::scenario::{Overrides, Scenario};

pub struct Replayed {
    pub repro: ReproFile,
    /// The same finding in the new run, still failing.
    pub reproduced: bool,
    pub message: String,
}

pub async fn replay(file: &Path, mut overrides: Overrides) -> Result<Replayed> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| HarnessError::input(format!("cannot read repro file {}: {e}", file.display())))?;
    let repro: ReproFile = serde_json::from_str(&text)
        .map_err(|e| HarnessError::input(format!("{} is not a tierguard repro file: {e}", file.display())))?;
    overrides.seed = Some(repro.seed);
    let family = repro.check.split('.').next().unwrap_or_default().parse().map_err(HarnessError::Input)?;
    overrides.only = Some(vec![family]);
    // The files the failing run loaded, whatever the scenario file says now.
    overrides.tiers = repro.tiers.clone();
    overrides.data = repro.data.iter().filter(|(_, files)| !files.is_empty()).cloned().collect();
    let scenario = Scenario::resolve(repro.scenario.as_deref(), overrides)?;
    let outcome = run::run(&scenario).await?;
    let same = outcome
        .report
        .findings
        .iter()
        .find(|f| f.check == repro.check && f.tier == repro.tier && f.object == repro.object);
    let (reproduced, message) = match same {
        Some(f) if f.status == Status::Fail => (true, f.message.clone()),
        Some(f) => (false, format!("now {:?}: {}", f.status, f.message).to_lowercase()),
        None => (false, "the object is no longer probed".to_string()),
    };
    Ok(Replayed {
        repro,
        reproduced,
        message,
    })
}
