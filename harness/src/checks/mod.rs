//! Check families. Each check is a small unit that takes one tier's view
//! (catalog, tenancy, connection) and returns findings under a stable id
//! from design.md. Families run per tier; the runner collects them.

pub mod causes;
pub mod check;
pub mod fk;
pub mod latency;
pub mod load;
pub mod login;
pub mod orphan;
pub mod partition;
pub mod registry;
pub mod rls;
pub mod rows;
pub mod sandbox;

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use sqlx::PgPool;

use crate::catalog::Catalog;
use crate::tenancy::{acting::Actor, Tenancy};
use crate::scenario::Scenario;
use crate::truth::SeedTruth;

pub use crate::verdict::{Family, Severity, Status};

/// One verdict about one object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    /// A registered check's id (reading a report back, an id no check
    /// has is refused).
    #[serde(deserialize_with = "registered_id")]
    pub check: Id,
    pub tier: String,
    pub object: String,
    pub status: Status,
    pub severity: Severity,
    pub message: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repro: Option<Repro>,
    /// The root finding this one follows from (`check tier object`), set
    /// by [`causes::attribute`]; such a finding is a `skip`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caused_by: Option<String>,
    /// A failure the team accepted (`[[accept]]` or a baseline): a `skip`
    /// that fails no gate, with who accepted it and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Acceptance>,
    /// The probe that failed, for the repro files and `tierguard replay`.
    #[serde(skip)]
    pub case: Option<Box<rls::act::Case>>,
    /// A file to save beside the report (a query plan), named in `details`.
    #[serde(skip)]
    pub attachment: Option<Box<Attachment>>,
    /// How long the check took to reach this verdict (JUnit's testcase
    /// time); not in report.json, which must be the same run after run.
    #[serde(skip)]
    pub elapsed: Option<std::time::Duration>,
}

/// A check's id. An alias, not `&'static str` written out: serde would
/// take that for text borrowed from the input, and no report outlives it.
pub type Id = &'static str;

/// A check id read back from a report, as the registry's own `&'static str`.
fn registered_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<&'static str, D::Error> {
    let id = String::deserialize(deserializer)?;
    registry::all()
        .find(|check| check.id == id)
        .map(|check| check.id)
        .ok_or_else(|| serde::de::Error::custom(format!("`{id}` is no check of this tierguard")))
}

/// A file a finding refers to, written into the report folder.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// Relative to the report folder.
    pub file: String,
    pub content: Value,
}

/// Why a failure does not fail the gate today.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Acceptance {
    /// `scenario` (an `[[accept]]` entry) or `baseline <file>`.
    pub by: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Repro {
    pub seed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub command: String,
}

impl Finding {
    pub fn new(check: &'static str, tier: &str, object: impl fmt::Display, status: Status, severity: Severity) -> Self {
        Finding {
            check,
            tier: tier.to_string(),
            object: object.to_string(),
            status,
            severity,
            message: String::new(),
            details: Map::new(),
            repro: None,
            caused_by: None,
            accepted: None,
            case: None,
            attachment: None,
            elapsed: None,
        }
    }

    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }

    pub fn family(&self) -> &str {
        self.check.split('.').next().unwrap_or(self.check)
    }

    /// How other findings name this one in `caused_by`.
    pub fn key(&self) -> String {
        format!("{} {} {}", self.check, self.tier, self.object)
    }

    /// Which check on which object: the same whatever the seed, the
    /// message's wording or the order of findings, so a baseline, SARIF's
    /// alert tracking and GitLab's issues follow one finding across runs.
    pub fn fingerprint(&self) -> String {
        format!("{:016x}", crate::rng::stream(0, &[self.check, &self.tier, &self.object]))
    }
}

/// What fails a run: failures at or above `fail_on`; a check that could
/// not run (`error`), always, since nothing was proven; and under
/// `strict`, a check that was skipped, since it proved nothing either.
/// A finding that follows from another fails nothing: its root does.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    pub fail_on: Severity,
    pub strict: bool,
}

impl Gate {
    /// What fails this scenario's run (`--fail-on`, `--strict`).
    pub fn of(scenario: &Scenario) -> Gate {
        Gate {
            fail_on: scenario.fail_on,
            strict: scenario.strict,
        }
    }

    pub fn fails(&self, finding: &Finding) -> bool {
        if finding.caused_by.is_some() || finding.accepted.is_some() {
            return false;
        }
        match finding.status {
            Status::Fail => finding.severity >= self.fail_on,
            Status::Error => true,
            Status::Skip => self.strict,
            Status::Pass => false,
        }
    }
}

/// A check's identity: id, the severity its failures carry, and what fails
/// it in one paragraph (Markdown) — defined once, beside the check, and
/// listed by [`registry`] for the docs and `tierguard checks`.
#[derive(Debug, Clone, Copy)]
pub struct CheckId {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
}

impl CheckId {
    pub const fn new(id: &'static str, severity: Severity, summary: &'static str) -> Self {
        CheckId { id, severity, summary }
    }

    /// `rls` of `rls.read_leak`.
    pub fn family(&self) -> &'static str {
        self.id.split('.').next().unwrap_or(self.id)
    }

    pub fn pass(&self, tier: &str, object: impl fmt::Display, message: impl Into<String>) -> Finding {
        Finding::new(self.id, tier, object, Status::Pass, self.severity).message(message)
    }

    pub fn fail(&self, tier: &str, object: impl fmt::Display, message: impl Into<String>) -> Finding {
        Finding::new(self.id, tier, object, Status::Fail, self.severity).message(message)
    }

    pub fn skip(&self, tier: &str, object: impl fmt::Display, message: impl Into<String>) -> Finding {
        Finding::new(self.id, tier, object, Status::Skip, self.severity).message(message)
    }

    pub fn error(&self, tier: &str, object: impl fmt::Display, message: impl Into<String>) -> Finding {
        Finding::new(self.id, tier, object, Status::Error, self.severity).message(message)
    }
}

/// Everything a check may look at for one tier.
pub struct TierContext<'a> {
    pub catalog: &'a Catalog,
    pub tenancy: &'a Tenancy,
    pub scenario: &'a Scenario,
    /// Superuser (or, external, the given user's read-only) pool on the tier.
    pub pool: &'a PgPool,
    /// Logged in as the application role (disposable servers; see `login`).
    pub app_pool: Option<&'a PgPool>,
    /// Who owns which seeded row, and how to make new valid rows.
    pub seeded: Option<&'a dyn SeedTruth>,
    /// External servers: probes may read but never write, not even rolled back.
    pub read_only: bool,
    /// Who the probes act as (read once per tier); None when the
    /// application role or the tenant setting is neither given nor inferred.
    pub actor: Option<&'a Actor>,
}

impl TierContext<'_> {
    /// Where probes act as the application: its own login where it has one.
    pub fn acting_pool(&self) -> &PgPool {
        self.app_pool.unwrap_or(self.pool)
    }

    pub fn tier(&self) -> &str {
        &self.catalog.tier
    }
}

/// Runs every selected family on one tier.
pub async fn run_tier(ctx: &TierContext<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let checks = |family| ctx.scenario.checks(Some(ctx.tier()), family);
    if checks(Family::Rls) {
        findings.extend(timed(rls::run(ctx)).await);
    }
    if checks(Family::Fk) {
        findings.extend(timed(fk::run(ctx)).await);
    }
    if checks(Family::Check) {
        findings.extend(timed(check::run(ctx)).await);
    }
    if checks(Family::Partition) {
        findings.extend(timed(partition::run(ctx)).await);
    }
    // Last: timings should not compete with the other families' probes.
    if checks(Family::Latency) {
        findings.extend(timed(latency::run(ctx)).await);
    }
    findings
}

/// What a check returns: one finding or several.
pub trait Verdicts {
    fn into_findings(self) -> Vec<Finding>;
}

impl Verdicts for Finding {
    fn into_findings(self) -> Vec<Finding> {
        vec![self]
    }
}

impl Verdicts for Vec<Finding> {
    fn into_findings(self) -> Vec<Finding> {
        self
    }
}

/// Runs a check and gives each finding it returns that has no time yet
/// an equal share of the time it took: a check run per object times each
/// object exactly; a family timed as a whole shares its rest.
pub async fn timed<V: Verdicts>(check: impl std::future::Future<Output = V>) -> Vec<Finding> {
    let start = std::time::Instant::now();
    let mut findings = check.await.into_findings();
    let untimed = findings.iter().filter(|f| f.elapsed.is_none()).count().max(1) as u32;
    let share = start.elapsed().saturating_sub(findings.iter().filter_map(|f| f.elapsed).sum()) / untimed;
    for finding in &mut findings {
        finding.elapsed.get_or_insert(share);
    }
    findings
}
