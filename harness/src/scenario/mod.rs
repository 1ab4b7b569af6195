//! What to audit: the scenario file (TOML) merged with command-line flags.
//! Flags win over the file; paths in the file are relative to the file.

mod acceptance;
pub mod expectations;
mod file;
mod certification;
mod loading;
mod output;
mod overrides;
mod shard;
mod tenancy;
mod tier_names;
mod validate;
pub mod workload;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde::Deserialize;

use self::expectations::Expectations;
use self::file::ScenarioFile;
pub use self::acceptance::{Accept, Baselines};
pub use self::certification::Certification;
pub use self::loading::{Layout, LayoutChoice, Loading};
pub use self::output::{Format, Output};
pub use self::overrides::{Overrides, MAX_ROWS, MAX_TENANTS};
pub use self::shard::{Shard, Unit};
pub use self::tenancy::{ContextMechanism, ModelKind, TenancyHints, TierTenancyHints};
pub use self::tier_names::{DeclaredPath, HopSpec, Reference, TierColumn, TierColumns, TierSpec, TierTable};
use self::workload::{LatencyQuery, Measure, MeasureOverride};
use crate::error::{HarnessError, Result};
use crate::verdict::{Family, Severity};

/// Default number of months ahead that time partitions must already exist for.
const DEFAULT_MONTHS_AHEAD: u32 = 1;
/// Default seeding volume: small enough for a CI gate, enough tenants to leak between.
const DEFAULT_TENANTS: u32 = 3;
const DEFAULT_ROWS: u64 = 30;

/// The `--backend` choice: where the tiers' servers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    Auto,
    Local,
    Containers,
    External,
}

impl FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            "local" => Ok(BackendChoice::Local),
            "containers" => Ok(BackendChoice::Containers),
            "external" => Ok(BackendChoice::External),
            _ => Err(format!("unknown backend `{s}` (auto, local, containers, external)")),
        }
    }
}

/// The resolved description of one run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    /// The scenario file, when there is one.
    pub path: Option<PathBuf>,
    pub seed: u64,
    pub backend: BackendChoice,
    pub image: Option<String>,
    /// `--pg-version`: the local backend's PostgreSQL major version.
    pub pg_version: Option<u32>,
    pub tenancy: TenancyHints,
    pub tiers: Vec<TierSpec>,
    pub references: Vec<Reference>,
    pub fk_allow_missing: Vec<TierColumn>,
    /// Domains, cascades and CHECK exemptions (`[domains]`, `[[cascade]]`, ...).
    pub expectations: Expectations,
    pub months_ahead: u32,
    pub seeding: Seeding,
    pub only: Option<Vec<Family>>,
    pub report_dir: Option<PathBuf>,
    pub fail_on: Severity,
    /// Skipped checks fail the gate too (`--strict`).
    pub strict: bool,
    /// Named queries with latency targets (`[[latency]]`).
    pub latency: Vec<LatencyQuery>,
    /// The profile in force (`--profile`, else the file's `profile`).
    pub profile: Option<String>,
    /// Measurement effort the profile sets for every latency query.
    pub measure: MeasureOverride,
    /// Migration layout, `--keep-going`, stand-in extensions.
    pub loading: Loading,
    /// Report formats (`--format`), `--quiet`.
    pub output: Output,
    /// Failures accepted with a reason (`[[accept]]`).
    pub accepts: Vec<Accept>,
    /// `--baseline`, `--write-baseline`.
    pub baselines: Baselines,
    /// `--shard K/N`: this run checks only its part (see `shard`).
    pub shard: Option<Shard>,
    /// `--keep-servers`: the servers outlive the run until Ctrl-C.
    pub keep_servers: bool,
    /// `[certification]`: sampled probes of large tables, statement timeout.
    pub certification: Certification,
    profiles: IndexMap<String, Profile>,
}

/// `[profiles.NAME]`: a volume and a measurement effort, e.g. a fast CI
/// gate and a certification run with tables large enough that indexes matter.
#[derive(Debug, Clone)]
struct Profile {
    tenants: Option<u32>,
    rows: Option<u64>,
    table_rows: BTreeMap<TierTable, u64>,
    measure: MeasureOverride,
}

/// How much fake data to seed (`tenants`, `rows`, `[seeding]`).
#[derive(Debug, Clone)]
pub struct Seeding {
    pub tenants: u32,
    /// Rows per table; 0 seeds nothing (fixed rows only).
    pub rows: u64,
    pub table_rows: BTreeMap<TierTable, u64>,
    pub columns: BTreeMap<TierColumn, ColumnOverride>,
    pub on_unsatisfiable: OnUnsatisfiable,
}

/// What to do with a table no row can be made for (a CHECK nothing passes,
/// a NOT NULL column of a type without generator): `[seeding]
/// on_unsatisfiable`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnsatisfiable {
    /// Stop the run (exit 2) naming tier, table, column and constraint.
    #[default]
    Error,
    /// Leave the table (and the tables that cannot exist without its rows)
    /// empty, and report a `skip` finding saying why.
    Skip,
}

impl Default for Seeding {
    fn default() -> Self {
        Seeding {
            tenants: DEFAULT_TENANTS,
            rows: DEFAULT_ROWS,
            table_rows: BTreeMap::new(),
            columns: BTreeMap::new(),
            on_unsatisfiable: OnUnsatisfiable::default(),
        }
    }
}

/// A scenario's generator for one column (`[seeding.columns."T.S.TABLE.COL"]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnOverride {
    /// Inclusive numeric range.
    pub range: Option<(f64, f64)>,
    pub list: Option<Vec<String>>,
    pub regex: Option<String>,
    /// A kind of fake data: email, first_name, company, phone, city, url, subject, body, ...
    pub fake: Option<String>,
    pub constant: Option<String>,
    /// Share of rows left NULL (nullable columns).
    pub null_ratio: Option<f64>,
}

impl Scenario {
    /// Reads a scenario file (if any) and applies the flags on top.
    pub fn resolve(path: Option<&Path>, overrides: Overrides) -> Result<Scenario> {
        let mut scenario = match path {
            Some(path) => Scenario::from_file(path)?,
            None => Scenario::empty(),
        };
        scenario.apply(overrides)?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// As [`Scenario::resolve`], from the text of a scenario file that lives
    /// at `path` (relative paths in it are relative to `path`).
    pub fn resolve_text(path: &Path, text: &str, overrides: Overrides) -> Result<Scenario> {
        let mut scenario = Scenario::from_text(path, text)?;
        scenario.apply(overrides)?;
        scenario.validate()?;
        Ok(scenario)
    }

    fn empty() -> Scenario {
        Scenario {
            name: "ad-hoc".into(),
            path: None,
            seed: random_seed(),
            backend: BackendChoice::Auto,
            image: None,
            pg_version: None,
            tenancy: TenancyHints::default(),
            tiers: Vec::new(),
            references: Vec::new(),
            fk_allow_missing: Vec::new(),
            expectations: Expectations::default(),
            months_ahead: DEFAULT_MONTHS_AHEAD,
            seeding: Seeding::default(),
            only: None,
            report_dir: None,
            fail_on: Severity::Error,
            strict: false,
            latency: Vec::new(),
            profile: None,
            measure: MeasureOverride::default(),
            loading: Loading::default(),
            output: Output::default(),
            accepts: Vec::new(),
            baselines: Baselines::default(),
            shard: None,
            keep_servers: false,
            certification: Certification::default(),
            profiles: IndexMap::new(),
        }
    }

    pub fn from_file(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path).map_err(|e| HarnessError::Scenario {
            path: path.to_path_buf(),
            message: format!("cannot read: {e}"),
        })?;
        Scenario::from_text(path, &text)
    }

    fn from_text(path: &Path, text: &str) -> Result<Scenario> {
        let err = |message: String| HarnessError::Scenario {
            path: path.to_path_buf(),
            message,
        };
        let file: ScenarioFile = toml::from_str(text).map_err(|e| err(toml_error(text, &e)))?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let relative = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };

        fn parse_all<T: FromStr<Err = String>>(
            key: &str,
            items: &[String],
            err: impl Fn(String) -> HarnessError,
        ) -> Result<Vec<T>> {
            items
                .iter()
                .map(|s| s.parse().map_err(|m| err(format!("{key}: {m}"))))
                .collect()
        }

        let mut scenario = Scenario::empty();
        scenario.name = file.name.unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into())
        });
        scenario.path = Some(path.to_path_buf());
        if let Some(seed) = file.seed {
            scenario.seed = seed;
        }
        if let Some(backend) = file.backend {
            scenario.backend = backend.parse().map_err(|m| err(format!("backend: {m}")))?;
        }
        scenario.image = file.image;
        scenario.pg_version = file.pg_version;
        scenario.strict = file.strict.unwrap_or(false);
        if let Some(fail_on) = file.fail_on {
            scenario.fail_on = fail_on.parse().map_err(|m| err(format!("fail_on: {m}")))?;
        }
        if let Some(only) = file.only {
            scenario.only = Some(parse_all("only", &only, err)?);
        }
        if let Some(layout) = file.load.layout {
            scenario.loading.layout = layout.parse().map_err(|m| err(format!("load.layout: {m}")))?;
        }
        scenario.loading.keep_going = file.load.keep_going.unwrap_or(false);
        if let Some(rows) = file.certification.sample_rows {
            scenario.certification.sample_rows = rows;
        }
        if let Some(seconds) = file.certification.statement_timeout {
            scenario.certification.statement_timeout = (seconds > 0).then(|| std::time::Duration::from_secs(seconds));
        }
        scenario.accepts = file.accept.into_iter().enumerate().map(|(i, a)| Accept::from_file(i, a)).collect::<std::result::Result<_, _>>().map_err(err)?;
        scenario.loading.stub_extensions = file.load.stub_extensions;
        scenario.tenancy = TenancyHints::from_file(file.tenancy, &file.tiers, err)?;
        scenario.tiers = file
            .tiers
            .into_iter()
            .map(|(name, tier)| TierSpec {
                name,
                schema: tier.schema.into_iter().map(relative).collect(),
                data: tier.data.into_iter().map(relative).collect(),
                dsn: tier.dsn,
            })
            .collect();
        scenario.references = file
            .references
            .iter()
            .map(|r| {
                let from = r.from.parse().map_err(|m| err(format!("references.from: {m}")))?;
                let to = r.to.parse().map_err(|m| err(format!("references.to: {m}")))?;
                Reference::new(from, to).map_err(|m| err(format!("references: {m}")))
            })
            .collect::<Result<_>>()?;
        scenario.fk_allow_missing = parse_all("fk.allow_missing", &file.fk.allow_missing, err)?;
        scenario.expectations = Expectations::from_file(file.domains, file.cascade, file.cascade_rules, file.check, err)?;
        scenario.months_ahead = file.partitions.months_ahead.unwrap_or(DEFAULT_MONTHS_AHEAD);
        if let Some(tenants) = file.tenants {
            scenario.seeding.tenants = tenants;
        }
        if let Some(rows) = file.rows {
            scenario.seeding.rows = rows;
        }
        for (table, rows) in &file.seeding.tables {
            let table = table.parse().map_err(|m| err(format!("seeding.tables: {m}")))?;
            scenario.seeding.table_rows.insert(table, *rows);
        }
        for (column, generator) in file.seeding.columns {
            let column = column.parse().map_err(|m| err(format!("seeding.columns: {m}")))?;
            scenario.seeding.columns.insert(column, generator);
        }
        scenario.seeding.on_unsatisfiable = file.seeding.on_unsatisfiable.unwrap_or_default();
        scenario.latency = file
            .latency
            .into_iter()
            .map(|entry| entry.resolve(&base).map_err(err))
            .collect::<Result<_>>()?;
        scenario.profile = file.profile;
        for (name, profile) in file.profiles {
            let at = |m: String| err(format!("profiles.{name}: {m}"));
            let measure = MeasureOverride {
                warmup: profile.warmup,
                iterations: profile.iterations,
                concurrency: profile.concurrency,
                seq_scan_rows: profile.seq_scan_rows,
            };
            workload::check_effort(&format!("profiles.{name}"), &measure).map_err(err)?;
            let table_rows = profile
                .tables
                .iter()
                .map(|(table, rows)| Ok((table.parse().map_err(|m| at(format!("tables: {m}")))?, *rows)))
                .collect::<Result<_>>()?;
            scenario.profiles.insert(
                name,
                Profile {
                    tenants: profile.tenants,
                    rows: profile.rows,
                    table_rows,
                    measure,
                },
            );
        }
        Ok(scenario)
    }

    /// How one latency query is measured: the entry, else the profile, else defaults.
    pub fn measure(&self, query: &LatencyQuery) -> Measure {
        query.measure.over(self.measure).resolve()
    }

    pub fn tier_names(&self) -> Vec<&str> {
        self.tiers.iter().map(|t| t.name.as_str()).collect()
    }

    pub fn runs(&self, family: Family) -> bool {
        self.only.as_ref().is_none_or(|only| only.contains(&family))
    }
}

fn random_seed() -> u64 {
    // Small enough to type back on a command line.
    rand::random::<u32>() as u64
}

/// toml's message already names line, column and the offending key; keep it
/// to the first line of context so the error stays one readable block.
fn toml_error(text: &str, error: &toml::de::Error) -> String {
    let line = error
        .span()
        .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
    // One line: the parser's hints (`expected ...`) joined after its message.
    let message = error.message().trim_end_matches('.').lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
    match line {
        Some(line) => format!("line {line}: {message}"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario_file(toml: &str) -> Result<Scenario> {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("s.toml");
        std::fs::write(&path, toml).expect("write");
        Scenario::from_file(&path)
    }

    #[test]
    fn composite_references_read_the_same_from_arrays_flags_and_parentheses() {
        let file = scenario_file(
            r#"
            [[references]]
            from = ["content.public.t.tenant_id", "content.public.t.campaign_id"]
            to = ["oltp.public.campaigns.tenant_id", "oltp.public.campaigns.id"]
            [[references]]
            from = "content.public.t.(tenant_id, campaign_id)"
            to = "oltp.public.campaigns.(tenant_id,id)"
            [[references]]
            from = "content.public.t.lead_id"
            to = "oltp.public.leads.id"
            "#,
        )
        .expect("valid scenario");
        let flag: Reference = "content.public.t.(tenant_id,campaign_id)=oltp.public.campaigns.(tenant_id,id)"
            .parse()
            .expect("valid flag");
        assert_eq!(file.references[0], flag);
        assert_eq!(file.references[1], flag);
        assert_eq!(flag.from.columns, ["tenant_id", "campaign_id"]);
        assert_eq!(flag.to.to_string(), "oltp.public.campaigns.(tenant_id,id)");
        assert_eq!(file.references[2].from.to_string(), "content.public.t.lead_id");
    }

    #[test]
    fn on_unsatisfiable_is_error_unless_skip_is_asked_for() {
        let read = |toml: &str| scenario_file(toml).map(|s| s.seeding.on_unsatisfiable);
        assert_eq!(read("").expect("default"), OnUnsatisfiable::Error);
        assert_eq!(read("[seeding]\non_unsatisfiable = \"skip\"").expect("skip"), OnUnsatisfiable::Skip);
        let error = read("[seeding]\non_unsatisfiable = \"ignore\"").expect_err("refused").to_string();
        assert!(error.contains("unknown variant `ignore`"), "{error}");
    }

    #[test]
    fn malformed_composite_references_are_refused_with_the_reason() {
        let error = |toml: &str| scenario_file(toml).expect_err("refused").to_string();
        assert!(error(
            r#"
            [[references]]
            from = ["content.public.t.tenant_id", "content.public.u.campaign_id"]
            to = ["oltp.public.campaigns.tenant_id", "oltp.public.campaigns.id"]
            "#
        )
        .contains("must be in one table"));
        assert!(error(
            r#"
            [[references]]
            from = ["content.public.t.tenant_id", "content.public.t.campaign_id"]
            to = "oltp.public.campaigns.id"
            "#
        )
        .contains("pairs 2 column(s) with 1"));
        assert!(error("[[references]]\nfrom = 3\nto = \"oltp.public.campaigns.id\"\n").contains("TIER.SCHEMA.TABLE.COLUMN"));
        assert!("a.b.c.(x,)=d.e.f.(y,z)".parse::<Reference>().unwrap_err().contains("empty column"));
    }

}
