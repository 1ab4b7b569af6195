//! The command line's say over the scenario file: every flag, and the
//! profile it picks. Flags win over the file.

use std::path::PathBuf;

use super::{BackendChoice, LayoutChoice, Reference, Scenario, TierSpec};
use crate::error::{HarnessError, Result};
use crate::verdict::{Family, Severity};

/// Everything a user can say on the command line; `None`/empty means "not given".
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub tiers: Vec<(String, Vec<PathBuf>)>,
    pub data: Vec<(String, Vec<PathBuf>)>,
    pub dsns: Vec<(String, String)>,
    pub references: Vec<Reference>,
    pub tenant_column: Option<String>,
    pub tenant_guc: Option<String>,
    pub app_role: Option<String>,
    pub seed: Option<u64>,
    pub backend: Option<BackendChoice>,
    pub image: Option<String>,
    pub pg_version: Option<u32>,
    pub only: Option<Vec<Family>>,
    pub report_dir: Option<PathBuf>,
    pub fail_on: Option<Severity>,
    pub strict: bool,
    pub shard: Option<super::Shard>,
    pub keep_servers: bool,
    pub sample_rows: Option<u64>,
    /// Seconds; 0 leaves the server's setting.
    pub statement_timeout: Option<u64>,
    pub tenants: Option<u32>,
    pub rows: Option<u64>,
    pub profile: Option<String>,
    pub layout: Option<LayoutChoice>,
    pub keep_going: bool,
    pub stub_extensions: Vec<String>,
    pub formats: Option<Vec<super::Format>>,
    pub quiet: bool,
    pub baseline: Option<PathBuf>,
    pub write_baseline: Option<PathBuf>,
}

/// The most tenants a run may seed.
pub const MAX_TENANTS: u32 = 100_000;
/// The most rows a run may seed into one table.
pub const MAX_ROWS: u64 = 1_000_000_000;

impl Scenario {
    /// Puts the chosen profile's volume and effort over the file's own.
    fn apply_profile(&mut self, name: &str) -> Result<()> {
        let Some(profile) = self.profiles.get(name).cloned() else {
            let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
            return Err(HarnessError::input(if known.is_empty() {
                format!("profile `{name}`: the scenario declares no [profiles]")
            } else {
                format!("unknown profile `{name}`; profiles are: {}", known.join(", "))
            }));
        };
        if let Some(tenants) = profile.tenants {
            self.seeding.tenants = tenants;
        }
        if let Some(rows) = profile.rows {
            self.seeding.rows = rows;
        }
        self.seeding.table_rows.extend(profile.table_rows);
        self.measure = profile.measure;
        self.profile = Some(name.to_string());
        Ok(())
    }

    pub(super) fn apply(&mut self, o: Overrides) -> Result<()> {
        let dsn_flag = o.dsns.first().map(|(name, _)| name.clone());
        for (name, paths) in o.tiers {
            match self.tiers.iter_mut().find(|t| t.name == name) {
                Some(tier) => tier.schema = paths,
                None => self.tiers.push(TierSpec {
                    name,
                    schema: paths,
                    data: Vec::new(),
                    dsn: None,
                }),
            }
        }
        for (name, url) in o.dsns {
            match self.tiers.iter_mut().find(|t| t.name == name) {
                Some(tier) => tier.dsn = Some(url),
                None => self.tiers.push(TierSpec {
                    name,
                    schema: Vec::new(),
                    data: Vec::new(),
                    dsn: Some(url),
                }),
            }
        }
        for (name, paths) in o.data {
            let tier = self.tiers.iter_mut().find(|t| t.name == name).ok_or_else(|| {
                HarnessError::input(format!("--data names tier `{name}`, which no --tier or scenario defines"))
            })?;
            tier.data = paths;
        }
        self.references.extend(o.references);
        set(&mut self.tenancy.column, o.tenant_column);
        set(&mut self.tenancy.guc, o.tenant_guc);
        set(&mut self.tenancy.app_role, o.app_role);
        if let Some(seed) = o.seed {
            self.seed = seed;
        }
        if let Some(backend) = o.backend {
            self.backend = backend;
        }
        set(&mut self.image, o.image);
        set(&mut self.pg_version, o.pg_version);
        if o.only.is_some() {
            self.only = o.only;
        }
        set(&mut self.report_dir, o.report_dir);
        self.strict |= o.strict;
        set(&mut self.shard, o.shard);
        self.keep_servers |= o.keep_servers;
        if let Some(rows) = o.sample_rows {
            self.certification.sample_rows = rows;
        }
        if let Some(seconds) = o.statement_timeout {
            self.certification.statement_timeout = (seconds > 0).then(|| std::time::Duration::from_secs(seconds));
        }
        if let Some(layout) = o.layout {
            self.loading.layout = layout;
        }
        self.loading.keep_going |= o.keep_going;
        if let Some(formats) = o.formats {
            self.output.formats = formats;
        }
        self.output.quiet |= o.quiet;
        set(&mut self.baselines.read, o.baseline);
        set(&mut self.baselines.write, o.write_baseline);
        for name in o.stub_extensions {
            if !self.loading.stub_extensions.contains(&name) {
                self.loading.stub_extensions.push(name);
            }
        }
        if let Some(fail_on) = o.fail_on {
            self.fail_on = fail_on;
        }
        // The profile first: --tenants and --rows still win over it.
        if let Some(profile) = o.profile.or_else(|| self.profile.clone()) {
            self.apply_profile(&profile)?;
        }
        if let Some(tenants) = o.tenants {
            self.seeding.tenants = tenants;
        }
        if let Some(rows) = o.rows {
            self.seeding.rows = rows;
        }
        if let (Some(tier), false) = (dsn_flag, self.backend == BackendChoice::External) {
            // Silently starting a disposable server instead would audit the wrong database.
            return Err(HarnessError::input(format!(
                "--dsn {tier}=... audits an existing database, which only the external backend does: add --backend external \
                 (without it tierguard starts its own servers and would ignore the DSN)"
            )));
        }
        Ok(())
    }
}

/// Sets `slot` to `value` when the flag was given.
fn set<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

